"""Stage 2, validate: plain spec data -> a checked, lowered `Spec`, or every problem at once.

The order, each step on the output of the one before:
1. `${params.*}` interpolation over the whole spec (block bodies wait for
   their instances, where block parameters are known too);
2. the structure, by the pydantic models in `specc.schema`;
3. Keras objects in `compile` and `train`, against the catalog;
4. the model graph, by lowering it (`specc.lower`), which checks layers,
   blocks and references on the way.
Problems are collected, located through the `SourceMap`, sorted by position,
and raised together as one `SpecError`.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from specc.catalog import Catalog, load_catalog
from specc.errors import Diagnostic, Location, SpecError, describe, did_you_mean, dotted, split_where
from specc.lower.interpolate import Deferred, Unresolved, dotted_lookup, interpolate
from specc.ir import Graph, Spec
from specc.source.files import Source, SourceMap
from specc.lower.graph import lower_model
from specc.catalog.check import ObjectChecker
from specc.schema import ModelSection, SpecDocument


class Collector:
    """Turns (path, where, message) reports into located diagnostics."""

    def __init__(self, positions: SourceMap):
        self.positions = positions
        self.diagnostics: list[Diagnostic] = []

    def __call__(self, path: tuple, where: str, message: str, at_key: bool = False) -> None:
        location = self.positions.key(path) if at_key else self.positions.value(path)
        if location is None:  # an empty file has no nodes to point at
            location = Location(self.positions.file, 1, 1)
        self.diagnostics.append(Diagnostic(message, location, where))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise SpecError(sorted_unique(self.diagnostics))


def sorted_unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per distinct text (block copies repeat theirs), in file order."""
    unique = list({d.format(): d for d in diagnostics}.values())

    def position(d: Diagnostic):
        loc = d.location
        return (loc.file, loc.line, loc.column) if loc else ("", 0, 0)

    return sorted(unique, key=position)


def validate_source(source: Source, catalog: Catalog | None = None) -> Spec:
    """Check a loaded spec and lower it; raises SpecError listing every problem."""
    catalog = catalog or load_catalog()
    report = Collector(source.positions)
    data = source.data
    if data is None:
        report((), "", "the file is empty: a spec starts with `specc: 1`")
    elif not isinstance(data, dict):
        report((), "", f"a spec is a mapping of sections (specc, name, model, ...); received a {_yaml_type(data)}")
    report.raise_if_any()

    data = resolve_params(data, report)
    document = check_structure(data, report)
    if document is None:
        # Still check the model when its own section is sound, so one run reports everything.
        model = _section(ModelSection, data.get("model"))
        if model is not None:
            lower_model(model, catalog, report, params=_section(dict, data.get("params")) or {})
        report.raise_if_any()

    graph = lower_model(document.model, catalog, report, params=document.params)
    check_compile_and_train(document, data, graph, catalog, report)
    report.raise_if_any()
    return Spec(source.path, document.name, document.description, document.seed, graph, document, data, source.files,
                source.positions)


def _section(model: Any, value: Any) -> Any:
    """`value` validated as `model`, or None when it is not (its errors are already reported)."""
    if model is dict:
        return value if isinstance(value, dict) else None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


# -- 1. params ----------------------------------------------------------------


MAX_PARAM_DEPTH = 64  # params resolve by recursion; a longer chain is surely a mistake


def _in_block_body(path: tuple) -> bool:
    return len(path) == 4 and path[0] == "model" and path[1] == "blocks" and path[3] == "layers"


