"""The engine applied to single events, step by step."""

from __future__ import annotations

import pytest

from redline.engine import Engine, Hasher
from redline.events import Event, Kind
from redline.policy import parse_policy
from redline.sensitive import Sensitive

KEY = Sensitive("0123456789abcdef0123456789abcdef")

POLICY = """
version: 1
defaults:
  url_keep_params: ["utm_*"]
hash:
  key_id: k1
  key: {env: UNUSED_IN_TESTS}
all_events:
  properties:
    $browser: keep
    $current_url: url
    $referrer: url
    ip_prop: ip
    distinct_id: keep
events:
  checkout:
    properties:
      plan: keep
      price: keep
      email: hash
      note: redact
      items: keep
  "page_*":
    properties:
      title: keep
profiles:
  properties:
    $email: hash
    plan: keep
"""


@pytest.fixture
def engine() -> Engine:
    return Engine(parse_policy(POLICY, "test.yaml"), Hasher("k1", KEY))


def track(name: str, **props: object) -> Event:
    return Event(
        Kind.TRACK, name, dict(props), distinct_id="user-1", insert_id="abc-1", time=1.5
    )


def test_unknown_event_is_dropped_whole(engine: Engine) -> None:
    result = engine.apply(track("internal_debug", plan="pro"))

    assert result.event is None
    assert [f.action for f in result.findings] == ["drop_event"]


def test_unknown_property_is_dropped_and_reported_without_value(engine: Engine) -> None:
    result = engine.apply(track("checkout", plan="pro", secret_note="canary-7731"))

    assert result.event is not None
    assert result.event.properties == {"plan": "pro"}
    assert ("secret_note", "drop") in [(f.path, f.action) for f in result.findings]
    assert "canary-7731" not in repr(result.findings)


def test_glob_event_rules_apply(engine: Engine) -> None:
    result = engine.apply(track("page_settings", title="Settings", plan="x"))

    assert result.event is not None
    assert result.event.properties == {"title": "Settings"}


def test_hash_is_keyed_stable_and_carries_key_id(engine: Engine) -> None:
    first = engine.apply(track("checkout", email="jane.doe@example.com")).event
    second = engine.apply(track("checkout", email="jane.doe@example.com")).event
    other = (
        Engine(
            parse_policy(POLICY, "test.yaml"),
            Hasher("k1", Sensitive("another-key-of-32-bytes-long!!!!")),
        )
        .apply(track("checkout", email="jane.doe@example.com"))
        .event
    )

    assert first is not None and second is not None and other is not None
    digest = first.properties["email"]
    assert digest.startswith("k1:") and len(digest) == 3 + 32
    assert digest == second.properties["email"]
    assert digest != other.properties["email"]
    # never a bare hash
    import hashlib

    bare = hashlib.sha256(b"jane.doe@example.com").hexdigest()
    assert digest[3:] not in bare


def test_kept_strings_are_still_scanned(engine: Engine) -> None:
    result = engine.apply(track("checkout", plan="pro for jane.doe@example.com"))

    assert result.event is not None
    assert result.event.properties["plan"] == "pro for [EMAIL]"
    assert ("plan", "redact", "EMAIL") in [
        (f.path, f.action, f.detector) for f in result.findings
    ]


def test_nested_values_and_keys_are_scanned(engine: Engine) -> None:
    items = [
        {"sku": "A-1", "buyer": "jane.doe@example.com"},
        {"jane.doe@example.com": 1},
    ]
    result = engine.apply(track("checkout", items=items))

    assert result.event is not None
    assert result.event.properties["items"] == [
        {"sku": "A-1", "buyer": "[EMAIL]"},
        {"[EMAIL]": 1},
    ]


def test_numbers_and_booleans_pass_unchanged(engine: Engine) -> None:
    result = engine.apply(track("checkout", price=20.0, plan=True))

    assert result.event is not None
    assert result.event.properties == {"price": 20.0, "plan": True}


def test_url_keeps_route_and_allowed_params_only(engine: Engine) -> None:
    url = (
        "https://user:pw@app.example.com/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0."
        "c2lnbmF0dXJlLXRlc3Q?email=jane.doe%40example.com&utm_source=news#token=abc"
    )
    result = engine.apply(track("checkout", **{"$current_url": url}))

    assert result.event is not None
    clean = result.event.properties["$current_url"]
    assert clean == "https://app.example.com/reset/[JWT]?utm_source=news"


