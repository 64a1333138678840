"""Logging set-up: JSON lines to stderr, or readable lines on a terminal.

Channels are named loggers: ``redline.access`` (one line per request),
``redline.engine``, ``redline.forwarder``, ``redline.gateway``. Log calls pass
shapes only (ids, routes, counts, sizes, timings), never event values.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # the type and where, not the message: messages of foreign
            # exceptions may quote input
            out["exc"] = record.exc_info[0].__name__
            out["where"] = _where(record.exc_info[2])
        return orjson.dumps(out, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")
        )
        line = f"{stamp} {record.levelname:<7} {record.name:<18} {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info and record.exc_info[0] is not None:
            line += (
                f"  exc={record.exc_info[0].__name__} at {_where(record.exc_info[2])}"
            )
        return line


def _where(tb: Any) -> str:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"


# what configure() last set (level, format), for the gateway's children
_settings: tuple[str, str] | None = None


def settings() -> tuple[str, str] | None:
    """The level and format :func:`configure` set; None before it ran."""
    return _settings


def configure(level: str = "info", fmt: str = "auto") -> None:
    global _settings
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    _settings = (level, fmt)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("redline").setLevel(level.upper())
    # uvicorn's own loggers: keep errors, drop its access log (ours has no
    # query strings)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True
