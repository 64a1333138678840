"""Prometheus metrics for one gateway, on a registry of its own.

Most figures are read when ``/metrics`` is scraped, from counters the
gateway, the forwarder and the outbox keep anyway, so serving a request
costs no more than before. What only a request knows (events by name,
findings by property) is added once per request, per distinct name.

Label values built from client data (event and property names) pass
through :class:`BoundedLabels`: the first names seen keep their (scrubbed)
name, every later one is counted as ``other``. Values never become labels.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .. import __version__
from ..destinations._base import Destination
from ..events import Event

if TYPE_CHECKING:
    from ..destinations.forwarder import Forwarder
    from ..engine import Finding
    from .app import Gateway
    from .ops import Sample

__all__ = [
    "OTHER",
    "BoundedLabels",
    "GatewayMetrics",
    "TimedDestination",
    "count_findings",
    "policy_mode",
]

OTHER = "other"
VENDOR = "mixpanel"
VENDORS = ("mixpanel", "posthog", "segment", "amplitude")
_MAX_LABEL_LENGTH = 64
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_name_of = attrgetter("name")
# a run of 16 or more letters and digits holding a digit: an id or a token
# in a client-chosen name (`/reset-password/<token>`), which no detector
# need recognise to keep it out of a label (words joined by '_' or '-', as
# in `checkout_step_2`, are runs of their own)
_OPAQUE = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z]*\d)[A-Za-z0-9]{16,}")


def scrub_label(name: str) -> str:
    """``name`` with opaque ids and tokens replaced by ``[ID]``."""
    return _OPAQUE.sub("[ID]", name)


def count_findings(found: list[Finding]) -> dict[Finding, int]:
    """How often each finding occurs in ``found``.

    Counted by identity, which is cheap: the engine hands out one shared
    Finding object per kind of decision (equal findings that are distinct
    objects are simply counted apart; every sum stays right).
    """
    if not found:
        return {}
    counts = Counter(map(id, found))
    objects = dict(zip(map(id, found), found, strict=True))
    return {objects[key]: count for key, count in counts.items()}


def policy_mode(policy: object) -> str:
    """The policy's mode: ``report`` when report mode is on anywhere in it
    (the whole policy or some events), else ``enforce``."""
    mode = getattr(policy, "mode", None)
    mode = str(getattr(mode, "value", mode) or "enforce")
    if mode == "enforce" and getattr(policy, "reports", False):
        return "report"
    return mode


class BoundedLabels:
    """Client-chosen names as label values, at most ``limit`` of them.

    The first ``limit`` distinct names keep their name (passed through
    ``clean`` and cut to 64 characters); every later one maps to ``other``.
    Memory stays bounded by ``limit``.
    """

    def __init__(self, limit: int, clean: Callable[[str], str] = str) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._clean = clean
        self._known: dict[str, str] = {}
        self.overflow = 0  # lookups that went to ``other``

    def __call__(self, name: str) -> str:
        label = self._known.get(name)
        if label is not None:
            return label
        if len(self._known) >= self.limit:
            self.overflow += 1
            return OTHER
        label = self._clean(name)[:_MAX_LABEL_LENGTH] or "(empty)"
        self._known[name] = label
        return label

    def __len__(self) -> int:
        return len(self._known)


class TimedDestination:
    """A destination whose sends are timed into the forward latency
    histogram, and whose consecutive failures are counted."""

    def __init__(self, route: str, inner: Destination, histogram: Histogram) -> None:
        self.route = route
        self.inner = inner
        self.max_batch = inner.max_batch
        self.linger = getattr(inner, "linger", 0.0)
        self._observe = histogram.labels(destination=route).observe
        self.failures = 0  # failed sends since start
        self.consecutive_failures = 0
        self.last_success: float | None = None
        # records in their outbox form, where the destination takes them
        inner_records = getattr(inner, "send_records", None)
        self.send_records: Callable[[Sequence[bytes]], Awaitable[None]] | None = (
            None
            if inner_records is None
            else lambda records: self._timed(inner_records(records))
        )

    async def send(self, events: Sequence[Event]) -> None:
        await self._timed(self.inner.send(events))

    async def _timed(self, sending: Awaitable[None]) -> None:
        started = time.perf_counter()
        try:
            await sending
        except Exception:
            # a DeliveryError, or a bug the forwarder treats as retryable
            self._observe(time.perf_counter() - started)
            self.failures += 1
            self.consecutive_failures += 1
            raise
        self._observe(time.perf_counter() - started)
        self.consecutive_failures = 0
        self.last_success = time.time()

    async def aclose(self) -> None:
        await self.inner.aclose()


class GatewayMetrics:
    """The metrics of one gateway; ``registry`` is what ``/metrics`` shows."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        max_event_names: int = 100,
        max_properties: int = 250,
    ) -> None:
        self.gateway = gateway
        self.registry = CollectorRegistry(auto_describe=False)
        self.started_at = time.time()
        engine = gateway.engine

        def scrub(name: str) -> str:
            return scrub_label(engine.scrub_text(name)[0])

        self.event_names = BoundedLabels(max_event_names, scrub)
        # (event label, property) pairs; the property is already scrubbed
        self.properties = BoundedLabels(max_properties)
        self.events_by_name: Counter[str] = Counter()
        # (event, property, action, detector) -> count
        self.findings_by_property: Counter[tuple[str, str, str, str]] = Counter()
        self.forward_latency = Histogram(
            "redline_forward_duration_seconds",
            "Time one batch took to send to a destination, failures included.",
            ["destination"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.forwarder: Forwarder | None = None
        self.destinations: dict[str, TimedDestination] = {}
        self.sample: Sample | None = None
        self.ready: Callable[[], bool | None] = lambda: None
        # (vendor, route, status) of the requests the ingest handler does not count
        self.other_requests: Counter[tuple[str, str, str]] = Counter()
        self.registry.register(_Collector(self))

    # -- wiring

    def timed(self, destinations: Mapping[str, Destination]) -> dict[str, Destination]:
        """Wrap ``destinations`` so that their sends are timed."""
        out: dict[str, Destination] = {}
        for route, destination in destinations.items():
            timed = TimedDestination(route, destination, self.forward_latency)
            self.destinations[route] = timed
            out[route] = timed
        return out

    # -- once per request

    def observe(self, events: Iterable[Event], findings: Mapping[Finding, int]) -> None:
        """Count a request's events by name and its findings by property."""
        label = self.event_names
        by_name = self.events_by_name
        for name, count in Counter(map(_name_of, events)).items():
            by_name[label(name)] += count
        if findings:
            by_property = self.findings_by_property
            pair = self.properties
            for finding, count in findings.items():
                event = label(finding.event)
                prop = pair(f"{event}\x00{finding.path}")
                key = (event, finding.path) if prop != OTHER else (OTHER, OTHER)
                by_property[(*key, finding.action, finding.detector or "none")] += count

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        gateway = m.gateway
        counters = gateway.counters

        info = GaugeMetricFamily(
            "redline_build_info", "Redline's version.", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "redline_start_time_seconds",
            "When this gateway started (Unix time).",
            value=m.started_at,
        )

        requests = CounterMetricFamily(
            "redline_http_requests",
            "Requests answered, by vendor API, route and status.",
            labels=["vendor", "route", "status"],
        )
        for key, count in sorted(counters.requests.items()):
            route, _, status = key.partition(" ")
            requests.add_metric([VENDOR, route, status], count)
        for labels, count in sorted(m.other_requests.items()):
            requests.add_metric(list(labels), count)
        yield requests

        received = counters.received
        kept = counters.accepted
        dropped = counters.dropped
        by_vendor = CounterMetricFamily(
            "redline_events_received",
            "Records received from clients, valid or not, by vendor API.",
            labels=["vendor"],
        )
        # every vendor API is listed, at zero until its first record
        for name in VENDORS:
            by_vendor.add_metric([name], counters.received_by_vendor.get(name, 0))
        yield by_vendor
        yield _counter(
            "redline_events_accepted",
            "Events the policy kept, queued for their destinations.",
            kept,
        )
        drops = CounterMetricFamily(
            "redline_events_dropped",
            "Records not kept: by the policy, or invalid (unreadable records, "
            "unknown ingest keys).",
            labels=["reason"],
        )
        drops.add_metric(["policy"], dropped)
        drops.add_metric(["invalid"], max(0, received - kept - dropped))
        yield drops
        sampled = sum(
            n for (action, _), n in counters.findings.items() if action == "sample"
        )
        yield _counter(
            "redline_events_sampled", "Events left out by policy sampling.", sampled
        )
        yield _counter(
            "redline_events_repeated",
            "Records a client sent again (same project and insert id as one "
            "accepted lately): answered as accepted, queued once.",
            counters.repeated,
        )
        yield _counter(
            "redline_events_aggregated",
            "Accepted events folded into aggregation windows by the policy "
            "(forwarded as summary events, not one by one).",
            counters.aggregated,
        )

        by_name = CounterMetricFamily(
            "redline_events_by_name",
            "Records received by event name (the first names seen; the rest "
            "count as 'other').",
            labels=["event"],
        )
        for name, count in sorted(m.events_by_name.items()):
            by_name.add_metric([name], count)
        yield by_name

        findings = CounterMetricFamily(
            "redline_findings",
            "Policy decisions, by detector ('none' when the policy alone "
            "decided) and action.",
            labels=["detector", "action"],
        )
        for (action, detector), count in sorted(
            counters.findings.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            findings.add_metric([detector or "none", action], count)
        yield findings

        by_prop = CounterMetricFamily(
            "redline_findings_by_property",
            "Policy decisions by event and property name (the first pairs "
            "seen; the rest count as 'other').",
            labels=["event", "property", "action", "detector"],
        )
        for prop_labels, count in sorted(m.findings_by_property.items()):
            by_prop.add_metric(list(prop_labels), count)
        yield by_prop

        yield from self._outbox(m)
        yield from self._forwarding(m)

        policy = gateway.engine.policy
        mode = policy_mode(policy)
        pinfo = GaugeMetricFamily(
            "redline_policy_info",
            "The policy in force: its sha256 and mode.",
            labels=["digest", "mode"],
        )
        pinfo.add_metric([str(getattr(policy, "digest", "")), mode], 1)
        yield pinfo
        yield GaugeMetricFamily(
            "redline_policy_report_mode",
            "1 while the policy only reports what it would remove.",
            value=1 if mode == "report" else 0,
        )
        ready = m.ready()
        yield GaugeMetricFamily(
            "redline_ready",
            "1 when the last readiness check passed.",
            value=1 if ready or ready is None else 0,
        )

    def _outbox(self, m: GatewayMetrics) -> Iterator[Metric]:
        outbox = m.gateway.outbox
        depth = getattr(outbox, "depth", None)
        sample = m.sample
        routes = list(sample.routes) if sample is not None else []
        if depth is None:
            depth = sum(r.depth for r in routes)
        yield GaugeMetricFamily(
            "redline_outbox_depth", "Events waiting in the outbox.", value=depth
        )
        capacity = getattr(outbox, "max_events", None)
        if capacity is not None:
            yield GaugeMetricFamily(
                "redline_outbox_capacity",
                "The most events the outbox holds before clients get 503.",
                value=capacity,
            )
        ages = [r.oldest_age_seconds for r in routes if r.oldest_age_seconds]
        oldest = max(ages, default=0.0)
        if sample is not None and oldest:
            oldest += max(0.0, time.time() - sample.taken_at)
        yield GaugeMetricFamily(
            "redline_outbox_oldest_age_seconds",
            "Age of the oldest event waiting (0 when none), sampled every second.",
            value=oldest,
        )
        queue = GaugeMetricFamily(
            "redline_destination_queue_depth",
            "Events waiting per destination route, sampled every second.",
            labels=["destination"],
        )
        age = GaugeMetricFamily(
            "redline_destination_oldest_age_seconds",
            "Age of the oldest waiting event per destination route.",
            labels=["destination"],
        )
        dead = GaugeMetricFamily(
            "redline_dead_letters",
            "Dead letters stored per destination route.",
            labels=["destination"],
        )
        seen = {r.route: r for r in routes}
        for route in sorted(set(seen) | set(m.destinations)):
            row = seen.get(route)
            queue.add_metric([route], row.depth if row else 0)
            age.add_metric([route], (row.oldest_age_seconds or 0.0) if row else 0.0)
            dead.add_metric([route], row.dead if row else 0)
        yield queue
        yield age
        yield dead

    def _forwarding(self, m: GatewayMetrics) -> Iterator[Metric]:
        stats = m.forwarder.stats if m.forwarder is not None else {}
        families: dict[str, tuple[CounterMetricFamily, str]] = {
            "delivered": (
                CounterMetricFamily(
                    "redline_events_forwarded",
                    "Events delivered to a destination.",
                    labels=["destination"],
                ),
                "delivered",
            ),
            "retried": (
                CounterMetricFamily(
                    "redline_forward_retries",
                    "Events scheduled for another attempt.",
                    labels=["destination"],
                ),
                "retried",
            ),
            "buried": (
                CounterMetricFamily(
                    "redline_forward_dead_letters",
                    "Events moved to the dead-letter table since start.",
                    labels=["destination"],
                ),
                "buried",
            ),
            "batches": (
                CounterMetricFamily(
                    "redline_forward_batches",
                    "Batches sent to a destination.",
                    labels=["destination"],
                ),
                "batches",
            ),
        }
        failures = CounterMetricFamily(
            "redline_forward_failures",
            "Batches a destination did not take whole.",
            labels=["destination"],
        )
        failing = GaugeMetricFamily(
            "redline_destination_consecutive_failures",
            "Failed sends in a row per destination route (0 after a success).",
            labels=["destination"],
        )
        for route in sorted(stats):
            row = stats[route]
            for family, field in families.values():
                family.add_metric([route], getattr(row, field))
            timed = m.destinations.get(route)
            failures.add_metric([route], timed.failures if timed else 0)
            failing.add_metric([route], timed.consecutive_failures if timed else 0)
        for family, _ in families.values():
            yield family
        yield failures
        yield failing


def _counter(name: str, documentation: str, value: float, **labels: Any) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    family.add_metric([str(v) for v in labels.values()], value)
    return family
