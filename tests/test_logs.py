"""Log set-up: JSON lines by default, readable lines on a terminal, the
level from the config; access lines keep their fields in both formats."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from redline import _logs


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    redline = logging.getLogger("redline")
    handlers, level, redline_level = list(root.handlers), root.level, redline.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    redline.setLevel(redline_level)


def _access_line() -> None:
    logging.getLogger("redline.access").info(
        "%s /%s %s",
        "POST",
        "track",
        200,
        extra={
            "request_id": "abc-1",
            "method": "POST",
            "route": "track",
            "status": 200,
            "ms": 1.5,
        },
    )


@pytest.mark.usefixtures("restore_logging")
def test_without_a_terminal_lines_are_json(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    _logs.configure("info", "auto")
    _access_line()
    line = json.loads(stream.getvalue().strip())
    assert line["logger"] == "redline.access"
    assert line["level"] == "info"
    assert line["msg"] == "POST /track 200"
    assert {k: line[k] for k in ("request_id", "route", "status", "ms")} == {
        "request_id": "abc-1",
        "route": "track",
        "status": 200,
        "ms": 1.5,
    }


@pytest.mark.usefixtures("restore_logging")
def test_on_a_terminal_lines_are_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    _logs.configure("info", "auto")
    _access_line()
    line = stream.getvalue().strip()
    assert not line.startswith("{")
    assert "redline.access" in line
    assert "POST /track 200" in line
    assert "request_id=abc-1" in line
    assert "status=200" in line


@pytest.mark.usefixtures("restore_logging")
def test_the_configured_level_filters_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    _logs.configure("warning", "json")
    _access_line()
    logging.getLogger("redline.gateway").warning("outbox full")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["outbox full"]
