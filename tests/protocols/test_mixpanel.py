"""The Mixpanel adapter: every wire encoding in, the upstream format out.

Wire facts under test come from protocols.md §1 (mixpanel-python 5.4.1 and
mixpanel-browser 2.83.0 sources and captures) and Mixpanel's ingestion
OpenAPI file (github.com/mixpanel/docs openapi/src/ingestion.openapi.yaml).
"""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode

import pytest

from redline.errors import PayloadTooLarge, RequestError, Unauthorized
from redline.events import Event, Kind
from redline.protocols import mixpanel
from redline.protocols.mixpanel import Options

LIMIT = 64 * 1024
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON_TYPE = {"content-type": "application/json"}
CANARY = "canary-7f3a9c"

TRACK: dict[str, Any] = {
    "event": "Viewed Pricing",
    "properties": {
        "token": "tok",
        "distinct_id": "$device:18f0c2a1",
        "time": 1718035200.123,
        "$insert_id": "q3w9e8r7t6y5u4i3",
        "$current_url": "https://www.example.com/pricing",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nested": {"a": [1, "2", None]},
    },
}


def track(i: int = 0, /, **props: Any) -> dict[str, Any]:
    properties = {
        "token": "tok",
        "distinct_id": f"u{i}",
        "time": 1718035200 + i,
        "$insert_id": f"id-{i}",
    }
    properties.update(props)
    return {"event": f"e{i}", "properties": properties}


def decode(
    body: bytes = b"",
    *,
    endpoint: mixpanel.Endpoint = "track",
    method: str = "POST",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    max_body_bytes: int = LIMIT,
    max_records: int = 100,
) -> mixpanel.Decoded:
    return mixpanel.decode(
        endpoint,
        method,
        query or {},
        FORM if headers is None else headers,
        body,
        max_body_bytes=max_body_bytes,
        max_records=max_records,
    )


