"""Reading a policy file, with errors that point at the line."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from .. import _yaml
from ..errors import ConfigError
from ._compile import (
    CompiledPolicy,
    compile_policy,
    override_event_error,
    unknown_override_events,
)
from ._model import PolicySpec

# policies that ship with Redline, by the name that stands for them
BUILT_IN = {"redact-all": "redact-all.yaml"}


def load_policy(path: str | os.PathLike[str]) -> CompiledPolicy:
    """The policy in the file at ``path``, or the built-in policy named so
    (``redact-all``) when no such file exists."""
    built_in = built_in_name(path)
    if built_in is not None:
        resource = resources.files("redline.defaults") / BUILT_IN[built_in]
        return parse_policy(resource.read_text(), f"<built-in {built_in}>")
    text = _yaml.read(path, "policy file", "check the path given as the policy")
    return parse_policy(text, str(path))


def built_in_name(path: str | os.PathLike[str]) -> str | None:
    """The built-in policy ``path`` names: a file that exists always wins,
    and otherwise its last part is looked up (``redact-all``, also as a
    path resolved against the working directory)."""
    candidate = Path(path)
    if candidate.name in BUILT_IN and not candidate.exists():
        return candidate.name
    return None


def parse_policy(text: str, source: str = "<policy>") -> CompiledPolicy:
    raw, marks = _yaml.load(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(
            "a policy must be a mapping with at least 'version: 1'",
            path=source,
            line=1,
            fix="start the file with 'version: 1'",
        )
    try:
        spec = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise _yaml.validation_error(exc, marks, source) from None
    unknown = [
        override_event_error(
            destination,
            name,
            source,
            _yaml.locate(marks, ("destinations", destination, "events", name)),
        )
        for destination, name in unknown_override_events(spec)
    ]
    if unknown:
        raise ConfigError.joined(unknown)
    return compile_policy(spec, source)
