"""The durable queue between the gateway and the forwarders."""

from ._base import DeadLetter, Entry, Leased, Outbox, RouteStats
from .sqlite import (
    OutboxUnavailable,
    SqliteOutbox,
    read_dead_letters,
    read_stats,
    replay_dead_letters,
)

__all__ = [
    "DeadLetter",
    "Entry",
    "Leased",
    "Outbox",
    "OutboxUnavailable",
    "RouteStats",
    "SqliteOutbox",
    "read_dead_letters",
    "read_stats",
    "replay_dead_letters",
]
