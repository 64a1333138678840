"""``redline audit``: what an analytics export holds, and who is affected."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .audit.records import FORMATS
from .errors import RedlineError

if TYPE_CHECKING:
    from rich.console import Console

    from .audit.run import Analysis, Progress


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Read every file as this format (default: detected per file).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    help="Write the JSON report here.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Write the HTML report here.",
)
@click.option(
    "--suggest-policy",
    "policy_path",
    type=click.Path(dir_okay=False),
    help="Write a suggested policy (YAML) here.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes (default: one per core).",
)
@click.option(
    "--detector",
    "detectors",
    multiple=True,
    metavar="NAME",
    callback=lambda _ctx, _param, names: _check_detectors(names),
    help="Also run this detector (repeatable), such as national_id:fr.nir "
    "(a python-stdnum module); the gateway's default detectors always run.",
)
def audit(
    paths: tuple[str, ...],
    fmt: str | None,
    json_path: str | None,
    html_path: str | None,
    policy_path: str | None,
    workers: int | None,
    detectors: tuple[str, ...],
) -> None:
    """Inventory an analytics export and report the personal data in it.

    PATH may be files, directories or globs, read as one dataset: Mixpanel
    exports, PostHog CSV/JSON, Segment archives, Amplitude zips, or generic
    JSON, JSON lines and CSV. Prints a summary; --json, --html and
    --suggest-policy write the full report and a policy. Values never
    appear in any output, only counts and masked shapes.
    """
    import orjson
    from rich.console import Console

    from .audit.render_text import render_summary
    from .audit.report import build_report
    from .audit.run import analyse

    errors = Console(stderr=True)
    try:
        analysis = _with_progress(
            errors,
            lambda notify: analyse(
                list(paths),
                format=fmt,
                workers=workers,
                on_progress=notify,
                detectors=detectors,
            ),
        )
    except RedlineError as exc:
        click.echo(f"redline: {exc}", err=True)
        sys.exit(exc.exit_code)
    if analysis.files == 0:
        click.echo(
            f"redline: no files found in {' '.join(paths)} "
            "(fix: pass export files, a directory holding them, or a glob)",
            err=True,
        )
        sys.exit(2)
    report = build_report(analysis)
    malformed = report["malformed"]
    if report["events"]["total"] == 0 and malformed["total"]:
        # an unreadable input must not pass for a clean one
        first, count = malformed["examples"][0], malformed["total"]
        lines = "line" if count == 1 else "lines"
        click.echo(
            f"redline: no records could be read: {count:,} malformed {lines} "
            f"(first: {first['source']}: {first['reason']}) (fix: pass "
            "analytics exports, or name their shape with --format)",
            err=True,
        )
        sys.exit(2)

    render_summary(report, Console())
    written = []
    if json_path is not None:
        _write(json_path, orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(f"JSON report: {json_path}")
    if html_path is not None:
        from .audit.render_html import render_html

        _write(html_path, render_html(report).encode())
        written.append(f"HTML report: {html_path}")
    if policy_path is not None:
        from .audit.suggest import suggest_policy

        _write(policy_path, suggest_policy(analysis.partial).encode())
        written.append(
            f"suggested policy: {policy_path} "
            f"(check it: redline policy check {policy_path})"
        )
    for line in written:
        click.echo(line)


def _check_detectors(names: tuple[str, ...]) -> tuple[str, ...]:
    from .detect import detector_name_error

    for name in names:
        problem = detector_name_error(name)
        if problem is not None:
            raise click.BadParameter(problem, param_hint="--detector")
    return names


def _with_progress(
    console: Console, run: Callable[[Callable[[Progress], None]], Analysis]
) -> Analysis:
    """Run ``run`` under a progress bar (bytes, files, events) on stderr."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("[bold]auditing[/bold]"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("files {task.fields[files]}"),
        TextColumn("events {task.fields[events]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    task = bar.add_task("audit", total=None, files="0/0", events="0")

    def notify(state: Progress) -> None:
        bar.update(
            task,
            total=state.bytes or None,
            completed=state.bytes_done,
            files=f"{state.files_done}/{state.files}",
            events=f"{state.events:,}",
        )

    with bar:
        return run(notify)


def _write(path: str, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        click.echo(f"redline: cannot write {path}: {exc.strerror}", err=True)
        sys.exit(1)
