"""`redline auditlog verify` and `show` through the command line."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from click.testing import CliRunner

from redline import config as config_mod
from redline.auditlog import open_audit_log
from redline.cli import main

from .helpers import files, lines, write


def _log(data: Path, count: int) -> None:
    config = config_mod.load(None, overrides={"data_dir": str(data)})
    log = open_audit_log(config)
    assert log is not None
    for i in range(count):
        log.append("admin.access", token_id="tok", route="/admin/keys", n=i)
    log.close()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["auditlog", *args])
    return result.exit_code, result.output


def test_verify_json_reports_ok_then_the_deleted_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _log(data, 12)

    code, out = _run("verify", "--data-dir", str(data), "--json")
    assert code == 0, out
    report = orjson.loads(out)
    assert report["ok"] is True
    assert report["records"] == report["signed_through"] == 13

    path = files(data)[0]
    records = lines(path)
    del records[4]
    write(path, records)
    code, out = _run("verify", "--data-dir", str(data), "--json")

    assert code == 1
    problems = orjson.loads(out)["problems"]
    assert [(p["where"], p["seq"]) for p in problems] == [(f"{path.name}:5", 5)]
    assert "deleted" in problems[0]["message"]


def test_verify_without_a_log_says_where_it_looked(tmp_path: Path) -> None:
    code, out = _run("verify", "--data-dir", str(tmp_path / "nothing"))

    assert code == 1
    assert "no audit log at" in out


def test_a_deleted_last_file_is_caught(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _log(data, 12)  # seq 1-12 and a checkpoint
    _log(data, 3)  # a second run: seq 14-16 and a checkpoint
    last = files(data)[-1]
    records = lines(last)
    # split the file in two after the first checkpoint, as a rotation
    # would, then remove the second
    write(last, records[:13])
    write(last.with_name("audit-000002.jsonl"), records[13:])
    assert _run("verify", "--data-dir", str(data))[0] == 0
    last.with_name("audit-000002.jsonl").unlink()

    code, out = _run("verify", "--data-dir", str(data))

    assert code == 1
    assert "the log was cut" in out


def test_a_configured_key_that_cannot_be_read_is_a_config_error(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    _log(data, 2)
    config = tmp_path / "redline.yaml"
    config.write_text(
        f"server: {{data_dir: {data}}}\n"
        "audit_log: {key: {env: REDLINE_TEST_UNSET_AUDIT_KEY}, key_id: k2}\n"
        "projects: {demo: {ingest_keys: [demo], forward: [{destination: local}]}}\n"
    )
    os.environ.pop("REDLINE_TEST_UNSET_AUDIT_KEY", None)

    code, out = _run("verify", "--config", str(config))

    assert code == 2
    assert "REDLINE_TEST_UNSET_AUDIT_KEY is not set" in out


def test_show_filters_by_kind_and_keeps_the_newest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _log(data, 4)

    code, out = _run("show", "--data-dir", str(data), "--kind", "admin", "-n", "2")

    assert code == 0
    shown = out.splitlines()
    assert len(shown) == 2
    assert all("admin.access" in line for line in shown)
    assert shown[-1].split()[0] == "4"
