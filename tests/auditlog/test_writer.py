"""Writing the audit log: chained records, checkpoints, rotation, restarts,
torn writes, threads, and what may not go in."""

from __future__ import annotations

import itertools
import os
import stat
import threading
from pathlib import Path

import orjson
import pytest

from redline.auditlog import AuditLogClosed, local_key
from redline.auditlog._record import GENESIS, chain_hash, checkpoint_mac
from redline.errors import ConfigError
from redline.sensitive import Sensitive

from .helpers import KEY, check, files, fill, lines, open_log


def test_records_are_numbered_and_each_links_to_the_one_before(tmp_path: Path) -> None:
    fill(tmp_path, 5)

    records = lines(files(tmp_path)[0])
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0]["prev"] == GENESIS
    for before, after in itertools.pairwise(records):
        assert after["prev"] == before["hash"]
    for record in records:
        assert chain_hash(record["prev"], record) == record["hash"]
        assert record["ts"].endswith("Z")
    assert records[2]["kind"] == "admin.access"
    assert records[2]["data"] == {"token_id": "tok2", "route": "/admin/keys", "n": 2}


def test_close_signs_the_head_with_the_dedicated_key(tmp_path: Path) -> None:
    fill(tmp_path, 3)

    last = lines(files(tmp_path)[0])[-1]
    assert last["kind"] == "checkpoint"
    assert last["data"]["key_id"] == "test"
    assert last["data"]["mac"] == checkpoint_mac(KEY.encode(), last)
    assert check(tmp_path).ok


def test_a_checkpoint_follows_every_n_records(tmp_path: Path) -> None:
    fill(tmp_path, 10, checkpoint_every=4)

    kinds = [r["kind"] for r in lines(files(tmp_path)[0])]
    assert [i for i, k in enumerate(kinds) if k == "checkpoint"] == [4, 9, 12]
    report = check(tmp_path)
    assert report.ok, report.problems
    assert report.checkpoints == 3
    assert report.signed_through == 13


def test_rotation_by_size_keeps_one_chain(tmp_path: Path) -> None:
    fill(tmp_path, 60, max_file_bytes=2048)

    paths = files(tmp_path)
    assert len(paths) >= 4
    for before, after in itertools.pairwise(paths):
        if not after.stat().st_size:
            continue
        first = lines(after)[0]
        last = lines(before)[-1]
        # each closed file ends signed, and the next begins from its hash
        assert last["kind"] == "checkpoint"
        assert first["prev"] == last["hash"]
        assert first["seq"] == last["seq"] + 1
    report = check(tmp_path)
    assert report.ok, report.problems
    assert report.files == len(paths)


def test_a_restart_continues_the_chain_from_the_last_record(tmp_path: Path) -> None:
    fill(tmp_path, 3)
    fill(tmp_path, 3)

    records = lines(files(tmp_path)[0])
    assert [r["seq"] for r in records] == list(range(1, 9))
    assert records[4]["prev"] == records[3]["hash"]
    assert check(tmp_path).ok


def test_a_torn_last_line_is_kept_and_recorded_on_the_next_start(
    tmp_path: Path,
) -> None:
    fill(tmp_path, 3)
    first = files(tmp_path)[0]
    torn = b'{"seq":5,"ts":"2026-12-03T10:00:00Z","kind":"adm'
    with first.open("ab") as f:
        f.write(torn)
    before = check(tmp_path)
    assert not before.ok
    assert "stopped mid-write" in str(before.problems[0])

    fill(tmp_path, 2)

    # the damaged bytes stay where they were; a new file says what they are
    assert first.read_bytes().endswith(torn)
    second = files(tmp_path)[1]
    recovered = lines(second)[0]
    assert recovered["kind"] == "audit.recovered"
    damage = recovered["data"]["damaged"][0]
    assert damage["file"] == first.name
    assert damage["size"] == len(torn)
    assert damage["offset"] == first.stat().st_size - len(torn)
    complete = first.read_bytes()[: damage["offset"]]
    assert recovered["prev"] == orjson.loads(complete.splitlines()[-1])["hash"]
    report = check(tmp_path)
    assert report.ok, report.problems


