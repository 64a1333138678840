"""The gateway config: built-in default, overrides, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from redline import config as config_mod
from redline.errors import ConfigError


def test_built_in_config_has_demo_key_and_local_store() -> None:
    config = config_mod.load(None)

    assert config.keys["demo"].name == "demo"
    assert [u.spec.type for u in config.keys["demo"].upstreams] == ["local"]
    assert config.policy_path == config_mod.default_policy_path()


def test_environment_then_command_line_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "server: {port: 9000}\n"
        "projects: {p: {ingest_keys: [k], forward: [{destination: local}]}}\n"
    )

    from_env = config_mod.load(path, environ={"REDLINE_PORT": "9100"})
    from_cli = config_mod.load(
        path, environ={"REDLINE_PORT": "9100"}, overrides={"port": 9200}
    )

    assert from_env.server.port == 9100
    assert from_cli.server.port == 9200


@pytest.mark.parametrize(
    ("environ", "overrides", "expected"),
    [
        (
            {"REDLINE_PORT": "abc"},
            {},
            "REDLINE_PORT=abc: not a port number "
            "(fix: set REDLINE_PORT to a port from 0 to 65535)",
        ),
        (
            {"REDLINE_PORT": "9100"},
            {"port": 99999},
            "--port 99999: not a port number (fix: pass --port a port from 0 to 65535)",
        ),
        (
            {"REDLINE_LOG_LEVEL": "verbose"},
            {},
            "REDLINE_LOG_LEVEL=verbose: not a valid log.level (fix: set "
            "REDLINE_LOG_LEVEL to one of 'debug', 'info', 'warning' or 'error')",
        ),
    ],
)
def test_a_bad_override_names_its_variable_or_option_not_the_file(
    environ: dict[str, str], overrides: dict[str, int], expected: str
) -> None:
    # the built-in config has a server.port line the error used to point at
    with pytest.raises(ConfigError) as info:
        config_mod.load(None, environ=environ, overrides=overrides)

    assert str(info.value) == expected


def test_a_bad_value_in_the_file_still_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text("server:\n  port: abc\n")

    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={"REDLINE_LOG_LEVEL": "debug"})

    # the file has no projects either: both are reported, in file order
    rendered = [error.render() for error in info.value.errors]
    assert rendered[0].startswith(f"{path}:1:1: projects: required key is missing")
    assert rendered[1].startswith(f"{path}:2:9: server.port")
    assert len(rendered) == 2


def test_upstream_token_comes_from_the_environment_and_stays_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MP_TOKEN_FOR_TEST", "upstream-canary-token")
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {mp: {type: mixpanel, base_url: 'http://127.0.0.1:1'}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward: [{destination: mp, token: {env: MP_TOKEN_FOR_TEST}}]\n"
    )

    config = config_mod.load(path)
    upstream = config.keys["k"].upstreams[0]

    assert (
        upstream.token is not None
        and upstream.token.reveal() == "upstream-canary-token"
    )
    assert "upstream-canary-token" not in repr(config)
    assert "upstream-canary-token" not in str(upstream)


def test_missing_secret_names_the_variable_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward:\n      - {destination: mp, token: {env: NOT_SET_ANYWHERE_42}}\n"
    )

    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={})

    assert info.value.line == 6
    assert "NOT_SET_ANYWHERE_42" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_destination_and_mistyped_key(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "projects:\n  p:\n    ingest_keys: [k]\n    forward: [{destination: nowhere}]\n"
    )
    with pytest.raises(ConfigError, match="unknown destination 'nowhere'"):
        config_mod.load(path)

    path.write_text("server:\n  prot: 80\nprojects: {}\n")
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    assert info.value.line == 2 and "server.prot" in str(info.value)


def test_mixpanel_destination_without_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects: {p: {ingest_keys: [k], forward: [{destination: mp}]}}\n"
    )

    with pytest.raises(ConfigError, match="without a token"):
        config_mod.load(path)


def test_secrets_can_be_left_unread_for_read_only_commands(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward:\n      - {destination: mp, token: {env: NOT_SET_ANYWHERE_42}}\n"
    )

    config = config_mod.load(path, environ={}, resolve_secrets=False)

    assert config.keys["k"].upstreams[0].token is None


def test_missing_secret_file_points_at_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward:\n"
        "      - destination: mp\n"
        "        token: {env: SET_FOR_THIS_TEST}\n"
        "        import_secret: {file: missing-secret}\n"
    )

    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={"SET_FOR_THIS_TEST": "x"})

    assert info.value.line == 8
    assert "missing-secret" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("version: 1\ndefaults:\n  url_keep_params: utm_source\n", "write a YAML list"),
        ("version: 1\nevents: {e: {properties: {a: hsh}}}\n", "write one of 'keep'"),
        ("version: 1\ndefaults:\n  ipv4_prefix: 40\n", "use a smaller number"),
    ],
)
def test_value_errors_say_what_to_write(text: str, fix: str) -> None:
    from redline.policy import parse_policy

    with pytest.raises(ConfigError) as info:
        parse_policy(text, "p.yaml")

    assert info.value.fix is not None and fix in info.value.fix
    assert "tuple" not in str(info.value)


def test_a_recursive_alias_in_the_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text("server: {port: 9000}\nprojects: &p {p: *p}\n")

    with pytest.raises(ConfigError) as info:
        config_mod.load(path)

    error = info.value
    assert (error.path, error.line, error.column) == (str(path), 2, 15)
    assert error.reason == "an alias refers to a value that contains it"


def _with_base_url(tmp_path: Path, vendor: str, base_url: str) -> Path:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations:\n"
        f"  up: {{type: {vendor}, base_url: '{base_url}'}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward: [{destination: up, token: {env: HOME}}]\n"
    )
    return path


@pytest.mark.parametrize("vendor", ["mixpanel", "posthog", "segment", "amplitude"])
@pytest.mark.parametrize(
    ("base_url", "reason", "fix"),
    [
        ("127.0.0.1:9999", "no scheme", "write it as http://127.0.0.1:9999"),
        ("localhost:9999", "no scheme", "write it as http://localhost:9999"),
        ("ftp://example.com", "not an http or https URL", "http:// or https://"),
        ("http://", "no host", "write a host after http://"),
        ("http://:9999", "no host", "write a host after http://"),
        ("https://example.com/?a=1", "a query or fragment", "remove everything"),
        ("https://example.com#top", "a query or fragment", "remove everything"),
        ("http://example.com:port", "not a valid URL", "check its host and port"),
        ("http://exa mple.com", "a space in the URL", "remove the spaces"),
        ("", "empty", "or remove it"),
    ],
)
def test_a_base_url_that_cannot_be_used_is_refused_at_its_line(
    tmp_path: Path, vendor: str, base_url: str, reason: str, fix: str
) -> None:
    # before, a base_url without a scheme was accepted and every forward
    # then failed (UnsupportedProtocol) and was retried for minutes
    path = _with_base_url(tmp_path, vendor, base_url)

    with pytest.raises(ConfigError) as info:
        config_mod.load(path)

    error = info.value
    column = len(f"  up: {{type: {vendor}, base_url: ") + 1
    assert (error.path, error.line, error.column) == (str(path), 2, column)
    assert error.reason.startswith(f"destinations.up.base_url: {reason}")
    assert error.fix is not None and fix in error.fix


def test_a_local_destination_base_url_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {store: {type: local, base_url: 'example.com'}}\n"
        "projects: {p: {ingest_keys: [k], forward: [{destination: store}]}}\n"
    )

    with pytest.raises(ConfigError, match="no scheme"):
        config_mod.load(path)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://user:pasted-canary-pw@example.com",
        "http://pasted-canary-pw@127.0.0.1:9999/ingest",
        "user:pasted-canary-pw@example.com",
    ],
)
def test_credentials_in_a_base_url_are_refused_without_repeating_them(
    tmp_path: Path, base_url: str
) -> None:
    path = _with_base_url(tmp_path, "posthog", base_url)

    with pytest.raises(ConfigError) as info:
        config_mod.load(path)

    assert "credentials in the URL" in info.value.reason
    assert info.value.fix is not None and "token: {env: VARIABLE}" in info.value.fix
    assert "pasted-canary-pw" not in str(info.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:9999",
        "https://eu.posthog.example.com",
        "HTTPS://proxy.example.com/vendors/mixpanel/",
        "http://[::1]:8080",
    ],
)
def test_a_usable_base_url_is_accepted(tmp_path: Path, base_url: str) -> None:
    config = config_mod.load(_with_base_url(tmp_path, "mixpanel", base_url))

    assert config.keys["k"].upstreams[0].spec.base_url == base_url


CANARY = "sk_live_pasted_canary_7f3a"

_PASTED = [
    # where a secret's source belongs, the secret itself pasted by mistake
    "projects:\n  p:\n    ingest_keys: [k]\n"
    f"    forward: [{{destination: local, token: {CANARY}}}]\n",
    "projects:\n  p:\n    ingest_keys: [k]\n"
    f"    forward: [{{destination: local, token: {{{CANARY}}}}}]\n",
    "projects:\n  p:\n    ingest_keys: [k]\n"
    f"    forward: [{{destination: local, token: [{CANARY}]}}]\n",
    "projects:\n  p:\n    ingest_keys: [k]\n"
    f"    forward: [{{destination: local, token: {{env: A, {CANARY}: 1}}}}]\n",
    "projects:\n  p:\n    ingest_keys: [k]\n"
    f"    forward: [{{destination: local, import_secret: '{CANARY}'}}]\n",
    f"server: {{ui_token: {CANARY}}}\n"
    "projects: {p: {ingest_keys: [k], forward: [{destination: local}]}}\n",
    f"audit_log: {{key: {CANARY}}}\n"
    "projects: {p: {ingest_keys: [k], forward: [{destination: local}]}}\n",
    f"audit_log: {{previous_keys: [{{key_id: old, key: {CANARY}}}]}}\n"
    "projects: {p: {ingest_keys: [k], forward: [{destination: local}]}}\n",
    f"destinations: {{mp: {{type: mixpanel, base_url: 'https://u:{CANARY}@h'}}}}\n"
    "projects: {p: {ingest_keys: [k], forward: [{destination: local}]}}\n",
]


@pytest.mark.parametrize("text", _PASTED)
def test_a_secret_pasted_in_the_config_never_appears_in_its_error(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={"A": "x"})

    error = info.value
    assert CANARY not in str(error)
    assert all(CANARY not in (e.fix or "") for e in error.errors)
    assert error.line is not None and error.column is not None


def test_a_plain_string_token_says_how_to_write_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(_PASTED[0])

    with pytest.raises(ConfigError) as info:
        config_mod.load(path)

    assert str(info.value) == (
        f"{path}:4:43: projects.p.forward.0.token: a secret is given as where to "
        "read it (an environment variable or a file), never as the value itself "
        "(fix: write token: {env: VARIABLE} or token: {file: PATH}, with the "
        "secret in that variable or file)"
    )


def test_a_pasted_policy_hash_key_never_appears_in_its_error() -> None:
    from redline.policy import parse_policy

    with pytest.raises(ConfigError) as info:
        parse_policy(f"version: 1\nhash: {{key_id: k1, key: {CANARY}}}\n", "p.yaml")

    assert CANARY not in str(info.value)
    assert info.value.fix is not None and "key: {env: VARIABLE}" in info.value.fix


def test_config_errors_name_list_items_with_dots(tmp_path: Path) -> None:
    # pydantic's errors say forward.0; the secret errors said forward[0]
    path = tmp_path / "redline.yaml"
    path.write_text(
        "destinations: {mp: {type: mixpanel}}\n"
        "projects:\n  p:\n    ingest_keys: [k]\n"
        "    forward:\n      - {destination: mp, token: {env: NOT_SET_ANYWHERE_42}}\n"
    )

    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={})

    assert info.value.reason.startswith("projects.p.forward.0.token: environment")


def test_a_forward_one_level_too_far_left_says_to_indent_it(tmp_path: Path) -> None:
    path = tmp_path / "redline.yaml"
    path.write_text(
        "projects:\n  web:\n    ingest_keys: [k1]\n"
        "  forward:\n    - destination: local\n"
    )

    with pytest.raises(ConfigError) as info:
        config_mod.load(path)

    rendered = [error.render() for error in info.value.errors]
    assert rendered[1] == (
        f"{path}:5:5: projects.forward: should be a project: a mapping with "
        "ingest_keys and forward, not a list (fix: 'forward' is a key of a "
        "project: indent it under the one it belongs to)"
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("server: 8080\n", 1, "server: should be the server settings: a mapping"),
        ("log: [info]\n", 1, "log: should be the log settings: a mapping"),
        ("server: {tls: yes}\n", 1, "server.tls: should be the TLS settings"),
        (
            "destinations: {mp: mixpanel}\n",
            1,
            "destinations.mp: should be a destination: a mapping with a type",
        ),
        (
            "audit_log: {previous_keys: [old]}\n",
            1,
            "audit_log.previous_keys.0: should be a previous key",
        ),
        (
            "projects: {p: {ingest_keys: [k], forward: [local]}}\n",
            1,
            "projects.p.forward.0: should be a forward: a mapping with a destination",
        ),
        ("projects: {p: }\n", 1, "projects.p: should be a project: a mapping with"),
    ],
)
def test_a_value_that_should_be_a_mapping_is_named_in_plain_words(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "redline.yaml"
    if "projects" not in text:
        text += "projects: {p: {ingest_keys: [k], forward: [{destination: local}]}}\n"
    path.write_text(text)

    # the overrides must not trip over a section that is not a mapping
    environ = {"REDLINE_PORT": "9000", "REDLINE_LOG_LEVEL": "info"}
    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ=environ)

    error = info.value
    assert error.reason.startswith(message)
    assert error.line == line and error.column is not None
    assert "instance of" not in str(error) and "Spec" not in str(error)


def test_policy_errors_drop_the_model_names_too() -> None:
    from redline.policy import parse_policy

    with pytest.raises(ConfigError) as info:
        parse_policy("version: 1\ndefaults: [a]\n", "p.yaml")

    assert "instance of" not in str(info.value) and "Spec" not in str(info.value)
    assert "should be a mapping of keys to values, not a list" in str(info.value)
