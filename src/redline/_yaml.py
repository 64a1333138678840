"""YAML loading that remembers where each value came from.

Configuration and policy errors must name the file, line and column. PyYAML's
composer keeps marks on every node; we build the plain Python value and, beside
it, a map from each value's path (a tuple of keys and indexes) to its 1-based
line and column.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import yaml

from .errors import ConfigError

Path = tuple[str | int, ...]
Marks = dict[Path, tuple[int, int]]
Path_ = str | os.PathLike[str]
# model class name -> (what its value is, in words; its keys)
Shapes = Mapping[str, tuple[str, Collection[str]]]


def read(path: Path_, what: str, fix: str) -> str:
    """The text of the file at ``path``, or a :class:`ConfigError` naming it
    (``what``: "policy file", "config file"...)."""
    try:
        return pathlib.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what} ({exc.strerror})", path=str(path), fix=fix
        ) from None


def load(text: str, source: str) -> tuple[Any, Marks]:
    """Parse ``text`` (read from ``source``) into plain values and marks."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem}",
            path=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            fix="check indentation and quoting around this point",
        ) from None
    except RecursionError:
        raise _too_deep(source) from None
    marks: Marks = {}
    if node is None:
        return None, marks
    try:
        return _build(node, (), marks, source, set(), [_MAX_VALUES]), marks
    except RecursionError:
        raise _too_deep(source) from None


# the most values a file may hold once its aliases are written out: far more
# than any policy or config needs, and a bound on what a file of a few
# hundred bytes that repeats aliases of aliases could make us build
_MAX_VALUES = 500_000


def _too_deep(source: str) -> ConfigError:
    return ConfigError(
        "values are nested too deeply to read",
        path=source,
        fix="write the lists and mappings with fewer levels",
    )


def _build(
    node: yaml.Node,
    path: Path,
    marks: Marks,
    source: str,
    within: set[int],
    budget: list[int],
) -> Any:
    # ``within``: the nodes this one is inside; an alias to one of them
    # (x: &a {b: *a}) would make a value that contains itself. ``budget``:
    # how many more values may be built
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"more than {_MAX_VALUES:,} values once its aliases are written out",
            path=source,
            fix="repeat fewer aliases of aliases; write the values out instead",
        )
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        within.add(id(node))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            raw_key = _scalar(key_node)
            if not isinstance(raw_key, str | int | float | bool):
                raise _at(key_node, source, "mapping keys must be plain scalars")
            key = str(raw_key)
            if key in out:
                raise ConfigError(
                    f"key {key!r} appears twice",
                    path=source,
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                    fix="remove or merge the repeated key",
                )
            if id(value_node) in within:
                raise _recursive(key_node, source)
            out[key] = _build(value_node, (*path, key), marks, source, within, budget)
        within.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        within.add(id(node))
        items = []
        for i, item in enumerate(node.value):
            if id(item) in within:
                raise _recursive(node, source)
            items.append(_build(item, (*path, i), marks, source, within, budget))
        within.discard(id(node))
        return items
    return _scalar(node)


def _recursive(node: yaml.Node, source: str) -> ConfigError:
    # the alias itself has no mark once composed: point at its key, or at
    # the list it is an item of
    return ConfigError(
        "an alias refers to a value that contains it",
        path=source,
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        fix="an alias can only repeat an anchored value from outside it",
    )


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return node
    return _LOADER.construct_object(node, deep=True)


# a loader used only to turn scalar nodes into values with YAML's own rules
_LOADER = yaml.SafeLoader("")


def _at(node: yaml.Node, source: str, message: str) -> ConfigError:
    return ConfigError(
        message,
        path=source,
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
    )


def locate(marks: Marks, loc: Sequence[str | int]) -> tuple[int, int] | None:
    """The line and column of the deepest known prefix of ``loc``."""
    path = tuple(loc)
    while path:
        if path in marks:
            return marks[path]
        path = path[:-1]
    return marks.get(())


