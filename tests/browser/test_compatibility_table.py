"""The README's SDK compatibility table says what the tests ran: each
version is the one installed (package-lock.json for npm, the environment
for PyPI), every browser SDK the project installs has a row, and each row
names a test that drives that SDK."""

from __future__ import annotations

import json
import re
from importlib import metadata

import pytest

from ._site import BUNDLES, NODE_MODULES, PAGES, REPO, ROUTES, locked_version

README = REPO / "README.md"
HEADING = "## SDK compatibility"
COLUMNS = [
    "SDK",
    "registry",
    "version tested",
    "what works",
    "what does not",
    "shown by",
]
# what a test that drives each SDK must contain: the page that loads the
# browser SDK's bundle, or the import of the Python SDK
LOADED_AS = {
    "mixpanel-browser": "/mixpanel/reset",
    "posthog-js": "/posthog/reset",
    "mixpanel (Python)": "from mixpanel import",
    "posthog (Python)": "from posthog import",
    "segment-analytics-python": "segment.analytics",
    "amplitude-analytics": "from amplitude import",
}


def _rows() -> list[dict[str, str]]:
    text = README.read_text()
    assert HEADING in text, f"README.md has no '{HEADING}' section"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == len(COLUMNS), line
        rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def _package(row: dict[str, str]) -> str:
    return row["SDK"].removesuffix(" (Python)")


def test_the_table_has_a_row_per_sdk_with_every_column_filled() -> None:
    rows = _rows()
    assert rows
    for row in rows:
        assert all(row.values()), row
        assert row["registry"] in ("npm", "PyPI"), row
        assert row["SDK"] in LOADED_AS, f"{row['SDK']}: how do the tests load it?"
    names = [row["SDK"] for row in rows]
    assert len(names) == len(set(names))


def test_every_browser_sdk_the_project_installs_has_a_row() -> None:
    package = json.loads((REPO / "package.json").read_text())
    npm_rows = {_package(r) for r in _rows() if r["registry"] == "npm"}
    assert set(package["devDependencies"]) == npm_rows


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["SDK"])
def test_the_version_is_the_one_the_tests_run(row: dict[str, str]) -> None:
    name = _package(row)
    if row["registry"] == "npm":
        pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]
        assert row["version tested"] == pinned[name] == locked_version(name)
        installed = NODE_MODULES / name / "package.json"
        if installed.exists():  # `npm ci` has run (make test runs it)
            assert json.loads(installed.read_text())["version"] == pinned[name]
    else:
        assert row["version tested"] == metadata.version(name)


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["SDK"])
def test_each_row_names_a_test_that_drives_the_sdk(row: dict[str, str]) -> None:
    paths = re.findall(r"`([^`]+\.py)`", row["shown by"])
    assert paths, f"{row['SDK']}: no test named"
    for path in paths:
        source = (REPO / path).read_text()
        assert LOADED_AS[row["SDK"]] in source, f"{path} does not load {row['SDK']}"


def test_each_browser_page_loads_its_sdk_bundle() -> None:
    for route, page in ROUTES.items():
        sdk = route.strip("/").split("/")[0]
        if page == "leave.html":
            continue
        bundle = {"mixpanel": "mixpanel-browser", "posthog": "posthog-js"}[sdk]
        assert f'src="/sdk/{bundle}.js"' in (PAGES / page).read_text()
        assert BUNDLES[f"/sdk/{bundle}.js"].startswith(f"{bundle}/dist/")
