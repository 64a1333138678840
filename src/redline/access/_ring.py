"""The ingest keys a gateway accepts, from its config and from keys.db.

The ingest path asks :meth:`KeyRing.check` about each record's key: one
digest and one dictionary lookup, then the key's expiry and allowed
origins. Keys from the store are reloaded whenever its generation goes up
(:meth:`KeyRing.refresh`, polled about once a second by the gateway), so
``redline keys create|revoke|rotate`` take effect on a running gateway
without a restart; the swap is one assignment, as with the policy.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from ._store import KeyStore, State, StoredKey, digest, state

if TYPE_CHECKING:
    from ..config import Config, Project

__all__ = ["KeyInfo", "KeyRing", "Verdict", "normal_origin"]

Refusal = Literal["unknown", "revoked", "expired", "origin"]


def normal_origin(origin: str) -> str:
    # scheme and host are case-insensitive (RFC 6454)
    return origin.strip().rstrip("/").lower()


@dataclasses.dataclass(frozen=True, slots=True)
class KeyInfo:
    """What is known about one ingest key; never the key itself."""

    id: str
    project: str
    label: str
    source: Literal["config", "store"]
    origins: frozenset[str]  # normalised; empty: any origin
    created_at: float | None
    expires_at: float | None
    revoked_at: float | None
    replaces: str | None = None

    def allows_origin(self, origin: str | None) -> bool:
        # an origin list restrains browsers; server-side clients send none
        if not self.origins or origin is None:
            return True
        return normal_origin(origin) in self.origins

    def state(self, now: float) -> State:
        return state(self.revoked_at, self.expires_at, now)

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "id": self.id,
            "project": self.project,
            "label": self.label,
            "source": self.source,
            "state": self.state(now),
            "origins": sorted(self.origins),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "replaces": self.replaces,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """A key that may send (``project`` set) or why it may not."""

    key: KeyInfo | None
    project: Project | None
    refusal: Refusal | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Table:
    by_digest: Mapping[str, tuple[KeyInfo, Project]]
    infos: tuple[KeyInfo, ...]
    # every origin some key allows; None: some active key allows any
    origins: frozenset[str] | None


class KeyRing:
    def __init__(self, config: Config, store: KeyStore | None = None) -> None:
        self._config = config
        self._store = store
        self._config_keys = list(_config_keys(config))
        self._generation = -1
        self._table = self._build([])
        self.refresh()

    @property
    def store(self) -> KeyStore | None:
        return self._store

    def refresh(self, *, force: bool = False) -> bool:
        """Reload the store's keys if they changed. True when they did."""
        if self._store is None:
            return False
        generation = self._store.generation()
        if generation == self._generation and not force:
            return False
        stored = self._store.ingest_keys()
        self._table = self._build(stored)
        self._generation = generation
        return True

    def _build(self, stored: Iterable[StoredKey]) -> _Table:
        by_digest: dict[str, tuple[KeyInfo, Project]] = {}
        infos: list[KeyInfo] = []
        for key_digest, info, project in self._config_keys:
            by_digest[key_digest] = (info, project)
            infos.append(info)
        projects = self._config.projects
        for key in stored:
            owner = projects.get(key.project)
            info = KeyInfo(
                id=key.id,
                project=key.project,
                label=key.label,
                source="store",
                origins=frozenset(normal_origin(o) for o in key.origins),
                created_at=key.created_at,
                expires_at=key.expires_at,
                revoked_at=key.revoked_at,
                replaces=key.replaces,
            )
            infos.append(info)
            # a key of a project this config no longer has sends nowhere
            if owner is not None and key.digest not in by_digest:
                by_digest[key.digest] = (info, owner)
        origins: set[str] = set()
        now = time.time()
        for info, _ in by_digest.values():
            if info.state(now) != "active":
                continue
            if not info.origins:
                # some key may send from anywhere
                return _Table(by_digest, tuple(infos), None)
            origins.update(info.origins)
        return _Table(by_digest, tuple(infos), frozenset(origins))

    # -- the ingest path

    def check(self, key: str, origin: str | None, now: float) -> Verdict:
        found = self._table.by_digest.get(digest(key))
        if found is None:
            return Verdict(None, None, "unknown")
        info, project = found
        state = info.state(now)
        if state != "active":
            return Verdict(info, None, state)
        if not info.allows_origin(origin):
            return Verdict(info, None, "origin")
        return Verdict(info, project, None)

    def origin_allowed_by_some_key(self, origin: str) -> bool:
        """For preflights, which carry no key: may any active key send from
        ``origin``? The request itself is then checked against its key."""
        origins = self._table.origins
        return origins is None or normal_origin(origin) in origins

    # -- listing

    def infos(self) -> tuple[KeyInfo, ...]:
        return self._table.infos


def config_key_id(key: str) -> str:
    """A stable public id for a key written in the config file."""
    return "cfg_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def _config_keys(config: Config) -> Iterable[tuple[str, KeyInfo, Project]]:
    specs = getattr(config, "key_specs", {}) or {}
    for key, project in config.keys.items():
        spec = specs.get(key)
        expires = spec.expires_at if spec is not None else None
        yield (
            digest(key),
            KeyInfo(
                id=config_key_id(key),
                project=project.name,
                label=(spec.label if spec is not None else None) or project.name,
                source="config",
                origins=frozenset(
                    normal_origin(o) for o in (spec.origins if spec else ())
                ),
                created_at=None,
                expires_at=_timestamp(expires) if expires is not None else None,
                revoked_at=None,
            ),
            project,
        )


def _timestamp(value: datetime.datetime | datetime.date) -> float:
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.timestamp()
