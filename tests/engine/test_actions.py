"""The value actions (mask, truncate, user_agent, bucket, enum), type
checks and nested rules, applied by the engine to single events."""

from __future__ import annotations

from typing import Any

import pytest

from redline.engine import Engine, Hasher, Result
from redline.events import Event, Kind
from redline.policy import parse_policy
from redline.sensitive import Sensitive

KEY = Sensitive("0123456789abcdef0123456789abcdef")

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def engine_for(properties: str, defaults: str = "") -> Engine:
    text = f"version: 1\n{defaults}events:\n  e:\n    properties:\n{properties}"
    return Engine(parse_policy(text, "test.yaml"), Hasher("k1", KEY))


def run(engine: Engine, **props: Any) -> Result:
    return engine.apply(
        Event(Kind.TRACK, "e", dict(props), distinct_id="u-1", insert_id="id-1")
    )


def props(engine: Engine, **values: Any) -> dict[str, Any]:
    result = run(engine, **values)
    assert result.event is not None
    return result.event.properties


def seen(result: Result) -> list[tuple[str, str, str | None]]:
    return [(f.path, f.action, f.detector) for f in result.findings]


# -- mask ---------------------------------------------------------------

MASK = engine_for(
    "      last4: {action: mask, keep_last: 4}\n"
    "      first2: {action: mask, keep_first: 2}\n"
    "      both: {action: mask, keep_first: 1, keep_last: 1}\n"
    "      none: {action: mask}\n"
    "      wide: {action: mask, keep_first: 30}\n"
)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("last4", "4111111111111111", "************1111"),
        ("last4", 4111111111111111, "************1111"),  # a number: its digits
        ("first2", "Paris", "Pa***"),
        ("both", "secret", "s****t"),
        ("none", "abc", "***"),
        ("last4", "", ""),
        ("last4", "abcd", "****"),  # nothing would be hidden: masked whole
        ("last4", "abc", "***"),
        ("first2", "Ünïcødé", "Ün*****"),  # code points, not bytes
        ("first2", "😀😀😀", "😀😀*"),
        ("last4", 12.5, "12.5"[:0] + "****"),
        ("last4", True, True),  # one bit: unchanged
        ("last4", None, None),
    ],
)
def test_mask_keeps_first_or_last_characters(
    key: str, value: Any, expected: Any
) -> None:
    assert props(MASK, **{key: value}) == {key: expected}


def test_mask_applies_to_every_string_in_lists_and_objects() -> None:
    value = {"a": ["abcdef", 123456789], "b": {"c": "xyzxyz", "d": False}}

    assert props(MASK, first2=value) == {
        "first2": {"a": ["ab****", "12*******"], "b": {"c": "xy****", "d": False}}
    }


def test_masked_value_is_still_scanned_in_the_kept_part() -> None:
    result = run(MASK, wide="mail jane.doe@example.com now please")

    assert result.event is not None
    assert result.event.properties["wide"].startswith("mail [EMAIL]")
    assert ("wide", "redact", "EMAIL") in seen(result)
    assert "jane.doe" not in repr(result)


# -- truncate -----------------------------------------------------------

TRUNCATE = engine_for("      t: {action: truncate, max_length: 8}\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("short", "short"),
        ("exactly8", "exactly8"),
        ("a longer sentence", "a longer"),
        ("", ""),
        ("ÅÅÅÅÅÅÅÅÅÅ", "ÅÅÅÅÅÅÅÅ"),
        (12345678901, 12345678901),  # numbers are not cut
        (["abcdefghij", 3, None], ["abcdefgh", 3, None]),
        ({"k": "abcdefghij"}, {"k": "abcdefgh"}),
    ],
)
def test_truncate_cuts_strings_to_max_length(value: Any, expected: Any) -> None:
    assert props(TRUNCATE, t=value) == {"t": expected}


def test_truncate_redacts_before_cutting_and_never_splits_a_placeholder() -> None:
    # the cut falls inside "[EMAIL]": the partial placeholder goes
    result = run(TRUNCATE, t="hi jane.doe@example.com")

    assert result.event is not None
    assert result.event.properties["t"] == "hi "
    assert ("t", "redact", "EMAIL") in seen(result)
    assert ("t", "truncate", None) in seen(result)


def test_truncate_keeps_a_whole_placeholder_that_fits() -> None:
    engine = engine_for("      t: {action: truncate, max_length: 12}\n")

    assert props(engine, t="jane.doe@example.com wrote this") == {"t": "[EMAIL] wrot"}


