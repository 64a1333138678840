"""``redline policy``: check, test, explain and describe policies.

Exit codes fit CI: 0 when all is well, 1 when a test case fails (or sample
events cannot be read), 2 when a policy or case file is invalid or missing
(``test`` with no cases and no sample events to run included).
"""

from __future__ import annotations

import secrets
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click
import orjson

from .errors import ConfigError, RedlineError, RequestError

if TYPE_CHECKING:
    from .engine import Engine
    from .policy._tooling import Change

_JSON_OPTIONS = orjson.OPT_INDENT_2


def _fail(exc: RedlineError) -> NoReturn:
    # a file with several problems: one line each (the first ones, counted
    # beyond ConfigError.SHOWN)
    lines = exc.lines() if isinstance(exc, ConfigError) else [str(exc)]
    for line in lines:
        click.echo(f"redline: {line}", err=True)
    sys.exit(exc.exit_code)


def _error_dicts(exc: RedlineError) -> list[dict[str, Any]]:
    # the first ConfigError.SHOWN errors; "error_count" says how many in all
    if isinstance(exc, ConfigError):
        return [
            {
                "file": error.path,
                "line": error.line,
                "column": error.column,
                "message": error.reason,
                "fix": error.fix,
            }
            for error in exc.errors[: ConfigError.SHOWN]
        ]
    return [{"file": None, "line": None, "column": None, "message": str(exc)}]


@click.group()
def policy() -> None:
    """Check, test and explain policies."""


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check(file: str, as_json: bool) -> None:
    """Validate a policy file; errors name file:line:column and the fix.

    Errors are reported one per line in file order, the first 50 of them,
    then a count of the others. Exits 0 when the policy is valid, 2 when
    it is not.
    """
    from .policy import load_policy

    try:
        compiled = load_policy(file)
    except RedlineError as exc:
        if as_json:
            body = {
                "file": file,
                "ok": False,
                "error_count": len(exc.errors) if isinstance(exc, ConfigError) else 1,
                "errors": _error_dicts(exc),
            }
            click.echo(orjson.dumps(body, option=_JSON_OPTIONS).decode())
            sys.exit(exc.exit_code)
        _fail(exc)
    if as_json:
        body = {
            "file": file,
            "ok": True,
            "digest": compiled.digest,
            "error_count": 0,
            "errors": [],
        }
        click.echo(orjson.dumps(body, option=_JSON_OPTIONS).decode())
        return
    click.echo(f"{file}: ok (sha256 {compiled.digest[:12]})")


@policy.command("schema")
def schema() -> None:
    """Print the JSON Schema of the policy format (for editors)."""
    from .policy._tooling import policy_schema

    click.echo(orjson.dumps(policy_schema(), option=_JSON_OPTIONS).decode())


def _engine(file: str) -> Engine:
    """The engine for a policy file, hashing with the policy's key when it
    can be read and with a throw-away key (same key id) when not."""
    from .engine import Engine, Hasher
    from .hashkey import hasher_for
    from .policy import load_policy
    from .sensitive import Sensitive

    compiled = load_policy(file)
    base = Path(file).resolve().parent
    try:
        hasher = hasher_for(compiled, None, base)
    except ConfigError as exc:
        key_id = compiled.hash_key_id or "ephemeral"
        click.echo(
            f"redline: {exc.reason}; hashing with a throw-away key "
            f"(key id {key_id}) instead",
            err=True,
        )
        hasher = Hasher(key_id, Sensitive(secrets.token_hex(32)))
    return Engine(compiled, hasher)


