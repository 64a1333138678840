"""Policy reload while serving: SIGHUP or a changed file puts a valid
policy in force atomically; an invalid one is refused with its file, line
and column while the old one keeps serving; no request fails meanwhile."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from harness import GatewayProcess, write_config
from redline.destinations.local import LocalStore
from redline.engine import Engine, Hasher
from redline.errors import ConfigError
from redline.gateway._reload import PolicyReloader, _located
from redline.hashkey import hasher_for
from redline.policy import CompiledPolicy, parse_policy
from redline.sensitive import Sensitive

from .conftest import wait_for

V1 = """\
version: 1
events:
  checkout:
    properties:
      plan: drop
      price: keep
"""
V2 = V1.replace("plan: drop", "plan: keep")
# a misspelt action on line 5
INVALID = V1.replace("price: keep", "price: kepp")
BAD_REGEX = (
    V1
    + """\
    drop_if:
      - {property: env, matches: "(unclosed"}
"""
)
WRONG_TYPE = V1.replace("price: keep", "price: {action: truncate, max_length: many}")
# the current key can be read, the one being rotated out cannot
ROTATING = """\
version: 1
hash:
  key_id: k2
  key: {env: REDLINE_TEST_PRESENT_KEY}
  previous:
    - key_id: k1
      key: {env: REDLINE_TEST_ABSENT_KEY}
      until: 2027-01-31
events:
  checkout: {}
"""
HASHED = """\
version: 1
hash:
  key_id: k2
  key: {env: REDLINE_TEST_ABSENT_KEY}
events:
  checkout: {}
