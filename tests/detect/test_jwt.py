"""JWT detector: positives and near misses.

Test vectors: tokens built here from RFC 7519's example header and made-up
claims, the unsecured form of RFC 7519 section 6.1, and the reset-password
token of leak case BH-01. Near misses are base64 JSON that is not a token
(Mixpanel's ``data=`` payloads), headers without ``alg``, and a header that
does not decode.
"""

from __future__ import annotations

import base64
import json

import pytest

from redline.detect import JwtDetector

from ._util import found, scanned


def b64(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


HEADER = b64({"alg": "HS256", "typ": "JWT"})
CLAIMS = b64({"sub": "usr_42", "email": "jane.doe@example.com", "exp": 1700000600})
SIGNED = f"{HEADER}.{CLAIMS}.pYdbGlLpGbcxX3zQZPWDgBB2YMsq2f6-_D8BIJxEDZk"
UNSECURED = f"{b64({'alg': 'none'})}.{CLAIMS}."
BH_01 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfdGVzdF80MiIsImVtYWlsIjoi"
    "amFuZS5kb2VAZXhhbXBsZS5jb20iLCJwdXJwb3NlIjoicGFzc3dvcmRfcmVzZXQiLCJleHAiOjE3MD"
    "AwMDA2MDB9.pYdbGlLpGbcxX3zQZPWDgBB2YMsq2f6-_D8BIJxEDZk"
)

POSITIVES = [
    (SIGNED, SIGNED),
    (UNSECURED, UNSECURED),
    (f"Authorization: Bearer {SIGNED}", SIGNED),
    (f"https://app.example.com/reset-password/{BH_01}", BH_01),
    (f"/reset-password/{BH_01}?x=1", BH_01),
    (f"https://app.example.com/signin?next=%2Fsignup%2F{SIGNED}", SIGNED),
    (f"token={SIGNED}&x=1", SIGNED),
    (f'{{"id_token":"{SIGNED}"}}', SIGNED),
]

NEAR_MISSES = [
    # a Mixpanel data= payload: base64 JSON, but one segment and no "alg"
    "eyJldmVudCI6IkVtYWlsIE9wZW5lZCIsInByb3BlcnRpZXMiOnsidG9rZW4iOiIwMTIzIn19",
    f"{b64({'typ': 'JWT'})}.{CLAIMS}.c2lnbmF0dXJl",  # header without alg
    f"{b64({'alg': 5})}.{CLAIMS}.c2lnbmF0dXJl",  # alg is not a name
    f"eyJub3QganNvbg.{CLAIMS}.c2lnbmF0dXJl",  # header is not JSON
    f"{HEADER}.{CLAIMS}",  # two segments
    "eyJ.x.y",
]


@pytest.mark.parametrize(("text", "token"), POSITIVES)
def test_jwt_is_found(text: str, token: str) -> None:
    assert found(JwtDetector(), text) == [token]


@pytest.mark.parametrize(("text", "token"), POSITIVES)
def test_jwt_is_found_through_the_scanner(text: str, token: str) -> None:
    assert scanned(JwtDetector(), text) == [token]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_base64_json_that_is_not_a_jwt_is_not_reported(text: str) -> None:
    assert found(JwtDetector(), text) == []


def test_reason_never_carries_the_claims() -> None:
    (span,) = JwtDetector().find(SIGNED)
    assert span.reason == "jwt header"
