"""The Mixpanel destination against the Mixpanel stand-in.

The stand-in (tests/standins/mixpanel.py) checks every request against
Mixpanel's documented format and notes violations. Answers it cannot script
(a 200 with status 0, unreadable bodies, error bodies quoting values,
timeouts) come from an ``httpx.MockTransport`` handed in as the client.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from redline.config import DestinationSpec, Upstream
from redline.destinations._partial import PartialDelivery
from redline.destinations.forwarder import Forwarder
from redline.destinations.mixpanel import (
    MAX_RETRY_AFTER,
    MixpanelDestination,
    parse_retry_after,
)
from redline.errors import DeliveryError
from redline.events import Event, Kind, to_record
from redline.outbox import Entry, SqliteOutbox
from redline.protocols._vendor import PERSON
from redline.sensitive import Sensitive
from standins.mixpanel import MixpanelStandin

TOKEN = "upstream-token-0123456789"
INGEST_KEY = "demo"
SECRET = "jane.doe@example.com"
NOW = int(time.time())


@pytest.fixture(scope="module")
def shared() -> Iterator[MixpanelStandin]:
    with MixpanelStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
def mp(shared: MixpanelStandin) -> Iterator[MixpanelStandin]:
    shared.reset()
    yield shared


def upstream(
    base_url: str | None = None,
    *,
    import_secret: str | None = None,
    project_id: str | None = None,
    region: str = "us",
    timeout: float = 5.0,
) -> Upstream:
    spec = DestinationSpec(
        type="mixpanel",
        region=region,  # type: ignore[arg-type]
        base_url=base_url,
        timeout_seconds=timeout,
    )
    return Upstream(
        "mp",
        spec,
        Sensitive(TOKEN),
        None if import_secret is None else Sensitive(import_secret),
        project_id,
    )


def track(n: int, **properties: Any) -> Event:
    return Event(
        kind=Kind.TRACK,
        name="signup",
        properties={"token": INGEST_KEY, "plan": "pro", **properties},
        distinct_id="u1",
        insert_id=f"e{n:03d}",
        time=NOW - 60 + n,
    )


def imported(n: int, **changes: Any) -> Event:
    event = track(n)
    event.imported = True
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def profile(n: int) -> Event:
    return Event(
        kind=Kind.PROFILE,
        name="$engage",
        properties={"$set": {"plan": "pro"}},
        distinct_id="u1",
        insert_id=f"p{n:03d}",
    )


def group(n: int) -> Event:
    return Event(
        kind=Kind.GROUP,
        name="$groups",
        properties={"$set": {"seats": 3}},
        distinct_id="acme",
        insert_id=f"g{n:03d}",
        envelope={"$group_key": "company"},
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def insert_ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["properties"]["$insert_id"] for r in records]


async def send(destination: MixpanelDestination, events: list[Event]) -> None:
    try:
        await destination.send(events)
    finally:
        await destination.aclose()


async def refusal(
    events: list[Event],
    base_url: str | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    **options: Any,
) -> DeliveryError:
    destination = MixpanelDestination(upstream(base_url, **options), client)
    with pytest.raises(DeliveryError) as caught:
        await send(destination, events)
    return caught.value


def answering(
    status: int, content: bytes, headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    """A client whose every request gets this answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def raising(exc: Callable[[httpx.Request], Exception]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


MOCK_URL = "http://mixpanel.test"


class TestFormat:
    async def test_track_batch_carries_the_upstream_token(
        self, mp: MixpanelStandin
    ) -> None:
        await send(MixpanelDestination(upstream(mp.base_url)), [track(0), track(1)])

        assert mp.violations == []
        [seen] = mp.requests
        assert seen.path == "/track"
        assert parse_qs(seen.query) == {"ip": ["0"]}
        assert seen.form["verbose"] == "1"
        assert "authorization" not in seen.headers
        first, second = mp.events_for("track")
        assert first["event"] == "signup"
        assert first["properties"]["token"] == TOKEN
        assert first["properties"]["distinct_id"] == "u1"
        assert first["properties"]["plan"] == "pro"
        assert insert_ids([first, second]) == ["e000", "e001"]
        assert INGEST_KEY not in mp.raw_text().replace("/track", "")

    async def test_one_request_per_endpoint(self, mp: MixpanelStandin) -> None:
        events = [track(0), profile(1), imported(2), group(3), track(4)]

        await send(MixpanelDestination(upstream(mp.base_url)), events)

        assert mp.violations == []
        assert sorted(seen.path for seen in mp.requests) == [
            "/engage",
            "/groups",
            "/import",
            "/track",
        ]
        assert insert_ids(mp.events_for("track")) == ["e000", "e004"]
        assert insert_ids(mp.events_for("import")) == ["e002"]
        assert mp.events_for("engage")[0]["$token"] == TOKEN
        assert mp.events_for("groups")[0]["$group_id"] == "acme"

    @pytest.mark.parametrize(
        ("secret", "project_id", "user", "password", "query_project"),
        [
            ("svc-user:svc-secret", "12345", "svc-user", "svc-secret", "12345"),
            ("svc-user:pass:with:colons", "9", "svc-user", "pass:with:colons", "9"),
            ("legacy-api-secret", None, "legacy-api-secret", "", None),
            # a bare secret with a project id is still a bare secret
            ("legacy-api-secret", "12345", "legacy-api-secret", "", None),
            # no import secret: Mixpanel accepts the project token
            (None, None, TOKEN, "", None),
        ],
    )
    async def test_import_uses_basic_auth(
        self,
        secret: str | None,
        project_id: str | None,
        user: str,
        password: str,
        query_project: str | None,
    ) -> None:
        standin = MixpanelStandin(
            token=TOKEN, import_auth=(user, password), project_id=query_project
        )
        with standin:
            destination = MixpanelDestination(
                upstream(standin.base_url, import_secret=secret, project_id=project_id)
            )
            await send(destination, [imported(0), track(1)])

            assert standin.violations == []
            assert insert_ids(standin.events_for("import")) == ["e000"]
            by_path = {seen.path: seen for seen in standin.requests}
            assert by_path["/import"].headers["authorization"] == basic(user, password)
            assert parse_qs(by_path["/import"].query).get("project_id") == (
                None if query_project is None else [query_project]
            )
            assert "authorization" not in by_path["/track"].headers

    @pytest.mark.parametrize(
        ("region", "base", "expected"),
        [
            ("us", None, "https://api.mixpanel.com"),
            ("eu", None, "https://api-eu.mixpanel.com"),
            ("in", None, "https://api-in.mixpanel.com"),
            ("eu", "http://proxy.internal:9000/mp/", "http://proxy.internal:9000/mp"),
        ],
    )
    async def test_base_url_from_region_or_override(
        self, region: str, base: str | None, expected: str
    ) -> None:
        destination = MixpanelDestination(upstream(base, region=region))
        await destination.aclose()

        assert destination.base_url == expected
        assert destination.max_batch == 50

    async def test_requests_go_to_the_regional_host(self) -> None:
        hosts: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            hosts.append(str(request.url.copy_with(query=None)))
            return httpx.Response(200, json={"status": 1, "error": None})

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        await send(MixpanelDestination(upstream(region="eu"), client), [track(0)])
        await client.aclose()

        assert hosts == ["https://api-eu.mixpanel.com/track"]

    def test_needs_a_token(self) -> None:
        spec = DestinationSpec(type="mixpanel")
        with pytest.raises(ValueError, match="needs a Mixpanel token"):
            MixpanelDestination(Upstream("mp", spec, None, None, None))

    async def test_credentials_never_show_in_repr_errors_or_logs(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        standin = MixpanelStandin(token=TOKEN, import_auth=("someone", "else"))
        with standin, caplog.at_level(logging.DEBUG):
            destination = MixpanelDestination(
                upstream(standin.base_url, import_secret="svc-user:svc-secret")
            )
            with pytest.raises(DeliveryError) as caught:
                await send(destination, [imported(0)])

        assert str(caught.value).startswith("HTTP 401 from /import")
        text = repr(destination) + str(caught.value) + caplog.text
        for secret in (TOKEN, "svc-secret", "svc-user"):
            assert secret not in text

    async def test_service_account_without_project_id_warns_by_name_only(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="redline.forwarder"):
            destination = MixpanelDestination(upstream(import_secret="svc-user:pw"))
            await destination.aclose()

        assert "without project_id" in caplog.text
        assert "svc-user" not in caplog.text

    async def test_caller_owns_a_client_it_passes(self, mp: MixpanelStandin) -> None:
        async with httpx.AsyncClient() as client:
            destination = MixpanelDestination(upstream(mp.base_url), client)
            await send(destination, [track(0)])
            assert not client.is_closed


class TestAnswers:
    @pytest.mark.parametrize(
        "content", [b'{"status": 1, "error": null}', b"1", b'{"status":1}']
    )
    async def test_status_1_is_delivered(self, content: bytes) -> None:
        client = answering(200, content)
        await send(MixpanelDestination(upstream(MOCK_URL), client), [track(0)])
        await client.aclose()

    async def test_import_code_200_is_delivered(self, mp: MixpanelStandin) -> None:
        await send(MixpanelDestination(upstream(mp.base_url)), [imported(0)])

        assert mp.requests[0].status == 200
        assert insert_ids(mp.events_for("import")) == ["e000"]

    @pytest.mark.parametrize(
        "content", [orjson.dumps({"status": 0, "error": SECRET}), b"0"]
    )
    async def test_status_0_is_permanent(self, content: bytes) -> None:
        error = await refusal([track(0)], MOCK_URL, client=answering(200, content))

        assert error.permanent
        assert str(error) == "Mixpanel refused the batch at /track (status 0)"

    @pytest.mark.parametrize(
        "content", [b"<html>ok</html>", b"", b'{"status": "weird"}', b"true"]
    )
    async def test_unreadable_200_is_retryable(self, content: bytes) -> None:
        error = await refusal([track(0)], MOCK_URL, client=answering(200, content))

        assert not error.permanent and not error.too_large
        assert str(error) == "unreadable answer from /track (HTTP 200)"

    @pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
    async def test_rate_limits_and_server_errors_are_retryable(
        self, mp: MixpanelStandin, status: int
    ) -> None:
        mp.fail_next([status])

        error = await refusal([track(0)], mp.base_url)

        assert not error.permanent and not error.too_large
        assert error.retry_after is None
        assert str(error) == f"HTTP {status} from /track"

    async def test_retry_after_seconds_are_passed_on(self, mp: MixpanelStandin) -> None:
        mp.fail_next([(429, {"Retry-After": "7"})])

        error = await refusal([track(0)], mp.base_url)

        assert error.retry_after == 7.0

    async def test_retry_after_http_date_is_passed_on(
        self, mp: MixpanelStandin
    ) -> None:
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        mp.fail_next([(503, {"Retry-After": when})])

        error = await refusal([imported(0)], mp.base_url)

        assert error.retry_after is not None
        assert 27 <= error.retry_after <= 31

    async def test_413_asks_for_a_split(self) -> None:
        with MixpanelStandin(token=TOKEN, max_batch=1) as standin:
            error = await refusal([imported(0), imported(1)], standin.base_url)
            await send(MixpanelDestination(upstream(standin.base_url)), [imported(0)])

        assert error.too_large and not error.permanent
        assert str(error) == "HTTP 413 from /import"

    @pytest.mark.parametrize(
        ("status", "message"),
        [
            (400, "HTTP 400 from /track"),
            (404, "HTTP 404 from /track"),
            (401, "HTTP 401 from /track (check the token and import credentials)"),
            (403, "HTTP 403 from /track (check the token and import credentials)"),
        ],
    )
    async def test_other_client_errors_are_permanent_and_quote_no_body(
        self, status: int, message: str
    ) -> None:
        body = orjson.dumps({"status": 0, "error": f"bad value {SECRET}"})

        error = await refusal([track(0)], MOCK_URL, client=answering(status, body))

        assert error.permanent
        assert str(error) == message

    async def test_import_400_rejects_only_the_failed_records(
        self, mp: MixpanelStandin
    ) -> None:
        events = [
            imported(0),
            imported(1, time=5),  # 1970: Mixpanel refuses it
            imported(2),
            imported(3, distinct_id="anonymous"),
        ]

        error = await refusal(events, mp.base_url)

        assert error.rejected == {
            1: "field time: out of range",
            3: "field distinct_id: rejected",
        }
        assert insert_ids(mp.events_for("import")) == ["e000", "e002"]

    async def test_failed_record_reasons_quote_no_values(self) -> None:
        body = orjson.dumps(
            {
                "code": 400,
                "status": "Bad Request",
                "failed_records": [
                    {
                        "index": 0,
                        "field": "properties.time",
                        "message": "'properties.time' is invalid: too far in the "
                        f"future for {SECRET}",
                    },
                    {
                        "index": 1,
                        "field": f"properties.{SECRET}",
                        "message": f"value {SECRET} is reserved",
                    },
                    {"index": 2, "field": "x", "message": f"{SECRET} is required"},
                    {"index": 99, "field": "x", "message": "out of the batch"},
                    {"index": "3", "field": "x", "message": "not an int"},
                    "junk",
                ],
            }
        )
        events = [imported(n) for n in range(4)]

        error = await refusal(events, MOCK_URL, client=answering(400, body))

        assert error.rejected == {
            0: "field time: out of range",
            1: "field (unnamed): invalid",
            2: "field x: missing",
        }
        assert SECRET not in str(error) + repr(error.rejected)

    async def test_import_400_without_failed_records_is_permanent(
        self, mp: MixpanelStandin
    ) -> None:
        mp.fail_next([400])

        error = await refusal([imported(0)], mp.base_url)

        assert error.permanent and not error.rejected
        assert str(error) == "HTTP 400 from /import"

    @pytest.mark.parametrize(
        ("exc", "message"),
        [
            (
                lambda r: httpx.ReadTimeout("slow", request=r),
                "timeout on /track (ReadTimeout)",
            ),
            (
                lambda r: httpx.ConnectTimeout("slow", request=r),
                "timeout on /track (ConnectTimeout)",
            ),
            (
                lambda r: httpx.RemoteProtocolError(SECRET, request=r),
                "network error on /track (RemoteProtocolError)",
            ),
        ],
    )
    async def test_transport_failures_are_retryable(
        self, exc: Callable[[httpx.Request], Exception], message: str
    ) -> None:
        error = await refusal([track(0)], MOCK_URL, client=raising(exc))

        assert not error.permanent
        assert str(error) == message

    async def test_connection_refused_is_retryable(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]

        error = await refusal([track(0)], f"http://127.0.0.1:{closed_port}")

        assert not error.permanent
        assert str(error) == "network error on /track (ConnectError)"


class TestMixedBatches:
    async def test_failure_after_a_delivered_request_reports_what_arrived(
        self, mp: MixpanelStandin
    ) -> None:
        mp.fail_next([None, (503, {"Retry-After": "2"})])

        error = await refusal([track(0), profile(1), track(2), group(3)], mp.base_url)

        assert isinstance(error, PartialDelivery)
        assert error.delivered == {0, 2}
        assert error.rejected == {}
        assert error.retry_after == 2.0 and not error.permanent
        # the failure stops the batch: /groups was not tried
        assert [seen.path for seen in mp.requests] == ["/track", "/engage"]

    async def test_failure_of_the_first_request_is_a_plain_error(
        self, mp: MixpanelStandin
    ) -> None:
        mp.fail_next([500])

        error = await refusal([track(0), profile(1)], mp.base_url)

        assert not isinstance(error, PartialDelivery)
        assert not error.permanent and not error.rejected
        assert len(mp.requests) == 1

    async def test_permanent_failure_of_one_endpoint_rejects_only_its_records(
        self, mp: MixpanelStandin
    ) -> None:
        mp.fail_next([400])

        error = await refusal([profile(0), track(1), profile(2)], mp.base_url)

        assert error.rejected == {
            0: "HTTP 400 from /engage",
            2: "HTTP 400 from /engage",
        }
        assert [seen.path for seen in mp.requests] == ["/engage", "/track"]
        assert insert_ids(mp.events_for("track")) == ["e001"]

    async def test_person_operations_on_an_event_fail_with_the_event(
        self, mp: MixpanelStandin
    ) -> None:
        # PostHog or Amplitude events carry person operations that Mixpanel
        # takes at /engage: an event is delivered only when its profile
        # updates were, and rejected when they were refused
        riding = track(1)
        riding.envelope[PERSON] = {"$set": {"plan": "pro"}, "$unset": ["old"]}
        mp.fail_next([None, 400])

        error = await refusal([track(0), riding, track(2)], mp.base_url)

        assert error.rejected == {1: "HTTP 400 from /engage"}
        assert [seen.path for seen in mp.requests] == ["/track", "/engage"]
        assert insert_ids(mp.events_for("track")) == ["e000", "e001", "e002"]

    async def test_a_retryable_profile_failure_keeps_its_event_pending(
        self, mp: MixpanelStandin
    ) -> None:
        riding = track(1)
        riding.envelope[PERSON] = {"$set_once": {"plan": "pro"}}
        mp.fail_next([None, 503])

        error = await refusal([track(0), riding], mp.base_url)

        assert isinstance(error, PartialDelivery)
        assert error.delivered == {0}
        assert error.rejected == {}
        assert not error.permanent

    async def test_person_operations_become_one_profile_update_each(
        self, mp: MixpanelStandin
    ) -> None:
        riding = track(0)
        riding.envelope[PERSON] = {
            "$set": {"plan": "pro"},
            "$unset": ["old"],
            "$prepend": {"tags": "x"},  # no Mixpanel counterpart
        }
        destination = MixpanelDestination(upstream(mp.base_url))
        await send(destination, [riding])

        assert mp.violations == []
        profiles = mp.events_for("engage")
        assert [
            {k: v for k, v in p.items() if k.startswith("$") and k != "$token"}
            for p in profiles
        ] == [
            {"$distinct_id": "u1", "$time": riding.time, "$set": {"plan": "pro"}},
            {"$distinct_id": "u1", "$time": riding.time, "$unset": ["old"]},
        ]

    async def test_a_record_that_cannot_be_encoded_is_rejected_alone(
        self, mp: MixpanelStandin
    ) -> None:
        events = [track(0), track(1, score=float("nan")), track(2)]

        error = await refusal(events, mp.base_url)

        assert error.rejected == {1: "cannot encode for /track (ValueError)"}
        assert insert_ids(mp.events_for("track")) == ["e000", "e002"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("120", 120.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("999999", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # now
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:28:30", 30.0),  # no zone: GMT
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(header, now=now) == expected


async def test_forwarder_delivers_through_mixpanel_after_server_errors(
    mp: MixpanelStandin, tmp_path: Path
) -> None:
    mp.fail_next([500, 502])
    records = [track(n) for n in range(5)] + [profile(5)]
    async with SqliteOutbox(tmp_path / "outbox.db", durability="process") as outbox:
        await outbox.append(
            [
                Entry("demo/mp", str(e.insert_id), orjson.dumps(to_record(e)))
                for e in records
            ]
        )
        forwarder = Forwarder(
            outbox,
            {"demo/mp": MixpanelDestination(upstream(mp.base_url))},
            retry_initial=0.01,
            retry_max=0.02,
            poll_interval=0.02,
        )
        forwarder.start()
        async with asyncio.timeout(5):
            while forwarder.stats["demo/mp"].delivered < 6:
                await asyncio.sleep(0.01)
        await forwarder.stop(asyncio.get_running_loop().time() + 2)

        assert forwarder.stats["demo/mp"].retried == 12
        assert sum(s.depth for s in await outbox.stats()) == 0

    assert mp.violations == []
    assert [seen.path for seen in mp.requests] == ["/track"] * 3 + ["/engage"]
    assert insert_ids(mp.events_for("track")) == [f"e{n:03d}" for n in range(5)]
    assert len(mp.events_for("engage")) == 1


async def test_forwarder_splits_until_mixpanel_accepts(tmp_path: Path) -> None:
    records = [imported(n) for n in range(5)]
    with MixpanelStandin(token=TOKEN, max_batch=2) as standin:
        async with SqliteOutbox(tmp_path / "outbox.db", durability="process") as box:
            await box.append(
                [
                    Entry("demo/mp", str(e.insert_id), orjson.dumps(to_record(e)))
                    for e in records
                ]
            )
            forwarder = Forwarder(
                box,
                {"demo/mp": MixpanelDestination(upstream(standin.base_url))},
                poll_interval=0.02,
            )
            forwarder.start()
            async with asyncio.timeout(5):
                while forwarder.stats["demo/mp"].delivered < 5:
                    await asyncio.sleep(0.01)
            await forwarder.stop(asyncio.get_running_loop().time() + 2)

        assert standin.violations == []
        assert sorted(insert_ids(standin.events_for("import"))) == [
            f"e{n:03d}" for n in range(5)
        ]
        assert [r.status for r in standin.requests].count(413) >= 1