def resolve_params(data: dict, report: Collector) -> dict:
    """The spec with `${params.NAME}` resolved everywhere but inside block bodies."""
    raw_params = data.get("params")
    if not isinstance(raw_params, dict):
        raw_params = {}
    resolved: dict[str, Any] = {}
    resolving: list[str] = []

    def on_error(path: tuple, message: str) -> None:
        where, key = split_where(path)
        report(path, where, f"{key}: {message}" if key else message)

    def param(name: str, path: tuple) -> Any:
        # Params may use other params; resolve on demand and refuse cycles.
        if name in resolved:
            return resolved[name]
        if name in resolving:
            raise Unresolved("params cycle: " + " -> ".join([*resolving[resolving.index(name):], name]))
        if len(resolving) >= MAX_PARAM_DEPTH:
            raise Unresolved(f"params refer to each other more than {MAX_PARAM_DEPTH} deep ({resolving[0]} -> ...)")
        resolving.append(name)
        try:
            resolved[name] = interpolate(raw_params[name], lambda expr: lookup(expr), on_error, path)
        finally:
            resolving.pop()
        return resolved[name]

    def lookup(expr: str) -> Any:
        if not expr.startswith("params."):
            hint = f" Did you mean '${{params.{expr}}}'?" if expr.split(".")[0] in raw_params else ""
            raise Unresolved(f"undefined ${{{expr}}}: spec values can use ${{params.NAME}}.{hint}")
        head = expr[len("params."):].split(".")[0]
        if head in raw_params:
            param(head, ("params", head))
        return dotted_lookup({**raw_params, **resolved}, expr[len("params."):], "params")

    for name in raw_params:
        try:
            param(name, ("params", name))
        except Unresolved as err:
            on_error(("params", name), str(err))
            raw = raw_params[name]
            resolved[name] = Deferred(raw) if isinstance(raw, str) else raw

    out = interpolate({k: v for k, v in data.items() if k != "params"}, lookup, on_error, skip=_in_block_body)
    if "params" in data:
        out["params"] = resolved if isinstance(data["params"], dict) else data["params"]
    return out


# -- 2. structure ---------------------------------------------------------------

_EXPECTED = {
    "string_type": "a string",
    "dict_type": "a mapping",
    "list_type": "a list",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "none_required": "null",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "specc_object_type": "a class name or a one-key mapping {ClassName: {arguments}}",
}


def check_structure(data: dict, report: Collector) -> SpecDocument | None:
    try:
        return SpecDocument.model_validate(data)
    except ValidationError as err:
        for path, where, message, at_key in structure_diagnostics(err.errors(), data):
            report(path, where, message, at_key)
        return None


def structure_diagnostics(errors: list[dict], data: Any):
    """pydantic's errors as (data path, where, message, at_key), one per problem.

    pydantic reports one error per member of a union; when one member got
    further into the value than the others, its errors are the useful ones.
    """
    grouped: dict[tuple, list[dict]] = {}
    for e in errors:
        if isinstance(e.get("input"), Deferred):
            continue  # an unresolved ${...}: its own error says what is wrong
        grouped.setdefault(_data_path(e["loc"], data, keep_last=e["type"] in ("missing", "extra_forbidden")), []).append(e)
    paths = list(grouped)
    for path, errs in grouped.items():
        if any(p[: len(path)] == path and len(p) > len(path) for p in paths) and all(e["type"] in _EXPECTED for e in errs):
            continue  # another union member matched the shape and reported deeper
        yield _message(path, errs, data)


def _data_path(loc: tuple, data: Any, keep_last: bool) -> tuple:
    """pydantic's loc, keeping only the parts that exist in the data (drops union member tags).

    `keep_last` keeps a final key that is not in the data: the missing or unknown key itself.
    """
    path, node = [], data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif keep_last and part == loc[-1] and isinstance(node, dict):
            path.append(part)  # a missing or unknown key: keep it to locate the error
            break
        else:
            continue
        path.append(part)
    return tuple(path)


def _message(path: tuple, errs: list[dict], data: Any):
    first = errs[0]
    where, key = split_where(path)
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], data)
        return path, where, f"unknown key '{key}'." + did_you_mean(key, allowed), True
    if first["type"] == "missing":
        return path[:-1], where, f"missing required key '{key}'", False
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):  # a discriminated union: `strategy: ...`
        tag_key = first["ctx"]["discriminator"].strip("'")
        choices = [c.strip(" '") for c in first["ctx"].get("expected_tags", "").split(",") if c.strip()]
        if first["type"] == "union_tag_not_found":
            return path, dotted(path), f"missing required key '{tag_key}'", False
        tag = first["ctx"]["tag"]
        text = ", ".join(choices[:-1]) + " or " + choices[-1] if len(choices) > 1 else "".join(choices)
        at = path + (tag_key,) if isinstance(_node(path, data), dict) else path
        return at, dotted(at), f"unknown {tag_key} '{tag}': expected {text}." + did_you_mean(tag, choices), False
    value = first.get("input")
    if first["type"].startswith("specc_"):  # specc's own messages (schema.py) already show the value
        message = first["msg"]
    elif len(errs) > 1 and all(e["type"] in _EXPECTED for e in errs):
        options = list(dict.fromkeys(_EXPECTED[e["type"]] for e in errs))
        text = ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else options[0]
        message = f"expected {text}; received {describe(value)}"
    else:
        message = "; ".join(dict.fromkeys(_humane(e) for e in errs)) + f" (received {describe(value)})"
    return path, where, (f"{key}: {message}" if key else message), False


