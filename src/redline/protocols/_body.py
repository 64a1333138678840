"""Bounded decoding of request bodies, shared by the protocol adapters.

Everything here works on untrusted bytes: sizes are capped before and after
decompression, JSON nesting is bounded, and every error is a
:class:`~redline.errors.RequestError` whose message describes the shape of the
problem, never the payload.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
import zstandard

from ..errors import PayloadTooLarge, RequestError

GZIP_MAGIC = b"\x1f\x8b"

# a form that needs more fields than this is not an analytics request
MAX_FORM_FIELDS = 64

_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})
# digits to "0", everything else to " ": the runs of 19 zeros in the
# translated body are where a JSON number of 19 or more digits (the one kind
# orjson cannot keep exact) may start
_DIGIT_RUNS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_NINETEEN = b"0" * 19
# what may stand before a number's digits: a minus, after whitespace after
# one of these (a run of digits inside a string has other neighbours, most
# of the time)
_BEFORE_NUMBER = frozenset(b":,[")
_WHITESPACE = frozenset(b" \t\n\r\f\v")
_MINUS = ord("-")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_B64_JUNK = str.maketrans({"\r": None, "\n": None, "\t": None})
# space: a '+' that the sender did not percent-encode; '-' and '_': the
# URL-safe alphabet
_B64_STANDARD = str.maketrans({" ": "+", "-": "+", "_": "/"})


def media_type(headers: Mapping[str, str]) -> str:
    """The lower-cased ``type/subtype`` of ``Content-Type``, or ``""``."""
    value = headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def decompress(body: bytes, headers: Mapping[str, str], *, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, zstd) and unlabelled gzip.

    Gzip is recognised by its magic bytes even without a header, because
    some SDKs send it unlabelled (protocols.md §0.5). At most ``limit`` bytes
    are ever inflated: a larger result raises :class:`PayloadTooLarge`.
    """
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in _GZIP or (encoding in _IDENTITY and body[:2] == GZIP_MAGIC):
        return _gunzip(body, limit)
    if encoding == "deflate":
        return _inflate(body, limit)
    if encoding == "zstd":
        return _unzstd(body, limit)
    if encoding in _IDENTITY:
        return body
    raise RequestError("unsupported Content-Encoding")


def _gunzip(body: bytes, limit: int) -> bytes:
    out = bytearray()
    rest = body
    # a gzip stream may hold several members one after another
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out += _bounded(inflater, rest, limit - len(out), "gzip")
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):
            return bytes(out)
        if rest[:2] != GZIP_MAGIC:
            raise RequestError("trailing bytes after the gzip stream")


def _inflate(body: bytes, limit: int) -> bytes:
    # HTTP's "deflate" is the zlib format, but some clients send raw deflate
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            return _bounded(inflater, body, limit, "deflate")
        except RequestError as exc:
            if isinstance(exc, PayloadTooLarge) or wbits < 0:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _unzstd(body: bytes, limit: int) -> bytes:
    # posthog-python's capture v1 sends zstd when its zstandard extra is
    # installed. A bounded read first (its reader stops at limit + 1 bytes
    # whatever the frames claim); then, the size being known to be within
    # the limit, each frame is decoded whole to tell a truncated stream
    # (which the reader ends quietly) from a complete one
    zstd = zstandard.ZstdDecompressor()
    try:
        with zstd.stream_reader(body, read_across_frames=True) as reader:
            size = len(reader.read(limit + 1))
        if size > limit:
            raise PayloadTooLarge(f"decompressed body over the limit of {limit} bytes")
        out = bytearray()
        rest = body
        while rest:
            frame = zstd.decompressobj()
            out += frame.decompress(rest)
            if not frame.eof:
                raise RequestError("truncated zstd data")
            rest = frame.unused_data
    except zstandard.ZstdError:
        raise RequestError("invalid zstd data") from None
    if len(out) > limit:  # pragma: no cover - the first pass bounds it
        raise PayloadTooLarge(f"decompressed body over the limit of {limit} bytes")
    return bytes(out)


def _bounded(inflater: Any, data: bytes, room: int, name: str) -> bytes:
    try:
        chunk: bytes = inflater.decompress(data, room + 1)
    except zlib.error:
        raise RequestError(f"invalid {name} data") from None
    if len(chunk) > room or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body over the limit of {room} bytes")
    if not inflater.eof:
        raise RequestError(f"truncated {name} data")
    return chunk


