"""Keeping a running gateway's keys current and their changes audited.

About once a second the watcher asks the key store for its generation; when
it went up (``redline keys ...`` in another process, or the admin API), the
key ring is rebuilt and every change not yet audited is written to the
audit log and marked as audited. Changes made while no gateway ran are
audited at the next start, with the time they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._ring import KeyRing
from ._store import KeyStore

if TYPE_CHECKING:
    from ..auditlog import AuditLog

log = logging.getLogger("redline.keys")

POLL_INTERVAL = 1.0


class KeyWatcher:
    def __init__(
        self,
        ring: KeyRing,
        store: KeyStore,
        audit: Callable[[], AuditLog | None],
        *,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self._ring = ring
        self._store = store
        self._audit = audit
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.sync)
        self._task = asyncio.create_task(self._run(), name="redline-key-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await asyncio.to_thread(self.sync)
            except Exception as exc:  # keep the keys in force; try again
                log.warning("key store not read (%s)", type(exc).__name__)

    def sync(self) -> None:
        """Reload the keys if the store changed, and audit its changes."""
        if self._ring.refresh():
            log.info("ingest keys reloaded", extra={"keys": len(self._ring.infos())})
        audit = self._audit()
        if audit is None:
            return
        changes = self._store.unaudited()
        for change in changes:
            # key.*: the key's id and project; token.*: the token's id and
            # role; actor: "cli" or the admin token that made the change
            if change.action.startswith("key."):
                subject = {"key_id": change.subject, "project": change.detail}
            else:
                subject = {"token_id": change.subject, "role": change.detail}
            audit.append(change.action, **subject, actor=change.actor, at=change.at)
        if changes:
            self._store.mark_audited(changes[-1].seq)
