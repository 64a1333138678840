"""Scoring detection against a labelled corpus, the way sanitize runs it.

Each event goes through a :class:`redline.detect.records.RecordRedactor`,
exactly as ``redline sanitize --policy redact-all`` runs it: every string at
any depth, keys included, and values filed under secrets' names. Then every
label is looked up in the output at its path:

- a planted value is *caught* when it no longer appears there (removed or
  altered); it is *strictly removed* when at most a quarter of its
  characters survive (in runs of four or more). A FREE_TEXT value counts as
  caught only when strictly removed: a prompt with one email masked is still
  a prompt passed on.
- a hard negative is *altered* when it appears there fewer times than in the
  input. The detector types whose spans touched it are found by scanning the
  input string again, and each such type is charged one false positive.

Per planted type: recall (caught / planted), the share of all hard negatives
its detectors altered, precision (caught / (caught + its false positives))
and F1. Detector types map to planted types by name; the credential
detector answers for both TOKEN and URL_CREDENTIAL, and is charged for both.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ..detect import Span
from ._labels import Label, LabelledEvent, Planted, as_text, value_at

SpansOf = Callable[[str], list[Span]]
# a record -> (the record redacted, findings by type)
Redact = Callable[[Any], tuple[Any, dict[str, int]]]

# which planted types a detector's findings count for
_COUNTS_FOR: dict[str, tuple[str, ...]] = {
    "CREDENTIAL": (Planted.TOKEN.value, Planted.URL_CREDENTIAL.value),
}
STRICT_SURVIVAL = 0.25
_PLACEHOLDER = re.compile(r"\[[A-Z][A-Z_]*\]")
_MIN_RUN = 4
OTHER = "(whole value or key)"


@dataclasses.dataclass
class TypeScore:
    """The figures of one planted type."""

    kind: str
    planted: int = 0
    caught: int = 0
    strict: int = 0
    false_positives: int = 0
    negatives: int = 0  # all hard negatives of the slice, for the share

    @property
    def recall(self) -> float | None:
        return self.caught / self.planted if self.planted else None

    @property
    def strict_recall(self) -> float | None:
        return self.strict / self.planted if self.planted else None

    @property
    def negatives_altered(self) -> float | None:
        return self.false_positives / self.negatives if self.negatives else None

    @property
    def precision(self) -> float | None:
        judged = self.caught + self.false_positives
        return self.caught / judged if judged else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "planted": self.planted,
            "caught": self.caught,
            "strictly_removed": self.strict,
            "false_positives": self.false_positives,
            "recall": self.recall,
            "strict_recall": self.strict_recall,
            "negatives_altered": self.negatives_altered,
            "precision": self.precision,
            "f1": self.f1,
        }


@dataclasses.dataclass
class NegativeScore:
    """How often one kind of hard negative was altered, and by what."""

    kind: str
    count: int = 0
    altered: int = 0
    by: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def share(self) -> float | None:
        return self.altered / self.count if self.count else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "altered": self.altered,
            "share_altered": self.share,
            "altered_by": dict(sorted(self.by.items())),
        }


@dataclasses.dataclass
class Report:
    """The figures for one slice of the corpus (all events, or one locale)."""

    events: int
    types: list[TypeScore]
    overall: TypeScore
    negatives: list[NegativeScore]
    # (type, variant, carrier) -> missed count, planted count
    shapes: dict[tuple[str, str, str], tuple[int, int]]

    @property
    def negatives_total(self) -> int:
        return sum(item.count for item in self.negatives)

    @property
    def negatives_altered(self) -> int:
        return sum(item.altered for item in self.negatives)

    def to_json(self) -> dict[str, Any]:
        total = self.negatives_total
        return {
            "events": self.events,
            "types": [score.to_json() for score in self.types],
            "overall": self.overall.to_json(),
            "negatives": {
                "count": total,
                "altered": self.negatives_altered,
                "share_altered": self.negatives_altered / total if total else None,
                "by_kind": [item.to_json() for item in self.negatives],
            },
            "misses_by_shape": [
                {
                    "type": kind,
                    "variant": variant,
                    "carrier": carrier,
                    "missed": missed,
                    "planted": planted,
                }
                for (kind, variant, carrier), (missed, planted) in sorted(
                    self.shapes.items(), key=lambda item: -item[1][0]
                )
                if missed
            ],
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one label."""

    label: Label
    locale: str
    hit: bool  # planted: caught; negative: altered
    strict: bool  # planted: strictly removed
    by: tuple[str, ...]  # negative: the detector types that touched it


