"""What the gateway writes to its audit log, and when.

``gateway.start`` (with the policy's digest) and a ``policy.load`` when it
starts; ``policy.reload`` and ``policy.reload_refused`` as the reloader
works; a ``summary`` every interval with what the engine dropped, hashed
and redacted, counted by event, property, action and detector (never
values; names as the engine's findings carry them, with detected spans
redacted); at shutdown a last summary, ``gateway.stop`` and a checkpoint.
Admin access and key and token changes are appended by the code that
does them.

Writes that wait for the disk run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections import Counter
from typing import TYPE_CHECKING

from .. import __version__
from ._record import utc_now
from ._summary import summary_rows
from ._writer import AuditLog

if TYPE_CHECKING:
    from ..engine import Finding
    from ..gateway.app import Gateway

log = logging.getLogger("redline.audit")

_TOTALS = ("received", "accepted", "dropped", "rejected", "aggregated")


class AuditTrail:
    """Feeds one gateway's audit log over its lifetime."""

    def __init__(self, audit: AuditLog, gateway: Gateway, interval: float) -> None:
        self.audit = audit
        self._gateway = gateway
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._since = utc_now()
        self._totals = _totals(gateway)
        self._started = time.monotonic()
        # the findings of every request since the last summary (the
        # gateway adds to it; read and swapped on the event loop)
        self.findings: Counter[Finding] = Counter()
        gateway.audit = audit
        gateway.audit_findings = self.findings

    async def start(self) -> None:
        policy = self._gateway.engine.policy
        config = self._gateway.config
        await asyncio.to_thread(
            self.audit.append,
            "gateway.start",
            version=__version__,
            pid=os.getpid(),
            config=config.source,
            projects=sorted(config.projects),
            key_id=self.audit.key_id,
        )
        await asyncio.to_thread(
            self.audit.append,
            "policy.load",
            digest=policy.digest,
            source=str(policy.source),
        )
        self._task = asyncio.get_running_loop().create_task(
            self._every_interval(), name="redline-audit-summary"
        )

    async def stop(self) -> None:
        """The last summary, the stop record, and the log closed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._summarise()
            totals = _totals(self._gateway)
            await asyncio.to_thread(
                self.audit.append,
                "gateway.stop",
                uptime_seconds=round(time.monotonic() - self._started, 3),
                **totals,
            )
        finally:
            await asyncio.to_thread(self.audit.close)

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._summarise()
                await asyncio.to_thread(self.audit.checkpoint)
            except Exception as exc:  # the log's trouble must not stop serving
                log.error("audit summary could not be written (%s)", type(exc).__name__)

    async def _summarise(self) -> None:
        """Write what happened since the last summary, if anything did."""
        findings = self.findings.copy()
        self.findings.clear()
        totals = _totals(self._gateway)
        delta = {k: totals[k] - self._totals.get(k, 0) for k in _TOTALS}
        since, until = self._since, utc_now()
        self._since, self._totals = until, totals
        if not findings and not any(delta.values()):
            return
        policy = self._gateway.engine.policy
        await asyncio.to_thread(
            self.audit.append,
            "summary",
            since=since,
            until=until,
            policy=policy.digest,
            events=delta,
            findings=summary_rows(findings, policy),
        )


def _totals(gateway: Gateway) -> dict[str, int]:
    counters = dataclasses.asdict(gateway.counters)
    return {name: int(counters[name]) for name in _TOTALS}
