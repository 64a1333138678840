"""The mergeable result of analysing part of an export.

This is the seam between reading and reporting: a worker folds the records
of one chunk into a :class:`Partial` (:meth:`Partial.fold`), partials merge
in any order and grouping (:meth:`Partial.merge`), and the report is built
from the merged one. Nothing here knows about files or processes, so
another engine (a Spark job's ``mapPartitions`` then ``reduce``) can produce
and merge the same partials.

A partial holds no raw value: event and property names are kept with
detected spans redacted, values only as sketches, keyed 64-bit digests of
distinct ids, and masked shapes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from ._classify import NOTHING, USER_AGENT, Classifier, Verdict
from ._sketch import DEFAULT_CAP, Distinct, People
from .records import AuditRecord, Malformed

__all__ = [
    "EVENT_NAME",
    "OTHER_EVENTS",
    "OTHER_PROPERTIES",
    "PSEUDO_NAMES",
    "EventStats",
    "Finding",
    "Partial",
    "Property",
]

MAX_SHAPES = 3  # example shapes kept per property
_WEB = ("http://", "https://", "HTTP://", "HTTPS://", "Http://", "Https://")
MAX_MALFORMED = 100  # malformed lines listed by file:line (all are counted)
_BATCH = 16_384  # records folded column by column at once
_SHAPE_TRIES = 32  # values shaped per property and partial, looking for variety
_ID_CACHE_SIZE = 100_000
_HOUR = 3600.0
_DIGEST_MASK = (1 << 63) - 1  # the sketch library takes signed 64-bit ints
# value types the sketch takes as they are (others go through _distinct)
_SKETCHED_AS_IS = frozenset({str, float})

_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
    list: "list",
    dict: "object",
}
QUASI_IDENTIFIERS = frozenset({"IP_ADDRESS", USER_AGENT})
# the pseudo property that carries findings in event names (the event is
# listed under its name with the detected spans redacted)
EVENT_NAME = "(event name)"
# names are client data: past these bounds new event names and properties
# are counted together under these pseudo names, so memory stays bounded
MAX_EVENTS = 2_000
MAX_PROPERTIES = 1_000
OTHER_EVENTS = "(other events)"
OTHER_PROPERTIES = "(other properties)"
PSEUDO_NAMES = frozenset({EVENT_NAME, OTHER_EVENTS, OTHER_PROPERTIES})


@dataclasses.dataclass(slots=True)
class Finding:
    """One kind of data in one property of one event."""

    events: int = 0
    whole: int = 0  # events in which the value was that entity and nothing else
    without_id: int = 0  # events without a distinct id
    first: float | None = None
    last: float | None = None
    people: People = dataclasses.field(default_factory=People)

    def merge(self, other: Finding) -> None:
        self.events += other.events
        self.whole += other.whole
        self.without_id += other.without_id
        self.first = _min(self.first, other.first)
        self.last = _max(self.last, other.last)
        self.people.merge(other.people)


@dataclasses.dataclass(slots=True)
class Property:
    """What one property of one event looked like."""

    events: int = 0
    flagged: int = 0  # events in which something was found
    types: Counter[str] = dataclasses.field(default_factory=Counter)
    distinct: Distinct = dataclasses.field(default_factory=Distinct)
    shapes: list[str] = dataclasses.field(default_factory=list)
    findings: dict[str, Finding] = dataclasses.field(default_factory=dict)
    # values shaped so far here; shaping stops after a few (not merged)
    tries: int = 0
    # whether every value seen is a string holding an http(s) URL
    all_urls: bool = True

    def merge(self, other: Property) -> None:
        self.events += other.events
        self.flagged += other.flagged
        self.all_urls = self.all_urls and other.all_urls
        self.types.update(other.types)
        self.distinct.merge(other.distinct)
        for shape in other.shapes:
            if len(self.shapes) < MAX_SHAPES and shape not in self.shapes:
                self.shapes.append(shape)
        for kind, finding in other.findings.items():
            mine = self.findings.get(kind)
            if mine is None:
                self.findings[kind] = finding
            else:
                mine.merge(finding)


@dataclasses.dataclass(slots=True)
class EventStats:
    """One event name: how often, when, and its properties."""

    events: int = 0
    first: float | None = None
    last: float | None = None
    properties: dict[str, Property] = dataclasses.field(default_factory=dict)

    def merge(self, other: EventStats) -> None:
        self.events += other.events
        self.first = _min(self.first, other.first)
        self.last = _max(self.last, other.last)
        for name, prop in other.properties.items():
            mine = self.properties.get(name)
            if mine is None and len(self.properties) >= MAX_PROPERTIES:
                mine = self.property(OTHER_PROPERTIES)
            if mine is None:
                self.properties[name] = prop
            else:
                mine.merge(prop)

    def property(self, name: str) -> Property:
        """The stats of ``name``, new ones past the bound going to
        ``OTHER_PROPERTIES``."""
        prop = self.properties.get(name)
        if prop is None:
            if len(self.properties) >= MAX_PROPERTIES:
                name = OTHER_PROPERTIES
                prop = self.properties.get(name)
            if prop is None:
                prop = self.properties[name] = Property()
        return prop


@dataclasses.dataclass(slots=True)
class Partial:
    """Counts, sketches and people sets for the records folded so far.

    ``key`` keys the digests of distinct ids; partials merge only with
    partials made with the same key (one per audit run, never stored).
    ``cap`` bounds each exact people set (see :class:`People`).
    """

    key: bytes
    cap: int = DEFAULT_CAP
    events: int = 0
    without_time: int = 0
    first: float | None = None
    last: float | None = None
    malformed: int = 0
    malformed_reasons: Counter[str] = dataclasses.field(default_factory=Counter)
    malformed_examples: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    by_event: dict[str, EventStats] = dataclasses.field(default_factory=dict)
    # people and events per kind of data, over every event and property
    kind_people: dict[str, People] = dataclasses.field(default_factory=dict)
    kind_events: Counter[str] = dataclasses.field(default_factory=Counter)
    people: People = dataclasses.field(default_factory=People)
    # people with findings other than quasi-identifiers (IP, user agent)
    people_personal: People = dataclasses.field(default_factory=People)
    events_with_findings: int = 0
    # events with findings per (hour since the epoch, kind)
    timeline: Counter[tuple[int, str]] = dataclasses.field(default_factory=Counter)

    def fold(
        self, records: Iterable[AuditRecord | Malformed], classifier: Classifier
    ) -> None:
        """Add records to this partial."""
        ids: dict[str, int] = {}
        batch: list[AuditRecord] = []
        for record in records:
            if isinstance(record, Malformed):
                self.add_malformed(record)
                continue
            batch.append(record)
            if len(batch) == _BATCH:
                self.add_batch(batch, classifier, ids)
                batch = []
        if batch:
            self.add_batch(batch, classifier, ids)

    def merge(self, other: Partial) -> None:
        """Add another partial's counts to this one (same key)."""
        if other.key != self.key:
            raise ValueError("partials of different audit runs cannot be merged")
        self.events += other.events
        self.without_time += other.without_time
        self.first = _min(self.first, other.first)
        self.last = _max(self.last, other.last)
        self.malformed += other.malformed
        self.malformed_reasons.update(other.malformed_reasons)
        room = MAX_MALFORMED - len(self.malformed_examples)
        self.malformed_examples.extend(other.malformed_examples[: max(room, 0)])
        for name, stats in other.by_event.items():
            mine = self.by_event.get(name)
            if mine is None and len(self.by_event) >= MAX_EVENTS:
                mine = self._event(OTHER_EVENTS)
            if mine is None:
                self.by_event[name] = stats
            else:
                mine.merge(stats)
        for kind, people in other.kind_people.items():
            self._kind_people(kind).merge(people)
        self.kind_events.update(other.kind_events)
        self.people.merge(other.people)
        self.people_personal.merge(other.people_personal)
        self.events_with_findings += other.events_with_findings
        self.timeline.update(other.timeline)

    def add_malformed(self, record: Malformed) -> None:
        self.malformed += 1
        self.malformed_reasons[record.reason] += 1
        if len(self.malformed_examples) < MAX_MALFORMED:
            self.malformed_examples.append((record.source, record.reason))

    def add(
        self, record: AuditRecord, classifier: Classifier, ids: dict[str, int]
    ) -> None:
        """Fold one record; ``ids`` caches digests of distinct ids."""
        self.add_batch([record], classifier, ids)

    def add_batch(
        self, records: list[AuditRecord], classifier: Classifier, ids: dict[str, int]
    ) -> None:
        """Fold records column by column: values are grouped per event and
        property first, so each distinct value of a batch is classified and
        sketched once; then the rows with findings are counted per finding
        and per kind of data, set by set, and only their distinct ids are
        digested."""
        times = [record.time for record in records]
        known = [t for t in times if t is not None]
        self.events += len(records)
        self.without_time += len(times) - len(known)
        if known:
            self.first = _min(self.first, min(known))
            self.last = _max(self.last, max(known))

        # records with the same name and keys (one template of the app's
        # code) are transposed into columns at once
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for index, record in enumerate(records):
            shape = (record.event, tuple(record.properties))
            rows = groups.get(shape)
            if rows is None:
                rows = groups[shape] = []
            rows.append(index)
        objects = [record.properties for record in records]
        by_name: dict[str, list[int]] = {}
        for (name, _), rows in groups.items():
            by_name.setdefault(name, []).extend(rows)

        hits = _Hits()
        name_of = classifier.name
        event_of: dict[str, EventStats] = {}
        for name, rows in by_name.items():
            shown, name_kinds = name_of(name)
            stats = event_of[name] = self._event(shown)
            stats.events += len(rows)
            stamps = [times[i] for i in rows if times[i] is not None]
            if stamps:
                stats.first = _min(stats.first, min(stamps))  # type: ignore[type-var]
                stats.last = _max(stats.last, max(stamps))  # type: ignore[type-var]
            if name_kinds:
                prop = stats.property(EVENT_NAME)
                prop.events += len(rows)
                prop.types["string"] += len(rows)
                self._found(prop, name_kinds, False, rows, hits)

        for (name, keys), rows in groups.items():
            stats = event_of[name]
            columns = zip(
                *map(dict.values, map(objects.__getitem__, rows)), strict=True
            )
            for key, values in zip(keys, columns, strict=True):
                shown, key_kinds = name_of(key)
                prop = stats.properties.get(shown) or stats.property(shown)
                self._column(prop, values, rows, key_kinds, classifier, hits)

        if hits.by_kind:
            self._count(hits, records, times, ids)

    def _column(
        self,
        prop: Property,
        values: Sequence[Any],
        rows: list[int],
        key_kinds: tuple[str, ...],
        classifier: Classifier,
        hits: _Hits,
    ) -> None:
        prop.events += len(values)
        types = Counter(map(type, values))
        for kind, count in types.items():
            prop.types[_TYPE_NAMES.get(kind, "other")] += count
        try:
            keys = values
            uniques = list(dict.fromkeys(values))
        except TypeError:  # lists and objects: tell them apart by their JSON text
            keys = [_key(value) for value in values]
            uniques = list(dict.fromkeys(keys))
            originals = dict(zip(keys, values, strict=True))
        else:
            originals = {}
        plain = [originals[u] for u in uniques] if originals else uniques
        verdicts = classifier.values(plain)

        if types.keys() <= _SKETCHED_AS_IS:
            update = prop.distinct.sketch.update
            for value in plain:
                update(value)
        else:
            for value in plain:
                _distinct(prop.distinct, value)
        if prop.all_urls:
            # stops at the first value that is not one: nearly free for
            # every other property
            for value in plain:
                if type(value) is not str or not value.startswith(_WEB):
                    prop.all_urls = False
                    break
        if prop.tries < _SHAPE_TRIES:
            for value in plain[: _SHAPE_TRIES - prop.tries]:
                prop.tries += 1
                shape = classifier.shape(value)
                if shape not in prop.shapes and len(prop.shapes) < MAX_SHAPES:
                    prop.shapes.append(shape)

        flagged = {
            unique: verdict
            for unique, verdict in zip(uniques, verdicts, strict=True)
            if verdict.kinds
        }
        if not flagged and not key_kinds:
            return
        # rows per verdict: each group is counted at once
        by_verdict: dict[Verdict, list[int]] = {}
        if len(flagged) == len(uniques) and len(set(flagged.values())) == 1:
            by_verdict[next(iter(flagged.values()))] = rows
        else:
            get = flagged.get
            for unique, index in zip(keys, rows, strict=True):
                verdict = get(unique, NOTHING)
                if verdict.kinds or key_kinds:
                    group = by_verdict.get(verdict)
                    if group is None:
                        group = by_verdict[verdict] = []
                    group.append(index)
        for verdict, group in by_verdict.items():
            kinds = verdict.kinds
            if key_kinds:
                kinds = tuple(sorted(set(kinds + key_kinds)))
            self._found(prop, kinds, verdict.whole, group, hits)

    def _found(
        self,
        prop: Property,
        kinds: tuple[str, ...],
        whole: bool,
        rows: list[int],
        hits: _Hits,
    ) -> None:
        """Count ``rows`` (of one property, each once) as holding ``kinds``;
        their people and times are added by :meth:`_count`."""
        prop.flagged += len(rows)
        for kind in kinds:
            finding = prop.findings.get(kind)
            if finding is None:
                finding = prop.findings[kind] = Finding(people=People(self.cap))
            finding.events += len(rows)
            if whole:
                finding.whole += len(rows)
            hits.findings.append((finding, rows))
            marks = hits.by_kind.get(kind)
            if marks is None:
                marks = hits.by_kind[kind] = set()
            marks.update(rows)

    def _count(
        self,
        hits: _Hits,
        records: list[AuditRecord],
        times: list[float | None],
        ids: dict[str, int],
    ) -> None:
        """People and times of the rows with findings: per finding, per kind
        of data, and over all kinds."""
        flagged: set[int] = set().union(*hits.by_kind.values())
        # digests (None: no distinct id) and hours, of flagged rows only
        people: list[int | None] = [None] * len(records)
        hours: list[int | None] = [None] * len(records)
        known = ids.get
        for index in flagged:
            record = records[index]
            who = record.distinct_id
            if who:
                digest = known(who)
                people[index] = self._person(who, ids) if digest is None else digest
            when = record.time
            if when is not None:
                hours[index] = int(when // _HOUR)

        for finding, rows in hits.findings:
            digests = [d for d in map(people.__getitem__, rows) if d is not None]
            finding.without_id += len(rows) - len(digests)
            finding.people.update(digests)
            stamps = [t for t in map(times.__getitem__, rows) if t is not None]
            if stamps:
                finding.first = _min(finding.first, min(stamps))
                finding.last = _max(finding.last, max(stamps))

        self.events_with_findings += len(flagged)
        self.people.update(d for d in map(people.__getitem__, flagged) if d is not None)
        personal: set[int] = set()
        for kind, marked in hits.by_kind.items():
            self.kind_events[kind] += len(marked)
            self._kind_people(kind).update(
                [d for d in map(people.__getitem__, marked) if d is not None]
            )
            for hour, count in Counter(map(hours.__getitem__, marked)).items():
                if hour is not None:
                    self.timeline[hour, kind] += count
            if kind not in QUASI_IDENTIFIERS:
                personal.update(marked)
        self.people_personal.update(
            [d for d in map(people.__getitem__, personal) if d is not None]
        )

    def _event(self, name: str) -> EventStats:
        stats = self.by_event.get(name)
        if stats is None:
            if len(self.by_event) >= MAX_EVENTS:
                name = OTHER_EVENTS
                stats = self.by_event.get(name)
            if stats is None:
                stats = self.by_event[name] = EventStats()
        return stats

    def _kind_people(self, kind: str) -> People:
        people = self.kind_people.get(kind)
        if people is None:
            people = self.kind_people[kind] = People(self.cap)
        return people

    def _person(self, distinct_id: str | None, ids: dict[str, int]) -> int | None:
        if not distinct_id:
            return None
        digest = ids.get(distinct_id)
        if digest is None:
            raw = hashlib.blake2b(
                distinct_id.encode("utf-8", "surrogatepass"),
                key=self.key,
                digest_size=8,
            ).digest()
            digest = int.from_bytes(raw, "little") & _DIGEST_MASK
            if len(ids) >= _ID_CACHE_SIZE:
                ids.clear()
            ids[distinct_id] = digest
        return digest


class _Hits:
    """The rows of one batch with findings: per finding, and per kind."""

    __slots__ = ("by_kind", "findings")

    def __init__(self) -> None:
        self.findings: list[tuple[Finding, list[int]]] = []
        self.by_kind: dict[str, set[int]] = {}


def _key(value: Any) -> Any:
    if isinstance(value, dict | list):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            return repr(value)
    return value


def _distinct(sketch: Distinct, value: Any) -> None:
    kind = type(value)
    if kind is str or kind is float:
        sketch.sketch.update(value)
    elif isinstance(value, bool) or value is None:
        sketch.add(repr(value))
    elif isinstance(value, int):
        sketch.add(value if -(2**63) <= value < 2**63 else str(value))
    else:
        try:
            sketch.add(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
        except TypeError:
            sketch.add(repr(value))


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _max(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a >= b else b
