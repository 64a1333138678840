"""Bounded body decoding shared by the adapters: JSON integers stay exact;
zstd bodies are inflated whole or refused, never past the limit."""

from __future__ import annotations

import json

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from redline.errors import PayloadTooLarge, RequestError
from redline.protocols import _body

WIDE = 12345678901234567890123
UNSIGNED_MAX_PLUS_ONE = 2**64


@pytest.mark.parametrize(
    "text",
    [
        f'{{"n": {WIDE}}}',
        f'{{"n":-{WIDE}}}',
        f'{{"n" :\n\t {UNSIGNED_MAX_PLUS_ONE}}}',
        f"[1, {WIDE}]",
        f"[{WIDE}]",
        f" -{WIDE}",
        # a digit run inside a string comes first; the number follows
        f'{{"id": "ord_{WIDE}", "n": {WIDE}}}',
        f'{{"note": "x: {WIDE}", "n": {WIDE}}}',
    ],
)
def test_integers_wider_than_64_bits_stay_exact(text: str) -> None:
    assert _body.loads_json(text.encode()) == json.loads(text)


def test_digit_runs_inside_strings_are_kept_as_written() -> None:
    text = json.dumps({"key": "sk-proj-" + "0" * 40, "card": "4" * 19, "n": 7})

    assert _body.loads_json(text.encode()) == json.loads(text)


# JSON values whose integers run from small to far past 64 bits, with
# strings that hold long digit runs of their own
_numbers = st.integers(min_value=-(10**30), max_value=10**30)
_strings = st.text(alphabet="0123456789 -:,[ab", max_size=40)
_values = st.recursive(
    _numbers | _strings | st.booleans(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_strings, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=_values, indent=st.sampled_from([None, 1]))
def test_parsed_values_equal_the_standard_librarys(
    value: object, indent: int | None
) -> None:
    text = json.dumps(value, indent=indent)

    assert _body.loads_json(text.encode()) == value


ZSTD = {"content-encoding": "zstd"}
FRAME = zstandard.ZstdCompressor().compress(b'{"event": "x"}' * 50)


def test_zstd_frames_are_inflated_one_after_another() -> None:
    assert _body.decompress(FRAME + FRAME, ZSTD, limit=4096) == b'{"event": "x"}' * 100


@pytest.mark.parametrize(
    ("body", "error"),
    [
        # the streaming reader ends a cut frame quietly: caught by decoding
        # each frame whole
        (FRAME[:-4], RequestError),
        (FRAME + b"junk", RequestError),
        (b"not zstd", RequestError),
        (zstandard.ZstdCompressor().compress(b"0" * 100_000), PayloadTooLarge),
    ],
    ids=["truncated", "trailing bytes", "not zstd", "over the limit"],
)
def test_bad_zstd_is_refused(body: bytes, error: type[RequestError]) -> None:
    with pytest.raises(error):
        _body.decompress(body, ZSTD, limit=4096)
