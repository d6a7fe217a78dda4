"""The canonical form of a resolved spec, and its content hash.

The canonical form is the fully resolved spec as plain data: `extends`
merged, `${params.*}` interpolated, `--set` overrides applied and every
section's defaults filled in. Block bodies keep their `${name}` parameters
(they are instantiated per use), so the result is itself a valid spec that
loads to the same model. Its sha256 names the spec in run folders and
generated files: same content, same hash, whatever the layout of the YAML it
came from.

The form is versioned, so that hashes stay valid as the spec language grows
(an unfinished run resumes only under the hash it started with):

- version 1 is the document as `model_dump(mode="python")` gives it, without
  `extends` and without the top-level sections that are absent (None);
- a new optional field is declared with `Since(N)` (specc.schema.base), N
  being one above `CANONICAL_VERSION`: `Annotated[X | None, Since(2)]`. While
  N is above `CANONICAL_VERSION`, the field is left out wherever it holds
  None, so every spec written before it existed keeps its hash;
- a change of the form that changes hashes bumps `CANONICAL_VERSION`. Fields
  marked `Since(N)` with N up to the new version are then always written, and
  their markers can go.
"""

from __future__ import annotations

import hashlib
import json
import typing
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel

from specc.schema.base import Since

CANONICAL_VERSION = 1


def canonical_form(document: Any) -> dict[str, Any]:
    """The resolved spec (a specc.schema.SpecDocument) as plain data: no `extends`; absent sections, and absent
    fields marked `Since` a later version, left out."""
    # by_alias: keys as a spec writes them (`class`, which Python cannot name a field)
    data = document.model_dump(mode="python", by_alias=True, exclude={"extends": True, **_later_and_absent(document)})
    return {key: value for key, value in data.items() if value is not None}


def _later_and_absent(value: Any) -> dict:
    """model_dump's `exclude` for the None fields marked as added after this version, in `value` and below."""
    if isinstance(value, BaseModel):
        exclude: dict = {}
        for name, marked in _fields_to_visit(type(value)):
            item = getattr(value, name)
            if item is None and marked:
                exclude[name] = True
            elif inner := _later_and_absent(item):
                exclude[name] = inner
        return exclude
    if isinstance(value, (list, tuple)):
        return {index: inner for index, item in enumerate(value) if (inner := _later_and_absent(item))}
    if isinstance(value, dict):
        return {key: inner for key, item in value.items() if (inner := _later_and_absent(item))}
    return {}


@cache
def _fields_to_visit(model: type) -> tuple[tuple[str, bool], ...]:
    """(field, marked Since a later version) for the fields of `model` that are marked or can hold models:
    the others (a spec's layers, say: plain data) cannot hold a marked field, and are not walked."""
    return tuple((name, _added_later(info.metadata)) for name, info in model.model_fields.items()
                 if _added_later(info.metadata) or _holds_models(info.annotation))


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in typing.get_args(annotation))


def _added_later(metadata: list) -> bool:
    return any(isinstance(mark, Since) and mark.version > CANONICAL_VERSION for mark in metadata)


def content_hash(form: dict[str, Any]) -> str:
    """sha256 of the canonical form's JSON."""
    try:
        text = _canonical_json(form)
    except TypeError:  # keys JSON cannot sort; rare, so the common path makes no copy
        text = _canonical_json(_sortable(form))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical_json(form: Any) -> str:
    return json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sortable(value: Any) -> Any:
    """The form with the keys of a mapping that mixes key types (`{a: 1, 0: 2}`, possible in a block body,
    which is checked only where it is used) written as strings, so that JSON can sort them. Mappings
    whose keys sort already are left as they are: their JSON, and so every hash, stays the same."""
    if isinstance(value, dict):
        try:
            sorted(value)
        except TypeError:
            return {str(key): _sortable(item) for key, item in value.items()}
        return {key: _sortable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sortable(item) for item in value]
    return value


def render_resolved(spec) -> str:
    """The resolved spec (a specc.ir.Spec) as YAML, headed by where it came from and its hash."""
    header = (f"# Resolved from {spec.path} by specc: extends merged, params interpolated, defaults filled.\n"
              f"# sha256: {spec.sha256}\n")
    body = yaml.safe_dump(dict(spec.canonical), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    return header + body
