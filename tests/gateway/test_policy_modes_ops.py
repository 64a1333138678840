"""Sampling and report mode show in the gateway's metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from harness import gateway_thread, write_config

POLICY = """
version: 1
events:
  checkout:
    sample: {rate: 0.5}
    properties: {plan: keep}
  page:
    mode: report
    properties: {title: keep}
"""


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


def test_sampled_events_and_report_mode_are_visible_in_metrics(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    events = [
        {
            "event": "checkout",
            "properties": {
                "token": "demo",
                "distinct_id": f"u{n}",
                "time": 1764230410,
                "plan": "pro",
            },
        }
        for n in range(200)
    ]

    with gateway_thread(write_config(tmp_path, policy=policy)) as gw:
        reply = httpx.post(
            gw.url + "/track?verbose=1", data={"data": json.dumps(events)}
        )
        metrics = httpx.get(gw.url + "/metrics").text

    assert reply.json()["status"] == 1
    sampled = _metric(metrics, "redline_events_sampled_total")
    # deterministic by distinct id: roughly half of 200 users, never all or none
    assert 60 < sampled < 140
    assert _metric(metrics, "redline_policy_report_mode") == 1
    assert 'mode="report"' in metrics
