"""Shared pieces of the audit log tests: a log with a known key, and ways
to read and rewrite its files the way someone tampering would."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from redline.auditlog import AuditKey, AuditLog, Report, verify
from redline.auditlog._record import chain_hash
from redline.sensitive import Sensitive

KEY_ID = "test"
KEY = "audit-test-key-0123456789abcdef0123456789abcdef"
KEYS = {KEY_ID: KEY.encode()}


def open_log(directory: Path, **options: Any) -> AuditLog:
    options.setdefault("durability", "process")
    key = AuditKey(KEY_ID, Sensitive(KEY.encode()))
    return AuditLog(directory, key, **options)


def fill(directory: Path, count: int, **options: Any) -> None:
    """``count`` records (plus checkpoints) written and the log closed."""
    log = open_log(directory, **options)
    for i in range(count):
        log.append("admin.access", token_id=f"tok{i % 3}", route="/admin/keys", n=i)
    log.close()


def check(directory: Path) -> Report:
    return verify(directory, KEYS)


def files(directory: Path) -> list[Path]:
    return sorted(directory.glob("audit-*.jsonl"))


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def rehash(records: list[dict[str, Any]], start: int = 0) -> None:
    """Recompute links and hashes from ``start`` on, as a forger without
    the key would."""
    for i in range(start, len(records)):
        if i:
            records[i]["prev"] = records[i - 1]["hash"]
        records[i]["hash"] = chain_hash(records[i]["prev"], records[i])


def messages(report: Report) -> str:
    return "\n".join(str(p) for p in report.problems)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
