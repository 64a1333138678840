"""Who may send and who may administer: ingest keys (from the config and
from ``keys.db``), admin tokens with roles, and the store they live in."""

from __future__ import annotations

from ._ring import KeyInfo, KeyRing, Verdict, config_key_id, normal_origin
from ._store import (
    ROLES,
    AdminToken,
    Change,
    KeyStore,
    NotFound,
    Role,
    StoredKey,
    digest,
)
from ._watch import KeyWatcher

__all__ = [
    "ROLES",
    "AdminToken",
    "Change",
    "KeyInfo",
    "KeyRing",
    "KeyStore",
    "KeyWatcher",
    "NotFound",
    "Role",
    "StoredKey",
    "Verdict",
    "config_key_id",
    "digest",
    "normal_origin",
]
