"""The data directory: created private, its files readable by the owner only.

The outbox, the local store and the aggregation windows hold pseudonymised
events (raw ones in report mode), so nobody but Redline's user may read
them. The CLI sets a umask of 077 for the commands that write here, and
each SQLite database is created (or tightened) to 0600 before SQLite opens
it: SQLite gives the database's ``-wal``, ``-shm`` and ``-journal`` files
the database file's own mode, whatever the umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ConfigError

PRIVATE_UMASK = 0o077
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_FIX = "point --data-dir or server.data_dir at a directory Redline may create and write"


def prepare(data_dir: Path) -> None:
    """Create ``data_dir`` (mode 0700) if missing and check Redline may
    write it; a path that cannot serve is a :class:`ConfigError` naming it."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:
        raise _unusable(data_dir, "a file, not a directory") from None
    except OSError as exc:
        raise _unusable(data_dir, _reason(exc)) from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise _unusable(data_dir, "Redline's user may not write it")


def private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing, and take group and others'
    access away from it (and from SQLite's side files) if it is ours."""
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            flags = os.O_RDONLY | (os.O_CREAT if each == path else 0)
            fd = os.open(each, flags, 0o600)
        except FileNotFoundError:
            if each == path:
                raise
            continue
        try:
            info = os.fstat(fd)
            if info.st_mode & _OTHERS and info.st_uid == os.geteuid():
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~_OTHERS)
        finally:
            os.close(fd)


def _reason(exc: OSError) -> str:
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is a file, not a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot be created ({exc.strerror or type(exc).__name__})"


def _unusable(data_dir: Path, reason: str) -> ConfigError:
    return ConfigError(
        f"cannot use as the data directory: {reason}", path=str(data_dir), fix=_FIX
    )
