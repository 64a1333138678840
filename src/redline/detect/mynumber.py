"""Japanese Individual Numbers (マイナンバー, 個人番号): 12 digits, the last
a check digit (``python-stdnum``'s ``jp.in_``).

Written as on the card, in groups of four (``6214 9832 0257``, also with
hyphens or full-width digits), or solid. One random 12-digit run in ten
passes the check, so a solid run counts only with a label nearby
(``マイナンバー``, ``個人番号``, ``my number``), in a short value of its own
(a form field, a search: at most three words), or in Japanese text; inside
other text it is as likely an order or tracking number.
"""

from __future__ import annotations

import re

from stdnum.jp import in_ as my_number

from ._span import EntityType, Span
from ._text import fold_width

_GROUPED = re.compile(
    r"(?<![A-Za-z0-9_\-.+/])[0-9]{4}([ \-])[0-9]{4}\1[0-9]{4}"
    r"(?![A-Za-z0-9_]|[\-.][0-9]|[ \-][0-9])"
)
_SOLID = re.compile(r"(?<![A-Za-z0-9_\-.+/])[0-9]{12}(?![A-Za-z0-9_]|[\-.][0-9])")
_LABEL = re.compile(
    r"マイナンバー|個人番号|my[ _\-]?number|kojin[ _\-]?bango", re.IGNORECASE
)
# how far before a solid number its label may stand
_LABEL_REACH = 24
_SHORT_LENGTH = 40
_SHORT_TOKENS = 3
_JAPANESE = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")
# twelve digits, not part of a longer run (epoch milliseconds have 13)
_TRIGGER = re.compile(r"(?<![0-9])[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}(?![0-9])")


def _alone(text: str, start: int, end: int) -> bool:
    """Whether the number is a whitespace-separated word of its own."""
    return (start == 0 or text[start - 1].isspace()) and (
        end == len(text) or text[end].isspace()
    )


class JpMyNumberDetector:
    """Finds Individual Numbers whose check digit is right."""

    type: EntityType = EntityType.JP_MY_NUMBER
    min_digits: int = 12  # twelve digits
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        for match in _GROUPED.finditer(text):
            if my_number.is_valid(match.group()):
                reason = "grouped, check digit"
                spans.append(Span(self.type, match.start(), match.end(), 0.9, reason))
        short = len(text) <= _SHORT_LENGTH and len(text.split()) <= _SHORT_TOKENS
        for match in _SOLID.finditer(text):
            start, end = match.span()
            if not my_number.is_valid(match.group()):
                continue
            before = text[max(0, start - _LABEL_REACH) : start]
            if _LABEL.search(before):
                reason = "labelled, check digit"
            elif short and _alone(text, start, end):
                reason = "short value, check digit"
            elif _JAPANESE.search(text):
                reason = "in Japanese text, check digit"
            else:
                continue
            spans.append(Span(self.type, start, end, 0.8, reason))
        return spans
