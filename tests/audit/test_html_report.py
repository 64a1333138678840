"""The HTML report in headless Chromium: self-contained, its main sections
visible, and a screenshot that shows something."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from redline.cli import main

from .exports import write_exports

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = (
    "#summary",
    "#charts",
    "#blast-radius",
    "#risk-ranking",
    "#inventory",
    "#malformed",
)


def _png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_html_report_shows_its_sections_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    truth = write_exports(tmp_path / "in", count=400, people=60, formats=["mixpanel"])
    html = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "audit",
            str(truth["mixpanel"].root),
            "--workers",
            "1",
            "--html",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            boxes = {}
            sections = {}
            for selector in SECTIONS:
                box = page.locator(selector).bounding_box()
                assert page.locator(selector).is_visible(), selector
                assert box is not None and box["height"] > 20, selector
                boxes[selector] = box
                # what the section looks like on screen, not only in the DOM
                sections[selector] = page.locator(selector).screenshot()
            for chart in ("#chart-kinds", "#chart-events", "#chart-time"):
                assert page.locator(f"{chart} svg rect").count() > 0, chart
            assert "Email addresses" in page.locator("#blast-radius").inner_text()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    # nothing was fetched but the file itself
    assert requests == [html.as_uri()]
    width, height, variety = _png_facts(shot.read_bytes())
    assert width >= 1280 and height > 1000
    assert variety > 100  # text, tables and coloured charts, not a blank page
    # every section lies inside the full-page screenshot, and its own
    # picture shows more than a blank box
    assert all(box["y"] + box["height"] <= height + 1 for box in boxes.values())
    for selector, picture in sections.items():
        section_width, section_height, section_variety = _png_facts(picture)
        assert section_width > 200 and section_height > 20, selector
        assert section_variety > 30, (selector, section_variety)
    assert _png_facts(sections["#charts"])[2] > 100  # coloured bars
