"""An analytics event sent without a time is dated when the gateway
receives it, so a stay in the outbox does not move it to its delivery
time; the same time-less record sent twice is still known as a repeat."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness import gateway_thread, write_config
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import track

pytestmark = pytest.mark.slow


def test_a_timeless_event_is_dated_on_receipt_not_on_delivery(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    config = write_config(tmp_path, **mixpanel_destination(standin))
    undated = [{"event": "checkout", "properties": {"plan": "pro", "distinct_id": "u"}}]
    with gateway_thread(config) as gw:
        # the upstream refuses for a while: the event waits in the outbox
        standin.fail_next([503, 503, 503])
        before = time.time()
        assert track(gw.url, undated).status_code == 200
        after = time.time()
        wait_for(lambda: len(standin.events_for("track")) >= 1)
        delivered = time.time()
        # sent again (a lost answer): the same record, known as a repeat
        assert track(gw.url, undated).status_code == 200
        time.sleep(0.3)

    (event,) = standin.events_for("track")
    stamp = event["properties"]["time"]
    assert before <= stamp <= after < delivered
    assert standin.violations == []
