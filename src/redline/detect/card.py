"""Payment card numbers: 13 to 19 digits, Luhn-checked, with an issuer prefix.

A tenth of all digit runs pass the Luhn check, so the issuer prefix and the
length that goes with it do most of the work: epoch milliseconds
(``1718035200001``) and microseconds start with 1, which no card network
uses. Runs inside a larger token (a UUID's last groups, an order id, the
fraction of a decimal number) are not candidates at all.

A card's security code and expiry date are card data too: where a card
number is found, a labelled code (``cvv 123``, ``CVC: 1234``) or expiry
(``exp 12/29``, ``valid thru 04-2031``) near it in the same string is
reported as part of the card, its value only, so the label stays readable.
"""

from __future__ import annotations

import re

from stdnum import ean

from ._span import EntityType, Span
from ._text import fold_width

_CANDIDATE = re.compile(
    # not inside a token, a number, a decimal fraction or a longer group run
    r"(?<![A-Za-z0-9_.,\-/])(?<![0-9] )"
    # 13 to 19 digits, single spaces or hyphens between them
    r"[0-9](?:[ \-]?[0-9]){12,18}"
    r"(?![A-Za-z0-9_])(?![ .,\-]?[0-9])"
)

# (lowest prefix, highest prefix, lengths); prefixes compared on as many
# leading digits as they have. From the networks' published IIN ranges.
_ISSUERS: tuple[tuple[str, int, int, frozenset[int]], ...] = (
    # Visa's 13-digit numbers are no longer issued, and 13 digits are
    # what EAN-13 barcodes have
    ("visa", 4, 4, frozenset({16, 19})),
    ("mastercard", 51, 55, frozenset({16})),
    ("mastercard", 2221, 2720, frozenset({16})),
    ("amex", 34, 34, frozenset({15})),
    ("amex", 37, 37, frozenset({15})),
    ("diners", 300, 305, frozenset(range(14, 20))),
    ("diners", 36, 36, frozenset(range(14, 20))),
    ("diners", 38, 39, frozenset(range(16, 20))),
    ("discover", 6011, 6011, frozenset(range(16, 20))),
    ("discover", 644, 649, frozenset(range(16, 20))),
    ("discover", 65, 65, frozenset(range(16, 20))),
    # JCB publishes 3528-3589; the rest of 35 is unassigned, but test
    # suites and generators (Faker) use it, and nothing else starts so
    ("jcb", 3500, 3599, frozenset(range(16, 20))),
    ("unionpay", 62, 62, frozenset(range(16, 20))),
    ("mir", 2200, 2204, frozenset(range(16, 20))),
    ("maestro", 50, 50, frozenset(range(13, 20))),
    ("maestro", 56, 69, frozenset(range(13, 20))),
)


_SEPARATOR = re.compile(r"[ \-]")

# how far from a card number its security code or expiry may stand
_NEAR = 80
# a month and a year as cards print them: 12/29, 12-2029, 12 / 29, 1229 only
# after a label; 2029-12 (year first) too
_MONTH_YEAR = (
    r"(?:(?:0?[1-9]|1[0-2]) ?(?:[/-]|%2f) ?(?:20)?[0-9]{2}"
    r"|20[0-9]{2}[/-](?:0?[1-9]|1[0-2])"
    r"|(?:0[1-9]|1[0-2])[0-9]{2})"
)
_EXTRAS = re.compile(
    r"(?i)(?:"
    # the security code: three or four digits after its label (cardCvv,
    # card_cvc and cvv_code too)
    r"(?:(?<![a-z0-9])|(?<=card)|(?<=card[_-]))"
    r"(?:cvv2?|cvc2?|cvn|cid|csc|(?:card[ _-]?)?sec(?:urity)?[ _-]?code)"
    r"(?:[ _-]?(?:code|number|no))?"
    r"[\s:=#\"'-]{0,6}(?P<code>[0-9]{3,4})"
    r"|"
    # the expiry: a month and year after its label
    r"(?:(?<![a-z0-9])|(?<=card)|(?<=card[_-]))"
    r"(?:exp(?:iry|ires|iration)?(?:[ _.-]?(?:date|on))?"
    r"|valid[ _-]?(?:thru|through|until)|good[ _-]?thru)"
    r"[\s:=#\"'.-]{0,6}(?P<expiry>" + _MONTH_YEAR + r")"
    r")(?![0-9])"
)
# an unlabelled expiry, and a code after it, right after the card, as card
# dumps and payment logs write them (4111111111111111|12/29|123)
_TAIL = re.compile(
    r"[ |,;:/]{1,3}(?P<expiry>(?:0?[1-9]|1[0-2]) ?[/-] ?(?:20)?[0-9]{2}"
    r"|(?:0?[1-9]|1[0-2])[ |,;:]{1,3}(?:20)?[0-9]{2})(?![0-9/])"
    r"(?:[ |,;:/]{1,3}(?P<code>[0-9]{3,4}))?(?![0-9])"
)


