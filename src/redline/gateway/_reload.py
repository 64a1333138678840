"""Reloading the policy while the gateway serves.

A reload is asked for by SIGHUP or noticed by polling the policy file's
metadata (modification time, size, inode) about once a second. The new
policy is read, validated, compiled and given its engine in a worker
thread, off the request path; then one attribute assignment
(``gateway.engine = engine``) puts it in force. A request reads
``gateway.engine`` once, so it runs wholly under the old policy or wholly
under the new one, and none waits for a reload.

A policy that does not load is refused: the old one stays in force and an
error line names the file, line and column. The digest of the policy in
force is logged on every change, and ``/metrics`` (``redline_policy_info``)
and the dashboard read it from the engine, so they follow at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine import Engine
from ..errors import ConfigError
from ..policy import CompiledPolicy, parse_policy
from ..policy._tooling import locate_key

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger("redline.policy")

POLL_INTERVAL = 1.0

Fingerprint = tuple[int, int, int]

# "hash.key: environment variable ... is not set": the field an error
# raised outside the schema check is about
_FIELD = re.compile(r"([A-Za-z_]\w*(?:\.\w+|\[\d+\])*): ")


class ReloadRefused(Exception):
    """A reload that was refused; the policy in force was kept.

    ``lines`` are the errors as the CLI prints them (file:line:column:
    what is wrong, and the fix), or, for a failure that is not about the
    file, its kind only. Neither carries values from the file."""

    def __init__(self, lines: list[str], kept: str) -> None:
        self.lines = lines
        self.kept = kept
        super().__init__("; ".join(lines))


class PolicyReloader:
    """Watches one policy file and swaps the gateway's engine when it
    changes. ``make_engine`` builds the engine for a compiled policy (it
    runs in a worker thread and may raise :class:`ConfigError`)."""

    def __init__(
        self,
        gateway: Gateway,
        path: Path,
        make_engine: Callable[[CompiledPolicy], Engine],
        *,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self._gateway = gateway
        self._path = path
        self._make_engine = make_engine
        self._interval = interval
        self._seen = self._fingerprint()
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[bool]] = set()
        self._signal_installed = False
        self.reloads = 0
        self.refusals = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._seen = self._fingerprint()
        self._poller = loop.create_task(self._poll(), name="redline-policy-watch")
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._signal_installed = True
        except (AttributeError, NotImplementedError, RuntimeError, ValueError):
            # not the main thread (tests), or no SIGHUP on this platform
            log.debug("SIGHUP reload unavailable; watching the policy file only")
        log.info(
            "watching the policy for changes",
            extra={"policy": str(self._path), "sighup": self._signal_installed},
        )

    async def stop(self) -> None:
        if self._signal_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False
        tasks = [t for t in (self._poller, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poller = None

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            seen = self._fingerprint()
            if seen is not None and seen != self._seen:
                await self.reload("file changed")

    async def reload(self, trigger: str) -> bool:
        """Load the policy file again and put it in force if it is valid
        and differs from the one in force. True when it was swapped in;
        False when it was unchanged or refused (and logged)."""
        try:
            return await self.attempt(trigger)
        except ReloadRefused:
            return False

    async def attempt(self, trigger: str) -> bool:
        """As :meth:`reload`, but a refused policy raises
        :class:`ReloadRefused` with its errors."""
        async with self._lock:
            # taken before reading, so a write during the load is noticed
            self._seen = self._fingerprint()
            current = self._gateway.engine.policy.digest
            try:
                engine = await asyncio.to_thread(self._prepare)
            except ConfigError as exc:
                self.refusals += 1
                self._audit_refusal(trigger, current, exc)
                log.error(
                    "policy reload refused, keeping sha256 %s: %s",
                    current[:12],
                    exc,
                    extra={"trigger": trigger, "digest": current},
                )
                raise ReloadRefused(exc.lines(), current) from None
            except Exception as exc:  # never let a reload take the gateway down
                self.refusals += 1
                self._audit_refusal(trigger, current, exc)
                log.error(
                    "policy reload failed (%s), keeping sha256 %s",
                    type(exc).__name__,
                    current[:12],
                    extra={"trigger": trigger, "digest": current},
                )
                raise ReloadRefused(
                    [f"the policy could not be loaded ({type(exc).__name__})"],
                    current,
                ) from None
            digest = engine.policy.digest
            if digest == current:
                log.info(
                    "policy unchanged (sha256 %s)",
                    digest[:12],
                    extra={"trigger": trigger, "digest": digest},
                )
                return False
            # the swap: one assignment, atomic for every request after it
            self._gateway.engine = engine
            self.reloads += 1
            audit = getattr(self._gateway, "audit", None)
            if audit is not None:
                await asyncio.to_thread(
                    audit.append,
                    "policy.reload",
                    digest=digest,
                    previous=current,
                    trigger=trigger,
                )
            log.info(
                "policy reloaded: sha256 %s (was %s)",
                digest[:12],
                current[:12],
                extra={"trigger": trigger, "digest": digest, "previous": current},
            )
            return True

    def _audit_refusal(self, trigger: str, current: str, exc: Exception) -> None:
        # where the error is, never its text (a message may quote the file)
        audit = getattr(self._gateway, "audit", None)
        if audit is None:
            return
        line = exc.line if isinstance(exc, ConfigError) else None
        audit.append(
            "policy.reload_refused",
            kept=current,
            trigger=trigger,
            error=type(exc).__name__,
            line=line,
        )

    def _prepare(self) -> Engine:
        source = str(self._path)
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read policy file ({exc.strerror})",
                path=source,
                fix="check the path given as the policy",
            ) from None
        policy = parse_policy(text, source)
        try:
            return self._make_engine(policy)
        except ConfigError as exc:
            raise _located(exc, text, source) from None

    def _fingerprint(self) -> Fingerprint | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)


def _located(exc: ConfigError, text: str, source: str) -> ConfigError:
    """An error about the policy (a hash key that cannot be read) that
    names the policy file and the line of the field it concerns."""
    if exc.path == source and exc.line is not None:
        return exc
    match = _FIELD.match(exc.reason)
    where = None
    if match:
        # "hash.previous[0].key" and "hash.previous.0.key" alike
        parts = match.group(1).replace("[", ".").replace("]", "").split(".")
        path = tuple(int(part) if part.isdigit() else part for part in parts)
        where = locate_key(text, source, path)
    return ConfigError(
        exc.reason,
        path=source,
        line=where[0] if where else None,
        column=where[1] if where else None,
        fix=exc.fix,
    )
