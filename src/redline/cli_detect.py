"""``redline detect``: the labelled corpus and how well detection does on it."""

from __future__ import annotations

import sys
from pathlib import Path

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
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write here instead of stdout.",
)
def generate(count: int, seed: int, locales: str, output: str | None) -> None:
    """Write a labelled corpus as JSON lines.

    Each line holds an event ("event"), its locale, and labels: the planted
    sensitive values and the hard negatives, each with the path of the
    string that holds it. All values are synthetic.
    """
    from .quality import generate as make
    from .quality import write_jsonl

    chosen = _locales(locales)
    if output is None:
        write_jsonl(make(count, seed, chosen), sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with Path(output).open("wb") as handle:
        written = write_jsonl(make(count, seed, chosen), handle)
    click.echo(f"redline: wrote {written} labelled events to {output}", err=True)
