"""Counting findings for the audit log's summaries.

A summary row is (event, property, action, detector) and a count. Names
appear only when the policy lists them: a name the policy does not know
was chosen by a client and may hold anything (an email address as a
property name, a secret as an event name), so it is counted under
``(unlisted)``. Values never appear; findings carry none.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Finding
    from ..policy import CompiledPolicy
    from ..policy._compile import Rule, Ruleset

# distinct rows one summary names; the rest are added up per action and
# detector in rows named ``OTHER``
MAX_ROWS = 500
OTHER = "(other)"
UNLISTED = "(unlisted)"

# names the engine itself writes in findings, whatever the policy says
_ENGINE_PATHS = frozenset({"", "$ip", "$insert_id", "distinct_id", "time"})
_SYNTHETIC_EVENTS = frozenset({"$profile", "$group"})
# Mixpanel's profile and group operations, the first part of their paths
_OPS = frozenset(
    {"$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete"}
)


def summary_rows(
    findings: Counter[Finding], policy: CompiledPolicy
) -> list[dict[str, Any]]:
    """Rows of counts, largest first, at most ``MAX_ROWS`` named."""
    rows: Counter[tuple[str, str, str, str]] = Counter()
    for finding, count in findings.items():
        event, path = _names(finding, policy)
        rows[(event, path, finding.action, finding.detector or "")] += count
    ordered = sorted(rows.items(), key=lambda item: (-item[1], item[0]))
    named, rest = ordered[:MAX_ROWS], ordered[MAX_ROWS:]
    others: Counter[tuple[str, str]] = Counter()
    for (_, _, action, detector), count in rest:
        others[(action, detector)] += count
    out = [_row(*key, count) for key, count in named]
    out.extend(_row(OTHER, OTHER, a, d, n) for (a, d), n in sorted(others.items()))
    return out


def _names(finding: Finding, policy: CompiledPolicy) -> tuple[str, str]:
    rules = _ruleset(finding.event, policy)
    if rules is None:
        return UNLISTED, finding.path if finding.path in _ENGINE_PATHS else UNLISTED
    path = finding.path
    if path in _ENGINE_PATHS or _listed(
        path, rules, finding.event in _SYNTHETIC_EVENTS
    ):
        return finding.event, path
    return finding.event, UNLISTED


def _ruleset(event: str, policy: CompiledPolicy) -> Ruleset | None:
    if event == "$profile":
        return policy.profiles
    if event == "$group":
        return policy.groups
    rules = policy.rules_for(event)
    return rules if rules.known else None


def _listed(path: str, rules: Ruleset, profile: bool) -> bool:
    """Whether every part of ``path`` is named by the rules."""
    parts = path.split(".")
    if profile and parts[0] in _OPS:
        parts = parts[1:]
    properties: Any = rules.properties
    for part in parts:
        listed = part.endswith("[]")
        name = part[:-2] if listed else part
        if not properties or name not in properties:
            return False
        rule: Rule | None = properties[name]
        if listed:
            rule = rule.items if rule is not None else None
        if rule is None:
            return False
        properties = rule.properties
    return bool(parts)


def _row(
    event: str, path: str, action: str, detector: str, count: int
) -> dict[str, Any]:
    row: dict[str, Any] = {"event": event, "property": path, "action": action}
    if detector:
        row["detector"] = detector
    row["count"] = count
    return row
