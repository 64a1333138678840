"""Chunked reading: one big file cut into byte ranges reads as the whole file."""

from __future__ import annotations

import itertools
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from redline.audit.readers import plan, read
from redline.audit.records import AuditRecord, Chunk, Malformed

from .exports import write_big_mixpanel

Item = AuditRecord | Malformed


def _items(chunks: list[Chunk]) -> list[Item]:
    return [item for chunk in chunks for item in read(chunk)]


def _read_list(chunk: Chunk) -> list[Item]:
    return list(read(chunk))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    export = write_big_mixpanel(root, 3 << 20, files=1, pool=512)
    return export.files[0]


def test_a_file_split_into_ranges_reads_exactly_as_the_whole_file(
    big_file: Path,
) -> None:
    whole = plan([str(big_file)], chunk_bytes=1 << 40)
    split = plan([str(big_file)], chunk_bytes=256 << 10)

    assert len(whole) == 1
    assert len(split) >= 10
    assert _items(split) == _items(whole)


def test_ranges_start_on_line_starts_and_know_their_line_numbers(
    big_file: Path,
) -> None:
    data = big_file.read_bytes()
    split = plan([str(big_file)], chunk_bytes=100_000)

    assert split[0].start == 0 and split[-1].end is None
    for before, after in itertools.pairwise(split):
        assert before.end == after.start
        assert data[after.start - 1 : after.start] == b"\n"
        assert after.first_line == data.count(b"\n", 0, after.start) + 1
    assert sum(c.size for c in split) == len(data)


def test_the_malformed_first_line_keeps_its_number_in_a_split_file(
    big_file: Path,
) -> None:
    items = _items(plan([str(big_file)], chunk_bytes=100_000))

    bad = [item for item in items if isinstance(item, Malformed)]

    assert [b.source for b in bad] == [f"{big_file}:1"]
    assert items[-1].source == f"{big_file}:{len(items)}"


def test_chunks_are_read_alike_in_worker_processes(big_file: Path) -> None:
    chunks = plan([str(big_file)], chunk_bytes=512 << 10)
    assert pickle.loads(pickle.dumps(chunks)) == chunks

    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(_read_list, chunks))

    assert [item for part in parts for item in part] == _items(chunks)


def test_gzip_files_are_never_split(tmp_path: Path) -> None:
    export = write_big_mixpanel(tmp_path, 1 << 20, files=1, compress=True, pool=256)

    chunks = plan([str(export.files[0])], chunk_bytes=64 << 10)

    assert len(chunks) == 1
    records = [i for i in read(chunks[0]) if isinstance(i, AuditRecord)]
    assert len(records) == export.events


def test_a_json_array_is_one_chunk_whatever_its_size(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text("[" + ",".join(f'{{"event": "e{i}"}}' for i in range(5000)) + "]")

    chunks = plan([str(path)], chunk_bytes=1024)

    assert len(chunks) == 1
    assert [r.event for r in read(chunks[0])] == [f"e{i}" for i in range(5000)]
