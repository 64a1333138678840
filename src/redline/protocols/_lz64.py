"""lz-string's base64 form, PostHog's ``compression=lz64``, with bounds.

Very old posthog-js releases and posthog-js-lite's form mode send
``data=<lz-string compressToBase64 of the JSON>`` with ``compression=lz64``
(protocols.md §2.2). The decompressor is the ``lzstring`` package's; what
this module adds is what user data controls:

* the input length (:data:`MAX_CHARS`): the decompressor is pure Python, about
  1.2 microseconds a character here;
* the output length: lz-string is LZW-like, so a few kilobytes can expand to
  hundreds of megabytes (a 12 KB body gives 20 M characters). The package
  has no limit of its own, so the input callback it calls every six bits
  also counts what the decompressor has written so far and stops it past
  the limit. Between two calls it writes at most two entries, each no longer
  than what it had written before, so it never holds much more than three
  times the limit.

lz-string works on UTF-16 code units, as JavaScript strings do: a character
outside the Basic Multilingual Plane comes out as a surrogate pair, joined
here into one character.
"""

from __future__ import annotations

import sys

import lzstring  # type: ignore[import-untyped]  # the package ships no types

from ..errors import PayloadTooLarge, RequestError

__all__ = ["MAX_CHARS", "decode"]

# characters of base64 text; posthog-js-lite sends at most 100 events a
# request, about 16 K characters
MAX_CHARS = 256 * 1024

# lz-string's own base64 alphabet ("=" is a digit of value 64 to it)
_VALUES = {char: value for value, char in enumerate(lzstring.keyStrBase64)}


def decode(text: str, *, limit: int) -> str:
    """The text an lz64 string holds, at most ``limit`` characters.

    Raises :class:`RequestError` for anything that is not lz-string base64
    and :class:`PayloadTooLarge` for input or output over the bounds.
    """
    text = text.strip()
    if len(text) > MAX_CHARS:
        raise PayloadTooLarge(f"lz64 data over {MAX_CHARS} characters")
    try:
        # a form decoder turns an unescaped "+" into a space
        values = [_VALUES[char] for char in text.replace(" ", "+")]
    except KeyError:
        raise RequestError("data is not lz64 (lz-string base64)") from None
    if not values:
        raise RequestError("empty lz64 data")

    reader = _Reader(values, limit)
    try:
        out = lzstring._decompress(len(values), 32, reader)
    except (IndexError, KeyError, NameError, TypeError, ValueError, OverflowError):
        # what a corrupt stream makes the decompressor raise: reads past
        # the end, codes it never defined, a first code it has no branch
        # for (an unbound local)
        raise RequestError("invalid lz64 data") from None
    if not isinstance(out, str) or not out:
        raise RequestError("invalid lz64 data")
    if len(out) > limit:
        raise PayloadTooLarge(f"decompressed data over the limit of {limit} bytes")
    return _join_surrogates(out)


class _Reader:
    """The decompressor's ``getNextValue``: the input's six-bit values,
    and, at each call, a look at the size of its output so far."""

    __slots__ = ("_out", "_read", "_size", "_values", "limit")

    def __init__(self, values: list[int], limit: int) -> None:
        self._values = values
        self.limit = limit
        self._out: list[str] | None = None
        self._read = 0
        self._size = 0

    def __call__(self, index: int) -> int:
        out = self._out
        if out is None:
            # the list the decompressor appends its output to, made before
            # its first read (lzstring 1.0.4, _decompress's "result")
            found = sys._getframe(1).f_locals.get("result")
            if not isinstance(found, list):
                raise RuntimeError("lzstring's decompressor changed; lz64 unbounded")
            out = self._out = found
        while self._read < len(out):
            self._size += len(out[self._read])
            self._read += 1
        if self._size > self.limit:
            raise PayloadTooLarge(
                f"decompressed data over the limit of {self.limit} bytes"
            )
        return self._values[index]


def _join_surrogates(text: str) -> str:
    if text.isascii():
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise RequestError("lz64 data is not valid UTF-16") from None
