"""Format detection from content, through gzip and zip, and the override."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import pytest

from redline.audit.readers import plan, read
from redline.audit.readers._sniff import detect
from redline.audit.records import AuditRecord, Malformed

MIXPANEL = b'{"event": "Signed Up", "properties": {"distinct_id": "u-1", "time": 1}}\n'
SEGMENT = (
    b'{"type": "identify", "userId": "u-1", "traits": {"plan": "pro"},'
    b' "messageId": "m-1", "timestamp": "2024-05-01T00:00:00Z"}\n'
)
AMPLITUDE = (
    b'{"event_type": "Played", "user_id": "u-1", "device_id": "d-1",'
    b' "event_time": "2024-05-01 00:00:00.000000", "event_properties": {}}\n'
)
POSTHOG = (
    b'{"uuid": "0", "event": "$pageview", "distinct_id": "u-1",'
    b' "timestamp": "2024-05-01T00:00:00Z", "properties": {"$browser": "Chrome"}}\n'
)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (MIXPANEL, "mixpanel"),
        (SEGMENT, "segment"),
        (AMPLITUDE, "amplitude"),
        (POSTHOG, "posthog-json"),
        (b"[" + POSTHOG.strip() + b"]", "posthog-json"),
        (b"[" + MIXPANEL.strip() + b"]", "mixpanel"),
        (b'{"action": "click", "who": "u-1"}\n', "jsonl"),
        (b'[{"action": "click"}, {"action": "view"}]', "json"),
        (
            b"event,distinct_id,timestamp,properties.$browser\n$pageview,u,t,C\n",
            "posthog-csv",
        ),
        (b"*.event,*.distinct_id,*.properties\nx,u,{}\n", "posthog-csv"),
        (b"action,who,when\nclick,u-1,2024\nview,u-2,2024\n", "csv"),
        (b"action\twho\nclick\tu-1\n", "csv"),
        (b"\xef\xbb\xbf" + MIXPANEL, "mixpanel"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "unknown"),
        (b"", "jsonl"),
    ],
)
def test_formats_are_told_apart_by_their_first_object(
    head: bytes, expected: str
) -> None:
    assert detect(head) == expected


def test_gzip_and_zip_are_seen_through_whatever_the_file_names(tmp_path: Path) -> None:
    lines = MIXPANEL * 3
    (tmp_path / "plain-blob").write_bytes(lines)
    (tmp_path / "gzip-blob").write_bytes(gzip.compress(lines))
    member = io.BytesIO()
    with zipfile.ZipFile(member, "w") as archive:
        archive.writestr("inner/plain.txt", lines)
        archive.writestr("inner/packed.bin", gzip.compress(SEGMENT * 2))
        archive.writestr("inner/", b"")
    (tmp_path / "zip-blob").write_bytes(member.getvalue())

    chunks = plan([str(tmp_path)])

    found = {(Path(c.path).name, c.member, c.format) for c in chunks}
    assert found == {
        ("gzip-blob", None, "mixpanel"),
        ("plain-blob", None, "mixpanel"),
        ("zip-blob", "inner/plain.txt", "mixpanel"),
        ("zip-blob", "inner/packed.bin", "segment"),
    }
    sources = [item.source for chunk in chunks for item in read(chunk)]
    assert f"{tmp_path}/zip-blob!inner/packed.bin:2" in sources
    assert f"{tmp_path}/gzip-blob:3" in sources


def test_a_forced_format_overrides_detection(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(MIXPANEL))

    chunks = plan([str(path)], format="jsonl")

    assert [c.format for c in chunks] == ["jsonl"]
    (record,) = list(read(chunks[0]))
    assert isinstance(record, AuditRecord)
    # read generically: the vendor's object is kept whole
    assert record.event == "Signed Up"
    assert record.properties["properties"]["distinct_id"] == "u-1"
    assert record.distinct_id == "u-1"


def test_an_unrecognised_file_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(MIXPANEL)
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")

    items = [item for chunk in plan([str(tmp_path)]) for item in read(chunk)]

    assert isinstance(items[0], AuditRecord)
    assert items[1] == Malformed(
        f"{tmp_path}/b.png", "not a recognised export (not JSON, CSV, gzip or zip)"
    )


def test_events_under_a_top_level_results_array_are_read(tmp_path: Path) -> None:
    path = tmp_path / "page-1.json"
    path.write_text(
        '{\n  "next": null,\n  "results": [\n'
        '    {"uuid": "0", "event": "$pageview", "distinct_id": "u-1",\n'
        '     "timestamp": "2024-05-01T00:00:00Z", "properties": {}},\n'
        '    {"uuid": "1", "event": "$autocapture", "distinct_id": "u-2",\n'
        '     "timestamp": "2024-05-01T00:00:01Z", "properties": {}}\n'
        "  ]\n}\n"
    )

    chunks = plan([str(path)])
    items = list(read(chunks[0]))

    assert [c.format for c in chunks] == ["posthog-json"]
    assert [(i.source, getattr(i, "distinct_id", None)) for i in items] == [
        (f"{path}:[0]", "u-1"),
        (f"{path}:[1]", "u-2"),
    ]


def test_lines_forced_as_json_are_still_read_and_split(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_bytes(b'{"name": "viewed", "uid": "u"}\n' * 4000)

    chunks = plan([str(path)], format="json", chunk_bytes=16 << 10)

    assert len(chunks) > 4
    items = [item for chunk in chunks for item in read(chunk)]
    assert len(items) == 4000
    assert all(isinstance(i, AuditRecord) and i.event == "viewed" for i in items)


def test_pipes_in_a_directory_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(MIXPANEL)
    os.mkfifo(tmp_path / "b.pipe")

    chunks = plan([str(tmp_path)])

    assert [Path(c.path).name for c in chunks] == ["a.jsonl"]
