"""The Mixpanel stand-in: real SDK traffic passes, malformed traffic is caught.

The real ``mixpanel`` SDK (5.4.1) is ground truth for request formats: if the
stand-in refused one of its requests, the stand-in would be wrong.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import mixpanel as mixpanel_sdk
import pytest

from redline.events import Event, Kind
from redline.protocols import mixpanel as adapter

from .mixpanel import MixpanelStandin

TOKEN = "standin-token"
CANARY = "canary-51e0b2"
NOW = time.time()


@pytest.fixture(scope="module")
def shared() -> Iterator[MixpanelStandin]:
    with MixpanelStandin(
        token=TOKEN, import_auth=("sa-user", "sa-secret"), project_id="4242"
    ) as standin:
        yield standin


@pytest.fixture
def mp(shared: MixpanelStandin) -> MixpanelStandin:
    # one server for the module (stopping uvicorn takes ~0.2 s); a clean
    # slate for each test
    shared.reset()
    return shared


def consumer(mp: MixpanelStandin, **kwargs: Any) -> mixpanel_sdk.Consumer:
    return mixpanel_sdk.Consumer(
        events_url=mp.url("track"),
        people_url=mp.url("engage"),
        groups_url=mp.url("groups"),
        import_url=mp.url("import"),
        **kwargs,
    )


def event(i: int = 0, /, **props: Any) -> dict[str, Any]:
    properties = {
        "token": TOKEN,
        "distinct_id": f"user-{i}",
        "time": NOW - 60,
        "$insert_id": f"insert-{i}",
    }
    properties.update(props)
    return {"event": f"Event {i}", "properties": properties}


def post_form(
    mp: MixpanelStandin, endpoint: str, records: Any, **fields: str
) -> httpx.Response:
    body = urlencode({"data": json.dumps(records), "verbose": "1", **fields})
    return httpx.post(
        mp.url(endpoint),
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def post_import(
    mp: MixpanelStandin,
    body: bytes,
    *,
    auth: tuple[str, str] = ("sa-user", "sa-secret"),
    query: str = "strict=1&project_id=4242",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{mp.url('import')}?{query}",
        content=body,
        auth=auth,
        headers=headers or {"Content-Type": "application/json"},
    )


# -- the real SDK -------------------------------------------------------------------


class TestRealSdk:
    def test_consumer_calls_pass_without_violations(self, mp: MixpanelStandin) -> None:
        credentials = mixpanel_sdk.ServiceAccountCredentials(
            "sa-user", "sa-secret", "4242"
        )
        client = mixpanel_sdk.Mixpanel(
            TOKEN, consumer=consumer(mp, credentials=credentials)
        )

        client.track("user-1", "Signed Up", {"plan": "pro"})
        client.people_set("user-1", {"$email": CANARY})
        client.group_set("company", "acme", {"name": "Acme"})
        client.import_data(None, "user-1", "Old Event", NOW - 30 * 86400, {"n": 1})

        assert mp.violations == []
        assert [r.endpoint for r in mp.records] == [
            "track",
            "engage",
            "groups",
            "import",
        ]
        tracked, profile, group, imported = mp.events
        assert tracked["event"] == "Signed Up"
        assert tracked["properties"]["plan"] == "pro"
        assert profile["$set"] == {"$email": CANARY}
        assert (group["$group_key"], group["$group_id"]) == ("company", "acme")
        assert imported["properties"]["n"] == 1
        assert mp.requests[3].headers["authorization"].startswith("Basic ")
        assert CANARY in mp.raw_text()

    def test_legacy_api_secret_import_passes(self) -> None:
        with MixpanelStandin(token=TOKEN, import_auth=("project-secret", "")) as mp:
            client = mixpanel_sdk.Mixpanel(TOKEN, consumer=consumer(mp))

            client.import_data(
                "api-key", "user-1", "Old", NOW - 86400, {}, api_secret="project-secret"
            )

            assert mp.violations == []
            assert len(mp.events_for("import")) == 1

    def test_buffered_consumer_batches_of_every_operation_pass(
        self, mp: MixpanelStandin
    ) -> None:
        buffered = mixpanel_sdk.BufferedConsumer(
            max_size=50,
            events_url=mp.url("track"),
            people_url=mp.url("engage"),
            groups_url=mp.url("groups"),
            import_url=mp.url("import"),
        )
        client = mixpanel_sdk.Mixpanel(TOKEN, consumer=buffered)

        for i in range(3):
            client.track("user-2", "Clicked", {"i": i})
        client.people_set_once("user-2", {"first": 1})
        client.people_increment("user-2", {"logins": 1})
        client.people_append("user-2", {"list": "a"})
        client.people_union("user-2", {"list": ["b"]})
        client.people_remove("user-2", {"list": "a"})
        client.people_unset("user-2", ["first"])
        client.people_track_charge("user-2", 9.5)
        client.people_delete("user-2")
        client.group_set_once("company", "acme", {"a": 1})
        client.group_union("company", "acme", {"tags": ["x"]})
        client.group_remove("company", "acme", {"tags": "x"})
        client.group_unset("company", "acme", ["a"])
        client.group_delete("company", "acme")
        buffered.flush()

        assert mp.violations == []
        assert len(mp.requests) == 3  # one batch per endpoint
        assert len(mp.events_for("track")) == 3
        assert len(mp.events_for("engage")) == 8
        assert len(mp.events_for("groups")) == 5

    def test_adapter_decodes_every_real_sdk_request_and_answers_it_ok(
        self, mp: MixpanelStandin
    ) -> None:
        buffered = mixpanel_sdk.BufferedConsumer(
            events_url=mp.url("track"),
            people_url=mp.url("engage"),
            groups_url=mp.url("groups"),
            import_url=mp.url("import"),
            credentials=mixpanel_sdk.ServiceAccountCredentials(
                "sa-user", "sa-secret", "4242"
            ),
        )
        client = mixpanel_sdk.Mixpanel(TOKEN, consumer=buffered)
        client.track("user-3", "Clicked", {"n": 1.5})
        client.people_set("user-3", {"plan": "pro"})
        client.group_set("company", "acme", {"size": 3})
        client.import_data(None, "user-3", "Old", NOW - 86400, {"n": 2})
        buffered.flush()
        client = mixpanel_sdk.Mixpanel(TOKEN, consumer=consumer(mp))
        client.track("user-3", "Single", {})

        for raw in mp.requests:
            assert raw.endpoint is not None
            decoded = adapter.decode(
                raw.endpoint,  # type: ignore[arg-type]
                raw.method,
                dict(parse_qsl(raw.query)),
                raw.headers,
                raw.body,
                max_body_bytes=1 << 20,
                max_records=50,
            )
            reply = adapter.respond(
                raw.endpoint,  # type: ignore[arg-type]
                decoded.options,
                accepted=len(decoded.events),
                failures=decoded.failures,
            )

            assert decoded.failures == []
            assert decoded.tokens == [TOKEN]
            # what mixpanel-python checks (protocols.md §0.3)
            assert json.loads(reply.body)["status"] == 1
        assert len(mp.requests) == 5

    def test_sdk_raises_on_a_scripted_failure(self, mp: MixpanelStandin) -> None:
        client = mixpanel_sdk.Mixpanel(TOKEN, consumer=consumer(mp))
        mp.fail_next([500])

        with pytest.raises(mixpanel_sdk.MixpanelException):
            client.track("user-1", "Signed Up")

        assert mp.events == []

    def test_sdk_raises_on_a_wrong_token(self, mp: MixpanelStandin) -> None:
        client = mixpanel_sdk.Mixpanel("not-the-token", consumer=consumer(mp))

        with pytest.raises(mixpanel_sdk.MixpanelException):
            client.track("user-1", "Signed Up")

        assert mp.violations == [
            "POST /track: record 0: properties.token: not the project token"
        ]


# -- what the adapter sends upstream --------------------------------------------------


class TestAdapterUpstream:
    @pytest.mark.parametrize(
        ("endpoint", "events"),
        [
            (
                "track",
                [
                    Event(
                        kind=Kind.TRACK,
                        name="Viewed",
                        properties={"plan": "pro"},
                        distinct_id="u1",
                        insert_id="abc-1",
                        time=NOW - 10,
                        ip="203.0.113.0",
                    )
                ],
            ),
            (
                "engage",
                [
                    Event(
                        kind=Kind.PROFILE,
                        name="$profile",
                        properties={"$set": {"plan": "pro"}},
                        distinct_id="u1",
                        time=NOW,
                    )
                ],
            ),
            (
                "groups",
                [
                    Event(
                        kind=Kind.GROUP,
                        name="$group",
                        properties={"$set": {"n": 1}},
                        distinct_id="acme",
                        envelope={"$group_key": "company"},
                    )
                ],
            ),
            (
                "import",
                [
                    Event(
                        kind=Kind.TRACK,
                        name="Old",
                        properties={},
                        distinct_id="u1",
                        insert_id="abc-2",
                        time=1_600_000_000,
                        imported=True,
                    )
                ],
            ),
        ],
    )
    def test_encode_upstream_output_passes_the_checks(
        self, mp: MixpanelStandin, endpoint: adapter.Endpoint, events: list[Event]
    ) -> None:
        request = adapter.encode_upstream(endpoint, events, TOKEN)
        query = {**request.query, "project_id": "4242"}

        reply = httpx.post(
            mp.base_url + request.path,
            params=query,
            headers=request.headers,
            content=request.body,
            auth=("sa-user", "sa-secret"),
        )

        assert reply.status_code == 200
        assert mp.violations == []
        assert len(mp.events_for(endpoint)) == 1
        answer = reply.json()
        assert answer.get("status") == 1 or answer.get("code") == 200


# -- malformed requests are caught ---------------------------------------------


class TestViolations:
    @pytest.mark.parametrize(
        ("endpoint", "record", "violation"),
        [
            ("track", {"properties": {"token": TOKEN}}, "event: missing or empty"),
            ("track", {"event": "e"}, "properties: missing or not an object"),
            ("track", event(token=None), "properties.token: missing or empty"),
            ("track", event(token="other"), "properties.token: not the project token"),
            ("track", event(time=None), "properties.time: missing or not a number"),
            ("track", event(time=1000), "properties.time: before 1971-01-01"),
            ("track", event(time=NOW + 7200), "properties.time: more than an hour"),
            ("track", event(**{"$insert_id": "x" * 37}), "properties.$insert_id"),
            ("track", event(**{"$insert_id": "a_b"}), "properties.$insert_id"),
            ("track", event(distinct_id={"a": 1}), "properties.distinct_id"),
            ("engage", {"$token": TOKEN, "$set": {}}, "$distinct_id: missing"),
            ("engage", {"$token": TOKEN, "$distinct_id": "u"}, "no update operation"),
            ("engage", {"$distinct_id": "u", "$set": {}}, "$token: missing or empty"),
            (
                "engage",
                {"$token": TOKEN, "$distinct_id": "u", "$set": []},
                "$set: not an object",
            ),
            (
                "engage",
                {"$token": TOKEN, "$distinct_id": "u", "$add": {"n": "1"}},
                "$add: a value is not a number",
            ),
            ("groups", {"$token": TOKEN, "$group_id": "g", "$set": {}}, "$group_key"),
            ("groups", {"$token": TOKEN, "$group_key": "k", "$set": {}}, "$group_id"),
            (
                "groups",
                {"$token": TOKEN, "$group_key": "k", "$group_id": "g", "$append": {}},
                "no update operation",
            ),
            ("track", "not an object", "record: not a JSON object"),
        ],
    )
    def test_bad_record_is_refused_and_noted(
        self, mp: MixpanelStandin, endpoint: str, record: Any, violation: str
    ) -> None:
        reply = post_form(mp, endpoint, [record])

        assert reply.status_code == 400
        assert reply.json()["status"] == 0
        assert len(mp.violations) == 1
        assert violation in mp.violations[0]
        assert mp.events == []

    def test_good_records_beside_a_bad_one_are_kept(self, mp: MixpanelStandin) -> None:
        reply = post_form(mp, "track", [event(0), event(1, token=None), event(2)])

        assert reply.json() == {"status": 1, "error": None}
        assert [e["event"] for e in mp.events] == ["Event 0", "Event 2"]
        assert len(mp.violations) == 1

    @pytest.mark.parametrize(
        ("content", "headers", "violation"),
        [
            (
                b"<xml/>",
                {"Content-Type": "application/xml"},
                "Content-Type application/xml",
            ),
            (
                b"verbose=1",
                {"Content-Type": "application/x-www-form-urlencoded"},
                "no data",
            ),
            (
                b"data=%7Bbroken",
                {"Content-Type": "application/x-www-form-urlencoded"},
                "JSON",
            ),
            (
                b"data=1&data=2",
                {"Content-Type": "application/x-www-form-urlencoded"},
                "repeated",
            ),
            (b"[]", {"Content-Type": "application/json"}, "non-empty"),
            (
                b"data=%5B%5D",
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Content-Encoding": "br",
                },
                "Content-Encoding br",
            ),
        ],
    )
    def test_malformed_request_is_400_and_noted(
        self,
        mp: MixpanelStandin,
        content: bytes,
        headers: dict[str, str],
        violation: str,
    ) -> None:
        reply = httpx.post(mp.url("track"), content=content, headers=headers)

        assert reply.status_code == 400
        assert len(mp.violations) == 1
        assert violation in mp.violations[0]

    def test_get_is_not_how_server_sdks_send(self, mp: MixpanelStandin) -> None:
        reply = httpx.get(mp.url("track"), params={"data": json.dumps(event())})

        assert reply.status_code == 405
        assert "GET is not how" in mp.violations[0]

    def test_unknown_path_is_noted(self, mp: MixpanelStandin) -> None:
        reply = httpx.post(mp.url("decide"), content=b"")

        assert reply.status_code == 404
        assert len(mp.violations) == 1

    def test_more_than_mixpanels_2000_records_is_a_violation(
        self, mp: MixpanelStandin
    ) -> None:
        reply = post_form(mp, "track", [event(i) for i in range(2001)])

        assert reply.status_code == 400
        assert "over Mixpanel's limit" in mp.violations[0]


# -- /import ---------------------------------------------------------------------------


class TestImport:
    def test_json_array_with_basic_auth_is_imported(self, mp: MixpanelStandin) -> None:
        reply = post_import(mp, json.dumps([event(0), event(1)]).encode())

        assert reply.status_code == 200
        assert reply.json() == {"code": 200, "num_records_imported": 2, "status": "OK"}
        assert mp.violations == []

    def test_gzip_ndjson_is_imported(self, mp: MixpanelStandin) -> None:
        body = gzip.compress(
            b"\n".join(json.dumps(event(i)).encode() for i in range(3))
        )

        reply = post_import(
            mp,
            body,
            headers={
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip",
            },
        )

        assert reply.json()["num_records_imported"] == 3
        assert mp.violations == []
        assert mp.requests[0].content.count(b"\n") == 2

    @pytest.mark.parametrize(
        ("auth", "query"),
        [
            (("sa-user", "wrong"), "strict=1&project_id=4242"),
            (("someone", "sa-secret"), "strict=1&project_id=4242"),
            (("sa-user", "sa-secret"), "strict=1&project_id=1"),
            (("sa-user", "sa-secret"), "strict=1"),
        ],
    )
    def test_wrong_credentials_are_401(
        self, mp: MixpanelStandin, auth: tuple[str, str], query: str
    ) -> None:
        reply = post_import(mp, json.dumps([event()]).encode(), auth=auth, query=query)

        assert reply.status_code == 401
        assert reply.json() == {
            "code": 401,
            "error": "Invalid credentials",
            "status": "Unauthorized",
        }
        assert mp.events == []
        assert "Invalid credentials" in mp.violations[0]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"time": None}, "properties.time"),
            ({"distinct_id": None}, "properties.distinct_id"),
            ({"distinct_id": "anonymous"}, "properties.distinct_id"),
            ({"$insert_id": None}, "properties.$insert_id"),
            ({"$insert_id": "null"}, "properties.$insert_id"),
        ],
    )
    def test_strict_import_lists_failed_records_and_keeps_the_rest(
        self, mp: MixpanelStandin, change: dict[str, Any], field: str
    ) -> None:
        bad = event(0)
        for key, value in change.items():
            if value is None:
                del bad["properties"][key]
            else:
                bad["properties"][key] = value

        reply = post_import(mp, json.dumps([bad, event(1)]).encode())

        assert reply.status_code == 400
        answer = reply.json()
        assert answer["num_records_imported"] == 1
        assert [(f["index"], f["field"]) for f in answer["failed_records"]] == [
            (0, field)
        ]
        assert [e["event"] for e in mp.events] == ["Event 1"]

    def test_import_token_is_optional_but_checked_when_present(
        self, mp: MixpanelStandin
    ) -> None:
        without = event(0)
        del without["properties"]["token"]

        reply = post_import(mp, json.dumps([without, event(1, token="other")]).encode())

        assert reply.json()["num_records_imported"] == 1
        assert "properties.token" in mp.violations[0]


# -- failure script, batch limit, canaries, threads ----------------------------


class TestBehaviour:
    def test_failure_script_is_consumed_one_status_per_request(
        self, mp: MixpanelStandin
    ) -> None:
        mp.fail_next([500, None, (429, {"Retry-After": "1"}), 413])

        replies = [post_form(mp, "track", [event(i)]) for i in range(5)]

        assert [r.status_code for r in replies] == [500, 200, 429, 413, 200]
        assert replies[2].headers["retry-after"] == "1"
        assert replies[0].json() == {"status": 0, "error": "scripted failure"}
        assert [e["event"] for e in mp.events] == ["Event 1", "Event 4"]
        assert [r.status for r in mp.requests] == [500, 200, 429, 413, 200]
        assert mp.violations == []

    def test_scripted_import_failure_has_the_import_shape(
        self, mp: MixpanelStandin
    ) -> None:
        mp.fail_next([(429, {"Retry-After": "2"})])

        reply = post_import(mp, json.dumps([event()]).encode())

        assert reply.json() == {
            "code": 429,
            "error": "scripted failure",
            "status": "Too Many Requests",
        }

    def test_only_error_statuses_can_be_scripted(self, mp: MixpanelStandin) -> None:
        with pytest.raises(ValueError, match="4xx or 5xx"):
            mp.fail_next([200])

    def test_batches_over_max_batch_get_413_and_are_not_stored(self) -> None:
        with MixpanelStandin(token=TOKEN, max_batch=2) as mp:
            too_big = post_form(mp, "track", [event(i) for i in range(3)])
            fits = post_form(mp, "track", [event(i) for i in range(2)])

            assert (too_big.status_code, fits.status_code) == (413, 200)
            assert len(mp.events) == 2
            assert mp.violations == []

    def test_raw_text_undoes_base64_and_gzip_for_canary_searches(
        self, mp: MixpanelStandin
    ) -> None:
        hidden = base64.b64encode(json.dumps([event(0, note=CANARY)]).encode()).decode()
        httpx.post(
            mp.url("track"),
            content=gzip.compress(urlencode({"data": hidden}).encode()),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Content-Encoding": "gzip",
            },
        )

        assert CANARY not in mp.requests[0].body.decode("latin-1")
        assert CANARY in mp.raw_text()
        assert mp.events[0]["properties"]["note"] == CANARY

    def test_plain_answer_without_verbose(self, mp: MixpanelStandin) -> None:
        body = urlencode({"data": json.dumps([event()])})

        reply = httpx.post(
            mp.url("track"),
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        assert reply.text == "1"

    def test_concurrent_requests_are_all_recorded(self, mp: MixpanelStandin) -> None:
        def send(worker: int) -> None:
            with httpx.Client() as client:
                for n in range(5):
                    body = urlencode({"data": json.dumps([event(worker * 100 + n)])})
                    client.post(
                        mp.url("track"),
                        content=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )

        threads = [threading.Thread(target=send, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(mp.requests) == 30
        assert len({e["properties"]["$insert_id"] for e in mp.events}) == 30
        assert mp.violations == []

    def test_reset_forgets_everything(self, mp: MixpanelStandin) -> None:
        post_form(mp, "track", [event()])
        mp.fail_next([500])

        mp.reset()

        assert (mp.events, mp.requests, mp.violations) == ([], [], [])
        assert post_form(mp, "track", [event()]).status_code == 200

    def test_base_url_needs_a_running_server(self) -> None:
        with pytest.raises(RuntimeError):
            _ = MixpanelStandin().base_url
