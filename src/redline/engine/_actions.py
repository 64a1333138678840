"""The value transforms of the minimisation actions, on single values.

Pure functions: the engine decides which value each one sees, scans what
they return and records findings.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson
from ua_parser import parse_os, parse_user_agent

# user agents longer than this are read only this far: a client chooses the
# length, and the parser's patterns are not all linear
UA_MAX_LENGTH = 512
_UA_CACHE_SIZE = 4096


def is_type(value: Any, name: str) -> bool:
    """Whether ``value`` has the JSON type ``name`` (see ``_RuleSpec``)."""
    kind = type(value)
    if name == "string":
        return kind is str
    if name == "number":
        return kind is int or (kind is float and not math.isnan(value))
    if name == "integer":
        return kind is int or (kind is float and value.is_integer())
    if name == "boolean":
        return kind is bool
    if name == "list":
        return kind is list
    return kind is dict


def as_string(value: Any) -> str:
    """The JSON text of a value; a string stays as it is."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # integers wider than 64 bits
        return json.dumps(value, separators=(",", ":"))


def mask(text: str, keep_first: int, keep_last: int) -> str:
    """``text`` with all but the first and last characters replaced by
    ``*``; masked whole when nothing would be hidden."""
    length = len(text)
    if length <= keep_first + keep_last:
        return "*" * length
    tail = text[length - keep_last :] if keep_last else ""
    return text[:keep_first] + "*" * (length - keep_first - keep_last) + tail


def cut(text: str, max_length: int, kinds: Iterable[str]) -> str:
    """``text`` cut to ``max_length`` characters, without leaving part of a
    placeholder (``[EMA``) of one of ``kinds`` at the end."""
    if len(text) <= max_length:
        return text
    head = text[:max_length]
    start = head.rfind("[")
    if start != -1 and "]" not in head[start:]:
        for kind in kinds:
            if text.startswith(f"[{kind}]", start):
                return head[:start]
    return head


def bucket(value: float, edges: tuple[float, ...], labels: tuple[str, ...]) -> str:
    """The label of the range ``value`` falls in; ranges include their
    lower edge."""
    return labels[bisect_right(edges, value)]


def user_agent(text: str) -> str:
    """``<browser family> <major> / <OS family>``, ``Other`` for what the
    parser cannot tell."""
    return _user_agent(text[:UA_MAX_LENGTH])


# user agents repeat across events; bounded, in memory only
@lru_cache(maxsize=_UA_CACHE_SIZE)
def _user_agent(text: str) -> str:
    browser = parse_user_agent(text)
    system = parse_os(text)
    family = browser.family if browser is not None else "Other"
    os_family = system.family if system is not None else "Other"
    if browser is not None and browser.major:
        return f"{family} {browser.major} / {os_family}"
    return f"{family} / {os_family}"


def warm_user_agents() -> None:
    """Load the parser's patterns now rather than on the first event."""
    parse_user_agent("Mozilla/5.0")
