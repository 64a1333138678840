"""Per-event decisions: drop_if conditions, sampling, report mode, and hash
key rotation."""

from __future__ import annotations

import datetime
import logging
import subprocess
import sys
from typing import Any

import pytest

from redline.engine import Engine, Hasher, Result
from redline.events import Event, Kind
from redline.hashkey import hasher_for
from redline.policy import Mode, parse_policy
from redline.sensitive import Sensitive

KEY = Sensitive("0123456789abcdef0123456789abcdef")
KEY2 = Sensitive("another-key-of-32-bytes-long!!!!")


def engine_for(text: str, hasher: Hasher | None = None) -> Engine:
    return Engine(
        parse_policy("version: 1\n" + text, "t.yaml"), hasher or Hasher("k1", KEY)
    )


def track(name: str, distinct_id: str | None = "u-1", **props: Any) -> Event:
    return Event(
        Kind.TRACK, name, dict(props), distinct_id=distinct_id, insert_id="id-1"
    )


def seen(result: Result) -> list[tuple[str, str, str | None]]:
    return [(f.path, f.action, f.detector) for f in result.findings]


# -- drop_if ------------------------------------------------------------

DROP_IF = engine_for(
    """
all_events:
  drop_if:
    - {property: internal, equals: true}
events:
  checkout:
    drop_if:
      - {property: plan, equals: internal}
      - {property: $current_url, matches: "^https://staging\\\\."}
      - {property: seats, in: [0, 1.5]}
      - {property: distinct_id, matches: "^test-"}
      - {property: debug, exists: true}
    properties:
      plan: keep
      $current_url: url
      seats: keep
"""
)


@pytest.mark.parametrize(
    ("props", "distinct_id", "path"),
    [
        ({"plan": "internal"}, "u-1", "plan"),
        ({"$current_url": "https://staging.example.com/x"}, "u-1", "$current_url"),
        ({"seats": 0}, "u-1", "seats"),
        ({"seats": 0.0}, "u-1", "seats"),
        ({"seats": 1.5}, "u-1", "seats"),
        ({"plan": "pro"}, "test-42", "distinct_id"),
        ({"debug": None}, "u-1", "debug"),
        ({"internal": True, "plan": "pro"}, "u-1", "internal"),
    ],
)
def test_any_matching_condition_drops_the_event(
    props: dict[str, Any], distinct_id: str, path: str
) -> None:
    result = DROP_IF.apply(track("checkout", distinct_id, **props))

    assert result.event is None
    assert seen(result) == [(path, "drop_event", None)]


@pytest.mark.parametrize(
    "props",
    [
        {"plan": "Internal"},  # exact match, case included
        {"plan": ["internal"]},  # a list is not the value
        {"plan": {"x": "internal"}},
        {"plan": ""},
        {"$current_url": "https://www.example.com/?next=https://staging.x"},
        {"$current_url": 42},  # a regex only tests strings
        {"seats": "0"},  # a string is not the number 0
        {"seats": False},  # nor is a boolean
        {"internal": 1},
        {"internal": "true"},
        {},
    ],
)
def test_near_misses_keep_the_event(props: dict[str, Any]) -> None:
    assert DROP_IF.apply(track("checkout", **props)).event is not None


def test_conditions_test_the_event_as_sent_before_rules_drop_properties() -> None:
    # "internal" has no rule and would be dropped, yet the condition sees it
    result = DROP_IF.apply(track("checkout", internal=True, plan="pro"))

    assert result.event is None
    assert seen(result) == [("internal", "drop_event", None)]


def test_unicode_condition_values_match_exactly() -> None:
    engine = engine_for(
        "events:\n  e:\n    drop_if: [{property: city, equals: Zürich}]\n"
        "    properties: {city: keep}\n"
    )

    assert engine.apply(track("e", city="Zürich")).event is None
    # the decomposed spelling is another string
    assert engine.apply(track("e", city="Zu\u0308rich")).event is not None


