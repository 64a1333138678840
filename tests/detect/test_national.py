"""National identifiers through python-stdnum, asked for by name.

Test vectors: the examples in python-stdnum's documentation of each module
(a French NIR, a German tax id, a Brazilian CPF).
"""

from __future__ import annotations

import pytest

from redline.detect import (
    EntityType,
    NationalIdDetector,
    build_detector,
    detector_name_error,
)
from redline.errors import ConfigError

from ._util import found, scanned


@pytest.mark.parametrize(
    ("name", "text", "number"),
    [
        ("fr.nir", "NIR 2 95 10 99 126 111 93 ok", "2 95 10 99 126 111 93"),
        ("de.idnr", "Steuer-ID 36 574 261 809", "36 574 261 809"),
        ("br.cpf", "CPF 390.533.447-05", "390.533.447-05"),
    ],
)
def test_national_id_is_found(name: str, text: str, number: str) -> None:
    detector = build_detector(f"national_id:{name}")
    assert isinstance(detector, NationalIdDetector)
    assert found(detector, text) == [number]
    assert scanned(detector, text) == [number]


def test_bad_check_digits_are_not_reported() -> None:
    assert found(NationalIdDetector("br.cpf"), "CPF 390.533.447-06") == []
    assert found(NationalIdDetector("de.idnr"), "36 574 261 808") == []


@pytest.mark.parametrize("name", ["xx.nope", "iban/../x", "util", "exceptions"])
def test_unknown_module_is_a_config_error_with_a_fix(name: str) -> None:
    with pytest.raises(ConfigError) as error:
        NationalIdDetector(name)
    assert error.value.fix and "python-stdnum" in error.value.fix
    assert detector_name_error(f"national_id:{name}") is not None


def test_names_a_policy_may_use() -> None:
    assert detector_name_error("iban") is None
    assert detector_name_error("free_text") is None
    assert detector_name_error("national_id:fr.nir") is None
    message = detector_name_error("emails")
    assert message is not None and "national_id:" in message


def test_a_flood_of_candidates_masks_the_string_rather_than_run_on() -> None:
    text = "12 " * 5000
    (span,) = NationalIdDetector("fr.nir").find(text)
    assert span.type is EntityType.UNSCANNABLE
    assert (span.start, span.end) == (0, len(text))


def test_prose_without_digits_costs_no_validation() -> None:
    assert NationalIdDetector("fr.nir").find("the cat sat on the mat " * 500) == []
