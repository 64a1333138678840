"""The key that signs the audit log's checkpoints.

A dedicated key, never the engine's hash key: whoever may read digests
need not be able to forge the log. It comes from the config
(``audit_log.key: {env|file}`` with a ``key_id``) or, without one, from
``audit.key`` in the data directory, created on first start with mode 0600
and refused later if others may read it.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import stat
from pathlib import Path

from ..errors import ConfigError
from ..sensitive import Sensitive

LOCAL_KEY_ID = "local"
LOCAL_KEY_FILE = "audit.key"
MIN_KEY_BYTES = 32


@dataclasses.dataclass(frozen=True, slots=True)
class AuditKey:
    key_id: str
    secret: Sensitive[bytes]

    @classmethod
    def from_text(cls, key_id: str, text: Sensitive[str], where: str) -> AuditKey:
        raw = text.reveal().encode("utf-8")
        if len(raw) < MIN_KEY_BYTES:
            raise ConfigError(
                f"{where}: the audit key is shorter than {MIN_KEY_BYTES} bytes",
                fix="use a random key, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`",
            )
        return cls(key_id, Sensitive(raw))


def local_key(data_dir: Path, *, create: bool = True) -> AuditKey | None:
    """The data directory's own key; created when missing and ``create``."""
    path = data_dir / LOCAL_KEY_FILE
    if create:
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the audit key {path} may be read by other users "
            f"(mode {stat.S_IMODE(mode):o})",
            path=str(path),
            fix=f"chmod 600 {path}",
        )
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the audit key {path} ({type(exc).__name__})",
            path=str(path),
            fix="restore the file from a backup; without it old checkpoints "
            "cannot be verified",
        ) from None
    return AuditKey.from_text(LOCAL_KEY_ID, Sensitive(text), str(path))
