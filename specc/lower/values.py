"""Spec values as Keras objects: one interpretation, for both backends.

A spec writes a Keras object as its identifier (`"relu"`, `"adam"`) or as
`{ClassName: {arguments}}`. `describe` turns such a value into what it
stands for: the identifier itself (Keras resolves its own names, so a built
model's config is exactly what the same hand-written code gives), or a `Call`
of the catalog's class with its own arguments described the same way,
recursively. The builder (`specc.build.keras.realize`) makes a description
into Keras objects; the code generator prints it as Python. Both read the
same description, made once here, so they cannot disagree. Only names the
catalog knows are ever looked up, and only under `keras.`: nothing in a spec
can name an arbitrary import path. Nothing here imports Keras.
"""

from __future__ import annotations

from typing import Any

from specc.catalog import ArgInfo, Catalog, ClassInfo, load_catalog
from specc.catalog.check import is_per_output, object_kind, split_object
from specc.ir import APPLICATION, MODEL, OPS, SHARED, Call, Graph, LayerNode
from specc.lower.names import to_snake_case
from specc.lower.paths import absolute

# Kinds whose identifiers Keras cannot resolve from a string (no `get()` takes them).
_ALWAYS_INSTANTIATE = {"callback", "schedule"}
_NAMED_BY_COUNTER = {"optimizer", "metric"}


def describe(kind: str, value: Any) -> Any:
    """A spec value of `kind` as Keras takes it: an identifier string, or a Call."""
    catalog = load_catalog()[kind]
    name, args = split_object(value)
    if isinstance(value, str) and (name not in catalog.classes or (name in catalog.identifiers and kind not in _ALWAYS_INSTANTIATE)):
        return value
    info = catalog.classes[name]
    kwargs = describe_args(info, args or {})
    if kind in _NAMED_BY_COUNTER and "name" in info.args and info.args["name"].default is None and "name" not in kwargs:
        # Keras names these adam, adam_1, ... by a process-wide counter; a spec's objects must not
        # depend on what was built before them, so give them the name a fresh process would.
        kwargs["name"] = to_snake_case(name)
    return Call(info.path, kwargs)


def describe_optimizer(value: Any) -> Call:
    """The compile section's optimizer, always a Call with a stable name (see describe)."""
    if isinstance(value, str):
        value = {load_catalog()["optimizer"].identifiers.get(value, value): None}
    return describe("optimizer", value)


def describe_args(info: ClassInfo, args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a Keras class, nested Keras objects described."""
    return {key: describe_value(info.args[key], value) if key in info.args else value for key, value in args.items()}


def describe_value(arg: ArgInfo, value: Any) -> Any:
    if arg.type == "layers" and isinstance(value, list):
        return [describe("layer", item) for item in value]  # RNN's stacked cells, Pipeline's layers
    kind = object_kind(arg, value) if value is not None else None
    return describe(kind, value) if kind is not None else value


def describe_per_output(value: Any, kind: str) -> Any:
    """A loss or metrics value: one object, a list, or a mapping from output name to either."""
    if value is None:
        return None
    if isinstance(value, list):
        return [describe_per_output(v, kind) for v in value]
    if is_per_output(value, kind, load_catalog()):
        return {output: describe_per_output(v, kind) for output, v in value.items()}
    return describe(kind, value)


def describe_graph(graph: Graph, catalog: Catalog, positions) -> Graph:
    """The graph with every node's arguments described; an application's weights file made absolute.

    The nodes' kwargs are described in place: the graph is lowering's own until it returns the IR.
    """
    for node in graph.layers:
        if node.kind == MODEL:
            describe_graph(node.submodel, catalog, positions)
        elif node.kind not in (SHARED, OPS):  # a shared node has its owner's arguments, an ops node none
            described = _described(node, catalog, positions)
            node.kwargs.clear()
            node.kwargs.update(described)
    return graph


def _described(node: LayerNode, catalog: Catalog, positions) -> dict:
    kwargs = describe_args(catalog[node.kind].classes[node.type], node.kwargs)
    weights = kwargs.get("weights")
    if node.kind == APPLICATION and isinstance(weights, str) and weights != "imagenet":
        # Like every path in a spec: relative to the file that wrote it.
        kwargs["weights"] = absolute(weights, node.path + (node.type, "weights"), positions)
    return kwargs
