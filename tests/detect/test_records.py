"""redact-all over records of any shape: every string at any depth, keys
included, and values that are secret only by the name they are filed under."""

from __future__ import annotations

from typing import Any

import pytest

from redline.detect.records import MAX_DEPTH, RecordRedactor, secret_key


def test_every_string_at_any_depth_and_every_key_is_scanned() -> None:
    record = {
        "type": "track",
        "context": {"page": {"url": "https://x.example/?e=jane%40example.com"}},
        "jane@example.com": [1, {"note": ["call +1 202-555-0143 today"]}],
        "card": 4111111111111111,
        "ok": True,
        "n": None,
        "price": 12.5,
    }
    clean, counts = RecordRedactor().redact(record)
    assert clean == {
        "type": "track",
        "context": {"page": {"url": "https://x.example/?e=[EMAIL]"}},
        "[EMAIL]": [1, {"note": ["call [PHONE] today"]}],
        "card": "[CREDIT_CARD]",
        "ok": True,
        "n": None,
        "price": 12.5,
    }
    assert counts == {"EMAIL": 2, "PHONE": 1, "CREDIT_CARD": 1}


@pytest.mark.parametrize(
    "key",
    ["password", "X-Session-Token", "x-api-key", "client_secret", "connect.sid",
     "sessionid", "_session_id", "X-Amz-Signature", "refresh_token", "Private-Token"],
)  # fmt: skip
def test_keys_that_name_secrets(key: str) -> None:
    assert secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["token", "$token", "api_key", "publishable_key", "max_tokens", "session_count",
     "$device_id", "plan", "content_hash", "$session_id", "$window_id"],
)  # fmt: skip
def test_keys_that_do_not(key: str) -> None:
    assert not secret_key(key)


def test_a_value_under_a_secret_name_is_replaced_whole() -> None:
    record = {
        "token": "0123456789abcdef0123456789abcdef",  # Mixpanel's project token
        "headers": {
            "X-Session-Token": "9f8a7b6c5d4e3f2a1b0c",
            "Accept": "application/json",
            "Authorization": "Bearer abc.def-1234567",
        },
        "password": "hunter22",
        "session": "on",  # too short to be a secret
    }
    clean, counts = RecordRedactor().redact(record)
    assert clean == {
        "token": "0123456789abcdef0123456789abcdef",
        "headers": {
            "X-Session-Token": "[CREDENTIAL]",
            "Accept": "application/json",
            "Authorization": "Bearer [CREDENTIAL]",
        },
        "password": "[CREDENTIAL]",
        "session": "on",
    }
    assert counts == {"CREDENTIAL": 3}


def test_nesting_too_deep_is_masked_not_passed_on() -> None:
    record: Any = "jane@example.com"
    for _ in range(MAX_DEPTH + 5):
        record = [record]
    clean, counts = RecordRedactor().redact({"deep": record})
    assert "jane@example.com" not in str(clean)
    assert counts.get("UNSCANNABLE") == 1
