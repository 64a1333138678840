"""The ``redline`` command."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import click
import orjson

from . import _logs, _yaml
from . import config as config_mod
from ._datadir import PRIVATE_UMASK
from .cli_audit import audit
from .cli_auditlog import auditlog
from .cli_detect import detect
from .cli_keys import admin, keys
from .cli_policy import policy
from .errors import ConfigError, RedlineError


def _fail(exc: RedlineError) -> None:
    # a file with several problems: one line each (the first ones, counted
    # beyond ConfigError.SHOWN)
    lines = exc.lines() if isinstance(exc, ConfigError) else [str(exc)]
    for line in lines:
        click.echo(f"redline: {line}", err=True)
    sys.exit(exc.exit_code)


def _load_config(
    path: str | None, *, secrets: bool = True, **overrides: Any
) -> config_mod.Config:
    if path is None and Path(config_mod.DEFAULT_CONFIG_NAME).is_file():
        path = config_mod.DEFAULT_CONFIG_NAME
    for key in ("data_dir", "policy"):
        if overrides.get(key) is not None:
            overrides[key] = str(Path(overrides[key]).resolve())
    try:
        return config_mod.load(path, overrides=overrides, resolve_secrets=secrets)
    except ConfigError as exc:
        _fail(exc)
        raise  # unreachable; keeps type checkers content


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./redline.yaml if present, else the built-in example).",
)
_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Where the outbox and store live.",
)


# the commands that may create files in the data directory
_WRITERS = frozenset({"serve", "sanitize", "events", "outbox", "keys", "admin"})


@click.group()
@click.version_option(package_name="redline")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Redline: a privacy firewall for product analytics."""
    if ctx.invoked_subcommand in _WRITERS:
        # SQLite creates its -wal and -shm files later, with the umask
        os.umask(PRIVATE_UMASK)


@main.command()
@_config_option
@click.option("--host", help="Address to listen on.")
@click.option("--port", type=int, help="Port to listen on.")
@_data_dir_option
@click.option("--policy", type=click.Path(dir_okay=False), help="Policy file.")
def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    data_dir: str | None,
    policy: str | None,
) -> None:
    """Run the gateway."""
    from .gateway.server import serve as run

    config = _load_config(
        config_path, host=host, port=port, data_dir=data_dir, policy=policy
    )
    _logs.configure(config.spec.log.level, config.spec.log.format)
    try:
        run(config)
    except RedlineError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        # Ctrl-C: the gateway has already shut down in order
        sys.exit(0)


@main.command()
@click.option(
    "--policy",
    type=click.Path(dir_okay=False),
    help="Policy file, or the built-in policy redact-all.",
)
@_config_option
@click.argument("input", type=click.File("rb"), default="-")
def sanitize(policy: str | None, config_path: str | None, input: IO[bytes]) -> None:
    """Sanitise events offline.

    Reads JSON lines of events in Mixpanel's export shape
    ({"event": ..., "properties": {...}}) from INPUT (default: stdin) and
    writes the sanitised events, one per line, to stdout, with the same
    engine and policy as the gateway. Dropped events are left out; a
    summary goes to stderr. A line that cannot be read is skipped and
    counted; the exit status is then 1, after every other line is written.

    With --policy redact-all (built in) any JSON object per line is read,
    whatever its shape: every string in it at any depth, keys included, is
    scanned by every detector and what is found is replaced by its typed
    placeholder; nothing else changes.
    """
    from .engine import Engine
    from .hashkey import hasher_for
    from .policy import built_in_name, load_policy
    from .protocols import mixpanel

    try:
        if policy is not None:
            compiled = load_policy(policy)
            base = Path(policy).resolve().parent
            data_dir = None
            if compiled.spec.hash is None and built_in_name(policy) is None:
                click.echo(
                    "redline: the policy names no hash key; hashed values use a "
                    "throw-away key and differ from run to run",
                    err=True,
                )
        else:
            config = _load_config(config_path)
            compiled = load_policy(config.policy_path)
            base, data_dir = config.base_dir, config.data_dir
        engine = Engine(compiled, hasher_for(compiled, data_dir, base))
    except RedlineError as exc:
        _fail(exc)
        return

    if policy is not None and built_in_name(policy) == "redact-all":
        _redact_all(compiled.detectors, input)
        return

    out = sys.stdout.buffer
    read = kept = bad = 0
    for number, line in enumerate(input, 1):
        if not line.strip():
            continue
        read += 1
        try:
            event = mixpanel.event_from_export(orjson.loads(line))
        except (orjson.JSONDecodeError, RedlineError) as exc:
            bad += 1
            click.echo(f"redline: line {number}: skipped ({_shape(exc)})", err=True)
            continue
        result = engine.apply(event)
        if result.event is None:
            continue
        kept += 1
        out.write(orjson.dumps(mixpanel.event_to_export(result.event)) + b"\n")
    out.flush()
    click.echo(
        f"redline: {read} events read, {kept} written, {read - kept - bad} dropped "
        f"by policy, {bad} unreadable",
        err=True,
    )
    if bad:
        sys.exit(1)


