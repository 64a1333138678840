"""A tamper-evident audit log: hash-chained JSON lines with signed
checkpoints, and the tools that verify and show it."""

from __future__ import annotations

from ._key import AuditKey, local_key
from ._writer import AuditLog, AuditLogClosed

__all__ = ["AuditKey", "AuditLog", "AuditLogClosed", "local_key"]
