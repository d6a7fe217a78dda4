"""Keras itself, for the build backend: importing it, its objects at catalog paths, and its messages.

The only module of specc that turns names into Keras objects. Only paths from
the catalog (Keras's public API, under `keras.`) are ever looked up: nothing
in a spec can name an arbitrary import path.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

from specc.ir import Call, File


def import_keras():
    """Keras, with the backend specc was written for unless the environment says otherwise.

    Without KERAS_BACKEND, Keras reads ~/.keras/keras.json, which may name any backend.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's start-up INFO lines are noise in a CLI
    import keras

    return keras


def keras_callable(path: str) -> Any:
    """The Keras class or function at a catalog path, e.g. keras.layers.Dense."""
    module, _, attr = path.rpartition(".")
    if not module.startswith("keras"):  # the catalog only holds Keras's public API
        raise ValueError(f"not a Keras path: {path}")
    return getattr(importlib.import_module(module), attr)


def realize(value: Any) -> Any:
    """A description as Keras objects: every Call made (imports Keras), files as their absolute paths."""
    if isinstance(value, File):
        return value.path
    if isinstance(value, Call):
        return keras_callable(value.path)(**{key: realize(v) for key, v in value.kwargs.items()})
    if isinstance(value, list):
        return [realize(v) for v in value]
    if isinstance(value, dict):
        return {key: realize(v) for key, v in value.items()}
    return value


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_PREAMBLE = re.compile(r"^Exception encountered when calling [\w.]+\(\)\.\s*")
_RANK_HINT = re.compile(r"expected (min_)?ndim=(\d+), found ndim=(\d+)")


def keras_message(err: Exception) -> str:
    """Keras's message without its decorations: colour codes, the "Exception encountered when
    calling X.call()." preamble and the call context it appends ("Arguments received by ...")."""
    text = _ANSI.sub("", str(err)).strip() or type(err).__name__
    for marker in ("Arguments received by", "Call arguments received"):
        text = text.split(marker)[0]
    lines = [_KERAS_PREAMBLE.sub("", line.strip()) for line in text.splitlines()]
    text = " ".join(line for line in lines if line)[:600] or type(err).__name__
    rank = _RANK_HINT.search(text)
    if rank:  # Keras states ranks with the batch axis; say what to do about it
        text += (f" (the layer takes inputs of rank {rank.group(2)}, batch axis included: add a Reshape before it"
                 f"{' or a Flatten' if int(rank.group(3)) > int(rank.group(2)) else ''})")
    return text
