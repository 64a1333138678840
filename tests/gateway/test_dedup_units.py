"""The gateway's memory of recently accepted insert ids."""

from __future__ import annotations

from redline.gateway._dedup import RecentIds


def test_a_repeat_is_refused_and_other_projects_are_apart() -> None:
    recent = RecentIds(capacity=10)
    assert recent.claim("shop", "e-1") is not None
    assert recent.claim("shop", "e-1") is None
    assert recent.claim("blog", "e-1") is not None  # same id, another project
    assert recent.claim("shop", "e-2") is not None
    assert len(recent) == 3


def test_the_window_holds_the_last_records_only() -> None:
    recent = RecentIds(capacity=3)
    for n in range(5):
        assert recent.claim("shop", f"e-{n}") is not None
    assert len(recent) == 3
    # the two oldest aged out: taken as new again; the newest still known
    assert recent.claim("shop", "e-0") is not None
    assert recent.claim("shop", "e-4") is None


def test_released_ids_are_taken_as_new() -> None:
    recent = RecentIds(capacity=10)
    keys = [recent.claim("shop", f"e-{n}") for n in range(3)]
    recent.release(k for k in keys if k is not None)
    assert all(recent.claim("shop", f"e-{n}") is not None for n in range(3))


def test_capacity_zero_remembers_nothing() -> None:
    recent = RecentIds(capacity=0)
    assert recent.claim("shop", "e-1") is not None
    assert recent.claim("shop", "e-1") is not None
    assert len(recent) == 0


def test_no_id_is_kept_in_the_clear() -> None:
    recent = RecentIds(capacity=10)
    recent.claim("shop", "jane.doe@example.com")
    held = [*recent._seen, *recent._order]
    assert all(isinstance(key, int) for key in held) and len(held) == 2
