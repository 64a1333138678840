"""Checking an audit log: every link, sequence number and signature.

Verification walks the files in order and reports each problem where it
is, by file, line and sequence number, and what it most likely is: an
edited record (its content no longer matches its hash), a deleted one (a
gap in the sequence), an inserted one (the record after it links past it),
two swapped, a removed file (a gap in the file numbers), bytes that hold
no record, or a checkpoint whose signature does not verify (forged, or the
records before it rewritten with their hashes recomputed).

What it cannot prove: records after the last checkpoint are only chained,
so whoever can write the files can cut them off or rewrite them
unnoticed; and whoever holds the audit key can rewrite anything and sign
it again. See the README's audit log section.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from . import _record
from ._files import HEAD_FILE, Line, file_name, log_files, parse_lines

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the log, and where."""

    where: str  # "audit-000002.jsonl:14", a file name, or "audit.head"
    message: str
    seq: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclasses.dataclass
class Report:
    directory: Path
    files: int = 0
    records: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    # the last checkpoint whose signature verified (0: none)
    signed_through: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, message: str, seq: int | None = None) -> None:
        self.problems.append(Problem(where, message, seq))


@dataclasses.dataclass(slots=True)
class _Rec:
    file: str
    line: int
    seq: int
    hash: str
    prev: str
    kind: str
    ts: str
    # checkpoints: True (signature verified), False (bad), None (no key)
    signed: bool | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Region:
    file: str
    offset: int
    size: int
    sha256: str


