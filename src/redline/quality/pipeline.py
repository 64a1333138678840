"""The detection under test: ``redline sanitize --policy redact-all``.

That command runs a :class:`RecordRedactor` over the detectors the built-in
``redact-all`` policy names. The eval builds the same redactor, optionally
with extra detectors after the policy's own (the NER backend), so that a run
with and a run without them differ only by what was added.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..detect import Detector, Scanner
from ..detect.records import RecordRedactor
from ..policy import load_policy

POLICY = "redact-all"


def redactor(extra: Sequence[Detector] = ()) -> RecordRedactor:
    """The redactor ``sanitize --policy redact-all`` uses, plus ``extra``."""
    policy = load_policy(POLICY)
    built = RecordRedactor(policy.detectors)
    if extra:
        built.scanner = Scanner([*built.scanner.detectors, *extra])
    return built
