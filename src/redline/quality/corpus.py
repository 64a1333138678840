"""The labelled synthetic corpus: ``generate(n, seed)`` yields labelled events.

Event ``i`` of a seed depends on the seed and ``i`` alone (its own random
generator and Faker seed), so a corpus is the same on every run and machine,
and a prefix of a bigger corpus is the smaller one. Planted types take turns,
so every type is planted about ``n / 14`` times; locales are drawn at random,
with US SSNs leaning to en_US and My Numbers to ja_JP events. With
``clean_share`` that share of events plants nothing (hard negatives only),
closer to real traffic, where most events carry nothing sensitive.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from ._labels import LabelledEvent, Planted
from ._plant import PLANTERS
from ._shapes import track
from ._values import REGION, Ctx

LOCALES: tuple[str, ...] = tuple(REGION)

_TYPES: tuple[Planted, ...] = tuple(Planted)
_LEANING = {Planted.US_SSN: "en_US", Planted.JP_MY_NUMBER: "ja_JP"}


def _faker(locale: str) -> object:
    try:
        from faker import Faker
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "generating a corpus needs Faker: pip install 'redline[quality]'"
        ) from None
    return Faker(locale)


def generate(
    count: int,
    seed: int = 0,
    locales: Sequence[str] = LOCALES,
    *,
    clean_share: float = 0.0,
) -> Iterator[LabelledEvent]:
    """``count`` labelled events for ``seed``, over the given Faker locales."""
    if not 0.0 <= clean_share <= 1.0:
        raise ValueError("clean_share must lie between 0 and 1")
    unknown = [locale for locale in locales if locale not in REGION]
    if unknown or not locales:
        raise ValueError(
            f"unknown locale(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(LOCALES)}"
        )
    fakers = {locale: _faker(locale) for locale in locales}
    for index in range(count):
        rng = random.Random(f"redline-corpus:{seed}:{index}")
        kind = _TYPES[index % len(_TYPES)]
        leaning = _LEANING.get(kind)
        if leaning in fakers and rng.random() < 0.6:
            locale = leaning
        else:
            locale = rng.choice(list(locales))
        fake = fakers[locale]
        fake.seed_instance(rng.getrandbits(64))  # type: ignore[attr-defined]
        ctx = Ctx(fake, rng, locale)  # type: ignore[arg-type]
        if clean_share and rng.random() < clean_share:
            yield track(ctx).finish()
        else:
            yield PLANTERS[kind](ctx).finish()
