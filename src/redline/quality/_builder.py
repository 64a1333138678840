"""Building one event and its labels together, so labels cannot drift.

Every string is put at its path together with the planted substrings it
holds; :meth:`Builder.finish` checks that each label's value really is in
the string at its path, and drops a negative label whose text overlaps a
positive one at the same path (a city inside a planted address is not a
hard negative).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._labels import Label, LabelledEvent, Negative, Path_, Planted, as_text, value_at
from ._values import Ctx

# a hard negative's value (a string, or an integer as SDKs send epoch
# milliseconds) and its variant
Maker = Callable[[Ctx], tuple[str | int, str]]


class Builder:
    """An event under construction: a Mixpanel track event or a profile update."""

    def __init__(self, ctx: Ctx, document: dict[str, Any]) -> None:
        self.ctx = ctx
        self.document = document
        self.labels: list[Label] = []

    def put(self, path: Path_, value: Any) -> None:
        """Set ``value`` at ``path``, creating objects on the way; labels of
        what was there before are forgotten."""
        depth = len(path)
        self.labels = [x for x in self.labels if x.path[:depth] != path]
        node: Any = self.document
        for step in path[:-1]:
            node = node[step] if isinstance(step, int) else node.setdefault(step, {})
        node[path[-1]] = value

    def plant(
        self,
        path: Path_,
        kind: Planted,
        value: str,
        variant: str,
        carrier: str,
    ) -> None:
        self.labels.append(Label(kind.value, path, value, variant, False, carrier))

    def avoid(self, path: Path_, kind: Negative, value: str, variant: str) -> None:
        self.labels.append(Label(kind.value, path, value, variant, True, "field"))

    def negative(self, path: Path_, kind: Negative, maker: Maker) -> str:
        """Put a hard negative made by ``maker`` at ``path``; returns it."""
        value, variant = maker(self.ctx)
        self.put(path, value)
        self.avoid(path, kind, str(value), variant)
        return str(value)

    def finish(self) -> LabelledEvent:
        positives: dict[Path_, list[str]] = {}
        for label in self.labels:
            if not label.negative:
                positives.setdefault(label.path, []).append(label.value)
        kept = []
        for label in self.labels:
            found, value = value_at(self.document, label.path)
            holder = as_text(value) if found else None
            if holder is None or label.value not in holder:
                raise AssertionError(
                    f"label {label.kind} at {label.path} is not planted"
                )
            if label.negative and _touches(
                holder, label.value, positives.get(label.path, [])
            ):
                continue
            kept.append(label)
        return LabelledEvent(self.document, self.ctx.locale, tuple(kept))


def _touches(holder: str, value: str, planted: list[str]) -> bool:
    """Whether an occurrence of ``value`` overlaps one of a planted value."""
    if not planted:
        return False
    covered = bytearray(len(holder))
    for item in planted:
        start = holder.find(item)
        while start != -1:
            covered[start : start + len(item)] = b"\x01" * len(item)
            start = holder.find(item, start + 1)
    start = holder.find(value)
    while start != -1:
        if any(covered[start : start + len(value)]):
            return True
        start = holder.find(value, start + 1)
    return False