# YAML 1.1 read these as booleans; specc reads YAML 1.2, where they are strings.
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def _humane(error: dict) -> str:
    if error["type"] == "bool_type" and isinstance(error.get("input"), str) and error["input"].lower() in _YAML11_BOOLEANS:
        return "Input should be a valid boolean: write true or false (YAML 1.2 reads yes/no/on/off as strings)"
    if error["type"] == "literal_error":
        return f"expected {error['ctx']['expected']}"
    if error["type"] == "string_pattern_mismatch":
        return "expected letters, digits, '_' and '-' only"
    return error["msg"]


def _node(path: tuple, data: Any) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _allowed_keys(path: tuple, data: Any) -> list[str]:
    """Field names of the section at `path`, for "did you mean"."""
    model: Any = SpecDocument
    for depth, part in enumerate(path):
        node = _node(path[:depth + 1], data)
        field = model.model_fields.get(part) if isinstance(part, str) and _is_model(model) else None
        if field is not None:
            model = _model_in(field.annotation, node)
        elif _is_model(model):
            return list(model.model_fields)
        else:
            model = _model_in(model, node)
        if model is None:
            return []
    return list(model.model_fields) if _is_model(model) else []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _models_in(annotation: Any) -> list:
    if _is_model(annotation):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _model_in(annotation: Any, node: Any = None) -> Any:
    """The pydantic model inside Optional[...], dict[str, M] or a Union, if any.

    In a discriminated union (train.distribution), the member whose tag the data gives.
    """
    models = _models_in(annotation)
    if len(models) > 1 and isinstance(node, dict):
        for model in models:
            for name, field in model.model_fields.items():
                if typing.get_origin(field.annotation) is typing.Literal and node.get(name) in typing.get_args(field.annotation):
                    return model
    return models[0] if models else None


# -- 3. compile and train ---------------------------------------------------------


def check_compile_and_train(document: SpecDocument, data: dict, graph: Graph | None, catalog: Catalog, report: Collector) -> None:
    """Keras objects in `compile` and `train`; output names only when the graph lowered."""
    checker = ObjectChecker(catalog, report)
    outputs = list(graph.outputs) if graph is not None else None
    if document.compile is not None:
        section = data["compile"]
        checker.check_object(section.get("optimizer", "rmsprop"), "optimizer", ("compile", "optimizer"), "compile.optimizer")
        _per_output(section, "loss", "loss", outputs, checker, report)
        _per_output(section, "metrics", "metric", outputs, checker, report)
        _per_output(section, "weighted_metrics", "metric", outputs, checker, report)
        weights = section.get("loss_weights")
        if isinstance(weights, dict):
            _check_output_keys(weights, ("compile", "loss_weights"), outputs, report)
    if document.train is not None:
        for i, callback in enumerate(data["train"].get("callbacks") or []):
            checker.check_object(callback, "callback", ("train", "callbacks", i), f"train.callbacks[{i}]")


def _per_output(section: dict, key: str, kind: str, outputs: list[str] | None, checker: ObjectChecker, report: Collector) -> None:
    """`loss:`/`metrics:` as one value, a list, or a mapping from output name to either."""
    value = section.get(key)
    path = ("compile", key)
    if value is None:
        return
    if isinstance(value, dict) and not (len(value) == 1 and next(iter(value)) in checker.catalog[kind].classes):
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


def _check_output_keys(mapping: dict, path: tuple, outputs: list[str] | None, report: Collector) -> None:
    if outputs is None:
        return
    for name in mapping:
        if name not in outputs:
            report(path + (name,), dotted(path), f"'{name}' is not a model output (outputs: {', '.join(outputs)})."
                   + did_you_mean(name, outputs), True)