def test_truncate_under_drop_on_detection_drops_the_property() -> None:
    engine = engine_for(
        "      t: {action: truncate, max_length: 5}\n",
        "defaults:\n  on_detection: drop\n",
    )

    assert props(engine, t="call +1 415 555 0132 today") == {}


# -- user_agent ---------------------------------------------------------

UA = engine_for("      ua: user_agent\n      uas: {action: user_agent}\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (CHROME, "Chrome 120 / Windows"),
        (IPHONE, "Mobile Safari 17 / iOS"),
        (FIREFOX_LINUX, "Firefox 121 / Linux"),
        ("curl/8.4.0", "curl 8 / Other"),
        ("", "Other / Other"),
        ("not a browser at all", "Other / Other"),
    ],
)
def test_user_agent_is_generalised_to_family_major_and_os(
    value: str, expected: str
) -> None:
    assert props(UA, ua=value) == {"ua": expected}


def test_user_agent_that_is_not_a_string_is_dropped() -> None:
    result = run(UA, ua=42, uas={"a": 1})

    assert result.event is not None
    assert result.event.properties == {"uas": {}}
    assert ("ua", "drop", "TYPE_MISMATCH") in seen(result)


def test_user_agent_output_is_scanned_and_long_input_is_bounded() -> None:
    # a made-up app puts an address where a family name is read from
    crafted = "jane.doe@example.com/1.0 " + "x" * 100_000

    result = run(UA, ua=crafted)

    assert result.event is not None
    assert "jane.doe" not in repr(result.event.properties)


def test_user_agents_in_a_list_are_each_generalised() -> None:
    assert props(UA, uas=[CHROME, IPHONE]) == {
        "uas": ["Chrome 120 / Windows", "Mobile Safari 17 / iOS"]
    }


# -- bucket -------------------------------------------------------------

BUCKET = engine_for(
    "      n: {action: bucket, edges: [0, 10, 100]}\n"
    "      f: {action: bucket, edges: [0.5, 2.5]}\n"
    "      s: {action: bucket, edges: [0, 10], on_mismatch: keep_as_string}\n"
    "      d: {action: bucket, edges: [0, 10], on_mismatch: drop_event}\n"
)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("n", -1, "<0"),
        ("n", -0.001, "<0"),
        ("n", 0, "0-10"),
        ("n", 9.99, "0-10"),
        ("n", 10, "10-100"),
        ("n", 99, "10-100"),
        ("n", 100, "100+"),
        ("n", 10**30, "100+"),
        ("n", float("inf"), "100+"),
        ("n", float("-inf"), "<0"),
        ("f", 1, "0.5-2.5"),
        ("f", 3, "2.5+"),
        ("n", [1, 50, 500], ["0-10", "10-100", "100+"]),
    ],
)
def test_bucket_maps_numbers_to_ranges(key: str, value: Any, expected: str) -> None:
    assert props(BUCKET, **{key: value}) == {key: expected}


@pytest.mark.parametrize("value", ["42", "", True, None, float("nan"), "ten"])
def test_bucket_drops_what_is_not_a_number(value: Any) -> None:
    result = run(BUCKET, n=value)

    assert result.event is not None
    assert result.event.properties == {}
    assert ("n", "drop", "TYPE_MISMATCH") in seen(result)


def test_bucket_keep_as_string_keeps_the_scanned_text() -> None:
    assert props(BUCKET, s=True) == {"s": "true"}
    assert props(BUCKET, s="n/a") == {"s": "n/a"}
    assert props(BUCKET, s="jane.doe@example.com") == {"s": "[EMAIL]"}


def test_bucket_drop_event_on_mismatch_drops_the_event() -> None:
    result = run(BUCKET, d="12", n=5)

    assert result.event is None
    assert ("d", "drop_event", "TYPE_MISMATCH") in seen(result)


# -- enum ---------------------------------------------------------------

