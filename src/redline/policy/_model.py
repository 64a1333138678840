"""The policy file's schema, validated by pydantic.

These models mirror the YAML one to one; :mod:`redline.policy._compile` turns
a validated spec into the frozen objects the engine runs on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import SecretSpec

DETECTOR_NAMES = (
    "email",
    "phone",
    "credit_card",
    "ip_address",
    "jwt",
    "api_key",
    "credential",
)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeepSpec(_Spec):
    action: Literal["keep"]


class DropSpec(_Spec):
    action: Literal["drop"]


class HashSpec(_Spec):
    action: Literal["hash"]


class RedactSpec(_Spec):
    action: Literal["redact"]


class UrlSpec(_Spec):
    """Scrub a URL: userinfo and fragment go, query parameters stay only when
    their names match ``keep_params`` (glob patterns), and path segments that
    carry detected values are replaced by placeholders."""

    action: Literal["url"]
    keep_params: tuple[str, ...] | None = None


class IpSpec(_Spec):
    """Coarsen an IP-valued property: keep a network prefix, or drop it."""

    action: Literal["ip"]
    ipv4_prefix: Annotated[int, Field(ge=0, le=32)] = 24
    ipv6_prefix: Annotated[int, Field(ge=0, le=128)] = 48


RuleSpec = Annotated[
    KeepSpec | DropSpec | HashSpec | RedactSpec | UrlSpec | IpSpec,
    Field(discriminator="action"),
]
ActionName = Literal["keep", "drop", "hash", "redact", "url", "ip"]


class EventRulesSpec(_Spec):
    properties: dict[str, ActionName | RuleSpec] = Field(default_factory=dict)


class HashKeySpec(_Spec):
    """The HMAC key for ``hash``; ``key_id`` is written into every digest so
    keys can rotate."""

    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    key: SecretSpec


class DefaultsSpec(_Spec):
    unknown_events: Literal["drop", "keep"] = "drop"
    unknown_properties: Literal["drop", "keep"] = "drop"
    detect: tuple[str, ...] = DETECTOR_NAMES
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
            if name not in DETECTOR_NAMES:
                raise ValueError(
                    f"unknown detector {name!r}; "
                    f"choose from {', '.join(DETECTOR_NAMES)}"
                )
        return value


class PolicySpec(_Spec):
    version: Literal[1]
    defaults: DefaultsSpec = DefaultsSpec()
    hash: HashKeySpec | None = None
    all_events: EventRulesSpec = EventRulesSpec()
    events: dict[str, EventRulesSpec] = Field(default_factory=dict)
    profiles: EventRulesSpec = EventRulesSpec()
    groups: EventRulesSpec = EventRulesSpec()
