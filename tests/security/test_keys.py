"""Ingest keys: config keys with labels, expiry and origins; keys made by
`redline keys` and picked up by a running gateway; rotation; revocation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from harness import gateway_thread, write_config
from redline.access import KeyStore
from redline.cli_keys import keys as keys_cli

from .conftest import track, wait_for

pytestmark = pytest.mark.slow

_KEY = re.compile(r"key: (rk_[A-Za-z0-9_-]+)")
_ID = re.compile(r"ingest key (k_[0-9a-f]+)")


def _cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(
        keys_cli, [*args[:1], "--config", str(config), *args[1:]]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _created(output: str) -> tuple[str, str]:
    key = _KEY.search(output)
    key_id = _ID.search(output)
    assert key and key_id, output
    return key_id.group(1), key.group(1)


def _stored(tmp_path: Path) -> list[dict[str, str]]:
    store = KeyStore.in_dir(tmp_path / "data")
    try:
        return [{"id": k.id, "digest": k.digest} for k in store.ingest_keys()]
    finally:
        store.close()


def test_a_key_created_by_the_cli_works_on_a_running_gateway_and_stops_when_revoked(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        key_id, key = _created(
            _cli(config, "create", "--project", "demo", "--label", "web")
        )
        # picked up without a restart
        wait_for(lambda: track(gw.url, key).json() == {"status": 1, "error": None})

        _cli(config, "revoke", key_id)

        wait_for(lambda: track(gw.url, key).status_code == 401)
        refused = track(gw.url, key)
        assert refused.json() == {"error": "ingest key revoked", "status": "error"}
        # the config's keys are untouched
        assert track(gw.url, "demo").json()["status"] == 1
    # only the digest is stored
    assert key not in (tmp_path / "data" / "keys.db").read_bytes().decode("latin-1")
    assert [k["id"] for k in _stored(tmp_path)] == [key_id]


def test_an_expired_key_is_refused(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
    )
    text = config.read_text().replace(
        "ingest_keys: [demo, demo-2]",
        "ingest_keys: [demo, {key: old-key, label: old, expires_at: 2020-01-01}]",
    )
    config.write_text(text)
    with gateway_thread(config) as gw:
        store = KeyStore.in_dir(tmp_path / "data")
        _, soon = store.create_key("demo", label="short", expires_at=0.0)
        store.close()
        # picked up by the running gateway, and refused as expired
        wait_for(
            lambda: (
                track(gw.url, soon.reveal()).json().get("error") == "ingest key expired"
            )
        )
        assert track(gw.url, soon.reveal()).status_code == 401
        assert track(gw.url, "old-key").json() == {
            "error": "ingest key expired",
            "status": "error",
        }
        assert track(gw.url, "demo").status_code == 200


def test_rotation_keeps_both_keys_valid_until_the_old_one_is_revoked(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        old_id, old = _created(
            _cli(config, "create", "--project", "demo", "--label", "app")
        )
        wait_for(lambda: track(gw.url, old).status_code == 200)

        new_id, new = _created(_cli(config, "rotate", old_id))
        assert new_id != old_id and new != old
        wait_for(lambda: track(gw.url, new).status_code == 200)
        # old and new together, over several requests
        for _ in range(5):
            assert track(gw.url, old).json()["status"] == 1
            assert track(gw.url, new).json()["status"] == 1

        _cli(config, "revoke", old_id)
        wait_for(lambda: track(gw.url, old).status_code == 401)
        assert track(gw.url, new).json()["status"] == 1

    listed = _cli(config, "list", "--json")
    assert f'"replaces":"{old_id}"' in listed
    assert old not in listed and new not in listed


def test_rotation_with_a_grace_period_expires_the_old_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = KeyStore.in_dir(tmp_path / "data")
    old, old_key = store.create_key("demo", label="app")
    new, new_key = store.rotate_key(old.id, grace_seconds=0.0)
    store.close()
    with gateway_thread(config) as gw:
        assert track(gw.url, old_key.reveal()).json()["error"] == "ingest key expired"
        assert track(gw.url, new_key.reveal()).json()["status"] == 1
    assert new.replaces == old.id


def test_a_batch_with_one_revoked_key_keeps_the_good_records(tmp_path: Path) -> None:
    import base64
    import json

    config = write_config(tmp_path)
    store = KeyStore.in_dir(tmp_path / "data")
    bad, bad_key = store.create_key("demo", label="gone")
    store.revoke_key(bad.id)
    store.close()
    records = [
        {"event": "a", "properties": {"token": "demo", "distinct_id": "u"}},
        {"event": "b", "properties": {"token": bad_key.reveal(), "distinct_id": "u"}},
    ]
    data = base64.b64encode(json.dumps(records).encode()).decode()
    with gateway_thread(config) as gw:
        reply = httpx.post(gw.url + "/track?verbose=1", data={"data": data})
        assert reply.json() == {"status": 1, "error": None}
        counters = gw.gateway.counters
        # one record went through the policy (which drops unknown events),
        # the other was refused for its key
        assert (counters.received, counters.accepted + counters.dropped) == (2, 1)


def test_keys_create_refuses_an_unknown_project(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        keys_cli,
        ["create", "--config", str(config), "--project", "nope", "--label", "x"],
    )
    assert result.exit_code == 2
    assert "no project 'nope'" in result.output and "demo" in result.output


def test_keys_list_shows_config_and_store_keys_never_the_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    output = _cli(config, "create", "--project", "demo", "--label", "ios")
    _, key = _created(output)
    listed = _cli(config, "list", "--json")
    assert listed.count("\n") == 3  # demo, demo-2 and the new one
    assert '"source":"config"' in listed and '"source":"store"' in listed
    assert key not in listed and '"demo-2"' not in listed


def test_admin_token_create_prints_the_token_once_and_stores_its_digest(
    tmp_path: Path,
) -> None:
    from redline.cli import main

    config = write_config(tmp_path)
    result = CliRunner().invoke(
        main,
        ["admin", "token", "create", "--config", str(config), "--role", "operator"],
    )
    assert result.exit_code == 0, result.output
    token = re.search(r"token: (rla_\S+)", result.output)
    assert token is not None
    stored = (tmp_path / "data" / "keys.db").read_bytes().decode("latin-1")
    assert token.group(1) not in stored

    listed = CliRunner().invoke(
        main, ["admin", "token", "list", "--config", str(config)]
    )
    assert "operator" in listed.output and token.group(1) not in listed.output
    bad = CliRunner().invoke(
        main, ["admin", "token", "create", "--config", str(config), "--role", "root"]
    )
    assert bad.exit_code == 2 and "viewer" in bad.output