def test_drop_if_on_profiles_reads_set_operations() -> None:
    engine = engine_for(
        "profiles:\n  drop_if: [{property: $email, matches: '@example\\.com$'}]\n"
        "  properties: {plan: keep}\n"
    )
    internal = Event(
        Kind.PROFILE, "$profile", {"$set": {"$email": "ops@example.com"}}, "u-1"
    )
    customer = Event(
        Kind.PROFILE, "$profile", {"$set_once": {"$email": "a@example.org"}}, "u-2"
    )

    assert engine.apply(internal).event is None
    assert engine.apply(customer).event is not None


# -- sampling -----------------------------------------------------------

SAMPLED = engine_for(
    "events:\n"
    "  page: {sample: {rate: 0.25}, properties: {title: keep}}\n"
    "  click: {sample: {rate: 0.25}}\n"
    "  half: {sample: {rate: 0.5}}\n"
    "  all: {sample: {rate: 1}}\n"
    "  plain: {properties: {title: keep}}\n"
)


def kept(engine: Engine, name: str, ids: list[str]) -> set[str]:
    return {i for i in ids if engine.apply(track(name, i)).event is not None}


def test_sampling_keeps_about_the_rate() -> None:
    ids = [f"user-{i}" for i in range(4000)]

    share = len(kept(SAMPLED, "page", ids)) / len(ids)

    assert 0.22 < share < 0.28


def test_sampling_keeps_each_users_events_together() -> None:
    ids = [f"user-{i}" for i in range(500)]

    pages = kept(SAMPLED, "page", ids)

    # every event of a kept user is kept, of a dropped one dropped
    assert kept(SAMPLED, "click", ids) == pages
    assert kept(SAMPLED, "page", ids) == pages
    # a user kept at 25% is kept at 50% too: funnels across rates hold
    assert pages <= kept(SAMPLED, "half", ids)


def test_sampling_is_deterministic_across_engines_and_keyed() -> None:
    ids = [f"user-{i}" for i in range(500)]
    again = engine_for(
        "events:\n  page: {sample: {rate: 0.25}, properties: {title: keep}}\n"
    )
    other_key = engine_for(
        "events:\n  page: {sample: {rate: 0.25}, properties: {title: keep}}\n",
        Hasher("k1", KEY2),
    )

    assert kept(again, "page", ids) == kept(SAMPLED, "page", ids)
    assert kept(other_key, "page", ids) != kept(SAMPLED, "page", ids)


def test_kept_events_carry_the_rate_and_dropped_ones_a_finding() -> None:
    ids = [f"user-{i}" for i in range(40)]
    results = [SAMPLED.apply(track("page", i, title="T")) for i in ids]

    kept_events = [r.event for r in results if r.event is not None]
    dropped = [r for r in results if r.event is None]

    assert kept_events and dropped
    assert all(
        e.properties == {"title": "T", "$sample_rate": 0.25} for e in kept_events
    )
    assert all(seen(r) == [("", "sample", None)] for r in dropped)


def test_client_cannot_set_its_own_sample_rate() -> None:
    ids = [f"user-{i}" for i in range(40)]

    events = [SAMPLED.apply(track("page", i, **{"$sample_rate": 1})).event for i in ids]

    assert {e.properties["$sample_rate"] for e in events if e is not None} == {0.25}


def test_rate_one_keeps_all_and_unsampled_events_have_no_rate() -> None:
    ids = [f"user-{i}" for i in range(50)]

    assert kept(SAMPLED, "all", ids) == set(ids)
    plain = SAMPLED.apply(track("plain", title="T")).event
    assert plain is not None and "$sample_rate" not in plain.properties


def test_events_without_distinct_id_are_sampled_by_insert_id() -> None:
    def keep(insert_id: str) -> bool:
        event = Event(Kind.TRACK, "page", {}, distinct_id=None, insert_id=insert_id)
        return SAMPLED.apply(event).event is not None

    ids = [f"ins-{i}" for i in range(400)]
    first = {i for i in ids if keep(i)}

    assert first == {i for i in ids if keep(i)}
    assert 0.15 < len(first) / len(ids) < 0.35


def test_events_without_any_id_are_sampled_by_their_content() -> None:
    def keep(n: int) -> bool:
        event = Event(Kind.TRACK, "page", {"title": f"t{n}"}, time=n)
        return SAMPLED.apply(event).event is not None

    decisions = [keep(n) for n in range(400)]

    assert decisions == [keep(n) for n in range(400)]
    assert 0.15 < sum(decisions) / len(decisions) < 0.35


