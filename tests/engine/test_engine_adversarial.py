"""The engine against hostile or careless input: personal data in names,
identifiers, envelopes, odd URLs and odd numbers. Each table holds the
attacks that were holes once and those that were always handled, so both
stay handled."""

from __future__ import annotations

from typing import Any

import pytest

from redline.engine import Engine, Hasher
from redline.events import Event, Kind
from redline.policy import parse_policy
from redline.sensitive import Sensitive

KEY = Sensitive("0123456789abcdef0123456789abcdef")
EMAIL = "jane.doe@example.com"
CARD = "4111111111111111"

ALLOWLIST = """
version: 1
defaults:
  url_keep_params: ["utm_*", "ref"]
all_events:
  properties:
    distinct_id: hash
    $current_url: url
    addr: ip
events:
  checkout:
    properties:
      plan: keep
      price: keep
      items: keep
      device: hash
profiles:
  properties:
    $email: hash
    $name: drop
    plan: keep
    tags: keep
groups:
  properties:
    plan: keep
"""

KEEP_EVERYTHING = """
version: 1
defaults:
  unknown_events: keep
  unknown_properties: keep
  client_ip: keep
events:
  "page_*":
    properties:
      title: keep
"""


def engine(policy: str = ALLOWLIST) -> Engine:
    return Engine(parse_policy(policy, "t.yaml"), Hasher("local", KEY))


def track(name: str = "checkout", **properties: Any) -> Event:
    return Event(Kind.TRACK, name, properties, "user-1", "id-1", 1764230410)


def clean(event: Event, policy: str = ALLOWLIST) -> Event:
    result = engine(policy).apply(event)
    assert result.event is not None
    return result.event


# -- URLs ------------------------------------------------------------------

URLS = {
    # holes once
    "unclosed IPv6 host": ("https://[::1/reset?t=zq1", None),
    "host changed by NFKC": ("https://ex\u2100ample.com/?e=" + EMAIL, None),
    "email in a kept param name": (
        "https://a.example.com/p?utm_" + EMAIL + "=1&utm_source=x",
        "https://a.example.com/p?utm_source=x",
    ),
    "session id in matrix params": (
        "https://a.example.com/cart;jsessionid=0123456789abcdef0123456789abcdefAB",
        "https://a.example.com/cart;[TOKEN]",
    ),
    "token after a word in a segment": (
        "https://a.example.com/reset-0123456789abcdef0123456789abcdef0123/x",
        "https://a.example.com/[TOKEN]/x",
    ),
    "javascript URL": ("javascript:track('" + EMAIL + "')", "javascript:"),
    "data URL": ("data:text/plain;base64,amFuZUBleGFtcGxlLmNvbQ==", "data:"),
    "mailto URL": ("mailto:" + EMAIL, "mailto:"),
    "email host": ("https://jane%40example.com/x", "https://[EMAIL]/x"),
    "backslash authority": (
        "https:/\\\\jane:hunter2@h.example.com/",
        "https://h.example.com/",
    ),
    "no slashes after the scheme": (
        "https:jane:pw@h.example.com/x",
        "https://h.example.com/x",
    ),
    "backslashes as slashes": (
        "https://h.example.com\\reset\\" + CARD,
        "https://h.example.com/reset/[CREDIT_CARD]",
    ),
    "schemeless with a query": (
        "app.example.com/reset?t=zq1s3cr3t",
        "app.example.com/reset",
    ),
    "tab inside the scheme": (
        "ht\ttps://jane:pw@h.example.com/",
        "https://h.example.com/",
    ),
    # always handled
    "userinfo without password": (
        "https://jane@h.example.com/x",
        "https://h.example.com/x",
    ),
    "fragment with a token": (
        "https://h.example.com/cb#access_token=zq1",
        "https://h.example.com/cb",
    ),
    "percent-encoded email in path": (
        "https://h.example.com/u/jane.doe%40example.com",
        "https://h.example.com/u/[EMAIL]",
    ),
    "double-encoded email in path": (
        "https://h.example.com/u/jane.doe%2540example.com",
        "https://h.example.com/u/[EMAIL]",
    ),
    "double-encoded email in kept param": (
        "https://h.example.com/?utm_source=jane.doe%2540example.com",
        "https://h.example.com/?utm_source=[EMAIL]",
    ),
    "email as a query key": (
        "https://h.example.com/?" + EMAIL,
        "https://h.example.com/",
    ),
    "repeated kept param": (
        "https://h.example.com/?ref=a&ref=" + EMAIL,
        "https://h.example.com/?ref=a&ref=[EMAIL]",
    ),
    "relative path": ("/users/" + EMAIL + "/edit", "/users/[EMAIL]/edit"),
    "scheme-relative with userinfo": (
        "//jane:pw@h.example.com/x?q=1",
        "//h.example.com/x",
    ),
    "IDN host": ("https://bücher.example/x?e=1", "https://bücher.example/x"),
    "plain word": ("$direct", "$direct"),
}


