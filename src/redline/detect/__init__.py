"""Detectors of personal data and secrets in strings, and the scanner.

Detectors find; they never transform. Each returns typed :class:`Span`
objects with a score and a reason, and the policy decides what to do with
them (:func:`redact` is the plain replacement the engine uses)::

    scanner = default_scanner()
    spans = scanner.scan("mail jane@example.com")
    redact("mail jane@example.com", spans)  # 'mail [EMAIL]'

``DETECTORS`` maps the names a policy uses (``email``, ``phone``,
``credit_card``, ``iban``, ``us_ssn``, ``jp_my_number``, ``ip_address``,
``jwt``, ``api_key``, ``credential``, ``free_text``) to detector classes
that build with no arguments; ``DEFAULT_DETECTORS`` are those that run when
a policy does not choose (all but ``free_text``). :func:`build_detector`
also builds ``national_id:<module>`` detectors over ``python-stdnum``.
"""

from __future__ import annotations

from ._span import Detector, EntityType, Span
from .apikey import ApiKeyDetector
from .card import CreditCardDetector
from .credential import CredentialDetector
from .email import EmailDetector
from .freetext import FreeTextDetector
from .iban import IbanDetector
from .ip import IpAddressDetector
from .jwt import JwtDetector
from .mynumber import JpMyNumberDetector
from .national import NationalIdDetector
from .phone import PhoneDetector
from .scanner import (
    DEFAULT_DETECTORS,
    DETECTORS,
    MAX_LENGTH,
    Scanner,
    build_detector,
    default_scanner,
    detector_name_error,
    redact,
)
from .ssn import UsSsnDetector

__all__ = [
    "DEFAULT_DETECTORS",
    "DETECTORS",
    "MAX_LENGTH",
    "ApiKeyDetector",
    "CredentialDetector",
    "CreditCardDetector",
    "Detector",
    "EmailDetector",
    "EntityType",
    "FreeTextDetector",
    "IbanDetector",
    "IpAddressDetector",
    "JpMyNumberDetector",
    "JwtDetector",
    "NationalIdDetector",
    "PhoneDetector",
    "Scanner",
    "Span",
    "UsSsnDetector",
    "build_detector",
    "default_scanner",
    "detector_name_error",
    "redact",
]
