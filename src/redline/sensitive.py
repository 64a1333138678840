"""Values that print redacted.

Secrets and event values travel wrapped in :class:`Sensitive`, whose ``str``,
``repr`` and ``format`` all hide the content. The raw value needs an explicit
call to :meth:`Sensitive.reveal`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

_MASK = "[secure]"


class Sensitive(Generic[T]):
    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return f"Sensitive({_MASK})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sensitive):
            return bool(self._value == other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        raise TypeError("Sensitive values cannot be pickled")
