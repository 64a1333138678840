"""The allowlist policy: schema, loading and compiled form."""

from ._compile import (
    Action,
    Aggregate,
    CompiledPolicy,
    Condition,
    Mode,
    PreviousKey,
    Rule,
    Ruleset,
    compile_policy,
)
from ._load import built_in_name, load_policy, parse_policy
from ._model import DETECTOR_NAMES, PolicySpec

__all__ = [
    "DETECTOR_NAMES",
    "Action",
    "Aggregate",
    "CompiledPolicy",
    "Condition",
    "Mode",
    "PolicySpec",
    "PreviousKey",
    "Rule",
    "Ruleset",
    "built_in_name",
    "compile_policy",
    "load_policy",
    "parse_policy",
]
