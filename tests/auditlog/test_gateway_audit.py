"""The audit log of a real gateway: started, stopped and started again
(in-process with uvicorn, and as a `redline serve` process killed hard),
reloading its policy, counting what it did, and never holding a value
or a secret."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from harness import GatewayProcess, gateway_thread, write_config
from redline.auditlog._files import read_lines
from redline.cli import main
from standins.mixpanel import MixpanelStandin

from .helpers import files

pytestmark = pytest.mark.slow

HASH_ENV = "REDLINE_TEST_AUDIT_HASH_KEY"
HASH_KEY = "hash-key-canary-7d1f0c2b9a8e4f6d5c3b2a19"
UPSTREAM_ENV = "REDLINE_TEST_AUDIT_UPSTREAM"
UPSTREAM_TOKEN = "upstream-token-canary-91c4e7"
AUDIT_KEY = "audit-key-canary-0f9e8d7c6b5a49382716aa"

VALUES = {
    "email": "canary.mail.4e2a@example.com",
    "note": "canary-note-value-8b1c",
    "plan": "canary-plan-value-5d3e",
    "distinct id": "canary-distinct-6f7a",
    "unknown event name": "canary_event_name_2c9d",
    "unknown property name": "canary_prop_name_3a8b",
}

POLICY = f"""\
version: 1
hash:
  key_id: k1
  key: {{env: {HASH_ENV}}}
all_events:
  properties:
    distinct_id: hash
events:
  signup:
    properties:
      plan: keep
      email: hash
"""


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[MixpanelStandin]:
    monkeypatch.setenv(HASH_ENV, HASH_KEY)
    monkeypatch.setenv(UPSTREAM_ENV, UPSTREAM_TOKEN)
    with MixpanelStandin(token=UPSTREAM_TOKEN) as mp:
        yield mp


def _config(tmp: Path, mp: MixpanelStandin, audit: str) -> Path:
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    key = tmp / "audit.secret"
    key.write_text(AUDIT_KEY + "\n")
    os.chmod(key, 0o600)
    return write_config(
        tmp,
        policy=policy,
        destinations=f"  mp:\n    type: mixpanel\n    base_url: {mp.base_url}\n",
        forward=f"      - destination: mp\n        token: {{env: {UPSTREAM_ENV}}}\n",
        extra="",
    ).parent / _with(tmp / "redline.yaml", audit)


def _with(path: Path, extra: str) -> str:
    path.write_text(path.read_text() + extra)
    # it names a secret file: only its owner may read it
    os.chmod(path, 0o600)
    return path.name


AUDIT_SECTION = """\
audit_log:
  key: {file: audit.secret}
  key_id: ops-2026
  summary_interval_seconds: 0.2
  checkpoint_every: 5
  max_file_bytes: 4096