@pytest.mark.parametrize("case", sorted(URLS))
def test_url_rule_leaves_nothing_raw(case: str) -> None:
    url, expected = URLS[case]

    result = engine().apply(track(**{"$current_url": url}))

    assert result.event is not None
    assert result.event.properties.get("$current_url") == expected
    if expected is None:
        assert ("$current_url", "drop", "UNPARSEABLE_URL") in [
            (f.path, f.action, f.detector) for f in result.findings
        ]


def test_scrubbed_urls_are_stable_when_scrubbed_again() -> None:
    once = clean(track(**{"$current_url": URLS["backslash authority"][0]}))

    twice = clean(once)

    assert twice.properties == once.properties


# -- names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("signup by " + EMAIL, "signup by [EMAIL]"),
        ("page_" + EMAIL, "[EMAIL]"),
        ("page_settings", "page_settings"),
    ],
)
def test_event_names_are_scanned(name: str, expected: str) -> None:
    assert clean(track(name), KEEP_EVERYTHING).name == expected


def test_event_name_with_a_detection_drops_the_event_under_drop_policy() -> None:
    policy = "version: 1\ndefaults: {unknown_events: keep, on_detection: drop}\n"

    result = engine(policy).apply(track("signup " + EMAIL))

    assert result.event is None
    assert EMAIL not in repr(result.findings)


def test_unknown_property_names_are_scanned_when_kept() -> None:
    event = track("e", **{EMAIL: 1, "ok": {EMAIL: 2}})

    assert clean(event, KEEP_EVERYTHING).properties == {
        "[EMAIL]": 1,
        "ok": {"[EMAIL]": 2},
    }


def test_unknown_property_names_in_profile_operations_are_scanned() -> None:
    event = Event(Kind.PROFILE, "$profile", {"$set": {EMAIL: "x"}}, "user-1")

    assert clean(event, KEEP_EVERYTHING).properties == {"$set": {"[EMAIL]": "x"}}


def test_allowlisted_names_pass_and_others_are_dropped() -> None:
    event = track(**{"plan": "pro", EMAIL: "x", "items": [{EMAIL: 1}]})

    assert clean(event).properties == {"plan": "pro", "items": [{"[EMAIL]": 1}]}


# -- profile and group records ---------------------------------------------


def profile(**properties: Any) -> Event:
    return Event(Kind.PROFILE, "$profile", properties, "user-1")


PROFILE_OPS = {
    # holes once
    "value of $delete": (ALLOWLIST, {"$delete": EMAIL}, {"$delete": ""}),
    "unknown name in $unset": (
        KEEP_EVERYTHING,
        {"$unset": [EMAIL, "plan"]},
        {"$unset": ["plan"]},
    ),
    # always handled
    "dropped name in $unset": (
        ALLOWLIST,
        {"$unset": ["$name", "plan", EMAIL]},
        {"$unset": ["plan"]},
    ),
    "$union value": (
        ALLOWLIST,
        {"$union": {"tags": [EMAIL, "a"]}},
        {"$union": {"tags": ["[EMAIL]", "a"]}},
    ),
    "$append value": (
        ALLOWLIST,
        {"$append": {"tags": "call +1 202-555-0187"}},
        {"$append": {"tags": "call [PHONE]"}},
    ),
    "$set of a dropped property": (
        ALLOWLIST,
        {"$set": {"$name": "Jane"}},
        {"$set": {}},
    ),
}


@pytest.mark.parametrize("case", sorted(PROFILE_OPS))
def test_profile_operations_leave_nothing_raw(case: str) -> None:
    policy, operations, expected = PROFILE_OPS[case]

    assert clean(profile(**operations), policy).properties == expected


@pytest.mark.parametrize("policy", [ALLOWLIST, KEEP_EVERYTHING], ids=["allow", "keep"])
def test_envelope_strings_are_scanned(policy: str) -> None:
    group = Event(
        Kind.GROUP,
        "$group",
        {"$set": {"plan": "x"}},
        "acme",
        envelope={"$group_key": EMAIL},
    )
    person = profile(**{"$set": {"plan": "x"}})
    person.envelope = {"$ignore_time": EMAIL, "$ignore_alias": True}

    assert clean(group, policy).envelope == {"$group_key": "[EMAIL]"}
    assert clean(person, policy).envelope == {
        "$ignore_time": "[EMAIL]",
        "$ignore_alias": True,
    }


