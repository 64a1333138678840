"""Values planted in requests never appear in a log, the outbox, a dead
letter, the local store, an error message, or upstream (except where the
policy forwards them sanitised)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness import GatewayProcess, write_config
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_TOKEN, mixpanel_destination, wait_for

pytestmark = pytest.mark.slow

CANARIES = {
    "dropped property": "canary-drop-1a2b",
    "email in a kept property": "canary.email.3c4d@example.com",
    "unknown event name": "canary_event_5e6f",
    "distinct id": "canary-distinct-7a8b",
    "url query value": "canary-url-9c0d",
    "url fragment": "canary-fragment-2b3c",
    "invalid json body": "canary-badjson-1e2f",
    "unknown ingest key": "canary-key-3a4b",
    "unknown basic-auth key": "canary-auth-5c6d",
    "api key in a message": "sk-proj-CANARY0000000000000000000000000000000000000000",
    "phone in a profile": "+1 202-555-0187",
}


def _events(n: int) -> list[dict[str, object]]:
    return [
        {
            "event": "checkout",
            "properties": {
                "token": "demo",
                "distinct_id": CANARIES["distinct id"],
                "time": 1764230410,
                "$insert_id": f"canary-{n}",
                "plan": f"pro for {CANARIES['email in a kept property']}",
                "secret_note": CANARIES["dropped property"],
                "$current_url": (
                    f"https://app.example.com/p?secret={CANARIES['url query value']}"
                    f"&utm_source=ok#{CANARIES['url fragment']}"
                ),
            },
        },
        {
            "event": "error",
            "properties": {
                "token": "demo",
                "distinct_id": "u",
                "time": 1764230411,
                "$insert_id": f"canary-err-{n}",
                "message": f"bad key {CANARIES['api key in a message']}",
            },
        },
        {"event": CANARIES["unknown event name"], "properties": {"token": "demo"}},
    ]


def test_planted_values_appear_nowhere(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
        extra="",
    )
    config.write_text(config.read_text() + "log: {level: debug, format: json}\n")
    # the first delivery is refused for good: it becomes a dead letter
    standin.fail_next([400])
    log = tmp_path / "gateway.log"
    answers: list[str] = []

    with GatewayProcess(config, log) as gw:
        url = gw.url
        for n in range(3):
            r = httpx.post(
                f"{url}/track?verbose=1", data={"data": json.dumps(_events(n))}
            )
            answers.append(r.text)
        r = httpx.post(
            f"{url}/engage?verbose=1",
            data={
                "data": json.dumps(
                    {
                        "$token": "demo",
                        "$distinct_id": "u",
                        "$set": {
                            "$phone": CANARIES["phone in a profile"],
                            "plan": CANARIES["phone in a profile"],
                        },
                    }
                )
            },
        )
        answers.append(r.text)
        for body in (
            {
                "data": '[{"event": "x", "properties": {"v": "'
                + CANARIES["invalid json body"]
            },
            {
                "data": json.dumps(
                    {
                        "event": "checkout",
                        "properties": {"token": CANARIES["unknown ingest key"]},
                    }
                )
            },
        ):
            answers.append(httpx.post(f"{url}/track?verbose=1", data=body).text)
        r = httpx.post(
            f"{url}/import",
            json=[
                {
                    "event": "checkout",
                    "properties": {"time": 1, "distinct_id": "u", "$insert_id": "x1"},
                }
            ],
            auth=(CANARIES["unknown basic-auth key"], ""),
        )
        answers.append(r.text)
        wait_for(lambda: len(standin.records) >= 1 and _dead_letters(tmp_path) >= 1, 30)
        time.sleep(0.5)

    assert standin.violations == []
    places = {"log": log.read_bytes(), "answers": "\n".join(answers).encode()}
    for file in (tmp_path / "data").iterdir():
        places[file.name] = file.read_bytes()
    upstream = standin.raw_text().encode()
    assert _dead_letters(tmp_path) >= 1

    for label, canary in CANARIES.items():
        for place, content in places.items():
            assert canary.encode() not in content, f"{label} found in {place}"
        assert canary.encode() not in upstream, f"{label} sent upstream"
    for place, content in places.items():
        assert UPSTREAM_TOKEN.encode() not in content, f"upstream token in {place}"


def _dead_letters(tmp_path: Path) -> int:
    from redline.outbox.sqlite import read_stats

    path = tmp_path / "data" / "outbox.db"
    if not path.exists():
        return 0
    return sum(row.dead for row in read_stats(path))
