"""What a labelled event is: the event, its locale, and where each value sits.

A label names one planted string and the path of the string value that holds
it (keys and list indexes from the event's root). Positive labels name
something detection must remove; negative labels name something that merely
looks similar and must come through unchanged. Labels point at substrings,
not offsets, so a corpus stays readable and diffable as JSON lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson

Path_ = tuple[str | int, ...]


class Planted(StrEnum):
    """The types the corpus plants and the eval reports recall for."""

    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"
    US_SSN = "US_SSN"
    JP_MY_NUMBER = "JP_MY_NUMBER"
    IP_ADDRESS = "IP_ADDRESS"
    JWT = "JWT"
    API_KEY = "API_KEY"
    # bearer, session and other opaque tokens, many recognisable only by the
    # name of the header, cookie or URL parameter that carries them
    TOKEN = "TOKEN"
    URL_CREDENTIAL = "URL_CREDENTIAL"
    FREE_TEXT = "FREE_TEXT"
    PERSON = "PERSON"
    ADDRESS = "ADDRESS"


class Negative(StrEnum):
    """Hard negatives: values that must survive detection unchanged."""

    UUID = "UUID"
    TIMESTAMP = "TIMESTAMP"
    VERSION = "VERSION"
    ORDER_ID = "ORDER_ID"
    HEX_HASH = "HEX_HASH"
    PRICE = "PRICE"
    CITY = "CITY"
    USER_AGENT = "USER_AGENT"
    PLAN = "PLAN"
    LABEL = "LABEL"
    PUBLIC_ID = "PUBLIC_ID"  # project tokens, publishable keys, device ids
    CLEAN_URL = "CLEAN_URL"
    # numbers with separators that are no one's data: ISBNs, barcodes,
    # parcel tracking, postal codes, dates, times, stack positions, SKUs
    NUMBER_LIKE = "NUMBER_LIKE"


@dataclasses.dataclass(frozen=True, slots=True)
class Label:
    """One planted string at ``path``; ``kind`` is a Planted or Negative name.

    ``variant`` says how the value was written (``percent-encoded``,
    ``full-width``) and ``carrier`` where it sits (``url``, ``prompt``,
    ``header-name-only``), so misses can be grouped by shape.
    """

    kind: str
    path: Path_
    value: str
    variant: str
    negative: bool
    carrier: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": list(self.path),
            "value": self.value,
            "variant": self.variant,
            "negative": self.negative,
            "carrier": self.carrier,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Label:
        return cls(
            kind=str(data["kind"]),
            path=tuple(data["path"]),
            value=str(data["value"]),
            variant=str(data.get("variant", "")),
            negative=bool(data.get("negative", False)),
            carrier=str(data.get("carrier", "")),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class LabelledEvent:
    """An event as an SDK would send it, with the labels of what it holds."""

    event: dict[str, Any]
    locale: str
    labels: tuple[Label, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "locale": self.locale,
            "labels": [label.to_json() for label in self.labels],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelledEvent:
        if not isinstance(data, dict) or not isinstance(data.get("event"), dict):
            raise ValueError('each line needs an "event" object and "labels"')
        labels = tuple(Label.from_json(item) for item in data.get("labels", []))
        for number, label in enumerate(labels):
            found, holder = value_at(data["event"], label.path)
            text = as_text(holder) if found else None
            if text is None or not label.value or label.value not in text:
                raise ValueError(
                    f"label {number} ({label.kind}) names a value that is not at "
                    f"its path {list(label.path)}"
                )
        return cls(
            event=data["event"], locale=str(data.get("locale", "")), labels=labels
        )


def as_text(value: Any) -> str | None:
    """A label's holder as text: strings as they are, integers (a card typed
    into a number field, epoch milliseconds) in decimal, anything else None."""
    if isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    return None


def value_at(document: Any, path: Path_) -> tuple[bool, Any]:
    """The value at ``path`` in ``document``: (found, value)."""
    node = document
    for step in path:
        if isinstance(step, int) and isinstance(node, list):
            if not 0 <= step < len(node):
                return False, None
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return False, None
    return True, node


def write_jsonl(events: Iterable[LabelledEvent], out: IO[bytes]) -> int:
    """Write one labelled event per line; returns how many were written."""
    count = 0
    for item in events:
        out.write(orjson.dumps(item.to_json()) + b"\n")
        count += 1
    return count


def read_jsonl(path: Path) -> Iterator[LabelledEvent]:
    """Labelled events from a JSONL file; a bad line raises with its number."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield LabelledEvent.from_json(orjson.loads(line))
            except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
                kind = (
                    "not valid JSON"
                    if isinstance(exc, orjson.JSONDecodeError)
                    else str(exc)
                )
                raise ValueError(
                    f"{path}:{number}: not a labelled event ({kind})"
                ) from None
