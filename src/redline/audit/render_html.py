# ruff: noqa: E501  (HTML and SVG markup reads best one element a line)
"""The HTML report: one self-contained file, inline CSS and SVG charts.

It renders the report dict only, escapes every string, and loads nothing
from anywhere: no scripts, fonts or images from outside the file, so it
can be mailed to a privacy team or opened offline.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

__all__ = ["render_html"]

_COLOURS = {
    1: "#b91c1c",
    2: "#ea580c",
    3: "#ca8a04",
    4: "#0e7490",
}
_PALETTE = [
    "#b91c1c",
    "#ea580c",
    "#ca8a04",
    "#0e7490",
    "#7c3aed",
    "#15803d",
    "#be185d",
    "#475569",
]
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#111827;background:#f8fafc}
header{background:#111827;color:#f9fafb;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1 1 160px;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;background:#f9fafb}
.card b{display:block;font-size:24px}
.bad b{color:#b91c1c}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f3f4f6}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.tier1{color:#b91c1c;font-weight:600}.tier2{color:#ea580c}.tier3{color:#a16207}.tier4{color:#0e7490}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px}
.muted{color:#6b7280}
details{margin:4px 0}
summary{cursor:pointer}
code{font-size:12px;background:#f3f4f6;padding:0 3px;border-radius:3px}
figure{margin:0;min-width:0}svg{max-width:100%;height:auto}
"""


