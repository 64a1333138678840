"""Scoring: recall, strict removal, negatives altered, precision and F1
computed by hand on a tiny corpus, then the eval command end to end, which
must see exactly what ``sanitize --policy redact-all`` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from redline.cli import main
from redline.detect import EntityType, Span
from redline.quality import Label, LabelledEvent, Planted, generate, write_jsonl
from redline.quality.evaluate import OTHER, Evaluation, survival
from redline.quality.pipeline import redactor

PROMPT = "Please summarise the meeting notes below for my manager by Friday."

# what the stand-in detection replaces, and under which type
RULES = {
    "a@x.io": EntityType.EMAIL,
    "555-0100": EntityType.PHONE,
    "uuid-1": EntityType.PHONE,  # a false alarm
    "SECRET1": EntityType.CREDENTIAL,
    "1.2.3": EntityType.CREDENTIAL,  # a false alarm charged to both kinds
    "meeting": EntityType.EMAIL,  # masks one word of the prompt only
}
DROPPED_KEY = "gone"


def _spans(text: str) -> list[Span]:
    spans = []
    for needle, kind in RULES.items():
        start = text.find(needle)
        while start != -1:
            spans.append(Span(kind, start, start + len(needle), 0.9, "rule"))
            start = text.find(needle, start + 1)
    return spans


def _redact(record: Any) -> tuple[Any, dict[str, int]]:
    if isinstance(record, str):
        for needle, kind in RULES.items():
            record = record.replace(needle, f"[{kind.value}]")
        return record, {}
    if isinstance(record, dict):
        return {k: _redact(v)[0] for k, v in record.items() if k != DROPPED_KEY}, {}
    return record, {}


def _label(
    kind: str, path: tuple[str, ...], value: str, negative: bool = False
) -> Label:
    return Label(kind, path, value, "v", negative, "c")


CORPUS = [
    LabelledEvent(
        {"email": "a@x.io", "note": "call 555-0100 now", "id": "uuid-1"},
        "en_US",
        (
            _label("EMAIL", ("email",), "a@x.io"),
            _label("PHONE", ("note",), "555-0100"),
            _label("UUID", ("id",), "uuid-1", negative=True),
        ),
    ),
    LabelledEvent(
        {
            "email": "b@y.io",
            "msg": PROMPT,
            "ver": "1.2.3",
            "url": "https://h.example/?token=SECRET1",
        },
        "ja_JP",
        (
            _label("EMAIL", ("email",), "b@y.io"),
            _label("FREE_TEXT", ("msg",), PROMPT),
            _label("VERSION", ("ver",), "1.2.3", negative=True),
            _label("TOKEN", ("url",), "SECRET1"),
        ),
    ),
    LabelledEvent(
        {"gone": "hunter22", "plan": "pro"},
        "en_US",
        (
            _label("TOKEN", (DROPPED_KEY,), "hunter22"),
            _label("PLAN", ("plan",), "pro", negative=True),
        ),
    ),
]


@pytest.fixture
def evaluation() -> Evaluation:
    run = Evaluation(_redact, _spans)
    for item in CORPUS:
        run.add(item)
    return run


def _scores(evaluation: Evaluation, locale: str | None = None) -> dict[str, Any]:
    return {score.kind: score for score in evaluation.report(locale).types}


def test_recall_counts_values_no_longer_present(evaluation: Evaluation) -> None:
    scores = _scores(evaluation)
    assert (scores["EMAIL"].planted, scores["EMAIL"].caught) == (2, 1)
    assert scores["EMAIL"].recall == 0.5
    assert scores["PHONE"].recall == 1.0
    # one in a URL parameter, one under a key that was dropped altogether
    assert (scores["TOKEN"].planted, scores["TOKEN"].caught) == (2, 2)


def test_free_text_counts_only_when_strictly_removed(evaluation: Evaluation) -> None:
    score = _scores(evaluation)["FREE_TEXT"]
    assert (score.planted, score.caught, score.strict) == (1, 0, 0)


def test_false_positives_are_charged_to_the_types_that_touched_them(
    evaluation: Evaluation,
) -> None:
    scores = _scores(evaluation)
    assert scores["PHONE"].false_positives == 1
    assert scores["PHONE"].precision == 0.5
    assert scores["PHONE"].f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert scores["EMAIL"].precision == 1.0
    assert scores["EMAIL"].f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    # the credential detector answers for tokens and URL credentials alike
    assert scores["TOKEN"].false_positives == 1
    assert scores["TOKEN"].precision == pytest.approx(2 / 3)
    assert "URL_CREDENTIAL" not in scores  # nothing of it was planted
    assert scores["PHONE"].negatives_altered == pytest.approx(1 / 3)


def test_overall_figures_pool_every_type(evaluation: Evaluation) -> None:
    report = evaluation.report()
    overall = report.overall
    assert (overall.planted, overall.caught, overall.false_positives) == (6, 4, 2)
    assert overall.recall == pytest.approx(4 / 6)
    assert overall.precision == pytest.approx(4 / 6)
    assert overall.f1 == pytest.approx(4 / 6)
    assert (report.negatives_total, report.negatives_altered) == (3, 2)


def test_negatives_by_kind_name_what_altered_them(evaluation: Evaluation) -> None:
    kinds = {item.kind: item for item in evaluation.report().negatives}
    assert dict(kinds["UUID"].by) == {"PHONE": 1}
    assert dict(kinds["VERSION"].by) == {"CREDENTIAL": 1}
    assert (kinds["PLAN"].count, kinds["PLAN"].altered) == (1, 0)


def test_a_locale_slice_holds_only_its_events(evaluation: Evaluation) -> None:
    report = evaluation.report("ja_JP")
    scores = {score.kind: score for score in report.types}
    assert report.events == 1
    assert scores["EMAIL"].recall == 0.0
    assert scores["TOKEN"].recall == 1.0
    assert (report.negatives_total, report.negatives_altered) == (1, 1)


def test_a_dropped_key_alters_its_negatives_without_a_detector() -> None:
    item = LabelledEvent(
        {"gone": "pro"}, "en_US", (_label("PLAN", ("gone",), "pro", negative=True),)
    )
    run = Evaluation(_redact, _spans)
    run.add(item)
    assert dict(run.report().negatives[0].by) == {OTHER: 1}


def test_survival_counts_runs_of_four_or_more() -> None:
    assert survival("jane@example.com", "x jane@example.com") == 1.0
    assert survival("jane@example.com", "[EMAIL]") == 0.0
    assert survival("Karen Smith", "Karen [PERSON]") == pytest.approx(6 / 11)
    assert survival("abc", "ab") == 0.0


def test_report_json_carries_the_figures(evaluation: Evaluation) -> None:
    data = evaluation.report().to_json()
    email = next(item for item in data["types"] if item["type"] == "EMAIL")
    assert email["recall"] == 0.5 and email["planted"] == 2
    assert data["negatives"]["share_altered"] == pytest.approx(2 / 3)
    assert {
        "type": "EMAIL",
        "variant": "v",
        "carrier": "c",
        "missed": 1,
        "planted": 2,
    } in data["misses_by_shape"]


# --- end to end, with the real detection -----------------------------------


@pytest.fixture(scope="module")
def small() -> list[LabelledEvent]:
    return list(generate(60, seed=21))


def test_the_eval_sees_what_sanitize_redact_all_writes(
    small: list[LabelledEvent], tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(item.event) + "\n" for item in small))
    result = CliRunner().invoke(
        main, ["sanitize", "--policy", "redact-all", str(events)]
    )
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    redacting = redactor()
    run = Evaluation(redacting.redact, redacting.scanner.scan)
    assert [run.add(item) for item in small] == written


def test_eval_command_writes_json_and_tables_without_values(
    small: list[LabelledEvent], tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("wb") as handle:
        write_jsonl(small, handle)
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(
        main, ["detect", "eval", str(corpus), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "ja_JP events only" in result.output and "Hard negatives" in result.output

    data = json.loads(out.read_text())
    run = data["runs"]["without NER"]
    assert run["all"]["events"] == len(small)
    assert run["ja_JP"]["events"] == sum(item.locale == "ja_JP" for item in small)
    types = {item["type"]: item for item in run["all"]["types"]}
    assert set(types) == {kind.value for kind in Planted}
    for item in types.values():
        assert item["recall"] == pytest.approx(item["caught"] / item["planted"])
    assert data["targets"] == {"recall": 0.99, "negatives_altered": 0.005}
    assert isinstance(run["all"]["shortfalls"], list)

    planted = {label.value for item in small for label in item.labels}
    leaked = [value for value in planted if len(value) > 6 and value in result.output]
    assert not leaked


def test_eval_generates_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    args = ["detect", "eval", "--generate", "30", "--seed", "2", "--locales", "ja_JP"]
    result = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["runs"]["without NER"]["ja_JP"]["events"] == 30


def test_eval_refuses_a_corpus_and_generate_together(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("")
    result = CliRunner().invoke(
        main, ["detect", "eval", str(corpus), "--generate", "5"]
    )
    assert result.exit_code == 2 and "not both" in result.output


def test_eval_shows_misses_of_generated_corpora_only(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("")
    result = CliRunner().invoke(
        main, ["detect", "eval", str(corpus), "--show-misses", "3"]
    )
    assert result.exit_code == 2 and "generated corpora only" in result.output


def test_check_fails_on_a_missed_target_and_names_it(tmp_path: Path) -> None:
    item = LabelledEvent(
        {"fruit": "orange"},  # labelled as a token no detector could know
        "en_US",
        (_label("TOKEN", ("fruit",), "orange"),),
    )
    corpus = tmp_path / "c.jsonl"
    with corpus.open("wb") as handle:
        write_jsonl([item], handle)
    result = CliRunner().invoke(main, ["detect", "eval", str(corpus), "--check"])
    assert result.exit_code == 1
    assert "target missed, all events: TOKEN recall 0.0% < 99%" in result.output


def test_check_passes_when_every_target_is_met(tmp_path: Path) -> None:
    item = LabelledEvent(
        {"email": "jane.doe@example.com", "id": "5c0f7a2e-8e1b-4b0e-9d0a-3c5f1e2d7a90"},
        "en_US",
        (
            _label("EMAIL", ("email",), "jane.doe@example.com"),
            _label("UUID", ("id",), "5c0f7a2e-8e1b-4b0e-9d0a-3c5f1e2d7a90", True),
        ),
    )
    corpus = tmp_path / "c.jsonl"
    with corpus.open("wb") as handle:
        write_jsonl([item], handle)
    result = CliRunner().invoke(main, ["detect", "eval", str(corpus), "--check"])
    assert result.exit_code == 0, result.output
    assert "every target met" in result.output


def test_a_placeholder_does_not_pass_for_a_negative() -> None:
    def redact(record: Any) -> tuple[Any, dict[str, int]]:
        return {"label": "[TOKEN]"}, {}

    item = LabelledEvent(
        {"label": "OK"}, "en_US", (_label("LABEL", ("label",), "OK", negative=True),)
    )
    run = Evaluation(redact, lambda text: [])
    run.add(item)
    assert run.report().negatives_altered == 1