def form(payload: Any, **fields: str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return urlencode({"data": data, **fields}).encode()


def b64(payload: Any) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


# -- request encodings --------------------------------------------------------


class TestEncodings:
    def test_form_with_raw_json_array_decodes_every_record_in_order(self) -> None:
        decoded = decode(form([track(0), track(1), track(2)]))

        assert [e.name for e in decoded.events] == ["e0", "e1", "e2"]
        assert decoded.indexes == [0, 1, 2]
        assert decoded.failures == []

    def test_form_with_single_object_decodes_one_record(self) -> None:
        decoded = decode(form(TRACK))

        assert [e.name for e in decoded.events] == ["Viewed Pricing"]

    # a payload whose standard base64 holds both '+' and '/'
    ODD: ClassVar = {"event": "e", "properties": {"token": "tok", "s": "~~~???>>>"}}

    @pytest.mark.parametrize(
        "variant",
        ["standard", "url-safe", "unpadded", "plus-unescaped", "line-broken"],
    )
    def test_base64_data_in_any_common_spelling_decodes(self, variant: str) -> None:
        standard = b64(self.ODD)
        assert "+" in standard and "/" in standard and standard.endswith("=")
        if variant == "standard":
            body = form(standard)
        elif variant == "url-safe":
            body = form(standard.replace("+", "-").replace("/", "_"))
        elif variant == "unpadded":
            body = form(standard.rstrip("="))
        elif variant == "plus-unescaped":
            # an old client that forgot to percent-encode '+'
            body = ("data=" + standard.replace("/", "%2F")).encode()
        else:
            body = form(standard[:20] + "\r\n" + standard[20:])

        decoded = decode(body)

        assert decoded.events[0].properties == {"s": "~~~???>>>"}

    def test_get_with_base64_data_in_query_string_decodes(self) -> None:
        # the pixel request of leak case BH-23
        query = {"data": b64(track(0, recipient=CANARY)), "ip": "1", "img": "1"}

        decoded = decode(method="GET", query=query, headers={})

        assert decoded.events[0].properties == {"recipient": CANARY}
        assert decoded.options == Options(img=True, ip=True)

    def test_sendbeacon_text_plain_form_body_decodes(self) -> None:
        body = b"data=" + quote(json.dumps([track(0)]), safe="").encode()

        decoded = decode(body, headers={"content-type": "text/plain;charset=UTF-8"})

        assert [e.name for e in decoded.events] == ["e0"]

    def test_text_plain_raw_json_body_decodes(self) -> None:
        body = json.dumps([track(0)]).encode()

        decoded = decode(body, headers={"content-type": "text/plain"})

        assert [e.name for e in decoded.events] == ["e0"]

    def test_form_without_content_type_is_sniffed(self) -> None:
        decoded = decode(form([track(0)]), headers={})

        assert len(decoded.events) == 1

    @pytest.mark.parametrize("payload", [[track(0), track(1)], track(0)])
    def test_json_body_array_or_object_decodes(self, payload: Any) -> None:
        body = json.dumps(payload).encode()

        decoded = decode(body, endpoint="import", headers=JSON_TYPE)

        assert len(decoded.events) == (2 if isinstance(payload, list) else 1)
        assert all(e.imported for e in decoded.events)

    def test_ndjson_body_decodes_one_record_per_line(self) -> None:
        lines = [json.dumps(track(i)) for i in range(3)]
        body = ("\n".join(lines[:2]) + "\n\n" + lines[2] + "\n").encode()

        decoded = decode(
            body, endpoint="import", headers={"content-type": "application/x-ndjson"}
        )

        assert [e.name for e in decoded.events] == ["e0", "e1", "e2"]

    def test_ndjson_line_that_is_not_json_fails_alone(self) -> None:
        body = b'{"event": "a"}\n{broken ' + CANARY.encode() + b'\n{"event": "b"}'

        decoded = decode(
            body,
            endpoint="import",
            query={"strict": "0"},
            headers={"content-type": "application/x-ndjson"},
        )

        assert [e.name for e in decoded.events] == ["a", "b"]
        assert decoded.indexes == [0, 2]
        assert [i for i, _ in decoded.failures] == [1]
        assert CANARY not in decoded.failures[0][1]

    def test_gzip_named_by_content_encoding_decodes(self) -> None:
        body = gzip.compress(json.dumps([track(0)]).encode())

        decoded = decode(
            body, headers={**JSON_TYPE, "content-encoding": "gzip"}, endpoint="import"
        )

        assert len(decoded.events) == 1

    def test_unlabelled_gzip_is_recognised_by_magic_bytes(self) -> None:
        body = gzip.compress(form([track(0), track(1)]))

        decoded = decode(body, headers={"content-type": "text/plain"})

        assert len(decoded.events) == 2

    def test_gzip_with_several_members_decodes_whole(self) -> None:
        text = json.dumps([track(0), track(1)]).encode()
        body = gzip.compress(text[:10]) + gzip.compress(text[10:])

        decoded = decode(body, headers=JSON_TYPE, endpoint="import")

        assert len(decoded.events) == 2

    @pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
    def test_deflate_zlib_or_raw_decodes(self, wbits: int) -> None:
        packer = zlib.compressobj(wbits=wbits)
        body = packer.compress(form([track(0)])) + packer.flush()

        decoded = decode(body, headers={**FORM, "content-encoding": "deflate"})

        assert len(decoded.events) == 1

    def test_post_with_empty_body_reads_data_from_query(self) -> None:
        decoded = decode(b"", query={"data": json.dumps(track(0))})

        assert len(decoded.events) == 1


# -- records to events -----------------------------------------------------


class TestMapping:
    def test_track_record_keeps_types_and_moves_identity_out_of_properties(
        self,
    ) -> None:
        record = {**TRACK, "$source": "web", "extra_top": [1]}
        record["properties"] = {**TRACK["properties"], "ip": "198.51.100.23"}

        (event,) = decode(form([record])).events

        assert event == Event(
            kind=Kind.TRACK,
            name="Viewed Pricing",
            properties={
                "$current_url": "https://www.example.com/pricing",
                "count": 3,
                "ratio": 0.5,
                "flag": True,
                "nested": {"a": [1, "2", None]},
            },
            distinct_id="$device:18f0c2a1",
            insert_id="q3w9e8r7t6y5u4i3",
            time=1718035200.123,
            ip="198.51.100.23",
            imported=False,
            envelope={"extra": {"$source": "web", "extra_top": [1]}},
        )

    def test_token_travels_beside_the_event_not_in_it(self) -> None:
        decoded = decode(
            form([track(0), track(1, token="other"), track(2, token=None)])
        )

        assert decoded.tokens == ["tok", "other", None]
        assert all("token" not in e.properties for e in decoded.events)

    @pytest.mark.parametrize(
        ("given", "expected"),
        [("abc", "abc"), (42, "42"), (1.5, "1.5"), ("", ""), (None, None)],
    )
    def test_distinct_id_becomes_a_string(self, given: Any, expected: Any) -> None:
        (event,) = decode(form([track(0, distinct_id=given)])).events

        assert event.distinct_id == expected

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            (1718035200, 1718035200),
            (1718035200123, 1718035200123),
            ("1718035200", 1718035200),
            ("1718035200.5", 1718035200.5),
        ],
    )
    def test_time_is_kept_as_a_number(self, given: Any, expected: Any) -> None:
        (event,) = decode(form([track(0, time=given)])).events

        assert event.time == expected
        assert type(event.time) is type(expected)

    @pytest.mark.parametrize("given", ["yesterday", True, [1], {"t": 1}, "nan"])
    def test_time_that_is_not_a_number_fails_the_record(self, given: Any) -> None:
        decoded = decode(form([track(0, time=given), track(1)]))

        assert [e.name for e in decoded.events] == ["e1"]
        assert decoded.failures == [(0, "properties.time: not a number")]

    @pytest.mark.parametrize("given", [0, "0", "", None, False])
    def test_ip_zero_or_empty_means_no_geolocation(self, given: Any) -> None:
        (event,) = decode(form([track(0, ip=given)])).events

        assert event.ip is None
        assert "ip" not in event.properties

    def test_ip_that_is_not_a_string_fails_the_record(self) -> None:
        decoded = decode(form([track(0, ip=12345)]))

        assert decoded.failures == [(0, "properties.ip: not an IP address string")]

    def test_large_integers_survive_exactly(self) -> None:
        big = 2**80 + 1
        body = f'data=[{{"event":"e","properties":{{"n":{big}}}}}]'.encode()

        (event,) = decode(body).events

        assert event.properties["n"] == big

    def test_engage_record_becomes_a_profile_event_with_its_operations(self) -> None:
        record = {
            "$token": "tok",
            "$distinct_id": 1234,
            "$time": 1718035200.5,
            "$ip": "203.0.113.7",
            "$ignore_time": True,
            "$set": {"$email": CANARY},
            "$unset": ["old"],
            "$device_id": "d-1",
            "$latitude": 1.5,
        }

        decoded = decode(form([record]), endpoint="engage")

        assert decoded.tokens == ["tok"]
        assert decoded.events == [
            Event(
                kind=Kind.PROFILE,
                name="$profile",
                properties={
                    "$set": {"$email": CANARY},
                    "$unset": ["old"],
                    "$device_id": "d-1",
                    "$latitude": 1.5,
                },
                distinct_id="1234",
                time=1718035200.5,
                ip="203.0.113.7",
                envelope={"$ignore_time": True},
            )
        ]

    def test_engage_record_without_distinct_id_fails(self) -> None:
        decoded = decode(form([{"$token": "tok", "$set": {}}]), endpoint="engage")

        assert decoded.failures == [(0, "$distinct_id: required")]

    def test_groups_record_becomes_a_group_event(self) -> None:
        record = {
            "$token": "tok",
            "$time": 1718035200,
            "$group_key": "company",
            "$group_id": 77,
            "$set": {"name": "Acme"},
        }

        decoded = decode(form([record]), endpoint="groups")

        assert decoded.events == [
            Event(
                kind=Kind.GROUP,
                name="$group",
                properties={"$set": {"name": "Acme"}},
                distinct_id="77",
                time=1718035200,
                envelope={"$group_key": "company"},
            )
        ]

    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            ({"$token": "t", "$group_id": "a", "$set": {}}, "$group_key: missing"),
            ({"$token": "t", "$group_key": "k", "$set": {}}, "$group_id: required"),
        ],
    )
    def test_groups_record_without_key_or_id_fails(
        self, record: dict[str, Any], reason: str
    ) -> None:
        decoded = decode(form([record]), endpoint="groups")

        assert decoded.failures[0][1].startswith(reason)

    @pytest.mark.parametrize(
        ("drop", "value", "reason"),
        [
            ("time", None, "properties.time: required"),
            ("distinct_id", None, "properties.distinct_id: required"),
            ("$insert_id", None, "properties.$insert_id: required"),
            ("$insert_id", "x" * 37, "properties.$insert_id: must be"),
            ("$insert_id", "has space", "properties.$insert_id: must be"),
            ("$insert_id", "a_b", "properties.$insert_id: must be"),
        ],
    )
    def test_strict_import_requires_mixpanels_dedup_fields(
        self, drop: str, value: Any, reason: str
    ) -> None:
        record = track(0, **{"$insert_id": "abc-123"})
        if value is None:
            del record["properties"][drop]
        else:
            record["properties"][drop] = value
        body = json.dumps([record, track(1, **{"$insert_id": "ok-1"})]).encode()

        strict = decode(body, endpoint="import", headers=JSON_TYPE)
        lenient = decode(
            body, endpoint="import", headers=JSON_TYPE, query={"strict": "0"}
        )

        assert strict.indexes == [1]
        assert strict.failures[0][0] == 0
        assert strict.failures[0][1].startswith(reason)
        assert lenient.indexes == [0, 1]

    def test_failed_import_record_reports_its_well_formed_insert_id(self) -> None:
        bad = {"event": "", "properties": {"$insert_id": "abc-1"}}
        odd = {"event": "", "properties": {"$insert_id": CANARY + "@x"}}
        body = json.dumps([bad, odd]).encode()

        decoded = decode(body, endpoint="import", headers=JSON_TYPE)

        assert decoded.failed_insert_ids == ["abc-1", None]

    def test_basic_auth_user_is_read_and_never_printed(self) -> None:
        auth = base64.b64encode(f"{CANARY}:secret".encode()).decode()
        headers = {**JSON_TYPE, "authorization": f"Basic {auth}"}

        decoded = decode(
            json.dumps([track(0)]).encode(), endpoint="import", headers=headers
        )

        assert decoded.auth_user == CANARY
        assert CANARY not in repr(decoded)

    @pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", "Basic ", ""])
    def test_malformed_authorization_gives_no_user(self, header: str) -> None:
        decoded = decode(form([track(0)]), headers={**FORM, "authorization": header})

        assert decoded.auth_user is None

    def test_decoded_repr_shows_counts_not_values(self) -> None:
        decoded = decode(form([track(0, secret=CANARY), "junk"]))

        assert CANARY not in repr(decoded)
        assert "events=1" in repr(decoded)
        assert "failures=1" in repr(decoded)


