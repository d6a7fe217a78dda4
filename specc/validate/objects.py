"""Keras objects against the catalog: every layer item's arguments, the compile section's
optimizer, losses and metrics (and the output names they are keyed by), and the callbacks."""

from __future__ import annotations

from typing import Any

from specc.catalog import Catalog
from specc.catalog.check import PLUGIN_HINT, ObjectChecker, Report, is_per_output, suggest
from specc.codes import Code
from specc.errors import describe, did_you_mean, dotted
from specc.ir import APPLICATION, IMPLICIT_INPUT, MODEL, Graph
from specc.lower.blocks import remapped
from specc.lower.sections import phase_layers
from specc.lower.graph import ArgumentCheck
from specc.schema import CompileSection, DataSection, ModelSection, TrainSection


def check_layer_arguments(checks: list[ArgumentCheck], catalog: Catalog, report: Report) -> None:
    """Every layer item's arguments against its class (block copies: located where their values were written)."""
    for check in checks:
        checker = ObjectChecker(catalog, remapped(report, check.remap))
        checker.check_args(check.cls, check.args, check.path, check.label, reserved=check.reserved)
        trainable = check.args.get("trainable", True)
        if check.cls.kind == "application" and not isinstance(trainable, bool):
            # `trainable` is specc's own key here: applications are functions, and specc sets it on the model.
            checker.report(Code.WRONG_TYPE, check.path + ("trainable",), check.label,
                           f"trainable: expected true or false; received {describe(trainable)}", False)


def check_model_class(model: ModelSection | None, graph: Graph | None, catalog: Catalog, report: Report) -> None:
    """`model.class`: a registered keras.Model subclass of a declared plugin; `parts`, its constructor arguments that
    are `model: true` block instances; `arguments`, its others, against its signature."""
    if model is None or model.model_class is None:
        for key in ("parts", "arguments"):
            if model is not None and getattr(model, key) is not None:
                report(Code.MISSING_KEY, ("model", key), f"model.{key}",
                       f"{key} are the constructor arguments of model.class, which is not given", True)
        return
    name = model.model_class
    cls = catalog["model"].classes.get(name)
    if cls is None:
        report(Code.UNKNOWN_CLASS, ("model", "class"), "model.class", f"'{name}' is no keras.Model subclass of a declared "
               "plugin." + (suggest(name, catalog["model"].classes) or PLUGIN_HINT), True)
        return
    parts = model.parts or {}
    for argument, instance in parts.items():
        if argument not in cls.args:
            report(Code.UNKNOWN_ARGUMENT, ("model", "parts", argument), "model.parts",
                   f"{name} takes no argument '{argument}'." + suggest(argument, cls.args), True)
        if graph is not None and not any(node.name == instance and node.kind == MODEL for node in graph.layers):
            models = [node.name for node in graph.layers if node.kind == MODEL]
            report(Code.UNKNOWN_REFERENCE, ("model", "parts", argument), "model.parts",
                   f"'{instance}' is no `model: true` block instance of the layers"
                   + (f" (they are: {', '.join(models)})." if models else ": a part is a block with `model: true`.")
                   + did_you_mean(instance, models), True)
    given = {**(model.arguments or {}), **dict.fromkeys(parts)}  # the parts count as given: specc passes them
    ObjectChecker(catalog, report).check_args(cls, given, ("model", "arguments"), f"model.arguments ({name})",
                                              reserved=frozenset(parts) | {"name"})


def check_compile_and_train(compile_section: CompileSection | None, train_section: TrainSection | None, data: dict,
                            graph: Graph | None, catalog: Catalog, report: Report) -> None:
    """Keras objects in `compile` and `train`, each when its section is sound; output names only when the graph lowered.

    The values are read from `data`, as written; a section is None when it is absent or failed its structure.
    """
    checker = ObjectChecker(catalog, report)
    outputs = list(graph.outputs) if graph is not None else None
    if compile_section is not None:
        _check_compile(data["compile"], ("compile",), outputs, checker, report)
    if train_section is not None:
        _check_callbacks(data["train"], ("train",), checker)
        for i, phase in enumerate(train_section.phases or ()):
            written = data["train"]["phases"][i]
            if phase.compile is not None:
                _check_compile(written["compile"], ("train", "phases", i, "compile"), outputs, checker, report)
            _check_callbacks(written, ("train", "phases", i), checker)
            if graph is not None:
                _check_phase_targets(phase, ("train", "phases", i), graph, report)