@policy.command("test")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--cases",
    "cases_file",
    type=click.Path(dir_okay=False),
    help="Test cases (default: <policy>.tests.yaml next to the policy, if any).",
)
@click.option(
    "--events",
    "events_file",
    type=click.File("rb"),
    help="JSON lines of sample events (export shape): show what the policy "
    "changes in each.",
)
@click.option("--quiet", is_flag=True, help="Show failing cases only.")
def test(
    file: str, cases_file: str | None, events_file: IO[bytes] | None, quiet: bool
) -> None:
    """Run a policy's test cases and sample events.

    Each case gives an input event and the expected output or assertions
    about it (dropped, absent, present, equals, matches). Values are shown
    masked. Exits 1 when a case fails, 2 when a file is invalid or there
    is nothing to test (no case file beside the policy, no --cases, no
    --events).
    """
    from .policy._cases import cases_path_for, load_cases, run_case

    try:
        engine = _engine(file)
        sibling = cases_path_for(Path(file))
        if cases_file is None and sibling.is_file():
            cases_file = str(sibling)
        if cases_file is None and events_file is None:
            raise ConfigError(
                "no test cases and no sample events",
                path=file,
                fix=f"write cases in {sibling.name} next to the policy, or pass "
                "--cases FILE or --events FILE",
            )
        spec = load_cases(Path(cases_file)) if cases_file is not None else None
    except RedlineError as exc:
        _fail(exc)

    failed = 0
    if spec is not None:
        for case in spec.cases:
            outcome = run_case(engine, case)
            if outcome.passed:
                if not quiet:
                    click.echo(f"PASS {case.name}")
                    _show_changes(outcome.dropped, outcome.changes)
                    _show_report_mode(outcome.report_only)
                continue
            failed += 1
            click.echo(f"FAIL {case.name}")
            _show_changes(outcome.dropped, outcome.changes)
            _show_report_mode(outcome.report_only)
            for failure in outcome.failures:
                click.echo(f"    x {failure}")
        click.echo(f"{len(spec.cases) - failed} passed, {failed} failed")

    unreadable = 0
    if events_file is not None:
        unreadable = _run_events(engine, events_file, quiet)
    if failed or unreadable:
        sys.exit(1)


def _show_changes(dropped: bool, changes: Sequence[Change]) -> None:
    if dropped:
        click.echo("    event dropped")
        return
    for change in changes:
        click.echo(f"    {change.render()}")


def _show_report_mode(report_only: bool) -> None:
    if report_only:
        click.echo("    report mode: forwarded as sent")


def _run_events(engine: Engine, lines: IO[bytes], quiet: bool) -> int:
    from .policy._tooling import diff_properties, visible_output
    from .protocols import mixpanel

    read = kept = unreadable = 0
    kinds: Counter[str] = Counter()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        read += 1
        try:
            record = orjson.loads(line)
            event = mixpanel.event_from_export(record)
        except (orjson.JSONDecodeError, RedlineError):
            unreadable += 1
            click.echo(f"line {number}: not an event in export shape; skipped")
            continue
        before = dict(record.get("properties") or {})
        before.pop("token", None)
        result = engine.apply(event)
        if getattr(result, "report_only", False):
            kinds["report mode"] += 1
        if result.event is None:
            # counted in the summary's "dropped", not among the properties
            if not quiet:
                click.echo(f"line {number}: {_name(engine, event.name)}: event dropped")
            continue
        kept += 1
        after = visible_output(before, result.event)
        changes = diff_properties(before, after)
        for change in changes:
            kinds[change.kind] += 1
        if not quiet:
            summary = f"{len(changes)} changes" if changes else "unchanged"
            click.echo(f"line {number}: {_name(engine, event.name)}: {summary}")
            for change in changes:
                click.echo(f"    {change.render()}")
    counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    click.echo(
        f"{read} events: {kept} kept, {read - kept - unreadable} dropped, "
        f"{unreadable} unreadable" + (f"; properties: {counted}" if counted else "")
    )
    return unreadable


def _name(engine: Engine, name: str) -> str:
    # event names are client data too: shown with detected spans redacted
    return engine.scrub_text(name)[0]