# -- bad input ------------------------------------------------------------------


class TestBadInput:
    @pytest.mark.parametrize(
        "body",
        [
            b"data=%%%" + CANARY.encode(),
            b"data=" + CANARY.encode() + b"!!",
            b"data=a",
            form("{" + CANARY),
            form("[" + CANARY + "]"),
            form('{"n": NaN}'),
            form('"' + CANARY + '"'),
            form("[]"),
            b"verbose=1",
            b"data=",
        ],
        ids=[
            "bad-percent",
            "bad-base64",
            "base64-one-char",
            "bad-json-object",
            "bad-json-array",
            "nan",
            "json-scalar",
            "empty-array",
            "no-data",
            "empty-data",
        ],
    )
    def test_unreadable_payload_is_refused_without_quoting_it(
        self, body: bytes
    ) -> None:
        with pytest.raises(RequestError) as caught:
            decode(body)

        assert caught.value.status == 400
        assert CANARY not in str(caught.value)

    def test_invalid_base64_json_is_refused(self) -> None:
        data = base64.b64encode(b"{not json " + CANARY.encode()).decode()

        with pytest.raises(RequestError, match="not valid JSON") as caught:
            decode(form(data))

        assert CANARY not in str(caught.value)

    def test_body_over_the_limit_is_413(self) -> None:
        with pytest.raises(PayloadTooLarge):
            decode(form([track(0, pad="x" * 2000)]), max_body_bytes=1000)

    def test_query_data_over_the_limit_is_413(self) -> None:
        with pytest.raises(PayloadTooLarge):
            decode(
                method="GET",
                query={"data": b64(track(0, pad="x" * 2000))},
                max_body_bytes=1000,
            )

    def test_gzip_bomb_is_refused_after_inflating_at_most_the_limit(self) -> None:
        bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]", compresslevel=9)
        assert len(bomb) < 100 * 1024

        tracemalloc.start()
        try:
            with pytest.raises(PayloadTooLarge):
                decode(bomb, headers=JSON_TYPE, endpoint="import")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert peak < 4 * LIMIT + len(bomb) * 4

    @pytest.mark.parametrize(
        ("body", "encoding"),
        [
            (b"\x1f\x8b not really gzip", ""),
            (gzip.compress(b"[1, 2, 3]")[:-12], "gzip"),
            (b"plain", "gzip"),
            (gzip.compress(b"[]") + b"trailing", ""),
            (b"not deflate", "deflate"),
        ],
        ids=["bad-magic", "truncated", "not-gzip", "trailing-bytes", "bad-deflate"],
    )
    def test_broken_compression_is_400(self, body: bytes, encoding: str) -> None:
        with pytest.raises(RequestError) as caught:
            decode(body, headers={**JSON_TYPE, "content-encoding": encoding})

        assert caught.value.status == 400

    def test_unknown_content_encoding_is_400(self) -> None:
        with pytest.raises(RequestError, match="Content-Encoding"):
            decode(form([track(0)]), headers={**FORM, "content-encoding": "br"})

    @pytest.mark.parametrize(
        "content_type",
        [
            "application/xml",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
        ],
    )
    def test_wrong_content_type_is_400(self, content_type: str) -> None:
        with pytest.raises(RequestError, match="Content-Type") as caught:
            decode(form([track(0)]), headers={"content-type": content_type})

        assert caught.value.status == 400

    def test_more_records_than_allowed_is_413(self) -> None:
        with pytest.raises(PayloadTooLarge, match="more than 3 records"):
            decode(form([track(i) for i in range(4)]), max_records=3)

    def test_ndjson_with_more_lines_than_allowed_is_413(self) -> None:
        body = b"\n".join(json.dumps(track(i)).encode() for i in range(4))

        with pytest.raises(PayloadTooLarge):
            decode(
                body,
                endpoint="import",
                headers={"content-type": "application/x-ndjson"},
                max_records=3,
            )

    @pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
    def test_other_methods_are_405(self, method: str) -> None:
        with pytest.raises(RequestError) as caught:
            decode(form([track(0)]), method=method)

        assert caught.value.status == 405

    def test_repeated_data_field_is_refused(self) -> None:
        body = form([track(0)]) + b"&" + form([track(1)])

        with pytest.raises(RequestError, match="repeated"):
            decode(body)

    def test_records_that_are_not_objects_fail_while_the_others_decode(self) -> None:
        batch = [track(0), "text", 42, None, [track(9)], track(1)]

        decoded = decode(form(batch))

        assert decoded.indexes == [0, 5]
        assert [i for i, _ in decoded.failures] == [1, 2, 3, 4]
        assert {r for _, r in decoded.failures} == {"record: not a JSON object"}

    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            ({"properties": {"token": "tok"}}, "event: missing or not a string"),
            ({"event": "", "properties": {}}, "event: missing or not a string"),
            ({"event": 7, "properties": {}}, "event: missing or not a string"),
            ({"event": "e", "properties": [1]}, "properties: not an object"),
            (
                {"event": "e", "properties": {"distinct_id": {"a": 1}}},
                "properties.distinct_id: not a string or number",
            ),
        ],
    )
    def test_malformed_track_record_fails_with_a_shape_reason(
        self, record: dict[str, Any], reason: str
    ) -> None:
        decoded = decode(form([record, track(1)]))

        assert decoded.failures == [(0, reason)]
        assert decoded.indexes == [1]

    def test_record_nested_too_deep_fails_alone(self) -> None:
        deep: Any = "leaf"
        for _ in range(mixpanel.MAX_DEPTH):
            deep = {"k": deep}
        ok: Any = "leaf"
        for _ in range(mixpanel.MAX_DEPTH - 3):
            ok = [ok]

        decoded = decode(form([track(0, deep=deep), track(1, ok=ok)]))

        assert decoded.indexes == [1]
        assert decoded.failures == [(0, "record: nested deeper than 32 levels")]

    def test_pathologically_deep_json_is_refused_as_a_whole(self) -> None:
        body = form("[" * 100_000 + "]" * 100_000)

        with pytest.raises(RequestError, match=r"nested too deeply|not valid JSON"):
            decode(body, max_body_bytes=10 * LIMIT)

    def test_string_with_lone_surrogate_fails_the_record(self) -> None:
        body = b'data=[{"event":"e","properties":{"s":"\\ud800"}},{"event":"f"}]'

        decoded = decode(body)

        assert decoded.failures == [(0, "record: a string is not valid Unicode")]
        assert [e.name for e in decoded.events] == ["f"]

    def test_invalid_callback_is_refused(self) -> None:
        with pytest.raises(RequestError, match="callback"):
            decode(form([track(0)]), query={"callback": "alert(1);f"})


