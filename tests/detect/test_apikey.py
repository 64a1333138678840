"""API key detector: positives and near misses.

Test vectors: AWS's documentation key id AKIAIOSFODNN7EXAMPLE, and keys
built here from each provider's documented prefix and body alphabet with
made-up bodies. Near misses are the short prefixes products show in their
UI (``sk-proj-TEST`` from /work/shared/examples/mixpanel_events.jsonl),
public client keys that must pass (PostHog ``phc_`` in leak case BH-16,
Stripe ``pk_``), and words that start like a prefix.
"""

from __future__ import annotations

import pytest

from redline.detect import ApiKeyDetector

from ._util import found, scanned

BODY = "A1b2C3d4E5f6G7h8J9k0" * 3  # 60 characters, letters and digits
HEX = "0123456789abcdef" * 2

KEYS = [
    f"sk-proj-{BODY}",
    f"sk-svcacct-{BODY}",
    f"sk-{BODY[:48]}",
    f"sk-ant-api03-{BODY}-{BODY[:20]}",
    f"sk_live_{BODY[:24]}",
    f"sk_test_{BODY[:24]}",
    f"rk_live_{BODY[:24]}",
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAIOSFODNN7EXAMPLE",
    f"ghp_{BODY[:36]}",
    f"gho_{BODY[:36]}",
    f"ghs_{BODY[:36]}",
    f"ghu_{BODY[:36]}",
    f"github_pat_{BODY[:22]}_{BODY[:59]}",
    f"glpat-{BODY[:20]}",
    "xoxb-1234567890-1234567890123-" + BODY[:24],
    "xoxp-1234567890-" + BODY[:24],
    f"AIza{BODY[:35]}",
    f"SK{HEX}",
    f"SG.{BODY[:22]}.{BODY[:43]}",
    f"npm_{BODY[:36]}",
]
PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    "-----END PRIVATE KEY-----"
)
RSA_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----"
)

POSITIVES = [(key, key) for key in KEYS] + [
    # bodies without a digit, or ending in "-" and letters
    (
        "AIzaXhwQ9KowDvw31955LbrBM9BgjvgmyGgN-JK",
        "AIzaXhwQ9KowDvw31955LbrBM9BgjvgmyGgN-JK",
    ),
    ("glpat-MuagEGMiYNxIWCFsIwbM", "glpat-MuagEGMiYNxIWCFsIwbM"),
    (
        "Authorization: Bearer ya29.a0AfH6SMBx3k2jq9lX7ZpQwRt5uVy8NmKcLd",
        "ya29.a0AfH6SMBx3k2jq9lX7ZpQwRt5uVy8NmKcLd",
    ),
    (f"Invalid API Key provided: sk_live_{BODY[:24]}", f"sk_live_{BODY[:24]}"),
    (f"OPENAI_API_KEY=sk-proj-{BODY}", f"sk-proj-{BODY}"),
    (
        "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240610%2Fus-east-1",
        "AKIAIOSFODNN7EXAMPLE",
    ),
    (f"key=AIza{BODY[:35]}&cx=1", f"AIza{BODY[:35]}"),
    (f"config: {PEM}\nrest", PEM),
    (f'{{"key": "{RSA_PEM}"}}', RSA_PEM),
]

NEAR_MISSES = [
    "sk-proj-TEST",  # a prefix shown in a UI (mixpanel_events.jsonl)
    "sk-ant-api03-abc",
    "phc_TESTprojectKEY00000000000000000000000000000",  # BH-16: public key
    f"pk_live_{BODY[:24]}",  # Stripe publishable key: public
    f"pk_test_{BODY[:24]}",
    "AKIA1234",  # too short
    "AKIAIOSFODNN7EXAMPLE2",  # too long for an access key id
    "AKIAIOSFODNN1EXAMPLE",  # "1" is not in the key id alphabet
    "ghp_short",
    "risk-assessment-framework-for-enterprise-teams",
    "task_live_" + BODY[:24],
    f"sk-{'abcdefghij' * 4}",  # legacy shape without a digit: a slug
    "glpat-readme",
    "xoxb-",
    f"SK{HEX[:31]}",  # 31 hex digits
    "SG.short.value",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
]


@pytest.mark.parametrize(("text", "key"), POSITIVES)
def test_api_key_is_found(text: str, key: str) -> None:
    assert found(ApiKeyDetector(), text) == [key]


@pytest.mark.parametrize(("text", "key"), POSITIVES)
def test_api_key_is_found_through_the_scanner(text: str, key: str) -> None:
    assert scanned(ApiKeyDetector(), text) == [key]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_short_prefix_or_public_key_is_not_reported(text: str) -> None:
    assert found(ApiKeyDetector(), text) == []


def test_truncated_pem_block_is_reported_to_the_end() -> None:
    text = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB"
    (span,) = ApiKeyDetector().find(text)
    assert (span.start, span.end) == (0, len(text))
    assert span.reason == "pem private key, unterminated"


def test_reason_names_the_provider() -> None:
    (span,) = ApiKeyDetector().find("AKIAIOSFODNN7EXAMPLE")
    assert span.reason == "aws key shape"
