"""The ``redline`` command, driven through click's runner (and once as a
real process): sanitise offline, check policies, list stored events,
inspect and replay the outbox, and what the README promises."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from harness import gateway_thread, write_config
from redline.cli import main
from redline.config import default_policy_path
from redline.config import load as load_config
from redline.destinations.local import LocalStore
from redline.events import Event, Kind, to_record
from redline.outbox import Entry, SqliteOutbox
from redline.outbox.sqlite import read_stats

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

# planted in tests/data/mixpanel_events.jsonl; none may survive the policy
PLANTED = [
    "jane.doe@example.com",
    "jane.doe%40example.com",
    "tanaka.taro@example.jp",
    "202-555-0143",
    "+81 90-1234-5678",
    "０９０－１２３４－５６７８",  # noqa: RUF001 - full-width digits, as typed in Japan
    "4111 1111 1111 1111",
    "sk-proj-FAKE0000000000000000000000000000000000000000TEST",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXRlc3Q",
    "ya29.FAKE-token-0000",
    "203.0.113.57",
]


@pytest.fixture(autouse=True)
def _no_config_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the CLI reads ./redline.yaml when present: run where there is none
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)


def run(*args: str | Path, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(
        main, [str(a) for a in args], input=input, prog_name="redline"
    )


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- sanitize -----------------------------------------------------------------


def test_sanitize_writes_sanitised_jsonl_and_a_summary(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    unnamed = {"event": "internal_debug_dump", "properties": {"dump": "all"}}
    source.write_text(
        (DATA / "mixpanel_events.jsonl").read_text() + json.dumps(unnamed) + "\n"
    )
    originals = _jsonl((DATA / "mixpanel_events.jsonl").read_text())

    result = run("sanitize", "--policy", default_policy_path(), source)

    assert result.exit_code == 0, result.stderr
    out = _jsonl(result.stdout)
    # every event the policy names comes out, in order; the other does not
    assert [e["event"] for e in out] == [e["event"] for e in originals]
    assert "internal_debug_dump" not in result.stdout
    for value in PLANTED:
        assert value not in result.stdout, value
        assert value not in result.stderr, value
    by_name = {e["event"]: e["properties"] for e in out}
    assert by_name["checkout"]["plan"] == "pro"
    assert "card_hint" not in by_name["checkout"]
    assert "billing_phone" not in by_name["checkout"]
    assert by_name["error"]["message"].endswith("provided: [API_KEY]")
    assert "text" not in by_name["api_call"]
    assert by_name["$mp_web_page_view"]["ip"] == "203.0.113.0"
    # no token travels in the export shape
    assert all("token" not in e["properties"] for e in out)
    warning, summary = result.stderr.strip().splitlines()
    assert "throw-away key" in warning
    assert summary == (
        "redline: 9 events read, 8 written, 1 dropped by policy, 0 unreadable"
    )


def test_sanitize_reads_standard_input() -> None:
    line = json.dumps(
        {"event": "checkout", "properties": {"plan": "team", "email": "a@b.example"}}
    )

    result = run("sanitize", "--policy", default_policy_path(), input=line + "\n")

    assert result.exit_code == 0
    (event,) = _jsonl(result.stdout)
    assert event["event"] == "checkout"
    assert event["properties"]["plan"] == "team"
    assert "a@b.example" not in result.stdout


def test_sanitize_reports_malformed_lines_by_number_and_exits_1(
    tmp_path: Path,
) -> None:
    secret = "malformed.canary@example.com"
    good = json.dumps({"event": "checkout", "properties": {"plan": "pro"}})
    source = tmp_path / "events.jsonl"
    source.write_text(
        "\n".join(
            [
                good,
                '{"event": "checkout", "properties": {"email": "' + secret,
                "",
                good,
                json.dumps(["not", "an", "object", secret]),
                json.dumps({"properties": {"plan": "no name"}}),
            ]
        )
        + "\n"
    )

    result = run("sanitize", "--policy", default_policy_path(), source)

    assert result.exit_code == 1
    assert len(_jsonl(result.stdout)) == 2  # the good lines still come out
    reported = re.findall(r"line (\d+): skipped", result.stderr)
    assert reported == ["2", "5", "6"]
    assert "2 written" in result.stderr
    assert "3 unreadable" in result.stderr
    assert secret not in result.stderr
    assert secret not in result.stdout


def test_sanitize_with_a_broken_policy_exits_2(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ndefaults:\n  unknown_events: maybe\n")

    result = run("sanitize", "--policy", policy, DATA / "mixpanel_events.jsonl")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{policy}:3:" in result.stderr


# -- policy check -------------------------------------------------------------


def test_policy_check_accepts_the_example_policy() -> None:
    result = run("policy", "check", default_policy_path())

    assert result.exit_code == 0
    assert re.fullmatch(
        rf"{re.escape(str(default_policy_path()))}: ok \(sha256 [0-9a-f]{{12}}\)\n",
        result.stdout,
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\ndefaults:\n  unknown_events: explode\n", 3),
        ("version: 1\nall_events:\n  properties:\n    x: frobnicate\n", 4),
        ("version: 1\nevents:\n  checkout:\n    properties: [plan\n", 5),
        ("version: 1\nevents:\n  checkout:\n    propertees: {plan: keep}\n", 4),
    ],
    ids=["bad default", "unknown action", "broken yaml", "misspelt key"],
)
def test_policy_check_refuses_a_bad_policy_naming_file_line_and_column(
    tmp_path: Path, text: str, line: int
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(text)

    result = run("policy", "check", policy)

    assert result.exit_code == 2
    assert result.stdout == ""
    match = re.search(rf"{re.escape(str(policy))}:(\d+):(\d+): ", result.stderr)
    assert match is not None, result.stderr
    assert int(match.group(1)) == line
    assert int(match.group(2)) >= 1


def test_policy_check_of_a_recursive_alias_exits_2_naming_the_line(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("version: 1\nx: &a {b: *a}\n")

    result = run("policy", "check", policy)

    assert result.exit_code == 2
    assert result.stderr == (
        f"redline: {policy}:2:8: an alias refers to a value that contains it"
        " (fix: an alias can only repeat an anchored value from outside it)\n"
    )


def test_policy_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("policy", "check", tmp_path / "absent.yaml")

    assert result.exit_code == 2
    assert "absent.yaml" in result.stderr


# -- events -------------------------------------------------------------------


def _post(url: str, events: list[dict[str, Any]]) -> None:
    response = httpx.post(url + "/track?verbose=1", data={"data": json.dumps(events)})
    assert response.json() == {"status": 1, "error": None}


def _checkout(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event": "checkout" if n % 2 else "search",
        "properties": {
            "token": "demo",
            "distinct_id": f"user-{n}@example.com",
            "time": 1764230400 + n * 60,
            "$insert_id": f"cli-{n:03d}",
            "plan": "pro",
            "results": n,
            **extra,
        },
    }


@pytest.fixture
def gateway_data(tmp_path: Path) -> Path:
    """A data directory after a gateway run that stored 6 events."""
    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        _post(gw.url, [_checkout(n) for n in range(6)])
        with LocalStore.in_dir(gw.config.data_dir) as store:
            _wait_until(lambda: store.count() >= 6)
        data_dir = gw.config.data_dir
    return data_dir


def test_events_lists_stored_events_as_jsonl_newest_first(gateway_data: Path) -> None:
    result = run("events", "--data-dir", gateway_data, "--format", "jsonl")

    assert result.exit_code == 0, result.stderr
    rows = _jsonl(result.stdout)
    assert [r["properties"]["$insert_id"] for r in rows] == [
        f"cli-{n:03d}" for n in reversed(range(6))
    ]
    for row in rows:
        assert row["properties"]["distinct_id"].startswith("local:")
        assert "@example.com" not in json.dumps(row)


def test_events_filters_by_name_and_limits(gateway_data: Path) -> None:
    result = run(
        "events",
        "--data-dir",
        gateway_data,
        "--format",
        "jsonl",
        "--event",
        "checkout",
        "--limit",
        "2",
    )

    assert result.exit_code == 0
    rows = _jsonl(result.stdout)
    assert [r["properties"]["$insert_id"] for r in rows] == ["cli-005", "cli-003"]


def test_events_table_shows_names_and_counts(gateway_data: Path) -> None:
    result = run("events", "--data-dir", gateway_data, "--limit", "4")

    assert result.exit_code == 0, result.stderr
    assert re.search(r"4 of 6 stored events", result.stdout)
    assert "checkout" in result.stdout
    assert "search" in result.stdout
    # the newest event's time, in UTC, as the table renders it
    assert time.strftime("%Y-%m-%d %H:%M", time.gmtime(1764230400 + 5 * 60)) in (
        result.stdout
    )
    assert "@example.com" not in result.stdout


def test_events_show_the_address_and_person_operations_stored_beside_events(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        posthog = httpx.post(
            gw.url + "/i/v0/e/",
            json={
                "api_key": "demo",
                "event": "signup",
                "distinct_id": "alice@example.com",
                "uuid": "019a1b2c-3d4e-7f00-8000-0000000000c1",
                "timestamp": "2025-11-27T08:00:00Z",
                "properties": {
                    "$set": {"$email": "alice@example.com", "plan": "pro"},
                    "$set_once": {"$name": "Alice Example"},
                },
            },
        )
        amplitude = httpx.post(
            gw.url + "/2/httpapi",
            json={
                "api_key": "demo",
                "events": [
                    {
                        "event_type": "checkout",
                        "user_id": "bob@example.com",
                        "insert_id": "amp-c2",
                        "time": 1764230460000,
                        "ip": "203.0.113.57",
                        "user_properties": {"$set": {"$email": "bob@example.com"}},
                    }
                ],
            },
        )
        assert posthog.status_code == amplitude.status_code == 200
        with LocalStore.in_dir(gw.config.data_dir) as store:
            _wait_until(lambda: store.count() >= 2)
        data_dir = gw.config.data_dir

    result = run("events", "--data-dir", data_dir, "--format", "jsonl")

    assert result.exit_code == 0, result.stderr
    checkout, signup = _jsonl(result.stdout)
    # the address after the IP rule, and the operations after the profile
    # rules ($name is not kept), beside the properties
    assert checkout["ip"] == "203.0.113.0"
    assert signup["ip"] == "127.0.0.0"
    assert checkout["person"] == {
        "$set": {"$email": checkout["properties"]["distinct_id"]}
    }
    assert signup["person"] == {
        "$set": {"$email": signup["properties"]["distinct_id"], "plan": "pro"}
    }
    assert "ip" not in signup["properties"]
    for raw in ("@example.com", "Alice", "203.0.113.57"):
        assert raw not in result.stdout

    table = run("events", "--data-dir", data_dir)

    assert table.exit_code == 0, table.stderr
    assert "person" in table.stdout
    assert "$set.plan" in table.stdout
    assert "@example.com" not in table.stdout


def _store_rows(data_dir: Path, envelopes: list[object]) -> None:
    # rows as the store holds them, written by hand: their "$person" need
    # not be what the gateway writes
    with LocalStore.in_dir(data_dir):
        pass
    with closing(sqlite3.connect(data_dir / "store.db")) as db, db:
        for n, envelope in enumerate(envelopes):
            record = {
                "k": "track",
                "n": f"odd{n}",
                "p": {},
                "d": "u",
                "i": f"x{n}",
                "t": 1764230400.0 + n,
                "ip": None,
                "imp": False,
                "e": envelope,
            }
            db.execute(
                "INSERT INTO events (project, kind, name, distinct_id, time,"
                " insert_id, stored_at, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    "demo",
                    "track",
                    f"odd{n}",
                    "u",
                    record["t"],
                    f"x{n}",
                    0.0,
                    orjson.dumps(record).decode(),
                ),
            )


def test_events_table_shows_person_values_that_are_not_mappings_as_json(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    _store_rows(
        data_dir,
        [
            {"$person": "str"},
            {"$person": ["a", "b"]},
            {"$person": 12},
            ["not", "a", "mapping"],
            {"$person": {"$set": {"plan": "pro"}, "$unset": ["old"]}},
        ],
    )

    result = run("events", "--data-dir", data_dir)

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    cells = {
        line.split("│")[2].strip(): line.split("│")[5].strip()
        for line in lines
        if "│ odd" in line
    }
    assert cells == {
        "odd0": '"str"',
        "odd1": '["a","b"]',
        "odd2": "12",
        "odd3": "",
        "odd4": '$set.plan="pro"',
    }
    assert '$unset=["old"]' in result.stdout


def test_events_table_shows_the_first_8_person_operations_and_counts_the_others(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    many = {f"k{i:03d}": "v" * 80 for i in range(300)}
    _store_rows(data_dir, [{"$person": {"$set": many, "$unset": ["old"]}}])

    result = run("events", "--data-dir", data_dir)

    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert [f"$set.k{i:03d}=" in text for i in range(10)] == [True] * 8 + [False] * 2
    assert "… 293 more" in text
    # 301 operations made over 1,200 lines at 80 columns; now 8 of them
    # (a long value folds to 4 lines), the count, and the table's frame
    assert len(text.splitlines()) < 50


def test_events_without_a_store_says_so_and_exits_1(tmp_path: Path) -> None:
    result = run("events", "--data-dir", tmp_path / "nothing-here")

    assert result.exit_code == 1
    assert "no local store" in result.stderr


# -- outbox status and replay -------------------------------------------------


def _bury(outbox_path: Path, route: str, ids: list[str], reason: str) -> None:
    async def go() -> None:
        async with SqliteOutbox(outbox_path) as outbox:
            entries = []
            for n, insert_id in enumerate(ids):
                event = Event(
                    kind=Kind.TRACK,
                    name="checkout",
                    properties={"plan": "pro"},
                    distinct_id="local:0123456789abcdef0123456789abcdef",
                    insert_id=insert_id,
                    time=1764230400 + n,
                )
                entries.append(Entry(route, insert_id, orjson.dumps(to_record(event))))
            await outbox.append(entries)
            leased = await outbox.lease(route, len(ids))
            await outbox.bury([item.id for item in leased], reason)

    asyncio.run(go())


def test_outbox_status_and_replay_put_dead_letters_back(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ids = [f"dead-{n}" for n in range(3)]
    _bury(data_dir / "outbox.db", "demo/local", ids, "HTTP 400: record rejected")

    status = run("outbox", "status", "--data-dir", data_dir)
    other = run("outbox", "replay", "--data-dir", data_dir, "--route", "web/mp")
    replay = run("outbox", "replay", "--config", config)
    after = run("outbox", "status", "--data-dir", data_dir)

    assert status.exit_code == 0, status.stderr
    assert re.search(r"demo/local\s+waiting=0\s+oldest=-\s+dead=3", status.stdout)
    assert status.stdout.count("reason=HTTP 400: record rejected") == 3
    assert other.stdout.strip() == "0 dead letters queued again"
    assert replay.exit_code == 0
    assert replay.stdout.strip() == "3 dead letters queued again"
    assert re.search(r"demo/local\s+waiting=3\s+oldest=\S+s\s+dead=0", after.stdout)
    assert [(s.depth, s.dead) for s in read_stats(data_dir / "outbox.db")] == [(3, 0)]

    # the next gateway delivers what was replayed
    with gateway_thread(config), LocalStore.in_dir(data_dir) as store:
        _wait_until(lambda: store.count() >= 3)
        stored = {r["properties"]["$insert_id"] for r in store.query()}
    assert stored == set(ids)
    assert run("outbox", "status", "--data-dir", data_dir).stdout.strip() == (
        "outbox is empty; no dead letters"
    )


def test_outbox_commands_without_an_outbox_exit_1(tmp_path: Path) -> None:
    for command in ("status", "replay"):
        result = run("outbox", command, "--data-dir", tmp_path / "none")

        assert result.exit_code == 1
        assert "no outbox" in result.stderr


# -- the command itself -------------------------------------------------------


def test_serve_help_lists_its_options() -> None:
    result = run("serve", "--help")

    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: redline serve [OPTIONS]")
    for option in ("--config", "--host", "--port", "--data-dir", "--policy"):
        assert option in result.stdout


def test_version_is_the_package_version() -> None:
    expected = importlib.metadata.version("redline")

    result = run("--version")
    process = subprocess.run(
        [sys.executable, "-m", "redline.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.exit_code == 0
    assert result.stdout.strip() == f"redline, version {expected}"
    assert process.returncode == 0
    assert process.stdout.strip().endswith(f"version {expected}")


def test_serve_with_a_broken_config_exits_2_with_the_location(tmp_path: Path) -> None:
    config = tmp_path / "redline.yaml"
    config.write_text("server:\n  port: not-a-port\nprojects: {}\n")

    result = run("serve", "--config", config)

    assert result.exit_code == 2
    assert re.search(rf"{re.escape(str(config))}:\d+:\d+: ", result.stderr)


def test_serve_with_a_recursive_alias_in_the_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "redline.yaml"
    config.write_text("server: &s {port: 9000, again: *s}\nprojects: {}\n")

    result = run("serve", "--config", config)

    assert result.exit_code == 2
    assert f"redline: {config}:1:25: an alias refers to a value" in result.stderr
    assert "Traceback" not in result.stderr


# -- the README's promises ----------------------------------------------------


def test_readme_starts_with_make_serve_and_make_test_which_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```[a-z]*\n(.*?)```", readme, re.DOTALL)
    makefile = (ROOT / "Makefile").read_text()

    assert first_block is not None
    commands = [
        line.split("#", 1)[0].strip()
        for line in first_block.group(1).splitlines()
        if line.strip()
    ]
    assert commands[:2] == ["make serve", "make test"]
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.MULTILINE))
    assert {"serve", "test"} <= targets
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert phony is not None
    assert {"serve", "test"} <= set(phony.group(1).split())
    # and they run what the README says they run
    assert re.search(r"^serve:.*\n\t.*redline serve", makefile, re.MULTILINE)
    assert re.search(r"^test:.*\n\t.*pytest", makefile, re.MULTILINE)


def test_outbox_status_needs_no_upstream_secrets(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        destinations="  mp:\n    type: mixpanel\n    base_url: http://127.0.0.1:9\n",
        forward="      - destination: mp\n"
        "        token: {env: UNSET_TOKEN_FOR_CLI_TEST}\n",
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _bury(data_dir / "outbox.db", "demo/mp", ["dead-1"], "HTTP 400 from /track")

    status = run("outbox", "status", "--config", config)

    assert status.exit_code == 0, status.stderr
    assert re.search(r"demo/mp\s+waiting=0\s+oldest=-\s+dead=1", status.stdout)


def _unusable_data_dirs(tmp_path: Path) -> list[tuple[Path, str]]:
    afile = tmp_path / "afile"
    afile.write_text("")
    return [
        (afile / "sub", "a part of the path is a file, not a directory"),
        (Path("/proc/redline-nope"), "cannot be created (No such file or directory)"),
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        ["admin", "token", "create", "--role", "admin", "--label", "ci"],
        ["keys", "create", "--project", "demo", "--label", "web"],
        ["keys", "list"],
    ],
)
def test_an_unusable_data_dir_is_named_with_the_fix_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    for data_dir, reason in _unusable_data_dirs(tmp_path):
        result = run(*command, "--data-dir", data_dir)

        assert result.exit_code == 2, result.output
        assert result.output.startswith(
            f"redline: {data_dir}: cannot use as the data directory: {reason} "
            "(fix: point --data-dir or server.data_dir at a directory"
        )
        assert "Traceback" not in result.output


def test_sanitize_with_an_unusable_data_dir_from_the_environment_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for data_dir, reason in _unusable_data_dirs(tmp_path):
        monkeypatch.setenv("REDLINE_DATA_DIR", str(data_dir))

        result = run("sanitize", input='{"event": "e", "properties": {}}\n')

        assert result.exit_code == 2
        assert result.output.startswith(
            f"redline: {data_dir}: cannot use as the data directory: {reason}"
        )


def test_serve_on_a_busy_port_exits_2_before_claiming_to_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path)
    port = load_config(config).server.port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()

        result = run("serve", "--config", config)

    assert result.exit_code == 2
    assert result.stderr == (
        f"redline: cannot listen on 127.0.0.1:{port}: address already in use "
        "(fix: --port or server.port)\n"
    )
    assert [r.getMessage() for r in caplog.records] == []
    # nothing was opened in the data directory either
    assert not (tmp_path / "data").exists()
