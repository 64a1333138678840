"""Detectors of personal data and secrets in strings, and the scanner.

Detectors find; they never transform. Each returns typed :class:`Span`
objects with a score and a reason, and the policy decides what to do with
them (:func:`redact` is the plain replacement the engine uses)::

    scanner = default_scanner()
    spans = scanner.scan("mail jane@example.com")
    redact("mail jane@example.com", spans)  # 'mail [EMAIL]'

``DETECTORS`` maps the names a policy uses (``email``, ``phone``,
``credit_card``, ``ip_address``, ``jwt``, ``api_key``, ``credential``) to
detector classes that build with no arguments.
"""

from __future__ import annotations

from ._span import Detector, EntityType, Span
from .apikey import ApiKeyDetector
from .card import CreditCardDetector
from .credential import CredentialDetector
from .email import EmailDetector
from .ip import IpAddressDetector
from .jwt import JwtDetector
from .phone import PhoneDetector
from .scanner import DETECTORS, MAX_LENGTH, Scanner, default_scanner, redact

__all__ = [
    "DETECTORS",
    "MAX_LENGTH",
    "ApiKeyDetector",
    "CredentialDetector",
    "CreditCardDetector",
    "Detector",
    "EmailDetector",
    "EntityType",
    "IpAddressDetector",
    "JwtDetector",
    "PhoneDetector",
    "Scanner",
    "Span",
    "default_scanner",
    "redact",
]
