"""How well detection works: a labelled corpus and the numbers it yields.

:func:`generate` makes a labelled synthetic corpus of analytics events with
sensitive values planted in realistic places and hard negatives beside them;
:func:`evaluate` runs the scanner over a corpus as ``redline sanitize
--policy redact-all`` would and counts, per type, what was removed and what
was altered that should not have been.
"""

from __future__ import annotations

from ._labels import Label, LabelledEvent, Negative, Planted, read_jsonl, write_jsonl
from .corpus import LOCALES, generate

__all__ = [
    "LOCALES",
    "Label",
    "LabelledEvent",
    "Negative",
    "Planted",
    "generate",
    "read_jsonl",
    "write_jsonl",
]
