"""What operators see holds no event value and no credential: the logs
(with one access line per request), /metrics, /readyz, the dashboard and its
JSON, and `redline status`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from harness import GatewayProcess, write_config
from redline.cli import main
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_TOKEN, mixpanel_destination, wait_for

pytestmark = pytest.mark.slow

UI_TOKEN_ENV = "REDLINE_TEST_UI_TOKEN"
UI_TOKEN = "ui-token-canary-0d93e1"
VALUES = {
    "dropped property": "canary-ops-drop-4f1a",
    "email in a kept property": "canary.ops.5b2c@example.com",
    "distinct id": "canary-ops-distinct-6c3d",
    "url query value": "canary-ops-url-7d4e",
    "api key in a message": "sk-proj-CANARYOPS000000000000000000000000000000000000",
    "phone in a profile": "+1 202-555-0143",
    "invalid json body": "canary-ops-badjson-8e5f",
    "unknown ingest key": "canary-ops-key-9f60",
    "token in an event name": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
}


def _batch(n: int) -> list[dict[str, Any]]:
    return [
        {
            "event": "checkout",
            "properties": {
                "token": "demo",
                "distinct_id": VALUES["distinct id"],
                "time": 1764230410,
                "$insert_id": f"ops-canary-{n}",
                "plan": f"pro for {VALUES['email in a kept property']}",
                "internal_note": VALUES["dropped property"],
                "$current_url": (
                    f"https://app.example.com/p?secret={VALUES['url query value']}"
                ),
            },
        },
        {
            "event": "error",
            "properties": {
                "token": "demo",
                "distinct_id": "u",
                "time": 1764230411,
                "$insert_id": f"ops-canary-err-{n}",
                "message": f"bad key {VALUES['api key in a message']}",
            },
        },
    ]


def test_no_value_or_credential_reaches_logs_metrics_dashboard_or_status(
    tmp_path: Path, standin: MixpanelStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UI_TOKEN_ENV, UI_TOKEN)
    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
        extra=f"  ui_token: {{env: {UI_TOKEN_ENV}}}\n",
    )
    config.write_text(config.read_text() + "log: {level: debug, format: json}\n")
    # a dead letter, then a retry: both leave reasons behind
    standin.fail_next([400, 503])
    log = tmp_path / "gateway.log"
    auth = {"authorization": f"Bearer {UI_TOKEN}"}
    seen: dict[str, bytes] = {}
    track_requests = 0

    with GatewayProcess(config, log) as gw:
        url = gw.url
        for n in range(3):
            r = httpx.post(f"{url}/track", data={"data": json.dumps(_batch(n))})
            assert r.status_code == 200
            track_requests += 1
        engage = {
            "$token": "demo",
            "$distinct_id": "u",
            "$set": {"$phone": VALUES["phone in a profile"]},
        }
        assert (
            httpx.post(f"{url}/engage", data={"data": json.dumps(engage)}).status_code
            == 200
        )
        bad = '[{"event": "x", "properties": {"v": "' + VALUES["invalid json body"]
        httpx.post(f"{url}/track", data={"data": bad})
        track_requests += 1
        unknown = {
            "event": "checkout",
            "properties": {"token": VALUES["unknown ingest key"]},
        }
        httpx.post(f"{url}/track", data={"data": json.dumps(unknown)})
        track_requests += 1
        # a client that puts a path with a token in the event name
        named = {
            "event": f"/reset-password/{VALUES['token in an event name']}",
            "properties": {"token": "demo", "time": 1764230412},
        }
        httpx.post(f"{url}/track", data={"data": json.dumps(named)})
        track_requests += 1

        def settled() -> bool:
            body = httpx.get(f"{url}/ui/api/status", headers=auth).json()
            return any(d["dead_letters"] for d in body["destinations"]) and (
                body["outbox"]["depth"] == 0
            )

        wait_for(settled, 30)
        time.sleep(1.2)  # one more sample
        seen["metrics"] = httpx.get(f"{url}/metrics").content
        seen["readyz"] = httpx.get(f"{url}/readyz").content
        seen["status json"] = httpx.get(f"{url}/ui/api/status", headers=auth).content
        with httpx.Client(base_url=url) as browser:
            seen["sign-in page"] = browser.get("/ui").content
            signed = browser.post("/ui/login", data={"token": UI_TOKEN})
            seen["sign-in answer"] = str(signed.headers).encode() + signed.content
            seen["dashboard"] = browser.get("/ui").content
            for asset in ("app.js", "app.css"):
                seen[asset] = browser.get(f"/ui/static/{asset}").content
        result = CliRunner().invoke(
            main, ["status", "--url", url, "--token-env", UI_TOKEN_ENV]
        )
        assert result.exit_code == 0, result.output
        seen["redline status"] = result.output.encode()
        seen["redline status --json"] = (
            CliRunner()
            .invoke(
                main, ["status", "--url", url, "--token-env", UI_TOKEN_ENV, "--json"]
            )
            .output.encode()
        )

    seen["log"] = log.read_bytes()
    status = json.loads(seen["status json"])
    # the unreadable body is refused whole: its records are never counted
    assert status["totals"]["received"] == 3 * 2 + 1 + 1 + 1
    assert status["findings"]["by_type"]
    dead = next(d for d in status["destinations"] if d["route"] == "demo/mp")
    assert dead["dead_letter_reasons"] == [
        {"reason": "HTTP 400 from /track", "count": dead["dead_letters"]}
    ]
    assert b"redline_findings_total" in seen["metrics"]

    secrets = {**VALUES, "upstream token": UPSTREAM_TOKEN, "ui token": UI_TOKEN}
    for where, content in seen.items():
        for what, secret in secrets.items():
            assert secret.encode() not in content, f"{what} in {where}"

    # one access line per request, with an id, the route, the status and a time
    lines = [json.loads(line) for line in seen["log"].splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "redline.access"]
    assert all(
        {"request_id", "route", "status", "ms", "method"} <= line.keys()
        for line in access
    )
    assert len({line["request_id"] for line in access}) == len(access)
    routes = [line["route"] for line in access]
    assert routes.count("track") == track_requests
    assert routes.count("engage") == 1
    assert {"metrics", "readyz", "ui", "ui_login", "ui_status", "ui_static"} <= set(
        routes
    )
    statuses = {(line["route"], line["status"]) for line in access}
    assert ("track", 400) in statuses
    assert ("ui_login", 303) in statuses