# -- options ------------------------------------------------------------------------


class TestOptions:
    def test_defaults(self) -> None:
        assert mixpanel.parse_options({}) == Options(
            verbose=False, img=False, callback=None, ip=True, strict=True
        )

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"verbose": "1"}, Options(verbose=True)),
            ({"verbose": "true"}, Options(verbose=True)),
            ({"img": "1"}, Options(img=True)),
            ({"ip": "0"}, Options(ip=False)),
            ({"ip": "1"}, Options(ip=True)),
            ({"strict": "0"}, Options(strict=False)),
            ({"verbose": "maybe"}, Options()),
            ({"callback": "f"}, Options(callback="f")),
            ({"callback": ""}, Options()),
        ],
    )
    def test_flags_from_the_query(
        self, query: dict[str, str], expected: Options
    ) -> None:
        assert mixpanel.parse_options(query) == expected

    def test_form_fields_win_over_the_query(self) -> None:
        options = mixpanel.parse_options({"verbose": "0", "ip": "1"}, {"verbose": "1"})

        assert options == Options(verbose=True, ip=True)

    def test_mixpanel_python_options_come_from_its_form(self) -> None:
        decoded = decode(form(track(0), verbose="1", ip="0"))

        assert decoded.options == Options(verbose=True, ip=False)

    @pytest.mark.parametrize(
        "callback",
        ["f", "mixpanel._jsc[12345678]", "a.b.c", "$jsonp_1", "_x[1][2]"],
    )
    def test_javascript_name_paths_are_valid_callbacks(self, callback: str) -> None:
        assert mixpanel.parse_options({"callback": callback}).callback == callback

    @pytest.mark.parametrize(
        "callback",
        [
            "alert(1)",
            "f;alert(1)",
            "<script>",
            "a..b",
            "1abc",
            "f[a]",
            "f['x']",
            "f\u00e9",
            "f\n",
            "a" * 129,
        ],
    )
    def test_anything_else_is_not_a_valid_callback(self, callback: str) -> None:
        with pytest.raises(RequestError):
            mixpanel.parse_options({"callback": callback})

    def test_options_or_default_never_raises_and_drops_a_bad_callback(self) -> None:
        options = mixpanel.options_or_default({"callback": "x)(", "verbose": "1"})

        assert options == Options(verbose=True, callback=None)


