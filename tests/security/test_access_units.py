"""The parts on their own: the rate limiter's arithmetic, the key ring's
verdicts, and the CLI's refusals of bad durations and dates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import write_config
from redline import config as config_mod
from redline.access import KeyRing, KeyStore
from redline.cli_keys import keys as keys_cli
from redline.config import RateLimitSpec
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