def test_url_path_with_email_and_long_number(engine: Engine) -> None:
    url = "https://app.example.com/users/jane.doe%40example.com/orders/123456789012"
    result = engine.apply(track("checkout", **{"$referrer": url}))

    assert result.event is not None
    assert result.event.properties["$referrer"] == (
        "https://app.example.com/users/[EMAIL]/orders/[NUMBER]"
    )


def test_non_url_in_url_rule_is_scanned_not_parsed(engine: Engine) -> None:
    result = engine.apply(track("checkout", **{"$referrer": "$direct"}))

    assert result.event is not None
    assert result.event.properties["$referrer"] == "$direct"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.57", "203.0.113.0"),
        ("2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("::ffff:203.0.113.57", "203.0.113.0"),
        ("fe80::1%eth0", "fe80::"),
    ],
)
def test_ip_properties_are_truncated(engine: Engine, value: str, expected: str) -> None:
    result = engine.apply(track("checkout", ip_prop=value))

    assert result.event is not None
    assert result.event.properties["ip_prop"] == expected


def test_ip_property_that_is_not_an_ip_is_dropped(engine: Engine) -> None:
    result = engine.apply(track("checkout", ip_prop="not an address"))

    assert result.event is not None
    assert "ip_prop" not in result.event.properties


def test_client_ip_is_truncated_by_default(engine: Engine) -> None:
    event = track("checkout")
    event.ip = "198.51.100.77"

    result = engine.apply(event)

    assert result.event is not None and result.event.ip == "198.51.100.0"


def test_email_as_distinct_id_is_hashed_not_redacted(engine: Engine) -> None:
    event = track("checkout")
    event.distinct_id = "jane.doe@example.com"

    result = engine.apply(event)

    assert result.event is not None
    assert result.event.distinct_id is not None
    assert result.event.distinct_id.startswith("k1:")
    assert ("distinct_id", "hash", "EMAIL") in [
        (f.path, f.action, f.detector) for f in result.findings
    ]


def test_insert_id_is_derived_when_missing_and_stable(engine: Engine) -> None:
    event = track("checkout", plan="pro")
    event.insert_id = None
    again = track("checkout", plan="pro")
    again.insert_id = None

    first = engine.apply(event).event
    second = engine.apply(again).event

    assert first is not None and second is not None
    assert first.insert_id == second.insert_id
    assert first.insert_id is not None and len(first.insert_id) == 32


def test_invalid_client_insert_id_is_replaced(engine: Engine) -> None:
    event = track("checkout")
    event.insert_id = "jane.doe@example.com"

    result = engine.apply(event)

    assert result.event is not None and result.event.insert_id != "jane.doe@example.com"


def test_profile_operations_apply_profile_rules(engine: Engine) -> None:
    event = Event(
        Kind.PROFILE,
        "$profile",
        {
            "$set": {"$email": "jane.doe@example.com", "$name": "Jane", "plan": "pro"},
            "$unset": ["$name", "plan"],
            "$device_id": "abc",
        },
        distinct_id="user-1",
    )

    result = engine.apply(event)

    assert result.event is not None
    props = result.event.properties
    assert props["$set"]["plan"] == "pro"
    assert props["$set"]["$email"].startswith("k1:")
    assert "$name" not in props["$set"]
    assert props["$unset"] == ["plan"]
    assert "$device_id" not in props


def test_applying_twice_changes_nothing_more(engine: Engine) -> None:
    event = track(
        "checkout",
        plan="call me at jane.doe@example.com",
        **{"$current_url": "https://a.example.com/x?utm_source=y&e=1#f"},
    )
    once = engine.apply(event).event
    assert once is not None
    twice = engine.apply(once).event

    assert twice is not None
    assert twice.properties == once.properties


def test_drop_on_detection_policy_drops_the_property() -> None:
    policy = parse_policy(
        "version: 1\ndefaults: {on_detection: drop}\n"
        "events: {e: {properties: {a: keep, b: keep, c: redact}}}\n",
        "t.yaml",
    )
    engine = Engine(policy, Hasher("local", KEY))

    result = engine.apply(
        track("e", a="ok", b="jane.doe@example.com", c="mail jane.doe@example.com")
    )

    assert result.event is not None
    assert result.event.properties == {"a": "ok", "c": "mail [EMAIL]"}


def test_empty_allowlist_drops_everything() -> None:
    engine = Engine(parse_policy("version: 1\n", "t.yaml"), Hasher("local", KEY))

    assert engine.apply(track("anything", a=1)).event is None


def test_engine_refuses_a_hasher_with_another_key_id() -> None:
    with pytest.raises(ValueError, match="hash key"):
        Engine(parse_policy(POLICY, "t.yaml"), Hasher("k2", KEY))
