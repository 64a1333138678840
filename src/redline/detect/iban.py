"""International bank account numbers (ISO 13616), checked with mod 97.

A candidate is a country code, two check digits and 11 to 30 letters or
digits, written solid (``GB82WEST12345698765432``) or in the printed groups
of four (``GB82 WEST 1234 5698 7654 32``), upper or lower case.
``python-stdnum`` then checks the country's length and BBAN format and the
ISO 7064 mod-97 check: a random string passes about once in a hundred
times *and* must fit its country's layout, so SKUs and ids that happen to
start with two letters and two digits are not reported.

A grouped candidate may run on into the next word (``... 7654 32 EUR``);
it is then tried without its last groups until one fits.
"""

from __future__ import annotations

import re

from stdnum import iban

from ._span import EntityType, Span
from ._text import fold_width

# solid, or in the printed groups of four with a shorter last group
_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9_])[A-Za-z]{2}[0-9]{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)"
    r"(?![A-Za-z0-9_])"
)
_GROUP_END = re.compile(r" ")
MAX_CANDIDATES = 128
# the countries of the IBAN registry (SWIFT), to skip python-stdnum on hex
# tokens and ids that merely open with two letters and two digits
_COUNTRIES = frozenset(
    """
    AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI
    FK FO FR GB GE GI GL GR GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT
    LU LV LY MC MD ME MK MN MR MT MU NI NL NO OM PK PL PS PT QA RO RS RU SA
    SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE
    """.split()  # noqa: SIM905 (a code list reads better as text)
)


def _country_codes() -> str:
    """The registry's country codes in lower case, as one alternation
    grouped by first letter (``a[delt]|b[aeg]...``)."""
    by_first: dict[str, str] = {}
    for code in sorted(_COUNTRIES):
        lower = code.lower()
        by_first[lower[0]] = by_first.get(lower[0], "") + lower[1]
    return "|".join(f"{first}[{seconds}]" for first, seconds in by_first.items())


# a registry country's code, two digits and four more characters, in the
# lowered probe
_TRIGGER = re.compile(r"[^a-z0-9_](?:" + _country_codes() + r")[0-9]{2} ?[a-z0-9]{4}")


class IbanDetector:
    """Finds IBANs that pass their country's format and the mod-97 check."""

    type: EntityType = EntityType.IBAN
    min_digits: int = 4  # the check digits and a few of the account number
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        checked = 0
        for match in _CANDIDATE.finditer(text):
            candidate = match.group()
            if candidate[:2].upper() not in _COUNTRIES:
                continue
            checked += 1
            if checked > MAX_CANDIDATES:
                # more than any event carries: mask the string (fail closed)
                reason = "too many IBAN candidates"
                return [Span(EntityType.UNSCANNABLE, 0, len(text), 1.0, reason)]
            length = _valid_prefix(candidate)
            if length:
                start = match.start()
                spans.append(Span(self.type, start, start + length, 0.95, "mod 97"))
        return spans


def _valid_prefix(candidate: str) -> int:
    """The length of the longest prefix of ``candidate`` that ends at a group
    boundary and is a valid IBAN (0 if none)."""
    ends = [candidate.__len__()]
    ends += [m.start() for m in _GROUP_END.finditer(candidate)][::-1]
    for end in ends:
        if end < 15:
            break
        if iban.is_valid(candidate[:end]):
            return end
    return 0
