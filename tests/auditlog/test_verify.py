"""``verify`` catches each kind of tampering and says which record."""

from __future__ import annotations

import hmac
from pathlib import Path

import orjson
import pytest

from redline.auditlog import verify
from redline.auditlog._record import chain_hash, checkpoint_mac

from .helpers import (
    KEY,
    KEYS,
    check,
    files,
    fill,
    lines,
    messages,
    open_log,
    rehash,
    write,
)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Three files: 40 records, a checkpoint every 10, rotated by size."""
    fill(tmp_path, 40, checkpoint_every=10, max_file_bytes=4096)
    assert len(files(tmp_path)) >= 3
    report = check(tmp_path)
    assert report.ok, report.problems
    return tmp_path


def _at(directory: Path, seq: int) -> tuple[Path, list[dict[str, object]], int]:
    """The file holding record ``seq``, its records, and the record's index."""
    for path in files(directory):
        records = lines(path)
        for i, record in enumerate(records):
            if record["seq"] == seq:
                return path, records, i
    raise AssertionError(f"no record {seq}")


def test_an_untouched_log_passes(log_dir: Path) -> None:
    report = check(log_dir)

    assert report.ok
    assert report.records == report.last_seq
    assert report.signed_through == report.last_seq
    assert report.notes == []


def test_an_edited_field_is_caught_at_its_record(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 7)
    records[i]["data"]["token_id"] = "someone-else"  # type: ignore[index]
    write(path, records)

    report = check(log_dir)

    assert not report.ok
    assert [p.seq for p in report.problems] == [7]
    assert f"{path.name}:{i + 1}: record seq 7 was edited" in messages(report)


def test_an_edit_with_every_hash_recomputed_fails_the_next_checkpoint(
    log_dir: Path,
) -> None:
    path, records, i = _at(log_dir, 3)
    records[i]["data"]["route"] = "/elsewhere"  # type: ignore[index]
    rehash(records, i)
    # the forger carries on into the files after it, too
    write(path, records)
    later = files(log_dir)[files(log_dir).index(path) + 1 :]
    prev = records[-1]["hash"]
    for other in later:
        rest = lines(other)
        rest[0]["prev"] = prev
        rehash(rest)
        write(other, rest)
        prev = rest[-1]["hash"]

    report = check(log_dir)

    assert not report.ok
    text = messages(report)
    assert "checkpoint seq 11 has a bad signature" in text
    assert "between seq 0 and seq 11 was rewritten" in text


def test_a_deleted_record_is_named(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 15)
    del records[i]
    write(path, records)

    report = check(log_dir)

    assert [p.seq for p in report.problems] == [15]
    assert "seq 15 missing between seq 14" in messages(report)


def test_an_inserted_record_is_named(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 20)
    # a well-made forgery: it links to the record before it and numbers
    # itself in sequence; the records around it are untouched
    forged: dict[str, object] = {
        "seq": 20,
        "ts": records[i]["ts"],
        "kind": "admin.access",
        "data": {"token_id": "tok0", "route": "/admin/tokens", "n": -1},
        "prev": records[i - 1]["hash"],
    }
    forged["hash"] = chain_hash(str(forged["prev"]), forged)
    records.insert(i, forged)
    write(path, records)

    report = check(log_dir)

    assert len(report.problems) == 1
    assert f"{path.name}:{i + 1}: record seq 20 was inserted" in messages(report)


def test_two_swapped_records_are_named(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 25)
    records[i], records[i + 1] = records[i + 1], records[i]
    write(path, records)

    report = check(log_dir)

    assert len(report.problems) == 1
    assert "records seq 25 and seq 26 are swapped" in messages(report)


def test_a_moved_record_is_out_of_order(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 12)
    moved = records.pop(i)
    records.insert(i + 4, moved)
    write(path, records)

    report = check(log_dir)

    text = messages(report)
    assert "seq 12 missing between seq 11" in text
    assert "record seq 12 is out of order" in text


def test_cutting_records_off_the_end_is_caught_by_the_head(log_dir: Path) -> None:
    last = files(log_dir)[-1]
    records = lines(last)
    write(last, records[:-3])

    report = check(log_dir)

    assert not report.ok
    assert "the log was cut" in messages(report)


def test_truncating_a_file_mid_line_is_caught(log_dir: Path) -> None:
    first = files(log_dir)[0]
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])

    report = check(log_dir)

    text = messages(report)
    assert "hold no complete record" in text
    assert "missing between" in text  # and the records after the cut are gone


