"""The labelled corpus: the same for a seed, and every label points at a
planted value that is what it claims to be (valid check digits, a number of
the locale's plan, a decodable JWT)."""

from __future__ import annotations

import base64
import json
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import phonenumbers
import pytest
from click.testing import CliRunner
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.jp import in_ as my_number
from stdnum.us import ssn as us_ssn

from redline.cli import main
from redline.quality import (
    LOCALES,
    LabelledEvent,
    Negative,
    Planted,
    generate,
    read_jsonl,
)
from redline.quality._labels import as_text, value_at
from redline.quality._values import REGION


@pytest.fixture(scope="module")
def corpus() -> list[LabelledEvent]:
    return list(generate(700, seed=11))


def _dump(events: list[LabelledEvent]) -> list[str]:
    return [json.dumps(item.to_json(), sort_keys=True) for item in events]


def test_same_seed_same_corpus() -> None:
    assert _dump(list(generate(40, seed=3))) == _dump(list(generate(40, seed=3)))


def test_other_seed_other_corpus() -> None:
    assert _dump(list(generate(40, seed=3))) != _dump(list(generate(40, seed=4)))


def test_a_smaller_corpus_is_a_prefix_of_a_bigger_one() -> None:
    assert _dump(list(generate(15, seed=5))) == _dump(list(generate(30, seed=5)))[:15]


def test_every_label_names_a_substring_of_the_string_at_its_path(
    corpus: list[LabelledEvent],
) -> None:
    for item in corpus:
        assert item.labels
        for label in item.labels:
            found, holder = value_at(item.event, label.path)
            text = as_text(holder)
            assert found and text is not None, label
            assert label.value and label.value in text, label


def test_every_type_and_locale_is_planted(corpus: list[LabelledEvent]) -> None:
    kinds = {label.kind for item in corpus for label in item.labels}
    assert {kind.value for kind in Planted} <= kinds
    assert {kind.value for kind in Negative} <= kinds
    assert {item.locale for item in corpus} == set(LOCALES)


def test_negatives_never_overlap_a_planted_value(corpus: list[LabelledEvent]) -> None:
    for item in corpus:
        planted = [label for label in item.labels if not label.negative]
        for negative in (label for label in item.labels if label.negative):
            for label in planted:
                if label.path == negative.path:
                    assert negative.value not in label.value
                    assert label.value not in negative.value


def _values(corpus: list[LabelledEvent], kind: Planted) -> list[tuple[str, str, str]]:
    return [
        (label.value, label.variant, item.locale)
        for item in corpus
        for label in item.labels
        if label.kind == kind.value
    ]


def _digits(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", value) if c.isdigit())


def test_cards_pass_luhn(corpus: list[LabelledEvent]) -> None:
    values = _values(corpus, Planted.CREDIT_CARD)
    assert values
    for value, _, _ in values:
        assert 13 <= len(_digits(value)) <= 19 and luhn.is_valid(_digits(value))


def test_ibans_pass_mod_97(corpus: list[LabelledEvent]) -> None:
    values = _values(corpus, Planted.IBAN)
    assert values
    for value, _, _ in values:
        assert std_iban.is_valid(value), value


def test_ssns_are_in_issued_ranges(corpus: list[LabelledEvent]) -> None:
    values = _values(corpus, Planted.US_SSN)
    assert values
    for value, _, _ in values:
        assert us_ssn.is_valid(_digits(value)), value


def test_my_numbers_have_their_check_digit(corpus: list[LabelledEvent]) -> None:
    values = _values(corpus, Planted.JP_MY_NUMBER)
    assert values
    for value, _, _ in values:
        assert my_number.is_valid(_digits(value)), value


def test_phones_are_valid_numbers_of_the_locale(corpus: list[LabelledEvent]) -> None:
    values = _values(corpus, Planted.PHONE)
    assert values
    for value, _, locale in values:
        typed = unicodedata.normalize("NFKC", unquote(value)).replace("\u30fc", "-")
        number = phonenumbers.parse(typed, REGION[locale])
        assert phonenumbers.is_valid_number(number), (value, locale)


def test_jwts_decode(corpus: list[LabelledEvent]) -> None:
    values = _values(corpus, Planted.JWT)
    assert values
    for value, variant, _ in values:
        header, payload, signature = value.split(".")
        padded = header + "=" * (-len(header) % 4)
        assert json.loads(base64.urlsafe_b64decode(padded))["alg"] == variant
        assert payload and signature


def test_japanese_events_carry_japanese_text(corpus: list[LabelledEvent]) -> None:
    texts = [
        label.value
        for item in corpus
        if item.locale == "ja_JP"
        for label in item.labels
        if label.kind == Planted.FREE_TEXT.value
    ]
    assert texts
    assert all(
        any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in t)
        for t in texts
    )


