"""The intermediate representation: one resolved model graph.

Lowering (`specc.lower`) turns a validated spec into these frozen objects:
`extends` merged, `${...}` resolved, blocks expanded into uniquely named
layers, references resolved, nodes in topological order. The backends (the
Keras builder and the code generator) read only this, never the YAML, so they
cannot disagree about what a spec means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


IMPLICIT_INPUT = "input"  # the input a plain chain gets from `input_shape` on its first layer


class Ref(NamedTuple):
    """A reference to a node's output: `encoder`, or `lstm[1]` for one output of a multi-output layer."""

    name: str
    index: int | None = None

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"


@dataclass(frozen=True)
class InputNode:
    """A model input: the arguments of `keras.Input`."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    sparse: bool = False
    ragged: bool = False
    batch_size: int | None = None
    path: tuple = ()  # where the spec declares it


@dataclass(frozen=True)
class LayerNode:
    """One Keras layer (or `keras.applications` model) applied to its inputs.

    `args` are the keyword arguments for the Keras class, exactly as the spec
    gives them after interpolation (nested Keras objects stay in their spec
    form, `{L2: {l2: 0.01}}` or `"relu"`); `name` is always set, so models are
    reproducible and names never depend on Keras's global counters.
    """

    name: str
    type: str  # Keras class name, e.g. "Dense"
    kind: str  # catalog kind: "layer" or "application"
    args: dict[str, Any]
    inputs: tuple[Ref, ...]
    path: tuple = ()  # the spec item it came from
    block: str | None = None  # the block instance it belongs to, if any
    shares: str | None = None  # apply the layer of that node again (same weights) instead of a new one


@dataclass(frozen=True)
class Graph:
    """A model: inputs, layers in topological order, and output names."""

    inputs: tuple[InputNode, ...]
    layers: tuple[LayerNode, ...]
    outputs: tuple[str, ...]
    sequential: bool = field(default=False)  # a plain chain: build it as keras.Sequential


@dataclass(frozen=True)
class Spec:
    """A validated, lowered spec: what `specc.load` returns and the backends consume.

    `document` holds the checked sections (compile, train, data) as pydantic
    models; `graph` is the model; `resolved` is the whole spec as plain data
    with `extends` merged and `${...}` resolved.
    """

    path: str
    name: str
    description: str
    seed: int | None
    graph: Graph
    document: Any  # specc.schema.SpecDocument
    resolved: dict
    files: tuple[str, ...] = ()
    positions: Any = None  # specc.source.SourceMap: locates errors found later (shapes at build time)
