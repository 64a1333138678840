"""A keep-everything engine, and the policy under which decode, sanitise
and encode must give back what came in."""

from __future__ import annotations

from redline.engine import Engine, Hasher, Result
from redline.events import Event
from redline.gateway.app import _apply_person
from redline.policy import parse_policy
from redline.sensitive import Sensitive

KEEP_EVERYTHING = """
version: 1
defaults:
  unknown_events: keep
  unknown_properties: keep
  detect: []
  client_ip: keep
"""


def keep_engine() -> Engine:
    return Engine(
        parse_policy(KEEP_EVERYTHING, "keep.yaml"),
        Hasher("k", Sensitive("keep-everything-test-key-0000000")),
    )


def kept(engine: Engine, events: list[Event]) -> list[Event]:
    """Each event through the engine as the gateway applies it (person
    operations by the profile rules); none may be changed or dropped."""
    results: list[Result] = [_apply_person(engine, event) for event in events]
    assert all(result.findings == [] for result in results)
    clean = [result.event for result in results]
    assert all(event is not None for event in clean)
    return clean  # type: ignore[return-value]
