"""``redline audit`` as a user meets it: errors that say what to do, extra
detectors, and the progress bar."""

from __future__ import annotations

import io
import itertools
import json
import random
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console
from stdnum.fr import nir

from redline.audit.run import analyse
from redline.cli import main
from redline.cli_audit import _with_progress

from .exports import write_exports


def test_an_empty_directory_is_an_error_with_a_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["audit", str(tmp_path)])
    assert result.exit_code == 2
    assert "no files found" in result.output and "fix:" in result.output


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = CliRunner().invoke(main, ["audit", str(missing)])
    assert result.exit_code != 0
    assert "nope.jsonl" in result.output


def test_input_with_no_readable_record_is_an_error_not_a_clean_report(
    tmp_path: Path,
) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(random.Random(7).randbytes(4096))
    lines = tmp_path / "lines.jsonl"
    lines.write_text('{"a": 1\n{"b": 2\n')
    report = tmp_path / "r.json"

    for path, count, first in ((noise, 1, f"{noise}: "), (lines, 2, f"{lines}:1: ")):
        result = CliRunner().invoke(main, ["audit", str(path), "--json", str(report)])

        assert result.exit_code == 2, result.output
        assert "No personal data" not in result.output
        assert result.output.startswith(
            f"redline: no records could be read: {count} malformed line"
        )
        assert f"(first: {first}" in result.output
        assert not report.exists()


def test_some_readable_records_beside_malformed_lines_still_report(
    tmp_path: Path,
) -> None:
    export = tmp_path / "e.jsonl"
    export.write_text('{"event": "a", "properties": {"distinct_id": "u"}}\nnot json\n')

    result = CliRunner().invoke(main, ["audit", str(export)])

    assert result.exit_code == 0
    assert "1 malformed lines skipped" in result.output


def test_an_unwritable_report_path_is_an_error(tmp_path: Path) -> None:
    export = tmp_path / "e.jsonl"
    export.write_text('{"event": "a", "properties": {"distinct_id": "u1"}}\n')
    target = tmp_path / "missing-dir" / "r.json"
    result = CliRunner().invoke(main, ["audit", str(export), "--json", str(target)])
    assert result.exit_code == 1
    assert "cannot write" in result.output


def _nirs(count: int) -> list[str]:
    """Valid French social security numbers (NIR), written with spaces."""
    rng = random.Random(7)
    out = []
    for _ in range(count):
        body = (
            f"{rng.choice('12')}{rng.randrange(50, 99):02d}{rng.randrange(1, 13):02d}"
            f"{rng.randrange(10, 95):02d}{rng.randrange(1, 990):03d}"
            f"{rng.randrange(1, 999):03d}"
        )
        number = body + nir.calc_check_digits(body)
        parts = (0, 1, 3, 5, 7, 10, 13, 15)
        out.append(" ".join(number[a:b] for a, b in itertools.pairwise(parts)))
    return out


def test_a_named_detector_finds_national_ids_the_defaults_do_not(
    tmp_path: Path,
) -> None:
    numbers = _nirs(14)
    export = tmp_path / "e.jsonl"
    planted: list[str] = []  # the distinct id of each event with a NIR
    with export.open("w") as out:
        for index in range(40):
            props = {"distinct_id": f"u{index % 11}", "plan": "pro"}
            if index % 3 == 0:
                props["nir"] = numbers[index // 3]
                planted.append(props["distinct_id"])
            out.write(json.dumps({"event": "Form Sent", "properties": props}) + "\n")
    runner = CliRunner()

    reports = {}
    for label, extra in (
        ("default", []),
        ("nir", ["--detector", "national_id:fr.nir"]),
    ):
        target = tmp_path / f"{label}.json"
        result = runner.invoke(
            main, ["audit", str(export), "--json", str(target), *extra]
        )
        assert result.exit_code == 0, result.output
        reports[label] = json.loads(target.read_text())
        assert not any(n in result.output + target.read_text() for n in numbers)

    assert not [f for f in reports["default"]["findings"] if f["property"] == "nir"]
    (found,) = [f for f in reports["nir"]["findings"] if f["property"] == "nir"]
    assert (found["kind"], found["category"], found["tier"]) == (
        "NATIONAL_ID",
        "government_id",
        1,
    )
    assert (found["events"], found["people"]) == (len(planted), len(set(planted)))


def test_an_unknown_detector_is_refused_with_a_fix(tmp_path: Path) -> None:
    export = tmp_path / "e.jsonl"
    export.write_text('{"event": "a", "properties": {"distinct_id": "u1"}}\n')
    result = CliRunner().invoke(
        main, ["audit", str(export), "--detector", "national_id:xx.nope"]
    )
    assert result.exit_code == 2
    assert "--detector" in result.output and "fr.nir" in result.output


def test_progress_accounts_for_every_file_byte_and_event(tmp_path: Path) -> None:
    truth = write_exports(tmp_path, count=300, people=30, formats=["mixpanel"])
    states: list[tuple[int, int, int, int, int]] = []

    analysis = analyse(
        [str(truth["mixpanel"].root)],
        workers=2,
        on_progress=lambda p: states.append(
            (p.files, p.files_done, p.bytes, p.bytes_done, p.events)
        ),
    )

    files, files_done, size, size_done, events = states[-1]
    assert (files, files_done) == (len(truth["mixpanel"].files),) * 2
    assert size == size_done == analysis.bytes > 0
    assert events == analysis.partial.events == truth["mixpanel"].events
    for before, after in itertools.pairwise(states):
        assert all(b <= a for b, a in zip(before[1:], after[1:], strict=True))


def test_the_progress_bar_shows_bytes_files_and_events(tmp_path: Path) -> None:
    truth = write_exports(tmp_path, count=300, people=30, formats=["jsonl"])["jsonl"]
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160)

    analysis = _with_progress(
        console,
        lambda notify: analyse([str(truth.root)], workers=1, on_progress=notify),
    )

    shown = screen.getvalue()
    files = len(truth.files)
    assert "auditing" in shown
    assert f"files {files}/{files}" in shown
    assert f"events {analysis.partial.events:,}" in shown
    assert "100%" in shown or "kB" in shown