"""


def _write(path: Path, text: str) -> None:
    # as editors and config tools do: a new file renamed into place, so a
    # reader never sees half of it
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _engine(policy: CompiledPolicy) -> Engine:
    return Engine(policy, hasher_for(policy, None, Path(".")))


def _fixed_engine(policy: CompiledPolicy) -> Engine:
    return Engine(policy, Hasher("t", Sensitive("k" * 32)))


def _digest(text: str) -> str:
    return parse_policy(text).digest


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(V1)
    return path


def _reloader(path: Path, **kwargs: Any) -> tuple[Any, PolicyReloader]:
    gateway = SimpleNamespace(engine=_fixed_engine(parse_policy(V1, str(path))))
    return gateway, PolicyReloader(gateway, path, _fixed_engine, **kwargs)  # type: ignore[arg-type]


# -- the reloader on its own ------------------------------------------------------


async def test_a_valid_change_swaps_the_engine_and_logs_the_new_digest(
    policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway, reloader = _reloader(policy_file)
    old = gateway.engine
    _write(policy_file, V2)

    with caplog.at_level(logging.INFO, logger="redline.policy"):
        swapped = await reloader.reload("test")

    assert swapped is True
    assert gateway.engine is not old
    assert gateway.engine.policy.digest == _digest(V2)
    assert gateway.engine.policy.rules_for("checkout").properties["plan"].action == (
        "keep"
    )
    (line,) = [r for r in caplog.records if r.getMessage().startswith("policy rel")]
    assert line.getMessage() == (
        f"policy reloaded: sha256 {_digest(V2)[:12]} (was {_digest(V1)[:12]})"
    )
    assert line.digest == _digest(V2)  # type: ignore[attr-defined]
    assert reloader.reloads == 1


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (INVALID, 6, 14, "not one of the allowed values"),
        ("version: 1\nevents: [\n", 3, 1, "not valid YAML"),
        ("version: 1\nevnts: {}\n", 2, 8, "unknown key 'evnts'"),
        (BAD_REGEX, 8, 34, "not a valid regular expression"),
        (WRONG_TYPE, 6, 45, "valid integer"),
        (HASHED, 4, 8, "REDLINE_TEST_ABSENT_KEY is not set"),
        (ROTATING, 7, 12, "REDLINE_TEST_ABSENT_KEY is not set"),
    ],
    ids=[
        "unknown action",
        "bad yaml",
        "unknown key",
        "bad regex",
        "wrong type",
        "missing hash key",
        "missing previous key",
    ],
)
async def test_an_invalid_policy_is_refused_and_the_old_one_kept(
    policy_file: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    line: int,
    column: int,
    fragment: str,
) -> None:
    monkeypatch.setenv("REDLINE_TEST_PRESENT_KEY", "p" * 32)
    monkeypatch.delenv("REDLINE_TEST_ABSENT_KEY", raising=False)
    gateway = SimpleNamespace(engine=_engine(parse_policy(V1, str(policy_file))))
    reloader = PolicyReloader(gateway, policy_file, _engine)  # type: ignore[arg-type]
    old = gateway.engine
    _write(policy_file, text)

    with caplog.at_level(logging.INFO, logger="redline.policy"):
        swapped = await reloader.reload("test")

    assert swapped is False
    assert gateway.engine is old
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert message.startswith(
        f"policy reload refused, keeping sha256 {_digest(V1)[:12]}: "
        f"{policy_file}:{line}:{column}: "
    ), message
    assert fragment in message
    # the loader has a fix for every kind of error but a validator's own
    # (a regex that does not compile says what is wrong, not what to write)
    assert ("(fix: " in message) is (text is not BAD_REGEX)
    assert reloader.refusals == 1


async def test_a_policy_with_several_errors_is_refused_naming_each(
    policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = SimpleNamespace(engine=_engine(parse_policy(V1, str(policy_file))))
    reloader = PolicyReloader(gateway, policy_file, _engine)  # type: ignore[arg-type]
    old = gateway.engine
    _write(
        policy_file,
        V1.replace("plan: drop", "plan: kepp").replace("price: keep", "price: hsah")
        + "    sample: {rate: 2}\n",
    )

    with caplog.at_level(logging.INFO, logger="redline.policy"):
        swapped = await reloader.reload("test")

    assert swapped is False
    assert gateway.engine is old
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    # one line, the errors in file order joined by "; "
    assert "\n" not in message
    prefix = f"policy reload refused, keeping sha256 {_digest(V1)[:12]}: "
    assert message.startswith(prefix)
    errors = message.removeprefix(prefix).split(f"; {policy_file}:")
    assert len(errors) == 3, message
    assert errors[0].startswith(f"{policy_file}:5:13: events.checkout.properties.plan")
    assert errors[1].startswith("6:14: events.checkout.properties.price")
    assert errors[2].startswith("7:20: events.checkout.sample.rate")
    assert reloader.refusals == 1


async def test_a_policy_with_thousands_of_errors_is_refused_in_a_short_line(
    policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = SimpleNamespace(engine=_engine(parse_policy(V1, str(policy_file))))
    reloader = PolicyReloader(gateway, policy_file, _engine)  # type: ignore[arg-type]
    rules = "".join(f"    p{i}: kepp\n" for i in range(2000))
    _write(policy_file, f"version: 1\nall_events:\n  properties:\n{rules}")

    with caplog.at_level(logging.INFO, logger="redline.policy"):
        swapped = await reloader.reload("test")

    assert swapped is False
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    # the first 50 errors and a count of the others (2,000 made 544 KB)
    assert message.count(f"{policy_file}:") == 50
    assert message.endswith("; ... and 1950 more errors")
    assert len(message) < 20_000


async def test_an_unchanged_policy_keeps_the_engine_it_has(policy_file: Path) -> None:
    gateway, reloader = _reloader(policy_file)
    old = gateway.engine
    _write(policy_file, V1 + "# a comment changes nothing\n")

    assert await reloader.reload("test") is False
    assert gateway.engine is old


async def test_a_file_change_is_noticed_by_polling(policy_file: Path) -> None:
    gateway, reloader = _reloader(policy_file, interval=0.02)
    await reloader.start()
    try:
        _write(policy_file, V2)
        deadline = time.monotonic() + 5
        while gateway.engine.policy.digest != _digest(V2):
            assert time.monotonic() < deadline, "the change was not picked up"
            await asyncio.sleep(0.01)
        # a refused policy is not retried until the file changes again
        _write(policy_file, INVALID)
        while reloader.refusals == 0:
            assert time.monotonic() < deadline, "the change was not picked up"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert reloader.refusals == 1
        assert gateway.engine.policy.digest == _digest(V2)
    finally:
        await reloader.stop()


async def test_a_missing_file_is_refused_and_a_restored_one_loads(
    policy_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gateway, reloader = _reloader(policy_file)
    policy_file.unlink()

    with caplog.at_level(logging.INFO, logger="redline.policy"):
        assert await reloader.reload("test") is False
    _write(policy_file, V2)
    assert await reloader.reload("test") is True

    assert f"{policy_file}: cannot read policy file" in caplog.text
    assert gateway.engine.policy.digest == _digest(V2)


async def test_stop_cancels_the_watch(policy_file: Path) -> None:
    gateway, reloader = _reloader(policy_file, interval=0.02)
    await reloader.start()
    await reloader.stop()
    _write(policy_file, V2)
    await asyncio.sleep(0.1)

    assert gateway.engine.policy.digest == _digest(V1)


# -- a real gateway ----------------------------------------------------------------


class _Traffic:
    """Sends /track requests in a loop from a thread and counts failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                batch = [_checkout(f"bg-{uuid.uuid4().hex[:16]}") for _ in range(5)]
                try:
                    reply = client.post(
                        self.url + "/track",
                        params={"verbose": "1"},
                        data={"data": json.dumps(batch)},
                    )
                    if reply.status_code != 200 or reply.json() != {
                        "status": 1,
                        "error": None,
                    }:
                        self.failures.append(f"{reply.status_code} {reply.text}")
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                self.sent += 1


