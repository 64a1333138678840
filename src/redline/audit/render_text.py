"""The terminal summary: the answer in one screen.

Renders the report dict (never the partial), so it can only show what the
JSON report shows: names with detected data redacted, counts and masked
shapes.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["render_summary"]

_TOP = 10
_TIER_STYLE = {1: "bold red", 2: "red", 3: "yellow", 4: "cyan"}


def render_summary(report: dict[str, Any], console: Console) -> None:
    """Print the summary of ``report`` to ``console``."""
    events = report["events"]
    radius = report["blast_radius"]
    span = report["time_range"]
    source = report["input"]
    console.print(
        Text.assemble(
            ("Audit: ", "bold"),
            f"{events['total']:,} events, {events['names']:,} event names, "
            f"{source['files']:,} files ({_size(source['bytes'])}) read in "
            f"{source['seconds']:.1f}s; from {_day(span['first'])} to "
            f"{_day(span['last'])}",
        )
    )
    approx = "" if radius["people_exact"] else "about "
    console.print(
        Text.assemble(
            ("People affected: ", "bold"),
            (
                f"{approx}{radius['people']:,}",
                "bold red" if radius["people"] else "green",
            ),
            f" ({radius['people_excluding_quasi_identifiers']:,} beyond IP addresses "
            f"and user agents), in {radius['events']:,} events",
        )
    )
    if radius["by_kind"]:
        console.print(_blast_table(radius["by_kind"]))
    else:
        console.print("[green]No personal data or secrets found.[/green]")
    if report["risk_ranking"]:
        console.print(_ranking_table(report["risk_ranking"]))
    malformed = report["malformed"]
    if malformed["total"]:
        where = ", ".join(e["source"] for e in malformed["examples"][:3])
        more = " ..." if malformed["total"] > 3 else ""
        console.print(
            f"[yellow]{malformed['total']:,} malformed lines skipped[/yellow] "
            f"(first: {where}{more})"
        )
    else:
        console.print("No malformed lines.")


def _blast_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Blast radius by kind of data", title_justify="left")
    for name, justify in (
        ("kind", "left"),
        ("people", "right"),
        ("events", "right"),
        ("first seen", "left"),
        ("last seen", "left"),
        ("carried by", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        carriers = row["carriers"]
        shown = ", ".join(f"{c['event']}.{c['property']}" for c in carriers[:3])
        if len(carriers) > 3:
            shown += f" +{len(carriers) - 3}"
        approx = "" if row["people_exact"] else "~"
        table.add_row(
            Text(row["label"], style=_TIER_STYLE.get(row["tier"], "")),
            f"{approx}{row['people']:,}",
            f"{row['events']:,}",
            _day(row["first_seen"]),
            _day(row["last_seen"]),
            Text(shown),
        )
    return table


def _ranking_table(rows: list[dict[str, Any]]) -> Table:
    title = "Riskiest properties"
    if len(rows) > _TOP:
        title += f" (top {_TOP} of {len(rows)}; all in --json and --html)"
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("#", "right"),
        ("event", "left"),
        ("property", "left"),
        ("kinds", "left"),
        ("events", "right"),
        ("people", "right"),
        ("suggest", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows[:_TOP]:
        table.add_row(
            str(row["rank"]),
            Text(row["event"]),
            Text(row["property"]),
            Text(", ".join(row["kinds"]), style=_TIER_STYLE.get(row["tier"], "")),
            f"{row['events']:,}",
            f"{row['people']:,}",
            row["suggested_action"],
        )
    return table


def _day(moment: str | None) -> str:
    return "?" if moment is None else moment[:16].replace("T", " ")


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"
