"""A tamper-evident audit log: hash-chained JSON lines with signed
checkpoints, and the tools that verify and show it."""

from __future__ import annotations

from ._config import audit_dir, open_audit_log, signing_key, verification_keys
from ._key import AuditKey, local_key
from ._trail import AuditTrail
from ._verify import Problem, Report, verify
from ._writer import AuditLog, AuditLogBusy, AuditLogClosed

__all__ = [
    "AuditKey",
    "AuditLog",
    "AuditLogBusy",
    "AuditLogClosed",
    "AuditTrail",
    "Problem",
    "Report",
    "audit_dir",
    "local_key",
    "open_audit_log",
    "signing_key",
    "verification_keys",
    "verify",
]
