"""The public face of redline.destinations, pinned."""

from __future__ import annotations

import inspect

import redline.destinations as destinations


def test_public_names() -> None:
    assert sorted(destinations.__all__) == [
        "DeliveryCounters",
        "Destination",
        "Forwarder",
        "LocalStore",
        "LocalStoreDestination",
        "MixpanelDestination",
        "PartialDelivery",
        "STORE_FILENAME",
        "StoreWriter",
        "build_destinations",
    ]
    for name in destinations.__all__:
        assert getattr(destinations, name) is not None


def test_signatures() -> None:
    def sig(obj: object) -> str:
        return str(inspect.signature(obj))  # type: ignore[arg-type]

    assert sig(destinations.Forwarder) == (
        "(outbox: 'Outbox', destinations: 'Mapping[str, Destination]', *, "
        "retry_initial: 'float' = 2.0, retry_max: 'float' = 60.0, "
        "max_attempts: 'int' = 20, rng: 'random.Random | None' = None, "
        "poll_interval: 'float' = 0.5) -> 'None'"
    )
    assert sig(destinations.Forwarder.stop) == "(self, deadline: 'float') -> 'None'"
    assert sig(destinations.build_destinations) == (
        "(config: 'Config', store: 'LocalStore | StoreWriter') "
        "-> 'dict[str, Destination]'"
    )
    assert sig(destinations.MixpanelDestination) == (
        "(upstream: 'Upstream', client: 'httpx.AsyncClient | None' = None) -> 'None'"
    )
    assert sig(destinations.LocalStoreDestination) == (
        "(store: 'LocalStore | StoreWriter', project: 'str', *, "
        "max_batch: 'int' = 500, "
        "linger: 'float' = 0.0) -> 'None'"
    )
    assert sig(destinations.LocalStore.query) == (
        "(self, project: 'str | None' = None, name: 'str | None' = None, "
        "since: 'TimeBound' = None, until: 'TimeBound' = None, "
        "distinct_id: 'str | None' = None, limit: 'int' = 100, "
        "order: \"Literal['asc', 'desc']\" = 'desc', *, "
        "kind: 'Kind | str | None' = None) -> 'list[dict[str, Any]]'"
    )
