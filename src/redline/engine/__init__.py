"""The pure core: one event and a compiled policy in, a sanitised event (or
none) and findings out.

No I/O, no clock, no globals: the gateway, ``redline sanitize`` and the
tests all call the same :meth:`Engine.apply`. Running it twice changes
nothing the first run did not.

Order of the steps for one event:

1. choose the rules (per event name, or the profile or group rules);
2. drop the event if the policy does not know it and drops unknown events,
   or if one of its ``drop_if`` conditions holds for the event as sent;
3. sample it: with ``sample: {rate: r}`` an event is kept when a keyed
   draw from its distinct id (its insert id when it has none, else the
   record) falls below ``r``, so a user's events are kept or dropped
   together, and a user kept at one rate is kept at every higher rate;
   kept events carry the property ``$sample_rate`` (``r``) for re-weighting;
4. run the detectors over the event name (a glob or ``unknown_events:
   keep`` lets client-chosen names through);
5. apply each property's rule (its type check first, then nested rules or
   its action); properties without one get the default, and their names are
   scanned too when that default keeps them;
6. run the detectors over every string that survives (the safety net), and
   over integers long enough to be card numbers;
7. apply the identity rule to the distinct id and the IP rule to the
   client address;
8. scan the vendor envelope (``$group_key``, unknown top-level keys);
9. give the event an idempotency id if it has no valid one, or if its own
   carries something a detector finds.

An event under an ``aggregate`` rule runs every step too; its result then
carries the rule (``Result.aggregate``) and the gateway folds the sanitised
event into a summary instead of forwarding it.

Report mode (``mode: report`` for the policy or the event): every step runs
and its findings are returned, but the event is forwarded as it was sent,
with only an idempotency id added where it has no well-formed one;
``Result.report_only`` is then True.

Client input the engine cannot carry fails closed: a URL that cannot be
parsed is dropped, an integer too wide for 64 bits becomes a float (what a
JSON reader such as Mixpanel's keeps of it) or is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..detect import Scanner, Span, build_detector, redact
from ..events import Event, Kind
from ..policy import (
    Action,
    Aggregate,
    CompiledPolicy,
    Condition,
    Mode,
    Rule,
    Ruleset,
)
from ..policy._compile import typed
from . import _actions, _ip, _url
from ._hash import Hasher

log = logging.getLogger("redline.engine")

__all__ = ["SAMPLE_RATE_PROPERTY", "Engine", "Finding", "Hasher", "Result"]

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
# the property kept events of a sampled event carry
SAMPLE_RATE_PROPERTY = "$sample_rate"
# what a leaf transform returns for a value it removes
_GONE: Any = object()
# the result of a transform on one value: (new value, keep it?)
Leaf = Callable[["_Walk", Any, str, Rule], tuple[Any, bool]]


class _DropEvent(Exception):
    """A rule dropped the whole event (``on_mismatch: drop_event``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One decision about one property. Never holds the value."""

    event: str
    path: str  # "$current_url", "$set.$email", "items[].name"; "" for the event
    # "drop", "hash", "redact", "url", "ip", "mask", "truncate",
    # "user_agent", "bucket", "enum", "drop_event", "sample"
    action: str
    # entity type when a detector caused it, or a reason in capitals
    # ("TYPE_MISMATCH", "NOT_IN_ENUM", "TOO_DEEP", "UNPARSEABLE_URL")
    detector: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """``event`` is None when the event is dropped. With ``report_only``
    the event is forwarded as sent and ``findings`` say what enforcement
    would have done. With ``aggregate`` set, the sanitised ``event`` is not
    to be forwarded itself but folded into that rule's summaries (the
    engine stores nothing; the gateway's aggregator does)."""

    event: Event | None
    findings: list[Finding]
    report_only: bool = False
    aggregate: Aggregate | None = None


class Engine:
    """Applies one compiled policy. Build once per policy; thread-safe.

    A policy with per-destination overrides gets one sub-engine per
    overridden destination (:meth:`for_destination`), built here with the
    same hasher, so whoever swaps this engine swaps them all at once.
    :meth:`apply` never changes the event it is given, so one event can be
    applied by several of them in turn."""

    def __init__(self, policy: CompiledPolicy, hasher: Hasher) -> None:
        if policy.hash_key_id is not None and hasher.key_id != policy.hash_key_id:
            raise ValueError("the policy names a hash key the engine was not given")
        self.policy = policy
        self._hasher = hasher
        self._overrides: dict[str, Engine] = {
            name: Engine(sub, hasher) for name, sub in policy.for_destination.items()
        }
        self._rotates = hasher.has_previous
        self._scanner = Scanner([build_detector(name) for name in policy.detectors])
        self._fail_drop = policy.on_detection is Action.DROP
        # Analytics strings repeat (browser names, plans, routes): the
        # verdict on short strings is remembered, in memory only, and the
        # memo is bounded
        self._memo: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._url_memo: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        self._findings: dict[tuple[str, str, str, str | None], Finding] = {}
        if Action.USER_AGENT in policy.uses:
            _actions.warm_user_agents()
        if policy.reports:
            log.warning(
                "report mode is on (policy %s, policy mode %s): events in "
                "report mode are forwarded as sent; enforcement is only reported",
                policy.digest[:12],
                policy.mode.value,
            )

    def apply(self, event: Event) -> Result:
        policy = self.policy
        if event.kind is Kind.TRACK:
            rules = policy.rules_for(event.name)
        elif event.kind is Kind.PROFILE:
            rules = policy.profiles
        else:
            rules = policy.groups
        findings: list[Finding] = []
        try:
            clean = self._enforce(event, rules, findings)
        except _DropEvent:
            clean = None
        if rules.mode is Mode.REPORT:
            return Result(self._as_sent(event), findings, True)
        if clean is not None and rules.aggregate is not None:
            return Result(clean, findings, aggregate=rules.aggregate)
        return Result(clean, findings)

    def for_destination(self, name: str) -> Engine:
        """The engine for the events forwarded to destination ``name``:
        its override's sub-engine, or this engine when it has none."""
        return self._overrides.get(name, self)

    @property
    def overrides(self) -> Mapping[str, Engine]:
        """Destination name -> sub-engine, for the destinations the policy
        overrides (empty when none)."""
        return self._overrides

    @property
    def hasher(self) -> Hasher:
        """The keyed hasher this engine digests and derives ids with."""
        return self._hasher

    def _enforce(
        self, event: Event, rules: Ruleset, findings: list[Finding]
    ) -> Event | None:
        policy = self.policy
        if event.kind is Kind.TRACK and not rules.known and policy.drop_unknown_events:
            findings.append(self.finding(event.name, "", "drop_event"))
            return None
        if rules.drop_if:
            for condition in rules.drop_if:
                if _holds(condition, event):
                    findings.append(
                        self.finding(event.name, condition.property, "drop_event")
                    )
                    return None
        rate = rules.sample_rate
        if rate is not None and self._sampled_out(event, rate):
            findings.append(self.finding(event.name, "", "sample"))
            return None

        name = event.name
        if event.kind is Kind.TRACK:
            # names are client data too, where a glob or unknown_events:
            # keep lets them through
            clean_name = self._event_name(name, findings)
            if clean_name is None:
                return None
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
            if action is Action.KEEP and type(value) is str and rule.plain:
                known = memo.get(value)
                if known is not None and not known[1]:
                    properties[key] = value
                    continue
            walk.property(properties, key, value, rule, key, 0)

        distinct_id = event.distinct_id
        if distinct_id is not None:
            clean_id = walk.identity(distinct_id, rules.properties.get("distinct_id"))
            if (
                self._rotates
                and clean_id is not None
                and clean_id != distinct_id
                and event.kind is Kind.TRACK
            ):
                # hashed: during a key rotation, the digest under each
                # previous key goes beside it
                for old in self._hasher.rotating():
                    properties[f"distinct_id__{old.key_id}"] = old.digest(distinct_id)
            distinct_id = clean_id
        if rate is not None:
            properties[SAMPLE_RATE_PROPERTY] = rate

        ip = event.ip
        if ip is not None:
            ip = walk.client_ip(ip)

        envelope = event.envelope
        if envelope:
            envelope = walk.envelope(envelope)

        insert_id = event.insert_id
        if insert_id is None or not self._valid_insert_id(insert_id, walk):
            insert_id = self._derive_insert_id(event)

        return Event(
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

    def _as_sent(self, event: Event) -> Event:
        # report mode: the event as the client sent it, with an
        # idempotency id (transport, not policy) where it has no usable one
        insert_id = event.insert_id
        if insert_id is None or not _VALID_INSERT_ID.fullmatch(insert_id):
            insert_id = self._derive_insert_id(event)
        return dataclasses.replace(event, insert_id=insert_id)

    def _sampled_out(self, event: Event, rate: float) -> bool:
        if rate >= 1.0:
            return False
        key = event.distinct_id
        if key is None:
            # "i:" keeps an insert id from drawing what a distinct id of
            # the same text draws
            key = "i:" + (event.insert_id or self._derive_insert_id(event))
        return self._hasher.sample_point(key) >= rate

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
        self,
        out: dict[str, Any],
        key: str,
        value: Any,
        rule: Rule,
        path: str,
        depth: int,
    ) -> None:
        """Apply ``rule`` to ``value``; the result goes to ``out[key]``
        unless the value is dropped."""
        action = rule.action
        if action is Action.DROP:
            self.note(path, "drop")
            return
        if not rule.plain:
            value = self.shape(value, rule, path, depth)
            if value is _GONE:
                return
            if rule.properties is not None and type(value) is dict:
                out[key] = self.object(value, rule.properties, path, depth)
                return
            if rule.items is not None and type(value) is list:
                out[key] = self.items(value, rule.items, path, depth)
                return
        if action is Action.HASH:
            self.note(path, "hash")
            hasher = self.engine._hasher
            out[key] = hasher.digest(value)
            if key:
                for old in hasher.rotating():
                    out[f"{key}__{old.key_id}"] = old.digest(value)
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
        leaf = None if action is Action.KEEP else _LEAVES.get(action)
        if leaf is None:
            # keep, redact, and a url rule's value that is no URL: the
            # detectors are the net under the allowlist
            result, ok = self.net(value, path, action is Action.REDACT, depth)
        else:
            result, ok = self.leaves(value, path, depth, rule, leaf)
        if ok:
            out[key] = result

    def shape(self, value: Any, rule: Rule, path: str, depth: int) -> Any:
        """``value`` if it has the type the rule expects, else what
        ``on_mismatch`` makes of it (``_GONE`` when it is dropped)."""
        if rule.type is not None:
            if _actions.is_type(value, rule.type):
                return value
            return self.mismatch(value, rule, path)
        if rule.properties is not None and type(value) is dict:
            return value
        if rule.items is not None and type(value) is list:
            return value
        return self.mismatch(value, rule, path)

    def mismatch(self, value: Any, rule: Rule, path: str) -> Any:
        """A value of the wrong type: dropped, the event dropped, or the
        value's JSON text."""
        how = rule.on_mismatch
        if how == "keep_as_string":
            return _actions.as_string(value)
        if how == "drop_event":
            self.note(path, "drop_event", "TYPE_MISMATCH")
            raise _DropEvent
        self.note(path, "drop", "TYPE_MISMATCH")
        return _GONE

    def object(
        self, value: dict[str, Any], rules: Mapping[str, Rule], path: str, depth: int
    ) -> dict[str, Any]:
        """An object under nested rules; keys they do not name follow the
        policy's default for unknown properties."""
        if depth >= _MAX_DEPTH:
            self.note(path, "drop", "TOO_DEEP")
            return {}
        unknown = self.engine.policy.unknown_property
        out: dict[str, Any] = {}
        for key, item in value.items():
            rule = rules.get(key)
            if rule is None:
                rule = unknown
                if rule.action is not Action.DROP:
                    key = self.key(key, path + ".<key>")
            self.property(out, key, item, rule, f"{path}.{key}", depth + 1)
        return out

    def items(self, value: list[Any], rule: Rule, path: str, depth: int) -> list[Any]:
        """A list whose every item follows ``rule``; dropped items go."""
        if depth >= _MAX_DEPTH:
            self.note(path, "drop", "TOO_DEEP")
            return []
        out: list[Any] = []
        item_path = path + "[]"
        holder: dict[str, Any] = {}
        for item in value:
            # the empty key: a list item has no name to put siblings beside
            self.property(holder, "", item, rule, item_path, depth + 1)
            if "" in holder:
                out.append(holder.pop(""))
        return out

    def leaves(
        self, value: Any, path: str, depth: int, rule: Rule, leaf: Leaf
    ) -> tuple[Any, bool]:
        """Apply a value transform to ``value``, or to every item of a list
        and every value of an object (whose keys are scanned)."""
        if isinstance(value, list | dict) and depth >= _MAX_DEPTH:
            self.note(path, "drop", "TOO_DEEP")
            return None, False
        if isinstance(value, list | dict):
            return self.each(
                value,
                path,
                lambda item, at: self.leaves(item, at, depth + 1, rule, leaf),
            )
        return leaf(self, value, path, rule)

    def each(
        self,
        value: list[Any] | dict[str, Any],
        path: str,
        visit: Callable[[Any, str], tuple[Any, bool]],
    ) -> tuple[Any, bool]:
        """``visit`` applied to every item of a list or value of an object
        (whose keys are scanned); items it drops are left out."""
        if isinstance(value, list):
            items = []
            for item in value:
                clean, ok = visit(item, path + "[]")
                if ok:
                    items.append(clean)
            return items, True
        obj = {}
        for key, item in value.items():
            clean_key = self.key(key, path + ".<key>")
            clean, ok = visit(item, f"{path}.{clean_key}")
            if ok:
                obj[clean_key] = clean
        return obj, True

    def scan(self, text: str, path: str) -> tuple[Any, bool]:
        """A string a transform made, through the detectors."""
        if not text:
            return text, True
        return self.verdict(text, self.engine.scrub_text(text), path, False)

    def mask(self, value: Any, path: str, rule: Rule) -> tuple[Any, bool]:
        if isinstance(value, bool) or value is None:
            return value, True
        if isinstance(value, int | float):
            value = _actions.as_string(value)
        if not isinstance(value, str):
            return value, True
        if not value:
            return value, True
        self.note(path, "mask")
        return self.scan(_actions.mask(value, rule.keep_first, rule.keep_last), path)

    def truncate(self, value: Any, path: str, rule: Rule) -> tuple[Any, bool]:
        if not isinstance(value, str):
            return self.net(value, path, False, _MAX_DEPTH)
        # the whole value is scanned first: a cut can hide an email's
        # domain from the detectors but not its name from a reader
        clean, ok = self.scan(value, path)
        if not ok or len(clean) <= rule.max_length:
            return clean, ok
        self.note(path, "truncate")
        kinds = self.engine.scrub_text(value)[1]
        return _actions.cut(clean, rule.max_length, kinds), True

    def user_agent(self, value: Any, path: str, rule: Rule) -> tuple[Any, bool]:
        if not isinstance(value, str):
            self.note(path, "drop", "TYPE_MISMATCH")
            return None, False
        general = _actions.user_agent(value)
        if general != value:
            self.note(path, "user_agent")
        # a family name can be copied from the string itself
        return self.scan(general, path)

    def bucket(self, value: Any, path: str, rule: Rule) -> tuple[Any, bool]:
        if not _actions.is_type(value, "number"):
            value = self.mismatch(value, rule, path)
            if value is _GONE:
                return None, False
            return self.scan(value, path)
        self.note(path, "bucket")
        return _actions.bucket(value, rule.edges, rule.labels), True

    def enum(self, value: Any, path: str, rule: Rule) -> tuple[Any, bool]:
        nan = type(value) is float and math.isnan(value)
        if not nan and typed(value) in rule.values:
            # the policy's own words: nothing to scan
            return value, True
        if rule.to_other:
            self.note(path, "enum")
            return "other", True
        self.note(path, "drop", "NOT_IN_ENUM")
        return None, False

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
        if isinstance(value, list | dict):
            return self.each(
                value,
                path,
                lambda item, at: self.net(item, at, force_redact, depth + 1),
            )
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
            self.property(out, key, item, rule, f"{op}.{key}", 0)
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


_LEAVES: dict[Action, Leaf] = {
    Action.MASK: _Walk.mask,
    Action.TRUNCATE: _Walk.truncate,
    Action.USER_AGENT: _Walk.user_agent,
    Action.BUCKET: _Walk.bucket,
    Action.ENUM: _Walk.enum,
}


def _holds(condition: Condition, event: Event) -> bool:
    """Whether a ``drop_if`` condition holds for the event as sent."""
    found, value = _lookup(event, condition.property)
    if condition.exists is not None:
        return found is condition.exists
    if not found:
        return False
    if condition.matches is not None:
        return isinstance(value, str) and condition.matches.search(value) is not None
    if isinstance(value, dict | list):
        return False
    if type(value) is float and math.isnan(value):
        return False
    assert condition.equals is not None
    return typed(value) in condition.equals


def _lookup(event: Event, name: str) -> tuple[bool, Any]:
    if name == "distinct_id" and event.distinct_id is not None:
        return True, event.distinct_id
    properties = event.properties
    if event.kind is Kind.TRACK:
        if name in properties:
            return True, properties[name]
        return False, None
    for op in ("$set", "$set_once"):
        values = properties.get(op)
        if isinstance(values, dict) and name in values:
            return True, values[name]
    return False, None
