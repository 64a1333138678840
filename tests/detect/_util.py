"""Shared helpers for the detector tables."""

from __future__ import annotations

from redline.detect import Detector, Scanner


def found(detector: Detector, text: str) -> list[str]:
    """The substrings ``detector`` reports in ``text``, in order."""
    return [text[span.start : span.end] for span in detector.find(text)]


def scanned(detector: Detector, text: str) -> list[str]:
    """The same through a scanner, which runs the detector only if its
    trigger is found: a trigger that misses a positive shows up here."""
    spans = Scanner([detector]).scan(text)
    return [text[span.start : span.end] for span in spans]


def wide(text: str) -> str:
    """``text`` with ASCII letters, digits and punctuation in full width
    (U+FF01..FF5E), as Japanese and Chinese input methods type them."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
