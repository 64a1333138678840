"""Per-destination overrides in the policy language: what parses, how the
rules merge, and the errors that point at file, line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from redline.cli import main
from redline.errors import ConfigError
from redline.policy import Action, Mode, compile_policy, parse_policy

BASE = """\
version: 1
mode: enforce
defaults: {unknown_properties: drop, on_detection: redact}
all_events:
  properties:
    plan: keep
    price: keep
    country: keep
  drop_if:
    - {property: internal, equals: true}
events:
  checkout:
    properties:
      price: keep
      coupon: keep
    sample: {rate: 0.5}
  "page_*":
    properties:
      title: keep
profiles:
  properties:
    $email: hash
    plan: keep
groups:
  properties:
    plan: keep
"""

OVERRIDE = """\
destinations:
  mixpanel:
    all_events: {properties: {plan: drop}}
    events:
      checkout: {properties: {price: {action: bucket, edges: [0, 10, 100]}}}
      "page_*": {properties: {title: redact}}
    profiles: {properties: {$email: drop}}
    groups: {properties: {}}
"""


def _policy(extra: str = OVERRIDE) -> str:
    return BASE + extra


def test_a_policy_without_destinations_has_no_overrides() -> None:
    policy = parse_policy(BASE, "p.yaml")

    assert policy.for_destination == {}
    assert policy.spec.destinations == {}


def test_an_override_compiles_to_its_own_policy_per_destination() -> None:
    policy = parse_policy(_policy(), "p.yaml")

    assert list(policy.for_destination) == ["mixpanel"]
    sub = policy.for_destination["mixpanel"]
    assert sub.for_destination == {}
    # the base policy is unchanged by its overrides
    assert policy.rules_for("checkout").properties["price"].action is Action.KEEP
    assert policy.rules_for("checkout").properties["plan"].action is Action.KEEP
    assert sub.digest != policy.digest


def test_override_rules_replace_base_rules_property_by_property() -> None:
    sub = parse_policy(_policy(), "p.yaml").for_destination["mixpanel"]

    checkout = sub.rules_for("checkout").properties
    # all_events override beats all_events base; the exact section's own
    # override beats its base rule
    assert checkout["plan"].action is Action.DROP
    assert checkout["price"].action is Action.BUCKET
    assert checkout["price"].labels == ("<0", "0-10", "10-100", "100+")
    # rules the override does not name stay as the base has them
    assert checkout["coupon"].action is Action.KEEP
    assert checkout["country"].action is Action.KEEP
    page = sub.rules_for("page_home").properties
    assert page["title"].action is Action.REDACT
    assert page["plan"].action is Action.DROP
    assert page["price"].action is Action.KEEP


def test_base_section_order_still_decides_when_the_override_is_earlier() -> None:
    # the override changes all_events' rule for price, but checkout's own
    # base rule for price comes later in the merge and still wins
    text = BASE + "destinations:\n  mp:\n    all_events: {properties: {price: drop}}\n"
    sub = parse_policy(text, "p.yaml").for_destination["mp"]

    assert sub.rules_for("checkout").properties["price"].action is Action.KEEP
    assert sub.rules_for("other").properties["price"].action is Action.DROP


def test_profiles_and_groups_merge_their_own_and_the_all_events_overrides() -> None:
    sub = parse_policy(_policy(), "p.yaml").for_destination["mixpanel"]

    assert sub.profiles.properties["$email"].action is Action.DROP
    # profiles take all_events rules under their own: plan is overridden
    # in all_events but profiles name plan themselves
    assert sub.profiles.properties["plan"].action is Action.KEEP
    assert sub.groups.properties["plan"].action is Action.KEEP
    assert sub.groups.properties["price"].action is Action.KEEP


def test_everything_but_property_rules_comes_from_the_base_policy() -> None:
    policy = parse_policy(_policy(), "p.yaml")
    sub = policy.for_destination["mixpanel"]

    base_rules = policy.rules_for("checkout")
    rules = sub.rules_for("checkout")
    assert rules.sample_rate == base_rules.sample_rate == 0.5
    assert rules.drop_if == base_rules.drop_if
    assert len(rules.drop_if) == 1
    assert rules.mode is Mode.ENFORCE
    assert sub.drop_unknown_events == policy.drop_unknown_events
    assert sub.unknown_property is policy.unknown_property
    assert sub.hash_key_id == policy.hash_key_id
    assert sub.rules_for("unknown_event").known is False


def test_empty_overrides_compile_to_no_sub_policy() -> None:
    text = BASE + (
        "destinations:\n  a: {}\n  b:\n    all_events: {properties: {}}\n"
        "    events: {checkout: {}}\n"
    )
    policy = parse_policy(text, "p.yaml")

    assert policy.for_destination == {}
    assert list(policy.spec.destinations) == ["a", "b"]


def test_overrides_change_the_policy_digest() -> None:
    plain = parse_policy(BASE, "p.yaml")
    overridden = parse_policy(_policy(), "p.yaml")

    assert plain.digest != overridden.digest


@pytest.mark.parametrize(
    ("override", "line", "column", "words"),
    [
        # near misses of the allowed shape, each refused at the value of
        # the key it names
        ("    drop_if: []\n", 5, 14, "unknown key 'destinations.mp.drop_if'"),
        (
            "    all_events: {sample: {rate: 0.5}}\n",
            5,
            26,
            "unknown key 'destinations.mp.all_events.sample'",
        ),
        (
            "    events:\n      checkout: {mode: report}\n",
            6,
            24,
            "unknown key 'destinations.mp.events.checkout.mode'",
        ),
        (
            "    profiles: {drop_if: []}\n",
            5,
            25,
            "unknown key 'destinations.mp.profiles.drop_if'",
        ),
        (
            "    defaults: {unknown_properties: keep}\n",
            5,
            15,
            "unknown key 'destinations.mp.defaults'",
        ),
        (
            "    hash: {key_id: k, key: x}\n",
            5,
            11,
            "unknown key 'destinations.mp.hash'",
        ),
        (
            "    events:\n      checkout: {properties: {price: {action: bucket}}}\n",
            6,
            38,
            "edges",
        ),
        (
            "    events:\n      nope: {properties: {a: drop}}\n",
            6,
            13,
            "'nope' is not a section of the policy's events",
        ),
    ],
)
def test_bad_overrides_are_refused_at_file_line_and_column(
    override: str, line: int, column: int, words: str
) -> None:
    # the override starts on line 5
    text = "version: 1\nevents: {checkout: {}}\ndestinations:\n  mp:\n" + override

    with pytest.raises(ConfigError) as caught:
        parse_policy(text, "p.yaml")

    error = caught.value
    assert words in str(error)
    assert (error.path, error.line, error.column) == ("p.yaml", line, column)


def test_an_override_of_an_unknown_section_is_refused_when_compiling_a_spec() -> None:
    spec = parse_policy(BASE, "p.yaml").spec.model_copy(
        update={
            "destinations": parse_policy(
                "version: 1\nevents: {signup: {}}\ndestinations:\n  mp:\n"
                "    events: {signup: {properties: {a: drop}}}\n"
            ).spec.destinations
        }
    )

    with pytest.raises(ConfigError, match="'signup' is not a section"):
        compile_policy(spec, "p.yaml")


def test_explain_keeps_working_with_overrides(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(_policy())
    record = {"event": "page_home", "properties": {"plan": "pro", "title": "Home"}}

    result = CliRunner().invoke(
        main, ["policy", "explain", "--json", str(policy), json.dumps(record)]
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    # explain shows the base policy's result
    props = {p["name"]: p for p in body["properties"]}
    assert props["plan"]["rule"] == "keep"
    assert props["plan"]["after"] is not None
    assert props["title"]["rule"] == "keep"


def test_policy_check_accepts_overrides_without_a_config(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(BASE + OVERRIDE.replace("mixpanel", "not_in_any_config"))

    result = CliRunner().invoke(main, ["policy", "check", str(policy)])

    assert result.exit_code == 0, result.output
