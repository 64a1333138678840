"""Provider API keys recognised by their documented prefixes and shapes.

Each shape needs a minimum body length, so that the short prefixes a
product shows in its UI (``sk-proj-TEST``, ``ghp_abcd``) and words that
happen to start the same way are not reported. Public, client-side keys are
deliberately absent: PostHog ``phc_`` project keys, Stripe ``pk_`` keys,
Mixpanel project tokens and Segment write keys are routing data that the
gateway must pass through unchanged.

PEM private key blocks are reported from ``-----BEGIN`` to the matching
``-----END`` line, or to the end of the string when that line is missing
(a truncated key is still a key).
"""

from __future__ import annotations

import re

from ._span import EntityType, Span
from ._text import fold_width

# (name, pattern); the first alternative that matches at a position wins,
# so the longer prefixes come before the shorter ones they start with
_SHAPES: tuple[tuple[str, str], ...] = (
    ("anthropic", r"sk-ant-[A-Za-z0-9_\-]{32,}"),
    ("openai", r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{32,}"),
    ("openai", r"sk-[A-Za-z0-9]{32,}"),
    ("stripe", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("stripe", r"whsec_[A-Za-z0-9+/=]{24,}"),
    ("aws", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}"),
    ("github", r"gh[pousr]_[A-Za-z0-9]{36,}"),
    ("github", r"github_pat_[A-Za-z0-9_]{40,}"),
    ("gitlab", r"gl(?:pat|dt|rt|ptt|soat|ft|imt|cbt)-[A-Za-z0-9_\-]{20,}"),
    ("slack", r"xox[abpre]-[A-Za-z0-9\-]{10,}"),
    ("slack", r"xapp-[0-9]-[A-Za-z0-9\-]{20,}"),
    ("google", r"AIza[A-Za-z0-9_\-]{35}"),
    ("google", r"ya29\.[A-Za-z0-9_\-]{20,}"),
    ("google", r"GOCSPX-[A-Za-z0-9_\-]{20,}"),
    ("twilio", r"SK[0-9a-fA-F]{32}"),
    ("sendgrid", r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{32,64}"),
    ("npm", r"npm_[A-Za-z0-9]{36,}"),
)
# keys whose bodies are free-form enough that slugs could match the shape:
# a real key mixes letters and digits
_NEEDS_MIXED = frozenset({"anthropic", "openai", "slack"})
# an AWS secret access key: 40 characters of base64, found near its key id
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_REACH = 256  # characters around a key id searched for its secret

_KEY = re.compile(
    # after a percent escape, or not inside a word
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![A-Za-z0-9]))(?:"
    + "|".join(f"(?P<k{i}>{pattern})" for i, (_, pattern) in enumerate(_SHAPES))
    + r")(?![A-Za-z0-9])"
)
_PEM_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----")
# in lower case, led by the prefixes' punctuation where they have some
_TRIGGER = re.compile(
    r"-(?:(?<=sk-)|(?<=glpat-)|(?<=xox[abpre]-)|(?<=-----))"
    r"|-(?:(?<=gldt-)|(?<=glrt-)|(?<=glft-)|(?<=glcbt-)|(?<=glptt-)|(?<=glsoat-)"
    r"|(?<=glimt-))"
    r"|-(?:(?<=xapp-)|(?<=gocspx-))"
    r"|_(?:(?<=[sr]k_)|(?<=whsec_)|(?<=gh[pousr]_)|(?<=github_pat_)|(?<=npm_))"
    r"|\.(?:(?<=sg\.)|(?<=ya29\.))|a(?:[ks]ia|bia|cca|iza)|sk[0-9a-f]"
)


class ApiKeyDetector:
    """Finds secret API keys of well-known providers and PEM private keys."""

    type: EntityType = EntityType.API_KEY
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        for match in _KEY.finditer(text):
            group = match.lastgroup
            if group is None:
                continue
            provider = _SHAPES[int(group[1:])][0]
            if provider in _NEEDS_MIXED and not _mixed(match.group()):
                continue
            reason = f"{provider} key shape"
            spans.append(Span(self.type, match.start(), match.end(), 0.95, reason))
            if provider == "aws":
                spans.extend(self._aws_secrets(text, match.start(), match.end()))
        if "-----BEGIN " in text:
            spans.extend(self._pem(text))
        return spans

    def _aws_secrets(self, text: str, start: int, end: int) -> list[Span]:
        """Secret access keys near a key id (config files, credential JSON):
        40 base64 characters mixing upper case, lower case and digits."""
        spans = []
        low, high = max(0, start - _AWS_REACH), min(len(text), end + _AWS_REACH)
        for match in _AWS_SECRET.finditer(text, low, high):
            secret = match.group()
            if _mixed(secret) and not secret.isupper() and not secret.islower():
                reason = "aws secret near its key id"
                spans.append(Span(self.type, match.start(), match.end(), 0.9, reason))
        return spans

    def _pem(self, text: str) -> list[Span]:
        spans = []
        position = 0
        while (begin := _PEM_BEGIN.search(text, position)) is not None:
            label = f"-----END {begin.group(1)}PRIVATE KEY{begin.group(2) or ''}-----"
            end = text.find(label, begin.end())
            if end == -1:
                stop, reason = len(text), "pem private key, unterminated"
            else:
                stop, reason = end + len(label), "pem private key"
            spans.append(Span(self.type, begin.start(), stop, 0.99, reason))
            position = stop
        return spans


def _mixed(key: str) -> bool:
    body = key.split("-", 1)[-1]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)
