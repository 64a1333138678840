"""A project's destination may be another vendor than its source: events
from the official Mixpanel SDK arrive at a PostHog stand-in in PostHog's
format, with properties mapped as docs/vendors.md says; and Segment
messages reach a Mixpanel stand-in with their context on Mixpanel's names."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from mixpanel import Consumer, Mixpanel
from posthog import Posthog
from segment.analytics import Client

from harness import gateway_thread, write_config
from standins.mixpanel import MixpanelStandin
from standins.posthog import PostHogStandin
from standins.segment import SegmentStandin

from .conftest import UPSTREAM_TOKEN, mixpanel_destination, wait_for

PH_KEY = "phc_cross-vendor-0c1d"
PH_ENV = "REDLINE_TEST_PH_KEY"
SEG_KEY = "seg-cross-vendor-77a2"
SEG_ENV = "REDLINE_TEST_SEG_KEY"


@pytest.fixture
def posthog_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[PostHogStandin]:
    monkeypatch.setenv(PH_ENV, PH_KEY)
    with PostHogStandin(api_key=PH_KEY) as ph:
        yield ph


def test_mixpanel_sdk_in_posthog_out(
    tmp: Path, posthog_standin: PostHogStandin
) -> None:
    ph = posthog_standin
    config = write_config(
        tmp,
        destinations=f"  ph:\n    type: posthog\n    base_url: {ph.base_url}\n",
        forward=f"      - destination: ph\n        token: {{env: {PH_ENV}}}\n",
    )
    sent_at = time.time()
    with gateway_thread(config) as gw:
        consumer = Consumer(
            events_url=f"{gw.url}/track",
            people_url=f"{gw.url}/engage",
            groups_url=f"{gw.url}/groups",
            import_url=f"{gw.url}/import",
        )
        mp = Mixpanel("demo", consumer=consumer)
        mp.track(
            "jane.doe@example.com",
            "$mp_web_page_view",
            {
                "$current_url": "https://app.example.com/a?email=jane.doe%40example.com"
                "&utm_source=newsletter",
                "current_url_path": "/a",
                "current_domain": "app.example.com",
                "current_page_title": "A",
                "utm_source": "newsletter",
            },
        )
        mp.track(
            "user_3f9a2c",
            "checkout",
            {"plan": "pro", "card_hint": "4111 1111 1111 1111"},
        )
        mp.people_set("user_3f9a2c", {"$email": "jane.doe@example.com", "plan": "pro"})
        mp.group_set("company", "Example KK", {"plan": "enterprise"})
        wait_for(lambda: len(ph.events) >= 4)
        time.sleep(0.5)

    assert ph.violations == []
    events = ph.events
    assert len(events) == 4
    raw = ph.raw_text()
    for planted in (
        "jane.doe@example.com",
        "jane.doe%40example.com",
        "4111 1111 1111 1111",
    ):
        assert planted not in raw
    by_name = {e["event"]: e for e in events}
    assert set(by_name) == {"$pageview", "checkout", "$set", "$groupidentify"}

    page = by_name["$pageview"]
    props = page["properties"]
    # docs/vendors.md: Mixpanel's names become PostHog's
    assert props["$current_url"] == "https://app.example.com/a?utm_source=newsletter"
    assert props["$pathname"] == "/a"
    assert props["$host"] == "app.example.com"
    assert props["title"] == "A"
    assert props["utm_source"] == "newsletter"
    assert props["$lib"] == "python"  # mp_lib
    assert page["distinct_id"].startswith("local:")
    # the Mixpanel float-seconds time as ISO 8601, the $insert_id as a UUID
    stamp = page["timestamp"]
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert abs(when - sent_at) < 30
    assert len(page["uuid"]) == 36

    checkout = by_name["checkout"]
    assert checkout["properties"]["plan"] == "pro"
    assert "card_hint" not in checkout["properties"]
    person = by_name["$set"]
    assert person["$set"]["$email"].startswith("local:")
    assert person["distinct_id"] == checkout["distinct_id"]
    group = by_name["$groupidentify"]
    assert group["properties"]["$group_type"] == "company"
    assert group["properties"]["$group_set"] == {"plan": "enterprise"}


def test_segment_sdk_in_mixpanel_out(tmp: Path, standin: MixpanelStandin) -> None:
    config = write_config(tmp, **mixpanel_destination(standin))
    with gateway_thread(config) as gw:
        client = Client("demo", host=gw.url, sync_mode=True)
        client.track(
            "user_3f9a2c",
            "checkout",
            {"plan": "pro"},
            context={
                "page": {"url": "https://app.example.com/c?email=jane@example.com"},
                "campaign": {"source": "newsletter"},
            },
        )
        wait_for(lambda: len(standin.events) >= 1)
        time.sleep(0.3)

    assert standin.violations == []
    (event,) = standin.events_for("track")
    props = event["properties"]
    assert props["token"] == UPSTREAM_TOKEN
    assert props["$current_url"] == "https://app.example.com/c"
    assert props["utm_source"] == "newsletter"
    assert props["plan"] == "pro"
    assert props["distinct_id"].startswith("local:")
    assert props["$user_id"] == props["distinct_id"]


def _signup_with_person_properties(url: str) -> None:
    """A posthog SDK capture carrying $set and $set_once."""
    client = Posthog("demo", host=url, sync_mode=True)
    client.capture(
        distinct_id="user_5be1",
        event="signup",
        properties={
            "company_size": "11-50",
            "$set": {"plan": "pro", "$email": "ruth.ito@example.com"},
            "$set_once": {"$initial_referrer": "https://ads.example.net/?e=1#x"},
        },
    )


def test_posthog_person_properties_reach_mixpanel_as_profile_updates(
    tmp: Path, standin: MixpanelStandin
) -> None:
    config = write_config(tmp, **mixpanel_destination(standin))
    with gateway_thread(config) as gw:
        _signup_with_person_properties(gw.url)
        wait_for(lambda: len(standin.events) >= 3)
        time.sleep(0.3)

    assert standin.violations == []
    (event,) = standin.events_for("track")
    assert event["event"] == "signup"
    assert event["properties"]["company_size"] == "11-50"
    assert "$set" not in event["properties"]
    profiles = standin.events_for("engage")
    by_op = {op: p[op] for p in profiles for op in p if op in ("$set", "$set_once")}
    assert sorted(by_op) == ["$set", "$set_once"]
    assert all(len(set(p) & {"$set", "$set_once"}) == 1 for p in profiles)
    for profile in profiles:
        assert profile["$token"] == UPSTREAM_TOKEN
        assert profile["$distinct_id"] == event["properties"]["distinct_id"]
    # the profile rules of the example policy: plan kept, $email hashed,
    # the referrer scrubbed of its query and fragment
    assert by_op["$set"]["plan"] == "pro"
    assert by_op["$set"]["$email"].startswith("local:")  # key id, digest
    assert "ruth.ito" not in str(profiles)
    assert by_op["$set_once"] == {"$initial_referrer": "https://ads.example.net/"}


def test_posthog_person_properties_reach_segment_as_an_identify(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SEG_ENV, SEG_KEY)
    with SegmentStandin(write_key=SEG_KEY) as seg:
        config = write_config(
            tmp,
            destinations=f"  seg:\n    type: segment\n    base_url: {seg.base_url}\n",
            forward=f"      - destination: seg\n        token: {{env: {SEG_ENV}}}\n",
        )
        with gateway_thread(config) as gw:
            _signup_with_person_properties(gw.url)
            wait_for(lambda: len(seg.events) >= 2)
            time.sleep(0.3)

    assert seg.violations == []
    assert len(seg.requests) == 1  # the event and its identify together
    track, identify = sorted(seg.events, key=lambda m: m["type"], reverse=True)
    assert track["type"] == "track" and track["event"] == "signup"
    assert identify["type"] == "identify"
    assert identify["userId"] == track["userId"]
    assert identify["messageId"] == track["messageId"] + "-identify"
    # the profile rules of the example policy: plan kept, $email hashed; no
    # set-once on Segment
    assert identify["traits"]["plan"] == "pro"
    assert identify["traits"]["$email"].startswith("local:")
    assert "$initial_referrer" not in json.dumps(seg.events)
    assert "ruth.ito" not in json.dumps(seg.events)
