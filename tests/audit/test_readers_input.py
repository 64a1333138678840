"""Bad input: every problem becomes a Malformed item with file and line."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from redline.audit.readers import _source, plan, read
from redline.audit.readers._convert import amplitude, generic, posthog, segment
from redline.audit.readers._time import to_seconds
from redline.audit.records import AuditRecord, Malformed

CANARY = "canary.person@leak.example.org"
GOOD = b'{"event": "ok", "properties": {"distinct_id": "u-1"}}\n'


def _items(path: Path, **kwargs: object) -> list[AuditRecord | Malformed]:
    return [item for chunk in plan([str(path)], **kwargs) for item in read(chunk)]  # type: ignore[arg-type]


def _malformed(items: list[AuditRecord | Malformed]) -> list[tuple[str, str]]:
    return [(i.source, i.reason) for i in items if isinstance(i, Malformed)]


def test_bad_lines_are_reported_by_line_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(
        GOOD
        + b'{"event": "x", "properties": {"email": "' + CANARY.encode() + b'"\n'
        + b"\n"
        + b'{"properties": {"email": "' + CANARY.encode() + b'"}}\n'
        + b'{"event": "x", "properties": "' + CANARY.encode() + b'"}\n'
        + b'"' + CANARY.encode() + b'"\n'
        + b'{"event": "caf\xe9", "properties": {}}\n'
        + GOOD.rstrip(b"\n")
    )  # fmt: skip

    items = _items(path, format="mixpanel")

    assert _malformed(items) == [
        (f"{path}:2", "not valid JSON"),
        (f"{path}:4", "no event name"),
        (f"{path}:5", "properties is not an object"),
        (f"{path}:6", "not a JSON object"),
        (f"{path}:7", "not valid JSON"),  # not UTF-8
    ]
    assert [i.source for i in items if isinstance(i, AuditRecord)] == [
        f"{path}:1",
        f"{path}:8",
    ]
    assert CANARY not in repr(items[1:7])


def test_a_gzip_cut_short_keeps_what_came_before(tmp_path: Path) -> None:
    packed = gzip.compress(GOOD * 20_000)
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])

    items = _items(path)

    *records, last = items
    assert records and all(isinstance(r, AuditRecord) for r in records)
    assert last == Malformed(
        f"{path}:{len(records) + 1}",
        "compressed data is corrupt or cut short here; the rest is unreadable",
    )


def test_a_corrupt_zip_is_reported_not_fatal(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.json", GOOD * 3)
    path = tmp_path / "export.zip"
    path.write_bytes(buffer.getvalue()[:40])  # the local header, no directory

    items = _items(path)

    assert len(items) == 1
    assert isinstance(items[0], Malformed)
    assert items[0].source == str(path)


def test_an_overlong_line_is_skipped_with_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_source, "MAX_LINE", 1000)
    monkeypatch.setattr(_source, "BLOCK", 256)
    long_line = b'{"event": "x", "properties": {"v": "' + b"a" * 5000 + b'"}}\n'
    path = tmp_path / "export.jsonl"
    path.write_bytes(GOOD + long_line + GOOD + long_line.rstrip(b"\n"))

    items = _items(path)

    assert [type(i).__name__ for i in items] == [
        "AuditRecord",
        "Malformed",
        "AuditRecord",
        "Malformed",
    ]
    assert items[1].source == f"{path}:2"
    assert items[3].source == f"{path}:4"


def test_csv_rows_with_too_many_cells_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event,user_id,email\n"
        "signup,u-1,a@b.example\n"
        f"signup,u-2,{CANARY},extra\n"
        '"multi\nline",u-3,\n'
        "short,u-4\n"
    )

    items = _items(path)

    assert _malformed(items) == [(f"{path}:3", "row has 4 cells, the header 3")]
    records = [i for i in items if isinstance(i, AuditRecord)]
    assert [(r.event, r.distinct_id, r.source) for r in records] == [
        ("signup", "u-1", f"{path}:2"),
        ("multi\nline", "u-3", f"{path}:4"),
        ("short", "u-4", f"{path}:6"),
    ]
    assert records[1].properties == {"event": "multi\nline", "user_id": "u-3"}


def test_posthog_csv_columns_are_nested_back(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event,distinct_id,timestamp,properties,person.properties.email\n"
        '$pageview,u-1,2024-05-01T00:00:00Z,"{""$browser"": ""Chrome""}",a@b.example\n'
    )

    (record,) = _items(path)

    assert isinstance(record, AuditRecord)
    assert record.properties == {
        "$browser": "Chrome",
        "distinct_id": "u-1",
        "timestamp": "2024-05-01T00:00:00Z",
        "person": {"properties": {"email": "a@b.example"}},
    }


def test_a_json_array_with_a_syntax_error_stops_there(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text('[{"event": "a"}, 7, {"event": "b"}, {"event": "c", oops}]')

    items = _items(path)

    assert [(i.source, type(i).__name__) for i in items] == [
        (f"{path}:[0]", "AuditRecord"),
        (f"{path}:[1]", "Malformed"),
        (f"{path}:[2]", "AuditRecord"),
        (f"{path}:[3]", "Malformed"),
    ]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1714550400, 1714550400.0),
        (1714550400.5, 1714550400.5),
        (1714550400123, 1714550400.123),
        ("1714550400", 1714550400.0),
        ("2024-05-01T08:00:00Z", 1714550400.0),
        ("2024-05-01T10:00:00+02:00", 1714550400.0),
        ("2024-05-01 08:00:00.000000", 1714550400.0),  # Amplitude, UTC
        ("yesterday", None),
        ("", None),
        (True, None),
        (None, None),
        ({"t": 1}, None),
    ],
)
def test_times_become_unix_seconds(value: object, seconds: float | None) -> None:
    result = to_seconds(value)

    assert result == pytest.approx(seconds) if seconds is not None else result is None


def test_vendor_fields_never_overwrite_properties_of_the_same_name() -> None:
    message = {
        "type": "track",
        "event": "Viewed",
        "userId": "u-1",
        "context": {"ip": "81.2.69.160"},
        "properties": {"context": "sidebar", "userId": "u-1"},
    }

    record = segment(message, "s:1")

    assert isinstance(record, AuditRecord)
    assert record.properties["context"] == "sidebar"
    assert record.properties["$segment.context"] == {"ip": "81.2.69.160"}
    assert "$segment.userId" not in record.properties  # same value, kept once


def test_identity_falls_back_to_the_anonymous_or_device_id() -> None:
    seg = segment({"type": "page", "anonymousId": "a-1", "name": "Home"}, "s:1")
    amp = amplitude({"event_type": "x", "device_id": "d-1", "user_id": None}, "a:1")
    gen = generic({"properties": {"user_id": 42}, "name": "n"}, "g:1")

    assert isinstance(seg, AuditRecord) and isinstance(amp, AuditRecord)
    assert isinstance(gen, AuditRecord)
    assert (seg.event, seg.distinct_id) == ("page", "a-1")
    assert amp.distinct_id == "d-1"
    assert (gen.event, gen.distinct_id) == ("n", "42")


def test_posthog_properties_held_as_json_text_are_decoded() -> None:
    row = {
        "event": "$identify",
        "distinct_id": "u-1",
        "properties": '{"$set": {"email": "a@b.example"}}',
        "person_properties": '{"name": "Ana"}',
    }

    record = posthog(row, "p:2")

    assert isinstance(record, AuditRecord)
    assert record.properties["$set"] == {"email": "a@b.example"}
    assert record.properties["person_properties"] == {"name": "Ana"}


def test_a_track_message_without_an_event_name_is_malformed() -> None:
    assert segment({"type": "track", "userId": "u"}, "s:9") == Malformed(
        "s:9", "no event name"
    )


def test_json_cells_full_of_commas_do_not_confuse_the_delimiter(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.csv"
    cell = '"{""$browser"": ""Chrome"", ""$os"": ""Mac"", ""list"": [1, 2, 3]}"'
    path.write_text(f"event;distinct_id;properties\n$pageview;u-1;{cell}\n")

    (record,) = _items(path)

    assert isinstance(record, AuditRecord)
    assert record.properties["list"] == [1, 2, 3]
    assert record.distinct_id == "u-1"


def test_binary_with_a_comma_is_not_taken_for_csv(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x7fELF\x02,\x01\x01\x00,\x00\n,,,\n")

    (item,) = _items(path)

    assert isinstance(item, Malformed)


def test_concatenated_gzip_members_are_read_one_after_another(tmp_path: Path) -> None:
    path = tmp_path / "part-0000.gz"
    path.write_bytes(gzip.compress(GOOD * 2) + gzip.compress(GOOD * 3) + b"\x00" * 16)

    items = _items(path)

    assert [i.source for i in items] == [f"{path}:{n}" for n in range(1, 6)]
    assert all(isinstance(i, AuditRecord) for i in items)
