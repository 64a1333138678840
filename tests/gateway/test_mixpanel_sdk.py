"""The official Mixpanel Python SDK sends through the gateway; the
stand-in Mixpanel receives only sanitised events, with the upstream token,
each once."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path

from mixpanel import BufferedConsumer, Consumer, Mixpanel

from harness import gateway_thread, write_config
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_TOKEN, mixpanel_destination, wait_for

DATA = Path(__file__).resolve().parent.parent / "data"

# planted in the sample events (tests/data/mixpanel_events.jsonl)
PLANTED = [
    "jane.doe@example.com",
    "jane.doe%40example.com",
    "202-555-0143",
    "4111 1111 1111 1111",
    "+81 90-1234-5678",
    "sk-proj-FAKE0000000000000000000000000000000000000000TEST",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJlLXRlc3Q",
    "０９０－１２３４－５６７８",  # noqa: RUF001 - full-width digits, as typed in Japan
    "tanaka.taro@example.jp",
    "田中 太郎",
    "ya29.FAKE-token-0000",
    "9f86d081884c7d65",
]


def sdk_for(url: str, buffered: bool = False) -> Mixpanel:
    urls = {
        "events_url": f"{url}/track",
        "people_url": f"{url}/engage",
        "groups_url": f"{url}/groups",
        "import_url": f"{url}/import",
    }
    consumer = BufferedConsumer(max_size=5, **urls) if buffered else Consumer(**urls)
    return Mixpanel("demo", consumer=consumer)


def send_samples(sdk: Mixpanel) -> int:
    sent = 0
    for line in (DATA / "mixpanel_events.jsonl").read_text().splitlines():
        record = json.loads(line)
        props = dict(record["properties"])
        distinct_id = props.pop("distinct_id")
        for key in ("token", "time"):
            props.pop(key, None)
        sdk.track(distinct_id, record["event"], props)
        sent += 1
    return sent


def test_sdk_events_profiles_and_groups_arrive_sanitised_once(
    tmp: Path, standin: MixpanelStandin
) -> None:
    config = write_config(tmp, **mixpanel_destination(standin))

    with gateway_thread(config) as gw:
        sdk = sdk_for(gw.url)
        sent = send_samples(sdk)
        sdk.track("user_3f9a2c", "internal_debug_dump", {"dump": "everything"})
        sdk.people_set(
            "jane.doe@example.com",
            {"$email": "jane.doe@example.com", "$name": "田中 太郎", "plan": "pro"},
        )
        sdk.group_set(
            "company", "Example KK", {"plan": "enterprise", "$phone": "202-555-0143"}
        )
        sdk.import_data(
            "",
            "user_3f9a2c",
            "checkout",
            time.time() - 3600,
            {"plan": "team", "card_hint": "4111 1111 1111 1111"},
            api_secret="demo",
        )
        wait_for(lambda: len(standin.records) >= sent + 3)
        time.sleep(0.5)  # anything more would be a duplicate

    assert standin.violations == []
    by_endpoint = collections.Counter(r.endpoint for r in standin.records)
    assert by_endpoint == {"track": sent, "engage": 1, "groups": 1, "import": 1}

    # each event exactly once, by its idempotency id
    insert_ids = [e["properties"]["$insert_id"] for e in standin.events_for("track")]
    assert len(insert_ids) == len(set(insert_ids)) == sent

    raw = standin.raw_text()
    for value in PLANTED:
        assert value not in raw, value
    assert "internal_debug_dump" not in raw
    # the ingest key never travels upstream; the upstream token does
    for record in standin.events_for("track"):
        assert record["properties"]["token"] == UPSTREAM_TOKEN

    events = {e["event"]: e["properties"] for e in standin.events_for("track")}
    # distinct ids are keyed digests; the same user maps to the same digest
    assert events["api_call"]["distinct_id"].startswith("local:")
    assert events["api_call"]["distinct_id"] == events["checkout"]["distinct_id"]
    assert events["checkout"]["plan"] == "pro"
    assert "card_hint" not in events["checkout"]
    assert events["error"]["message"].endswith("provided: [API_KEY]")
    assert events["error"]["release"] == "10.0.19045.1"
    assert events["$mp_web_page_view"]["$current_url"] == (
        "https://platform.example.com/settings/organization?utm_source=newsletter"
        if "utm_source=" in events["$mp_web_page_view"]["$current_url"]
        else "https://platform.example.com/settings/organization"
    )
    assert events["signup"]["$current_url"] == (
        "https://platform.example.com/signup?ref=REF-4821"
    )
    assert "text" not in events["api_call"]

    profile = standin.events_for("engage")[0]
    assert profile["$token"] == UPSTREAM_TOKEN
    assert profile["$set"]["$email"].startswith("local:")
    assert profile["$set"]["plan"] == "pro"
    assert "$name" not in profile["$set"]

    group = standin.events_for("groups")[0]
    assert group["$set"] == {"plan": "enterprise"}

    imported = standin.events_for("import")[0]
    assert imported["properties"]["plan"] == "team"
    assert "card_hint" not in imported["properties"]


def test_upstream_outage_then_recovery_delivers_each_event_once(
    tmp: Path, standin: MixpanelStandin
) -> None:
    standin.fail_next([500, 500, (429, {"Retry-After": "1"}), 503, 500])
    config = write_config(tmp, **mixpanel_destination(standin))

    with gateway_thread(config) as gw:
        sdk = sdk_for(gw.url, buffered=True)
        for n in range(40):
            sdk.track(f"user-{n % 7}", "checkout", {"plan": "pro", "price": n})
        sdk._consumer.flush()
        wait_for(lambda: len(standin.records) >= 40, timeout=30)
        time.sleep(0.5)

    assert standin.violations == []
    prices = sorted(e["properties"]["price"] for e in standin.events)
    assert prices == list(range(40))
    statuses = [r.status for r in standin.requests]
    assert statuses[:5] == [500, 500, 429, 503, 500]
    assert statuses[5:] and all(status == 200 for status in statuses[5:])
    # the request after the 429 waited for its Retry-After
    stamps = [r.received_at for r in standin.requests]
    assert stamps[3] - stamps[2] >= 0.95