def verify(
    directory: Path,
    keys: Mapping[str, bytes],
    *,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check the log in ``directory`` with the checkpoint ``keys`` (key id
    to key). ``progress`` is told the size of each file once it is read."""
    report = Report(directory)
    files = log_files(directory)
    if not files:
        report.add(str(directory), "no audit log files here (audit-NNNNNN.jsonl)")
        return report
    report.files = len(files)
    _check_numbering([index for index, _ in files], report)

    records: list[_Rec] = []
    regions: dict[_Region, bool] = {}
    claims: list[tuple[_Rec, _Region]] = []
    for _, path in files:
        _read_file(path, keys, records, regions, claims, report)
        if progress is not None:
            progress(path.stat().st_size)

    report.records = len(records)
    if records:
        report.last_seq = records[-1].seq
    _check_chain(records, files[0][0] == 1, report)
    _check_recoveries(regions, claims, files[-1][1].name, report)
    _check_head(directory, keys, records, report)
    _summarise(records, report)
    return report


def _check_numbering(indexes: list[int], report: Report) -> None:
    if indexes[0] != 1:
        gone = file_name(1)
        if indexes[0] > 2:
            gone += f" to {file_name(indexes[0] - 1)}"
        report.add(gone, "missing: the log's first file(s) were removed")
    for a, b in itertools.pairwise(indexes):
        for missing in range(a + 1, b):
            report.add(file_name(missing), "missing: this file was removed")


def _read_file(
    path: Path,
    keys: Mapping[str, bytes],
    records: list[_Rec],
    regions: dict[_Region, bool],
    claims: list[tuple[_Rec, _Region]],
    report: Report,
) -> None:
    data = path.read_bytes()
    lines, _ = parse_lines(data)
    name = path.name
    good = [(line, _well_formed(line)) for line in lines]
    last_good = max((i for i, (_, ok) in enumerate(good) if ok), default=-1)
    for i, (line, ok) in enumerate(good):
        if i > last_good:
            break
        if not ok:
            why = line.error or "not an audit record (fields missing or mistyped)"
            report.add(f"{name}:{line.number}", f"{why}: edited or damaged")
            continue
        assert line.record is not None
        records.append(_check_record(name, line, line.record, keys, claims, report))
    # bytes after the last record: a write cut short, or an edit
    end = 0
    if last_good >= 0:
        line = good[last_good][0]
        end = line.offset + len(_line_at(data, line.offset))
    if end < len(data):
        rest = data[end:]
        region = _Region(name, end, len(rest), hashlib.sha256(rest).hexdigest())
        regions[region] = False


def _check_record(
    name: str,
    line: Line,
    record: dict[str, Any],
    keys: Mapping[str, bytes],
    claims: list[tuple[_Rec, _Region]],
    report: Report,
) -> _Rec:
    rec = _Rec(
        name,
        line.number,
        record["seq"],
        record["hash"],
        record["prev"],
        record["kind"],
        record["ts"],
    )
    if _record.chain_hash(rec.prev, record) != rec.hash:
        report.add(
            rec.where,
            f"record seq {rec.seq} was edited: its content does not match its hash",
            rec.seq,
        )
    if rec.kind == "checkpoint":
        rec.signed = _check_signature(rec, record, keys, report)
    elif rec.kind == "audit.recovered":
        for item in record["data"].get("damaged") or ():
            try:
                region = _Region(
                    str(item["file"]),
                    int(item["offset"]),
                    int(item["size"]),
                    str(item["sha256"]),
                )
            except (KeyError, TypeError, ValueError):
                report.add(rec.where, "audit.recovered record is malformed", rec.seq)
                continue
            claims.append((rec, region))
    return rec


def _check_signature(
    rec: _Rec, record: dict[str, Any], keys: Mapping[str, bytes], report: Report
) -> bool | None:
    data = record["data"]
    key_id = data.get("key_id")
    mac = data.get("mac")
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        why = _bad_key_id(key_id) or (
            f"is signed with key {key_id!r}, which was not found"
        )
        report.add(
            rec.where, f"checkpoint seq {rec.seq} {why}: it cannot be verified", rec.seq
        )
        return None
    expected = _record.checkpoint_mac(key, record)
    return isinstance(mac, str) and hmac.compare_digest(mac, expected)


def _bad_key_id(key_id: object) -> str | None:
    """What is wrong with a signed record's ``key_id``, if it is no key id
    at all (its value is then not printed)."""
    if key_id is None:
        return "names no key (its key_id is missing)"
    if not isinstance(key_id, str) or not key_id:
        return "names no valid key (its key_id is not a key id)"
    return None


def _check_chain(records: list[_Rec], from_start: bool, report: Report) -> None:
    if not records:
        return
    first = records[0]
    if from_start and (first.seq != 1 or first.prev != _record.GENESIS):
        if first.seq > 1:
            report.add(
                first.where,
                f"records seq 1 to {first.seq - 1} are missing before the first "
                "record: deleted",
                first.seq,
            )
        else:
            report.add(first.where, "the first record does not start the chain")
    # the record the current one should link to; after two swapped records
    # it is the later of the pair, which comes first in the file
    logical: _Rec = first
    skip = False
    signed = _checkpoint_result(first, 0, report) if first.kind == "checkpoint" else 0
    for i in range(1, len(records)):
        cur = records[i]
        if cur.kind == "checkpoint":
            signed = _checkpoint_result(cur, signed, report)
        if skip:
            # the earlier record of a swapped pair: already reported, and
            # the chain goes on from the later one
            skip = False
            continue
        if cur.prev != logical.hash or cur.seq != logical.seq + 1:
            before = records[i - 2] if i >= 2 else None
            after = records[i + 1] if i + 1 < len(records) else None
            skip = _explain_break(cur, logical, before, after, report)
        logical = cur
    report.signed_through = signed


def _checkpoint_result(rec: _Rec, previous: int, report: Report) -> int:
    report.checkpoints += 1
    if rec.signed is True:
        return rec.seq
    if rec.signed is False:
        report.add(
            rec.where,
            f"checkpoint seq {rec.seq} has a bad signature: it was forged, or a "
            f"record between seq {previous} and seq {rec.seq} was rewritten (with "
            "its hash recomputed) after it was signed",
            rec.seq,
        )
    return previous


def _explain_break(
    cur: _Rec,
    prev: _Rec,
    before: _Rec | None,
    after: _Rec | None,
    report: Report,
) -> bool:
    """Say what most likely broke the link from ``prev`` to ``cur``; True
    when ``cur`` and the record after it are swapped."""
    if before is not None and cur.prev == before.hash and cur.seq == before.seq + 1:
        report.add(
            prev.where,
            f"record seq {prev.seq} was inserted: the record after it (seq "
            f"{cur.seq}, {cur.where}) links to the one before it (seq {before.seq})",
            prev.seq,
        )
    elif after is not None and cur.prev == after.hash and after.prev == prev.hash:
        report.add(
            cur.where,
            f"records seq {after.seq} and seq {cur.seq} are swapped: seq {cur.seq} "
            f"({cur.where}) comes before seq {after.seq} ({after.where})",
            cur.seq,
        )
        return True
    elif cur.seq > prev.seq + 1:
        first, last = prev.seq + 1, cur.seq - 1
        which = f"seq {first}" if first == last else f"seq {first} to {last}"
        report.add(
            cur.where,
            f"{which} missing between seq {prev.seq} ({prev.where}) and seq "
            f"{cur.seq} ({cur.where}): deleted",
            first,
        )
    elif cur.seq <= prev.seq:
        report.add(
            cur.where,
            f"record seq {cur.seq} is out of order: it comes after seq {prev.seq} "
            f"({prev.where}); moved, repeated or inserted",
            cur.seq,
        )
    else:
        report.add(
            prev.where,
            f"record seq {prev.seq} was changed or replaced: the next record "
            f"(seq {cur.seq}, {cur.where}) links to a different hash",
            prev.seq,
        )
    return False


def _check_recoveries(
    regions: dict[_Region, bool],
    claims: list[tuple[_Rec, _Region]],
    last_file: str,
    report: Report,
) -> None:
    for rec, region in claims:
        if region in regions:
            regions[region] = True
        else:
            report.add(
                rec.where,
                f"audit.recovered (seq {rec.seq}) describes {region.size} bytes at "
                f"offset {region.offset} of {region.file} that are not there as "
                "described: the damaged bytes were changed or removed",
                rec.seq,
            )
    for region, explained in regions.items():
        if explained:
            continue
        where = f"{region.file} (byte {region.offset})"
        if region.file == last_file:
            report.add(
                where,
                f"the last {region.size} bytes hold no complete record: the gateway "
                "stopped mid-write (its next start records the damage), or the "
                "file was edited",
            )
        else:
            report.add(
                where,
                f"{region.size} bytes at the end of the file hold no complete "
                "record, and no later audit.recovered record explains them: edited",
            )


def _check_head(
    directory: Path, keys: Mapping[str, bytes], records: list[_Rec], report: Report
) -> None:
    path = directory / HEAD_FILE
    if not any(rec.kind == "checkpoint" for rec in records):
        return
    try:
        head = orjson.loads(path.read_bytes())
        seq, hash_, key_id, mac = (
            head["seq"],
            head["hash"],
            head["key_id"],
            head["mac"],
        )
    except FileNotFoundError:
        report.add(
            HEAD_FILE,
            "missing: whether records were cut off the end of the log cannot be "
            "checked",
        )
        return
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        report.add(HEAD_FILE, "unreadable or malformed: edited")
        return
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        report.add(
            HEAD_FILE,
            _bad_key_id(key_id) or f"signed with key {key_id!r}, which was not found",
        )
        return
    if not (
        isinstance(seq, int)
        and isinstance(hash_, str)
        and isinstance(mac, str)
        and hmac.compare_digest(mac, _record.head_mac(key, seq, hash_, key_id))
    ):
        report.add(HEAD_FILE, "bad signature: the head file was forged or edited")
        return
    found = [rec for rec in records if rec.seq == seq]
    if not found:
        last = report.last_seq
        report.add(
            HEAD_FILE,
            f"the log was cut: the last checkpoint written was seq {seq}, but "
            f"{'the log ends at seq ' + str(last) if last < seq else 'it is missing'}"
            f"; records from seq {min(last, seq) + 1} on were removed",
            seq,
        )
    elif not any(rec.hash == hash_ and rec.kind == "checkpoint" for rec in found):
        report.add(
            HEAD_FILE,
            f"checkpoint seq {seq} is not the one written last ({found[0].where} "
            "differs): rewritten",
            seq,
        )


def _summarise(records: list[_Rec], report: Report) -> None:
    if not records:
        return
    # the same fixed-width UTC format throughout: text order is time order
    back = [b for a, b in itertools.pairwise(records) if b.ts < a.ts]
    if back:
        report.notes.append(
            f"the time goes backwards {len(back)} time(s), first at seq "
            f"{back[0].seq} ({back[0].where}): the clock was set back, or "
            "records were moved"
        )
    unsigned = report.last_seq - report.signed_through
    if unsigned > 0:
        report.notes.append(
            f"{unsigned} record(s) after the last signed checkpoint (seq "
            f"{report.signed_through}) are chained but not signed yet"
        )
    if any(rec.kind == "gateway.start" for rec in records):
        clean = (
            len(records) >= 2
            and records[-1].kind == "checkpoint"
            and records[-2].kind == "gateway.stop"
        )
        if not clean:
            report.notes.append(
                "the log does not end with a gateway.stop record and a "
                "checkpoint: the gateway is running, or it did not stop cleanly"
            )


def _well_formed(line: Line) -> bool:
    record = line.record
    if record is None:
        return False
    return (
        type(record.get("seq")) is int
        and _HEX64.fullmatch(str(record.get("hash"))) is not None
        and _HEX64.fullmatch(str(record.get("prev"))) is not None
        and isinstance(record.get("kind"), str)
        and isinstance(record.get("ts"), str)
        and isinstance(record.get("data"), dict)
    )


def _line_at(data: bytes, offset: int) -> bytes:
    end = data.find(b"\n", offset)
    return data[offset : end + 1 if end >= 0 else len(data)]
