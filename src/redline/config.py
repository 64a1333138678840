"""The gateway's configuration: one YAML file plus environment variables.

Loaded once into frozen, typed objects. Every error names the file, line and
column and says how to fix it; secret values never appear in messages.

Environment variables override the file: ``REDLINE_HOST``, ``REDLINE_PORT``,
``REDLINE_DATA_DIR``, ``REDLINE_POLICY`` and ``REDLINE_LOG_LEVEL``. Command-line
options override both.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import stat
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from . import _yaml
from .errors import ConfigError
from .sensitive import Sensitive

DEFAULT_CONFIG_NAME = "redline.yaml"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSpec(_Spec):
    """Where a secret comes from: an environment variable or a file."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _where_not_what(cls, data: Any) -> Any:
        # a secret pasted in place of its source must not reach a message:
        # neither as a value (token: abc) nor as a key (token: {abc})
        if isinstance(data, SecretSpec):
            return data
        if isinstance(data, dict) and set(data) <= {"env", "file"}:
            return data
        reason = (
            "a secret is given as where to read it (an environment variable or a "
            "file), never as the value itself"
            if not isinstance(data, dict)
            else "a secret has only the keys env and file"
        )
        raise PydanticCustomError(
            "secret_spec",
            reason,
            {
                "fix": "write {key}: {env: VARIABLE} or {key}: {file: PATH}, with the "
                "secret in that variable or file"
            },
        )

    def resolve(
        self, base: Path, where: str, environ: Mapping[str, str] | None = None
    ) -> Sensitive[str]:
        if (self.env is None) == (self.file is None):
            raise ConfigError(
                f"{where}: give exactly one of 'env' or 'file'",
                fix="write {env: VARIABLE_NAME} or {file: /path/to/secret}",
            )
        if self.env is not None:
            value = (os.environ if environ is None else environ).get(self.env)
            if not value:
                raise ConfigError(
                    f"{where}: environment variable {self.env} is not set",
                    fix=f"export {self.env} first",
                )
            return Sensitive(value.strip())
        assert self.file is not None
        path = (base / self.file).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot read secret file {path} ({exc.strerror})",
                fix="check the path and that Redline may read it",
            ) from None
        require_private(path, f"{where}: the secret file")
        return Sensitive(text)