ENUM = engine_for(
    "      plan: {action: enum, values: [free, pro, team]}\n"
    "      tier: {action: enum, values: [1, 2, true], other: other}\n"
)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("plan", "pro", {"plan": "pro"}),
        ("plan", "Pro", {}),  # exact, case included
        ("plan", "", {}),
        ("plan", None, {}),
        ("plan", {"a": "pro", "b": "gold"}, {"plan": {"a": "pro"}}),
        ("plan", ["free", "gold", "team"], {"plan": ["free", "team"]}),
        ("tier", 1, {"tier": 1}),
        ("tier", 1.0, {"tier": 1.0}),  # the same JSON number
        ("tier", "1", {"tier": "other"}),  # a string is not a number
        ("tier", 3, {"tier": "other"}),
        ("tier", True, {"tier": True}),
        ("tier", False, {"tier": "other"}),
        ("tier", float("nan"), {"tier": "other"}),
    ],
)
def test_enum_keeps_listed_values_only(
    key: str, value: Any, expected: dict[str, Any]
) -> None:
    assert props(ENUM, **{key: value}) == expected


def test_enum_findings_name_the_reason_not_the_value() -> None:
    result = run(ENUM, plan="jane.doe@example.com", tier="x")

    assert ("plan", "drop", "NOT_IN_ENUM") in seen(result)
    assert ("tier", "enum", None) in seen(result)
    assert "jane.doe" not in repr(result.findings)


# -- type checks --------------------------------------------------------

TYPED = engine_for(
    "      s: {type: string}\n"
    "      n: {type: number}\n"
    "      i: {type: integer}\n"
    "      b: {type: boolean}\n"
    "      l: {type: list}\n"
    "      o: {type: object}\n"
    "      h: {action: hash, type: string, on_mismatch: keep_as_string}\n"
    "      k: {type: string, on_mismatch: keep_as_string}\n"
    "      x: {type: integer, on_mismatch: drop_event}\n"
)

GOOD: dict[str, list[Any]] = {
    "s": ["", "Ünïcødé"],
    "n": [0, -3, 2.5, 10**20],
    "i": [0, -7, 3.0],
    "b": [True, False],
    "l": [[], [1, "a"]],
    "o": [{}, {"a": 1}],
}
BAD: dict[str, list[Any]] = {
    "s": [1, None, True, [], {}],
    "n": [True, "1", None, [1], float("nan")],
    "i": [2.5, False, "3", None],
    "b": [0, 1, "true", None],
    "l": ["[]", {}, None, (1,)],
    "o": ["{}", [], None],
}


@pytest.mark.parametrize(
    ("key", "value"), [(k, v) for k, vs in GOOD.items() for v in vs]
)
def test_values_of_the_declared_type_pass(key: str, value: Any) -> None:
    assert props(TYPED, **{key: value}) == {key: value}


@pytest.mark.parametrize(
    ("key", "value"), [(k, v) for k, vs in BAD.items() for v in vs]
)
def test_values_of_another_type_are_dropped(key: str, value: Any) -> None:
    result = run(TYPED, **{key: value})

    assert result.event is not None
    assert result.event.properties == {}
    assert (key, "drop", "TYPE_MISMATCH") in seen(result)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        (None, "null"),
        ({"b": 1, "a": [1, "x"]}, '{"b":1,"a":[1,"x"]}'),
        (2**70, str(2**70)),
    ],
)
def test_keep_as_string_gives_the_json_text(value: Any, expected: str) -> None:
    assert props(TYPED, k=value) == {"k": expected}


def test_keep_as_string_text_is_scanned_and_then_the_action_runs() -> None:
    scanned = props(TYPED, k={"email": "jane.doe@example.com"})
    hashed = props(TYPED, h=12345)

    assert scanned == {"k": '{"email":"[EMAIL]"}'}
    assert hashed["h"] == Hasher("k1", KEY).digest("12345")


def test_type_mismatch_with_drop_event_drops_the_event() -> None:
    result = run(TYPED, x="7", s="ok")

    assert result.event is None
    assert ("x", "drop_event", "TYPE_MISMATCH") in seen(result)


def test_missing_typed_property_is_no_mismatch() -> None:
    result = run(TYPED, s="here")

    assert result.event is not None
    assert result.event.properties == {"s": "here"}
    assert not [f for f in result.findings if f.detector == "TYPE_MISMATCH"]


# -- nested rules -------------------------------------------------------

NESTED = engine_for(
    "      address: {properties: {city: keep, street: drop, zip: {action: mask,"
    " keep_first: 2}}}\n"
    "      items:\n"
    "        items:\n"
    "          properties:\n"
    "            sku: keep\n"
    "            price: {action: bucket, edges: [0, 10, 100]}\n"
    "            buyer: hash\n"
    "      tags: {items: {action: enum, values: [a, b], other: other}}\n"
    "      either: {properties: {a: keep}, items: {type: integer}}\n"
    "      deep: {properties: {a: {properties: {b: {properties: {c: keep}}}}}}\n"
)


