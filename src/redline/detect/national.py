"""National identifiers that ``python-stdnum`` validates, by name.

A policy asks for one with ``national_id:<module>``, the module's path in
``python-stdnum`` (``national_id:fr.nir``, ``national_id:de.idnr``,
``national_id:br.cpf``, ``national_id:es.dni``, ``national_id:in_.aadhaar``);
none is in the default set, since many of these numbers carry only a weak
check and look like order numbers to anyone but the policy's author.

Candidates are runs of letter-and-digit groups joined by single spaces,
hyphens, dots or slashes; every run of up to :data:`MAX_GROUPS` adjacent
groups that holds a digit goes to the module's ``is_valid``, and the
longest valid ones are reported.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from ..errors import ConfigError
from ._span import EntityType, Span
from ._text import fold_width

PREFIX = "national_id:"
MAX_GROUPS = 8  # "2 95 10 99 126 111 93" (a French NIR) has seven
# validations per string; beyond them the string is masked whole (fail closed)
MAX_CHECKS = 2048

_RUN = re.compile(r"[A-Za-z0-9]+(?:[ \-./][A-Za-z0-9]+)*")
_GROUP = re.compile(r"[A-Za-z0-9]+")
_HAS_DIGIT = re.compile(r"[0-9]")
_MODULE_NAME = re.compile(r"[a-z_]+(?:\.[a-z_0-9]+)?")


def load_module(name: str) -> ModuleType:
    """The ``python-stdnum`` module named ``name`` (``fr.nir``), which must
    have an ``is_valid`` function; a ConfigError says what to write else."""
    fix = (
        "use a python-stdnum module path such as fr.nir, de.idnr or br.cpf "
        "(https://arthurdejong.org/python-stdnum/)"
    )
    if not _MODULE_NAME.fullmatch(name):
        raise ConfigError(f"unknown national identifier {name!r}", fix=fix)
    try:
        module = importlib.import_module(f"stdnum.{name}")
    except ImportError:
        raise ConfigError(f"unknown national identifier {name!r}", fix=fix) from None
    if not callable(getattr(module, "is_valid", None)):
        raise ConfigError(f"{name!r} is not a number format", fix=fix)
    return module


class NationalIdDetector:
    """Finds numbers one ``python-stdnum`` module validates."""

    type: EntityType = EntityType.NATIONAL_ID
    trigger: re.Pattern[str] = re.compile(r"[0-9]")

    def __init__(self, name: str) -> None:
        self.name = name
        self._module = load_module(name)

    def find(self, text: str) -> list[Span]:
        text = fold_width(text)
        is_valid = self._module.is_valid
        spans: list[Span] = []
        checks = 0
        for run in _RUN.finditer(text):
            if not _HAS_DIGIT.search(text, run.start(), run.end()):
                continue  # words: no number starts here
            groups = [g.span() for g in _GROUP.finditer(text, run.start(), run.end())]
            index = 0
            while index < len(groups):
                if not _anchor(text, groups, index):
                    index += 1
                    continue
                found = 0
                # the longest window starting at this group that validates
                for last in range(
                    min(len(groups), index + MAX_GROUPS) - 1, index - 1, -1
                ):
                    checks += 1
                    if checks > MAX_CHECKS:
                        # more than a string of events carries: mask it
                        # rather than leave the rest unread
                        reason = "too many identifier candidates"
                        return [Span(EntityType.UNSCANNABLE, 0, len(text), 1.0, reason)]
                    start, end = groups[index][0], groups[last][1]
                    if is_valid(text[start:end]):
                        reason = f"stdnum {self.name}"
                        spans.append(Span(self.type, start, end, 0.8, reason))
                        found = last + 1
                        break
                index = found or index + 1
        return spans


def _anchor(text: str, groups: list[tuple[int, int]], index: int) -> bool:
    """Whether a window may start at this group: it holds a digit, or it is
    a short letter prefix right before one that does (``AB 12 34 56 C``)."""
    start, end = groups[index]
    if _HAS_DIGIT.search(text, start, end):
        return True
    if end - start > 3 or index + 1 >= len(groups):
        return False
    after = groups[index + 1]
    return _HAS_DIGIT.search(text, after[0], after[1]) is not None
