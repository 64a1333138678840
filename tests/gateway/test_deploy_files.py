"""deploy/: the alert rules and the Grafana dashboard parse, and every
metric they name is one a gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import gateway_thread, write_config

from .conftest import wait_for
from .ops_helpers import checkout, scrape, track

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "redline-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "redline-dashboard.json"
METRIC = re.compile(r"\bredline_[a-z0-9_]+")


def _alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in doc["panels"] for t in panel.get("targets", [])]


def test_alert_rules_are_well_formed_and_cover_the_issue() -> None:
    rules = _alert_rules()
    names = {rule["alert"] for rule in rules}
    assert {
        "RedlineOutboxGrowing",
        "RedlineDeadLetters",
        "RedlineReportModeLeftOn",
        "RedlineDestinationFailing",
    } <= names
    for rule in rules:
        assert rule["expr"].strip()
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_dashboard_is_well_formed() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["title"]
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    kinds = {panel["type"] for panel in doc["panels"]}
    assert "timeseries" in kinds
    assert len(_dashboard_exprs()) >= 10


def test_every_metric_named_in_deploy_is_exported(tmp_path: Path) -> None:
    referenced: dict[str, set[str]] = {}
    for rule in _alert_rules():
        for name in METRIC.findall(rule["expr"]):
            referenced.setdefault(name, set()).add(f"alert {rule['alert']}")
    for expr in _dashboard_exprs():
        for name in METRIC.findall(expr):
            referenced.setdefault(name, set()).add("grafana")
    assert len(referenced) >= 15

    with gateway_thread(write_config(tmp_path)) as gw:
        assert track(gw.url, checkout(3)).status_code == 200
        wait_for(lambda: gw.gateway.outbox.depth == 0)  # type: ignore[attr-defined]
        exported = {name for name, _ in scrape(gw.url)}

    missing = {
        name: where for name, where in referenced.items() if name not in exported
    }
    assert missing == {}
