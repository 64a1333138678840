"""Keyed hashing of identifiers and values.

HMAC-SHA256 with a secret key, never a bare hash: a bare hash of an email or a
phone number is reversed by dictionary in minutes. The key id is written into
every digest (``k1:…``) so a key can be rotated and digests told apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import orjson

from ..sensitive import Sensitive

_MEMO_SIZE = 32_768
_MEMO_MAX_LENGTH = 256


class Hasher:
    __slots__ = ("_inner", "_insert", "_memo", "key_id")

    def __init__(self, key_id: str, key: Sensitive[str]) -> None:
        secret = key.reveal().encode()
        if len(secret) < 16:
            raise ValueError("a hash key must be at least 16 bytes long")
        self.key_id = key_id
        # domain separation: digests of values and derived insert ids never
        # collide even for the same input
        self._inner = hmac.new(secret + b"\x00value", digestmod=hashlib.sha256)
        self._insert = hmac.new(secret + b"\x00insert-id", digestmod=hashlib.sha256)
        # identifiers repeat (one user, many events); in memory only, bounded
        self._memo: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Hasher(key_id={self.key_id!r})"

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
