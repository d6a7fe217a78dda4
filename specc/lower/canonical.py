"""The fully resolved spec: what a run really uses, as a spec of its own.

`extends` merged, `${params.*}` interpolated, `--set` overrides applied and
every section's defaults filled in. Block bodies keep their `${name}`
parameters (they are instantiated per use), so the result is itself a valid
spec that loads to the same model. Its content hash names the spec in run
folders and generated files: same content, same hash, whatever the layout of
the YAML it came from.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from specc.ir import Spec


def resolved_document(spec: Spec) -> dict[str, Any]:
    """The resolved spec as plain data (no `extends`; absent optional sections left out)."""
    data = spec.document.model_dump(mode="python", exclude={"extends"})
    train = data.get("train")
    if train is not None and train.get("distribution") is None:
        # Absent means one device. Leaving it out keeps the hash of every spec written before
        # train.distribution existed, so their unfinished runs still resume.
        del train["distribution"]
    return {key: value for key, value in data.items() if value is not None}


def content_hash(spec: Spec) -> str:
    """sha256 of the resolved spec's canonical JSON."""
    canonical = json.dumps(resolved_document(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render_resolved(spec: Spec) -> str:
    """The resolved spec as YAML, headed by where it came from and its hash."""
    header = (f"# Resolved from {spec.path} by specc: extends merged, params interpolated, defaults filled.\n"
              f"# sha256: {content_hash(spec)}\n")
    body = yaml.safe_dump(resolved_document(spec), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)
    return header + body
