"""``keys.db`` in the data directory: ingest keys and admin tokens.

Only SHA-256 digests of keys and tokens are stored; the secret is shown
once, when it is made. Both are random (24 and 32 bytes), so a plain digest
cannot be reversed, and lookups by digest stay cheap on the ingest path.

Admin tokens, like stored ingest keys, may carry an expiry
(``expires_at``); an expired token is refused as a revoked one is.

Every change (create, rotate, revoke) also lands in a ``changes`` table
with who made it. A running gateway notices the store's ``generation``
going up, reloads its keys, and writes the changes it has not yet audited
to the audit log: the ``redline keys`` commands run in another process and
never write the audit log themselves, so the log keeps one writer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from .._datadir import private_file
from ..errors import RedlineError
from ..sensitive import Sensitive

__all__ = [
    "ROLES",
    "AdminToken",
    "Change",
    "KeyStore",
    "NotFound",
    "Role",
    "StoredKey",
    "digest",
]

STORE_FILE = "keys.db"
Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, generation) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS ingest_keys (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    label TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    origins TEXT NOT NULL,          -- newline-separated, empty: any origin
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    replaces TEXT
);
CREATE TABLE IF NOT EXISTS admin_tokens (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    actor TEXT NOT NULL,
    audited INTEGER NOT NULL DEFAULT 0
);
"""
# PRAGMA user_version of keys.db. 0: the first schema, whose admin tokens
# had no expiry; 1: admin_tokens.expires_at, added in place on open.
_SCHEMA_VERSION = 1


class NotFound(RedlineError):
    """No key or token with that id."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


State = Literal["active", "revoked", "expired"]


def state(revoked_at: float | None, expires_at: float | None, now: float) -> State:
    """A key's or token's state at ``now``: revoked wins over expired."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and now >= expires_at:
        return "expired"
    return "active"


@dataclasses.dataclass(frozen=True, slots=True)
class StoredKey:
    id: str
    project: str
    label: str
    digest: str = dataclasses.field(repr=False)
    origins: tuple[str, ...]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    replaces: str | None

    def active(self, now: float) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclasses.dataclass(frozen=True, slots=True)
class AdminToken:
    id: str
    role: Role
    label: str
    digest: str = dataclasses.field(repr=False)
    created_at: float
    revoked_at: float | None
    expires_at: float | None = None

    def state(self, now: float) -> State:
        return state(self.revoked_at, self.expires_at, now)


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    seq: int
    at: float
    action: str  # key.create, key.rotate, key.revoke, token.create, ...
    subject: str  # the key or token id
    detail: str  # project or role
    actor: str  # "cli" or "token:<id>"


