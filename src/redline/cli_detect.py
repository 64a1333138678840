"""``redline detect``: the labelled corpus and how well detection does on it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

DEFAULT_LOCALES = "en_US,en_GB,de_DE,fr_FR,ja_JP,pt_BR,en_IN"


def _locales(value: str) -> tuple[str, ...]:
    from .quality import LOCALES

    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [locale for locale in chosen if locale not in LOCALES]
    if unknown or not chosen:
        raise click.BadParameter(
            f"unknown locale {', '.join(unknown) or '(none)'}; "
            f"use a comma-separated list of {', '.join(LOCALES)}",
            param_hint="--locales",
        )
    return chosen


@click.group()
def detect() -> None:
    """Measure detection on a labelled corpus of synthetic events."""


@detect.command()
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="How many events.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Same seed, same corpus."
)
@click.option(
    "--locales",
    default=DEFAULT_LOCALES,
    show_default=True,
    help="Faker locales, comma-separated.",
)
@click.option(
    "--clean-share",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of events that plant nothing (hard negatives only).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write here instead of stdout.",
)
def generate(
    count: int, seed: int, locales: str, clean_share: float, output: str | None
) -> None:
    """Write a labelled corpus as JSON lines.

    Each line holds an event ("event"), its locale, and labels: the planted
    sensitive values and the hard negatives, each with the path of the
    string that holds it. All values are synthetic.
    """
    from .quality import generate as make
    from .quality import write_jsonl

    chosen = _locales(locales)
    events = make(count, seed, chosen, clean_share=clean_share)
    try:
        if output is None:
            write_jsonl(events, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        with Path(output).open("wb") as handle:
            written = write_jsonl(events, handle)
    except BrokenPipeError:
        # the reader stopped early (`| head`): that is no error; point stdout
        # at nothing so that the interpreter's final flush stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    except OSError as exc:
        where = output or "stdout"
        raise click.ClickException(
            f"could not write the corpus to {where}: {exc.strerror or exc}"
        ) from None
    click.echo(f"redline: wrote {written} labelled events to {output}", err=True)


@detect.command("eval")
@click.argument("corpus", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--generate",
    "count",
    type=click.IntRange(min=1),
    help="Generate N events instead of reading CORPUS [default: 5000 "
    "when no CORPUS is given].",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the generated corpus.",
)
@click.option(
    "--locales",
    default=DEFAULT_LOCALES,
    show_default=True,
    help="Locales of the generated corpus, comma-separated.",
)
@click.option(
    "--ner",
    is_flag=True,
    help="Also run with the NER backend (the ner extra) and compare.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write every figure as JSON to FILE ('-': stdout, tables then go to stderr).",
)
@click.option(
    "--show-misses",
    type=click.IntRange(min=0),
    default=0,
    help="Print up to N missed values per type. Generated corpora "
    "only: their values are synthetic.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 unless every pattern type reaches 99% recall and at most "
    "0.5% of hard negatives are altered, in all events and in ja_JP ones.",
)
def eval_(
    corpus: str | None,
    count: int | None,
    seed: int,
    locales: str,
    ner: bool,
    json_path: str | None,
    show_misses: int,
    check: bool,
) -> None:
    """Score detection on a labelled corpus, per type.

    \b
    Runs every event through the detection that
    `redline sanitize --policy redact-all` applies (every string at any
    depth) and reports, per planted type: recall (the planted value no
    longer appears), the share strictly removed, the share of hard
    negatives its detectors altered, precision and F1; then the hard
    negatives by kind, and the same figures for ja_JP events on their own.

    Reads CORPUS (from `redline detect generate`) or generates one in
    memory. See docs/detection.md.
    """
    from rich.console import Console

    from .quality import Planted, render
    from .quality import evaluate as ev

    if corpus is not None and count is not None:
        raise click.UsageError("give a CORPUS file or --generate N, not both")
    if show_misses and corpus is not None:
        raise click.UsageError(
            "--show-misses prints values, so it works on generated corpora only"
        )
    console = Console(stderr=json_path == "-")
    events, total, source = _events(corpus, count, seed, locales)

    runs = [("without NER", _redactor(()))]
    if ner:
        runs.append(("with NER", _redactor(_ner_detectors())))
    evaluations = [ev.Evaluation(r.redact, r.scanner.scan) for _, r in runs]
    _run(events, total, evaluations, console)

    base = evaluations[0]
    tables = [
        render.types_table(base.report(), f"Detection on {source}"),
        render.negatives_table(base.report(), "Hard negatives"),
    ]
    if base.events.get("ja_JP"):
        tables.append(render.types_table(base.report("ja_JP"), "ja_JP events only"))
        tables.append(
            render.negatives_table(base.report("ja_JP"), "ja_JP hard negatives")
        )
    misses = render.misses_table(base.report(), "Where the pattern types miss")
    if misses is not None:
        tables.append(misses)
    reports = [
        (name, e.report()) for (name, _), e in zip(runs, evaluations, strict=True)
    ]
    kinds = [Planted.PERSON.value, Planted.ADDRESS.value]
    tables.append(render.carriers_table(reports, kinds))
    if ner:
        with_ner = evaluations[1]
        tables.append(
            render.comparison_table(
                base.report(), with_ner.report(), "With and without NER"
            )
        )
        tables.append(
            render.negatives_table(with_ner.report(), "Hard negatives with NER")
        )
        if base.events.get("ja_JP"):
            tables.append(
                render.comparison_table(
                    base.report("ja_JP"),
                    with_ner.report("ja_JP"),
                    "ja_JP with and without NER",
                )
            )
    render.show(console, tables)
    if show_misses:
        _print_misses(console, base, show_misses)
    if json_path is not None:
        _write_json(json_path, source, runs, evaluations)
    if check:
        slices = [("all events", base.report())]
        if base.events.get("ja_JP"):
            slices.append(("ja_JP events", base.report("ja_JP")))
        missed = [
            f"{name}: {why}" for name, r in slices for why in render.shortfalls(r)
        ]
        for line in missed:
            console.print(f"target missed, {line}")
        if missed:
            sys.exit(1)
        console.print("every target met")


def _events(
    corpus: str | None, count: int | None, seed: int, locales: str
) -> tuple[Any, int, str]:
    from .quality import generate, read_jsonl

    if corpus is not None:
        with Path(corpus).open("rb") as handle:
            total = sum(1 for line in handle if line.strip())
        if not total:
            raise click.ClickException(
                f"{corpus} holds no labelled events; make a corpus with "
                "`redline detect generate -o FILE`"
            )
        return read_jsonl(Path(corpus)), total, corpus
    total = count or 5000
    chosen = _locales(locales)
    return (
        generate(total, seed, chosen),
        total,
        f"{total} generated events (seed {seed})",
    )


def _redactor(extra: Any) -> Any:
    from .quality.pipeline import redactor

    return redactor(extra)


def _ner_detectors() -> tuple[Any, ...]:
    from .detect.ner import NerDetector, NerUnavailable

    try:
        return (NerDetector(),)
    except NerUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _run(events: Any, total: int, evaluations: list[Any], console: Any) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("scanning events", total=total)
        try:
            for item in events:
                for evaluation in evaluations:
                    evaluation.add(item)
                progress.advance(task)
        except ValueError as exc:  # a bad corpus line, named by file and line
            raise click.ClickException(str(exc)) from None


def _print_misses(console: Any, evaluation: Any, limit: int) -> None:
    from rich.markup import escape

    shown: dict[str, int] = {}
    for outcome in evaluation.misses():
        label = outcome.label
        if shown.get(label.kind, 0) >= limit:
            continue
        shown[label.kind] = shown.get(label.kind, 0) + 1
        what = "altered" if label.negative else "missed"
        path = "/".join(str(step) for step in label.path)
        by = f" by {', '.join(outcome.by)}" if outcome.by else ""
        console.print(
            f"{what} {label.kind} ({label.variant}, {label.carrier}) at {escape(path)}"
            f"{by}: {escape(repr(label.value))}"
        )


def _write_json(
    path: str, source: str, runs: list[Any], evaluations: list[Any]
) -> None:
    import orjson

    from .quality import render

    document: dict[str, Any] = {
        "corpus": source,
        "targets": {
            "recall": render.RECALL_TARGET,
            "negatives_altered": render.NEGATIVE_TARGET,
        },
        "runs": {},
    }
    for (name, _), evaluation in zip(runs, evaluations, strict=True):
        slices = {"all": evaluation.report()}
        if evaluation.events.get("ja_JP"):
            slices["ja_JP"] = evaluation.report("ja_JP")
        document["runs"][name] = {
            key: {**report.to_json(), "shortfalls": render.shortfalls(report)}
            for key, report in slices.items()
        }
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            Path(path).write_bytes(data)
        except OSError as exc:
            raise click.ClickException(
                f"could not write the figures to {path}: {exc.strerror or exc}"
            ) from None