def _checkout(insert_id: str) -> dict[str, Any]:
    return {
        "event": "checkout",
        "properties": {
            "token": "demo",
            "distinct_id": "user-1",
            "time": 1764230410,
            "$insert_id": insert_id,
            "plan": "pro",
            "price": 20,
        },
    }


def _policy_digest(url: str) -> str:
    text = httpx.get(url + "/metrics", timeout=5).text
    match = re.search(r'^redline_policy_info\{digest="([0-9a-f]*)"', text, re.M)
    assert match is not None, "redline_policy_info missing from /metrics"
    return match.group(1)


def _stored_plan(data_dir: Path, insert_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with LocalStore.in_dir(data_dir) as store:

        def arrived() -> bool:
            for row in store.query(name="checkout", limit=10_000):
                if row["properties"].get("$insert_id") == insert_id:
                    found.update(row["properties"])
                    return True
            return False

        wait_for(arrived, timeout=10)
    return found


def _send_one(url: str, insert_id: str) -> None:
    reply = httpx.post(
        url + "/track", data={"data": json.dumps([_checkout(insert_id)])}, timeout=5
    )
    assert reply.text == "1"


@pytest.mark.slow
def test_reloads_under_traffic_fail_no_request_and_apply_the_new_rules(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(V1)
    config = write_config(tmp_path, policy=policy)
    log_path = tmp_path / "gateway.log"

    with GatewayProcess(config, log_path) as gw, _Traffic(gw.url) as traffic:
        assert gw.proc is not None
        data_dir = gw.config.data_dir
        assert _policy_digest(gw.url) == _digest(V1)
        _send_one(gw.url, "before-reload")
        assert "plan" not in _stored_plan(data_dir, "before-reload")

        # 1. a valid policy, announced by SIGHUP
        _write(policy, V2)
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: _policy_digest(gw.url) == _digest(V2))
        _send_one(gw.url, "after-sighup")
        assert _stored_plan(data_dir, "after-sighup")["plan"] == "pro"

        # 2. an invalid one, noticed by the file watch: refused, V2 stays
        _write(policy, INVALID)
        wait_for(lambda: "policy reload refused" in log_path.read_text())
        assert _policy_digest(gw.url) == _digest(V2)
        _send_one(gw.url, "after-refusal")
        assert _stored_plan(data_dir, "after-refusal")["plan"] == "pro"

        # 3. and SIGHUP with the invalid file still there: refused again
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log_path.read_text().count("policy reload refused") == 2)

        # 4. back to V1 by the file watch alone
        _write(policy, V1)
        wait_for(lambda: _policy_digest(gw.url) == _digest(V1))
        _send_one(gw.url, "back-to-v1")
        assert "plan" not in _stored_plan(data_dir, "back-to-v1")
        sent_during_reloads = traffic.sent

    assert sent_during_reloads > 20
    assert traffic.failures == []
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x[:1] == "{"]
    reloaded = [x for x in lines if x["msg"].startswith("policy reloaded")]
    refused = [x for x in lines if x["msg"].startswith("policy reload refused")]
    assert [(x["trigger"], x["digest"]) for x in reloaded] == [
        ("SIGHUP", _digest(V2)),
        ("file changed", _digest(V1)),
    ]
    assert [x["trigger"] for x in refused] == ["file changed", "SIGHUP"]
    for line in refused:
        assert f"{policy}:6:14: " in line["msg"]
        assert line["level"] == "error"
        assert line["logger"] == "redline.policy"
    # the values sent never reach the log
    assert "pro" not in {str(v) for x in lines for v in x.values()}


@pytest.mark.parametrize(
    ("reason", "line", "column"),
    [
        ("hash.key: environment variable X is not set", 3, 8),
        ("hash.previous.0.key: environment variable Y is not set", 6, 12),
        ("hash.previous[0].key: environment variable Y is not set", 6, 12),
        ("something without a field", None, None),
    ],
)
def test_errors_raised_after_validation_point_at_their_field(
    reason: str, line: int | None, column: int | None
) -> None:
    text = (
        "version: 1\nhash:\n  key: {env: X}\n  key_id: k2\n  previous:\n"
        "    - key: {env: Y}\n      key_id: k1\n"
    )

    located = _located(ConfigError(reason, fix="set it"), text, "p.yaml")

    assert (located.path, located.line, located.column) == ("p.yaml", line, column)
    assert located.reason == reason
    assert located.fix == "set it"