def test_threads_appending_at_once_keep_a_valid_chain(tmp_path: Path) -> None:
    log = open_log(tmp_path, max_file_bytes=8192, checkpoint_every=25)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(150):
                log.append("admin.access", worker=worker, i=i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    assert errors == []
    report = check(tmp_path)
    assert report.ok, report.problems
    written = [
        r for p in files(tmp_path) for r in lines(p) if r["kind"] == "admin.access"
    ]
    assert len(written) == 900
    assert {(r["data"]["worker"], r["data"]["i"]) for r in written} == {
        (w, i) for w in range(6) for i in range(150)
    }


def test_secrets_and_non_json_values_are_refused(tmp_path: Path) -> None:
    log = open_log(tmp_path)

    with pytest.raises(TypeError, match=r"a secret \(token\)"):
        log.append("token.create", token=Sensitive("s3cret-canary"))
    with pytest.raises(TypeError, match="JSON values"):
        log.append("x", value=object())
    with pytest.raises(ValueError, match="not a record kind"):
        log.append("checkpoint")
    log.close()

    assert b"s3cret-canary" not in files(tmp_path)[0].read_bytes()
    assert check(tmp_path).ok


def test_an_append_after_close_is_an_error(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.close()
    log.close()  # idempotent

    with pytest.raises(AuditLogClosed):
        log.append("admin.access", token_id="t")


def test_the_generated_key_is_private_and_refused_when_it_is_not(
    tmp_path: Path,
) -> None:
    key = local_key(tmp_path)
    assert key is not None
    path = tmp_path / "audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key.secret.reveal()) >= 32
    assert "Sensitive([secure])" in repr(key)
    assert local_key(tmp_path) == key  # the same key on the next start

    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        local_key(tmp_path)


def test_a_lost_generated_key_stops_the_start_instead_of_replacing_it(
    tmp_path: Path,
) -> None:
    from redline import config as config_mod
    from redline.auditlog import open_audit_log

    data = tmp_path / "data"
    config = config_mod.load(None, overrides={"data_dir": str(data)})
    open_audit_log(config).close()  # type: ignore[union-attr]
    (data / "audit.key").unlink()

    with pytest.raises(ConfigError, match=r"audit\.key, which is missing"):
        open_audit_log(config)


def test_a_write_that_fails_part_way_is_recovered_by_the_next_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redline.auditlog import _writer

    log = open_log(tmp_path)
    log.append("admin.access", n=1)
    real = _writer._write_all

    def half_then_fail(fd: int, data: bytes) -> None:
        real(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_writer, "_write_all", half_then_fail)
    with pytest.raises(OSError):
        log.append("admin.access", n=2)
    monkeypatch.setattr(_writer, "_write_all", real)
    log.append("admin.access", n=3)
    log.close()

    kinds = [r["kind"] for p in files(tmp_path)[1:] for r in lines(p)]
    assert kinds[0] == "audit.recovered"
    report = check(tmp_path)
    assert report.ok, report.problems


def test_a_rotation_that_cannot_open_the_next_file_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redline.auditlog import _writer

    log = open_log(tmp_path, max_file_bytes=1024)
    real = _writer.AuditLog._open
    calls = {"n": 0}

    def fail_once(self: _writer.AuditLog, index: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(24, "Too many open files")
        return real(self, index)

    monkeypatch.setattr(_writer.AuditLog, "_open", fail_once)
    with pytest.raises(OSError):
        for i in range(20):
            log.append("admin.access", n=i, route="/admin/keys")
    for i in range(20):
        log.append("admin.access", n=100 + i, route="/admin/keys")
    log.close()

    report = check(tmp_path)
    assert report.ok, report.problems
    assert len(files(tmp_path)) >= 2


def test_a_second_process_cannot_write_the_same_log(tmp_path: Path) -> None:
    import subprocess
    import sys

    log = open_log(tmp_path)
    log.append("admin.access", n=1)
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from auditlog.helpers import open_log; "
            "open_log(Path(sys.argv[1]))",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    log.close()

    assert other.returncode != 0
    assert "AuditLogBusy: another process is writing the audit log" in other.stderr
    # once the first one closed, the log opens again
    open_log(tmp_path).close()
    assert check(tmp_path).ok


def test_a_disabled_audit_log_writes_nothing(tmp_path: Path) -> None:
    from redline import config as config_mod
    from redline.auditlog import open_audit_log

    config_path = tmp_path / "redline.yaml"
    config_path.write_text(
        f"server: {{data_dir: {tmp_path / 'data'}}}\n"
        "audit_log: {enabled: false}\n"
        "projects: {demo: {ingest_keys: [demo], forward: [{destination: local}]}}\n"
    )

    assert open_audit_log(config_mod.load(config_path)) is None
    assert not (tmp_path / "data").exists()