def parse_form(body: bytes) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body.

    A field given twice is refused: which copy the vendor would read is
    unknown, and forwarding one while checking the other would let data
    through unseen.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("form body is not UTF-8") from None
    fields: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        if len(fields) >= MAX_FORM_FIELDS:
            raise RequestError(f"more than {MAX_FORM_FIELDS} form fields")
        name, _, value = part.partition("=")
        name = _unquote(name)
        if name in fields:
            raise RequestError("a form field is repeated")
        fields[name] = _unquote(value)
    return fields


def _unquote(text: str) -> str:
    try:
        if "%" not in text and "+" not in text:
            return text
        return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("form field is not percent-encoded UTF-8") from None


def looks_like_json(text: str | bytes) -> bool:
    """True when ``text`` starts (after whitespace) like a JSON object or array."""
    head = text.lstrip()[:1]
    return head in ("{", "[", b"{", b"[")


def b64decode_loose(text: str) -> bytes:
    """Decode base64 from the standard or URL-safe alphabet, padding optional.

    Spaces are read as ``+``: a form or query decoder turns an unescaped
    ``+`` into a space.
    """
    try:
        # the common case: standard alphabet, padded, nothing to clean
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    cleaned = text.translate(_B64_JUNK).translate(_B64_STANDARD).rstrip("=")
    if len(cleaned) % 4 == 1:
        raise RequestError("data is neither JSON nor valid base64")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("data is neither JSON nor valid base64") from None


def _no_constants(name: str) -> Any:
    raise ValueError("non-standard JSON constant")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError("number out of range")
    return number


def loads_json(data: bytes | str, what: str = "data") -> Any:
    """Parse strict JSON (no NaN or Infinity), keeping integers exact.

    orjson parses the common case; it would turn integers wider than 64 bits
    into floats, so input with a run of 19 or more digits, and input orjson
    refuses (to word the error), goes through the standard library.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _may_hold_wide_integer(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(f"{what} is not UTF-8") from None
    try:
        return json.loads(data, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:
        raise RequestError(f"{what} is nested too deeply") from None
    except ValueError:
        raise RequestError(f"{what} is not valid JSON") from None


def _may_hold_wide_integer(raw: bytes) -> bool:
    """Whether ``raw`` has a run of 19 or more digits placed as a JSON
    number would be (first, or after ``:``, ``,`` or ``[``, then whitespace
    and a minus).

    Bodies often hold such runs inside strings (ids, tokens), so each run
    is looked at where it starts rather than searched for with a pattern,
    which costs several times as much over a whole body.
    """
    digits = raw.translate(_DIGIT_RUNS)
    at = digits.find(_NINETEEN)
    while at != -1:
        before = at - 1
        if before >= 0 and raw[before] == _MINUS:
            before -= 1
        while before >= 0 and raw[before] in _WHITESPACE:
            before -= 1
        if before < 0 or raw[before] in _BEFORE_NUMBER:
            return True
        end = digits.find(b" ", at)
        if end == -1:
            return False
        at = digits.find(_NINETEEN, end)
    return False


def dumps_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; strings with lone surrogates fall back to escapes.

    The standard library is used because it refuses NaN and infinities,
    which orjson would silently write as null.
    """
    try:
        text = json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        return text.encode("ascii")


def shape_problem(value: Any, *, max_depth: int) -> str | None:
    """Why ``value`` may not pass, or None: nesting depth and string encoding.

    The depth of a scalar is 0, of ``{}`` or ``[]`` 1. Strings holding lone
    UTF-16 surrogates (possible through ``\\ud800`` escapes) cannot be encoded
    as UTF-8 and are refused. This runs on every record, so it visits only
    containers and non-ASCII strings (``str.isascii`` is a flag lookup).
    """
    if type(value) is str:
        return _string_problem(value)
    if type(value) is not dict and type(value) is not list:
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if type(item) is dict:
            for key in item:
                if not key.isascii() and _LONE_SURROGATE.search(key):
                    return "a string is not valid Unicode"
            children = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is str:
                if not child.isascii() and _LONE_SURROGATE.search(child):
                    return "a string is not valid Unicode"
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
    return None


def _string_problem(value: str) -> str | None:
    if not value.isascii() and _LONE_SURROGATE.search(value):
        return "a string is not valid Unicode"
    return None


def basic_auth_user(headers: Mapping[str, str]) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header, if well formed."""
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        raw = base64.b64decode(credentials.strip(), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, _, _ = text.partition(":")
    return user or None
