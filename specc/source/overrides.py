"""`--set KEY=VALUE`: values given on the command line, applied over the merged spec and located there."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from specc.codes import Code
from specc.errors import Diagnostic, Location, SpecError, dotted
from specc.source.files import Source
from specc.source.yaml_reader import read_yaml

_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_override(text: str) -> tuple[tuple, Any, Location]:
    """'train.epochs=3' -> (('train', 'epochs'), 3, where the value starts); the value is read as YAML."""
    where = Location(f"--set {text}", 1, 1)
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError([Diagnostic(Code.OVERRIDE_SYNTAX, "expected KEY=VALUE, e.g. train.epochs=3", where, "--set")])
    path, position = [], 0
    for match in _KEY_PART.finditer(key.strip()):
        if match.start() != position:
            break
        path.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end() + (1 if key.strip()[match.end():match.end() + 1] == "." else 0)
    if position < len(key.strip()) or not path:
        raise SpecError([Diagnostic(Code.OVERRIDE_SYNTAX, f"cannot read the key {key.strip()!r}: write it like model.layers[0].Dense.units",
                                    where, "--set")])
    value_location = Location(f"--set {text}", 1, len(key) + 2)
    try:
        value = read_yaml(raw, value_location.file).data if raw.strip() else None
    except SpecError as err:
        raise SpecError([Diagnostic(d.code, d.message, value_location, "--set") for d in err.diagnostics]) from None
    return tuple(path), value, value_location


def apply_overrides(source: Source, overrides: list[str]) -> Source:
    """The source with each `--set KEY=VALUE` applied, in order, and located on the command line.

    The source's own data is left as it was: every mapping and list on a key's
    path is copied before the value goes in (copy on write). The YAML reader
    gives the places an alias (`*a`, `<<: *a`) stands one shared object, so
    assigning in place would change all of them.
    """
    data = source.data
    for text in overrides:
        path, value, location = parse_override(text)
        if not isinstance(data, dict):
            raise SpecError([Diagnostic(Code.OVERRIDE_PATH, "the spec is not a mapping, so nothing can be set in it", location, "--set")])
        data = _with_value(data, path, value, location)
        source.positions.override(path, location)
    return replace(source, data=data)


def _with_value(data: dict, path: tuple, value: Any, location: Location) -> dict:
    """A copy of `data` with `value` at `path`; only the containers on the path are copied."""
    root = node = dict(data)
    for depth, part in enumerate(path[:-1]):
        if isinstance(node, list) and not (isinstance(part, int) and 0 <= part < len(node)):
            raise SpecError([Diagnostic(Code.OVERRIDE_PATH, f"{dotted(path[:depth])} has {len(node)} items; there is no [{part}]", location, "--set")])
        child = node.get(part) if isinstance(node, dict) else node[part]
        if child is None and isinstance(node, dict):
            child = {}
        if not isinstance(child, (dict, list)):
            raise SpecError([Diagnostic(Code.OVERRIDE_PATH, f"{dotted(path[:depth + 1])} is not a mapping or list, so it has no "
                                        f"{path[depth + 1]!r}", location, "--set")])
        child = node[part] = dict(child) if isinstance(child, dict) else list(child)
        node = child
    last = path[-1]
    if isinstance(node, list) and not (isinstance(last, int) and 0 <= last < len(node)):
        raise SpecError([Diagnostic(Code.OVERRIDE_PATH, f"{dotted(path[:-1])} has {len(node)} items; there is no [{last}]", location, "--set")])
    if isinstance(node, dict) and isinstance(last, int):
        raise SpecError([Diagnostic(Code.OVERRIDE_PATH, f"{dotted(path[:-1])} is a mapping; index it by key", location, "--set")])
    node[last] = value
    return root
