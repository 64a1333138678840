"""A record a client sends again (same project, same insert id) is answered
as accepted and forwarded once; a request whose commit failed leaves no
trace, so its retry is forwarded."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import gateway_thread, write_config
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import checkout, scrape, track, value

pytestmark = pytest.mark.slow


def test_a_resent_batch_is_forwarded_once(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    config = write_config(tmp_path, **mixpanel_destination(standin))
    with gateway_thread(config) as gw:
        first = checkout(5, "a")
        assert track(gw.url, first).json() == {"status": 1, "error": None}
        # the same five again with two new ones, as mixpanel-browser sends
        # its beaconed events again beside new ones on the next page load
        again = first + checkout(2, "b")
        assert track(gw.url, again).json() == {"status": 1, "error": None}
        wait_for(lambda: len(standin.events_for("track")) >= 7)
        samples = scrape(gw.url)
        wait_for(lambda: gw.gateway.outbox.depth == 0)

    ids = sorted(e["properties"]["$insert_id"] for e in standin.events_for("track"))
    assert ids == sorted([f"a-{i}" for i in range(5)] + ["b-0", "b-1"])
    assert value(samples, "redline_events_repeated_total") == 5
    assert value(samples, "redline_events_accepted_total") == 7


def test_a_record_without_an_insert_id_is_known_by_its_content(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    config = write_config(tmp_path, **mixpanel_destination(standin))
    same = [{"event": "checkout", "properties": {"time": 1764230410, "plan": "pro"}}]
    with gateway_thread(config) as gw:
        track(gw.url, same)
        track(gw.url, same)
        other = [
            {**same[0], "properties": {**same[0]["properties"], "time": 1764230411}}
        ]
        track(gw.url, other)
        wait_for(lambda: len(standin.events_for("track")) >= 2)
        wait_for(lambda: gw.gateway.outbox.depth == 0)

    assert len(standin.events_for("track")) == 2


def test_a_failed_commit_does_not_count_as_seen(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    config = write_config(tmp_path, **mixpanel_destination(standin))
    with gateway_thread(config) as gw:
        outbox = gw.gateway.outbox
        real = outbox.append
        failures = [OSError("disk full")]

        async def failing(entries):  # type: ignore[no-untyped-def]
            if failures:
                raise failures.pop()
            return await real(entries)

        outbox.append = failing  # type: ignore[method-assign]
        batch = checkout(3, "c")
        assert track(gw.url, batch).status_code >= 500
        assert track(gw.url, batch).json() == {"status": 1, "error": None}
        wait_for(lambda: len(standin.events_for("track")) >= 3)
        wait_for(lambda: outbox.depth == 0)

    assert len(standin.events_for("track")) == 3


def test_the_window_can_be_turned_off(tmp_path: Path, standin: MixpanelStandin) -> None:
    config = write_config(
        tmp_path,
        **mixpanel_destination(standin),
        extra="  dedup_window_records: 0\n",
    )
    with gateway_thread(config) as gw:
        batch = checkout(2, "d")
        track(gw.url, batch)
        track(gw.url, batch)
        wait_for(lambda: len(standin.events_for("track")) >= 4)