"""


def _events(n: int) -> list[dict[str, Any]]:
    signup = {
        "event": "signup",
        "properties": {
            "token": "demo",
            "distinct_id": VALUES["distinct id"],
            "time": 1764230410,
            "$insert_id": f"audit-{n}",
            "plan": VALUES["plan"],
            "email": VALUES["email"],
            VALUES["unknown property name"]: VALUES["note"],
        },
    }
    unknown = {
        "event": VALUES["unknown event name"],
        "properties": {"token": "demo", "time": 1764230411, "$insert_id": f"u-{n}"},
    }
    return [
        signup,
        signup | {"properties": signup["properties"] | {"$insert_id": f"b-{n}"}},
        unknown,
    ]


def _records(data_dir: Path) -> list[dict[str, Any]]:
    """Every complete record, in order (a torn last line is skipped)."""
    out = []
    for path in files(data_dir):
        lines, _ = read_lines(path)
        out.extend(line.record for line in lines if line.record is not None)
    return out


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _verify(config: Path) -> Any:
    return CliRunner().invoke(main, ["auditlog", "verify", "--config", str(config)])


def test_restarts_rotations_summaries_and_no_values_or_secrets(
    tmp_path: Path, upstream: MixpanelStandin
) -> None:
    config = _config(tmp_path, upstream, AUDIT_SECTION)
    data = tmp_path / "data"
    sent = 0
    for run in range(2):
        with gateway_thread(config) as gw:
            for batch in range(4):
                r = httpx.post(
                    f"{gw.url}/track",
                    data={"data": json.dumps(_events(run * 10 + batch))},
                )
                assert r.text == "1"
                sent += 1
                time.sleep(0.25)  # a summary interval passes
            policy_digest = gw.gateway.engine.policy.digest

    records = _records(data)
    kinds = Counter(r["kind"] for r in records)
    assert kinds["gateway.start"] == 2
    assert kinds["gateway.stop"] == 2
    assert kinds["policy.load"] == 2
    assert all(
        r["data"]["digest"] == policy_digest
        for r in records
        if r["kind"] == "policy.load"
    )
    assert kinds["summary"] >= 2
    assert len(files(data)) >= 2  # rotated by size
    # the chain runs across both runs and every file
    result = _verify(config)
    assert result.exit_code == 0, result.output
    assert "audit log intact" in result.output

    # the summaries add up to what was sent: per batch two signups and one
    # event the policy does not list
    rows: Counter[tuple[str, str, str]] = Counter()
    totals: Counter[str] = Counter()
    for record in records:
        if record["kind"] != "summary":
            continue
        totals.update(record["data"]["events"])
        for row in record["data"]["findings"]:
            rows[(row["event"], row["property"], row["action"])] += row["count"]
    assert totals["received"] == 3 * sent
    assert totals["accepted"] == 2 * sent
    assert totals["dropped"] == sent
    assert rows[("signup", "distinct_id", "hash")] == 2 * sent
    assert rows[("signup", "email", "hash")] == 2 * sent
    # a property name the client chose is counted, never named
    assert rows[("signup", "(unlisted)", "drop")] == 2 * sent
    assert rows[("(unlisted)", "", "drop_event")] == sent
    assert not any(prop == "plan" for _, prop, _ in rows)

    # no value, and no secret, anywhere in the log, its head or its key id
    blob = b"".join(
        p.read_bytes() for p in data.iterdir() if p.name.startswith("audit")
    )
    assert blob
    for label, value in VALUES.items():
        assert value.encode() not in blob, f"{label} in the audit log"
    for label, secret in {
        "hash key": HASH_KEY,
        "audit key": AUDIT_KEY,
        "upstream token": UPSTREAM_TOKEN,
    }.items():
        assert secret.encode() not in blob, f"{label} in the audit log"
    assert b"ops-2026" in blob  # checkpoints name the configured key


def test_policy_reloads_are_recorded_with_their_digest(
    tmp_path: Path, upstream: MixpanelStandin
) -> None:
    config = _config(tmp_path, upstream, AUDIT_SECTION)
    data = tmp_path / "data"
    policy = tmp_path / "policy.yaml"

    with gateway_thread(config) as gw:
        first = gw.gateway.engine.policy.digest
        policy.write_text(POLICY.replace("plan: keep", "plan: drop"))
        _wait(lambda: gw.gateway.engine.policy.digest != first)
        second = gw.gateway.engine.policy.digest
        policy.write_text(POLICY.replace("plan: keep", "plan: kepp"))
        _wait(
            lambda: gw.gateway.reloader is not None and gw.gateway.reloader.refusals > 0
        )

    records = _records(data)
    reload = [r["data"] for r in records if r["kind"] == "policy.reload"]
    assert reload == [{"digest": second, "previous": first, "trigger": "file changed"}]
    refused = [r["data"] for r in records if r["kind"] == "policy.reload_refused"]
    assert refused == [
        {"kept": second, "trigger": "file changed", "error": "ConfigError", "line": 11}
    ]
    assert _verify(config).exit_code == 0


def test_a_killed_gateway_leaves_a_log_that_verifies_and_continues(
    tmp_path: Path, upstream: MixpanelStandin
) -> None:
    config = _config(tmp_path, upstream, AUDIT_SECTION)
    data = tmp_path / "data"
    log = tmp_path / "gateway.log"
    env = {HASH_ENV: HASH_KEY, UPSTREAM_ENV: UPSTREAM_TOKEN}

    gw = GatewayProcess(config, log, env).start()
    httpx.post(f"{gw.url}/track", data={"data": json.dumps(_events(1))})
    # killed after a summary and the signed head that follows it (a kill
    # between the two leaves no head yet, which verify rightly reports)
    _wait(
        lambda: (
            any(r["kind"] == "summary" for r in _records(data))
            and (data / "audit.head").exists()
        )
    )
    gw.kill()
    killed = _verify(config)
    # whatever was written is intact; the end was not signed by a stop
    assert killed.exit_code == 0, killed.output
    assert "did not stop cleanly" in killed.output

    # a write cut short by the crash, as a power loss could leave it
    with files(data)[-1].open("ab") as f:
        f.write(b'{"seq":99,"ts":"2026-12-03T10:00:00Z","kind":"sum')
    torn = _verify(config)
    assert torn.exit_code == 1
    assert "stopped mid-write" in torn.output

    with GatewayProcess(config, log, env):
        pass
    after = _verify(config)
    assert after.exit_code == 0, after.output
    records = _records(data)
    recovered = [r for r in records if r["kind"] == "audit.recovered"]
    assert len(recovered) == 1
    assert recovered[0]["data"]["damaged"][0]["size"] == 49
    assert records[-2]["kind"] == "gateway.stop"
    assert b"the last write before this start was cut short" in log.read_bytes()


def test_verify_says_where_the_log_was_edited(
    tmp_path: Path, upstream: MixpanelStandin
) -> None:
    config = _config(tmp_path, upstream, AUDIT_SECTION)
    with gateway_thread(config):
        pass
    path = files(tmp_path / "data")[0]
    lines = path.read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"policy.load"', b'"policy.lode"')
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = _verify(config)

    assert result.exit_code == 1
    assert f"PROBLEM {path.name}:2: record seq 2 was edited" in result.output
    assert "NOT intact: 1 problem(s)" in result.output


def test_show_lists_the_last_records_of_a_kind(
    tmp_path: Path, upstream: MixpanelStandin
) -> None:
    config = _config(tmp_path, upstream, AUDIT_SECTION)
    for _ in range(2):
        with gateway_thread(config):
            pass

    result = CliRunner().invoke(
        main,
        ["auditlog", "show", "--config", str(config), "--kind", "gateway", "-n", "3"],
    )

    assert result.exit_code == 0, result.output
    shown = result.output.splitlines()
    assert [line.split()[2] for line in shown] == [
        "gateway.stop",
        "gateway.start",
        "gateway.stop",
    ]
    as_json = CliRunner().invoke(
        main, ["auditlog", "show", "--config", str(config), "--json", "-n", "1"]
    )
    assert orjson.loads(as_json.output)["kind"] == "checkpoint"
