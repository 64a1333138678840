"""`redline status`: a running gateway's picture in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import free_port, gateway_thread, write_config
from redline.cli import main

from .conftest import wait_for
from .ops_helpers import checkout, track

pytestmark = pytest.mark.slow


def test_status_shows_events_findings_destinations_and_policy(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    with gateway_thread(config) as gw:
        assert track(gw.url, checkout(7)).status_code == 200
        unknown = [{"event": "not_in_the_policy", "properties": {"time": 1}}]
        assert track(gw.url, unknown).status_code == 200
        wait_for(lambda: gw.gateway.counters.received == 8)
        wait_for(lambda: gw.gateway.outbox.depth == 0)  # type: ignore[attr-defined]
        runner = CliRunner()
        # the address comes from the config
        result = runner.invoke(main, ["status", "--config", str(config)])
        raw = runner.invoke(main, ["status", "--config", str(config), "--json"])
        digest = gw.gateway.engine.policy.digest

    assert result.exit_code == 0, result.output
    out = result.output
    assert "ready" in out
    assert f"policy {digest[:12]} (enforce)" in out
    for section in (
        "Events",
        "Findings by type",
        "Findings by property",
        "Destinations",
    ):
        assert section in out
    assert "demo/local" in out
    assert "internal_note" in out
    assert "REPORT MODE" not in out
    body = json.loads(raw.output)
    assert body["totals"]["received"] == 8
    assert body["totals"]["accepted"] == 7
    assert body["totals"]["dropped"] == 1


def test_status_names_an_unreachable_gateway(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["status", "--url", f"http://127.0.0.1:{free_port()}"]
    )
    assert result.exit_code != 0
    assert "cannot reach the gateway" in result.output


def test_status_asks_for_the_token_when_the_dashboard_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDLINE_TEST_UI_TOKEN", "status-token-1")
    config = write_config(tmp_path, extra="  ui_token: {env: REDLINE_TEST_UI_TOKEN}\n")
    with gateway_thread(config) as gw:
        runner = CliRunner()
        refused = runner.invoke(main, ["status", "--url", gw.url])
        monkeypatch.setenv("OTHER_VAR", "status-token-wrong-9")
        wrong = runner.invoke(
            main, ["status", "--url", gw.url, "--token-env", "OTHER_VAR"]
        )
        # from the config's server.ui_token
        allowed = runner.invoke(main, ["status", "--config", str(config)])
    assert refused.exit_code != 0
    assert "the gateway wants its dashboard token" in refused.output
    # a token given and refused is told apart from none given
    assert wrong.exit_code != 0
    assert "the dashboard token was refused" in wrong.output
    assert "wants its dashboard token" not in wrong.output
    assert "status-token-wrong-9" not in wrong.output
    assert allowed.exit_code == 0, allowed.output
    assert "status-token-1" not in refused.output + wrong.output + allowed.output


def test_status_names_the_config_whose_token_variable_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDLINE_TEST_UNSET_UI_TOKEN", raising=False)
    config = write_config(
        tmp_path, extra="  ui_token: {env: REDLINE_TEST_UNSET_UI_TOKEN}\n"
    )
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 2
    # the file, and the line and column of server.ui_token in it
    assert result.output.startswith(
        f"redline: {config}:5:13: server.ui_token: environment variable "
        "REDLINE_TEST_UNSET_UI_TOKEN is not set"
    ), result.output
    assert "<config>" not in result.output