class KeyStore:
    """One SQLite file shared by the CLI and a running gateway.

    Each call opens its own short transaction; a lock keeps threads of one
    process from sharing the connection mid-statement.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._lock = threading.Lock()
        try:
            self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        """Make the schema, or bring an older store up to it in place."""
        conn = self._conn
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > _SCHEMA_VERSION:
            raise RedlineError(
                f"{self.path} was written by a newer Redline (schema {version}, "
                f"this one knows {_SCHEMA_VERSION}); upgrade Redline"
            )
        if version == _SCHEMA_VERSION:
            return
        # a CLI and a gateway may open the store at once: one upgrades, the
        # other sees the column there once it gets the lock
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(admin_tokens)")}
            if "expires_at" not in columns:
                conn.execute("ALTER TABLE admin_tokens ADD COLUMN expires_at REAL")
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @classmethod
    def in_dir(cls, data_dir: Path) -> KeyStore:
        return cls(data_dir / STORE_FILE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _changed(
        self,
        conn: sqlite3.Connection,
        action: str,
        subject: str,
        detail: str,
        actor: str,
    ) -> None:
        conn.execute("UPDATE meta SET generation = generation + 1")
        conn.execute(
            "INSERT INTO changes (at, action, subject, detail, actor)"
            " VALUES (?, ?, ?, ?, ?)",
            (time.time(), action, subject, detail, actor),
        )

    def generation(self) -> int:
        with self._lock:
            (value,) = self._conn.execute("SELECT generation FROM meta").fetchone()
        return int(value)

    # -- ingest keys

    def create_key(
        self,
        project: str,
        *,
        label: str,
        origins: Sequence[str] = (),
        expires_at: float | None = None,
        actor: str = "cli",
        replaces: str | None = None,
    ) -> tuple[StoredKey, Sensitive[str]]:
        secret = "rk_" + secrets.token_urlsafe(24)
        key = StoredKey(
            id="k_" + secrets.token_hex(5),
            project=project,
            label=label,
            digest=digest(secret),
            origins=tuple(origins),
            created_at=time.time(),
            expires_at=expires_at,
            revoked_at=None,
            replaces=replaces,
        )
        with self._tx() as conn:
            self._insert_key(conn, key)
            action = "key.rotate" if replaces else "key.create"
            self._changed(conn, action, key.id, project, actor)
        return key, Sensitive(secret)

    def _insert_key(self, conn: sqlite3.Connection, key: StoredKey) -> None:
        conn.execute(
            "INSERT INTO ingest_keys (id, project, label, digest, origins,"
            " created_at, expires_at, revoked_at, replaces)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key.id,
                key.project,
                key.label,
                key.digest,
                "\n".join(key.origins),
                key.created_at,
                key.expires_at,
                key.revoked_at,
                key.replaces,
            ),
        )

    def ingest_keys(self) -> list[StoredKey]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, project, label, digest, origins, created_at,"
                " expires_at, revoked_at, replaces FROM ingest_keys"
                " ORDER BY created_at, id"
            ).fetchall()
        return [
            StoredKey(
                r[0],
                r[1],
                r[2],
                r[3],
                tuple(filter(None, r[4].split("\n"))),
                r[5],
                r[6],
                r[7],
                r[8],
            )
            for r in rows
        ]

    def key(self, key_id: str) -> StoredKey:
        for key in self.ingest_keys():
            if key.id == key_id:
                return key
        raise NotFound(f"no ingest key with id {key_id!r} (see `redline keys list`)")

    def revoke_key(self, key_id: str, *, actor: str = "cli") -> StoredKey:
        key = self.key(key_id)
        if key.revoked_at is not None:
            return key
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE ingest_keys SET revoked_at = ? WHERE id = ?", (now, key_id)
            )
            self._changed(conn, "key.revoke", key_id, key.project, actor)
        return dataclasses.replace(key, revoked_at=now)

    def rotate_key(
        self,
        key_id: str,
        *,
        grace_seconds: float | None = None,
        actor: str = "cli",
    ) -> tuple[StoredKey, Sensitive[str]]:
        """A new key for the same project, label and origins. The old one
        stays valid until revoked, or for ``grace_seconds`` more."""
        old = self.key(key_id)
        if not old.active(time.time()):
            raise RedlineError(
                f"ingest key {key_id} is revoked or expired; create a new key "
                "with `redline keys create` instead"
            )
        new, secret = self.create_key(
            old.project,
            label=old.label,
            origins=old.origins,
            expires_at=None,
            actor=actor,
            replaces=old.id,
        )
        if grace_seconds is not None:
            until = time.time() + grace_seconds
            if old.expires_at is None or until < old.expires_at:
                with self._tx() as conn:
                    conn.execute(
                        "UPDATE ingest_keys SET expires_at = ? WHERE id = ?",
                        (until, old.id),
                    )
                    self._changed(conn, "key.expire", old.id, old.project, actor)
        return new, secret

    # -- admin tokens

    def create_token(
        self,
        role: Role,
        *,
        label: str = "",
        expires_at: float | None = None,
        actor: str = "cli",
    ) -> tuple[AdminToken, Sensitive[str]]:
        if role not in ROLES:
            raise RedlineError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        secret = "rla_" + secrets.token_urlsafe(32)
        token = AdminToken(
            id="t_" + secrets.token_hex(5),
            role=role,
            label=label,
            digest=digest(secret),
            created_at=time.time(),
            revoked_at=None,
            expires_at=expires_at,
        )
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO admin_tokens (id, role, label, digest, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (token.id, role, label, token.digest, token.created_at, expires_at),
            )
            self._changed(conn, "token.create", token.id, role, actor)
        return token, Sensitive(secret)

    def tokens(self) -> list[AdminToken]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, role, label, digest, created_at, revoked_at, expires_at"
                " FROM admin_tokens ORDER BY created_at, id"
            ).fetchall()
        return [AdminToken(*row) for row in rows]

    def revoke_token(self, token_id: str, *, actor: str = "cli") -> AdminToken:
        for token in self.tokens():
            if token.id == token_id:
                break
        else:
            raise NotFound(f"no admin token with id {token_id!r}")
        if token.revoked_at is not None:
            return token
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "UPDATE admin_tokens SET revoked_at = ? WHERE id = ?", (now, token_id)
            )
            self._changed(conn, "token.revoke", token_id, token.role, actor)
        return dataclasses.replace(token, revoked_at=now)

    # -- the change log

    def unaudited(self) -> list[Change]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, at, action, subject, detail, actor FROM changes"
                " WHERE audited = 0 ORDER BY seq"
            ).fetchall()
        return [Change(*row) for row in rows]

    def mark_audited(self, upto: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE changes SET audited = 1 WHERE seq <= ?", (upto,))
