"""docs/audit.md describes the JSON report that is actually written: its
table of keys names every field of the shipped JSON Schema and no other,
and the schema's kinds and categories are the ones the audit reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from redline.audit._kinds import CATEGORIES, KINDS
from redline.audit.report import report_schema

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
# backticked words in the table that are values, not field names
VALUES = {"hour", "day"}
_ROW = re.compile(r"^\| `([a-z_]+)` \| (.+) \|$", re.MULTILINE)
_NAME = re.compile(r"`([a-z_]+)`")


def _names(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    """Every property name below ``schema``, following ``$ref`` and items."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    names: set[str] = set()
    for name, inner in schema.get("properties", {}).items():
        names.add(name)
        names |= _names(inner, root)
    if isinstance(schema.get("items"), dict):
        names |= _names(schema["items"], root)
    for key in ("additionalProperties",):
        if isinstance(schema.get(key), dict):
            names |= _names(schema[key], root)
    return names


def test_the_table_of_keys_matches_the_schema() -> None:
    schema = report_schema()
    rows = dict(_ROW.findall(DOCS.read_text()))

    assert set(rows) == set(schema["properties"])
    for key, text in rows.items():
        documented = set(_NAME.findall(text)) - VALUES
        expected = _names(schema["properties"][key], schema)
        assert documented == expected, key


def test_schema_categories_and_kinds_are_the_audits() -> None:
    schema = report_schema()["$defs"]

    assert schema["category"]["enum"] == list(CATEGORIES)
    described = set(re.findall(r"[A-Z][A-Z_]+", schema["kind"]["description"]))
    assert described == set(KINDS)
    text = DOCS.read_text()
    assert all(f"`{kind}`" in text for kind in KINDS)
