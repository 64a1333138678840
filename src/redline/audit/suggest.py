"""A policy suggested from what an audit saw.

The policy is an allowlist of the events and properties seen: properties
without findings are kept; identifiers (a property whose every finding was
a whole email or phone number, such as an email used as an id) are hashed;
user agents are generalised; web addresses (every value seen is an http or
https URL) are scrubbed by the ``url`` action, which keeps the address
without userinfo, fragment or query, and leaves what remains to the
engine's detection net; secrets, payment cards, free text, IP addresses and
anything else with findings are dropped. Events and properties whose
names held personal data or glob characters are left out, so the allowlist
drops them. Fields the engine handles itself (``time``, ``$insert_id``,
``token``, the client address) are not listed.
"""

from __future__ import annotations

import json
import re

from .partial import PSEUDO_NAMES, Partial, Property

__all__ = ["action_for", "suggest_policy"]

_ENGINE_FIELDS = frozenset({"time", "$time", "$insert_id", "token", "$token"})
_IDENTITY = frozenset({"distinct_id", "$distinct_id"})
_CLIENT_IP = frozenset({"ip", "$ip"})
_IDENTIFIER_KINDS = frozenset({"EMAIL", "PHONE"})
_PLAIN = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.\-]*")
_YAML_WORDS = frozenset(
    {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}
)
_GLOB = re.compile(r"[*?\[\]]")
# findings a web address can carry in its query, fragment or userinfo,
# which the url action removes, or in its path, which the net redacts
_URL_KINDS = frozenset(
    {"EMAIL", "PHONE", "API_KEY", "JWT", "CREDENTIAL",
     "IP_ADDRESS", "CREDIT_CARD", "IBAN", "US_SSN", "JP_MY_NUMBER"}
)  # fmt: skip


def action_for(prop: Property) -> str:
    """The suggested action for one property of one event."""
    kinds = set(prop.findings)
    if not kinds:
        return "keep"
    if kinds == {"USER_AGENT"}:
        return "user_agent"
    if _url_valued(prop):
        return "url"
    if kinds <= _IDENTIFIER_KINDS and all(
        finding.whole == finding.events for finding in prop.findings.values()
    ):
        return "hash"
    return "drop"


def suggest_policy(partial: Partial) -> str:
    """The suggested policy as YAML text with comments."""
    lines = [
        "# Suggested by `redline audit` from the data it read. Review it, then",
        "# check it with `redline policy check`. Properties seen without",
        "# findings are kept; identifiers are hashed; web addresses lose their",
        "# query, fragment and userinfo; secrets, free text and",
        "# IP addresses are dropped. Events and properties not named here",
        "# (including any whose name held personal data) are dropped.",
        "version: 1",
        "defaults:",
        "  unknown_events: drop",
        "  unknown_properties: drop",
    ]
    if _client_ip_found(partial):
        lines.append("  client_ip: drop          # IP addresses were found in ip/$ip")
    lines += [
        "# hash: {key_id: k1, key: {env: REDLINE_HASH_KEY}}   # name your key",
    ]
    if _identity_found(partial):
        lines += [
            "all_events:",
            "  properties:",
            "    distinct_id: hash        # distinct ids held personal data",
        ]
    events = [
        (name, stats)
        for name, stats in sorted(partial.by_event.items())
        if not _GLOB.search(name) and name and name not in PSEUDO_NAMES
    ]
    if events:
        lines.append("events:")
    for name, stats in events:
        rules = []
        for prop_name, prop in sorted(stats.properties.items()):
            if prop_name in PSEUDO_NAMES or _GLOB.search(prop_name) or not prop_name:
                continue
            if prop_name in _ENGINE_FIELDS or prop_name in _IDENTITY:
                continue
            if prop_name in _CLIENT_IP:
                continue
            action = action_for(prop)
            comment = ""
            if prop.findings:
                kinds = ", ".join(sorted(prop.findings))
                comment = f"  # {kinds}"
            rules.append(f"      {_key(prop_name)}: {action}{comment}")
        lines.append(f"  {_key(name)}:")
        if rules:
            lines.append("    properties:")
            lines.extend(rules)
        else:
            lines.append("    properties: {}")
    return "\n".join(lines) + "\n"


def _url_valued(prop: Property) -> bool:
    """Every value seen is an http(s) URL, and nothing was found that a URL
    rule cannot take away (free text, a user agent: those are no URL)."""
    return (
        prop.all_urls
        and prop.events > 0
        and set(prop.types) == {"string"}
        and set(prop.findings) <= _URL_KINDS
    )


def _identity_found(partial: Partial) -> bool:
    return any(
        name in _IDENTITY and prop.findings
        for stats in partial.by_event.values()
        for name, prop in stats.properties.items()
    )


def _client_ip_found(partial: Partial) -> bool:
    return any(
        name in _CLIENT_IP and prop.findings
        for stats in partial.by_event.values()
        for name, prop in stats.properties.items()
    )


def _key(name: str) -> str:
    if _PLAIN.fullmatch(name) and name.lower() not in _YAML_WORDS:
        return name
    return json.dumps(name, ensure_ascii=False)
