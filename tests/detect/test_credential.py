"""Credential detector: positives and near misses.

Test vectors: made-up tokens in the places RFC 6750 (Bearer), RFC 7617
(Basic: "dXNlcjpwYXNz" is base64 of "user:pass") and RFC 3986 (user
information in URLs) put them; the signed S3 URL and bearer header of leak
case BH-11, and the pasted password of BH-13. Near misses are the same
names without secrets (BH-03's campaignID, BH-07's id="password"), words
after "Bearer", and values that are already redaction markers.
"""

from __future__ import annotations

import pytest

from redline.detect import CredentialDetector

from ._util import found, scanned

SIG = "6dbc186435fbe705530845a711bd166065be702467748d55ab655e927d872ccc"

POSITIVES = [
    (
        "Request failed: 403 (Authorization: Bearer tok_TESTONLY_7d3f9a1c5e0b42f8a6c1)",
        ["tok_TESTONLY_7d3f9a1c5e0b42f8a6c1"],
    ),
    ("authorization=Bearer%20abc123def456", ["abc123def456"]),
    ("Authorization: Basic dXNlcjpwYXNz", ["dXNlcjpwYXNz"]),
    ("postgres://admin:s3cret@db.example.com:5432/app", ["admin:s3cret"]),
    ("https://jane:hunter2@example.com/", ["jane:hunter2"]),
    ("https://app.example.com/cb?code=4/0AfJohXk&state=xyz", ["4/0AfJohXk"]),
    ("/login?user=jane&password=hunter2", ["hunter2"]),
    ("?pwd=abc", ["abc"]),
    ("?access_token=ya29.a0AfB_byC&scope=email", ["ya29.a0AfB_byC"]),
    ("?api_key=0123456789abcdef0123456789abcdef", ["0123456789abcdef0123456789abcdef"]),
    ("?apiKey=abc123&page=2", ["abc123"]),
    ("?key=value123", ["value123"]),
    ("?auth=xyz987&x=1", ["xyz987"]),
    ("?client_secret=shh-123", ["shh-123"]),
    ("?ids[]=1&token[]=tkn9", ["tkn9"]),
    (f"report.js?X-Amz-Date=20240610T120000Z&X-Amz-Signature={SIG}", [SIG]),
    ("next=%2Fcb%3Ftoken%3Dabc123%26x%3D1", ["abc123"]),
    (
        "Invalid API Key provided: Tr0ub4dor&3-correct-horse",
        ["Tr0ub4dor&3-correct-horse"],
    ),
    ('{"user":"jane","password":"hunter2!"}', ["hunter2!"]),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", ["wJalrXUtnFEMI/K7MDENG"]),
    ("db password: Pa55word", ["Pa55word"]),
    # an opaque token of letters alone (one in a few hundred random base62
    # tokens of this length has no digit)
    (
        "GET /v1/me\nAuthorization: Bearer WvIEvJmCjMRWbggsGhicRlFIAMaPgfbytq\n",
        ["WvIEvJmCjMRWbggsGhicRlFIAMaPgfbytq"],
    ),
]

NEAR_MISSES = [
    "?campaignID=0123456789abcdef0123456789abcdef&contactID=10001&h=1c2ad484",
    "?utm_source=Email&utm_medium=Email&utm_campaign=BlogPromotion",
    "?country_code=US&sort_key=name",
    '"password"nth-child="1"',  # BH-07: an element id
    'a:attr__id="password"href="/account/reset"',
    "Reset password",
    "password: incorrect",  # a word, not a secret
    "password: ********",
    "Use Bearer authentication for this API",
    "Bearer XMLHttpRequestEventTarget",  # CamelCase names turn case rarely
    "Bearer AuthenticationHandlerMiddleware",
    'WWW-Authenticate: Basic realm="api"',
    "Basic Plan",
    "?token=&x=1",  # empty
    "?token=null",
    "?token=[CREDENTIAL]",  # already redacted
    "Authorization: Bearer [CREDENTIAL]",
    "https://[CREDENTIAL]@db.example.com/",
    "https://user@example.com/",  # no password
    "https://app.example.com/api-keys",
    "ip=1&_=1718035200000&ver=1.160.0&compression=gzip-js",
]


@pytest.mark.parametrize(("text", "values"), POSITIVES)
def test_credential_is_found(text: str, values: list[str]) -> None:
    assert found(CredentialDetector(), text) == values


@pytest.mark.parametrize(("text", "values"), POSITIVES)
def test_credential_is_found_through_the_scanner(text: str, values: list[str]) -> None:
    assert scanned(CredentialDetector(), text) == values


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_name_without_a_secret_is_not_reported(text: str) -> None:
    assert found(CredentialDetector(), text) == []


def test_query_parameter_value_ends_at_the_next_parameter() -> None:
    # a phrase rule alone would take "hunter2&next=1" as the password
    assert found(CredentialDetector(), "password=hunter2&next=1") == ["hunter2"]