def test_full_width_forms_are_planted_in_japanese_events(
    corpus: list[LabelledEvent],
) -> None:
    variants = {
        label.variant
        for item in corpus
        if item.locale == "ja_JP"
        for label in item.labels
    }
    assert "full-width" in variants


def test_cards_and_epoch_times_are_planted_as_json_numbers(
    corpus: list[LabelledEvent],
) -> None:
    numbers = {
        label.kind
        for item in corpus
        for label in item.labels
        if type(value_at(item.event, label.path)[1]) is int
    }
    assert numbers == {"CREDIT_CARD", "TIMESTAMP"}


def test_tokens_named_only_by_their_header_are_planted(
    corpus: list[LabelledEvent],
) -> None:
    carriers = {label.carrier for label in (x for i in corpus for x in i.labels)}
    assert "header-name-only" in carriers
    assert any(carrier.startswith("url-param:") for carrier in carriers)


def test_generate_command_writes_a_readable_corpus(tmp_path: Path) -> None:
    out = tmp_path / "corpus.jsonl"
    result = CliRunner().invoke(
        main, ["detect", "generate", "-n", "25", "--seed", "9", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    read = list(read_jsonl(out))
    assert _dump(read) == _dump(list(generate(25, seed=9)))


def test_generate_command_refuses_an_unknown_locale() -> None:
    result = CliRunner().invoke(
        main, ["detect", "generate", "--locales", "en_US,xx_XX"]
    )
    assert result.exit_code == 2
    assert "xx_XX" in result.output and "ja_JP" in result.output


def test_generate_with_one_locale_keeps_to_it() -> None:
    assert {item.locale for item in generate(30, seed=1, locales=["de_DE"])} == {
        "de_DE"
    }


def test_a_bad_corpus_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps(next(iter(generate(1))).to_json())
    path.write_text(good + "\n" + "{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not a labelled event"):
        list(read_jsonl(path))


def test_clean_share_leaves_events_with_negatives_only() -> None:
    events = list(generate(200, seed=6, clean_share=0.9))
    clean = [item for item in events if all(label.negative for label in item.labels)]
    assert 150 <= len(clean) <= 195
    assert all(item.labels for item in clean)
    with pytest.raises(ValueError, match="between 0 and 1"):
        list(generate(1, clean_share=1.5))


def test_a_label_that_misses_its_value_is_refused(tmp_path: Path) -> None:
    item = next(iter(generate(1, seed=2))).to_json()
    item["labels"][0]["value"] = "not in the event"
    path = tmp_path / "wrong.jsonl"
    path.write_text(json.dumps(item) + "\n")
    with pytest.raises(
        ValueError, match=r"wrong\.jsonl:1: .*label 0 .*not at its path"
    ):
        list(read_jsonl(path))


def test_eval_refuses_an_empty_corpus(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    result = CliRunner().invoke(main, ["detect", "eval", str(path)])
    assert result.exit_code == 1
    assert "no labelled events" in result.output and "detect generate" in result.output


def test_generate_says_when_it_cannot_write(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "corpus.jsonl"
    result = CliRunner().invoke(
        main, ["detect", "generate", "-n", "3", "-o", str(target)]
    )
    assert result.exit_code == 1
    assert "could not write the corpus" in result.output
