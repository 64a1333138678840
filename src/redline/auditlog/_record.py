"""The shape of one audit record and the hash that chains it.

A record is one JSON object per line::

    {"seq": 7, "ts": "2026-12-03T19:45:00.123456Z", "kind": "policy.load",
     "data": {...}, "prev": "<hash of record 6>", "hash": "<this hash>"}

``hash`` is SHA-256 over the previous record's hash (as ASCII hex) followed
by the canonical encoding of the record without its ``hash`` field: keys
sorted, no spaces, UTF-8. Changing any byte of a record, or its place in
the chain, changes every hash after it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import Any

import orjson

# the hash the first record of a log links to
GENESIS = "0" * 64

RESERVED = frozenset({"seq", "ts", "kind", "data", "prev", "hash"})


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash and a checkpoint's signature cover."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + canonical(record)).hexdigest()


def checkpoint_mac(key: bytes, record: dict[str, Any]) -> str:
    """HMAC-SHA256 over a checkpoint record without its ``mac`` (and hash).

    The record holds ``prev``, the hash of the record before it, so one
    signature vouches for the whole chain up to the checkpoint.
    """
    data = {k: v for k, v in record["data"].items() if k != "mac"}
    body = {**record, "data": data}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def utc_now() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(record: dict[str, Any]) -> bytes:
    """One line of the log (key order as written, newline included)."""
    return orjson.dumps(record) + b"\n"


def head_mac(key: bytes, seq: int, hash_: str, key_id: str) -> str:
    """The signature of the head file: which checkpoint was written last."""
    message = f"redline-audit-head\x00{key_id}\x00{seq}\x00{hash_}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