def _redact_all(detectors: tuple[str, ...], input: IO[bytes]) -> None:
    """``sanitize --policy redact-all``: every JSON object, any shape, with
    each detected span of each string (keys too) replaced; a summary of
    what was found, by type, on stderr."""
    from .detect.records import RecordRedactor

    redactor = RecordRedactor(detectors)
    out = sys.stdout.buffer
    found: dict[str, int] = {}
    read = bad = 0
    for number, line in enumerate(input, 1):
        if not line.strip():
            continue
        read += 1
        try:
            record = orjson.loads(line)
            why = None if isinstance(record, dict) else "not a JSON object"
        except orjson.JSONDecodeError:
            why = "not valid JSON"
        if why is not None:
            bad += 1
            click.echo(f"redline: line {number}: skipped ({why})", err=True)
            continue
        clean, counts = redactor.redact(record)
        for kind, count in counts.items():
            found[kind] = found.get(kind, 0) + count
        out.write(orjson.dumps(clean) + b"\n")
    out.flush()
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(found.items()))
    click.echo(
        f"redline: {read} records read, {read - bad} written, {bad} unreadable; "
        f"found: {kinds or 'nothing'}",
        err=True,
    )
    if bad:
        sys.exit(1)


def _shape(exc: Exception) -> str:
    if isinstance(exc, orjson.JSONDecodeError):
        return "not valid JSON"
    return str(exc)


@main.command()
@_config_option
@_data_dir_option
@click.option("--project", help="Only events of this project.")
@click.option("--event", "name", help="Only events with this name.")
@click.option("--distinct-id", help="Only events of this (sanitised) distinct id.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl"]),
    default="table",
    show_default=True,
)
def events(
    config_path: str | None,
    data_dir: str | None,
    project: str | None,
    name: str | None,
    distinct_id: str | None,
    limit: int,
    fmt: str,
) -> None:
    """List what reached the local store, newest first.

    --format jsonl prints Mixpanel's export shape, {"event", "properties"},
    with "ip" (the client address after the IP rule) and "person" (person
    operations carried by the event, after the profile rules) beside the
    properties when the store holds them.
    """
    from .destinations.local import LocalStore

    config = _load_config(config_path, secrets=False, data_dir=data_dir)
    if not any(
        u.spec.type == "local" for p in config.projects.values() for u in p.upstreams
    ):
        click.echo(
            "redline: no project of this config forwards to a local destination, "
            "so nothing is stored locally",
            err=True,
        )
    path = config.data_dir / "store.db"
    if not path.exists():
        click.echo(
            f"redline: no local store at {path} yet (has the gateway run?)", err=True
        )
        sys.exit(1)
    with LocalStore.in_dir(config.data_dir) as store:
        rows = store.query(
            project=project, name=name, distinct_id=distinct_id, limit=limit
        )
        total = store.count(project=project, name=name, distinct_id=distinct_id)
    if fmt == "jsonl":
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} of {total} stored events, newest first")
    columns = ["time (UTC)", "event", "distinct_id", "properties"]
    # person operations carried by PostHog and Amplitude events
    person = any("person" in row for row in rows)
    if person:
        columns.append("person")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        props = dict(row["properties"])
        props.pop("$insert_id", None)
        cells = [
            _when(props.pop("time", None)),
            str(row["event"]),
            str(props.pop("distinct_id", "")),
            _compact(props),
        ]
        if person:
            cells.append(_person_cell(row.get("person") or {}))
        table.add_row(*cells)
    Console().print(table)