def test_sample_point_is_below_one_and_spread() -> None:
    hasher = Hasher("k1", KEY)

    points = [hasher.sample_point(f"user-{i}") for i in range(2000)]

    assert all(0.0 <= p < 1.0 for p in points)
    assert 0.45 < sum(points) / len(points) < 0.55


# -- report mode --------------------------------------------------------

REPORT = """
mode: report
events:
  checkout:
    drop_if: [{property: plan, equals: internal}]
    properties:
      plan: keep
      email: hash
"""


def test_report_mode_forwards_the_event_as_sent_with_findings() -> None:
    engine = engine_for(REPORT)
    event = track(
        "checkout",
        "jane@example.com",
        plan="pro",
        email="jane@example.com",
        note="call 415-555-0132",
    )
    sent = dict(event.properties)

    result = engine.apply(event)

    assert result.report_only
    assert result.event is not None
    assert result.event.properties == sent
    assert result.event.distinct_id == "jane@example.com"
    assert result.event.insert_id == "id-1"
    assert {(p, a) for p, a, _ in seen(result)} >= {
        ("email", "hash"),
        ("note", "drop"),
        ("distinct_id", "hash"),
    }


@pytest.mark.parametrize(
    ("event", "action"),
    [
        (track("unknown_event", plan="pro"), "drop_event"),
        (track("checkout", plan="internal"), "drop_event"),
    ],
)
def test_report_mode_reports_dropped_events_but_forwards_them(
    event: Event, action: str
) -> None:
    result = engine_for(REPORT).apply(event)

    assert result.report_only
    assert result.event is not None and result.event.properties == event.properties
    assert action in [f.action for f in result.findings]


def test_report_mode_still_gives_an_idempotency_id() -> None:
    engine = engine_for(REPORT)
    event = Event(Kind.TRACK, "checkout", {"plan": "pro"}, "u-1", insert_id="bad id!")

    result = engine.apply(event)

    assert result.event is not None
    assert result.event.insert_id is not None and result.event.insert_id != "bad id!"
    assert result.event.insert_id == engine.apply(event).event.insert_id  # type: ignore[union-attr]


def test_report_mode_per_event_leaves_the_others_enforced() -> None:
    engine = engine_for(
        "events:\n"
        "  trial: {mode: report, properties: {plan: keep}}\n"
        "  checkout: {properties: {plan: keep}}\n"
    )

    trial = engine.apply(track("trial", plan="pro", secret="s"))
    checkout = engine.apply(track("checkout", plan="pro", secret="s"))

    assert trial.report_only and trial.event is not None
    assert trial.event.properties == {"plan": "pro", "secret": "s"}
    assert not checkout.report_only and checkout.event is not None
    assert checkout.event.properties == {"plan": "pro"}
    assert engine.policy.mode is Mode.ENFORCE and engine.policy.reports


def test_event_may_enforce_inside_a_report_policy() -> None:
    engine = engine_for(
        "mode: report\nevents:\n  checkout: {mode: enforce, properties: {a: keep}}\n"
    )

    assert not engine.apply(track("checkout", b=1)).report_only
    assert engine.apply(track("other", b=1)).report_only
    assert engine.policy.mode == "report"


def test_report_mode_samples_nothing_out() -> None:
    engine = engine_for("mode: report\nevents:\n  page: {sample: {rate: 0.01}}\n")

    results = [engine.apply(track("page", f"user-{i}")) for i in range(50)]

    assert all(r.event is not None and r.event.properties == {} for r in results)
    assert any(seen(r) == [("", "sample", None)] for r in results)


def test_report_mode_is_logged_at_construction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="redline.engine"):
        engine_for(REPORT)
        engine_for("events: {e: {mode: report}}\n")

    records = [r for r in caplog.records if r.name == "redline.engine"]
    assert len(records) == 2
    assert all("report mode" in r.getMessage() for r in records)


def test_enforce_policy_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="redline.engine"):
        engine = engine_for("events: {e: {properties: {a: keep}}}\n")

    assert not caplog.records
    assert engine.policy.mode is Mode.ENFORCE and not engine.policy.reports


