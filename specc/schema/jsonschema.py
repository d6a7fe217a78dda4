"""The JSON Schema of the spec language, for editors (yaml-language-server).

The skeleton comes from the pydantic models in `specc.schema`; every Keras
object (layers, optimizers, losses, metrics, callbacks and the objects nested
in their arguments) comes from the catalog, with each argument's description
taken from Keras's own docstring. An editor using it completes layer and
argument names, flags unknown keys and shows the Keras documentation on
hover. `specc schema` writes it to schemas/specc.schema.json.
"""

from __future__ import annotations

import json
from typing import Any

from specc.catalog import ArgInfo, Catalog, ClassInfo, load_catalog
from specc.schema import KIND_PLACEHOLDER, SpecDocument

SCHEMA_ID = "https://specc.dev/schemas/specc.schema.json"
# `${params.x}` may stand for any value, so every typed argument also accepts it.
REFERENCE = {"type": "string", "pattern": r"\$\{[^}]*\}", "description": "A ${...} reference."}
LAYER_RESERVED = {
    "name": {"type": "string", "description": "The layer's name, used by `inputs:` and `outputs:`."},
    "inputs": {
        "description": "The input layer(s) or model input(s) this layer is applied to; default: the previous item.",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
    },
}
_SCALARS = {
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "int_or_ints": {"anyOf": [{"type": "integer"}, {"type": "array"}]},
    "shape": {"type": "array", "items": {"type": ["integer", "null"]}},
}
_NESTED = {
    "activation": "activation",
    "initializer": "initializer",
    "regularizer": "regularizer",
    "constraint": "constraint",
    "layer": "layer",
}


def _arg_schema(arg: ArgInfo) -> dict:
    if arg.type in _SCALARS:
        schema: dict[str, Any] = {"anyOf": [_SCALARS[arg.type], REFERENCE]}
    elif arg.type in _NESTED:
        schema = {"$ref": f"#/$defs/{_NESTED[arg.type]}"}
    elif arg.type == "learning_rate":
        schema = {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/schedule"}, REFERENCE]}
    else:
        schema = {}
    if arg.nullable and schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if arg.doc:
        schema["description"] = arg.doc
    if not arg.required and _json_default(arg.default):
        schema["default"] = arg.default
    return schema


def _json_default(value: Any) -> bool:
    return value is not None and isinstance(value, (bool, int, float, str, list))


def _class_schema(cls: ClassInfo, extra: dict | None = None) -> dict:
    properties = {name: _arg_schema(arg) for name, arg in cls.args.items()}
    properties.update(extra or {})
    arguments = {"type": "object", "properties": properties, "additionalProperties": False}
    if cls.required:
        arguments["required"] = cls.required
    else:
        arguments = {"anyOf": [arguments, {"type": "null"}]}
    arguments["description"] = f"{cls.path}: {cls.doc}".strip()
    return {"type": "object", "properties": {cls.name: arguments}, "required": [cls.name], "additionalProperties": False}


def _class_ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/$defs/{kind}.{name}"}


def _kind_schema(catalog: Catalog, kind: str) -> dict:
    """A Keras object of one kind: an identifier, a class without required arguments, or {Class: {args}}."""
    entry = catalog[kind]
    names = sorted(entry.identifiers) + sorted(c for c, info in entry.classes.items() if not info.required)
    options: list[dict] = [{"type": "string", "enum": names}] if names else []
    options += [_class_ref(kind, name) for name in sorted(entry.classes)]
    return {"anyOf": options + [REFERENCE]}


def _layer_item_schema(catalog: Catalog) -> dict:
    layers = catalog["layer"].classes
    applications = catalog["application"].classes
    bare = sorted(n for n, c in layers.items() if not c.required)
    return {"anyOf": [
        {"type": "string", "enum": bare, "description": "A Keras layer without arguments."},
        *(_class_ref("layer", name) for name in sorted(layers)),
        *(_class_ref("application", name) for name in sorted(applications)),
        {"type": "string", "description": "A block instance without parameters."},
        {
            "type": "object", "minProperties": 1, "maxProperties": 1,
            "propertyNames": {"not": {"enum": sorted([*layers, *applications])}},
            "description": "A block instance: {block_name: {param: value, repeat: N, name: ..., inputs: ...}}.",
        },
    ]}


def _class_definitions(catalog: Catalog) -> dict:
    """One definition per Keras class, named `kind.Class`; layers also take specc's `name` and `inputs`."""
    defs = {}
    for kind in ("layer", "application", *OBJECT_KINDS):
        extra = {"layer": LAYER_RESERVED, "application": {**LAYER_RESERVED, "trainable": {"type": "boolean"}}}.get(kind)
        for name, cls in catalog[kind].classes.items():
            defs[f"{kind}.{name}"] = _class_schema(cls, extra)
    return defs


OBJECT_KINDS = ("optimizer", "schedule", "loss", "metric", "callback", "initializer", "regularizer", "constraint")


def _link_kinds(node: Any) -> Any:
    """Replace schema.py's per-kind placeholders with references to the catalog definitions."""
    if isinstance(node, dict):
        if KIND_PLACEHOLDER in node:
            rest = {k: v for k, v in node.items() if k != KIND_PLACEHOLDER}
            return {"$ref": f"#/$defs/{node[KIND_PLACEHOLDER]}", **rest}
        return {k: _link_kinds(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_kinds(v) for v in node]
    return node


def build_schema(catalog: Catalog | None = None) -> dict:
    catalog = catalog or load_catalog()
    schema = _link_kinds(SpecDocument.model_json_schema(ref_template="#/$defs/{model}"))
    # `model` may come from the spec that `extends` names (specc validates the merged spec).
    schema["required"] = [key for key in schema["required"] if key != "model"]
    schema["anyOf"] = [{"required": ["model"]}, {"required": ["extends"]}]
    defs = schema.setdefault("$defs", {})
    # `distribution: mirrored` is short for `{strategy: mirrored}` (a BeforeValidator, which pydantic cannot show).
    strategies = sorted(defs[name]["properties"]["strategy"]["const"] for name in
                        ("OneDevice", "Mirrored", "MultiWorkerMirrored", "ParameterServer"))
    defs["TrainSection"]["properties"]["distribution"]["anyOf"].insert(
        0, {"type": "string", "enum": strategies, "description": "A strategy with its default arguments."})
    defs.update(_class_definitions(catalog))
    defs["layer_item"] = _layer_item_schema(catalog)
    defs["layer"] = _kind_schema(catalog, "layer")
    for kind in OBJECT_KINDS:
        defs[kind] = _kind_schema(catalog, kind)
    defs["activation"] = {"anyOf": [{"type": "string", "enum": sorted(catalog["activation"].identifiers)},
                                    {"$ref": "#/$defs/layer"}, REFERENCE]}
    # Draft 7: the newest draft every yaml-language-server release understands;
    # "#/$defs/..." references are plain JSON pointers, which draft 7 resolves.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "specc spec"
    schema["description"] = f"A specc model spec (Keras {catalog.keras_version} API). DO NOT EDIT: generated by `specc schema`."
    return schema


def render_schema(catalog: Catalog | None = None) -> str:
    return json.dumps(build_schema(catalog), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
