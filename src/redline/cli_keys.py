"""``redline keys`` and ``redline admin token``: ingest keys and admin
tokens in the data directory's ``keys.db``.

Keys and tokens are printed once, when they are made; the store keeps only
their digests. A running gateway picks changes up within about a second
and writes them to its audit log.
"""

from __future__ import annotations

import datetime
import re
import sys
import time
from contextlib import closing
from typing import TYPE_CHECKING, NoReturn, cast

import click
import orjson

from .errors import RedlineError

if TYPE_CHECKING:
    from .access import KeyStore, Role
    from .config import Config

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_LAST = datetime.datetime(9999, 12, 31, 23, 59, tzinfo=datetime.UTC).timestamp()


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"redline: {message}", err=True)
    sys.exit(code)


def _seconds(text: str, option: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        _fail(f"{option} {text!r} is not a duration; write e.g. 90m, 12h, 7d or 2w")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _expiry(text: str | None) -> float | None:
    """A duration from now (``30d``) or an ISO date or time (UTC unless
    it says otherwise), in the future and before the year 10000."""
    if text is None:
        return None
    if _DURATION.match(text.strip()):
        at = time.time() + _seconds(text, "--expires")
    else:
        try:
            when = datetime.datetime.fromisoformat(text.strip())
        except ValueError:
            _fail(
                f"--expires {text!r} is neither a duration (30d) nor a date "
                "(2027-01-31 or 2027-01-31T12:00:00+00:00)"
            )
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        at = when.timestamp()
    if at > _LAST:
        _fail(f"--expires {text!r} is after the year 9999; write e.g. 90d or 2w")
    if at <= time.time():
        _fail(f"--expires {text!r} is not in the future; write e.g. 90d or 2w")
    return at


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    if value > _LAST:  # the admin API takes any date
        return "after 9999"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(value))


def _config(config_path: str | None, data_dir: str | None) -> Config:
    # imported late: cli imports this module
    from .cli import _load_config

    return _load_config(config_path, secrets=False, data_dir=data_dir)


def _store(config: Config) -> KeyStore:
    from ._datadir import prepare
    from .access import KeyStore

    try:
        prepare(config.data_dir)
    except RedlineError as exc:
        _fail(str(exc))
    return KeyStore.in_dir(config.data_dir)


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: ./redline.yaml if present, else the built-in example).",
)
_data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False), help="The gateway's data directory."
)


@click.group()
def keys() -> None:
    """Create, list, rotate and revoke ingest keys."""


@keys.command("create")
@_config_option
@_data_dir_option
@click.option("--project", required=True, help="The project the key sends to.")
@click.option("--label", required=True, help="What the key is for (shown in lists).")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="A browser origin the key may send from (repeatable; default: any).",
)
@click.option("--expires", help="A duration (30d) or a date (2027-01-31).")
def keys_create(
    config_path: str | None,
    data_dir: str | None,
    project: str,
    label: str,
    origins: tuple[str, ...],
    expires: str | None,
) -> None:
    """Make a new ingest key and print it (once)."""
    config = _config(config_path, data_dir)
    if project not in config.projects:
        names = ", ".join(sorted(config.projects))
        _fail(f"no project {project!r} in {config.source}; it has: {names}")
    from .access import normal_origin

    for origin in origins:
        if "://" not in origin:
            _fail(f"--origin {origin!r} needs a scheme: https://app.example.com")
    expires_at = _expiry(expires)
    with closing(_store(config)) as store:
        key, secret = store.create_key(
            project,
            label=label,
            origins=[normal_origin(o) for o in origins],
            expires_at=expires_at,
        )
    click.echo(f"created ingest key {key.id} for project {project}")
    click.echo(f"  key: {secret.reveal()}")
    click.echo("  (shown once; Redline keeps only its digest)")


@keys.command("list")
@_config_option
@_data_dir_option
@click.option("--project", help="Only keys of this project.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def keys_list(
    config_path: str | None, data_dir: str | None, project: str | None, as_json: bool
) -> None:
    """Keys from the config file and the key store, never the keys
    themselves."""
    from .access import KeyRing

    config = _config(config_path, data_dir)
    with closing(_store(config)) as store:
        ring = KeyRing(config, store)
    now = time.time()
    rows = [
        info.as_dict(now)
        for info in ring.infos()
        if project is None or info.project == project
    ]
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} ingest keys")
    table.add_column("id", no_wrap=True)
    for column in ("project", "label", "source", "state", "origins", "expires"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["project"]),
            str(row["label"]),
            str(row["source"]),
            str(row["state"]),
            "\n".join(row["origins"]) or "any",  # type: ignore[arg-type]
            _when(row["expires_at"]),  # type: ignore[arg-type]
        )
    Console().print(table)


