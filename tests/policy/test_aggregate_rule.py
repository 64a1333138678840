"""The ``aggregate`` rule: what parses, how sections merge, the errors that
point at file, line and column, and what the engine marks."""

from __future__ import annotations

import pytest

from redline.engine import Engine, Hasher
from redline.errors import ConfigError
from redline.events import Event, Kind
from redline.policy import Aggregate, parse_policy
from redline.policy._tooling import explain
from redline.sensitive import Sensitive

KEY = Sensitive("0123456789abcdef0123456789abcdef")

POLICY = """version: 1
all_events:
  properties:
    model: keep
events:
  api_*:
    aggregate: {window_seconds: 300, sum: [tokens]}
  api_call:
    aggregate:
      window_seconds: 60
      group_by: [model, category]
      sum: [prompt_tokens, completion_tokens]
      min: [latency_ms]
      max: [latency_ms]
    properties:
      category: keep
      prompt_tokens: keep
      completion_tokens: keep
      latency_ms: keep
      email: keep
  page_view:
    properties:
      path: keep
"""


def test_aggregate_compiles_and_the_exact_name_wins_over_a_glob() -> None:
    policy = parse_policy(POLICY, "p.yaml")

    assert policy.aggregates
    assert policy.rules_for("api_call").aggregate == Aggregate(
        60,
        ("model", "category"),
        ("prompt_tokens", "completion_tokens"),
        ("latency_ms",),
        ("latency_ms",),
    )
    assert policy.rules_for("api_error").aggregate == Aggregate(300, (), ("tokens",))
    assert policy.rules_for("page_view").aggregate is None
    assert policy.profiles.aggregate is None


def test_a_policy_without_aggregate_rules_says_so() -> None:
    policy = parse_policy("version: 1\nevents:\n  a: {}\n", "p.yaml")

    assert not policy.aggregates
    assert policy.rules_for("a").aggregate is None


def test_engine_sanitises_an_aggregated_event_and_marks_it() -> None:
    engine = Engine(parse_policy(POLICY, "p.yaml"), Hasher("k1", KEY))
    event = Event(
        Kind.TRACK,
        "api_call",
        {
            "model": "m1",
            "prompt_tokens": 10,
            "email": "ann@example.com",
            "secret": "x",
        },
        distinct_id="u-1",
        insert_id="id-1",
    )

    result = engine.apply(event)

    assert result.aggregate is not None and result.aggregate.window_seconds == 60
    assert result.event is not None
    # the property rules ran as usual: unknown dropped, email redacted
    assert "secret" not in result.event.properties
    assert result.event.properties["email"] != "ann@example.com"
    assert result.event.properties["prompt_tokens"] == 10


def test_engine_does_not_mark_events_it_drops_or_only_reports() -> None:
    dropping = parse_policy(
        POLICY.replace(
            "    properties:\n      category",
            "    drop_if: [{property: test, exists: true}]\n"
            "    properties:\n      category",
        ),
        "p.yaml",
    )
    engine = Engine(dropping, Hasher("k1", KEY))
    dropped = engine.apply(Event(Kind.TRACK, "api_call", {"test": 1}, "u"))
    assert dropped.event is None and dropped.aggregate is None

    reporting = Engine(
        parse_policy(POLICY.replace("version: 1\n", "version: 1\nmode: report\n")),
        Hasher("k1", KEY),
    )
    reported = reporting.apply(Event(Kind.TRACK, "api_call", {"model": "m"}, "u"))
    assert reported.report_only and reported.aggregate is None


HEAD = "version: 1\nevents:\n  api_call:\n"


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        (HEAD + "    aggregate: {window_seconds: 0}\n", 4, 33, "window_seconds"),
        (HEAD + "    aggregate: {window_seconds: -60}\n", 4, 33, "window_seconds"),
        (HEAD + "    aggregate: {sum: [a]}\n", 4, 16, "window_seconds"),
        (HEAD + "    aggregate: {}\n", 4, 16, "window_seconds"),
        (
            HEAD + "    aggregate: {window_seconds: 60, sum: [a, a]}\n",
            4,
            42,
            "listed twice",
        ),
        (
            HEAD + "    aggregate: {window_seconds: 60, group_by: [m], max: [m]}\n",
            4,
            16,
            "both grouped by and folded",
        ),
        (
            HEAD + "    aggregate: {window_seconds: 60, sum: ['']}\n",
            4,
            43,
            "sum",
        ),
        (
            HEAD + "    aggregate: {window_seconds: 60, avg: [a]}\n",
            4,
            42,
            "unknown key",
        ),
        (
            "version: 1\nprofiles:\n  aggregate: {window_seconds: 60}\n",
            3,
            14,
            "unknown key",
        ),
    ],
)
def test_bad_aggregate_specs_point_at_file_line_and_column(
    text: str, line: int, column: int, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "policy.yaml")

    error = info.value
    assert fragment in str(error)
    assert (error.path, error.line, error.column) == ("policy.yaml", line, column)


def test_explain_says_an_event_is_aggregated() -> None:
    engine = Engine(parse_policy(POLICY, "p.yaml"), Hasher("k1", KEY))
    record = {"event": "api_call", "properties": {"model": "m", "distinct_id": "u"}}

    found = explain(engine, record)
    other = explain(engine, {"event": "page_view", "properties": {"path": "/"}})

    assert found.aggregate == (
        "60 s windows; group_by model, category; "
        "sum prompt_tokens, completion_tokens; min latency_ms; max latency_ms"
    )
    assert other.aggregate is None