class Evaluation:
    """Runs events through the scrub function and keeps each label's outcome."""

    def __init__(self, redact: Redact, spans_of: SpansOf) -> None:
        self._redact = redact
        self._spans_of = spans_of
        self.outcomes: list[Outcome] = []
        self.events: Counter[str] = Counter()
        self.found: dict[str, int] = {}

    def add(self, item: LabelledEvent) -> dict[str, Any]:
        """Score one event; returns the sanitised event."""
        clean, found = self._redact(item.event)
        for kind, count in found.items():
            self.found[kind] = self.found.get(kind, 0) + count
        self.events[item.locale] += 1
        for label in item.labels:
            self.outcomes.append(self._judge(item, clean, label))
        return clean  # type: ignore[no-any-return]

    def _judge(self, item: LabelledEvent, clean: Any, label: Label) -> Outcome:
        _, before_value = value_at(item.event, label.path)
        original = as_text(before_value)
        found, output = value_at(clean, label.path)
        text = as_text(output) if found else None
        if label.negative:
            before = original.count(label.value) if original is not None else 0
            # a placeholder must not pass for the value ("OK" in "[TOKEN]")
            after = _PLACEHOLDER.sub("\0", text).count(label.value) if text else 0
            if text is not None and after >= before:
                return Outcome(label, item.locale, False, False, ())
            by = _touching(self._spans_of, original, label.value)
            return Outcome(label, item.locale, True, False, by or (OTHER,))
        survived = 0.0 if text is None else survival(label.value, text)
        strict = survived <= STRICT_SURVIVAL
        if label.kind == Planted.FREE_TEXT.value:
            caught = strict
        else:
            caught = text is None or label.value not in text
        return Outcome(label, item.locale, caught, strict, ())

    def report(self, locale: str | None = None) -> Report:
        """Figures over all events, or over the events of one locale."""
        chosen = [o for o in self.outcomes if locale is None or o.locale == locale]
        events = self.events[locale] if locale else sum(self.events.values())
        negatives = [o for o in chosen if o.label.negative]
        total_negatives = len(negatives)

        scores = {kind.value: TypeScore(kind.value) for kind in Planted}
        shapes: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        overall = TypeScore("ALL", negatives=total_negatives)
        for outcome in chosen:
            label = outcome.label
            if label.negative:
                continue
            score = scores.setdefault(label.kind, TypeScore(label.kind))
            for target in (score, overall):
                target.planted += 1
                target.caught += outcome.hit
                target.strict += outcome.strict
            shape = shapes[(label.kind, label.variant, label.carrier)]
            shape[0] += not outcome.hit
            shape[1] += 1

        by_kind: dict[str, NegativeScore] = {}
        for outcome in negatives:
            kind = outcome.label.kind
            entry = by_kind.setdefault(kind, NegativeScore(kind))
            entry.count += 1
            if not outcome.hit:
                continue
            entry.altered += 1
            entry.by.update(outcome.by)
            overall.false_positives += 1
            charged = {t for name in outcome.by for t in _COUNTS_FOR.get(name, (name,))}
            for name in charged:
                if name in scores:
                    scores[name].false_positives += 1
        for score in scores.values():
            score.negatives = total_negatives
        return Report(
            events=events,
            types=[score for score in scores.values() if score.planted],
            overall=overall,
            negatives=sorted(by_kind.values(), key=lambda item: item.kind),
            shapes={key: (value[0], value[1]) for key, value in shapes.items()},
        )

    def misses(self, kind: str | None = None) -> Iterable[Outcome]:
        """Planted values not caught and negatives altered (for inspection of
        synthetic corpora only: these hold the values)."""
        for outcome in self.outcomes:
            if kind is not None and outcome.label.kind != kind:
                continue
            if outcome.label.negative == outcome.hit:
                yield outcome


def survival(planted: str, output: str) -> float:
    """The share of ``planted``'s characters still in ``output``, counting
    only runs of at least four characters (shorter ones match by chance)."""
    if not planted:
        return 0.0
    if planted in output:
        return 1.0
    matcher = difflib.SequenceMatcher(None, planted, output, autojunk=False)
    kept = sum(b.size for b in matcher.get_matching_blocks() if b.size >= _MIN_RUN)
    return kept / len(planted)


def _touching(spans_of: SpansOf, original: Any, value: str) -> tuple[str, ...]:
    """The types of the spans that overlap an occurrence of ``value``."""
    if not isinstance(original, str):
        return ()
    spans = spans_of(original)
    kinds: set[str] = set()
    start = original.find(value)
    while start != -1:
        end = start + len(value)
        kinds.update(s.type.value for s in spans if s.start < end and s.end > start)
        start = original.find(value, start + 1)
    return tuple(sorted(kinds))
