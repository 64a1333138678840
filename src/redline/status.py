"""``redline status``: a running gateway's status in the terminal.

Reads the dashboard's JSON API (``/ui/api/status``) and draws the same
picture with rich tables: readiness, the policy in force, events in and
out, findings, and each destination's queue, retries and dead letters.
"""

from __future__ import annotations

from typing import Any

import httpx
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .errors import RedlineError

__all__ = ["StatusUnavailable", "fetch_status", "render_status"]

STATUS_PATH = "/ui/api/status"


class StatusUnavailable(RedlineError):
    """The gateway's status could not be read."""


def fetch_status(
    url: str, token: str | None = None, timeout: float = 5.0
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            url.rstrip("/") + STATUS_PATH, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise StatusUnavailable(
            f"cannot reach the gateway at {url} ({type(exc).__name__})"
        ) from None
    if response.status_code == 401 and token:
        raise StatusUnavailable(
            "the dashboard token was refused: check that server.ui_token in the "
            "config (or the variable given to --token-env) holds the token the "
            "gateway was started with"
        )
    if response.status_code == 401:
        raise StatusUnavailable(
            "the gateway wants its dashboard token: set server.ui_token in the "
            "config or pass --token-env VARIABLE"
        )
    if response.status_code != 200:
        raise StatusUnavailable(
            f"the gateway answered {response.status_code} for {STATUS_PATH}"
        )
    try:
        body = response.json()
    except ValueError:
        raise StatusUnavailable("the gateway's status is not JSON") from None
    if not isinstance(body, dict):
        raise StatusUnavailable("the gateway's status is not a JSON object")
    return body


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _age(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def render_status(status: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    policy = status.get("policy", {})
    mode = str(policy.get("mode", ""))
    if mode == "report":
        console.print(
            Panel(
                Text(
                    "REPORT MODE: the policy reports what it would remove "
                    "instead of removing it. Do not leave it on.",
                    style="bold yellow",
                ),
                border_style="yellow",
            )
        )
    ready = bool(status.get("ready"))
    head = Text()
    head.append(
        "ready" if ready else "NOT READY", "bold green" if ready else "bold red"
    )
    head.append(
        f"   policy {str(policy.get('digest', ''))[:12]} ({mode})"
        f"   version {status.get('version', '?')}"
        f"   up {_age(status.get('uptime_seconds'))}"
    )
    checks = Table(show_header=False, box=None, padding=(0, 2))
    for check in status.get("checks", []):
        verdict = (
            Text("ok", "green")
            if check.get("ok")
            else Text(str(check.get("reason")), "red")
        )
        checks.add_row(str(check.get("name")), verdict)
    console.print(Panel(Group(head, checks), title="Redline"))

    totals = status.get("totals", {})
    outbox = status.get("outbox", {})
    series = status.get("series", [])
    rate_in = series[-1]["in"] if series else 0
    rate_out = series[-1]["out"] if series else 0
    events = Table(title="Events (since start)")
    for column in (
        "received",
        "kept",
        "dropped",
        "invalid",
        "sent",
        "in/s",
        "out/s",
        "queued",
        "oldest",
    ):
        events.add_column(column, justify="right")
    events.add_row(
        _n(totals.get("received", 0)),
        _n(totals.get("accepted", 0)),
        _n(totals.get("dropped", 0)),
        _n(totals.get("invalid", 0)),
        _n(totals.get("forwarded", 0)),
        f"{rate_in:,.1f}",
        f"{rate_out:,.1f}",
        _n(outbox.get("depth", 0)),
        _age(outbox.get("oldest_age_seconds")),
    )
    console.print(events)

    findings = status.get("findings", {})
    by_type = Table(title="Findings by type")
    by_type.add_column("action")
    by_type.add_column("detector")
    by_type.add_column("count", justify="right")
    for row in findings.get("by_type", []):
        by_type.add_row(str(row["action"]), str(row["detector"]), _n(row["count"]))
    by_prop = Table(title="Findings by property (top)")
    for column in ("event", "property", "action", "detector"):
        by_prop.add_column(column)
    by_prop.add_column("count", justify="right")
    for row in findings.get("by_property", []):
        by_prop.add_row(
            str(row["event"]),
            str(row["property"]) or "(event)",
            str(row["action"]),
            str(row["detector"]),
            _n(row["count"]),
        )
    console.print(by_type)
    console.print(by_prop)

    dests = Table(title="Destinations")
    dests.add_column("route", no_wrap=True)
    dests.add_column("type", no_wrap=True)
    for column in ("queue", "oldest", "sent", "retries", "dead"):
        dests.add_column(column, justify="right")
    dests.add_column("state")
    reasons = Table(title="Dead-letter reasons")
    reasons.add_column("route", no_wrap=True)
    reasons.add_column("count", justify="right")
    reasons.add_column("reason")
    for row in status.get("destinations", []):
        failing = bool(row.get("consecutive_failures"))
        dests.add_row(
            str(row["route"]),
            str(row.get("type", "")),
            _n(row.get("queue", 0)),
            _age(row.get("oldest_age_seconds")),
            _n(row.get("delivered", 0)),
            _n(row.get("retried", 0)),
            _n(row.get("dead_letters", 0)),
            Text(f"failing: {row.get('last_error') or 'error'}", "red")
            if failing
            else Text("ok", "green"),
        )
        for reason in row.get("dead_letter_reasons", []):
            reasons.add_row(
                str(row["route"]), _n(reason["count"]), str(reason["reason"])
            )
    console.print(dests)
    if reasons.row_count:
        console.print(reasons)
