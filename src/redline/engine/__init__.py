"""The pure core: one event and a compiled policy in, a sanitised event (or
none) and findings out.

No I/O, no clock, no globals: the gateway, ``redline sanitize`` and the
tests all call the same :meth:`Engine.apply`. Running it twice changes
nothing the first run did not.

Order of the steps for one event:

1. choose the rules (per event name, or the profile or group rules);
2. drop the event if the policy does not know it and drops unknown events;
3. run the detectors over the event name (a glob or ``unknown_events:
   keep`` lets client-chosen names through);
4. apply each property's rule; properties without one get the default, and
   their names are scanned too when that default keeps them;
5. run the detectors over every string that survives (the safety net), and
   over integers long enough to be card numbers;
6. apply the identity rule to the distinct id and the IP rule to the
   client address;
7. scan the vendor envelope (``$group_key``, unknown top-level keys);
8. give the event an idempotency id if it has no valid one, or if its own
   carries something a detector finds.

Client input the engine cannot carry fails closed: a URL that cannot be
parsed is dropped, an integer too wide for 64 bits becomes a float (what a
JSON reader such as Mixpanel's keeps of it) or is dropped.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..detect import DETECTORS, Scanner, Span, redact
from ..events import Event, Kind
from ..policy import Action, CompiledPolicy, Rule, Ruleset
from . import _ip, _url
from ._hash import Hasher

__all__ = ["Engine", "Finding", "Hasher", "Result"]

# Mixpanel profile and group operations: the rules apply inside them
_OPS = frozenset(
    {"$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete"}
)
_NO_OPS: frozenset[str] = frozenset()
# ids as the SDKs make them: uuid4().hex, UUIDs, mixpanel-browser's base 36
_SDK_ID = re.compile(
    r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-z]{16}"
)
# the shortest digit run a phone number needs
_DIGIT_RUN = re.compile(r"\d{7}")
_MAX_DEPTH = 16
_MEMO_SIZE = 32_768
_MEMO_MAX_LENGTH = 200
_URL_MEMO_MAX_LENGTH = 2048
# what vendors accept as an idempotency id: Mixpanel allows at most 36
# characters of letters, digits and dashes
_VALID_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
# integers from this size on are scanned (payment cards have 13 to 19
# digits); integers outside 64 bits cannot be stored or sent exactly
_SCAN_INT = 10**12
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One decision about one property. Never holds the value."""

    event: str
    path: str  # "$current_url", "$set.$email", "items[].name"; "" for the event
    action: str  # "drop", "hash", "redact", "url", "ip", "drop_event"
    detector: str | None = None  # entity type when a detector caused it


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    event: Event | None
    findings: list[Finding]