def test_nested_object_rules_keep_named_keys_only() -> None:
    address = {"city": "Zürich", "street": "Bahnhofstr. 1", "zip": "8001", "x": 1}

    result = run(NESTED, address=address)

    assert result.event is not None
    assert result.event.properties == {"address": {"city": "Zürich", "zip": "80**"}}
    assert ("address.street", "drop", None) in seen(result)
    assert ("address.x", "drop", None) in seen(result)


def test_nested_unknown_keys_follow_unknown_properties_keep() -> None:
    engine = engine_for(
        "      address: {properties: {street: drop}}\n",
        "defaults:\n  unknown_properties: keep\n",
    )

    result = run(
        engine,
        address={"street": "x", "note": "jane.doe@example.com", "a@example.com": 1},
    )

    assert result.event is not None
    assert result.event.properties == {"address": {"note": "[EMAIL]", "[EMAIL]": 1}}


def test_list_items_each_follow_the_item_rule() -> None:
    items = [
        {"sku": "A-1", "price": 12.5, "buyer": "jane@example.com", "note": "n"},
        {"sku": "B-2", "price": "free"},
        "not an object",
        None,
        {},
    ]

    result = run(NESTED, items=items)

    assert result.event is not None
    out = result.event.properties["items"]
    assert out[0] == {
        "sku": "A-1",
        "price": "10-100",
        "buyer": Hasher("k1", KEY).digest("jane@example.com"),
    }
    assert out[1] == {"sku": "B-2"}
    assert out[2:] == [{}]  # the string and null are not objects: dropped
    assert ("items[]", "drop", "TYPE_MISMATCH") in seen(result)
    assert ("items[].price", "drop", "TYPE_MISMATCH") in seen(result)


def test_nested_rule_on_the_wrong_shape_drops_the_value() -> None:
    result = run(NESTED, address="Bahnhofstr. 1, Zürich", tags="a", items={"sku": 1})

    assert result.event is not None
    assert result.event.properties == {}
    assert {(p, a, d) for p, a, d in seen(result)} >= {
        ("address", "drop", "TYPE_MISMATCH"),
        ("tags", "drop", "TYPE_MISMATCH"),
        ("items", "drop", "TYPE_MISMATCH"),
    }


def test_rule_with_properties_and_items_takes_either_shape() -> None:
    assert props(NESTED, either={"a": 1, "b": 2}) == {"either": {"a": 1}}
    assert props(NESTED, either=[1, "2", 3.0]) == {"either": [1, 3.0]}


def test_deeply_nested_rules_apply_at_each_level() -> None:
    value = {"a": {"b": {"c": "kept", "d": "dropped"}, "e": 1}}

    assert props(NESTED, deep=value) == {"deep": {"a": {"b": {"c": "kept"}}}}


def test_nested_hash_gets_rotation_siblings_but_list_items_do_not() -> None:
    import datetime

    hasher = Hasher(
        "k2",
        Sensitive("another-key-of-32-bytes-long!!!!"),
        previous=[(Hasher("k1", KEY), datetime.date(2030, 1, 1))],
        today=lambda: datetime.date(2029, 1, 1),
    )
    text = (
        "version: 1\nhash: {key_id: k2, key: {env: UNUSED}}\nevents:\n  e:\n"
        "    properties:\n      who: {properties: {email: hash}}\n"
        "      all: {items: hash}\n"
    )
    engine = Engine(parse_policy(text), hasher)

    out = props(engine, who={"email": "a@example.com"}, all=["a@example.com"])

    assert set(out["who"]) == {"email", "email__k1"}
    assert out["who"]["email__k1"] == Hasher("k1", KEY).digest("a@example.com")
    assert out["all"] == [hasher.digest("a@example.com")]


def test_nested_rules_apply_inside_profile_operations() -> None:
    text = (
        "version: 1\nprofiles:\n  properties:\n"
        "    address: {properties: {city: keep}}\n"
        "    plan: {action: enum, values: [pro]}\n"
    )
    engine = Engine(parse_policy(text), Hasher("k1", KEY))
    event = Event(
        Kind.PROFILE,
        "$profile",
        {"$set": {"address": {"city": "Oslo", "street": "x"}, "plan": "gold"}},
        distinct_id="u-1",
    )

    result = engine.apply(event)

    assert result.event is not None
    assert result.event.properties == {"$set": {"address": {"city": "Oslo"}}}
