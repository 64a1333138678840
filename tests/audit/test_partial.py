"""Partials: folding in pieces and merging in any order gives the same
report as folding everything at once; people counts stay exact up to the
bound and say when they are estimates."""

from __future__ import annotations

import pickle
import random

from redline.audit._classify import Classifier
from redline.audit._sketch import People
from redline.audit.partial import Partial
from redline.audit.records import AuditRecord, Malformed
from redline.audit.report import build_report
from redline.audit.run import Analysis

KEY = b"k" * 16


def _records(count: int, seed: int = 3) -> list[AuditRecord | Malformed]:
    rng = random.Random(seed)
    out: list[AuditRecord | Malformed] = []
    for index in range(count):
        person = f"p{rng.randrange(40)}"
        props = {
            "distinct_id": person,
            "plan": rng.choice(["free", "pro"]),
            "contact": f"{person}@mail.example.com" if index % 3 == 0 else None,
            "note": rng.choice(["ok", {"nested": "call +44 20 7946 0958 now"}]),
        }
        if index % 7 == 0:
            props["extra"] = [1, 2, 3]
        out.append(
            AuditRecord(
                "Signed Up", person, 1_714_550_400.0 + index * 60, props, f"f:{index}"
            )
        )
        if index % 50 == 0:
            out.append(Malformed(f"f:{index}b", "not valid JSON"))
    return out


def _report(partial: Partial) -> dict:
    report = build_report(
        Analysis(partial, files=1, bytes=1, chunks=1, workers=1, seconds=0.0)
    )
    report.pop("generated_at")
    return report


def test_merging_pieces_in_any_order_equals_one_fold() -> None:
    records = _records(600)
    whole = Partial(key=KEY)
    whole.fold(records, Classifier())

    pieces = [records[i : i + 97] for i in range(0, len(records), 97)]
    parts = []
    for piece in pieces:
        part = Partial(key=KEY)
        part.fold(piece, Classifier())
        parts.append(pickle.loads(pickle.dumps(part)))  # as from a worker
    forward, backward = Partial(key=KEY), Partial(key=KEY)
    for part in parts:
        forward.merge(pickle.loads(pickle.dumps(part)))
    for part in reversed(parts):
        backward.merge(pickle.loads(pickle.dumps(part)))

    expected = _report(whole)
    assert expected["blast_radius"]["by_kind"]
    for merged in (forward, backward):
        got = _report(merged)
        # example shapes depend on which values a piece saw first
        for report in (got, expected):
            for event in report["inventory"]:
                for prop in event["properties"]:
                    prop["examples"] = sorted(prop["examples"])[:1]
        assert got["blast_radius"] == expected["blast_radius"]
        assert got["findings"] == expected["findings"]
        assert got["malformed"]["total"] == expected["malformed"]["total"] == 12
        assert got["timeline"] == expected["timeline"]


def test_partials_of_other_runs_do_not_merge() -> None:
    try:
        Partial(key=KEY).merge(Partial(key=b"x" * 16))
    except ValueError:
        return
    raise AssertionError("merged partials keyed differently")


def test_people_are_exact_up_to_the_bound_then_estimated() -> None:
    exact, capped = People(cap=10_000), People(cap=1_000)
    for digest in range(5_000):
        exact.add(digest * 7919)
        capped.add(digest * 7919)
    assert exact.exact and exact.count() == 5_000
    assert not capped.exact and abs(capped.count() - 5_000) < 250
    merged = pickle.loads(pickle.dumps(exact))
    merged.merge(capped)
    assert not merged.exact and abs(merged.count() - 5_000) < 250


def test_nested_values_and_event_names_are_scanned() -> None:
    partial = Partial(key=KEY)
    partial.fold(
        [
            AuditRecord("mail jane.doe@example.com", "u1", None, {"a": 1}, "f:1"),
            AuditRecord("x", "u2", None, {"jane.roe@example.com": True}, "f:2"),
            *_records(30),
        ],
        Classifier(),
    )
    report = _report(partial)
    rows = {(r["event"], r["property"], r["kind"]) for r in report["findings"]}
    assert ("mail [EMAIL]", "(event name)", "EMAIL") in rows
    assert ("x", "[EMAIL]", "EMAIL") in rows
    assert ("Signed Up", "note", "PHONE") in rows
    assert report["events"]["without_time"] == 2


def test_names_past_the_bounds_are_counted_together(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from redline.audit import partial as module
    from redline.audit.suggest import suggest_policy

    monkeypatch.setattr(module, "MAX_EVENTS", 5)
    monkeypatch.setattr(module, "MAX_PROPERTIES", 8)
    records = [
        AuditRecord(f"event{i % 9}", f"u{i}", None, {f"key{i % 30}": i, "k": 1}, "f")
        for i in range(300)
    ]
    parts = []
    for piece in (records[:150], records[150:]):
        part = Partial(key=KEY)
        part.fold(piece, Classifier())
        parts.append(part)
    parts[0].merge(parts[1])
    merged = parts[0]

    assert len(merged.by_event) <= 6 and module.OTHER_EVENTS in merged.by_event
    assert sum(stats.events for stats in merged.by_event.values()) == 300
    for stats in merged.by_event.values():
        assert len(stats.properties) <= 9
    assert any(
        module.OTHER_PROPERTIES in s.properties for s in merged.by_event.values()
    )
    policy = suggest_policy(merged)
    assert "(other" not in policy


def test_a_kind_in_both_name_and_value_counts_each_event_once() -> None:
    records: list[AuditRecord | Malformed] = [
        AuditRecord(
            "Signed Up",
            f"p{index}",
            1_714_550_400.0 + index,
            {"jane.doe@example.com": f"p{index}@mail.example.com"},
            f"f:{index}",
        )
        for index in range(5)
    ]
    partial = Partial(key=KEY)
    partial.fold(records, Classifier())

    (prop,) = partial.by_event["Signed Up"].properties.values()
    assert prop.findings["EMAIL"].events == 5
    assert prop.findings["EMAIL"].people.count() == 5
    assert prop.flagged == 5
    assert partial.kind_events["EMAIL"] == 5
