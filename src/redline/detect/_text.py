"""Width folding that keeps offsets: what detectors match against.

Full-width digits and at-signs (U+FF10..FF19, U+FF20), no-break and ideographic
spaces are what NFKC turns into plain ASCII. Folding only the characters
whose NFKC form is one ASCII character keeps the string the same length, so
a span found in the folded text is the same span in the original.
"""

from __future__ import annotations

import unicodedata

# the blocks that hold such characters: Latin-1 no-break space, the
# typographic spaces, ideographic space, small form variants, full-width
# forms, and the mathematical digits
_RANGES = (
    (0x00A0, 0x00A0),
    (0x2000, 0x200A),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0xFE50, 0xFE6B),
    (0xFF01, 0xFF5E),
    (0x1D7CE, 0x1D7FF),
)


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for low, high in _RANGES:
        for code in range(low, high + 1):
            folded = unicodedata.normalize("NFKC", chr(code))
            if len(folded) == 1 and folded.isascii() and folded != chr(code):
                table[code] = folded
    return table


_FOLD = _table()


def fold_width(text: str) -> str:
    """``text`` with compatibility forms folded to ASCII, same length."""
    if text.isascii():
        return text
    return text.translate(_FOLD)
