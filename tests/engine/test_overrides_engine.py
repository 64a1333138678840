"""One event, two destinations: the engine's sub-engines for
per-destination overrides."""

from __future__ import annotations

import copy

import pytest

from redline.engine import Engine, Hasher
from redline.events import Event, Kind
from redline.policy import parse_policy
from redline.sensitive import Sensitive

KEY = Sensitive("0123456789abcdef0123456789abcdef")

POLICY = """
version: 1
hash:
  key_id: k1
  key: {env: UNUSED_IN_TESTS}
all_events:
  properties:
    plan: keep
    country: keep
events:
  checkout:
    properties:
      price: keep
      email: hash
      cart: {properties: {sku: keep, qty: keep}}
profiles:
  properties:
    $email: hash
    plan: keep
destinations:
  strict:
    all_events: {properties: {plan: drop}}
    events:
      checkout:
        properties:
          price: {action: bucket, edges: [0, 10, 100]}
          cart: {properties: {sku: keep}}
    profiles: {properties: {$email: drop}}
"""


@pytest.fixture
def engine() -> Engine:
    return Engine(parse_policy(POLICY, "test.yaml"), Hasher("k1", KEY))


def _checkout() -> Event:
    return Event(
        Kind.TRACK,
        "checkout",
        {
            "plan": "pro",
            "country": "JP",
            "price": 42,
            "email": "jane.doe@example.com",
            "cart": {"sku": "A-1", "qty": 2},
            "stray": "x",
        },
        distinct_id="user-1",
        insert_id=None,
        time=1_700_000_000,
    )


def test_two_destinations_get_different_results_from_one_event(
    engine: Engine,
) -> None:
    event = _checkout()

    base = engine.apply(event).event
    strict = engine.for_destination("strict").apply(event).event

    assert base is not None and strict is not None
    assert base.properties["plan"] == "pro"
    assert base.properties["price"] == 42
    assert base.properties["cart"] == {"sku": "A-1", "qty": 2}
    assert "plan" not in strict.properties
    assert strict.properties["price"] == "10-100"
    assert strict.properties["cart"] == {"sku": "A-1"}
    # what the override does not name is the same for both
    assert strict.properties["country"] == base.properties["country"] == "JP"
    assert strict.properties["email"] == base.properties["email"]
    assert strict.properties["email"].startswith("k1:")
    assert "stray" not in strict.properties and "stray" not in base.properties
    # one hasher: the same ids, so each destination deduplicates alike
    assert strict.distinct_id == base.distinct_id
    assert strict.insert_id == base.insert_id is not None


def test_profiles_follow_the_override_too(engine: Engine) -> None:
    profile = Event(
        Kind.PROFILE,
        "$set",
        {"$set": {"$email": "jane.doe@example.com", "plan": "pro"}},
        distinct_id="user-1",
        insert_id=None,
        time=None,
    )

    base = engine.apply(profile).event
    strict = engine.for_destination("strict").apply(profile).event

    assert base is not None and strict is not None
    assert base.properties["$set"]["$email"].startswith("k1:")
    assert strict.properties["$set"] == {"plan": "pro"}


def test_a_destination_without_an_override_gets_the_base_engine(
    engine: Engine,
) -> None:
    assert engine.for_destination("local") is engine
    assert engine.for_destination("strict") is not engine
    assert list(engine.overrides) == ["strict"]


def test_sub_engines_share_the_base_engines_hasher(engine: Engine) -> None:
    strict = engine.for_destination("strict")

    assert strict.hasher is engine.hasher
    assert strict.overrides == {}
    assert strict.for_destination("strict") is strict


def test_an_engine_without_overrides_has_none() -> None:
    text = POLICY.split("destinations:")[0]
    plain = Engine(parse_policy(text, "test.yaml"), Hasher("k1", KEY))

    assert plain.overrides == {}
    assert plain.for_destination("strict") is plain


def test_apply_leaves_the_event_as_it_was_so_it_can_be_applied_again(
    engine: Engine,
) -> None:
    event = _checkout()
    before = copy.deepcopy(event)

    first = engine.apply(event)
    engine.for_destination("strict").apply(event)
    again = engine.apply(event)

    assert event == before
    assert first.event == again.event
