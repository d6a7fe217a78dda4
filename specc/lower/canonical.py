"""The canonical form of a resolved spec, and its content hash.

The canonical form is the fully resolved spec as plain data: `extends`
merged, `${params.*}` interpolated, `--set` overrides applied and every
section's defaults filled in. Block bodies keep their `${name}` parameters
(they are instantiated per use), so the result is itself a valid spec that
loads to the same model. Its sha256 names the spec in run folders and
generated files: same content, same hash, whatever the layout of the YAML it
came from.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

CANONICAL_VERSION = 1


def canonical_form(document: Any) -> dict[str, Any]:
    """The resolved spec (a specc.schema.SpecDocument) as plain data: no `extends`, absent optional sections left out."""
    data = document.model_dump(mode="python", exclude={"extends"})
    train = data.get("train")
    if train is not None and train.get("distribution") is None:
        # Absent means one device. Leaving it out keeps the hash of every spec written before
        # train.distribution existed, so their unfinished runs still resume.
        del train["distribution"]
    return {key: value for key, value in data.items() if value is not None}


def content_hash(form: dict[str, Any]) -> str:
    """sha256 of the canonical form's JSON."""
    text = json.dumps(form, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_resolved(spec) -> str:
    """The resolved spec (a specc.ir.Spec) as YAML, headed by where it came from and its hash."""
    header = (f"# Resolved from {spec.path} by specc: extends merged, params interpolated, defaults filled.\n"
              f"# sha256: {spec.sha256}\n")
    body = yaml.safe_dump(dict(spec.canonical), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    return header + body
