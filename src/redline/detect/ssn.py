"""US Social Security numbers, written ``AAA-GG-SSSS`` (or with spaces).

Numbers the SSA never issues are not reported (``python-stdnum`` knows
them): area 000, 666 and 900-999, group 00, serial 0000, and the numbers
printed on sample cards and in advertising (078-05-1120, 219-09-9999).

Nine digits without separators are as common as order ids and zip+4
codes; they count only when a label such as ``SSN`` or ``social
security`` comes shortly before them.
"""

from __future__ import annotations

import re

from stdnum.us import ssn

from ._span import EntityType, Span
from ._text import fold_width

_GROUPED = re.compile(
    r"(?<![A-Za-z0-9_\-.+/])([0-9]{3})([ \-])[0-9]{2}\2[0-9]{4}"
    r"(?![A-Za-z0-9_]|[\-.][0-9])"
)
_LABELLED = re.compile(
    r"(?:ssn|social[ _\-]?security(?:[ _\-]?(?:number|no))?|ss#)"
    r"[^A-Za-z0-9]{0,12}?(?<![0-9])([0-9]{9})(?![0-9])",
    re.IGNORECASE,
)
# in the lowered probe: a two-digit group between separators before four
# digits (the group before it is checked by the detector), or a label;
# starting at the separator lets the regex engine skip most positions
_TRIGGER = re.compile(r"[ \-][0-9]{2}[ \-][0-9]{4}|ss[n#]|social.?security")


class UsSsnDetector:
    """Finds Social Security numbers in the SSA's issued ranges."""

    type: EntityType = EntityType.US_SSN
    min_digits: int = 9  # area, group and serial
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        for match in _GROUPED.finditer(text):
            if ssn.is_valid(match.group().replace(" ", "-")):
                reason = "grouped, issued range"
                spans.append(Span(self.type, match.start(), match.end(), 0.85, reason))
        for match in _LABELLED.finditer(text):
            if ssn.is_valid(match.group(1)):
                start, end = match.span(1)
                reason = "labelled, issued range"
                spans.append(Span(self.type, start, end, 0.9, reason))
        return spans
