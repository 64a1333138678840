"""The admin API's request and answer models, from which its OpenAPI
document is made. Answers hold names, ids, states and counts only."""

from __future__ import annotations

import datetime
import re
import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# scheme://host[:port], as browsers send in Origin
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
_MAX_GRACE = 366 * 24 * 3600.0
MAX_LABEL = 200


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DestinationOut(_Out):
    name: str
    type: str


class ProjectOut(_Out):
    name: str
    destinations: list[DestinationOut]
    active_keys: int


class KeyOut(_Out):
    id: str
    project: str
    label: str
    source: Literal["config", "store"]
    state: Literal["active", "revoked", "expired"]
    origins: list[str]
    created_at: float | None
    expires_at: float | None
    revoked_at: float | None
    replaces: str | None


class KeyCreated(_Out):
    key: KeyOut
    secret: str = Field(description="the ingest key; shown once, never again")


def _aware(value: datetime.datetime) -> datetime.datetime:
    # a time without a zone is UTC
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value


def _future(value: datetime.datetime) -> datetime.datetime:
    # as the CLI's --expires: a key or token already expired is a mistake
    if value.timestamp() <= time.time():
        raise ValueError("expires_at must be in the future")
    return value


# a time to expire at, without a zone UTC, after now
_Expiry = Annotated[datetime.datetime, AfterValidator(_aware), AfterValidator(_future)]


class KeyCreate(_In):
    project: Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
    label: Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
    origins: Annotated[list[str], Field(max_length=100)] = []
    expires_at: _Expiry | None = None

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError("origins look like https://app.example.com[:port]")
        return value


class KeyRotate(_In):
    grace_seconds: Annotated[float, Field(ge=0, le=_MAX_GRACE)] | None = Field(
        default=None,
        description="keep the old key valid this long; without it, until revoked",
    )


class TokenOut(_Out):
    id: str
    role: Literal["viewer", "operator", "admin"]
    label: str
    state: Literal["active", "revoked", "expired"]
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class TokenCreated(_Out):
    token: TokenOut
    secret: str = Field(description="the bearer token; shown once, never again")


class TokenCreate(_In):
    role: Literal["viewer", "operator", "admin"]
    label: Annotated[str, Field(max_length=MAX_LABEL)] = ""
    expires_at: _Expiry | None = Field(
        default=None,
        description="refuse the token from this time on (UTC unless it says "
        "otherwise), in the future; without it, until revoked",
    )


class PolicyOut(_Out):
    digest: str
    mode: str
    path: str
    reloads: int
    refused_reloads: int


class ReloadOut(_Out):
    reloaded: bool
    digest: str


class ReloadRefusedOut(_Out):
    detail: str
    errors: list[str] = Field(
        description="what is wrong with the policy file, one line each, as "
        "`redline policy check` prints it (file:line:column: problem (fix))"
    )
    digest: str | None = Field(description="the policy kept in force")


class RouteOut(_Out):
    route: str
    depth: int
    oldest_age_seconds: float | None
    dead_letters: int


class OutboxOut(_Out):
    depth: int
    capacity: int | None
    routes: list[RouteOut]


class DeadLetterOut(_Out):
    id: int
    route: str
    reason: str
    attempts: int
    failed_at: float


class ReplayIn(_In):
    route: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class ReplayOut(_Out):
    replayed: int


class FindingCount(_Out):
    detector: str
    action: str
    count: int


class PropertyFindingCount(_Out):
    event: str
    property: str
    action: str
    detector: str
    count: int


class FindingsOut(_Out):
    since: float
    events_received: int
    events_accepted: int
    events_dropped: int
    by_detector: list[FindingCount]
    by_property: list[PropertyFindingCount]


class ErrorOut(_Out):
    detail: Any


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no valid bearer token"},
    403: {"model": ErrorOut, "description": "the token's role is too low"},
}
