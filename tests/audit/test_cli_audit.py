"""``redline audit`` as a user meets it: errors that say what to do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from redline.cli import main


def test_an_empty_directory_is_an_error_with_a_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 2
    assert "no files found" in result.output and "fix:" in result.output


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = CliRunner().invoke(main, ["audit", str(missing)])
    assert result.exit_code != 0
    assert "nope.jsonl" in result.output


def test_an_unwritable_report_path_is_an_error(tmp_path: Path) -> None:
    export = tmp_path / "e.jsonl"
    export.write_text('{"event": "a", "properties": {"distinct_id": "u1"}}\n')
    target = tmp_path / "missing-dir" / "r.json"
    result = CliRunner().invoke(main, ["audit", str(export), "--json", str(target)])
    assert result.exit_code == 1
    assert "cannot write" in result.output
