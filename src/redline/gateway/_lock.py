"""One gateway per data directory.

The outbox hands out leases from memory, so two gateways sharing one data
directory could both deliver the same records. The second one is refused at
start-up instead.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import ConfigError

_held: dict[Path, int] = {}


def lock_data_dir(data_dir: Path, source: str) -> None:
    """Take the data directory's lock for the life of this process."""
    path = (data_dir / "redline.lock").resolve()
    if path in _held:
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"another Redline gateway is using the data directory {data_dir}",
            path=source,
            fix="stop it, or give this one its own --data-dir",
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[path] = fd


def release_data_dir(data_dir: Path) -> None:
    fd = _held.pop((data_dir / "redline.lock").resolve(), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