def render_html(report: dict[str, Any]) -> str:
    """The whole HTML document for ``report``."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        "<title>Redline audit report</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(report),
        "<main>",
        _summary(report),
        _charts(report),
        _blast(report),
        _ranking(report),
        _inventory(report),
        _malformed(report),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _header(report: dict[str, Any]) -> str:
    span = report["time_range"]
    return (
        "<header><h1>Redline audit report</h1>"
        f"<div>Data from {_e(_day(span['first']))} to {_e(_day(span['last']))}; "
        f"generated {_e(report['generated_at'])}</div></header>"
    )


def _summary(report: dict[str, Any]) -> str:
    radius = report["blast_radius"]
    events = report["events"]
    source = report["input"]
    approx = "" if radius["people_exact"] else "~"
    cards = [
        ("People affected", f"{approx}{radius['people']:,}", radius["people"] > 0),
        (
            "Beyond IP and user agent",
            f"{radius['people_excluding_quasi_identifiers']:,}",
            radius["people_excluding_quasi_identifiers"] > 0,
        ),
        (
            "Events with findings",
            f"{radius['events']:,} of {events['total']:,}",
            radius["events"] > 0,
        ),
        ("Kinds of data", str(len(radius["by_kind"])), bool(radius["by_kind"])),
        ("Event names", f"{events['names']:,}", False),
        ("Files read", f"{source['files']:,} ({source['bytes'] / 1e6:,.1f} MB)", False),
        (
            "Malformed lines",
            f"{report['malformed']['total']:,}",
            report["malformed"]["total"] > 0,
        ),
    ]
    body = "".join(
        f"<div class='card{' bad' if bad else ''}'><span class='muted'>{_e(title)}</span><b>{_e(value)}</b></div>"
        for title, value, bad in cards
    )
    return f"<section id='summary'><h2>Summary</h2><div class='cards'>{body}</div></section>"


def _charts(report: dict[str, Any]) -> str:
    by_kind = [
        (row["label"], row["people"], _COLOURS.get(row["tier"], "#475569"))
        for row in report["blast_radius"]["by_kind"]
    ]
    per_event: Counter[str] = Counter()
    for row in report["risk_ranking"]:
        per_event[row["event"]] += row["events"]
    by_event = [(name, count, "#0e7490") for name, count in per_event.most_common(12)]
    return (
        "<section id='charts'><h2>Charts</h2><div class='charts'>"
        f"<figure id='chart-kinds'><figcaption>People affected by kind of data</figcaption>{_bars(by_kind)}</figure>"
        f"<figure id='chart-events'><figcaption>Findings by event (property values with findings)</figcaption>{_bars(by_event)}</figure>"
        f"<figure id='chart-time'><figcaption>Events with findings over time (per {_e(report['timeline']['bucket'])})</figcaption>{_timeline(report['timeline'])}</figure>"
        "</div></section>"
    )


def _bars(items: list[tuple[str, int, str]]) -> str:
    if not items:
        return "<p class='muted'>Nothing found.</p>"
    width, label_w, row_h = 420, 150, 22
    top = max(value for _, value, _ in items) or 1
    height = row_h * len(items) + 6
    rows = []
    for index, (label, value, colour) in enumerate(items):
        y = index * row_h + 3
        bar = max(2.0, (width - label_w - 60) * value / top)
        short = label if len(label) <= 22 else label[:21] + "…"
        rows.append(
            f"<text x='{label_w - 6}' y='{y + 14}' text-anchor='end' font-size='12'>{_e(short)}</text>"
            f"<rect x='{label_w}' y='{y + 3}' width='{bar:.1f}' height='{row_h - 6}' fill='{colour}' rx='2'><title>{_e(label)}: {value:,}</title></rect>"
            f"<text x='{label_w + bar + 4:.1f}' y='{y + 14}' font-size='12'>{value:,}</text>"
        )
    return (
        f"<svg role='img' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"xmlns='http://www.w3.org/2000/svg'>{''.join(rows)}</svg>"
    )


def _timeline(timeline: dict[str, Any]) -> str:
    series = timeline["series"]
    if not series:
        return "<p class='muted'>No findings with a time.</p>"
    kinds = sorted({kind for bucket in series for kind in bucket["counts"]})
    colour = {kind: _PALETTE[i % len(_PALETTE)] for i, kind in enumerate(kinds)}
    width, height, pad = 420, 200, 28
    top = max(sum(b["counts"].values()) for b in series) or 1
    step = (width - pad) / len(series)
    bars = []
    for index, bucket in enumerate(series):
        x = pad + index * step
        y = height - pad
        for kind in kinds:
            count = bucket["counts"].get(kind, 0)
            if not count:
                continue
            h = (height - 2 * pad) * count / top
            y -= h
            bars.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(step - 1, 1):.1f}' height='{h:.1f}' fill='{colour[kind]}'>"
                f"<title>{_e(bucket['start'])} {_e(kind)}: {count:,}</title></rect>"
            )
    axis = (
        f"<line x1='{pad}' y1='{height - pad}' x2='{width}' y2='{height - pad}' stroke='#9ca3af'/>"
        f"<text x='{pad}' y='{height - 8}' font-size='11'>{_e(_day(series[0]['start']))}</text>"
        f"<text x='{width}' y='{height - 8}' font-size='11' text-anchor='end'>{_e(_day(series[-1]['start']))}</text>"
        f"<text x='2' y='{pad - 6}' font-size='11'>{top:,}</text>"
    )
    legend = "".join(
        f"<rect x='{pad + i * 100}' y='4' width='10' height='10' fill='{colour[k]}'/>"
        f"<text x='{pad + i * 100 + 14}' y='13' font-size='11'>{_e(k)}</text>"
        for i, k in enumerate(kinds[:4])
    )
    return (
        f"<svg role='img' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"xmlns='http://www.w3.org/2000/svg'>{legend}{''.join(bars)}{axis}</svg>"
    )


def _blast(report: dict[str, Any]) -> str:
    rows = []
    for row in report["blast_radius"]["by_kind"]:
        carriers = "<br>".join(
            f"<code>{_e(c['event'])}</code> . <code>{_e(c['property'])}</code> "
            f"<span class='muted'>({c['events']:,} events, {c['people']:,} people)</span>"
            for c in row["carriers"]
        )
        approx = "" if row["people_exact"] else "~"
        rows.append(
            f"<tr><td class='tier{row['tier']}'>{_e(row['label'])}</td><td>{_e(row['category'])}</td>"
            f"<td class='n'>{approx}{row['people']:,}</td><td class='n'>{row['events']:,}</td>"
            f"<td>{_e(_day(row['first_seen']))}</td><td>{_e(_day(row['last_seen']))}</td><td>{carriers}</td></tr>"
        )
    if not rows:
        return "<section id='blast-radius'><h2>Blast radius</h2><p>No personal data or secrets found.</p></section>"
    return (
        "<section id='blast-radius'><h2>Blast radius</h2><table><thead><tr><th>Kind of data</th><th>Category</th>"
        "<th>People</th><th>Events</th><th>First seen</th><th>Last seen</th><th>Carried by (event . property)</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _ranking(report: dict[str, Any]) -> str:
    rows = [
        f"<tr><td class='n'>{row['rank']}</td><td><code>{_e(row['event'])}</code></td>"
        f"<td><code>{_e(row['property'])}</code></td><td class='tier{row['tier']}'>{_e(', '.join(row['kinds']))}</td>"
        f"<td class='n'>{row['events']:,}</td><td class='n'>{row['people']:,}</td><td>{_e(row['suggested_action'])}</td></tr>"
        for row in report["risk_ranking"]
    ]
    if not rows:
        return "<section id='risk-ranking'><h2>Risk ranking</h2><p>No property carried findings.</p></section>"
    return (
        "<section id='risk-ranking'><h2>Risk ranking</h2><table><thead><tr><th>#</th><th>Event</th><th>Property</th>"
        "<th>Kinds</th><th>Events</th><th>People</th><th>Suggested action</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _inventory(report: dict[str, Any]) -> str:
    blocks = []
    for event in report["inventory"]:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td class='n'>{p['fill_rate'] * 100:.1f}%</td>"
            f"<td>{_e(', '.join(f'{t} {n:,}' for t, n in p['types'].items()))}</td>"
            f"<td class='n'>{p['distinct_estimate']:,}</td>"
            f"<td>{'<br>'.join(f'<code>{_e(s)}</code>' for s in p['examples'])}</td>"
            f"<td>{_e(', '.join(p['kinds']))}</td><td>{_e(p['suggested_action'])}</td></tr>"
            for p in event["properties"]
        )
        blocks.append(
            f"<details><summary><code>{_e(event['event'])}</code> "
            f"<span class='muted'>{event['events']:,} events, {len(event['properties'])} properties</span></summary>"
            "<table><thead><tr><th>Property</th><th>Fill</th><th>Types</th><th>Distinct (est.)</th>"
            "<th>Example shapes</th><th>Findings</th><th>Suggested</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>"
        )
    return f"<section id='inventory'><h2>Inventory</h2>{''.join(blocks)}</section>"


def _malformed(report: dict[str, Any]) -> str:
    malformed = report["malformed"]
    if not malformed["total"]:
        return "<section id='malformed'><h2>Malformed input</h2><p>None.</p></section>"
    items = "".join(
        f"<li><code>{_e(e['source'])}</code>: {_e(e['reason'])}</li>"
        for e in malformed["examples"]
    )
    more = malformed["total"] - len(malformed["examples"])
    tail = f"<p class='muted'>and {more:,} more</p>" if more > 0 else ""
    return (
        f"<section id='malformed'><h2>Malformed input ({malformed['total']:,} lines skipped)</h2>"
        f"<ul>{items}</ul>{tail}</section>"
    )


def _day(moment: str | None) -> str:
    return "?" if moment is None else moment[:16].replace("T", " ")