def _check_compile(section: dict, path: tuple, outputs: list[str] | None, checker: ObjectChecker, report: Report) -> None:
    where = dotted(path + ("optimizer",))
    if "optimizer" in section or path == ("compile",):
        checker.check_object(section.get("optimizer", "rmsprop"), "optimizer", path + ("optimizer",), where)
    _per_output(section, path, "loss", "loss", outputs, checker, report)
    _per_output(section, path, "metrics", "metric", outputs, checker, report)
    _per_output(section, path, "weighted_metrics", "metric", outputs, checker, report)
    weights = section.get("loss_weights")
    if isinstance(weights, dict):
        _check_output_keys(weights, path + ("loss_weights",), outputs, report)


def _check_callbacks(section: dict, path: tuple, checker: ObjectChecker) -> None:
    for i, callback in enumerate(section.get("callbacks") or []):
        checker.check_object(callback, "callback", path + ("callbacks", i), dotted(path + ("callbacks", i)))


WITHOUT_WEIGHTS = {"input": "a model input", "expression": "a tensor expression (ops)"}


def _check_phase_targets(phase, path: tuple, graph: Graph, report: Report) -> None:
    """Each name a phase freezes or unfreezes is a layer, block instance, application or sub-model with weights;
    `top` only on a nested model (an application or a `model: true` block instance)."""
    nodes = {node.name: node for node in graph.layers}
    for key in ("freeze", "unfreeze"):
        for k, target in enumerate(getattr(phase, key)):
            name = target if isinstance(target, str) else target.layer
            at = path + (key, k) + (() if isinstance(target, str) else ("layer",))
            label = dotted(path + (key, k))
            layers = phase_layers(graph, name)
            if layers == "unknown":
                known = [*nodes, *(i.name for i in graph.instances)]
                report(Code.UNKNOWN_REFERENCE, at, label, f"'{name}' is no layer, block instance, application or "
                       "sub-model of the model." + did_you_mean(name, known), True)
            elif isinstance(layers, str) or not layers:
                what = WITHOUT_WEIGHTS[layers] if isinstance(layers, str) else "a block instance without layers of its own"
                report(Code.PHASE_TARGET, at, label, f"'{name}' is {what}: it has no weights to {key}", True)
            elif not isinstance(target, str) and (name not in nodes or nodes[name].kind not in (APPLICATION, MODEL)):
                report(Code.PHASE_TARGET, path + (key, k, "top"), label, f"top: {target.top} needs a nested model "
                       f"(a keras.applications model or a `model: true` block instance) with layers of its own; "
                       f"'{name}' is {'a block instance' if name not in nodes else 'a ' + nodes[name].type + ' layer'}",
                       True)


def _per_output(section: dict, base: tuple, key: str, kind: str, outputs: list[str] | None, checker: ObjectChecker,
                report: Report) -> None:
    """`loss:`/`metrics:` as one value, a list, or a mapping from output name to either."""
    value = section.get(key)
    path = base + (key,)
    if value is None:
        return
    if is_per_output(value, kind, checker.catalog):
        _check_output_keys(value, path, outputs, report)
        for output, per_output in value.items():
            _each(per_output, kind, path + (output,), checker)
    else:
        _each(value, kind, path, checker)


def _each(value: Any, kind: str, path: tuple, checker: ObjectChecker) -> None:
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        item_path = path + (i,) if isinstance(value, list) else path
        checker.check_object(item, kind, item_path, dotted(item_path))


def _check_output_keys(mapping: dict, path: tuple, outputs: list[str] | None, report: Report) -> None:
    if outputs is None:
        return
    for name in mapping:
        if name not in outputs:
            report(Code.UNKNOWN_REFERENCE, path + (name,), dotted(path), f"'{name}' is not a model output (outputs: {', '.join(outputs)})."
                   + did_you_mean(name, outputs), True)


def check_data_names(data_section: DataSection | None, graph: Graph | None, report: Report) -> None:
    """`data.features` and `data.labels` against the model's inputs and outputs, when the data section is sound
    and the graph lowered."""
    if data_section is None or graph is None:
        return
    inputs = [node.name for node in graph.inputs] or [IMPLICIT_INPUT]
    for key, names, what in (("features", inputs, "input"), ("labels", list(graph.outputs), "output")):
        transforms, path = getattr(data_section, key), ("data", key)
        if isinstance(transforms, list):
            if transforms and len(names) != 1:
                report(Code.AMBIGUOUS_INPUT, path, dotted(path), f"a list of transforms is for a model with one {what}; "
                       f"this model has {len(names)} ({', '.join(names)}): write {key}: {{{names[0]}: [...], ...}}", False)
            continue
        for name in transforms:
            if name not in names:
                report(Code.UNKNOWN_REFERENCE, path + (name,), dotted(path), f"'{name}' is not a model {what} (the model's "
                       f"{what}s: {', '.join(names)})." + did_you_mean(name, names), True)
