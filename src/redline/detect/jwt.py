"""JSON Web Tokens (RFC 7519) anywhere in a string.

A JWS compact token is three base64url segments joined by dots; its header
is a JSON object, so the first segment starts ``eyJ`` (``{"``). Tokens show
up whole, as URL path segments (``/reset-password/eyJ...``) and inside
percent-encoded query values (``next=%2Fsignup%2FeyJ...``), where their
characters are not escaped; so there is no left boundary. A match counts
when its header decodes to a JSON object with an ``alg`` member. The
payload segment is never decoded: it holds the claims (often an email).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from ._span import EntityType, Span
from ._text import fold_width

# after the header segment: the payload and the signature; an unsecured
# token ("alg": "none") has an empty signature. A JWE (five segments) is
# matched on its first three.
_REST = re.compile(r"={0,2}\.[A-Za-z0-9_-]{2,}+={0,2}\.[A-Za-z0-9_-]*+")
_RUN = re.compile(r"[A-Za-z0-9_-]*+")
# real headers are a few dozen characters; a longer run is not decoded
_MAX_HEADER = 1024


class JwtDetector:
    """Finds JWTs whose header decodes to JSON naming an algorithm."""

    type: EntityType = EntityType.JWT
    trigger: re.Pattern[str] = re.compile(r"eyj")

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        spans: list[Span] = []
        position = 0
        run_end = -1
        rest: re.Match[str] | None = None
        while (start := text.find("eyJ", position)) != -1:
            # every "eyJ" inside one base64url run shares the run's end and
            # what follows it, so each run is read once (linear time even
            # for "eyJeyJeyJ...")
            if start >= run_end:
                run = _RUN.match(text, start)
                run_end = run.end() if run else start
                rest = _REST.match(text, run_end)
            header = text[start:run_end]
            if rest is not None and len(header) <= _MAX_HEADER and _has_alg(header):
                spans.append(Span(self.type, start, rest.end(), 0.99, "jwt header"))
                position = rest.end()
            else:
                position = start + 1
        return spans


def _has_alg(segment: str) -> bool:
    segment = segment.rstrip("=")
    padded = segment + "=" * (-len(segment) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded)
        header = json.loads(raw)
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)