class Engine:
    """Applies one compiled policy. Build once per policy; thread-safe."""

    def __init__(self, policy: CompiledPolicy, hasher: Hasher) -> None:
        if policy.hash_key_id is not None and hasher.key_id != policy.hash_key_id:
            raise ValueError("the policy names a hash key the engine was not given")
        self.policy = policy
        self._hasher = hasher
        self._scanner = Scanner([DETECTORS[name]() for name in policy.detectors])
        self._fail_drop = policy.on_detection is Action.DROP
        # Analytics strings repeat (browser names, plans, routes): the
        # verdict on short strings is remembered, in memory only, and the
        # memo is bounded
        self._memo: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._url_memo: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        self._findings: dict[tuple[str, str, str, str | None], Finding] = {}

    def apply(self, event: Event) -> Result:
        policy = self.policy
        findings: list[Finding] = []
        if event.kind is Kind.TRACK:
            rules = policy.rules_for(event.name)
            if not rules.known and policy.drop_unknown_events:
                findings.append(self.finding(event.name, "", "drop_event"))
                return Result(None, findings)
        elif event.kind is Kind.PROFILE:
            rules = policy.profiles
        else:
            rules = policy.groups

        name = event.name
        if event.kind is Kind.TRACK:
            # names are client data too, where a glob or unknown_events:
            # keep lets them through
            clean_name = self._event_name(name, findings)
            if clean_name is None:
                return Result(None, findings)
            name = clean_name

        walk = _Walk(self, event.name, findings)
        properties: dict[str, Any] = {}
        ops = _OPS if event.kind is not Kind.TRACK else _NO_OPS
        lookup = rules.properties.get
        unknown = policy.unknown_property
        memo = self._memo
        for key, value in event.properties.items():
            if key in ops:
                properties[key] = walk.operation(key, value, rules)
                continue
            rule = lookup(key)
            if rule is None:
                rule = unknown
                if rule.action is not Action.DROP:
                    # a name the policy does not know is client data too
                    key = walk.key(key, "<key>")
            # the two commonest cases inline: a dropped property, and a
            # kept string already known to hold nothing
            action = rule.action
            if action is Action.DROP:
                findings.append(self.finding(event.name, key, "drop"))
                continue
            if action is Action.KEEP and type(value) is str:
                known = memo.get(value)
                if known is not None and not known[1]:
                    properties[key] = value
                    continue
            walk.property(properties, key, value, rule, key)

        distinct_id = event.distinct_id
        if distinct_id is not None:
            distinct_id = walk.identity(
                distinct_id, rules.properties.get("distinct_id")
            )

        ip = event.ip
        if ip is not None:
            ip = walk.client_ip(ip)

        envelope = event.envelope
        if envelope:
            envelope = walk.envelope(envelope)

        insert_id = event.insert_id
        if insert_id is None or not self._valid_insert_id(insert_id, walk):
            insert_id = self._derive_insert_id(event)

        clean = Event(
            event.kind,
            name,
            properties,
            distinct_id,
            insert_id,
            event.time,
            ip,
            event.imported,
            envelope,
        )
        return Result(clean, findings)

    def safe_insert_id(self, insert_id: str | None) -> str | None:
        """``insert_id`` when it is well formed and holds nothing a detector
        finds, else None: what may be echoed to a client in an answer."""
        if insert_id is None or not _VALID_INSERT_ID.fullmatch(insert_id):
            return None
        return None if self._insert_id_spans(insert_id) else insert_id

    def _event_name(self, name: str, findings: list[Finding]) -> str | None:
        clean, kinds = self.scrub_text(name)
        if not kinds:
            return name
        verdict = "drop_event" if self._fail_drop else "redact"
        for kind in kinds:
            findings.append(self.finding(name, "", verdict, kind))
        return None if self._fail_drop else clean

    def _valid_insert_id(self, insert_id: str, walk: _Walk) -> bool:
        if not _VALID_INSERT_ID.fullmatch(insert_id):
            return False
        spans = self._insert_id_spans(insert_id)
        for span in spans:
            walk.note("$insert_id", "hash", span.type.value)
        return not spans

    def _insert_id_spans(self, insert_id: str) -> list[Span]:
        # A client may build its ids from a phone or card number. Ids are
        # unique, so they are scanned without filling the memo; the shapes
        # the SDKs generate (hex digests, UUIDs, base-36) can only carry such
        # a value as a run of digits, so those without one skip the scan.
        if _SDK_ID.fullmatch(insert_id) and not _DIGIT_RUN.search(insert_id):
            return []
        return self._scanner.scan(insert_id)

    def _derive_insert_id(self, event: Event) -> str:
        # the raw record decides the id, so a client that sends the same
        # record twice gets it deduplicated; the id is keyed, so it reveals
        # nothing about the record
        record = [
            event.kind.value,
            event.name,
            event.distinct_id,
            event.time,
            event.properties,
        ]
        return self._hasher.insert_id(record)

    def finding(
        self, event: str, path: str, action: str, detector: str | None = None
    ) -> Finding:
        """The (shared, immutable) finding for one kind of decision."""
        key = (event, path, action, detector)
        known = self._findings.get(key)
        if known is not None:
            return known
        # names come from clients too (a property called after an email
        # address): findings carry them only with detected spans redacted
        found = Finding(
            self.scrub_text(event)[0], self.scrub_text(path)[0], action, detector
        )
        if len(self._findings) >= _MEMO_SIZE:
            self._findings.clear()
        self._findings[key] = found
        return found

    def scrub_url(self, url: str, rule: Rule) -> tuple[str, tuple[str, ...]] | None:
        """A URL scrubbed by a ``url`` rule and the kinds of what was
        removed, or None for a URL that cannot be parsed."""
        assert rule.keep_params is not None
        key = (url, rule.keep_params.pattern)
        memo = self._url_memo
        known = memo.get(key)
        if known is not None:
            return known
        try:
            clean, kinds = _url.scrub_url(url, rule.keep_params, self.scrub_text)
        except ValueError:
            # the message may quote the URL: it goes nowhere
            return None
        result = clean, tuple(kinds)
        if len(url) <= _URL_MEMO_MAX_LENGTH:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[key] = result
        return result

    def scrub_text(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Redact every detected span in ``text``; the kinds found."""
        memo = self._memo
        known = memo.get(text)
        if known is not None:
            return known
        spans = self._scanner.scan(text)
        if spans:
            result = redact(text, spans), tuple(span.type.value for span in spans)
        else:
            result = text, ()
        if len(text) <= _MEMO_MAX_LENGTH:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[text] = result
        return result


class _Walk:
    """The per-event state of one :meth:`Engine.apply` call."""

    __slots__ = ("engine", "event", "findings")

    def __init__(self, engine: Engine, event: str, findings: list[Finding]) -> None:
        self.engine = engine
        self.event = event
        self.findings = findings

    def note(self, path: str, action: str, detector: str | None = None) -> None:
        self.findings.append(self.engine.finding(self.event, path, action, detector))

    def property(
        self, out: dict[str, Any], key: str, value: Any, rule: Rule, path: str
    ) -> None:
        action = rule.action
        if action is Action.DROP:
            self.note(path, "drop")
            return
        if action is Action.HASH:
            self.note(path, "hash")
            out[key] = self.engine._hasher.digest(value)
            return
        if (
            action is Action.URL
            and isinstance(value, str)
            and _url.looks_like_url(value)
        ):
            scrubbed = self.engine.scrub_url(value, rule)
            if scrubbed is None:
                self.note(path, "drop", "UNPARSEABLE_URL")
                return
            clean, kinds = scrubbed
            for kind in kinds:
                self.note(path, "url", kind)
            out[key] = clean
            return
        if action is Action.IP:
            # an address written as a number or a list is still an address
            coarse = (
                _ip.truncate(value, rule.ipv4_prefix, rule.ipv6_prefix)
                if isinstance(value, str)
                else None
            )
            self.note(path, "ip" if coarse is not None else "drop")
            if coarse is not None:
                out[key] = coarse
            return
        # keep and redact: the detectors are the net under the allowlist
        force = action is Action.REDACT
        clean, ok = self.net(value, path, force, 0)
        if ok:
            out[key] = clean

    def net(
        self, value: Any, path: str, force_redact: bool, depth: int
    ) -> tuple[Any, bool]:
        """Run the detectors over every string in ``value``; (result, keep?)."""
        if isinstance(value, str):
            if not value:
                return value, True
            return self.verdict(
                value, self.engine.scrub_text(value), path, force_redact
            )
        if type(value) is int and not -_SCAN_INT < value < _SCAN_INT:
            return self.number(value, path, force_redact)
        if depth >= _MAX_DEPTH:
            if isinstance(value, dict | list):
                self.note(path, "drop", "TOO_DEEP")
                return None, False
            return value, True
        if isinstance(value, list):
            items = []
            for item in value:
                clean, ok = self.net(item, path + "[]", force_redact, depth + 1)
                if ok:
                    items.append(clean)
            return items, True
        if isinstance(value, dict):
            obj = {}
            for key, item in value.items():
                clean_key = self.key(key, path + ".<key>")
                clean, ok = self.net(
                    item, f"{path}.{clean_key}", force_redact, depth + 1
                )
                if ok:
                    obj[clean_key] = clean
            return obj, True
        return value, True

    def verdict(
        self,
        value: str,
        scrubbed: tuple[str, tuple[str, ...]],
        path: str,
        force_redact: bool,
    ) -> tuple[Any, bool]:
        """What becomes of a scanned string: itself, redacted, or dropped."""
        clean, kinds = scrubbed
        if not kinds:
            return value, True
        if self.engine._fail_drop and not force_redact:
            for kind in kinds:
                self.note(path, "drop", kind)
            return None, False
        for kind in kinds:
            self.note(path, "redact", kind)
        return clean, True

    def number(self, value: int, path: str, force_redact: bool) -> tuple[Any, bool]:
        """A long integer: scanned as digits (a card number sent as a
        number), and made a float when 64 bits cannot hold it."""
        if not _INT_MIN <= value <= _INT_MAX:
            try:
                return float(value), True
            except OverflowError:
                self.note(path, "drop", "OUT_OF_RANGE")
                return None, False
        # the digits alone: a sign is not part of a card number
        text = str(abs(value))
        spans = self.engine._scanner.scan(text)
        if not spans:
            return value, True
        scrubbed = redact(text, spans), tuple(span.type.value for span in spans)
        return self.verdict(text, scrubbed, path, force_redact)

    def key(self, key: str, path: str) -> str:
        """A property name with detected spans redacted."""
        clean, kinds = self.engine.scrub_text(key)
        for kind in kinds:
            self.note(path, "redact", kind)
        return clean

    def operation(self, op: str, value: Any, rules: Ruleset) -> Any:
        unknown = self.engine.policy.unknown_property
        if op == "$delete":
            # Mixpanel reads no value here; whatever was sent stays behind
            return ""
        if op == "$unset":
            return self.unset(value, rules)
        if not isinstance(value, dict):
            self.note(op, "drop")
            return {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            rule = rules.properties.get(key)
            if rule is None:
                rule = unknown
                if rule.action is not Action.DROP:
                    key = self.key(key, f"{op}.<key>")
            self.property(out, key, item, rule, f"{op}.{key}")
        return out

    def unset(self, value: Any, rules: Ruleset) -> list[str]:
        unknown = self.engine.policy.unknown_property
        names = []
        for name in value if isinstance(value, list) else []:
            if not isinstance(name, str):
                continue
            rule = rules.properties.get(name)
            if rule is None:
                if unknown.action is Action.DROP:
                    continue
                # a name the policy does not know may be an email; an
                # unset that does not happen harms nobody
                kinds = self.engine.scrub_text(name)[1]
                for kind in kinds:
                    self.note("$unset", "drop", kind)
                if kinds:
                    continue
            elif rule.action is Action.DROP:
                continue
            names.append(name)
        return names

    def envelope(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """The vendor fields beside the properties (``$group_key``,
        ``$ignore_time``, and unknown top-level keys in ``extra``)."""
        keep_unknown = self.engine.policy.unknown_property.action is not Action.DROP
        out: dict[str, Any] = {}
        for key, value in envelope.items():
            if key == "extra":
                # unknown top-level keys of a record: under an allowlist
                # they go with the unknown properties
                if not keep_unknown:
                    self.note(key, "drop")
                    continue
            elif isinstance(value, str):
                # an identifier-like field: redacted, never dropped, so the
                # record stays well formed
                clean, ok = self.net(value, key, True, 0)
                out[key] = clean
                continue
            clean, ok = self.net(value, key, False, 0)
            if ok:
                out[key] = clean
        return out

    def identity(self, distinct_id: str, rule: Rule | None) -> str | None:
        hasher = self.engine._hasher
        if rule is not None and rule.action is Action.HASH:
            self.note("distinct_id", "hash")
            return hasher.digest(distinct_id)
        if rule is not None and rule.action is Action.DROP:
            self.note("distinct_id", "drop")
            return None
        spans = self.engine._scanner.scan(distinct_id)
        if not spans:
            return distinct_id
        # redacting an id would merge every user into one; hash it instead
        kind = spans[0].type.value
        self.note("distinct_id", "hash", kind)
        return hasher.digest(distinct_id)

    def client_ip(self, ip: str) -> str | None:
        rule = self.engine.policy.client_ip
        if rule.action is Action.KEEP:
            # kept as the address it is, or not at all: a client may put
            # anything in its ip field
            exact = _ip.truncate(ip, 32, 128)
            if exact is None:
                self.note("$ip", "drop")
            return exact
        if rule.action is Action.DROP:
            self.note("$ip", "drop")
            return None
        coarse = _ip.truncate(ip, rule.ipv4_prefix, rule.ipv6_prefix)
        self.note("$ip", "ip" if coarse is not None else "drop")
        return coarse
