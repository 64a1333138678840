"""Records a client sends again are forwarded once.

Browser SDKs send some records twice by design: mixpanel-browser keeps the
events it sent by ``sendBeacon`` as a page unloaded (a beacon reports
nothing back) and sends them again on the next load, trusting the vendor to
deduplicate by ``$insert_id``. A destination that does not (a local store,
another vendor, a warehouse) would count them twice, so the gateway
remembers the idempotency ids of the records it accepted lately and accepts
a repeat without queueing it again.

What is remembered is a 64-bit digest of (project, insert id) in memory
(Python's keyed string hash, its key drawn anew by each process), never
the id itself, for the last ``capacity`` records; the window does not
survive a restart (the vendor's own deduplication remains the net there).
A new id is taken for a repeat with odds of about 1 in 7 * 10^13 when the
window is full.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["RecentIds"]


class RecentIds:
    """The insert ids of the last ``capacity`` records accepted, per project.

    :meth:`claim` is called before a record is committed and reserves its
    id; :meth:`release` gives the ids of a commit that failed back, so the
    client's retry is not taken for a repeat.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: set[int] = set()
        self._order: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def claim(self, project: str, insert_id: str) -> int | None:
        """The record's key when it is new (now remembered), None when a
        record of the same project and insert id was accepted lately."""
        if self.capacity <= 0:
            return 0
        key = hash((project, insert_id))
        seen = self._seen
        if key in seen:
            return None
        seen.add(key)
        order = self._order
        order.append(key)
        if len(order) > self.capacity:
            seen.discard(order.popleft())
        return key

    def release(self, keys: Iterable[int]) -> None:
        """Forget ``keys`` (claimed for a commit that did not happen)."""
        for key in keys:
            self._seen.discard(key)
        # their places in the order stay until they age out: a key claimed
        # again meanwhile is then forgotten a little early, never kept long
