"""Spec values as Keras objects: the runtime side of the catalog.

A spec writes a Keras object as its identifier (`"relu"`, `"adam"`) or as
`{ClassName: {arguments}}`. Identifiers go to Keras as they are (Keras
resolves its own names, so a built model's config is exactly what the same
hand-written code gives); mappings become instances of the catalog's class,
with their own arguments converted the same way, recursively. Only names the
catalog knows are ever looked up, and only under `keras.`: nothing in a spec
can name an arbitrary import path.

This module imports Keras; validation never imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

from specc.catalog import ArgInfo, ClassInfo, load_catalog
from specc.lower import to_snake_case
from specc.objects import NESTED_KINDS, split_object

# Kinds whose identifiers Keras cannot resolve from a string (no `get()` takes them).
_ALWAYS_INSTANTIATE = {"callback", "schedule"}
_NAMED_BY_COUNTER = {"optimizer", "metric"}


def keras_callable(info: ClassInfo) -> Any:
    """The Keras class or function a catalog entry names, e.g. keras.layers.Dense."""
    module, _, attr = info.path.rpartition(".")
    if not module.startswith("keras"):  # the catalog only holds Keras's public API
        raise ValueError(f"not a Keras path: {info.path}")
    return getattr(importlib.import_module(module), attr)


def instantiate(kind: str, value: Any) -> Any:
    """A spec value of `kind` as Keras takes it: an identifier string, or a new instance."""
    catalog = load_catalog()[kind]
    name, args = split_object(value)
    if isinstance(value, str) and (name not in catalog.classes or (name in catalog.identifiers and kind not in _ALWAYS_INSTANTIATE)):
        return value
    info = catalog.classes[name]
    kwargs = convert_args(info, args or {})
    if kind in _NAMED_BY_COUNTER and "name" in info.args and info.args["name"].default is None and "name" not in kwargs:
        # Keras names these adam, adam_1, ... by a process-wide counter; a spec's objects must not
        # depend on what was built before them, so give them the name a fresh process would.
        kwargs["name"] = to_snake_case(name)
    return keras_callable(info)(**kwargs)


def optimizer(value: Any) -> Any:
    """The compile section's optimizer, always an instance with a stable name (see instantiate)."""
    if isinstance(value, str):
        value = {load_catalog()["optimizer"].identifiers.get(value, value): None}
    return instantiate("optimizer", value)


def convert_args(info: ClassInfo, args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a Keras class, nested Keras objects instantiated."""
    return {key: convert_value(info.args[key], value) if key in info.args else value for key, value in args.items()}


def convert_value(arg: ArgInfo, value: Any) -> Any:
    if value is None:
        return None
    if arg.type in NESTED_KINDS:
        if arg.type == "activation" and isinstance(value, dict):
            return instantiate("layer", value)  # Keras takes any callable, LeakyReLU(...) included
        return instantiate(arg.type, value)
    if arg.type == "learning_rate" and isinstance(value, dict):
        return instantiate("schedule", value)
    if arg.type == "layer" and isinstance(value, dict):
        return instantiate("layer", value)
    return value
