"""The policy file's schema, validated by pydantic.

These models mirror the YAML one to one; :mod:`redline.policy._compile` turns
a validated spec into the frozen objects the engine runs on.

A property rule is an action name (``keep``) or a mapping. A mapping without
``action`` is a ``keep`` rule, which is how nested rules read::

    address: {properties: {city: keep, street: drop}}

Every rule mapping may carry a type check (:class:`_RuleSpec`).
"""

from __future__ import annotations

import datetime
import itertools
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from ..config import SecretSpec
from ..detect import DEFAULT_DETECTORS, DETECTORS, detector_name_error

# the detectors a policy can name (besides national_id:<module>), and
# those that run when it names none
DETECTOR_NAMES: tuple[str, ...] = tuple(DETECTORS)

TypeName = Literal["string", "number", "integer", "boolean", "list", "object"]
Mismatch = Literal["drop", "drop_event", "keep_as_string"]
ModeName = Literal["enforce", "report"]
Scalar = str | bool | int | float


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RuleSpec(_Spec):
    """What every rule mapping may say about the value's type.

    ``type`` is checked before the action runs, against the JSON type of the
    value as the client sent it: ``number`` is any integer or float,
    ``integer`` also takes floats with no fractional part (``3.0``, as JSON
    Schema does), booleans are neither numbers nor integers, and ``null``
    matches no type. On a mismatch (``on_mismatch``):

    - ``drop`` (the default): the property is removed;
    - ``drop_event``: the whole event is dropped;
    - ``keep_as_string``: the value is replaced by its JSON text (``42``,
      ``true``, ``{"a":1}``; a string stays as it is) and the action then
      runs on that string; the detectors still see it.

    ``bucket`` always expects a number, and applies ``on_mismatch`` to
    anything else even without ``type``.
    """

    type: TypeName | None = None
    on_mismatch: Mismatch = "drop"


class KeepSpec(_RuleSpec):
    """Keep the value; detected spans are still redacted.

    ``properties`` gives rules for the keys of an object value and ``items``
    a rule for each item of a list value. Keys an object carries that
    ``properties`` does not name follow ``defaults.unknown_properties``. A
    rule with ``properties`` expects an object, one with ``items`` a list
    (with both, either), and applies ``on_mismatch`` to anything else.
    """

    action: Literal["keep"] = "keep"
    properties: dict[str, RuleOrName] | None = None
    items: RuleOrName | None = None


class DropSpec(_RuleSpec):
    action: Literal["drop"]


class HashSpec(_RuleSpec):
    """HMAC-SHA256 with the policy's key (``<key id>:<32 hex digits>``).
    During a key rotation window a sibling ``<name>__<old key id>`` carries
    the digest under each previous key (see :class:`HashKeySpec`)."""

    action: Literal["hash"]


class RedactSpec(_RuleSpec):
    action: Literal["redact"]


class UrlSpec(_RuleSpec):
    """Scrub a URL: userinfo and fragment go, query parameters stay only when
    their names match ``keep_params`` (glob patterns), and path segments that
    carry detected values are replaced by placeholders."""

    action: Literal["url"]
    keep_params: tuple[str, ...] | None = None


class IpSpec(_RuleSpec):
    """Coarsen an IP-valued property: keep a network prefix, or drop it."""

    action: Literal["ip"]
    ipv4_prefix: Annotated[int, Field(ge=0, le=32)] = 24
    ipv6_prefix: Annotated[int, Field(ge=0, le=128)] = 48


class MaskSpec(_RuleSpec):
    """Keep the first ``keep_first`` and the last ``keep_last`` characters
    (Unicode code points) and replace each other one by ``*``, so the length
    stays. A value not longer than ``keep_first + keep_last`` is masked
    whole. Numbers are masked as their decimal text (the result is a
    string); booleans and null pass unchanged; in lists and objects every
    string and number is masked. The masked text is still scanned, so a
    detected value in the kept part is redacted."""

    action: Literal["mask"]
    keep_first: Annotated[int, Field(ge=0)] = 0
    keep_last: Annotated[int, Field(ge=0)] = 0


class TruncateSpec(_RuleSpec):
    """Cut strings to at most ``max_length`` code points (in lists and
    objects, every string). The whole string is scanned first and detected
    spans redacted (or the property dropped, per ``on_detection``), then it
    is cut; a placeholder the cut would split is removed whole."""

    action: Literal["truncate"]
    max_length: Annotated[int, Field(ge=1)]


class UserAgentSpec(_RuleSpec):
    """Generalise a user-agent string to ``<browser family> <major version>
    / <OS family>`` (``Chrome 120 / Windows``) with ua-parser; parts it
    cannot tell are ``Other``. Only the first 512 characters are read. The
    result is scanned like any string. A value that is not a string is
    dropped."""

    action: Literal["user_agent"]