# -- encoding upstream -------------------------------------------------------------


def redecode(request: mixpanel.UpstreamRequest, endpoint: mixpanel.Endpoint) -> Any:
    return mixpanel.decode(
        endpoint,
        "POST",
        request.query,
        {k.lower(): v for k, v in request.headers.items()},
        request.body,
        max_body_bytes=LIMIT,
        max_records=100,
    )


ROUND_TRIPS: list[tuple[mixpanel.Endpoint, str, bytes]] = [
    (
        "track",
        "application/x-www-form-urlencoded",
        form(
            [
                {**TRACK, "$source": "web"},
                track(1, ip="203.0.113.9", **{"$insert_id": "x1"}),
                {"event": "bare"},
                track(2, distinct_id=99, time="1718035200"),
            ]
        ),
    ),
    (
        "engage",
        "application/x-www-form-urlencoded",
        form(
            [
                {"$token": "tok", "$distinct_id": "u1", "$time": 1.5, "$set": {"a": 1}},
                {
                    "$token": "tok",
                    "$distinct_id": "u1",
                    "$ip": "203.0.113.1",
                    "$union": {"l": [1]},
                    "$ignore_alias": True,
                    "$ignore_time": False,
                },
                {"$token": "tok", "$distinct_id": "u2", "$delete": ""},
                {
                    "$token": "tok",
                    "$distinct_id": "u3",
                    "$unset": ["a"],
                    "$device_id": "d",
                },
            ]
        ),
    ),
    (
        "groups",
        "application/x-www-form-urlencoded",
        form(
            [
                {
                    "$token": "tok",
                    "$group_key": "company",
                    "$group_id": "acme",
                    "$set": {"n": "Acme"},
                    "$time": 1718035200,
                },
                {
                    "$token": "tok",
                    "$group_key": "company",
                    "$group_id": 5,
                    "$remove": {"l": 1},
                },
            ]
        ),
    ),
    (
        "import",
        "application/json",
        json.dumps(
            [
                track(0, **{"$insert_id": "abc-1"}),
                track(1, **{"$insert_id": "abc-2", "ip": "203.0.113.5"}),
            ]
        ).encode(),
    ),
]