def _grouped_as_card(written: str) -> bool:
    """Whether the digit groups are laid out as cards print them: fours
    (the last group shorter), or Amex and Diners' 4-6-5 and 4-6-4. Order
    numbers grouped 3-7-7 and the like are not cards."""
    groups = [len(group) for group in _SEPARATOR.split(written)]
    if len(groups) == 1:
        return True
    if groups[:-1] == [4] * (len(groups) - 1) and groups[-1] <= 4:
        return True
    return groups in ([4, 6, 5], [4, 6, 4])


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812-1."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def issuer(digits: str) -> str | None:
    """The card network whose prefix and length fit ``digits``, if any."""
    length = len(digits)
    for name, low, high, lengths in _ISSUERS:
        if length not in lengths:
            continue
        width = len(str(low))
        if low <= int(digits[:width]) <= high:
            return name
    return None


class CreditCardDetector:
    """Finds card numbers that pass Luhn and match a network's prefix."""

    type: EntityType = EntityType.CREDIT_CARD
    min_digits: int = 13  # the shortest card number
    # a boundary, then a network's first digit and twelve more
    trigger: re.Pattern[str] = re.compile(r"[^0-9a-z_.,\-/][2-6](?:[ \-]?[0-9]){12}")

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        for match in _CANDIDATE.finditer(text):
            written = match.group()
            network = _network(written)
            if network is None and _SEPARATOR.search(written):
                # a grouped card followed by more digits ("... 1111 12/29
                # 123") reads as one longer run: try it without the groups
                # after the card
                written, network = _grouped_prefix(written)
            if network is None:
                continue
            start = match.start()
            reason = f"luhn, {network} prefix"
            spans.append(Span(self.type, start, start + len(written), 0.9, reason))
        if spans:
            spans += _extras(text, spans)
        return spans


def _network(written: str) -> str | None:
    """The network of a card number as written, if it is one."""
    digits = written.replace(" ", "").replace("-", "")
    if not luhn_ok(digits) or not _grouped_as_card(written):
        return None
    if len(digits) == 13 and ean.is_valid(digits):
        return None  # a product's barcode (EAN-13) as often as a card
    return issuer(digits)


def _grouped_prefix(written: str) -> tuple[str, str | None]:
    """The longest leading groups of ``written`` that are a card number."""
    cuts = [m.start() for m in _SEPARATOR.finditer(written)]
    for cut in reversed(cuts):
        head = written[:cut]
        if len(head) - head.count(" ") - head.count("-") < 13:
            break
        network = _network(head)
        if network is not None:
            return head, network
    return written, None


def _extras(text: str, cards: list[Span]) -> list[Span]:
    """Security codes and expiry dates near the cards found: labelled ones
    within ``_NEAR`` characters, unlabelled ones right after a card. Each
    stretch of text is searched once, however many cards it is near."""
    out = []
    windows: list[list[int]] = []
    for card in sorted(cards, key=lambda span: span.start):
        low, high = max(card.start - _NEAR, 0), card.end + _NEAR
        if windows and low <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], high)
        else:
            windows.append([low, high])
        tail = _TAIL.match(text, card.end)
        if tail is not None:
            for group in ("expiry", "code"):
                if tail.group(group) is not None:
                    out.append(_extra(tail, group, "after a card"))
    for low, high in windows:
        for match in _EXTRAS.finditer(text, low, high):
            group = "code" if match.group("code") is not None else "expiry"
            out.append(_extra(match, group, "near a card"))
    return out


def _extra(match: re.Match[str], group: str, where: str) -> Span:
    start, end = match.span(group)
    reason = "security code" if group == "code" else "expiry date"
    return Span(EntityType.CREDIT_CARD, start, end, 0.9, f"{reason} {where}")
