"""Typed spans: what a detector found, where, and how sure it is."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Protocol


class EntityType(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CREDIT_CARD = "CREDIT_CARD"
    IP_ADDRESS = "IP_ADDRESS"
    JWT = "JWT"
    API_KEY = "API_KEY"
    CREDENTIAL = "CREDENTIAL"  # Bearer/Basic values, user:pass@ in URLs, secret params
    IBAN = "IBAN"
    US_SSN = "US_SSN"
    JP_MY_NUMBER = "JP_MY_NUMBER"
    # an identifier python-stdnum validates, asked for by name in a policy
    NATIONAL_ID = "NATIONAL_ID"
    # a string that reads as natural language (a prompt, a message)
    FREE_TEXT = "FREE_TEXT"
    # names and places in free text, from the optional NER backend
    # (redline.detect.ner); no pattern detector reports these
    PERSON = "PERSON"
    ADDRESS = "ADDRESS"
    # the scanner could not look at the string (too long, a detector failed):
    # the span covers all of it so that nothing unscanned is passed on
    UNSCANNABLE = "UNSCANNABLE"


@dataclasses.dataclass(frozen=True, slots=True)
class Span:
    """A detected entity in a string: ``text[start:end]`` is the value.

    ``score`` is a confidence in [0, 1]; ``reason`` says in a few words why
    (``"luhn"``, ``"numbering plan GB"``, ``"prefix sk-"``) and never quotes
    the value.
    """

    type: EntityType
    start: int
    end: int
    score: float
    reason: str


class Detector(Protocol):
    """Finds one entity type in strings.

    ``find`` must be pure and bounded: linear-time patterns only, and it must
    not raise on any input string.
    """

    type: EntityType

    def find(self, text: str) -> list[Span]: ...
