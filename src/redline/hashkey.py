"""Where the engine's hash key comes from.

A policy may name its key (``hash: {key_id, key: {env|file}}``); every
instance that shares the key maps the same input to the same digest. Without
one, the gateway creates a random key in its data directory on first start,
so digests stay stable across restarts of that one instance.

Keys being rotated out (``hash.previous``) are resolved here too; whether
one is still in its window is decided, per digest, from ``today`` (the UTC
date by default; tests pass their own).
"""

from __future__ import annotations

import datetime
import os
import secrets
from pathlib import Path

from . import _yaml
from ._datadir import prepare as prepare_data_dir
from .config import SecretSpec
from .engine import Hasher
from .engine._hash import Today
from .errors import ConfigError
from .policy import CompiledPolicy
from .sensitive import Sensitive

LOCAL_KEY_ID = "local"


def utc_today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def hasher_for(
    policy: CompiledPolicy,
    data_dir: Path | None,
    base: Path,
    today: Today = utc_today,
) -> Hasher:
    """The hasher a policy asks for. ``data_dir`` None means a throw-away
    key (``redline sanitize`` without a configured key)."""
    spec = policy.spec.hash
    if spec is not None:
        previous = []
        for i, old in enumerate(spec.previous):
            where: tuple[str | int, ...] = ("hash", "previous", i, "key")
            secret = _resolve(policy, old.key, base, where)
            previous.append((_hasher(policy, old.key_id, secret, where), old.until))
        key = _resolve(policy, spec.key, base, ("hash", "key"))
        try:
            return Hasher(spec.key_id, key, previous=previous, today=today)
        except ValueError as exc:
            raise _at(policy, ("hash", "key"), str(exc), _KEY_FIX) from None
    if data_dir is None:
        return Hasher("ephemeral", Sensitive(secrets.token_hex(32)))
    return Hasher(LOCAL_KEY_ID, _local_key(data_dir))


_KEY_FIX = "use a random key of 32 bytes or more"


def _resolve(
    policy: CompiledPolicy, secret: SecretSpec, base: Path, where: tuple[str | int, ...]
) -> Sensitive[str]:
    label = ".".join(str(part) for part in where)
    try:
        return secret.resolve(base, label)
    except ConfigError as exc:
        raise _at(policy, where, exc.reason, exc.fix) from None


def _hasher(
    policy: CompiledPolicy,
    key_id: str,
    key: Sensitive[str],
    where: tuple[str | int, ...],
) -> Hasher:
    try:
        return Hasher(key_id, key)
    except ValueError as exc:
        raise _at(policy, where, str(exc), _KEY_FIX) from None


def _at(
    policy: CompiledPolicy, where: tuple[str | int, ...], message: str, fix: str | None
) -> ConfigError:
    """An error about a key, at its line in the policy file when it can be read."""
    line = column = None
    try:
        _, marks = _yaml.load(
            Path(policy.source).read_text(encoding="utf-8"), policy.source
        )
        found = _yaml.locate(marks, where)
        if found is not None:
            line, column = found
    except (OSError, ConfigError):
        pass
    return ConfigError(message, path=policy.source, line=line, column=column, fix=fix)


# left beside hash.key: a data directory that has it once made a key, so a
# missing hash.key is a lost key, not a fresh start
_MADE = "hash.key.made"
_MADE_TEXT = (
    "Redline made hash.key in this directory. If hash.key goes missing, the\n"
    "gateway refuses to start rather than make a new key (which would change\n"
    "every digest). Delete this file only to start a new key on purpose.\n"
)


def _local_key(data_dir: Path) -> Sensitive[str]:
    path = data_dir / "hash.key"
    made = data_dir / _MADE
    prepare_data_dir(data_dir)
    if made.exists() and not path.exists():
        raise ConfigError(
            f"the hash key is missing, but {made} says one was made here; a new "
            "key would change every digest under the same key id",
            path=str(path),
            fix=f"restore {path} from a backup; to start a new key on purpose "
            f"(earlier digests will no longer match), delete {made}",
        )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
    if not made.exists():
        # also for a key made before this marker existed
        with os.fdopen(os.open(made, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
            out.write(_MADE_TEXT)
    return Sensitive(path.read_text(encoding="ascii").strip())
