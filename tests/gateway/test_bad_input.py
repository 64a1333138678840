"""Bad input gets Mixpanel's error answer and a log line without the
payload, and does not disturb other requests."""

from __future__ import annotations

import base64
import gzip
import json
import logging
from pathlib import Path

import httpx
import pytest

from harness import gateway_thread, write_config

CANARY = "canary-bad-input-8d1f"


def good_batch(n: int) -> dict[str, str]:
    events = [
        {
            "event": "checkout",
            "properties": {
                "token": "demo",
                "distinct_id": "u",
                "time": 1764230410,
                "$insert_id": f"good-{n}-{i}",
                "plan": "pro",
            },
        }
        for i in range(3)
    ]
    return {"data": json.dumps(events)}


BAD_REQUESTS = {
    "malformed base64": dict(data={"data": "!!not*base64*" + CANARY}),
    "invalid json": dict(
        data={"data": '[{"event": "x", "properties": {"a": "' + CANARY}
    ),
    "wrong content type": dict(
        content=f"<event>{CANARY}</event>".encode(),
        headers={"content-type": "application/xml"},
    ),
    "unknown key": dict(
        data={
            "data": json.dumps([{"event": "checkout", "properties": {"token": CANARY}}])
        }
    ),
    "missing key": dict(
        data={
            "data": json.dumps([{"event": "checkout", "properties": {"plan": CANARY}}])
        }
    ),
}


@pytest.fixture
def gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    with gateway_thread(write_config(tmp_path)) as gw:
        yield gw


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_gets_mixpanel_error_and_a_clean_log_line(
    gateway,
    case: str,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.DEBUG, logger="redline")

    response = httpx.post(gateway.url + "/track?verbose=1", **BAD_REQUESTS[case])

    assert response.status_code in (400, 401, 415)
    body = response.json()
    assert body["status"] in (0, "error")
    assert body["error"]
    assert CANARY not in response.text
    lines = [_format(record) for record in caplog.records]
    assert any("/track" in line and str(response.status_code) in line for line in lines)
    assert not any(CANARY in line for line in lines)


def test_bad_request_without_verbose_answers_zero(gateway) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(gateway.url + "/track", data={"data": "{not json"})

    assert response.text == "0"


def test_oversized_body_is_refused_with_413(gateway) -> None:  # type: ignore[no-untyped-def]
    big = "x" * (gateway.config.server.max_body_bytes + 10)

    response = httpx.post(gateway.url + "/track?verbose=1", data={"data": big})

    assert response.status_code == 413
    assert response.json()["status"] == 0


def test_gzip_bomb_is_refused_after_bounded_work(gateway) -> None:  # type: ignore[no-untyped-def]
    bomb = gzip.compress(b"data=" + b"A" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < gateway.config.server.max_body_bytes

    response = httpx.post(
        gateway.url + "/track?verbose=1",
        content=bomb,
        headers={
            "content-encoding": "gzip",
            "content-type": "application/x-www-form-urlencoded",
        },
    )

    assert response.status_code == 413


def test_good_records_in_a_batch_survive_a_bad_one(gateway) -> None:  # type: ignore[no-untyped-def]
    records = [*json.loads(good_batch(1)["data"]), "not an object", {"properties": {}}]

    response = httpx.post(
        gateway.url + "/track?verbose=1", data={"data": json.dumps(records)}
    )

    assert response.status_code == 200
    assert response.json() == {"status": 1, "error": None}


def test_bad_requests_do_not_disturb_good_ones(gateway) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    def good(n: int) -> int:
        return httpx.post(
            gateway.url + "/track?verbose=1", data=good_batch(n)
        ).status_code

    def bad(case: str) -> int:
        return httpx.post(
            gateway.url + "/track?verbose=1", **BAD_REQUESTS[case]
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        goods = [pool.submit(good, n) for n in range(20)]
        bads = [pool.submit(bad, case) for case in sorted(BAD_REQUESTS) * 4]
        assert all(f.result() == 200 for f in goods)
        assert all(f.result() != 200 for f in bads)

    from redline.destinations.local import LocalStore

    with LocalStore.in_dir(gateway.config.data_dir) as store:
        import time

        deadline = time.monotonic() + 10
        while store.count() < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.count() == 60


def test_base64_batch_as_the_browser_sends_it(gateway) -> None:  # type: ignore[no-untyped-def]
    payload = base64.b64encode(good_batch(7)["data"].encode()).decode()

    response = httpx.post(
        gateway.url + "/track/?verbose=1&ip=1&_=1700000000000", data={"data": payload}
    )

    assert response.json() == {"status": 1, "error": None}


def _format(record: logging.LogRecord) -> str:
    from redline._logs import JsonFormatter

    return JsonFormatter().format(record)