class TestUpstream:
    @pytest.mark.parametrize(("endpoint", "content_type", "body"), ROUND_TRIPS)
    def test_decode_encode_decode_gives_equal_events(
        self, endpoint: mixpanel.Endpoint, content_type: str, body: bytes
    ) -> None:
        first = decode(body, endpoint=endpoint, headers={"content-type": content_type})
        assert first.failures == []

        request = mixpanel.encode_upstream(endpoint, first.events, "upstream-token")
        second = redecode(request, endpoint)

        assert second.events == first.events
        assert second.failures == []
        assert second.tokens == ["upstream-token"] * len(first.events)

    def test_track_goes_as_mixpanel_python_sends_it(self) -> None:
        events = decode(form([track(0), track(1)])).events

        request = mixpanel.encode_upstream("track", events, "up")

        assert request.path == "/track"
        assert request.query == {"ip": "0"}
        assert request.headers == {"Content-Type": "application/x-www-form-urlencoded"}
        fields = dict(parse_qsl(request.body.decode()))
        assert fields["verbose"] == "1"
        sent = json.loads(fields["data"])
        assert [r["event"] for r in sent] == ["e0", "e1"]
        assert sent[0]["properties"] == {
            "token": "up",
            "distinct_id": "u0",
            "time": 1718035200,
            "$insert_id": "id-0",
        }

    def test_import_goes_as_a_strict_json_array(self) -> None:
        events = decode(
            json.dumps([track(0, **{"$insert_id": "a-1"})]).encode(),
            endpoint="import",
            headers=JSON_TYPE,
        ).events

        request = mixpanel.encode_upstream("import", events, "up")

        assert request.path == "/import"
        assert request.query == {"strict": "1"}
        assert request.headers == {"Content-Type": "application/json"}
        assert json.loads(request.body) == [
            {
                "event": "e0",
                "properties": {
                    "token": "up",
                    "distinct_id": "u0",
                    "time": 1718035200,
                    "$insert_id": "a-1",
                },
            }
        ]

    def test_event_ip_is_written_back_where_each_endpoint_reads_it(self) -> None:
        event = Event(kind=Kind.TRACK, name="e", properties={}, ip="203.0.113.0")
        profile = Event(
            kind=Kind.PROFILE,
            name="$profile",
            properties={"$set": {}},
            distinct_id="u",
            ip="203.0.113.0",
        )
        group = Event(
            kind=Kind.GROUP,
            name="$group",
            properties={"$set": {}},
            distinct_id="g",
            ip="203.0.113.0",
            envelope={"$group_key": "k"},
        )

        def sent(endpoint: mixpanel.Endpoint, e: Event) -> dict[str, Any]:
            body = mixpanel.encode_upstream(endpoint, [e], "t").body
            return json.loads(dict(parse_qsl(body.decode()))["data"])[0]  # type: ignore[no-any-return]

        assert sent("track", event)["properties"]["ip"] == "203.0.113.0"
        assert sent("engage", profile)["$ip"] == "203.0.113.0"
        assert "$ip" not in sent("groups", group)

    def test_upstream_token_wins_over_any_token_left_in_properties(self) -> None:
        event = Event(kind=Kind.TRACK, name="e", properties={"token": "client", "a": 1})

        body = mixpanel.encode_upstream("track", [event], "up").body
        record = json.loads(dict(parse_qsl(body.decode()))["data"])[0]

        assert record["properties"] == {"token": "up", "a": 1}

    @pytest.mark.parametrize(
        ("kind", "endpoint"),
        [
            (Kind.TRACK, "engage"),
            (Kind.PROFILE, "track"),
            (Kind.GROUP, "import"),
            (Kind.PROFILE, "groups"),
        ],
    )
    def test_event_sent_to_the_wrong_endpoint_is_refused(
        self, kind: Kind, endpoint: mixpanel.Endpoint
    ) -> None:
        event = Event(kind=kind, name="x", properties={})

        with pytest.raises(ValueError, match="cannot go to"):
            mixpanel.encode_upstream(endpoint, [event], "t")

    def test_lone_surrogate_from_the_engine_is_sent_escaped(self) -> None:
        event = Event(kind=Kind.TRACK, name="e", properties={"s": "\ud800"})

        body = mixpanel.encode_upstream("import", [event], "t").body

        assert b"\\ud800" in body

    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            (Event(kind=Kind.PROFILE, name="$profile", properties={}), "engage"),
            (Event(kind=Kind.GROUP, name="$group", properties={}), "groups"),
            (Event(kind=Kind.TRACK, name="e", properties={}, imported=True), "import"),
            (Event(kind=Kind.TRACK, name="e", properties={}), "track"),
        ],
    )
    def test_endpoint_for(self, event: Event, expected: str) -> None:
        assert mixpanel.endpoint_for(event) == expected