def test_unknown_top_level_keys_are_scanned_when_kept() -> None:
    event = track("e")
    event.envelope = {"extra": {EMAIL: {"note": "mail " + EMAIL}, "n": 1}}

    assert clean(event, KEEP_EVERYTHING).envelope == {
        "extra": {"[EMAIL]": {"note": "mail [EMAIL]"}, "n": 1}
    }


def test_unknown_top_level_keys_are_dropped_under_an_allowlist() -> None:
    event = track()
    event.envelope = {"extra": {"note": EMAIL}}

    assert clean(event).envelope == {}


# -- identifiers and addresses ---------------------------------------------


@pytest.mark.parametrize(
    ("insert_id", "kept"),
    [
        ("4111-1111-1111-1111", False),
        (CARD, False),
        ("AKIAIOSFODNN7EXAMPLE", False),
        ("k8q2m1z7x0p4w9r3", True),
        ("19b3d7013e434863afd3476de80a894e", True),
        ("cf61ae8a-fa9b-49fc-9743-a8d581b39095", True),
    ],
)
def test_insert_ids_carrying_personal_data_are_replaced(
    insert_id: str, kept: bool
) -> None:
    event = track()
    event.insert_id = insert_id

    result = clean(event)

    assert (result.insert_id == insert_id) is kept
    assert result.insert_id == clean(event).insert_id  # stable across retries


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        (EMAIL, None),
        ("203.0.113.57", "203.0.113.57"),
        ("fe80::1%" + EMAIL, "fe80::1"),
        ("::ffff:203.0.113.57", "203.0.113.57"),
    ],
)
def test_kept_client_ip_is_kept_only_as_an_address(ip: str, expected: str) -> None:
    event = track("e")
    event.ip = ip

    assert clean(event, KEEP_EVERYTHING).ip == expected


@pytest.mark.parametrize("value", [3232235777, ["203.0.113.57"], {"v4": "1.2.3.4"}])
def test_ip_rule_drops_addresses_that_are_not_strings(value: object) -> None:
    assert "addr" not in clean(track(addr=value)).properties


@pytest.mark.parametrize(
    "distinct_id",
    [EMAIL, "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", CARD, "x" * 70_000 + EMAIL],  # noqa: RUF001
    ids=["email", "full-width email", "card", "longer than the scanner reads"],
)
def test_distinct_ids_with_personal_data_are_hashed(distinct_id: str) -> None:
    event = track("e")
    event.distinct_id = distinct_id

    result = clean(event, KEEP_EVERYTHING)

    assert result.distinct_id is not None and result.distinct_id.startswith("local:")


# -- numbers ---------------------------------------------------------------

NUMBERS = {
    "card number as a number": (int(CARD), "[CREDIT_CARD]"),
    "negative card number": (-int(CARD), "[CREDIT_CARD]"),
    "wider than 64 bits": (2**70, float(2**70)),
    "wider than a double": (10**400, None),
    "milliseconds since the epoch": (1764230410123, 1764230410123),
    "small number": (42, 42),
}


@pytest.mark.parametrize("case", sorted(NUMBERS))
def test_long_integers_are_scanned_and_bounded(case: str) -> None:
    value, expected = NUMBERS[case]

    properties = clean(track(price=value, items=[value])).properties

    assert properties.get("price") == expected
    assert type(properties.get("price")) is type(expected)
    assert properties["items"] == ([] if expected is None else [expected])


def test_integers_wider_than_64_bits_can_be_hashed_and_give_an_insert_id() -> None:
    event = track(device=2**70, plan=10**30)
    event.insert_id = None

    result = clean(event)

    assert result.properties["device"].startswith("local:")
    assert result.insert_id is not None and len(result.insert_id) == 32


@pytest.mark.parametrize(
    ("insert_id", "echoed"),
    [
        ("k8q2m1z7x0p4w9r3", "k8q2m1z7x0p4w9r3"),
        (CARD, None),
        ("4111-1111-1111-1111", None),
        ("not well formed!", None),
        (None, None),
    ],
)
def test_only_clean_insert_ids_may_be_echoed(
    insert_id: str | None, echoed: str | None
) -> None:
    assert engine().safe_insert_id(insert_id) == echoed
