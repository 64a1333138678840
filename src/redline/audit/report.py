"""The audit report: one JSON-able dict built from the merged partial.

Its shape is documented in ``docs/audit.md`` and checked by the JSON
Schema shipped beside this module (``report.schema.json``,
:func:`report_schema`). The terminal and HTML reports render this dict and
nothing else, so every format says the same.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from importlib import resources
from typing import Any

from ._kinds import kind_of
from .partial import Partial, Property
from .run import Analysis
from .suggest import action_for

__all__ = ["SCHEMA_ID", "build_report", "report_schema"]

SCHEMA_ID = "https://redline.dev/schemas/audit-report/1"
_DAY_BUCKETS_AFTER = 72  # hours; longer ranges are charted per day


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) the report follows."""
    text = resources.files(__package__).joinpath("report.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def build_report(
    analysis: Analysis, *, generated_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The report of one audit run."""
    partial = analysis.partial
    now = generated_at or dt.datetime.now(dt.UTC)
    findings = _findings(partial)
    return {
        "schema": SCHEMA_ID,
        "generated_at": _iso(now.timestamp()),
        "input": {
            "files": analysis.files,
            "bytes": analysis.bytes,
            "chunks": analysis.chunks,
            "workers": analysis.workers,
            "seconds": round(analysis.seconds, 3),
        },
        "events": {
            "total": partial.events,
            "with_findings": partial.events_with_findings,
            "without_time": partial.without_time,
            "names": len(partial.by_event),
        },
        "time_range": {"first": _iso(partial.first), "last": _iso(partial.last)},
        "blast_radius": _blast_radius(partial, findings),
        "findings": findings,
        "risk_ranking": _ranking(partial),
        "inventory": _inventory(partial),
        "timeline": _timeline(partial),
        "malformed": {
            "total": partial.malformed,
            "reasons": dict(partial.malformed_reasons.most_common()),
            "examples": [
                {"source": source, "reason": reason}
                for source, reason in partial.malformed_examples
            ],
        },
    }


def _findings(partial: Partial) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for event, stats in partial.by_event.items():
        for name, prop in stats.properties.items():
            for kind, finding in prop.findings.items():
                info = kind_of(kind)
                rows.append(
                    {
                        "event": event,
                        "property": name,
                        "kind": kind,
                        "category": info.category,
                        "tier": info.tier,
                        "events": finding.events,
                        "people": finding.people.count(),
                        "people_exact": finding.people.exact,
                        "events_without_id": finding.without_id,
                        "whole_value_events": finding.whole,
                        "first_seen": _iso(finding.first),
                        "last_seen": _iso(finding.last),
                    }
                )
    rows.sort(
        key=lambda r: (
            r["tier"],
            -r["people"],
            -r["events"],
            r["event"],
            r["property"],
            r["kind"],
        )
    )
    return rows


def _blast_radius(partial: Partial, findings: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: list[dict[str, Any]] = []
    for kind, events in partial.kind_events.items():
        info = kind_of(kind)
        people = partial.kind_people.get(kind)
        rows = [row for row in findings if row["kind"] == kind]
        firsts = [row["first_seen"] for row in rows if row["first_seen"]]
        lasts = [row["last_seen"] for row in rows if row["last_seen"]]
        by_kind.append(
            {
                "kind": kind,
                "label": info.label,
                "category": info.category,
                "tier": info.tier,
                "people": people.count() if people else 0,
                "people_exact": people.exact if people else True,
                "events": events,
                "first_seen": min(firsts) if firsts else None,
                "last_seen": max(lasts) if lasts else None,
                "carriers": [
                    {
                        "event": row["event"],
                        "property": row["property"],
                        "events": row["events"],
                        "people": row["people"],
                    }
                    for row in sorted(rows, key=lambda r: (-r["people"], -r["events"]))
                ],
            }
        )
    by_kind.sort(key=lambda r: (r["tier"], -r["people"], -r["events"], r["kind"]))
    return {
        "people": partial.people.count(),
        "people_exact": partial.people.exact,
        "people_excluding_quasi_identifiers": partial.people_personal.count(),
        "events": partial.events_with_findings,
        "by_kind": by_kind,
    }


def _ranking(partial: Partial) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for event, stats in partial.by_event.items():
        for name, prop in stats.properties.items():
            if not prop.findings:
                continue
            kinds = sorted(prop.findings, key=lambda k: (kind_of(k).tier, k))
            top = kind_of(kinds[0])
            people = _people_of(prop)
            rows.append(
                {
                    "event": event,
                    "property": name,
                    "tier": top.tier,
                    "category": top.category,
                    "kinds": kinds,
                    "events": prop.flagged,
                    "people": people,
                    "suggested_action": action_for(prop),
                }
            )
    rows.sort(
        key=lambda r: (r["tier"], -r["people"], -r["events"], r["event"], r["property"])
    )
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def _people_of(prop: Property) -> int:
    """People with any finding in ``prop`` (a union of its kinds' sets)."""
    findings = list(prop.findings.values())
    if len(findings) == 1:
        return findings[0].people.count()
    import copy

    union = copy.deepcopy(findings[0].people)
    for finding in findings[1:]:
        union.merge(copy.deepcopy(finding.people))
    return union.count()


def _inventory(partial: Partial) -> list[dict[str, Any]]:
    events = []
    for event, stats in sorted(
        partial.by_event.items(), key=lambda i: (-i[1].events, i[0])
    ):
        props = []
        for name, prop in sorted(stats.properties.items()):
            props.append(
                {
                    "name": name,
                    "events": prop.events,
                    "fill_rate": round(prop.events / stats.events, 4)
                    if stats.events
                    else 0.0,
                    "types": dict(prop.types.most_common()),
                    "distinct_estimate": prop.distinct.estimate(),
                    "examples": list(prop.shapes),
                    "kinds": sorted(prop.findings),
                    "suggested_action": action_for(prop),
                }
            )
        events.append(
            {
                "event": event,
                "events": stats.events,
                "first_seen": _iso(stats.first),
                "last_seen": _iso(stats.last),
                "properties": props,
            }
        )
    return events


def _timeline(partial: Partial) -> dict[str, Any]:
    if not partial.timeline:
        return {"bucket": "hour", "series": []}
    hours = [hour for hour, _ in partial.timeline]
    daily = max(hours) - min(hours) > _DAY_BUCKETS_AFTER
    width = 24 if daily else 1
    buckets: dict[int, Counter[str]] = {}
    for (hour, kind), count in partial.timeline.items():
        start = hour - hour % width
        buckets.setdefault(start, Counter())[kind] += count
    return {
        "bucket": "day" if daily else "hour",
        "series": [
            {"start": _iso(start * 3600.0), "counts": dict(sorted(counts.items()))}
            for start, counts in sorted(buckets.items())
        ],
    }


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    try:
        moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
