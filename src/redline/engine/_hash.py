"""Keyed hashing of identifiers and values.

HMAC-SHA256 with a secret key, never a bare hash: a bare hash of an email or a
phone number is reversed by dictionary in minutes. The key id is written into
every digest (``k1:…``) so a key can be rotated and digests told apart.

Rotation: a hasher may carry the hashers of previous keys, each with the last
day (UTC) it is still used. While a previous key is in its window the engine
writes its digest beside the current one, so old and new digests can be
joined. Which keys are in their window is decided from a clock the caller
injects; the hasher never reads the time itself.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence

import orjson

from ..sensitive import Sensitive

_MEMO_SIZE = 32_768
_MEMO_MAX_LENGTH = 256
_TWO_53 = float(2**53)

Today = Callable[[], datetime.date]


class Hasher:
    __slots__ = (
        "_inner",
        "_insert",
        "_memo",
        "_previous",
        "_sample",
        "_sample_memo",
        "_today",
        "key_id",
    )

    def __init__(
        self,
        key_id: str,
        key: Sensitive[str],
        *,
        previous: Sequence[tuple[Hasher, datetime.date]] = (),
        today: Today | None = None,
    ) -> None:
        """``previous``: hashers of keys being rotated out, each with the
        last day (UTC, inclusive) of its window; ``today`` tells the current
        UTC date and is required with ``previous``."""
        secret = key.reveal().encode()
        if len(secret) < 16:
            raise ValueError("a hash key must be at least 16 bytes long")
        if previous and today is None:
            raise ValueError("previous keys need a clock (today) to end their window")
        self.key_id = key_id
        # domain separation: digests of values, derived insert ids and
        # sampling draws never collide even for the same input
        self._inner = hmac.new(secret + b"\x00value", digestmod=hashlib.sha256)
        self._insert = hmac.new(secret + b"\x00insert-id", digestmod=hashlib.sha256)
        self._sample = hmac.new(secret + b"\x00sample", digestmod=hashlib.sha256)
        # identifiers repeat (one user, many events); in memory only, bounded
        self._memo: dict[str, str] = {}
        self._sample_memo: dict[str, float] = {}
        self._previous = tuple(previous)
        self._today = today

    def __repr__(self) -> str:
        return f"Hasher(key_id={self.key_id!r})"

    @property
    def has_previous(self) -> bool:
        """True when previous keys are configured, in their window or not."""
        return bool(self._previous)

    def rotating(self) -> tuple[Hasher, ...]:
        """The hashers of previous keys still in their window, oldest last
        as configured; empty outside a rotation."""
        if not self._previous:
            return ()
        assert self._today is not None
        today = self._today()
        return tuple(hasher for hasher, until in self._previous if today <= until)

    def digest(self, value: object) -> str:
        """``<key id>:<32 hex digits>`` for any JSON value."""
        if type(value) is str:
            known = self._memo.get(value)
            if known is not None:
                return known
        mac = self._inner.copy()
        mac.update(_canonical(value))
        digest = f"{self.key_id}:{mac.hexdigest()[:32]}"
        if type(value) is str and len(value) <= _MEMO_MAX_LENGTH:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[value] = digest
        return digest

    def insert_id(self, record: object) -> str:
        """A stable idempotency id derived from a whole record, so the same
        record sent twice gets the same id (32 hex digits, which fits every
        vendor's limit)."""
        mac = self._insert.copy()
        mac.update(_canonical(record))
        return mac.hexdigest()[:32]

    def sample_point(self, key: str) -> float:
        """A number in [0, 1) drawn from ``key`` with the secret key: the
        same key always draws the same number, and without the secret the
        draw cannot be predicted (a client cannot choose to be sampled)."""
        known = self._sample_memo.get(key)
        if known is not None:
            return known
        mac = self._sample.copy()
        mac.update(_canonical(key))
        # 53 bits: every draw is a float below 1.0 exactly
        point = (int.from_bytes(mac.digest()[:8], "big") >> 11) / _TWO_53
        if len(key) <= _MEMO_MAX_LENGTH:
            if len(self._sample_memo) >= _MEMO_SIZE:
                self._sample_memo.clear()
            self._sample_memo[key] = point
        return point


def _canonical(value: object) -> bytes:
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    try:
        return b"j" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # integers wider than 64 bits, which JSON allows and orjson cannot
        # write; the slower writer gives the same bytes for the same value
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return b"x" + text.encode("ascii")
