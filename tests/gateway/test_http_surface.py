"""Every shape of request the Mixpanel SDKs send, answered as Mixpanel
answers it, through a real gateway; what is accepted reaches the local
store."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness import GatewayThread, gateway_thread, write_config
from redline.destinations.local import LocalStore
from redline.outbox.sqlite import read_stats
from redline.protocols.mixpanel import TRANSPARENT_GIF

from .conftest import wait_for

APP_ORIGIN = "https://app.example.com"
ALLOWED_ORIGIN = "https://allowed.example"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with gateway_thread(write_config(tmp_path_factory.mktemp("surface"))) as gw:
        yield gw


@pytest.fixture(scope="module")
def strict_cors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    config = write_config(
        tmp_path_factory.mktemp("cors"),
        extra=f'  cors_origins: ["{ALLOWED_ORIGIN}"]\n',
    )
    with gateway_thread(config) as gw:
        yield gw


def _id(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def _event(insert_id: str, **properties: Any) -> dict[str, Any]:
    return {
        "event": "checkout",
        "properties": {
            "token": "demo",
            "distinct_id": "user-1",
            "time": 1764230410,
            "$insert_id": insert_id,
            "plan": "pro",
            **properties,
        },
    }


def _stored(gw: GatewayThread, insert_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The stored events with these insert ids, once all of them are there."""
    found: dict[str, dict[str, Any]] = {}
    with LocalStore.in_dir(gw.config.data_dir) as store:

        def arrived() -> bool:
            for row in store.query(limit=10_000):
                insert_id = row["properties"].get("$insert_id")
                if insert_id in insert_ids:
                    found[insert_id] = row
            return set(found) == insert_ids

        wait_for(arrived, timeout=10)
    return found


def _stored_profiles(gw: GatewayThread, kind: str, marker: str) -> list[Any]:
    with LocalStore.in_dir(gw.config.data_dir) as store:
        rows = store.query(kind=kind, limit=10_000)
    return [r for r in rows if r["properties"].get("$set", {}).get("plan") == marker]


# -- GET and the answer formats -------------------------------------------


def test_get_with_base64_data_is_accepted_and_stored(gateway: GatewayThread) -> None:
    insert_id = _id("b64")
    data = base64.b64encode(json.dumps(_event(insert_id)).encode()).decode()

    response = httpx.get(gateway.url + "/track", params={"data": data})

    assert (response.status_code, response.text) == (200, "1")
    row = _stored(gateway, {insert_id})[insert_id]
    assert row["event"] == "checkout"
    assert row["properties"]["plan"] == "pro"
    # the distinct id is a keyed digest under the example policy
    assert row["properties"]["distinct_id"].startswith("local:")


def test_get_with_url_encoded_json_data_is_accepted_and_stored(
    gateway: GatewayThread,
) -> None:
    insert_id = _id("json")

    response = httpx.get(
        gateway.url + "/track", params={"data": json.dumps([_event(insert_id)])}
    )

    assert (response.status_code, response.text) == (200, "1")
    assert set(_stored(gateway, {insert_id})) == {insert_id}