class BucketSpec(_RuleSpec):
    """Replace a number by the range it falls in. With ``edges: [0, 10,
    100]``: below 0 is ``"<0"``, 0 up to (not including) 10 is ``"0-10"``,
    10 up to 100 is ``"10-100"``, 100 and above is ``"100+"``. Anything but
    a number (strings holding digits and booleans too) follows
    ``on_mismatch``; in lists every item is bucketed."""

    action: Literal["bucket"]
    edges: Annotated[tuple[int | float, ...], Field(min_length=1)]

    @field_validator("edges")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(isinstance(edge, bool) or not math.isfinite(edge) for edge in value):
            raise ValueError("edges must be finite numbers")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("edges must be strictly increasing, e.g. [0, 10, 100]")
        return value


class EnumSpec(_RuleSpec):
    """Keep only the listed values (compared exactly, type included: ``1``
    is not ``"1"`` nor ``true``). Others are dropped (``other: drop``) or
    replaced by the string ``"other"`` (``other: other``). Listed values are
    the policy's own words and are not scanned. In lists each item is
    checked."""

    action: Literal["enum"]
    values: Annotated[tuple[Scalar, ...], Field(min_length=1)]
    other: Literal["drop", "other"] = "drop"


def _default_action(value: Any) -> Any:
    # a mapping without an action is a keep rule (nested rules read so)
    if isinstance(value, dict) and "action" not in value:
        return {"action": "keep", **value}
    return value


RuleSpec = Annotated[
    Annotated[
        KeepSpec
        | DropSpec
        | HashSpec
        | RedactSpec
        | UrlSpec
        | IpSpec
        | MaskSpec
        | TruncateSpec
        | UserAgentSpec
        | BucketSpec
        | EnumSpec,
        Field(discriminator="action"),
    ],
    BeforeValidator(_default_action),
]
# the actions that need no options may be written as a bare name
ActionName = Literal["keep", "drop", "hash", "redact", "url", "ip", "user_agent"]


_NEEDS_OPTIONS = ("mask", "truncate", "bucket", "enum")


def _bare_name(value: Any) -> Any:
    if value in _NEEDS_OPTIONS:
        raise ValueError(
            f"{value!r} takes options: write it as a mapping, "
            f"e.g. {{action: {value}, ...}}"
        )
    return value


# The tags look like pydantic's own union labels, which error messages
# leave out of the field path.
_NAME = "name[str]"
_RULE = "rule[mapping]"


def _form(value: Any) -> str:
    return _NAME if isinstance(value, str) else _RULE


# one form is validated, so an error speaks of the form that was written
RuleOrName = Annotated[
    Annotated[ActionName, BeforeValidator(_bare_name), Tag(_NAME)]
    | Annotated[RuleSpec, Tag(_RULE)],
    Discriminator(_form),
]