def validation_error(
    exc: Any, marks: Marks, source: str, shapes: Shapes | None = None
) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into a :class:`ConfigError` that
    points at the offending line, carrying every other problem pydantic
    found in ``more`` (in file order).

    When a value may take several forms (an action name or a mapping),
    pydantic reports one error per form; the one that got deepest into the
    user's input is the one worth showing, once per value.

    ``shapes``: per model class name, what its value is in plain words ("a
    project: a mapping with ingest_keys and forward") and its keys, for the
    errors pydantic words as "a mapping or instance of ProjectSpec".
    """
    errors = exc.errors(include_url=False)
    for err in errors:
        # only the kind of value given is kept, never the value
        err["given"] = _kind_of(err.pop("input", None))
    items = [
        _Item(_user_path(err["loc"], err["type"], marks), i, err)
        for i, err in enumerate(errors)
    ]
    chosen = _choose(items, 0, marks)
    # an error about a value whose parts have errors of their own ("at
    # least 1 item after validation" of a list whose only item failed)
    # says nothing more
    ancestors = {item.path[:i] for item in chosen for i in range(len(item.path))}
    chosen = [item for item in chosen if item.path not in ancestors]
    found = [_error(item, marks, source, shapes or {}) for item in chosen]
    found.sort(key=lambda e: (e.line or 0, e.column or 0))
    return ConfigError.joined(found)


class _Item:
    """One pydantic error: its location, with the parts that exist in the
    file (``path``) told apart from the union labels pydantic adds."""

    __slots__ = ("err", "index", "labels", "loc", "path")

    def __init__(self, kept: tuple[Path, frozenset[int]], index: int, err: Any):
        self.path, self.labels = kept
        self.loc: tuple[Any, ...] = tuple(err["loc"])
        self.index = index
        self.err = err


def _choose(items: list[_Item], start: int, marks: Marks) -> list[_Item]:
    """The errors worth showing among ``items``, which share ``loc[:start]``:
    every error outside a union, and per union value the errors of the one
    form tried (a tagged union) or the deepest error of all forms."""
    chosen: list[_Item] = []
    unions: dict[tuple[Any, ...], dict[Any, list[_Item]]] = {}
    for item in items:
        label = next((i for i in sorted(item.labels) if i >= start), None)
        if label is None:
            chosen.append(item)
            continue
        forms = unions.setdefault(item.loc[:label], {})
        forms.setdefault(item.loc[label], []).append(item)
    for prefix, forms in unions.items():
        if len(forms) == 1:
            (members,) = forms.values()
            chosen.extend(_choose(members, len(prefix) + 1, marks))
        else:
            every = [item for members in forms.values() for item in members]
            chosen.append(
                max(every, key=lambda item: (_depth(item.path, marks), -item.index))
            )
    return sorted(chosen, key=lambda item: item.index)


def _error(item: _Item, marks: Marks, source: str, shapes: Shapes) -> ConfigError:
    loc, first = item.path, item.err
    where = locate(marks, loc)
    field = ".".join(str(part) for part in loc) or "(top level)"
    kind = first["type"]
    fix: str | None
    if kind == "extra_forbidden":
        message = f"unknown key {field!r}"
        fix = "remove it or check its spelling against the documented keys"
    elif kind == "missing":
        message = f"{field}: required key is missing"
        fix = f"add {loc[-1]!r} here" if loc else None
    elif kind in _MAPPINGS:
        class_name = str((first.get("ctx") or {}).get("class_name"))
        what = shapes.get(class_name, ("a mapping of keys to values", ()))[0]
        given = first["given"]
        message = f"{field}: should be {what}, " + (
            "but it is empty" if given == "nothing" else f"not {given}"
        )
        name = loc[-1] if loc else None
        if class_name in shapes and name in shapes[class_name][1]:
            # forward: at the level of project names, a line too far left
            noun = what.split(":")[0]
            fix = f"{name!r} is a key of {noun}: indent it under the one it belongs to"
        elif given == "nothing":
            fix = "write its keys under it, or remove it"
        else:
            fix = "write a mapping of keys to values"
    else:
        message = f"{field}: {_plain(first['msg'])}"
        ctx = first.get("ctx") or {}
        fix = _FIXES.get(kind)
        if "fix" in ctx:
            # a model's own error carries its fix; {key}: the setting's name
            fix = str(ctx["fix"]).replace("{key}", str(loc[-1]) if loc else "")
        expected = ctx.get("expected")
        if kind in ("literal_error", "enum") and expected:
            message = f"{field}: not one of the allowed values"
            fix = f"write one of {expected}"
            if "'keep'" in expected:
                fix += _MAPPING_ACTIONS
        elif kind == "union_tag_invalid":
            name = str(ctx.get("discriminator", "tag")).strip("'")
            message = f"{field}: unknown {name} {ctx.get('tag')!r}"
            fix = f"write one of {ctx.get('expected_tags')}"
    return ConfigError(
        message,
        path=source,
        line=where[0] if where else None,
        column=where[1] if where else None,
        fix=fix,
    )


# errors of a value that should have been a mapping
_MAPPINGS = ("model_type", "model_attributes_type", "dict_type")


def _kind_of(value: Any) -> str:
    """The kind of a YAML value, in words (never the value)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a date" if hasattr(value, "isoformat") else "another kind of value"


# pydantic's words for YAML's shapes, and what to write instead
_FIXES = {
    "tuple_type": "write a YAML list, e.g. [a, b]",
    "list_type": "write a YAML list, e.g. [a, b]",
    "string_type": "write a string (quote it if it looks like a number)",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "float_type": "write a number",
    "float_parsing": "write a number",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "greater_than": "use a larger number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "string_pattern_mismatch": "use only the characters the field allows",
    "too_short": "give at least one entry",
    "value_error": None,
}


# actions with settings have no bare form; say so where bare names are listed
_MAPPING_ACTIONS = (
    ", or a mapping for the actions with settings, "
    "e.g. {action: mask, keep_last: 4} (see docs/policy.md)"
)


def _plain(message: str) -> str:
    # YAML has lists and mappings, not tuples and dictionaries
    return (
        message.replace("a valid tuple", "a list")
        .replace("a valid list", "a list")
        .replace("a valid dictionary", "a mapping")
        .replace("Value error, ", "")
        .split(" or instance of ")[0]
    )


def _user_path(
    loc: Sequence[Any], kind: str, marks: Marks
) -> tuple[Path, frozenset[int]]:
    # pydantic puts the names of union members it tried into locations;
    # keep only the parts that exist in the file (and a final missing key),
    # and say where the others (the labels) were
    kept: list[str | int] = []
    labels: set[int] = set()
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if (*kept, part) in marks or (last and kind == "missing" and _is_key(part)):
            kept.append(part)
        else:
            labels.add(i)
    return tuple(kept), frozenset(labels)


def _is_key(part: Any) -> bool:
    return isinstance(part, int) or (isinstance(part, str) and "[" not in part)


def _depth(path: Path, marks: Marks) -> int:
    return len(path) + (1 if path in marks else 0)