def test_img_answers_a_transparent_gif(gateway: GatewayThread) -> None:
    insert_id = _id("img")

    response = httpx.get(
        gateway.url + "/track",
        params={"data": json.dumps(_event(insert_id)), "img": "1"},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert response.content == TRANSPARENT_GIF
    assert "no-store" in response.headers["cache-control"]
    assert set(_stored(gateway, {insert_id})) == {insert_id}


def test_callback_answers_a_jsonp_call(gateway: GatewayThread) -> None:
    data = json.dumps(_event(_id("jsonp")))

    plain = httpx.get(gateway.url + "/track", params={"data": data, "callback": "cb"})
    verbose = httpx.get(
        gateway.url + "/track",
        params={"data": data, "callback": "mixpanel._jsc[42]", "verbose": "1"},
    )

    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert plain.text == "cb(1)"
    assert verbose.text == 'mixpanel._jsc[42]({"status":1,"error":null})'


@pytest.mark.parametrize(
    "callback",
    [
        "alert(1)//",
        "cb;alert(1)",
        "</script><script>alert(1)</script>",
        "cb\nalert(1)",
        "x" * 200,
    ],
)
def test_a_callback_that_is_not_a_javascript_name_is_not_reflected(
    gateway: GatewayThread, callback: str
) -> None:
    refused_id = _id("badcb")
    response = httpx.get(
        gateway.url + "/track",
        params={"data": json.dumps(_event(refused_id)), "callback": callback},
    )
    # a later good request, to know the refused one had its chance to arrive
    barrier = _id("barrier")
    httpx.get(gateway.url + "/track", params={"data": json.dumps(_event(barrier))})

    assert response.status_code == 400
    assert callback not in response.text
    assert "alert" not in response.text
    assert not response.headers["content-type"].startswith("text/javascript")
    _stored(gateway, {barrier})
    with LocalStore.in_dir(gateway.config.data_dir) as store:
        ids = {r["properties"]["$insert_id"] for r in store.query(limit=10_000)}
    assert refused_id not in ids


def test_verbose_answers_json_and_plain_answers_one_or_zero(
    gateway: GatewayThread,
) -> None:
    data = json.dumps(_event(_id("verbose")))

    verbose = httpx.post(gateway.url + "/track?verbose=1", data={"data": data})
    plain = httpx.post(gateway.url + "/track", data={"data": data})
    verbose_bad = httpx.post(gateway.url + "/track?verbose=1", data={"data": "[{"})
    plain_bad = httpx.post(gateway.url + "/track", data={"data": "[{"})

    assert verbose.headers["content-type"] == "application/json"
    assert verbose.json() == {"status": 1, "error": None}
    assert plain.headers["content-type"].startswith("text/plain")
    assert plain.text == "1"
    assert verbose_bad.status_code == 400
    assert verbose_bad.json()["status"] == 0
    assert verbose_bad.json()["error"]
    assert (plain_bad.status_code, plain_bad.text) == (400, "0")


def test_head_is_refused_and_records_nothing(gateway: GatewayThread) -> None:
    refused_id = _id("head")
    before = gateway.gateway.counters.received

    response = httpx.head(
        gateway.url + "/track", params={"data": json.dumps(_event(refused_id))}
    )

    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert gateway.gateway.counters.received == before


# -- every ingestion route, with and without the trailing slash -------------


def _route_request(route: str, marker: str) -> dict[str, Any]:
    if route == "track":
        return {"data": {"data": json.dumps(_event(marker))}}
    if route == "engage":
        record = {"$token": "demo", "$distinct_id": "user-1", "$set": {"plan": marker}}
        return {"data": {"data": json.dumps(record)}}
    if route == "groups":
        record = {
            "$token": "demo",
            "$group_key": "company",
            "$group_id": "Example KK",
            "$set": {"plan": marker},
        }
        return {"data": {"data": json.dumps(record)}}
    return {"json": [_event(marker)], "auth": ("demo", "")}


@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize("route", ["track", "engage", "groups", "import"])
def test_each_route_with_or_without_trailing_slash_stores_its_events(
    gateway: GatewayThread, route: str, slash: str
) -> None:
    marker = _id(route)

    response = httpx.post(
        f"{gateway.url}/{route}{slash}", **_route_request(route, marker)
    )

    assert response.status_code == 200
    if route == "import":
        assert response.json() == {
            "code": 200,
            "num_records_imported": 1,
            "status": "OK",
        }
        assert set(_stored(gateway, {marker})) == {marker}
    elif route == "track":
        assert response.text == "1"
        assert set(_stored(gateway, {marker})) == {marker}
    else:
        assert response.text == "1"
        kind = "profile" if route == "engage" else "group"
        wait_for(lambda: len(_stored_profiles(gateway, kind, marker)) == 1)


# -- /import -----------------------------------------------------------------


def test_import_json_array_with_basic_auth_answers_the_import_shape(
    gateway: GatewayThread,
) -> None:
    ids = {_id("imp") for _ in range(3)}
    # no token in the records: the Basic-auth user names the project
    records = [_event(i) for i in sorted(ids)]
    for record in records:
        del record["properties"]["token"]

    response = httpx.post(gateway.url + "/import", json=records, auth=("demo", ""))

    assert response.status_code == 200
    assert response.json() == {"code": 200, "num_records_imported": 3, "status": "OK"}
    assert set(_stored(gateway, ids)) == ids


def test_import_ndjson_is_accepted(gateway: GatewayThread) -> None:
    ids = {_id("nd") for _ in range(4)}
    body = b"\n".join(json.dumps(_event(i)).encode() for i in sorted(ids)) + b"\n"

    response = httpx.post(
        gateway.url + "/import?strict=1",
        content=body,
        headers={"content-type": "application/x-ndjson"},
        auth=("demo", ""),
    )

    assert response.json() == {"code": 200, "num_records_imported": 4, "status": "OK"}
    assert set(_stored(gateway, ids)) == ids


def test_import_with_an_unknown_basic_auth_key_is_refused(
    gateway: GatewayThread,
) -> None:
    response = httpx.post(
        gateway.url + "/import", json=[_event(_id("nokey"))], auth=("nobody", "")
    )

    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "error": "Invalid credentials",
        "status": "Unauthorized",
    }


