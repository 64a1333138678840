"""Per-destination overrides through a real gateway with two destinations:
the Mixpanel stand-in gets the stricter version of each event, the local
store the base version, each exactly once."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import free_port, gateway_thread, write_config
from redline.destinations.local import LocalStore
from standins.mixpanel import MixpanelStandin

from .conftest import UPSTREAM_ENV, wait_for
from .ops_helpers import scrape, value

POLICY = """\
version: 1
all_events:
  properties:
    plan: keep
    country: keep
events:
  checkout:
    properties:
      price: keep
      note: keep
  api_call:
    properties: {model: keep, tokens: keep}
    aggregate: {window_seconds: 1, group_by: [model], sum: [tokens]}
profiles:
  properties:
    plan: keep
    nickname: keep
destinations:
  mp:
    all_events: {properties: {plan: drop}}
    events:
      checkout: {properties: {price: {action: bucket, edges: [0, 10, 100]}}}
      api_call:
        properties: {model: {action: enum, values: [small], other: other}}
    profiles: {properties: {nickname: drop}}
"""


def _config(tmp: Path, standin: MixpanelStandin, policy: str = POLICY) -> Path:
    path = tmp / "policy.yaml"
    path.write_text(policy)
    return write_config(
        tmp,
        policy=path,
        port=free_port(),
        destinations=(
            "  local:\n    type: local\n"
            f"  mp:\n    type: mixpanel\n    base_url: {standin.base_url}\n"
        ),
        forward=(
            "      - destination: local\n"
            "      - destination: mp\n"
            f"        token: {{env: {UPSTREAM_ENV}}}\n"
        ),
    )


def _post(url: str, route: str, records: list[dict[str, Any]]) -> None:
    response = httpx.post(
        f"{url}/{route}?verbose=1", data={"data": json.dumps(records)}, timeout=10
    )
    assert response.status_code == 200 and response.json()["status"] == 1


def _checkout(n: int) -> dict[str, Any]:
    return {
        "event": "checkout",
        "properties": {
            "token": "demo",
            "distinct_id": f"user-{n}",
            "$insert_id": f"co-{n:04d}-{uuid.uuid4().hex[:8]}",
            "time": int(time.time()),
            "plan": "pro",
            "country": "JP",
            "price": 5 + n * 20,
            "note": "call me on 202-555-0143",
            "stray": "dropped everywhere",
        },
    }


def _stored(store: LocalStore, name: str) -> list[dict[str, Any]]:
    return [row for row in store.query(limit=10_000) if row["event"] == name]


def test_each_destination_gets_its_own_version_of_each_event_once(
    tmp: Path, standin: MixpanelStandin
) -> None:
    sent = [_checkout(n) for n in range(6)]
    profile = {
        "$token": "demo",
        "$distinct_id": "user-1",
        "$set": {"plan": "team", "nickname": "Taro"},
    }
    with gateway_thread(_config(tmp, standin)) as gw:
        _post(gw.url, "track", sent[:3])
        _post(gw.url, "track", sent[3:])
        _post(gw.url, "engage", [profile])
        wait_for(lambda: len(standin.records) >= len(sent) + 1)
        with LocalStore.in_dir(gw.config.data_dir) as store:
            wait_for(lambda: len(_stored(store, "checkout")) >= len(sent))
            time.sleep(0.5)  # anything more would be a duplicate
            local = _stored(store, "checkout")
            local_profiles = store.query(kind="profile", limit=100)
        samples = scrape(gw.url)

    assert standin.violations == []
    remote = standin.events_for("track")
    assert len(remote) == len(local) == len(sent)
    by_id_remote = {e["properties"]["$insert_id"]: e["properties"] for e in remote}
    by_id_local = {e["properties"]["$insert_id"]: e["properties"] for e in local}
    assert (
        set(by_id_remote)
        == set(by_id_local)
        == {e["properties"]["$insert_id"] for e in sent}
    )
    for event in sent:
        original = event["properties"]
        strict = by_id_remote[original["$insert_id"]]
        base = by_id_local[original["$insert_id"]]
        # the stricter version: plan dropped, price bucketed
        assert "plan" not in strict
        assert strict["price"] in {"0-10", "10-100", "100+"}
        # the base version: plan and the exact price
        assert base["plan"] == "pro"
        assert base["price"] == original["price"]
        # what the override does not touch is the same on both sides
        for props in (strict, base):
            assert props["country"] == "JP"
            assert props["note"] == "call me on [PHONE]"
            assert "stray" not in props
        assert strict["distinct_id"] == base["distinct_id"]

    strict_profile = standin.events_for("engage")[0]["$set"]
    assert strict_profile == {"plan": "team"}
    assert local_profiles[0]["properties"]["$set"] == {
        "plan": "team",
        "nickname": "Taro",
    }
    raw = standin.raw_text()
    assert "202-555-0143" not in raw and "Taro" not in raw
    # findings and counts are of the base application only, once per event
    assert value(samples, "redline_events_accepted_total") == len(sent) + 1


def test_aggregated_events_fold_per_destination_version(
    tmp: Path, standin: MixpanelStandin
) -> None:
    calls = [
        {
            "event": "api_call",
            "properties": {
                "token": "demo",
                "distinct_id": f"user-{n % 3}",
                "$insert_id": f"call-{n:04d}",
                "time": int(time.time()),
                "model": ("small", "large", "huge")[n % 3],
                "tokens": n,
            },
        }
        for n in range(9)
    ]
    with gateway_thread(_config(tmp, standin)) as gw:
        _post(gw.url, "track", calls)
        wait_for(
            lambda: (
                sum(e["properties"]["$aggregate_count"] for e in standin.events)
                >= len(calls)
            ),
            timeout=10,
        )
        with LocalStore.in_dir(gw.config.data_dir) as store:

            def local_count() -> int:
                rows = _stored(store, "api_call")
                return sum(r["properties"]["$aggregate_count"] for r in rows)

            wait_for(lambda: local_count() >= len(calls), timeout=10)
            time.sleep(0.5)
            local = _stored(store, "api_call")
        samples = scrape(gw.url)

    def per_model(events: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for event in events:
            props = event["properties"]
            count, total = out.get(props["model"], (0, 0))
            out[props["model"]] = (
                count + props["$aggregate_count"],
                total + props["tokens_sum"],
            )
        return out

    # the stand-in's summaries group by the enum the override made
    assert per_model(standin.events) == {"small": (3, 9), "other": (6, 27)}
    assert per_model(local) == {"small": (3, 9), "large": (3, 12), "huge": (3, 15)}
    # each record counts once however many versions it was folded in
    assert value(samples, "redline_events_aggregated_total") == len(calls)


def test_an_override_for_a_destination_the_config_lacks_is_warned_about(
    tmp: Path, standin: MixpanelStandin, caplog: pytest.LogCaptureFixture
) -> None:
    policy = POLICY.replace("  mp:\n    all_events", "  nowhere:\n    all_events")
    caplog.set_level(logging.WARNING, logger="redline.gateway")

    with gateway_thread(_config(tmp, standin, policy)) as gw:
        _post(gw.url, "track", [_checkout(1)])
        wait_for(lambda: len(standin.records) >= 1)

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("'nowhere'" in w and "does not define" in w for w in warnings)
    assert not any("'mp'" in w for w in warnings)
    # the override applies to nothing: the stand-in gets the base version
    assert standin.events_for("track")[0]["properties"]["plan"] == "pro"
