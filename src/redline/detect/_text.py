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


# characters whose NFKC form differs, with that form; filled as they are met
# (a few thousand distinct characters at most in practice, each a short string)
_NFKC_CACHE: dict[str, str] = {}
_NFKC_CACHE_MAX = 65_536


def nfkc_view(text: str) -> tuple[str, list[int] | None]:
    """``text`` normalised character by character with NFKC, and the offset
    in ``text`` of each character of the result (None when nothing changed,
    so the view is ``text`` itself).

    Character by character rather than the whole string at once: that keeps
    a map from every view offset back to the original character it came
    from, so a span found in the view (full-width digits and dashes read as
    ASCII, a circled one as ``1``, the ``fi`` ligature as ``fi``) is replaced at its
    original place. Compositions across characters (a letter and a
    combining accent) are not made; detectors match ASCII shapes, which
    never need them.
    """
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, None
    cache = _NFKC_CACHE
    parts: list[str] = []
    offsets: list[int] = []
    changed = False
    for index, char in enumerate(text):
        if char < "\x80":
            parts.append(char)
            offsets.append(index)
            continue
        form = cache.get(char)
        if form is None:
            form = unicodedata.normalize("NFKC", char)
            if len(cache) < _NFKC_CACHE_MAX:
                cache[char] = form
        if form != char:
            changed = True
        parts.append(form)
        offsets.extend([index] * len(form))
    if not changed:
        return text, None
    return "".join(parts), offsets
