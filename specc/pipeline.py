"""The compiler's stages in order: a spec file in, one frozen `Spec` (the IR) out.

    load      specc.load      the YAML with positions, `extends` merged, `--set` applied
    validate  specc.validate  structure (pydantic) and Keras objects (the catalog)
    lower     specc.lower     params, blocks, names, references, values and paths -> specc.ir

The backends (specc.build, specc.emit, and specc.run around build) start from
what this returns and read nothing else.
"""

from __future__ import annotations

import os
from typing import Sequence

from specc.ir import Spec


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Spec:
    """Read, validate and lower one spec file; raises SpecError listing every located problem."""
    from specc.source import apply_overrides, load_source
    from specc.validate.structure import validate_source

    source = load_source(path)
    if overrides:
        source = apply_overrides(source, list(overrides))
    return validate_source(source)


def as_spec(spec: Spec | str | os.PathLike, overrides: Sequence[str] = ()) -> Spec:
    """A loaded spec, or the spec file loaded with `overrides` (which apply to files only)."""
    if isinstance(spec, Spec):
        if overrides:
            raise TypeError("overrides apply to a spec file: pass its path, or load it with specc.load(path, overrides)")
        return spec
    return load(spec, overrides)
