"""Export readers: every format read back as written, with its problems marked."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from redline.audit.readers import ExportInputError, plan, read, total_bytes
from redline.audit.records import FORMATS, AuditRecord, Chunk, Malformed

from .exports import START, Truth, write_exports


def read_all(chunks: list[Chunk]) -> tuple[list[AuditRecord], list[Malformed]]:
    records: list[AuditRecord] = []
    malformed: list[Malformed] = []
    for chunk in chunks:
        for item in read(chunk):
            if isinstance(item, Malformed):
                malformed.append(item)
            else:
                records.append(item)
    return records, malformed


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Truth]:
    return write_exports(tmp_path_factory.mktemp("exports"))


def _expected_event(fmt: str, obj: dict[str, Any]) -> str:
    if fmt == "amplitude":
        return str(obj["event_type"])
    if fmt == "segment":
        return str(obj.get("event") or obj["type"])
    return str(obj["event"])


def _beside(properties: dict[str, Any], obj: dict[str, Any], skip: set[str]) -> None:
    for key, value in obj.items():
        if key not in skip:
            properties.setdefault(key, value)


def _expected_properties(fmt: str, obj: dict[str, Any]) -> dict[str, Any]:
    """What the AuditRecord docs promise for each vendor's object."""
    if fmt == "mixpanel":
        return dict(obj["properties"])
    if fmt in ("json", "jsonl", "csv"):
        return dict(obj)
    if fmt == "posthog-csv":
        props = {
            key.removeprefix("properties."): value
            for key, value in obj.items()
            if key.startswith("properties.")
        }
        columns = {k: v for k, v in obj.items() if not k.startswith("properties.")}
        _beside(props, columns, {"event"})
        return props
    if fmt == "amplitude":
        props = dict(obj["event_properties"])
        _beside(props, obj, {"event_type", "event_properties"})
        return props
    props = dict(obj.get("properties", {}))  # posthog-json, segment
    _beside(props, obj, {"event", "properties"})
    return props


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_what_was_written(
    datasets: dict[str, Truth], fmt: str
) -> None:
    truth = datasets[fmt]
    chunks = plan([str(truth.root)])

    records, malformed = read_all(chunks)

    assert {chunk.format for chunk in chunks} == {fmt}
    assert len(records) == truth.events == len(truth.written)
    assert [m.source for m in malformed] == truth.malformed
    for index, (record, (source, obj)) in enumerate(
        zip(records, truth.written, strict=True)
    ):
        assert record.source == source
        assert record.event == _expected_event(fmt, obj)
        assert record.time == START + index * 7
        assert record.properties == _expected_properties(fmt, obj)
    assert {r.distinct_id for r in records} == truth.people_ids
    assert Counter(r.event for r in records) == truth.by_event


def test_segment_identify_calls_are_named_by_kind(datasets: dict[str, Truth]) -> None:
    records, _ = read_all(plan([str(datasets["segment"].root)]))

    names = {r.event for r in records}

    assert "identify" in names
    assert "Signed Up" not in names
    identify = next(r for r in records if r.event == "identify")
    assert "email" in identify.properties["traits"]


def test_malformed_items_never_carry_the_raw_text(datasets: dict[str, Truth]) -> None:
    for truth in datasets.values():
        _, malformed = read_all(plan([str(truth.root)]))
        assert malformed, truth.format
        for item in malformed:
            text = f"{item.source} {item.reason}"
            assert not any(value in text for value in truth.planted), truth.format


def test_a_directory_of_every_format_is_read_as_one_dataset(
    datasets: dict[str, Truth],
) -> None:
    root = next(iter(datasets.values())).root.parent

    records, malformed = read_all(plan([str(root)]))

    assert len(records) == sum(t.events for t in datasets.values())
    assert len(malformed) == sum(len(t.malformed) for t in datasets.values())


def test_a_glob_selects_files_across_datasets(datasets: dict[str, Truth]) -> None:
    root = next(iter(datasets.values())).root.parent

    chunks = plan([f"{root}/*/events.csv"])

    assert {c.format for c in chunks} == {"csv", "posthog-csv"}
    records, _ = read_all(chunks)
    assert len(records) == datasets["csv"].events + datasets["posthog-csv"].events


def test_hidden_files_in_directories_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text('{"event": "a", "properties": {}}\n')
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.jsonl").write_text('{"event": "b", "properties": {}}\n')

    chunks = plan([str(tmp_path)])

    assert [Path(c.path).name for c in chunks] == ["events.jsonl"]


def test_missing_paths_are_refused_with_the_path_and_a_fix(tmp_path: Path) -> None:
    with pytest.raises(ExportInputError, match=r"nowhere\.jsonl: no such file.*fix"):
        plan([str(tmp_path / "nowhere.jsonl")])
    with pytest.raises(ExportInputError, match=r"matches no file"):
        plan([str(tmp_path / "*.gz")])
    with pytest.raises(ExportInputError, match=r"unknown export format 'parquet'"):
        plan([str(tmp_path)], format="parquet")


def test_the_same_file_named_twice_is_read_once(datasets: dict[str, Truth]) -> None:
    path = str(datasets["jsonl"].files[0])

    chunks = plan([path, path, str(Path(path).parent)])

    assert len(chunks) == 1


def test_total_bytes_and_progress_account_for_every_byte_on_disk(
    datasets: dict[str, Truth],
) -> None:
    for fmt in ("mixpanel", "segment", "csv", "json"):
        truth = datasets[fmt]
        chunks = plan([str(truth.root)])
        reported: list[int] = []

        for chunk in chunks:
            for _ in read(chunk, progress=reported.append):
                pass

        on_disk = sum(path.stat().st_size for path in truth.files)
        assert total_bytes(chunks) == on_disk == sum(reported), fmt


def test_times_in_iso_form_become_unix_seconds(datasets: dict[str, Truth]) -> None:
    records, _ = read_all(plan([str(datasets["posthog-json"].root)]))

    first = records[0]

    assert first.time == START
    stamp = first.properties["timestamp"]
    assert datetime.fromisoformat(stamp).timestamp() == START


def test_the_public_surface_of_the_readers() -> None:
    from redline.audit import readers

    assert set(readers.__all__) == {
        "DEFAULT_CHUNK_BYTES",
        "ExportInputError",
        "FORMATS",
        "expand",
        "plan",
        "read",
        "total_bytes",
    }