def require_private(path: Path, what: str) -> None:
    """Refuse a file holding (or pointing at) secrets that users other
    than its owner may read or write."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path} may be read by other users (mode {stat.S_IMODE(mode):o})",
            fix=f"chmod 600 {path}",
        )


class TlsSpec(_Spec):
    cert_file: str
    key_file: str


class RateLimitSpec(_Spec):
    # "1000/second", "50000/minute", "10/second": events per ingest key
    per_key: str | None = None
    # requests per client address (after client_ip_header)
    per_client: str | None = None

    @field_validator("per_key", "per_client")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            from limits import parse

            try:
                parse(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate; write e.g. 100/second or 6000/minute"
                ) from None
        return value


class ServerSpec(_Spec):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    data_dir: str = "./redline-data"
    # largest request body accepted, before and after decompression
    max_body_bytes: Annotated[int, Field(gt=0)] = 2 * 1024 * 1024
    max_events_per_request: Annotated[int, Field(gt=0)] = 2000
    # insert ids of the last this many records accepted are remembered (in
    # memory), so a record a client sends again is forwarded once; 0: off
    dedup_window_records: Annotated[int, Field(ge=0)] = 250_000
    # behind a load balancer: the header carrying the client address, and the
    # peers allowed to set it (anyone else's header is ignored)
    client_ip_header: str | None = None
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    # origins a browser may send from; "*" echoes any origin
    cors_origins: tuple[str, ...] = ("*",)
    tls: TlsSpec | None = None
    shutdown_timeout: Annotated[float, Field(gt=0)] = 10.0
    # a bearer token for the dashboard (/ui) and its JSON API; open when unset
    ui_token: SecretSpec | None = None
    # per ingest key (events) and per client address (requests); unset: none
    rate_limits: RateLimitSpec | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP network; write e.g. 10.0.0.0/8"
                ) from None
        return value


class OutboxSpec(_Spec):
    # "power": each commit reaches the disk (fsync), surviving power loss.
    # "process": survives a crash of Redline, not of the machine.
    durability: Literal["power", "process"] = "power"
    # "process": the outbox's SQLite writer runs in a child process, so its
    # commits never wait on the interpreter lock the requests hold;
    # "thread": in a thread of the gateway's process
    writer: Literal["process", "thread"] = "process"
    max_events: Annotated[int, Field(gt=0)] = 1_000_000
    retry_initial_seconds: Annotated[float, Field(gt=0)] = 2.0
    retry_max_seconds: Annotated[float, Field(gt=0)] = 60.0
    # after this many attempts a retryable failure becomes a dead letter
    max_attempts: Annotated[int, Field(gt=0)] = 20
    # /readyz fails while this many records wait (default: 90% of max_events)
    high_water: Annotated[int, Field(gt=0)] | None = None

    @property
    def high_water_events(self) -> int:
        if self.high_water is not None:
            return min(self.high_water, self.max_events)
        return max(1, self.max_events * 9 // 10)


class LogSpec(_Spec):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class DestinationSpec(_Spec):
    type: Literal["local", "mixpanel", "posthog", "segment", "amplitude"]
    # the vendor's residency region (mixpanel: us, eu, in; posthog, segment
    # and amplitude: us, eu), or a base URL (a self-hosted PostHog, a proxy,
    # a test), which wins over the region when both are given
    region: Literal["us", "eu", "in"] = "us"
    base_url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_batch: Annotated[int, Field(gt=0, le=2000)] = 50


class ForwardSpec(_Spec):
    destination: str
    # the upstream credential put in place of the ingest key: the Mixpanel
    # project token, PostHog project API key, Segment write key or
    # Amplitude API key
    token: SecretSpec | None = None
    # credentials for Mixpanel's /import: "user:secret" of a service account,
    # or a legacy project API secret
    import_secret: SecretSpec | None = None
    project_id: str | None = None


class IngestKeySpec(_Spec):
    """An ingest key with its label, expiry and allowed browser origins."""

    key: Annotated[str, Field(min_length=1)]
    label: str | None = None
    expires_at: datetime.datetime | datetime.date | None = None
    # origins a browser may send this key from; empty: any
    origins: tuple[str, ...] = ()


class ProjectSpec(_Spec):
    ingest_keys: tuple[str | IngestKeySpec, ...] = Field(min_length=1)
    forward: tuple[ForwardSpec, ...] = Field(min_length=1)


class AuditKeySpec(_Spec):
    key_id: Annotated[str, Field(min_length=1, max_length=64)]
    key: SecretSpec


class AuditLogSpec(_Spec):
    """The tamper-evident audit log (see ``redline.auditlog``)."""

    enabled: bool = True
    # default: the data directory; relative to the config file
    directory: str | None = None
    # the checkpoint signing key; without one, audit.key in the data directory
    key: SecretSpec | None = None
    key_id: Annotated[str, Field(min_length=1, max_length=64)] = "audit"
    # keys that signed older checkpoints, for verification only
    previous_keys: tuple[AuditKeySpec, ...] = ()
    # counts of what was dropped, hashed and redacted, once per interval
    summary_interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    checkpoint_every: Annotated[int, Field(ge=1)] = 100
    max_file_bytes: Annotated[int, Field(ge=4096)] = 16 * 1024 * 1024
    # default: the outbox's durability
    durability: Literal["power", "process"] | None = None


class ConfigSpec(_Spec):
    server: ServerSpec = ServerSpec()
    outbox: OutboxSpec = OutboxSpec()
    log: LogSpec = LogSpec()
    audit_log: AuditLogSpec = AuditLogSpec()
    policy: str | None = None
    destinations: dict[str, DestinationSpec] = Field(
        default_factory=lambda: {"local": DestinationSpec(type="local")}
    )
    projects: dict[str, ProjectSpec] = Field(min_length=1)


# what a value of each model is, in the words of config errors
_SHAPES: _yaml.Shapes = {
    model.__name__: (what, frozenset(model.model_fields))
    for model, what in (
        (TlsSpec, "the TLS settings: a mapping with cert_file and key_file"),
        (RateLimitSpec, "the rate limits: a mapping such as {per_key: 1000/second}"),
        (ServerSpec, "the server settings: a mapping such as {port: 8080}"),
        (OutboxSpec, "the outbox settings: a mapping such as {durability: power}"),
        (LogSpec, "the log settings: a mapping such as {level: info}"),
        (
            DestinationSpec,
            "a destination: a mapping with a type, such as {type: posthog}",
        ),
        (ForwardSpec, "a forward: a mapping with a destination and its token"),
        (
            IngestKeySpec,
            "an ingest key: a string, or a mapping with key (and label, "
            "expires_at, origins)",
        ),
        (ProjectSpec, "a project: a mapping with ingest_keys and forward"),
        (AuditKeySpec, "a previous key: a mapping with key_id and key"),
        (AuditLogSpec, "the audit log settings: a mapping such as {enabled: true}"),
        (ConfigSpec, "a mapping of settings"),
    )
}


# destination type -> (vendor, what its token is)
_CREDENTIALS = {
    "mixpanel": ("Mixpanel", "upstream project token"),
    "posthog": ("PostHog", "PostHog project API key"),
    "segment": ("Segment", "Segment source write key"),
    "amplitude": ("Amplitude", "Amplitude project API key"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Upstream:
    """One destination of one project, with its resolved credentials."""

    destination: str
    spec: DestinationSpec
    token: Sensitive[str] | None
    import_secret: Sensitive[str] | None
    project_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    name: str
    upstreams: tuple[Upstream, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    spec: ConfigSpec
    source: str  # the file it came from, or "<built-in>"
    base_dir: Path
    policy_path: Path
    data_dir: Path
    # ingest key -> project; the keys are public, but still never logged whole
    keys: Mapping[str, Project]
    projects: Mapping[str, Project]
    # ingest key -> its label, expiry and origins, for keys written as mappings
    key_specs: Mapping[str, IngestKeySpec] = dataclasses.field(default_factory=dict)
    # the dashboard's bearer token, when one is configured
    ui_token: Sensitive[str] | None = None

    @property
    def server(self) -> ServerSpec:
        return self.spec.server


def default_config_text() -> str:
    return resources.files("redline.defaults").joinpath("redline.yaml").read_text()


def default_policy_path() -> Path:
    return Path(str(resources.files("redline.defaults").joinpath("policy.yaml")))


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
) -> Config:
    """Load the config at ``path``, or the built-in example when None.

    ``overrides`` are server settings from the command line (``host``,
    ``port``, ``data_dir``, ``policy``) and win over the environment.
    ``resolve_secrets=False`` leaves upstream credentials unread (as None),
    for commands that only look at the data directory.
    """
    env = os.environ if environ is None else environ
    if path is None:
        source, text, base = "<built-in redline.yaml>", default_config_text(), None
    else:
        file = Path(path)
        source = str(file)
        text = _yaml.read(file, "config file", "pass an existing file to --config")
        base = file.resolve().parent
    raw, marks = _yaml.load(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping", path=source, line=1)

    origins: dict[tuple[str, ...], str] = {}
    raw = _apply_overrides(raw, env, overrides or {}, origins)
    try:
        spec = ConfigSpec.model_validate(raw)
    except ValidationError as exc:
        raise _override_error(exc, origins) or _yaml.validation_error(
            exc, marks, source, _SHAPES
        ) from None
    config = _compile(spec, source, marks, base or Path.cwd(), resolve_secrets, env)
    if path is not None and resolve_secrets and _names_secret_files(spec):
        # whoever reads the config learns where the secrets are (checked
        # after the secret files themselves, whose errors are more precise)
        try:
            require_private(Path(path), "the config file, which names secret files,")
        except ConfigError as exc:
            raise ConfigError(exc.reason, path=source, fix=exc.fix) from None
    return config


def _names_secret_files(spec: ConfigSpec) -> bool:
    specs = [spec.server.ui_token, spec.audit_log.key]
    for project in spec.projects.values():
        for fwd in project.forward:
            specs += [fwd.token, fwd.import_secret]
    return any(s is not None and s.file is not None for s in specs)


def _apply_overrides(
    raw: dict[str, Any],
    env: Mapping[str, str],
    cli: Mapping[str, Any],
    origins: dict[tuple[str, ...], str],
) -> dict[str, Any]:
    """``raw`` with the environment's and the command line's settings;
    ``origins`` learns which variable or option set each one."""
    # a section that is not a mapping is left as written: validation says
    # so, at its line
    server = raw.get("server") or {}
    server = dict(server) if isinstance(server, dict) else None
    names = {
        "host": "REDLINE_HOST",
        "port": "REDLINE_PORT",
        "data_dir": "REDLINE_DATA_DIR",
    }
    for key, var in names.items():
        if server is None:
            break
        if env.get(var):
            server[key] = env[var]
            origins["server", key] = f"{var}={env[var]}"
        if cli.get(key) is not None:
            server[key] = cli[key]
            origins["server", key] = f"--{key.replace('_', '-')} {cli[key]}"
    out = dict(raw)
    if server:
        out["server"] = server
    if env.get("REDLINE_POLICY"):
        out["policy"] = env["REDLINE_POLICY"]
    if cli.get("policy") is not None:
        out["policy"] = str(cli["policy"])
    if env.get("REDLINE_LOG_LEVEL") and isinstance(raw.get("log") or {}, dict):
        origins["log", "level"] = f"REDLINE_LOG_LEVEL={env['REDLINE_LOG_LEVEL']}"
        out["log"] = {
            **(raw.get("log") or {}),
            "level": env["REDLINE_LOG_LEVEL"].lower(),
        }
    return out


def _override_error(
    exc: ValidationError, origins: Mapping[tuple[str, ...], str]
) -> ConfigError | None:
    """The error about a value set by a variable or an option, naming it
    (the config file has no line for it); None when the file is at fault."""
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(str(part) for part in error["loc"])
        origin = origins.get(loc)
        if origin is None:
            continue
        setting = ".".join(loc)
        variable = origin.split("=")[0].split(" ")[0]
        if loc == ("server", "port"):
            reason, wanted = "not a port number", "a port from 0 to 65535"
        else:
            expected = (error.get("ctx") or {}).get("expected")
            reason = f"not a valid {setting}"
            wanted = f"one of {expected}" if expected else f"a valid {setting}"
        how = f"set {variable} to" if "=" in origin else f"pass {variable}"
        return ConfigError(reason, path=origin, fix=f"{how} {wanted}")
    return None


def base_url_problem(url: str) -> tuple[str, str] | None:
    """What is wrong with a destination's ``base_url`` and how to fix it,
    or None: it must be an http or https URL with a host, and no
    credentials, query or fragment (the API path is appended to it). The
    answer never repeats credentials, a query or a fragment."""
    from urllib.parse import urlsplit

    import httpx

    example = "e.g. https://posthog.example.com or http://127.0.0.1:9999"
    if not url:
        return "empty", f"write a URL, {example}, or remove it"
    scheme, has_scheme, rest = url.partition("://")
    authority = (rest if has_scheme else url).split("/")[0]
    if "@" in authority.split("?")[0].split("#")[0]:
        return (
            "credentials in the URL (user:password@) would be logged with it",
            "remove them from the URL and give the credential as the forward's "
            "token: {env: VARIABLE} or token: {file: PATH}",
        )
    if any(char.isspace() for char in url):
        return "a space in the URL", "remove the spaces"
    if not has_scheme:
        bare = url.split("?")[0].split("#")[0]
        return "no scheme", f"write it as http://{bare} (https:// for TLS)"
    if scheme.lower() not in ("http", "https"):
        return "not an http or https URL", "write it with http:// or https://"
    parts = urlsplit(url)
    if not parts.hostname:
        return "no host", f"write a host after {scheme}://, {example}"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return (
            "a query or fragment (?... or #...) cannot be kept: the API "
            "path is appended to the URL",
            "remove everything from the ? or #",
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return "not a valid URL", f"check its host and port, {example}"
    return None


def _compile(
    spec: ConfigSpec,
    source: str,
    marks: _yaml.Marks,
    base: Path,
    resolve_secrets: bool,
    env: Mapping[str, str],
) -> Config:
    def err(loc: tuple[str | int, ...], message: str, fix: str) -> ConfigError:
        where = _yaml.locate(marks, loc)
        return ConfigError(
            message,
            path=source,
            line=where[0] if where else None,
            column=where[1] if where else None,
            fix=fix,
        )

    for dest_name, dest_spec in spec.destinations.items():
        if dest_spec.base_url is not None:
            problem = base_url_problem(dest_spec.base_url)
            if problem is not None:
                reason, fix = problem
                raise err(
                    ("destinations", dest_name, "base_url"),
                    f"destinations.{dest_name}.base_url: {reason}",
                    fix,
                )

    keys: dict[str, Project] = {}
    key_specs: dict[str, IngestKeySpec] = {}
    projects: dict[str, Project] = {}
    for name, project_spec in spec.projects.items():
        upstreams = []
        for i, fwd in enumerate(project_spec.forward):
            loc = ("projects", name, "forward", i)
            dest = spec.destinations.get(fwd.destination)
            if dest is None:
                raise err(
                    (*loc, "destination"),
                    f"project {name!r} forwards to unknown destination "
                    f"{fwd.destination!r}",
                    "define it under 'destinations' or fix the name",
                )
            where = f"projects.{name}.forward.{i}"
            token = secret = None
            if resolve_secrets:
                secrets = (("token", fwd.token), ("import_secret", fwd.import_secret))
                for field, secret_spec in secrets:
                    if secret_spec is None:
                        continue
                    try:
                        value = secret_spec.resolve(base, f"{where}.{field}", env)
                    except ConfigError as exc:
                        raise err((*loc, field), exc.reason, exc.fix or "") from None
                    if field == "token":
                        token = value
                    else:
                        secret = value
            if dest.type != "local" and fwd.token is None:
                vendor, what = _CREDENTIALS[dest.type]
                raise err(
                    loc,
                    f"project {name!r} forwards to {vendor} without a token",
                    f"add token: {{env: VARIABLE}} with the {what}",
                )
            if dest.type not in ("mixpanel", "local") and dest.region == "in":
                raise err(
                    ("destinations", fwd.destination, "region"),
                    f"{_CREDENTIALS[dest.type][0]} has no 'in' region",
                    "use region: us or eu, or base_url: for a self-hosted instance",
                )
            upstreams.append(
                Upstream(fwd.destination, dest, token, secret, fwd.project_id)
            )
        project = Project(name, tuple(upstreams))
        projects[name] = project
        for entry in project_spec.ingest_keys:
            key = entry if isinstance(entry, str) else entry.key
            if not isinstance(entry, str):
                key_specs[key] = entry
            if key in keys:
                raise err(
                    ("projects", name, "ingest_keys"),
                    "an ingest key is used by two projects",
                    "give each project its own keys",
                )
            keys[key] = project

    if spec.policy is None:
        policy_path = default_policy_path()
    else:
        policy_path = (base / spec.policy).expanduser()
    # relative paths are relative to the config file (the working directory
    # for the built-in config)
    data_dir = (base / spec.server.data_dir).expanduser()
    ui_token = None
    if spec.server.ui_token is not None and resolve_secrets:
        try:
            ui_token = spec.server.ui_token.resolve(base, "server.ui_token", env)
        except ConfigError as exc:
            raise err(("server", "ui_token"), exc.reason, exc.fix or "") from None
    return Config(
        spec=spec,
        source=source,
        base_dir=base,
        policy_path=policy_path,
        data_dir=data_dir,
        keys=keys,
        projects=projects,
        ui_token=ui_token,
        key_specs=key_specs,
    )