def test_a_removed_rotated_file_is_named(log_dir: Path) -> None:
    middle = files(log_dir)[1]
    first_seq = lines(middle)[0]["seq"]
    middle.unlink()

    report = check(log_dir)

    text = messages(report)
    assert f"{middle.name}: missing: this file was removed" in text
    assert f"seq {first_seq} to" in text


def test_a_removed_first_file_is_named(log_dir: Path) -> None:
    files(log_dir)[0].unlink()

    report = check(log_dir)

    assert "audit-000001.jsonl: missing: the log's first file(s) were removed" in (
        messages(report)
    )


def test_a_forged_checkpoint_is_caught(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 11)
    assert records[i]["kind"] == "checkpoint"
    wrong = b"a-guessed-key-0123456789abcdef0123456789"
    records[i]["data"]["mac"] = checkpoint_mac(wrong, records[i])  # type: ignore[index]
    rehash(records, i)
    write(path, records)

    report = check(log_dir)

    assert "checkpoint seq 11 has a bad signature" in messages(report)


def test_checkpoints_cannot_be_verified_without_their_key(log_dir: Path) -> None:
    report = verify(log_dir, {"other": KEY.encode()})

    assert not report.ok
    assert "signed with key 'test', which was not found" in messages(report)


@pytest.mark.parametrize(
    ("key_id", "said"),
    [
        (None, "names no key (its key_id is missing)"),
        (5, "names no valid key (its key_id is not a key id)"),
        ("", "names no valid key (its key_id is not a key id)"),
    ],
)
def test_a_checkpoint_without_a_key_id_says_so(
    log_dir: Path, key_id: object, said: str
) -> None:
    path, records, i = _at(log_dir, 11)
    assert records[i]["kind"] == "checkpoint"
    data = records[i]["data"]
    assert isinstance(data, dict)
    if key_id is None:
        del data["key_id"]
    else:
        data["key_id"] = key_id
    rehash(records, i)
    write(path, records)

    text = messages(check(log_dir))

    assert f"checkpoint seq 11 {said}: it cannot be verified" in text
    assert "None" not in text


def test_a_head_without_a_key_id_says_so(log_dir: Path) -> None:
    head = orjson.loads((log_dir / "audit.head").read_bytes())
    head["key_id"] = None
    (log_dir / "audit.head").write_bytes(orjson.dumps(head))

    text = messages(check(log_dir))

    assert "audit.head: names no key (its key_id is missing)" in text
    assert "None" not in text


def test_a_removed_head_file_is_a_problem(log_dir: Path) -> None:
    (log_dir / "audit.head").unlink()

    assert "audit.head: missing" in messages(check(log_dir))


def test_an_edited_recovery_record_is_caught(tmp_path: Path) -> None:
    fill(tmp_path, 3)
    torn = b'{"seq":5,"kind":"cut sh'
    with files(tmp_path)[0].open("ab") as f:
        f.write(torn)
    fill(tmp_path, 2)
    assert check(tmp_path).ok
    # someone now hides the damaged bytes
    first = files(tmp_path)[0]
    data = first.read_bytes()
    first.write_bytes(data[: data.rfind(b"\n") + 1])

    report = check(tmp_path)

    assert f"describes {len(torn)} bytes" in messages(report)


def test_the_report_counts_the_unsigned_tail(tmp_path: Path) -> None:
    log = open_log(tmp_path, checkpoint_every=5)
    for i in range(7):
        log.append("admin.access", n=i)
    # not closed: the gateway is still running

    report = check(tmp_path)
    log.close()

    assert report.ok
    assert report.signed_through == 6
    assert "2 record(s) after the last signed checkpoint (seq 6)" in report.notes[0]


def test_checkpoint_signatures_use_hmac_sha256(log_dir: Path) -> None:
    _path, records, i = _at(log_dir, 11)
    record = records[i]
    data = {k: v for k, v in record["data"].items() if k != "mac"}  # type: ignore[union-attr]
    body = {k: v for k, v in record.items() if k != "hash"}
    body["data"] = data
    expected = hmac.new(
        KEYS["test"], orjson.dumps(body, option=orjson.OPT_SORT_KEYS), "sha256"
    ).hexdigest()
    assert record["data"]["mac"] == expected  # type: ignore[index]


def test_time_going_backwards_is_noted_with_its_place(log_dir: Path) -> None:
    path, records, i = _at(log_dir, 9)
    records[i]["ts"] = "2000-01-01T00:00:00.000000Z"
    write(path, records)

    report = check(log_dir)

    assert [p.seq for p in report.problems] == [9]  # an edit, and said so
    assert "time goes backwards 1 time(s), first at seq 9" in report.notes[0]
