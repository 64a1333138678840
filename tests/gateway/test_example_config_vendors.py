"""The built-in example config accepts each vendor's SDK with the demo
ingest key: a new user can try any of them against `redline serve` as it
comes, and find the events in the local store; /metrics counts each
vendor's records under its own name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from amplitude import Amplitude, BaseEvent, Config
from posthog import Posthog
from segment.analytics import Client

from harness import GatewayThread, free_port
from redline import config as config_mod
from redline.destinations.local import LocalStore

from .conftest import wait_for
from .ops_helpers import scrape, value


def test_every_vendor_sdk_works_with_the_built_in_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    config = config_mod.load(None, overrides={"port": port})
    with GatewayThread(config) as gw:
        url = gw.url
        Posthog("demo", host=url, sync_mode=True).capture(
            distinct_id="user-1", event="signup", properties={"company_size": "10"}
        )
        Client("demo", host=url, sync_mode=True).track(
            "user-2", "signup", {"company_size": "20"}
        )
        amp = Amplitude(
            "demo", Config(server_url=f"{url}/2/httpapi", flush_queue_size=1)
        )
        amp.track(
            BaseEvent(
                event_type="signup",
                user_id="user-3",
                event_properties={"company_size": "30"},
            )
        )
        amp.shutdown()
        store = LocalStore.in_dir(config.data_dir)
        try:
            wait_for(lambda: len(store.query(limit=10)) >= 3)
            sizes = sorted(
                e["properties"]["company_size"] for e in store.query(limit=10)
            )
        finally:
            store.close()
        samples = scrape(url)
        time.sleep(0.1)
    assert sizes == ["10", "20", "30"]
    received = {
        vendor: value(samples, "redline_events_received_total", vendor=vendor)
        for vendor in ("mixpanel", "posthog", "segment", "amplitude")
    }
    assert received == {"mixpanel": 0, "posthog": 1, "segment": 1, "amplitude": 1}