# -- responses ----------------------------------------------------------------------


def parse_gif(data: bytes) -> dict[str, Any]:
    # GIF89a layout: header, logical screen descriptor, colour table, then
    # blocks (www.w3.org/Graphics/GIF/spec-gif89a.txt)
    assert data[:6] == b"GIF89a"
    width = int.from_bytes(data[6:8], "little")
    height = int.from_bytes(data[8:10], "little")
    table = 3 * 2 ** ((data[10] & 0x07) + 1) if data[10] & 0x80 else 0
    at = 13 + table
    transparent = False
    while data[at] == 0x21:  # extension blocks
        if data[at + 1] == 0xF9:
            transparent = bool(data[at + 3] & 0x01)
        at += 2
        while data[at]:
            at += data[at] + 1
        at += 1
    assert data[at] == 0x2C  # image descriptor
    return {
        "width": width,
        "height": height,
        "transparent": transparent,
        "end": data[-1:],
    }


class TestResponses:
    def test_plain_answer_is_1_when_a_record_was_accepted(self) -> None:
        reply = mixpanel.respond("track", Options(), accepted=1, failures=[(1, "x: y")])

        assert (reply.status, reply.media_type, reply.body) == (200, "text/plain", b"1")

    def test_plain_answer_is_0_when_every_record_failed(self) -> None:
        reply = mixpanel.respond(
            "engage", Options(), accepted=0, failures=[(0, "x: y")]
        )

        assert reply.body == b"0"

    def test_verbose_answer_is_the_json_mixpanel_python_needs(self) -> None:
        reply = mixpanel.respond(
            "track", Options(verbose=True), accepted=2, failures=[]
        )

        assert reply.media_type == "application/json"
        assert json.loads(reply.body) == {"status": 1, "error": None}

    def test_verbose_failure_names_the_reason(self) -> None:
        reply = mixpanel.respond(
            "groups",
            Options(verbose=True),
            accepted=0,
            failures=[(0, "event: missing")],
        )

        body = json.loads(reply.body)
        assert body["status"] == 0
        assert "event: missing" in body["error"]

    def test_img_answer_is_a_transparent_one_pixel_gif(self) -> None:
        reply = mixpanel.respond(
            "track", Options(img=True), accepted=0, failures=[(0, "a")]
        )

        assert reply.status == 200
        assert reply.media_type == "image/gif"
        assert parse_gif(reply.body) == {
            "width": 1,
            "height": 1,
            "transparent": True,
            "end": b";",
        }
        assert "no-store" in reply.headers["Cache-Control"]

    @pytest.mark.parametrize(
        ("verbose", "expected"),
        [
            (False, b"mixpanel._jsc[123](1)"),
            (True, b'mixpanel._jsc[123]({"status":1,"error":null})'),
        ],
    )
    def test_callback_answer_is_a_javascript_call(
        self, verbose: bool, expected: bytes
    ) -> None:
        options = Options(verbose=verbose, callback="mixpanel._jsc[123]")

        reply = mixpanel.respond("track", options, accepted=1, failures=[])

        assert reply.body == expected
        assert reply.media_type == "text/javascript"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"

    def test_import_answer_counts_the_records(self) -> None:
        reply = mixpanel.respond("import", Options(), accepted=3, failures=[])

        assert reply.status == 200
        assert json.loads(reply.body) == {
            "code": 200,
            "num_records_imported": 3,
            "status": "OK",
        }

    def test_strict_import_with_failures_lists_them_in_a_400(self) -> None:
        reply = mixpanel.respond(
            "import",
            Options(),
            accepted=1,
            failures=[(0, "properties.time: required"), (2, "dropped by policy")],
            insert_ids=["abc-1", None],
        )

        assert reply.status == 400
        assert json.loads(reply.body) == {
            "code": 400,
            "error": "some data points in the request failed validation",
            "status": "Bad Request",
            "num_records_imported": 1,
            "failed_records": [
                {
                    "index": 0,
                    "$insert_id": "abc-1",
                    "field": "properties.time",
                    "message": "properties.time: required",
                },
                {
                    "index": 2,
                    "$insert_id": None,
                    "field": "record",
                    "message": "dropped by policy",
                },
            ],
        }

    def test_insert_ids_of_another_length_are_ignored(self) -> None:
        reply = mixpanel.respond(
            "import",
            Options(),
            accepted=0,
            failures=[(0, "a: b")],
            insert_ids=["x", "y"],
        )

        assert json.loads(reply.body)["failed_records"][0]["$insert_id"] is None

    def test_lenient_import_answers_200_despite_failures(self) -> None:
        reply = mixpanel.respond(
            "import", Options(strict=False), accepted=1, failures=[(0, "a: b")]
        )

        assert reply.status == 200
        assert json.loads(reply.body)["num_records_imported"] == 1

    def test_legacy_form_import_gets_the_verbose_answer(self) -> None:
        # mixpanel-python posts /import as a form with verbose=1 and reads
        # only "status" (protocols.md §1.2, §1.5)
        reply = mixpanel.respond(
            "import", Options(verbose=True), accepted=1, failures=[]
        )

        assert json.loads(reply.body) == {"status": 1, "error": None}


