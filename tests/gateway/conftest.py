from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from standins.mixpanel import MixpanelStandin

UPSTREAM_TOKEN = "upstream-token-canary-5f2e91"
UPSTREAM_ENV = "REDLINE_TEST_MP_TOKEN"


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[MixpanelStandin]:
    monkeypatch.setenv(UPSTREAM_ENV, UPSTREAM_TOKEN)
    with MixpanelStandin(token=UPSTREAM_TOKEN) as mp:
        yield mp


def mixpanel_destination(mp: MixpanelStandin) -> dict[str, str]:
    """Config fragments forwarding the demo project to the stand-in."""
    return {
        "destinations": f"  mp:\n    type: mixpanel\n    base_url: {mp.base_url}\n",
        "forward": f"      - destination: mp\n        token: {{env: {UPSTREAM_ENV}}}\n",
    }


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


def posthog_v1_headers(key: str = "demo") -> dict[str, str]:
    """The headers posthog-python's capture v1 sends (protocols.md §2.2),
    with ``key`` as the Bearer project key."""
    return {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "posthog-sdk-info": "posthog-python/7.91.1",
        "posthog-attempt": "1",
        "posthog-request-id": "5b0c0f0e-8a4d-4c55-9f0e-2a8d7f1c3b44",
        "posthog-request-timestamp": "2026-12-03T10:00:01+00:00",
    }


def log_lines(path: Path) -> list[dict[str, Any]]:
    """A gateway's JSON log; a line that is not JSON has level "unparsed"."""
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            lines.append({"level": "unparsed", "msg": text})
    return lines