def _when(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    seconds = value / 1000 if value > 1e11 else value  # milliseconds
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


# person operations shown per event; the others are counted
_PERSON_LINES = 8


def _person_cell(person: object) -> str:
    """Person operations one property a line (``$set.plan``, ``$unset``),
    the first :data:`_PERSON_LINES` and a count of the others. A value
    that is not a mapping (a store row not written by the gateway) is
    shown as its JSON."""
    if not isinstance(person, dict):
        return _json(person)
    flat = _flat_person(person)
    lines = _compact(dict(list(flat.items())[:_PERSON_LINES]))
    if len(flat) > _PERSON_LINES:
        lines += f"\n… {len(flat) - _PERSON_LINES} more"
    return lines


def _flat_person(person: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for op, value in person.items():
        if isinstance(value, dict):
            flat.update({f"{op}.{key}": item for key, item in value.items()})
        else:
            flat[op] = value
    return flat


def _compact(props: dict[str, Any], width: int = 60) -> str:
    return "\n".join(f"{key}={_json(value, width)}" for key, value in props.items())


def _json(value: object, width: int = 60) -> str:
    text = orjson.dumps(value).decode()
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


@main.group()
def outbox() -> None:
    """Inspect the outbox and its dead letters."""


@outbox.command("status")
@_config_option
@_data_dir_option
def outbox_status(config_path: str | None, data_dir: str | None) -> None:
    """Records waiting and dead letters per route."""
    from .outbox.sqlite import read_dead_letters, read_stats

    config = _load_config(config_path, secrets=False, data_dir=data_dir)
    path = config.data_dir / "outbox.db"
    if not path.exists():
        click.echo(f"redline: no outbox at {path} yet", err=True)
        sys.exit(1)
    stats = read_stats(path)
    if not stats:
        click.echo("outbox is empty; no dead letters")
        return
    for row in stats:
        age = (
            "-" if row.oldest_age_seconds is None else f"{row.oldest_age_seconds:.1f}s"
        )
        click.echo(
            f"{row.route:<32} waiting={row.depth:<8} oldest={age:<10} dead={row.dead}"
        )
        for letter in read_dead_letters(path, row.route, 5):
            click.echo(
                f"    dead #{letter.id} attempts={letter.attempts} "
                f"reason={letter.reason}"
            )


@outbox.command("replay")
@_config_option
@_data_dir_option
@click.option("--route", help="Only this route (project/destination).")
def outbox_replay(
    config_path: str | None, data_dir: str | None, route: str | None
) -> None:
    """Put dead letters back into the queue."""
    from .outbox.sqlite import replay_dead_letters

    config = _load_config(config_path, secrets=False, data_dir=data_dir)
    path = config.data_dir / "outbox.db"
    if not path.exists():
        click.echo(f"redline: no outbox at {path} yet", err=True)
        sys.exit(1)
    count = replay_dead_letters(path, route)
    click.echo(f"{count} dead letters queued again")


main.add_command(policy)
main.add_command(auditlog)
main.add_command(keys)
main.add_command(admin)
main.add_command(detect)
main.add_command(audit)


@main.command()
@_config_option
@click.option("--url", help="The gateway's address (default: from the config).")
@click.option(
    "--token-env",
    metavar="VARIABLE",
    help="Environment variable holding the dashboard token "
    "(default: server.ui_token of the config).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw status JSON.")
def status(
    config_path: str | None, url: str | None, token_env: str | None, as_json: bool
) -> None:
    """What a running gateway is doing: readiness, policy, events, findings,
    destinations."""
    import os

    from .status import fetch_status, render_status

    token: str | None = None
    if token_env is not None:
        token = os.environ.get(token_env) or None
        if token is None:
            click.echo(
                f"redline: environment variable {token_env} is not set", err=True
            )
            sys.exit(2)
    if url is None or (token is None and token_env is None):
        config = _load_config(config_path, secrets=False)
        server = config.server
        if url is None:
            host = server.host
            host = "127.0.0.1" if host in ("0.0.0.0", "") else host
            host = "[::1]" if host == "::" else host
            scheme = "https" if server.tls is not None else "http"
            url = f"{scheme}://{host}:{server.port}"
        if token is None and server.ui_token is not None:
            try:
                token = server.ui_token.resolve(
                    config.base_dir, "server.ui_token"
                ).reveal()
            except ConfigError as exc:
                _fail(_in_config(config, ("server", "ui_token"), exc))
    try:
        body = fetch_status(url, token)
    except RedlineError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    render_status(body)


def _in_config(
    config: config_mod.Config, where: tuple[str, ...], exc: ConfigError
) -> ConfigError:
    """``exc``, about a field of the config, at the config's name and the
    field's line when the file has it (not when it came from the
    environment)."""
    line = column = None
    try:
        text = (
            Path(config.source).read_text(encoding="utf-8")
            if not config.source.startswith("<")
            else config_mod.default_config_text()
        )
        _, marks = _yaml.load(text, config.source)
        found = marks.get(where)
        if found is not None:
            line, column = found
    except (OSError, ConfigError):
        pass
    return ConfigError(
        exc.reason, path=config.source, line=line, column=column, fix=exc.fix
    )


if __name__ == "__main__":
    main()
