"""The report's counts against the ground truth of the sample exports."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from redline.audit.report import build_report, report_schema
from redline.audit.run import analyse

from .exports import FORMATS, Truth, write_exports


@pytest.fixture(scope="module")
def truths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Truth]:
    return write_exports(tmp_path_factory.mktemp("exports"), count=900, people=120)


@pytest.fixture(scope="module")
def reports(truths: dict[str, Truth]) -> dict[str, dict]:
    return {
        fmt: build_report(analyse([str(truth.root)], workers=2))
        for fmt, truth in truths.items()
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_follows_its_schema(reports: dict[str, dict], fmt: str) -> None:
    jsonschema.validate(reports[fmt], report_schema())


@pytest.mark.parametrize("fmt", FORMATS)
def test_events_people_and_kinds_match_the_truth(
    truths: dict[str, Truth], reports: dict[str, dict], fmt: str
) -> None:
    truth, report = truths[fmt], reports[fmt]
    assert report["events"]["total"] == truth.events
    by_kind = {row["kind"]: row for row in report["blast_radius"]["by_kind"]}
    expected = truth.by_type
    assert set(by_kind) == set(expected)
    for kind, count in expected.items():
        assert (by_kind[kind]["events"], by_kind[kind]["people"]) == (
            count.events,
            count.people,
        ), kind
        assert by_kind[kind]["people_exact"]
    people: set[str] = set()
    for count in expected.values():
        people |= count.people_ids
    assert report["blast_radius"]["people"] == len(people)


@pytest.mark.parametrize("fmt", FORMATS)
def test_findings_per_property_match_the_truth(
    truths: dict[str, Truth], reports: dict[str, dict], fmt: str
) -> None:
    truth, report = truths[fmt], reports[fmt]
    found = {
        (row["event"], row["property"], row["kind"]): (row["events"], row["people"])
        for row in report["findings"]
    }
    expected = {
        key: (count.events, count.people) for key, count in truth.by_property.items()
    }
    assert found == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_malformed_lines_are_counted_with_file_and_line(
    truths: dict[str, Truth], reports: dict[str, dict], fmt: str
) -> None:
    truth, report = truths[fmt], reports[fmt]
    malformed = report["malformed"]
    assert malformed["total"] == len(truth.malformed)
    sources = sorted(
        Path(e["source"].split(":")[0]).name + ":" + e["source"].rsplit(":", 1)[1]
        for e in malformed["examples"]
    )
    expected = sorted(
        Path(s.split(":")[0]).name + ":" + s.rsplit(":", 1)[1] for s in truth.malformed
    )
    assert sources == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_time_range_and_inventory(
    truths: dict[str, Truth], reports: dict[str, dict], fmt: str
) -> None:
    truth, report = truths[fmt], reports[fmt]
    assert truth.first is not None and truth.last is not None
    from redline.audit.report import _iso

    assert report["time_range"] == {
        "first": _iso(truth.first),
        "last": _iso(truth.last),
    }
    events = {row["event"]: row["events"] for row in report["inventory"]}
    assert sum(events.values()) == truth.events
    for row in report["inventory"]:
        for prop in row["properties"]:
            assert 0 < prop["fill_rate"] <= 1
            assert prop["distinct_estimate"] >= 1


def test_government_ids_and_bank_accounts_rank_first(
    reports: dict[str, dict],
) -> None:
    report = reports["mixpanel"]
    by_kind = {row["kind"]: row for row in report["blast_radius"]["by_kind"]}
    categories = {kind: by_kind[kind]["category"] for kind in by_kind}
    assert categories["US_SSN"] == categories["JP_MY_NUMBER"] == "government_id"
    assert categories["IBAN"] == categories["CREDIT_CARD"] == "financial"
    ranking = report["risk_ranking"]
    tiers = [row["tier"] for row in ranking]
    assert tiers == sorted(tiers)
    first = {row["property"] for row in ranking if row["tier"] == 1}
    assert {"ssn", "my_number", "iban", "card_number", "token", "api_key"} <= first
    assert all(row["suggested_action"] == "drop" for row in ranking if row["tier"] == 1)