@keys.command("revoke")
@_config_option
@_data_dir_option
@click.argument("key_id")
def keys_revoke(config_path: str | None, data_dir: str | None, key_id: str) -> None:
    """Refuse a key from now on (a running gateway within a second)."""
    if key_id.startswith("cfg_"):
        _fail("that key is written in the config file; remove it there")
    config = _config(config_path, data_dir)
    with closing(_store(config)) as store:
        try:
            store.revoke_key(key_id)
        except RedlineError as exc:
            _fail(str(exc), 1)
    click.echo(f"revoked ingest key {key_id}")


@keys.command("rotate")
@_config_option
@_data_dir_option
@click.argument("key_id")
@click.option(
    "--grace",
    help="Keep the old key valid this long (90m, 12h, 7d); default: until "
    "`redline keys revoke`.",
)
def keys_rotate(
    config_path: str | None, data_dir: str | None, key_id: str, grace: str | None
) -> None:
    """Make a successor of a key (same project, label and origins) and
    print it once; both keys work until the old one is revoked or its
    grace ends."""
    if key_id.startswith("cfg_"):
        _fail(
            "that key is written in the config file; create a key with "
            "`redline keys create`, move clients to it, then remove the old one"
        )
    grace_seconds = _seconds(grace, "--grace") if grace is not None else None
    config = _config(config_path, data_dir)
    with closing(_store(config)) as store:
        try:
            key, secret = store.rotate_key(key_id, grace_seconds=grace_seconds)
        except RedlineError as exc:
            _fail(str(exc), 1)
    click.echo(f"created ingest key {key.id}, successor of {key_id}")
    click.echo(f"  key: {secret.reveal()}")
    click.echo("  (shown once; Redline keeps only its digest)")
    if grace_seconds is None:
        click.echo(
            "both keys work; once clients use the new one: "
            f"redline keys revoke {key_id}"
        )
    else:
        click.echo(f"{key_id} stops working at {_when(time.time() + grace_seconds)}")


@click.group()
def admin() -> None:
    """Tokens for the admin API (/admin)."""


@admin.group("token")
def token() -> None:
    """Create, list and revoke admin API tokens."""


@token.command("create")
@_config_option
@_data_dir_option
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "operator", "admin"]),
    help="viewer reads; operator also replays dead letters and reloads the "
    "policy; admin also manages keys and tokens.",
)
@click.option("--label", default="", help="Whose token it is (shown in lists).")
@click.option(
    "--expires",
    help="A duration (90d) or a date (2027-01-31); default: until revoked.",
)
def token_create(
    config_path: str | None,
    data_dir: str | None,
    role: str,
    label: str,
    expires: str | None,
) -> None:
    """Make an admin API token and print it (once)."""
    expires_at = _expiry(expires)
    config = _config(config_path, data_dir)
    with closing(_store(config)) as store:
        made, secret = store.create_token(
            cast("Role", role), label=label, expires_at=expires_at
        )
    click.echo(f"created {role} token {made.id}")
    click.echo(f"  token: {secret.reveal()}")
    click.echo("  (shown once; send it as Authorization: Bearer <token>)")
    if expires_at is not None:
        click.echo(f"  expires {_when(expires_at)}")


@token.command("list")
@_config_option
@_data_dir_option
def token_list(config_path: str | None, data_dir: str | None) -> None:
    """Admin tokens: id, role, state (active, expired or revoked), when
    made, when they expire, label; never the tokens."""
    config = _config(config_path, data_dir)
    with closing(_store(config)) as store:
        found = store.tokens()
    if not found:
        click.echo("no admin tokens; make one with `redline admin token create`")
        return
    now = time.time()
    click.echo(
        f"{'id':<14} {'role':<9} {'state':<8} {'created':<20}  {'expires':<20}  label"
    )
    for made in found:
        line = (
            f"{made.id:<14} {made.role:<9} {made.state(now):<8}"
            f" {_when(made.created_at):<20}  {_when(made.expires_at):<20}"
            f"  {made.label}"
        )
        click.echo(line.rstrip())


@token.command("revoke")
@_config_option
@_data_dir_option
@click.argument("token_id")
def token_revoke(config_path: str | None, data_dir: str | None, token_id: str) -> None:
    """Refuse a token from now on."""
    config = _config(config_path, data_dir)
    with closing(_store(config)) as store:
        try:
            store.revoke_token(token_id)
        except RedlineError as exc:
            _fail(str(exc), 1)
    click.echo(f"revoked admin token {token_id}")
