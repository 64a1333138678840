"""Secret files, and config files naming them, that other users may read
are refused at start, naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline import config as config_mod
from redline.errors import ConfigError

SECRET = "upstream-secret-canary-0c4d"


def _write(tmp_path: Path, secret_mode: int, config_mode: int) -> tuple[Path, Path]:
    secret = tmp_path / "mixpanel-token"
    secret.write_text(SECRET + "\n")
    secret.chmod(secret_mode)
    config = tmp_path / "redline.yaml"
    config.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward:\n"
        "      - destination: mp\n"
        "        token: {file: mixpanel-token}\n"
    )
    config.chmod(config_mode)
    return config, secret


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_file_others_may_read_is_refused_at_its_line(
    tmp_path: Path, mode: int
) -> None:
    config, secret = _write(tmp_path, mode, 0o600)

    with pytest.raises(ConfigError) as info:
        config_mod.load(config)

    message = str(info.value)
    assert info.value.path == str(config) and info.value.line == 7
    assert str(secret) in message and f"chmod 600 {secret}" in message
    assert f"mode {mode:o}" in message
    assert SECRET not in message


def test_a_config_naming_secret_files_that_others_may_read_is_refused(
    tmp_path: Path,
) -> None:
    config, _ = _write(tmp_path, 0o600, 0o644)

    with pytest.raises(ConfigError) as info:
        config_mod.load(config)

    message = str(info.value)
    assert message.startswith(f"{config}: the config file")
    assert f"chmod 600 {config}" in message


def test_private_files_load_and_commands_without_secrets_do_not_check(
    tmp_path: Path,
) -> None:
    config, _ = _write(tmp_path, 0o400, 0o600)
    loaded = config_mod.load(config)
    token = loaded.projects["p"].upstreams[0].token
    assert token is not None and token.reveal() == SECRET

    # `redline outbox status` and friends read no secrets
    config.chmod(0o644)
    assert config_mod.load(config, resolve_secrets=False).projects["p"]


def test_a_config_with_only_environment_secrets_may_stay_readable(
    tmp_path: Path,
) -> None:
    config = tmp_path / "redline.yaml"
    config.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward: [{destination: mp, token: {env: MP_TOKEN_FOR_TEST}}]\n"
    )
    config.chmod(0o644)
    loaded = config_mod.load(config, environ={"MP_TOKEN_FOR_TEST": "t"})
    assert loaded.projects["p"].upstreams[0].token is not None
