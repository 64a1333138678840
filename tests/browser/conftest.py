"""One headless Chromium and one static site for all the browser tests.

The browser is Debian's /usr/bin/chromium driven by the Python playwright
package (no ``playwright install``: there are no browser downloads here).
Package scope, not session scope: Playwright's sync API keeps an event loop
marked as running while it is open, which the asyncio tests elsewhere in
the suite would trip over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._site import Site, missing_bundles

CHROMIUM = Path("/usr/bin/chromium")
# as root, without the network: no sandbox, and nothing that phones home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            "headless Chromium is not installed at /usr/bin/chromium "
            "(apt-get install chromium); .ci/run installs it"
        )
    missing = missing_bundles()
    if missing:
        pytest.fail(
            f"the browser SDKs are not installed ({', '.join(missing)} missing): "
            "run `npm ci` at the repository root (`make test` does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="package")
def site() -> Iterator[Site]:
    with Site() as served:
        yield served


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the deadline."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