class ConditionSpec(_Spec):
    """One ``drop_if`` condition on a top-level property of the event as the
    client sent it (before any rule ran). ``distinct_id`` names the event's
    distinct id; for profile and group updates, properties are looked up in
    ``$set`` and ``$set_once``. Exactly one test:

    - ``equals``: the value equals this one, type included;
    - ``in``: the value equals one of these;
    - ``matches``: the value is a string in which this regular expression
      is found (``re.search``; anchor it with ``^`` and ``$``);
    - ``exists``: the property is present (``true``) or absent (``false``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    property: Annotated[str, Field(min_length=1)]
    equals: Scalar | None = None
    in_: Annotated[tuple[Scalar, ...] | None, Field(alias="in")] = None
    matches: str | None = None
    exists: bool | None = None

    @field_validator("matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _one_test(self) -> ConditionSpec:
        given = [
            name
            for name, value in (
                ("equals", self.equals),
                ("in", self.in_),
                ("matches", self.matches),
                ("exists", self.exists),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a condition needs exactly one of equals, in, matches, exists"
            )
        return self


class SampleSpec(_Spec):
    """Keep the events of a ``rate`` share of the users.

    Whether an event is kept depends only on a keyed hash (the policy's hash
    key) of its distinct id, so all of one user's events are kept or dropped
    together, and a user kept at one rate is kept at any higher rate. Events
    without a distinct id are drawn by insert id (else by their content).
    Kept events carry the property ``$sample_rate`` (the rate, a number in
    (0, 1]) so analysts can re-weight counts by ``1 / $sample_rate``.
    Rotating the hash key redraws which users are kept."""

    rate: Annotated[float, Field(gt=0, le=1)]


_PROPERTY_NAME = Annotated[str, Field(min_length=1)]


class AggregateSpec(_Spec):
    """Forward one summary event per window and group instead of each
    event.

    Windows are ``window_seconds`` long and aligned on the gateway's clock
    when the event is received (epoch seconds divisible by the window).
    ``group_by`` names the properties (as the rules left them) whose values
    form a group; ``sum``, ``min`` and ``max`` name numeric properties to
    fold. A summary carries the group's values, ``$aggregate_count``,
    ``<name>_sum``, ``<name>_min``, ``<name>_max``, ``$window_start`` and
    ``$window_seconds``. A name may appear once per list, and a group_by
    name cannot also be folded."""

    window_seconds: Annotated[int, Field(ge=1, le=86_400)]
    group_by: tuple[_PROPERTY_NAME, ...] = ()
    sum: tuple[_PROPERTY_NAME, ...] = ()
    min: tuple[_PROPERTY_NAME, ...] = ()
    max: tuple[_PROPERTY_NAME, ...] = ()

    @field_validator("group_by", "sum", "min", "max")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in value:
            if name in seen:
                raise ValueError(f"{name!r} is listed twice; name each property once")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _groups_are_not_folded(self) -> AggregateSpec:
        folded = {*self.sum, *self.min, *self.max}
        both = [name for name in self.group_by if name in folded]
        if both:
            raise ValueError(
                f"{both[0]!r} is both grouped by and folded; a group_by "
                "property cannot also be in sum, min or max"
            )
        return self


class RulesSpec(_Spec):
    """Rules for profiles and groups: property rules, conditions that drop
    the whole record, and the mode. Profiles and groups also take the
    ``all_events`` property rules and ``drop_if`` conditions (their own
    rules win), and its ``mode`` when they name none."""

    properties: dict[str, RuleOrName] = Field(default_factory=dict)
    drop_if: tuple[ConditionSpec, ...] = ()
    mode: ModeName | None = None


class EventRulesSpec(RulesSpec):
    """Rules for events: those of :class:`RulesSpec`, sampling and
    aggregation. Every event takes the ``all_events`` rules, then those of
    each matching glob in file order, then those of its exact name: later
    property rules replace earlier ones, ``drop_if`` conditions add up (any
    one drops the event), and the last ``sample``, ``aggregate`` and
    ``mode`` given win."""

    sample: SampleSpec | None = None
    aggregate: AggregateSpec | None = None


class PreviousKeySpec(_Spec):
    """A key being rotated out: its digests are written beside the current
    ones until the end of ``until`` (UTC, inclusive)."""

    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    key: SecretSpec
    until: datetime.date


class HashKeySpec(_Spec):
    """The HMAC key for ``hash``; ``key_id`` is written into every digest so
    keys can rotate.

    Rotation: add the new key as ``key`` with a new ``key_id`` and move the
    old one under ``previous`` with an ``until`` date. Until then a hashed
    property ``email`` also gets ``email__<old key id>`` with its digest
    under the old key, so analysts can join old and new digests; a hashed
    distinct id of an event gets the property ``distinct_id__<old key id>``.
    After ``until`` the old key is unused and can be removed.
    """

    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    key: SecretSpec
    previous: tuple[PreviousKeySpec, ...] = ()

    @model_validator(mode="after")
    def _distinct_ids(self) -> HashKeySpec:
        ids = [self.key_id, *(old.key_id for old in self.previous)]
        if len(set(ids)) != len(ids):
            raise ValueError("every key needs its own key_id")
        return self


class DefaultsSpec(_Spec):
    unknown_events: Literal["drop", "keep"] = "drop"
    unknown_properties: Literal["drop", "keep"] = "drop"
    detect: tuple[str, ...] = DEFAULT_DETECTORS
    on_detection: Literal["redact", "drop"] = "redact"
    # the address the request came from, which vendors geolocate by
    client_ip: Literal["truncate", "drop", "keep"] = "truncate"
    ipv4_prefix: Annotated[int, Field(ge=0, le=32)] = 24
    ipv6_prefix: Annotated[int, Field(ge=0, le=128)] = 48
    # query parameters a ``url`` rule keeps when it names none of its own
    url_keep_params: tuple[str, ...] = ("utm_*",)

    @field_validator("detect")
    @classmethod
    def _known_detectors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            error = detector_name_error(name)
            if error is not None:
                raise ValueError(error)
        return value


class OverrideRulesSpec(_Spec):
    """The property rules one section of a destination override replaces;
    nothing else of a section can be overridden."""

    properties: dict[str, RuleOrName] = Field(default_factory=dict)


class DestinationOverrideSpec(_Spec):
    """Stricter (or other) property rules for the events forwarded to one
    destination. Each section's rules are merged over the base policy's
    section of the same name, property by property; ``events`` may only
    name sections the base policy has (an override cannot make an unknown
    event known). Defaults, the hash key, ``drop_if``, ``sample``,
    ``aggregate`` and ``mode`` all come from the base policy."""

    all_events: OverrideRulesSpec = OverrideRulesSpec()
    events: dict[str, OverrideRulesSpec] = Field(default_factory=dict)
    profiles: OverrideRulesSpec = OverrideRulesSpec()
    groups: OverrideRulesSpec = OverrideRulesSpec()


class PolicySpec(_Spec):
    """A whole policy. ``mode: report`` makes it forward events as they
    came and only report what enforcement would change; events may set
    their own ``mode``. ``destinations`` holds per-destination overrides,
    keyed by the destination names of the gateway's config."""

    version: Literal[1]
    mode: ModeName = "enforce"
    defaults: DefaultsSpec = DefaultsSpec()
    hash: HashKeySpec | None = None
    all_events: EventRulesSpec = EventRulesSpec()
    events: dict[str, EventRulesSpec] = Field(default_factory=dict)
    profiles: RulesSpec = RulesSpec()
    groups: RulesSpec = RulesSpec()
    destinations: dict[_PROPERTY_NAME, DestinationOverrideSpec] = Field(
        default_factory=dict
    )


KeepSpec.model_rebuild()
