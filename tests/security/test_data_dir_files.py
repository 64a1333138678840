"""Every file a gateway makes in its data directory is private (0600, the
directory 0700): the outbox, store and aggregation databases hold
pseudonymised events, SQLite's -wal and -shm files included."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from harness import GatewayProcess, gateway_thread, write_config
from redline.cli import main
from redline.errors import ConfigError

DATABASES = ("outbox.db", "store.db", "aggregates.db", "keys.db")


@pytest.fixture
def open_umask() -> Iterator[None]:
    # what a shell usually has; the gateway must not depend on a stricter one
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _send(url: str) -> None:
    response = httpx.post(
        url + "/track?verbose=1",
        data={"data": '[{"event": "e", "properties": {"token": "demo"}}]'},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def _modes(data: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}


def _wait_for_wal(data: Path) -> None:
    deadline = time.monotonic() + 10
    while not (data / "store.db-wal").exists():
        assert time.monotonic() < deadline, sorted(p.name for p in data.iterdir())
        time.sleep(0.05)


def _assert_private(data: Path, expected: set[str]) -> None:
    modes = _modes(data)
    assert expected <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_running_gateway_keeps_every_data_file_private(
    tmp_path: Path, open_umask: None
) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"

    with gateway_thread(config) as gw:
        _send(gw.url)
        _wait_for_wal(data)
        _assert_private(data, {*DATABASES, "hash.key", "store.db-shm"})


def test_redline_serve_keeps_every_data_file_private(
    tmp_path: Path, open_umask: None
) -> None:
    # the process's umask covers files SQLite or a library may add later
    config = write_config(tmp_path)
    data = tmp_path / "data"

    with GatewayProcess(config, tmp_path / "gateway.log") as gw:
        _send(gw.url)
        _wait_for_wal(data)
        _assert_private(data, {"outbox.db-wal", "store.db-wal", "aggregates.db-wal"})


def test_databases_left_readable_by_an_older_version_are_tightened(
    tmp_path: Path, open_umask: None
) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"
    with gateway_thread(config) as gw:
        _send(gw.url)
    for name in DATABASES:
        (data / name).chmod(0o644)

    with gateway_thread(config):
        modes = _modes(data)

    assert {name: modes[name] for name in DATABASES} == dict.fromkeys(DATABASES, 0o600)


def test_a_missing_hash_key_beside_earlier_state_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"
    with gateway_thread(config) as gw:
        _send(gw.url)
    key = (data / "hash.key").read_bytes()
    (data / "hash.key").rename(tmp_path / "hash.key.bak")

    with pytest.raises(ConfigError) as info, gateway_thread(config):
        pass

    message = str(info.value)
    assert message.startswith(f"{data / 'hash.key'}: the hash key is missing")
    assert "restore" in message and f"delete {data / 'hash.key.made'}" in message
    assert not (data / "hash.key").exists()
    # the CLI says the same, as an error rather than a traceback
    result = CliRunner().invoke(
        main, ["sanitize", "--config", str(config)], input='{"event": "e"}\n'
    )
    assert result.exit_code == 2
    assert result.output.startswith(f"redline: {data / 'hash.key'}: the hash key")

    # restored from the backup, the gateway starts with the same key
    (tmp_path / "hash.key.bak").rename(data / "hash.key")
    with gateway_thread(config):
        assert (data / "hash.key").read_bytes() == key
    # without the marker, a new key is made: the explicit way to start anew
    (data / "hash.key").unlink()
    (data / "hash.key.made").unlink()
    with gateway_thread(config):
        assert (data / "hash.key").read_bytes() != key


def test_a_key_made_before_the_marker_is_protected_from_its_next_start(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"
    with gateway_thread(config):
        pass
    (data / "hash.key.made").unlink()  # as an older version left it

    with gateway_thread(config):
        pass
    (data / "hash.key").unlink()

    with (
        pytest.raises(ConfigError, match="the hash key is missing"),
        gateway_thread(config),
    ):
        pass


def test_an_empty_data_dir_gets_a_new_hash_key(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    with gateway_thread(config):
        pass

    assert len((tmp_path / "data" / "hash.key").read_text().strip()) == 64
