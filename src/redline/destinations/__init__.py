"""Where sanitised events go: the local store, the vendors, and the forwarder.

The forwarder leases records from the outbox per route and hands them to the
route's :class:`Destination`; :func:`build_destinations` makes one
destination per project and upstream of the configuration.

Names are imported on first use, so that the local store's writer process
(:mod:`redline.destinations._store_process`) starts without loading the
HTTP clients of the vendors' destinations.
"""

from __future__ import annotations

from .._lazy import exports

_EXPORTS = {
    "STORE_FILENAME": "redline.destinations.local",
    "DeliveryCounters": "redline.destinations.forwarder",
    "Destination": "redline.destinations._base",
    "Forwarder": "redline.destinations.forwarder",
    "LocalStore": "redline.destinations.local",
    "LocalStoreDestination": "redline.destinations.local",
    "MixpanelDestination": "redline.destinations.mixpanel",
    "PartialDelivery": "redline.destinations._partial",
    "StoreWriter": "redline.destinations._store_process",
    "build_destinations": "redline.destinations.forwarder",
}

__all__ = sorted(_EXPORTS)


__getattr__ = exports("redline.destinations", _EXPORTS)
