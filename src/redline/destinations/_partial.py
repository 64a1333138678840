"""A delivery error that reports which events of the batch did get through."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import DeliveryError


class PartialDelivery(DeliveryError):
    """Part of a batch was delivered, part was rejected, the rest failed.

    A destination that sends one batch in several requests (Mixpanel splits
    it by endpoint) raises this when a later request fails after earlier ones
    succeeded, so the forwarder does not send the delivered events twice.

    ``delivered`` holds batch indexes that arrived, ``rejected`` maps batch
    indexes to shape-only reasons (dead letters), and every other index
    failed as the flags say: retryable, ``permanent`` or ``too_large``.
    """

    def __init__(
        self,
        message: str,
        *,
        delivered: Iterable[int],
        rejected: dict[int, str] | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
        too_large: bool = False,
    ) -> None:
        super().__init__(
            message,
            permanent=permanent,
            retry_after=retry_after,
            too_large=too_large,
            rejected=rejected,
        )
        self.delivered = frozenset(delivered)