# -- hash keys and rotation ---------------------------------------------

DIGEST_SCRIPT = """
import sys
from redline.engine import Hasher
from redline.sensitive import Sensitive
print(Hasher(sys.argv[1], Sensitive(sys.argv[2])).digest(sys.argv[3]))
"""


def digest_in_new_process(key_id: str, key: str, value: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", DIGEST_SCRIPT, key_id, key, value],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_digests_are_stable_across_processes() -> None:
    here = Hasher("k1", KEY).digest("jane.doe@example.com")

    first = digest_in_new_process("k1", KEY.reveal(), "jane.doe@example.com")
    second = digest_in_new_process("k1", KEY.reveal(), "jane.doe@example.com")

    assert here == first == second


def test_digests_differ_across_key_ids_and_keys() -> None:
    value = "jane.doe@example.com"
    k1 = Hasher("k1", KEY).digest(value)
    k2_same_secret = Hasher("k2", KEY).digest(value)
    k2 = Hasher("k2", KEY2).digest(value)

    assert k1.startswith("k1:") and k2.startswith("k2:")
    assert k1 != k2_same_secret
    assert k1[3:] != k2[3:]


ROTATING = """
hash:
  key_id: k2
  key: {env: K2}
  previous:
    - {key_id: k1, key: {env: K1}, until: 2026-12-31}
events:
  checkout:
    properties:
      email: hash
      distinct_id: hash
      plan: keep
"""


def rotating_engine(
    today: datetime.date, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Engine:
    monkeypatch.setenv("K1", KEY.reveal())
    monkeypatch.setenv("K2", KEY2.reveal())
    policy = parse_policy("version: 1\n" + ROTATING, "t.yaml")
    return Engine(policy, hasher_for(policy, tmp_path, tmp_path, lambda: today))


def test_rotation_window_maps_one_input_to_both_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    engine = rotating_engine(datetime.date(2026, 12, 31), monkeypatch, tmp_path)

    result = engine.apply(track("checkout", "user-7", email="a@example.com"))

    assert result.event is not None
    props = result.event.properties
    old, new = Hasher("k1", KEY), Hasher("k2", KEY2)
    assert props["email"] == new.digest("a@example.com")
    assert props["email__k1"] == old.digest("a@example.com")
    assert result.event.distinct_id == new.digest("user-7")
    assert props["distinct_id__k1"] == old.digest("user-7")


def test_after_the_window_only_the_new_key_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    engine = rotating_engine(datetime.date(2027, 1, 1), monkeypatch, tmp_path)

    result = engine.apply(track("checkout", "user-7", email="a@example.com"))

    assert result.event is not None
    assert set(result.event.properties) == {"email"}


def test_rotation_window_follows_the_injected_clock(tmp_path: Any) -> None:
    today = [datetime.date(2026, 12, 30)]
    hasher = Hasher(
        "k2",
        KEY2,
        previous=[(Hasher("k1", KEY), datetime.date(2026, 12, 31))],
        today=lambda: today[0],
    )

    in_window = [h.key_id for h in hasher.rotating()]
    today[0] = datetime.date(2027, 1, 1)

    assert in_window == ["k1"]
    assert hasher.rotating() == ()


def test_previous_keys_need_a_clock_and_their_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from redline.errors import ConfigError

    with pytest.raises(ValueError, match="clock"):
        Hasher("k2", KEY2, previous=[(Hasher("k1", KEY), datetime.date(2026, 1, 1))])
    monkeypatch.setenv("K2", KEY2.reveal())
    monkeypatch.delenv("K1", raising=False)
    policy = parse_policy("version: 1\n" + ROTATING, "t.yaml")
    with pytest.raises(ConfigError, match=r"hash\.previous\.0\.key.*K1"):
        hasher_for(policy, tmp_path, tmp_path)


def test_unhashed_properties_get_no_siblings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    engine = rotating_engine(datetime.date(2026, 6, 1), monkeypatch, tmp_path)

    result = engine.apply(track("checkout", None, plan="pro"))

    assert result.event is not None
    assert result.event.properties == {"plan": "pro"}
