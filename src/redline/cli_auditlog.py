"""``redline auditlog``: verify the audit log and show its records.

``verify`` exits 0 when every link, sequence number and signature holds,
1 when anything is wrong (each problem printed with its file, line and
sequence number), and 2 when the configuration cannot be read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from . import config as config_mod
from .errors import ConfigError

_MB = 1024 * 1024


def _config(path: str | None, data_dir: str | None) -> config_mod.Config:
    if path is None and Path(config_mod.DEFAULT_CONFIG_NAME).is_file():
        path = config_mod.DEFAULT_CONFIG_NAME
    overrides = {"data_dir": str(Path(data_dir).resolve()) if data_dir else None}
    try:
        return config_mod.load(path, overrides=overrides, resolve_secrets=False)
    except ConfigError as exc:
        click.echo(f"redline: {exc}", err=True)
        sys.exit(exc.exit_code)


def _directory(config: config_mod.Config) -> Path:
    from .auditlog import audit_dir

    directory = audit_dir(config)
    if not directory.is_dir():
        click.echo(
            f"redline: no audit log at {directory} (it is written by "
            "`redline serve`; is --config or --data-dir right?)",
            err=True,
        )
        sys.exit(1)
    return directory


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./redline.yaml if present, else the built-in example).",
)
_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="The gateway's data directory, where the log is unless the config "
    "names an audit_log.directory.",
)


@click.group()
def auditlog() -> None:
    """Verify and read the tamper-evident audit log."""


@auditlog.command("verify")
@_config_option
@_data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_command(
    config_path: str | None, data_dir: str | None, as_json: bool
) -> None:
    """Check every record's hash and link, the sequence, the files and the
    signed checkpoints; say exactly what is wrong and where.

    Exits 0 when the log is intact, 1 when it is not.
    """
    from .auditlog import verification_keys, verify
    from .auditlog._files import log_files

    config = _config(config_path, data_dir)
    directory = _directory(config)
    try:
        keys = verification_keys(config)
    except ConfigError as exc:
        click.echo(f"redline: {exc}", err=True)
        sys.exit(exc.exit_code)
    total = sum(path.stat().st_size for _, path in log_files(directory))
    if total > 8 * _MB and sys.stderr.isatty() and not as_json:
        report = _verify_with_progress(directory, keys, total)
    else:
        report = verify(directory, keys)

    if as_json:
        out = {
            "ok": report.ok,
            "directory": str(directory),
            "files": report.files,
            "records": report.records,
            "checkpoints": report.checkpoints,
            "last_seq": report.last_seq,
            "signed_through": report.signed_through,
            "problems": [
                {"where": p.where, "seq": p.seq, "message": p.message}
                for p in report.problems
            ],
            "notes": report.notes,
        }
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        sys.exit(0 if report.ok else 1)

    for problem in report.problems:
        click.echo(f"PROBLEM {problem}")
    for note in report.notes:
        click.echo(f"note: {note}")
    counts = (
        f"{report.records} records in {report.files} file(s), "
        f"{report.checkpoints} checkpoint(s)"
    )
    if report.ok:
        click.echo(
            f"audit log intact: {counts}; signed through seq {report.signed_through}"
            f" of {report.last_seq}"
        )
        return
    click.echo(f"audit log NOT intact: {len(report.problems)} problem(s); {counts}")
    sys.exit(1)


def _verify_with_progress(directory: Path, keys: dict[str, bytes], total: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from .auditlog import verify

    columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("verifying", total=total)
        return verify(directory, keys, progress=lambda n: bar.advance(task, n))


@auditlog.command("show")
@_config_option
@_data_dir_option
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only records of this kind; 'policy' matches policy.load, "
    "policy.reload, ... (repeatable).",
)
@click.option("-n", "--limit", type=int, default=20, show_default=True)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the records as JSON lines."
)
def show(
    config_path: str | None,
    data_dir: str | None,
    kinds: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """The last records of the log, oldest first. Does not verify them:
    run `redline auditlog verify` for that."""
    config = _config(config_path, data_dir)
    directory = _directory(config)
    picked: list[dict[str, Any]] = []
    for record in _newest_first(directory):
        kind = str(record.get("kind"))
        if kinds and not any(kind == k or kind.startswith(k + ".") for k in kinds):
            continue
        picked.append(record)
        if len(picked) >= limit:
            break
    for record in reversed(picked):
        if as_json:
            click.echo(orjson.dumps(record).decode())
        else:
            click.echo(_line(record))


def _newest_first(directory: Path) -> Iterator[dict[str, Any]]:
    from .auditlog._files import log_files, read_lines

    for _, path in reversed(log_files(directory)):
        lines, _ = read_lines(path)
        for line in reversed(lines):
            if line.record is not None:
                yield line.record


def _line(record: dict[str, Any]) -> str:
    data = record.get("data")
    data = data if isinstance(data, dict) else {}
    head = f"{record.get('seq', '?'):>6}  {record.get('ts', '?')}  {record.get('kind')}"
    if record.get("kind") == "summary":
        return head + "  " + _summary(data)
    fields = " ".join(f"{k}={_short(v)}" for k, v in data.items())
    return f"{head}  {fields}".rstrip()


def _summary(data: dict[str, Any]) -> str:
    events = data.get("events") or {}
    parts = [f"{k}={v}" for k, v in events.items() if v]
    rows = data.get("findings") or []
    top = rows[:5]
    found = ", ".join(
        f"{r.get('event')}.{r.get('property') or '(event)'} "
        f"{r.get('action')}{':' + r['detector'] if r.get('detector') else ''}"
        f" x{r.get('count')}"
        for r in top
        if isinstance(r, dict)
    )
    more = f" (+{len(rows) - len(top)} more)" if len(rows) > len(top) else ""
    return " ".join(parts) + (f"  findings: {found}{more}" if rows else "")


def _short(value: Any) -> str:
    if isinstance(value, str):
        return value[:16] if len(value) == 64 else value
    return orjson.dumps(value).decode()
