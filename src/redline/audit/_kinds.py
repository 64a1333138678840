"""Kinds of data an audit finds, their risk tier and what a policy does with them.

Tiers order the risk ranking: secrets, financial and government
identifiers first (a leaked key, card or social security number is an
incident on its own), then contact data (it reaches a person), then free
text (it can hold anything), then quasi-identifiers (they single people out
in combination).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from ._classify import FREE_TEXT, USER_AGENT


class Kind(NamedTuple):
    tier: int
    category: str
    label: str


KINDS: Final[dict[str, Kind]] = {
    "API_KEY": Kind(1, "secret", "API keys"),
    "CREDENTIAL": Kind(1, "secret", "Credentials and tokens"),
    "JWT": Kind(1, "secret", "JSON web tokens"),
    "CREDIT_CARD": Kind(1, "financial", "Payment card numbers"),
    "IBAN": Kind(1, "financial", "Bank account numbers (IBAN)"),
    "US_SSN": Kind(1, "government_id", "US social security numbers"),
    "JP_MY_NUMBER": Kind(1, "government_id", "Japanese My Numbers"),
    "NATIONAL_ID": Kind(1, "government_id", "National identity numbers"),
    "EMAIL": Kind(2, "contact", "Email addresses"),
    "PHONE": Kind(2, "contact", "Phone numbers"),
    FREE_TEXT: Kind(3, "free_text", "Free text"),
    "UNSCANNABLE": Kind(3, "free_text", "Values too long or odd to scan"),
    "IP_ADDRESS": Kind(4, "quasi_identifier", "IP addresses"),
    USER_AGENT: Kind(4, "quasi_identifier", "User agents"),
}
_OTHER = Kind(3, "other", "Other")
CATEGORIES: Final[tuple[str, ...]] = (
    "secret",
    "financial",
    "government_id",
    "contact",
    "free_text",
    "quasi_identifier",
    "other",
)


def kind_of(name: str) -> Kind:
    return KINDS.get(name, _OTHER)
