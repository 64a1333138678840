"""Reading a policy file, with errors that point at the line."""

from __future__ import annotations

import os

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


def load_policy(path: str | os.PathLike[str]) -> CompiledPolicy:
    text = _yaml.read(path, "policy file", "check the path given as the policy")
    return parse_policy(text, str(path))


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
    unknown = unknown_override_events(spec)
    if unknown:
        destination, name = unknown[0]
        where = _yaml.locate(marks, ("destinations", destination, "events", name))
        raise override_event_error(destination, name, source, where)
    return compile_policy(spec, source)