# -- compressed bodies -------------------------------------------------------


@pytest.mark.parametrize("labelled", [True, False], ids=["by-header", "by-magic"])
@pytest.mark.parametrize("shape", ["form", "json"])
def test_gzip_body_is_accepted(
    gateway: GatewayThread, labelled: bool, shape: str
) -> None:
    insert_id = _id("gz")
    if shape == "form":
        plain = b"data=" + base64.b64encode(json.dumps([_event(insert_id)]).encode())
        kind = "application/x-www-form-urlencoded"
        path = "/track?verbose=1"
    else:
        plain = json.dumps([_event(insert_id)]).encode()
        kind = "application/json"
        path = "/import"
    headers = {"content-type": kind}
    if labelled:
        headers["content-encoding"] = "gzip"

    response = httpx.post(
        gateway.url + path,
        content=gzip.compress(plain),
        headers=headers,
        auth=("demo", "") if shape == "json" else None,
    )

    assert response.status_code == 200
    if shape == "form":
        assert response.json() == {"status": 1, "error": None}
    else:
        assert response.json()["num_records_imported"] == 1
    assert set(_stored(gateway, {insert_id})) == {insert_id}


# -- the other routes the browser SDK calls -----------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/flags", {"flags": {}, "featureFlags": {}}),
        ("GET", "/flags/", {"flags": {}, "featureFlags": {}}),
        ("POST", "/flags", {"flags": {}, "featureFlags": {}}),
        ("GET", "/decide", {"flags": {}, "featureFlags": {}}),
        ("POST", "/decide/", {"flags": {}, "featureFlags": {}}),
        ("GET", "/settings", {}),
        ("GET", "/settings/", {}),
    ],
)
def test_flag_and_settings_routes_answer_empty_json(
    gateway: GatewayThread, method: str, path: str, expected: dict[str, Any]
) -> None:
    response = httpx.request(
        method, gateway.url + path, params={"token": "demo", "distinct_id": "u"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected


def test_session_replay_is_accepted_and_nothing_is_stored(
    gateway: GatewayThread,
) -> None:
    canary = "replay-canary-" + uuid.uuid4().hex
    body = json.dumps(
        {"events": [{"type": 2, "data": {"text": canary}}], "distinct_id": "u"}
    ).encode()
    received = gateway.gateway.counters.received
    outbox_path = gateway.config.data_dir / "outbox.db"
    waiting = sum(s.depth for s in read_stats(outbox_path))

    response = httpx.post(
        gateway.url + "/record",
        params={"format": "gzip", "token": "demo"},
        content=gzip.compress(body),
        headers={"content-type": "application/octet-stream"},
    )
    barrier = _id("replay-barrier")
    httpx.post(gateway.url + "/track", data={"data": json.dumps(_event(barrier))})

    assert (response.status_code, response.text) == (200, "1")
    _stored(gateway, {barrier})
    # only the barrier event went through the engine and the outbox
    assert gateway.gateway.counters.received == received + 1
    assert sum(s.depth for s in read_stats(outbox_path)) <= waiting + 1
    for name in ("store.db", "store.db-wal", "outbox.db", "outbox.db-wal"):
        path = gateway.config.data_dir / name
        if path.exists():
            assert canary.encode() not in path.read_bytes()


# -- CORS ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/track"), ("POST", "/engage/"), ("GET", "/flags"), ("POST", "/record")],
)
def test_origin_is_echoed_exactly_with_credentials(
    gateway: GatewayThread, method: str, path: str
) -> None:
    params = {"data": json.dumps(_event(_id("cors")))} if method == "GET" else None

    response = httpx.request(
        method,
        gateway.url + path,
        params=params,
        content=b"data=%7B%7D" if method == "POST" else None,
        headers={"origin": APP_ORIGIN},
    )

    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "origin" in response.headers["vary"].lower()


def test_error_answers_carry_cors_headers_too(gateway: GatewayThread) -> None:
    # a browser script can only read the error when the answer allows it
    response = httpx.post(
        gateway.url + "/track?verbose=1",
        data={"data": "not json"},
        headers={"origin": APP_ORIGIN},
    )

    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


@pytest.mark.parametrize("path", ["/track", "/import/", "/flags", "/record"])
def test_preflight_is_answered_with_methods_and_requested_headers(
    gateway: GatewayThread, path: str
) -> None:
    response = httpx.options(
        gateway.url + path,
        headers={
            "origin": APP_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, authorization",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    methods = {
        m.strip() for m in response.headers["access-control-allow-methods"].split(",")
    }
    assert {"GET", "POST"} <= methods
    assert response.headers["access-control-allow-headers"] == (
        "content-type, authorization"
    )
    assert int(response.headers["access-control-max-age"]) > 0


def test_preflight_without_an_origin_is_refused(gateway: GatewayThread) -> None:
    response = httpx.options(
        gateway.url + "/track", headers={"access-control-request-method": "POST"}
    )

    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_a_listed_origin_gets_cors_headers(strict_cors: GatewayThread) -> None:
    insert_id = _id("listed")
    response = httpx.get(
        strict_cors.url + "/track",
        params={"data": json.dumps(_event(insert_id))},
        headers={"origin": ALLOWED_ORIGIN},
    )
    preflight = httpx.options(
        strict_cors.url + "/track",
        headers={"origin": ALLOWED_ORIGIN, "access-control-request-method": "POST"},
    )

    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert set(_stored(strict_cors, {insert_id})) == {insert_id}


@pytest.mark.parametrize(
    "origin",
    [
        APP_ORIGIN,
        "https://allowed.example.evil.example",
        "http://allowed.example",
        "https://allowed.example:8443",
        "null",
    ],
)
def test_an_origin_not_listed_gets_no_cors_headers_and_its_preflight_is_refused(
    strict_cors: GatewayThread, origin: str
) -> None:
    response = httpx.get(
        strict_cors.url + "/track",
        params={"data": json.dumps(_event(_id("unlisted")))},
        headers={"origin": origin},
    )
    flags = httpx.get(strict_cors.url + "/flags", headers={"origin": origin})
    preflight = httpx.options(
        strict_cors.url + "/track",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )

    # the request itself is served (CORS binds browsers, not servers)...
    assert response.status_code == 200
    # ...but a browser is not allowed to read the answer
    for answer in (response, flags, preflight):
        assert not any(h.startswith("access-control-") for h in answer.headers)
    assert preflight.status_code == 403


def test_cors_origin_matching_ignores_case_and_refuses_null() -> None:
    from redline.gateway._cors import Cors

    listed = Cors(["https://App.Example.com"])
    anyone = Cors(["*"])

    assert listed.headers("https://app.example.com")["access-control-allow-origin"] == (
        "https://app.example.com"
    )
    assert anyone.headers("null") == {}
    assert anyone.preflight("null", "content-type") == {}
    assert Cors(["null"]).headers("null")["access-control-allow-origin"] == "null"
