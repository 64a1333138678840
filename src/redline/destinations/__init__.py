"""Where sanitised events go: the local store, Mixpanel, and the forwarder.

The forwarder leases records from the outbox per route and hands them to the
route's :class:`Destination`; :func:`build_destinations` makes one
destination per project and upstream of the configuration.
"""

from ._base import Destination
from ._partial import PartialDelivery
from .forwarder import DeliveryCounters, Forwarder, build_destinations
from .local import STORE_FILENAME, LocalStore, LocalStoreDestination
from .mixpanel import MixpanelDestination

__all__ = [
    "STORE_FILENAME",
    "DeliveryCounters",
    "Destination",
    "Forwarder",
    "LocalStore",
    "LocalStoreDestination",
    "MixpanelDestination",
    "PartialDelivery",
    "build_destinations",
]
