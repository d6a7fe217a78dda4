"""The catalog of Keras's public API, read from data so validation never imports Keras.

`schemas/keras_catalog.json` is generated from the installed Keras by
`python -m specc.catalog.generate` (see that module for how each fact is
found) and checked for freshness by `tests/test_catalog.py`.

The kinds of Keras object a spec can name: layer, application, optimizer,
schedule, loss, metric, callback, initializer, regularizer, constraint,
activation. Each kind has `classes` (written as `{ClassName: {args}}`) and
`identifiers` (the strings Keras's `get()` accepts, such as `adam`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable

from specc.project import EXTENSION, project_root, read_extension
from specc.resources import data_dir

KINDS = (
    "layer",
    "application",
    "optimizer",
    "schedule",
    "loss",
    "metric",
    "callback",
    "initializer",
    "regularizer",
    "constraint",
    "activation",
    "model",  # keras.Model subclasses: only a project's own (specc.plugins), for `model: {class: ...}`
)


@dataclass(frozen=True)
class ArgInfo:
    """One keyword argument of a Keras class."""

    name: str
    type: str
    required: bool = False
    nullable: bool = False
    hidden: bool = False
    default: Any = None
    doc: str = ""
    length: int | None = None  # int_or_ints: how many integers a list must hold (None: any number)


@dataclass(frozen=True)
class ClassInfo:
    """A Keras class (or application function) a spec can instantiate."""

    kind: str
    name: str
    path: str
    doc: str
    args: dict[str, ArgInfo]
    inputs: tuple[int, int | None, bool] = (1, 1, False)  # min, max (None: any), takes a list
    tensors: tuple[str, ...] = ()  # call()'s tensor parameters, in order: ("query", "value", "key")
    call: dict[str, str] | None = None  # call()'s other parameters -> "tensor" or "bool"
    call_open: bool = False  # call() takes **kwargs: any call argument goes through
    adapts: bool = False  # a preprocessing layer with adapt(): it can learn its state from the training data

    @property
    def required(self) -> list[str]:
        return [a.name for a in self.args.values() if a.required]


@dataclass(frozen=True)
class OpParam:
    """One parameter of a keras.ops function."""

    name: str
    required: bool = False
    keyword: bool = False  # keyword-only
    variadic: bool = False  # *args
    kwargs: bool = False  # **kwargs


@dataclass(frozen=True)
class OpInfo:
    """A function of keras.ops an expression may call: `keras.ops.<name>(params...)`."""

    name: str
    params: tuple[OpParam, ...]
    doc: str = ""


@dataclass(frozen=True)
class Kind:
    name: str
    module: str
    classes: Mapping[str, ClassInfo]
    identifiers: dict[str, str]

    def names(self) -> list[str]:
        """Every name a spec may write for this kind, for suggestions."""
        return [*self.classes, *self.identifiers]


@dataclass(frozen=True)
class Catalog:
    keras_version: str
    kinds: dict[str, Kind]
    dtype_policies: frozenset[str] = frozenset()  # the names a `dtype` argument takes
    dtype_modes: tuple[str, ...] = ()  # quantization modes written with parameters: int4/128_from_float32
    ops: Mapping[str, OpInfo] | None = None  # the keras.ops functions expressions may call

    def __getitem__(self, kind: str) -> Kind:
        return self.kinds[kind]


def _arg(name: str, raw: dict) -> ArgInfo:
    return ArgInfo(
        name=name,
        type=raw.get("type", "any"),
        required=raw.get("required", False),
        nullable=raw.get("nullable", False),
        hidden=raw.get("hidden", False),
        default=raw.get("default"),
        doc=raw.get("doc", ""),
        length=raw.get("length"),
    )


def _class(kind: str, name: str, raw: dict) -> ClassInfo:
    arity = raw.get("inputs") or {}
    return ClassInfo(
        kind=kind,
        name=name,
        path=raw.get("path", name),
        doc=raw.get("doc", ""),
        args={a: _arg(a, r) for a, r in raw.get("args", {}).items()},
        inputs=(arity.get("min", 1), arity.get("max", 1), arity.get("list", False)),
        tensors=tuple(raw.get("tensors", ())),
        call={name: entry.get("type", "tensor") for name, entry in raw.get("call", {}).items()},
        call_open=raw.get("call_open", False),
        adapts=raw.get("adapt", False),
    )


def _op(name: str, raw: dict) -> OpInfo:
    params = tuple(OpParam(p["name"], p.get("required", False), p.get("keyword", False), p.get("variadic", False),
                           p.get("kwargs", False)) for p in raw.get("params", ()))
    return OpInfo(name, params, raw.get("doc", ""))


class Lazy(Mapping):
    """A read-only mapping whose entries are made from the catalog's raw JSON when first looked up.

    A spec names a few dozen of the catalog's 350 classes and 330 keras.ops functions; making every
    ClassInfo and OpInfo up front cost every `specc validate` 9 to 13 ms (3 to 4 % of its start-up).
    """

    __slots__ = ("_raw", "_make", "_made")

    def __init__(self, raw: dict, make: Callable[[str, dict], Any]):
        self._raw, self._make, self._made = raw, make, {}

    def __getitem__(self, name: str) -> Any:
        try:
            return self._made[name]
        except KeyError:
            made = self._made[name] = self._make(name, self._raw[name])  # a KeyError here: not in the catalog
            return made

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"Lazy({len(self._raw)} entries)"


def parse_catalog(raw: dict) -> Catalog:
    kinds = {}
    for kind, body in raw["kinds"].items():
        kinds[kind] = Kind(
            name=kind,
            module=body.get("module", ""),
            classes=Lazy(body.get("classes", {}), lambda name, entry, kind=kind: _class(kind, name, entry)),
            identifiers=dict(body.get("identifiers", {})),
        )
    for kind in KINDS:  # a kind Keras itself has no public classes of (model): its plugins' only
        kinds.setdefault(kind, Kind(name=kind, module="", classes={}, identifiers={}))
    return Catalog(keras_version=raw["keras_version"], kinds=kinds,
                   dtype_policies=frozenset(raw.get("dtype_policies", ())), dtype_modes=tuple(raw.get("dtype_modes", ())),
                   ops=Lazy(raw.get("ops", {}), _op))


@cache
def _shipped() -> dict:
    return json.loads((data_dir("schemas") / "keras_catalog.json").read_text(encoding="utf-8"))


def load_catalog() -> Catalog:
    """The catalog shipped with specc, with the project's own classes when it has a plugin extension
    (`specc plugins` writes it: specc.project); read once per process, and again when the extension changes."""
    root = _root_of(os.getcwd())
    try:
        stamp = (root / EXTENSION).stat().st_mtime_ns
    except OSError:
        stamp = None
    return _catalog(str(root) if stamp is not None else None, stamp)


@cache
def _root_of(folder: str):
    return project_root(Path(folder))


@cache
def _catalog(root: str | None, stamp: int | None) -> Catalog:
    raw = _shipped()
    extension = read_extension(Path(root)) if root is not None else None
    if extension:
        kinds = {kind: dict(body) for kind, body in raw["kinds"].items()}
        for kind, classes in extension.get("kinds", {}).items():
            if kind in KINDS:
                body = kinds.setdefault(kind, {"module": "", "classes": {}, "identifiers": {}})
                body["classes"] = {**body["classes"], **classes}
        raw = {**raw, "kinds": kinds}
    return parse_catalog(raw)
