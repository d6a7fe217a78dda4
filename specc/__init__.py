"""specc: a declarative model-spec compiler for Keras 3.

    import specc
    spec = specc.load("specs/mlp.yaml")   # raises specc.SpecError listing every problem
    spec.graph.layers                       # the lowered model, ready for a backend

Loading and validating never import Keras or TensorFlow.
"""

from __future__ import annotations

import os
from typing import Sequence

from specc.errors import Diagnostic, Location, SpecError
from specc.ir import Spec

__version__ = "0.1.0"
__all__ = ["Diagnostic", "Location", "Spec", "SpecError", "TrainResult", "build_model", "import_model", "load", "train"]


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Spec:
    """Read, validate and lower one spec file.

    `overrides` are `KEY=VALUE` strings, as `--set` takes them
    (`train.epochs=1`), applied over the merged spec before validation.
    Raises `SpecError` carrying every located problem found in the file (and
    in the files it extends, and in the overrides).
    """
    from specc.pipeline import load as load_spec

    return load_spec(path, overrides)


def build_model(spec: "Spec | str | os.PathLike", *, compile: bool = True):
    """The Keras model a spec (or spec file) describes; see `specc.build.build_model`."""
    from specc.build import build_model as build

    return build(spec, compile=compile)


def train(spec: "Spec | str | os.PathLike", *, overrides: Sequence[str] = (), out: "str | os.PathLike | None" = None,
          resume: bool = False):
    """Train the spec's model on its data into a run folder; see `specc.run.train.train`."""
    from specc.run.train import train as run

    return run(spec, overrides=overrides, out=out, resume=resume)


def import_model(model, name: str | None = None) -> str:
    """The spec text of a Keras model, checked to build the same model; see `specc.importer.import_model`."""
    from specc.importer import import_model as run

    return run(model, name)


def __getattr__(name: str):
    # TrainResult is imported when asked for: `specc validate` never needs the training modules.
    if name == "TrainResult":
        from specc.run.train import TrainResult

        return TrainResult
    raise AttributeError(f"module 'specc' has no attribute {name!r}")
