"""Secrets stay secret across the whole security surface: upstream tokens,
the import secret, the hash and audit keys, admin tokens, the dashboard
token and ingest keys never appear in a log line, an answer, /metrics, the
audit log or the databases; planted event values neither."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness import GatewayProcess, write_config
from redline.access import KeyStore
from redline.config import default_policy_path
from standins.mixpanel import MixpanelStandin

from .conftest import audit_records, track, wait_for

pytestmark = pytest.mark.slow

UPSTREAM = "upstream-token-canary-3a7c51"
IMPORT_SECRET = "import-secret-canary-44b2e0"
HASH_KEY = "hash-key-canary-9d1e77-0123456789abcdef0123"
UI_TOKEN = "ui-token-canary-2f8a13"
EVENT_VALUES = {
    "email": "canary.sec.71@example.com",
    "dropped property": "canary-sec-drop-55e1",
    "distinct id": "canary-sec-distinct-90ab",
}


def test_no_secret_reaches_any_log_answer_metric_audit_record_or_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "import-secret"
    secret_file.write_text(IMPORT_SECRET)
    secret_file.chmod(0o600)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        default_policy_path()
        .read_text()
        .replace(
            "# hash:\n#   key_id: k1\n#   key: {env: REDLINE_HASH_KEY}",
            "hash:\n  key_id: k1\n  key: {env: REDLINE_TEST_SEC_HASH}",
        )
    )
    env = {
        "REDLINE_TEST_SEC_MP": UPSTREAM,
        "REDLINE_TEST_SEC_HASH": HASH_KEY,
        "REDLINE_TEST_SEC_UI": UI_TOKEN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = KeyStore.in_dir(tmp_path / "data")
    admin, admin_token = store.create_token("admin", label="ops")
    _, viewer_token = store.create_token("viewer")
    _, ingest = store.create_key("demo", label="web")
    store.close()
    secrets = {
        "upstream token": UPSTREAM,
        "import secret": IMPORT_SECRET,
        "hash key": HASH_KEY,
        "ui token": UI_TOKEN,
        "admin token": admin_token.reveal(),
        "viewer token": viewer_token.reveal(),
        "ingest key": ingest.reveal(),
        **EVENT_VALUES,
    }
    seen: dict[str, bytes] = {}
    log = tmp_path / "gateway.log"

    with MixpanelStandin(token=UPSTREAM) as mp:
        config = write_config(
            tmp_path,
            policy=policy,
            destinations=f"  mp:\n    type: mixpanel\n    base_url: {mp.base_url}\n",
            forward="      - destination: mp\n"
            "        token: {env: REDLINE_TEST_SEC_MP}\n"
            f"        import_secret: {{file: {secret_file}}}\n",
            extra="  ui_token: {env: REDLINE_TEST_SEC_UI}\n"
            "  rate_limits: {per_client: 1000/second}\n",
        )
        config.chmod(0o600)
        config.write_text(config.read_text() + "log: {level: debug, format: json}\n")
        with GatewayProcess(config, log, env=env) as gw:
            url = gw.url
            record = {
                "event": "checkout",
                "properties": {
                    "token": ingest.reveal(),
                    "distinct_id": EVENT_VALUES["distinct id"],
                    "time": int(time.time()),
                    "$insert_id": "sec-canary-1",
                    "plan": f"for {EVENT_VALUES['email']}",
                    "internal": EVENT_VALUES["dropped property"],
                },
            }
            sent = httpx.post(
                f"{url}/track?verbose=1", data={"data": json.dumps([record])}
            )
            seen["track"] = sent.content + str(sent.headers).encode()
            assert sent.json()["status"] == 1
            seen["unknown key"] = track(url, "nope").content
            bearer = {"authorization": f"Bearer {admin_token.reveal()}"}
            for path in (
                "/projects",
                "/keys",
                "/policy",
                "/outbox",
                "/dead-letters",
                "/findings",
                "/tokens",
                "/openapi.json",
            ):
                answer = httpx.get(f"{url}/admin{path}", headers=bearer)
                assert answer.status_code == 200, path
                seen[f"admin {path}"] = answer.content + str(answer.headers).encode()
            # refused calls: near misses of the real tokens
            for name, header in {
                "truncated": f"Bearer {admin_token.reveal()[:-1]}",
                "ui token as admin": f"Bearer {UI_TOKEN}",
                "upstream as admin": f"Bearer {UPSTREAM}",
            }.items():
                answer = httpx.get(
                    f"{url}/admin/keys", headers={"authorization": header}
                )
                assert answer.status_code == 401
                seen[f"refused {name}"] = answer.content
            viewer = {"authorization": f"Bearer {viewer_token.reveal()}"}
            low = httpx.post(f"{url}/admin/policy/reload", headers=viewer)
            assert low.status_code == 403
            seen["under-privileged"] = low.content
            made = httpx.post(
                f"{url}/admin/keys",
                headers=bearer,
                json={"project": "demo", "label": "new"},
            )
            # the one answer that shows a secret: the new key, once
            body = made.json()
            secrets["key made through the API"] = body.pop("secret")
            seen["key made, but its secret"] = json.dumps(body).encode()
            wait_for(lambda: mp.events != [] or mp.violations != [], timeout=20)
            assert mp.violations == []
            wait_for(
                lambda: any(
                    r["kind"] == "key.create" for r in audit_records(tmp_path / "data")
                ),
                timeout=5,
            )
            seen["metrics"] = httpx.get(f"{url}/metrics").content
            seen["ui status"] = httpx.get(
                f"{url}/ui/api/status",
                headers={"authorization": f"Bearer {UI_TOKEN}"},
            ).content
        assert mp.violations == []

    seen["log"] = log.read_bytes()
    data = tmp_path / "data"
    for path in sorted(data.rglob("*")):
        if path.is_file() and path.name not in ("hash.key", "audit.key"):
            seen[f"file {path.relative_to(data)}"] = path.read_bytes()
    audit_key = (data / "audit.key").read_text().strip()
    secrets["audit key"] = audit_key
    assert any(name.startswith("file audit") for name in seen)
    assert "file keys.db" in seen

    for where, content in seen.items():
        for what, secret in secrets.items():
            assert secret.encode() not in content, f"{what} in {where}"
    # the audit log names the admin token by its id
    kinds = {r["kind"] for r in audit_records(data)}
    assert {"admin.access", "key.create"} <= kinds
    assert admin.id.encode() in b"".join(
        v for k, v in seen.items() if k.startswith("file audit")
    )