class TestErrorResponses:
    def test_import_401_says_invalid_credentials(self) -> None:
        reply = mixpanel.error_response(
            "import", Options(), Unauthorized("unknown key")
        )

        assert reply.status == 401
        assert json.loads(reply.body) == {
            "code": 401,
            "error": "Invalid credentials",
            "status": "Unauthorized",
        }

    @pytest.mark.parametrize(
        ("exc", "phrase"),
        [
            (PayloadTooLarge("request body over 10 bytes"), "Request Entity Too Large"),
            (RequestError("slow down", status=429), "Too Many Requests"),
            (RequestError("body is not valid JSON"), "Bad Request"),
            (RequestError("busy", status=503), "Service Unavailable"),
        ],
    )
    def test_import_errors_use_the_strict_shape(
        self, exc: RequestError, phrase: str
    ) -> None:
        reply = mixpanel.error_response("import", Options(), exc, retry_after=1.2)

        assert reply.status == exc.status
        assert json.loads(reply.body) == {
            "code": exc.status,
            "error": str(exc),
            "status": phrase,
        }
        assert reply.headers["Retry-After"] == "2"

    def test_bad_token_on_track_is_mixpanels_401_error(self) -> None:
        reply = mixpanel.error_response(
            "track", Options(), Unauthorized("unknown token")
        )

        assert reply.status == 401
        assert json.loads(reply.body) == {"error": "unknown token", "status": "error"}

    @pytest.mark.parametrize(
        ("options", "media_type", "body"),
        [
            (Options(), "text/plain", b"0"),
            (Options(verbose=True), "application/json", b'{"status":0,"error":"bad"}'),
        ],
    )
    def test_refused_track_request_answers_0(
        self, options: Options, media_type: str, body: bytes
    ) -> None:
        reply = mixpanel.error_response("track", options, RequestError("bad"))

        assert (reply.status, reply.media_type, reply.body) == (400, media_type, body)

    def test_refused_pixel_still_gets_a_gif(self) -> None:
        reply = mixpanel.error_response("track", Options(img=True), Unauthorized("x"))

        assert reply.media_type == "image/gif"
        assert reply.body == mixpanel.TRANSPARENT_GIF

    def test_refused_jsonp_is_200_so_the_script_runs(self) -> None:
        reply = mixpanel.error_response(
            "track", Options(callback="cb", verbose=True), RequestError("bad")
        )

        assert reply.status == 200
        assert reply.body == b'cb({"status":0,"error":"bad"})'

    @pytest.mark.parametrize(
        "body",
        [form("{broken", verbose="1"), b"verbose=1&ip=0"],
        ids=["bad-json", "no-data"],
    )
    def test_error_after_form_fields_answers_in_the_shape_they_asked_for(
        self, body: bytes
    ) -> None:
        # mixpanel-python sends verbose=1 in the form, not the query; the
        # gateway only has the query when decode() raises
        query: dict[str, str] = {}
        with pytest.raises(RequestError) as caught:
            decode(body, query=query)

        reply = mixpanel.error_response(
            "track", mixpanel.options_or_default(query), caught.value
        )

        assert json.loads(reply.body)["status"] == 0

    def test_error_before_decoding_uses_the_given_options(self) -> None:
        reply = mixpanel.error_response(
            "engage", Options(verbose=True), PayloadTooLarge("too big")
        )

        assert reply.status == 413
        assert json.loads(reply.body) == {"status": 0, "error": "too big"}


def test_public_surface_is_pinned() -> None:
    assert sorted(mixpanel.__all__) == sorted(
        [
            "ENDPOINTS",
            "MAX_DEPTH",
            "TRANSPARENT_GIF",
            "Decoded",
            "Endpoint",
            "Options",
            "Response",
            "UpstreamRequest",
            "decode",
            "encode_upstream",
            "endpoint_for",
            "error_response",
            "event_from_export",
            "event_to_export",
            "options_or_default",
            "parse_options",
            "respond",
        ]
    )
    assert mixpanel.ENDPOINTS == ("track", "engage", "groups", "import")


def test_export_shape_round_trips_without_token() -> None:
    record = {
        "event": "checkout",
        "properties": {
            "token": "public-key",
            "distinct_id": "user-1",
            "time": 1764230410,
            "$insert_id": "abc-123",
            "plan": "pro",
        },
    }

    event = mixpanel.event_from_export(record)
    back = mixpanel.event_to_export(event)

    assert back == {
        "event": "checkout",
        "properties": {
            "distinct_id": "user-1",
            "time": 1764230410,
            "$insert_id": "abc-123",
            "plan": "pro",
        },
    }


def test_export_record_that_is_not_an_event_is_refused() -> None:
    with pytest.raises(RequestError, match="event"):
        mixpanel.event_from_export({"properties": {}})