@policy.command("explain")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("event")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def explain(file: str, event: str, as_json: bool) -> None:
    """For each property of EVENT, which rule applies and why.

    EVENT is a JSON object in Mixpanel's export shape
    ({"event": ..., "properties": {...}}) or the path of a file holding one.
    Values are shown masked. Exits 2 when the policy or the event is
    invalid; for a JSON-lines file of many events, use
    'redline policy test POLICY --events FILE'.
    """
    from .policy._tooling import explain as explain_event

    try:
        engine = _engine(file)
        record = _read_event(event)
        found = explain_event(engine, record)
    except RequestError as exc:
        # JSON, but not an event: the input is invalid, as a file would be
        click.echo(f"redline: {exc}", err=True)
        sys.exit(2)
    except RedlineError as exc:
        _fail(exc)
    if as_json:
        click.echo(orjson.dumps(found.as_dict(), option=_JSON_OPTIONS).decode())
        return
    verdict = "dropped" if found.dropped else "kept"
    click.echo(f"event {found.event}: {verdict} ({found.why})")
    if found.mode == "report":
        click.echo(
            "  mode: report (forwarded as sent; the findings below are what "
            "enforcement would do)"
        )
    if found.sample_rate is not None:
        click.echo(f"  sample: rate {found.sample_rate:g}, by distinct id")
    if found.drop_conditions:
        click.echo(f"  drop_if: {found.drop_conditions} condition(s)")
    if found.aggregate is not None:
        click.echo(
            f"  aggregate: {found.aggregate} (folded into a summary event, "
            "not forwarded as shown)"
        )
    for text in found.event_findings:
        click.echo(f"  event: {text}")
    for prop in found.properties:
        click.echo(f"  {prop.name}")
        click.echo(f"      rule:    {prop.rule}  (from {prop.source}: {prop.why})")
        after = f" -> {prop.after}" if prop.outcome == "changed" else ""
        click.echo(f"      result:  {prop.outcome}: {prop.before}{after}")
        if prop.findings:
            click.echo(f"      engine:  {'; '.join(prop.findings)}")


def _read_event(text: str) -> dict[str, Any]:
    """The one event ``text`` holds (inline JSON or a file's path). Every
    way it can be wrong is a :class:`ConfigError`: exit 2, as for a file
    that is invalid."""
    raw: bytes
    source = "<event>"
    if text.lstrip().startswith(("{", "[")):
        raw = text.encode()
    else:
        source = text
        try:
            raw = Path(text).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the event file ({exc.strerror})",
                path=text,
                fix="give a JSON object or the path of a file holding one",
            ) from None
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _not_one_event(raw, exc, source) from None
    if isinstance(record, list):
        raise ConfigError(
            f"a JSON list of {len(record)} "
            f"{'value' if len(record) == 1 else 'values'} where one event is "
            "expected",
            path=source,
            line=1,
            fix=_ONE_EVENT_FIX,
        )
    if not isinstance(record, dict):
        raise ConfigError(
            "the event must be a JSON object",
            path=source,
            line=1,
            fix=_EXPORT_SHAPE,
        )
    return record


_EXPORT_SHAPE = 'give one object in export shape, {"event": ..., "properties": {...}}'
_ONE_EVENT_FIX = (
    "give one event, or run 'redline policy test POLICY --events FILE' to see "
    "what the policy changes in each event of a JSON-lines file"
)


def _not_one_event(raw: bytes, exc: orjson.JSONDecodeError, source: str) -> ConfigError:
    # JSON lines: the first value parses and more follow it (the error's
    # position counts characters, not bytes)
    try:
        orjson.loads(raw.decode("utf-8", "replace")[: exc.pos])
    except orjson.JSONDecodeError:
        return ConfigError(
            f"not valid JSON ({exc.msg})",
            path=source,
            line=exc.lineno,
            column=exc.colno,
            fix=_EXPORT_SHAPE,
        )
    values = 0
    for line in raw.splitlines():
        if line.strip():
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            values += 1
    counted = (
        f"{values} JSON values, one per line,"
        if values > 1
        else "more than one JSON value"
    )
    return ConfigError(
        f"{counted} where one event is expected; the second starts here",
        path=source,
        line=exc.lineno,
        column=exc.colno,
        fix=_ONE_EVENT_FIX,
    )
