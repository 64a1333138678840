"""The parts on their own: the rate limiter's arithmetic, the key ring's
verdicts, admin tokens' expiry and states, keys.db upgraded in place, and
the CLI's refusals of bad durations and dates."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import write_config
from redline import config as config_mod
from redline.access import KeyRing, KeyStore
from redline.cli_keys import admin as admin_cli
from redline.cli_keys import keys as keys_cli
from redline.config import RateLimitSpec
from redline.errors import RedlineError
from redline.gateway._ratelimit import RateLimited, RateLimiter


def test_a_batch_larger_than_the_key_limit_passes_into_an_empty_window_only() -> None:
    limiter = RateLimiter(RateLimitSpec(per_key="5/minute"))
    limiter.key("k_a", 8)  # an SDK batch over the whole limit: let through once
    with pytest.raises(RateLimited) as info:
        limiter.key("k_a", 1)
    assert info.value.status == 429 and 1 <= info.value.retry_after <= 60
    limiter.key("k_b", 5)  # another key has its own budget
    assert limiter.refused == 1


def test_without_limits_nothing_is_counted() -> None:
    limiter = RateLimiter(None)
    for _ in range(1000):
        limiter.client("10.0.0.1")
        limiter.key("k", 50)
    assert not limiter.active and limiter.refused == 0


def test_client_limits_ignore_requests_without_an_address() -> None:
    limiter = RateLimiter(RateLimitSpec(per_client="1/minute"))
    limiter.client(None)
    limiter.client(None)
    limiter.client("10.0.0.2")
    with pytest.raises(RateLimited):
        limiter.client("10.0.0.2")


def test_the_ring_says_why_a_key_may_not_send(tmp_path: Path) -> None:
    config = config_mod.load(write_config(tmp_path))
    store = KeyStore.in_dir(tmp_path / "data")
    live, live_key = store.create_key("demo", label="a", origins=["https://a.test"])
    gone, gone_key = store.create_key("demo", label="b")
    store.revoke_key(gone.id)
    _, old_key = store.create_key("demo", label="c", expires_at=time.time() - 1)
    ring = KeyRing(config, store)
    now = time.time()

    ok = ring.check(live_key.reveal(), "https://A.test/", now)
    assert ok.project is not None and ok.key is not None and ok.key.id == live.id
    assert ring.check(live_key.reveal(), "https://b.test", now).refusal == "origin"
    assert ring.check(gone_key.reveal(), None, now).refusal == "revoked"
    assert ring.check(old_key.reveal(), None, now).refusal == "expired"
    assert ring.check("rk_guess", None, now).refusal == "unknown"
    # config keys allow any origin, so preflights are answered for any
    assert ring.origin_allowed_by_some_key("https://b.test")
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "soon"], "neither a duration"),
        (["--origin", "app.example.com"], "needs a scheme"),
    ],
)
def test_keys_create_refuses_bad_options(
    tmp_path: Path, args: list[str], message: str
) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        keys_cli,
        ["create", "--config", str(config), "--project", "demo", "--label", "x", *args],
    )
    assert result.exit_code == 2 and message in result.output


def test_keys_rotate_refuses_a_bad_grace_and_config_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    bad = CliRunner().invoke(
        keys_cli, ["rotate", "--config", str(config), "k_1", "--grace", "a week"]
    )
    assert bad.exit_code == 2 and "7d" in bad.output
    cfg = CliRunner().invoke(keys_cli, ["rotate", "--config", str(config), "cfg_1"])
    assert cfg.exit_code == 2 and "config file" in cfg.output
    missing = CliRunner().invoke(keys_cli, ["revoke", "--config", str(config), "k_0"])
    assert missing.exit_code == 1 and "redline keys list" in missing.output


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("soon", "'soon' is neither a duration (30d) nor a date"),
        ("2027-13-01", "'2027-13-01' is neither a duration (30d) nor a date"),
        ("0d", "'0d' is not in the future"),
        ("2020-01-01", "'2020-01-01' is not in the future"),
        ("99999999d", "'99999999d' is after the year 9999"),
    ],
)
@pytest.mark.parametrize("command", ["keys", "token"])
def test_expires_refuses_what_is_no_future_time(
    tmp_path: Path, command: str, expires: str, message: str
) -> None:
    config = write_config(tmp_path)
    if command == "keys":
        cli, args = keys_cli, ["create", "--project", "demo", "--label", "x"]
    else:
        cli, args = admin_cli, ["token", "create", "--role", "viewer"]
    result = CliRunner().invoke(
        cli, [*args, "--config", str(config), "--expires", expires]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"redline: --expires {message}"), result.output
    assert not (tmp_path / "data" / "keys.db").exists()


def test_token_list_shows_each_token_state_and_expiry(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    made = CliRunner().invoke(
        admin_cli,
        [
            *("token", "create", "--config", str(config), "--role", "viewer"),
            *("--label", "ci", "--expires", "2099-01-01"),
        ],
    )
    assert made.exit_code == 0, made.output
    assert "expires 2099-01-01 00:00 UTC" in made.output
    store = KeyStore.in_dir(tmp_path / "data")
    old, _ = store.create_token("admin", label="old", expires_at=time.time() - 1)
    gone, _ = store.create_token("operator", label="gone")
    store.revoke_token(gone.id)
    store.close()

    listed = CliRunner().invoke(admin_cli, ["token", "list", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.output.splitlines()
    assert header.split() == ["id", "role", "state", "created", "expires", "label"]
    date = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.fullmatch(
        rf"t_\w+ +viewer +active +{date} +2099-01-01 00:00 UTC +ci", rows[0]
    )
    assert re.fullmatch(rf"{old.id} +admin +expired +{date} +{date} +old", rows[1])
    assert re.fullmatch(rf"{gone.id} +operator +revoked +{date} +- +gone", rows[2])
    assert "rla_" not in listed.output


# keys.db as the first Redline with admin tokens made it: no expiry, and no
# user_version
_SCHEMA_0 = """
CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
INSERT INTO meta (id, generation) VALUES (1, 3);
CREATE TABLE ingest_keys (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, label TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE, origins TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL, revoked_at REAL, replaces TEXT
);
CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL
);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, action TEXT NOT NULL,
    subject TEXT NOT NULL, detail TEXT NOT NULL, actor TEXT NOT NULL,
    audited INTEGER NOT NULL DEFAULT 0
);
INSERT INTO admin_tokens VALUES ('t_old', 'admin', 'ops', 'ab12', 1700000000.0, NULL);
INSERT INTO ingest_keys VALUES
    ('k_old', 'demo', 'web', 'cd34', '', 1700000000.0, NULL, NULL, NULL);
"""


def test_a_store_without_token_expiry_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(_SCHEMA_0)
    conn.close()

    store = KeyStore(path)
    (old,) = store.tokens()
    assert (old.id, old.digest, old.expires_at, old.state(time.time())) == (
        "t_old",
        "ab12",
        None,
        "active",
    )
    assert [k.id for k in store.ingest_keys()] == ["k_old"]
    assert store.generation() == 3
    made, _ = store.create_token("viewer", expires_at=time.time() + 60)
    store.close()

    # opened again, nothing changes: the schema's version says it is current
    again = KeyStore(path)
    assert [(t.id, t.expires_at) for t in again.tokens()] == [
        ("t_old", None),
        (made.id, made.expires_at),
    ]
    again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()


def test_a_store_from_a_newer_redline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    KeyStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(RedlineError, match="newer Redline"):
        KeyStore(path)
