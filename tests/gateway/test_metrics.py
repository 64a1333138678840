"""/metrics: counters match what was sent, dropped, forwarded, retried and
dead-lettered; labels built from client names stay bounded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness import gateway_thread, write_config
from redline.gateway.metrics import OTHER, BoundedLabels
from standins.mixpanel import MixpanelStandin

from .conftest import mixpanel_destination, wait_for
from .ops_helpers import checkout, label_values, scrape, total, track, value

pytestmark = pytest.mark.slow


def test_counters_match_what_was_sent_dropped_forwarded_and_dead_lettered(
    tmp_path: Path, standin: MixpanelStandin
) -> None:
    fragments = mixpanel_destination(standin)
    config = write_config(
        tmp_path,
        destinations=fragments["destinations"] + "  local:\n    type: local\n",
        forward=fragments["forward"] + "      - destination: local\n",
    )
    mp, local = "demo/mp", "demo/local"
    with gateway_thread(config) as gw:
        # 1. refused for good upstream: 12 dead letters on the Mixpanel route
        standin.fail_next([400])
        assert track(gw.url, checkout(12, "a")).status_code == 200
        wait_for(
            lambda: value(scrape(gw.url), "redline_dead_letters", destination=mp) == 12
        )

        # 2. one retryable failure, then delivered: 8 retries
        standin.fail_next([503])
        assert track(gw.url, checkout(8, "b")).status_code == 200
        wait_for(
            lambda: (
                value(scrape(gw.url), "redline_events_forwarded_total", destination=mp)
                == 8
            )
        )

        # 3. five events the policy does not know, three records with an
        # unknown ingest key in a batch of good ones, one request of only
        # unknown keys
        unknown = [
            {"event": f"mystery_{i}", "properties": {"time": 1}} for i in range(5)
        ]
        assert track(gw.url, unknown).status_code == 200
        mixed = (
            checkout(4, "c")
            + [{"event": "checkout", "properties": {"token": "nope", "time": 1}}] * 3
        )
        assert track(gw.url, mixed).status_code == 200
        assert track(gw.url, checkout(2, "d"), token="nope").status_code == 401
        wait_for(
            lambda: (
                value(
                    scrape(gw.url), "redline_events_forwarded_total", destination=local
                )
                == 24
            )
        )
        samples = scrape(gw.url)

    kept = 12 + 8 + 4
    received = kept + 5 + 3 + 2
    assert (
        value(samples, "redline_events_received_total", vendor="mixpanel") == received
    )
    assert value(samples, "redline_events_accepted_total") == kept
    assert value(samples, "redline_events_dropped_total", reason="policy") == 5
    assert value(samples, "redline_events_dropped_total", reason="invalid") == 5
    assert value(samples, "redline_events_sampled_total") == 0
    assert value(samples, "redline_events_aggregated_total") == 0
    assert value(samples, "redline_events_forwarded_total", destination=local) == kept
    assert value(samples, "redline_events_forwarded_total", destination=mp) == 8 + 4
    assert value(samples, "redline_forward_dead_letters_total", destination=mp) == 12
    assert value(samples, "redline_dead_letters", destination=mp) == 12
    assert value(samples, "redline_dead_letters", destination=local) == 0
    assert value(samples, "redline_forward_retries_total", destination=mp) == 8
    assert value(samples, "redline_forward_retries_total", destination=local) == 0
    assert value(samples, "redline_forward_failures_total", destination=mp) == 2
    assert (
        value(samples, "redline_destination_consecutive_failures", destination=mp) == 0
    )
    # every batch sent is timed, failures included
    batches = value(samples, "redline_forward_batches_total", destination=mp)
    assert value(samples, "redline_forward_duration_seconds_count", destination=mp) == (
        batches
    )
    assert value(samples, "redline_outbox_depth") == 0
    assert value(samples, "redline_outbox_oldest_age_seconds") == 0

    assert (
        value(
            samples,
            "redline_http_requests_total",
            vendor="mixpanel",
            route="track",
            status="200",
        )
        == 4
    )
    assert (
        value(
            samples,
            "redline_http_requests_total",
            vendor="mixpanel",
            route="track",
            status="401",
        )
        == 1
    )
    # by event name: every record received, counted once
    assert total(samples, "redline_events_by_name_total") == received
    assert value(samples, "redline_events_by_name_total", event="checkout") == kept + 5
    # findings: one drop of the unknown property per kept event, one
    # drop_event per unknown event, one hash of each distinct id
    assert (
        value(samples, "redline_findings_total", detector="none", action="drop") == kept
    )
    assert (
        value(samples, "redline_findings_total", detector="none", action="drop_event")
        == 5
    )
    assert (
        value(
            samples,
            "redline_findings_by_property_total",
            event="checkout",
            property="internal_note",
            action="drop",
            detector="none",
        )
        == kept
    )
    assert total(samples, "redline_findings_by_property_total") == total(
        samples, "redline_findings_total"
    )
    assert value(samples, "redline_policy_report_mode") == 0
    (policy,) = [ls for (n, ls) in samples if n == "redline_policy_info"]
    assert dict(policy)["mode"] == "enforce"
    assert len(dict(policy)["digest"]) == 64


def test_ten_thousand_distinct_event_names_stay_within_the_label_cap(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    names = [f"generated_event_{i:05d}" for i in range(10_000)]
    with gateway_thread(config) as gw:
        metrics = gw.gateway.ops
        assert metrics is not None
        cap = metrics.metrics.event_names.limit
        pair_cap = metrics.metrics.properties.limit
        for start in range(0, len(names), 1000):
            batch = [
                {"event": name, "properties": {"time": 1, "ghost": "x"}}
                for name in names[start : start + 1000]
            ]
            assert track(gw.url, batch).status_code == 200
        # the known event too, after the cap is reached
        assert track(gw.url, checkout(3)).status_code == 200
        body = httpx.get(gw.url + "/metrics").text
        samples = scrape(gw.url)
        status = httpx.get(gw.url + "/ui/api/status").json()

    events = label_values(samples, "redline_events_by_name_total", "event")
    assert len(events) == cap + 1
    assert OTHER in events
    assert total(samples, "redline_events_by_name_total") == 10_003
    assert value(samples, "redline_events_by_name_total", event=OTHER) == 10_003 - cap
    series = [n for (n, _) in samples if n == "redline_findings_by_property_total"]
    assert len(series) <= pair_cap + 1
    # capped, but still counted: every unknown event is one drop_event
    assert total(
        samples, "redline_findings_by_property_total", action="drop_event"
    ) == (10_000)
    assert value(samples, "redline_events_dropped_total", reason="policy") == 10_000
    assert len(body) < 100_000
    assert status["findings"]["names_capped"] is True
    assert len(status["findings"]["by_property"]) <= 20


@pytest.mark.parametrize(
    ("seen", "expected"),
    [
        (["a", "b", "c"], ["a", "b", OTHER]),
        (["a", "a", "b", "a"], ["a", "a", "b", "a"]),
        (["a", "b", "a", "c", "b"], ["a", "b", "a", OTHER, "b"]),
        ([""], ["(empty)"]),
        (["x" * 100], ["x" * 64]),
    ],
)
def test_bounded_labels_keep_the_first_names_and_count_the_rest_as_other(
    seen: list[str], expected: list[str]
) -> None:
    labels = BoundedLabels(2)
    assert [labels(name) for name in seen] == expected
    assert len(labels) <= 2


def test_bounded_labels_clean_names_before_keeping_them() -> None:
    labels = BoundedLabels(5, clean=lambda name: name.replace("@", "[AT]"))
    assert labels("mail me@example.com") == "mail me[AT]example.com"


def test_metrics_are_per_gateway_not_global(tmp_path: Path) -> None:
    paths = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        paths.append(write_config(tmp_path / name))
    with gateway_thread(paths[0]) as a, gateway_thread(paths[1]) as b:
        assert track(a.url, checkout(3)).status_code == 200
        a_samples, b_samples = scrape(a.url), scrape(b.url)
    assert value(a_samples, "redline_events_received_total", vendor="mixpanel") == 3
    assert value(b_samples, "redline_events_received_total", vendor="mixpanel") == 0
    assert value(a_samples, "redline_events_by_name_total", event="checkout") == 3
    assert label_values(b_samples, "redline_events_by_name_total", "event") == set()


def test_label_scrubbing_hides_opaque_ids_and_tokens_only() -> None:
    from redline.gateway.metrics import scrub_label

    assert scrub_label("/reset/9f8e7d6c5b4a39281706f5e4d3") == "/reset/[ID]"
    assert scrub_label("invite Ab3dEfGh1jKlMnOpQrStUvWx") == "invite [ID]"
    assert scrub_label("order 1234567890123456") == "order [ID]"
    for name in ("checkout_step_2_completed", "signup", "internationalization"):
        assert scrub_label(name) == name
