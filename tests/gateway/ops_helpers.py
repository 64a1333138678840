"""Reading /metrics and sending traffic, for the operability tests."""

from __future__ import annotations

import json
from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    response = httpx.get(url + "/metrics", headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.status_code
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of ``name`` with exactly these labels (0 if absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls) in samples if n == name and label in dict(ls)}


def track(
    url: str, events: Iterable[dict[str, object]], *, token: str = "demo"
) -> httpx.Response:
    batch = []
    for event in events:
        props = {"token": token, **dict(event.get("properties", {}))}  # type: ignore[call-overload]
        batch.append({"event": event["event"], "properties": props})
    return httpx.post(
        url + "/track?verbose=1", data={"data": json.dumps(batch)}, timeout=30
    )


def checkout(n: int, prefix: str = "ev") -> list[dict[str, object]]:
    """``n`` checkout events, each with one kept and one dropped property."""
    return [
        {
            "event": "checkout",
            "properties": {
                "distinct_id": f"user-{i % 7}",
                "time": 1764230410 + i,
                "$insert_id": f"{prefix}-{i}",
                "plan": "pro",
                "internal_note": "dropped by the policy",
            },
        }
        for i in range(n)
    ]
