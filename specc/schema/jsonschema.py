"""The JSON Schema of the spec language, for editors (yaml-language-server).

The skeleton comes from the pydantic models in `specc.schema`; every Keras
object (layers, optimizers, losses, metrics, callbacks and the objects nested
in their arguments) comes from the catalog, with each argument's description
taken from Keras's own docstring. An editor using it completes layer and
argument names, flags unknown keys and shows the Keras documentation on
hover. `specc schema` writes it to schemas/specc.schema.json.

The shape is chosen for what yaml-language-server does with it, which
tests/test_editor_lsp.py checks against the real server:

- `{Class: {arguments}}` of one kind is ONE mapping schema whose properties are
  the classes (at most one key, no others). An `anyOf` of one-key objects
  would make the server offer every class twice (the key, and the object by
  its definition's name) and report an unknown class as a mismatch with all
  of them instead of "Property Dense2 is not allowed".
- Class names written as plain strings (`- Flatten`) are matched by a pattern,
  not an enum: an enum value `Flatten` next to the key `Flatten` makes the
  server merge both completions into `Flatten: ${1:Flatten}`, which specc
  rejects. Identifiers that are no class name (`adam`, `relu`) stay an enum.
- A layer item names a block only where the spec can have blocks (it has
  `model.blocks`, or `extends` a spec that may); elsewhere a name that is no
  Keras layer is flagged, as specc flags it.
- Every argument's schema has a title, "units (Dense)", and every class's
  arguments the class name, which the server shows as the hover's heading;
  keys of specc's own sections are titled by their path ("train.epochs").
"""

from __future__ import annotations

import json
import re
from typing import Any

from specc.catalog import ArgInfo, Catalog, ClassInfo, load_catalog
from specc.lower.graph import INPUT_ITEMS, OPS_ITEM, SHARED
from specc.schema import KIND_PLACEHOLDER, SpecDocument

SCHEMA_ID = "https://specc.dev/schemas/specc.schema.json"
# `${params.x}` may stand for any value, so every typed argument also accepts it.
# Its title keeps the server from taking `units: 3` as matching both alternatives, which
# would make the hover's heading "units (Dense) || units (Dense)".
REFERENCE = {"type": "string", "pattern": r"\$\{[^}]*\}", "title": "${...} reference", "description": "A ${...} reference."}
LAYER_RESERVED = {
    "name": {"type": "string", "description": "The layer's name, used by `inputs:` and `outputs:`."},
    "inputs": {
        "description": "The input layer(s) or model input(s) this layer is applied to; default: the previous item.",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
    },
}
APPLICATION_RESERVED = {
    **LAYER_RESERVED,
    "trainable": {"type": "boolean", "description": "Whether the application's weights are trained; false freezes them."},
}
# Arguments many Keras classes take without their docstring saying a word about them.
UNDOCUMENTED_ARGUMENTS = {
    "input_shape": "The shape of the model's input, without the batch dimension, e.g. [28, 28, 1]; "
                   "given on the first layer of a chain that has no `model.inputs`.",
    "batch_input_shape": "The shape of the model's input, with the batch dimension first.",
    "input_dim": "The size of a 1D input: input_dim: 8 is input_shape: [8].",
    "autocast": "Whether to cast the inputs to the layer's compute dtype (under mixed precision).",
    "activity_regularizer": "Regularizer function applied to the output of the layer.",
    "data_format": "channels_last (default: (batch, ..., channels)) or channels_first (batch, channels, ...).",
    "seed": "Seed of the random numbers this object draws.",
}
# Scalars take a ${...} reference too: a type list with a pattern, which applies to strings only.
# Not anyOf [type, reference]: the server would head its hover "units (Dense) || units (Dense)".
_SCALARS = {
    "bool": {"type": ["boolean", "string"]},
    "int": {"type": ["integer", "string"]},
    "float": {"type": ["number", "string"]},
    "str": {"type": ["string"]},
    "int_or_ints": {"type": ["integer", "array", "string"]},
    "shape": {"type": ["array", "string"], "items": {"type": ["integer", "null"]}},
    "dtype": {"type": ["string"]},  # the policy names are the validator's to check (int4/128_from_float32 too)
}
_NESTED = {
    "activation": "activation",
    "initializer": "initializer",
    "regularizer": "regularizer",
    "constraint": "constraint",
    "layer": "layer",
}
OBJECT_KINDS = ("optimizer", "schedule", "loss", "metric", "callback", "initializer", "regularizer", "constraint")


def _arg_description(cls: ClassInfo, arg: ArgInfo) -> str:
    if arg.doc:
        return arg.doc
    if arg.name in UNDOCUMENTED_ARGUMENTS:
        return UNDOCUMENTED_ARGUMENTS[arg.name]
    default = "" if arg.required or arg.default is None else f"; default: {arg.default!r}"
    return f"An argument of {cls.path} ({arg.type}{default}); Keras's docstring does not describe it."


def _arg_schema(cls: ClassInfo, arg: ArgInfo) -> dict:
    if arg.type in _SCALARS:
        scalar = _SCALARS[arg.type]
        schema: dict[str, Any] = {**scalar, "type": [*scalar["type"], *(["null"] if arg.nullable else [])]}
        if "string" in schema["type"] and arg.type != "str":
            schema["pattern"] = REFERENCE["pattern"]
    elif arg.type in _NESTED:
        schema = {"$ref": f"#/$defs/{_NESTED[arg.type]}"}
    elif arg.type == "layers":  # one layer, or a list of them (RNN's stacked cells)
        schema = {"anyOf": [{"$ref": "#/$defs/layer"}, {"type": "array", "items": {"$ref": "#/$defs/layer"}}]}
    elif arg.type == "learning_rate":
        schema = {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/schedule"}, REFERENCE]}
    else:
        schema = {}
    if arg.nullable and "$ref" in schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    schema["title"] = f"{arg.name} ({cls.name})"
    # The default goes in the text, not in `default`: the server would write every argument with a
    # default into the completion of the class (`Dense:` with use_bias, trainable, ...).
    default = f" Default: {json.dumps(arg.default)}." if not arg.required and _json_default(arg.default) else ""
    schema["description"] = _arg_description(cls, arg) + default
    return schema


def _json_default(value: Any) -> bool:
    return value is not None and isinstance(value, (bool, int, float, str, list))


def _arguments_schema(cls: ClassInfo, reserved: dict | None = None) -> dict:
    """The value of `{Class: ...}`: its keyword arguments; null too when none is required (`Flatten:`)."""
    properties = {name: _arg_schema(cls, arg) for name, arg in cls.args.items()}
    for name, schema in (reserved or {}).items():
        properties[name] = {**schema, "title": f"{name} ({cls.name})"}
    # A type list, not anyOf [object, null]: the server would head the hover "Flatten || Flatten".
    arguments: dict[str, Any] = {"type": "object" if cls.required else ["object", "null"], "properties": properties,
                                 "additionalProperties": False, "title": cls.name,
                                 "description": f"{cls.path}: {cls.doc}".strip()}
    if cls.required:
        arguments["required"] = cls.required
    return arguments


TENSOR_NAMES = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}, {"type": "null"}]}


def _layer_reserved(cls: ClassInfo) -> dict:
    """A layer's specc keys: `name`; `inputs` (by name too, for call()'s tensors); `call` (call()'s other arguments)."""
    reserved = dict(LAYER_RESERVED)
    if cls.tensors:
        by_name = {"type": "object", "additionalProperties": False, "minProperties": 1,
                   "properties": {name: {"type": "string", "description": f"The tensor passed as call()'s `{name}`."}
                                  for name in cls.tensors}}
        reserved["inputs"] = {**LAYER_RESERVED["inputs"], "anyOf": [*LAYER_RESERVED["inputs"]["anyOf"], by_name]}
    options = {name: ({"type": ["boolean", "null"] if name == "training" else "boolean"} if kind == "bool" else TENSOR_NAMES)
               for name, kind in (cls.call or {}).items()}
    if cls.adapts:
        reserved["adapt"] = {"type": "boolean", "description": "true: adapt() learns the layer's state (vocabulary, "
                                                               "mean and variance, ...) from the training split of its input "
                                                               "before training."}
    reserved["call"] = {"type": "object", "properties": options, "additionalProperties": cls.call_open,
                        "description": "Keyword arguments of the layer's call(): tensors by name "
                                       "(initial_state: [\"enc[1]\", \"enc[2]\"]) and flags (use_causal_mask: true)."}
    return reserved


def _class_definitions(catalog: Catalog) -> dict:
    """The arguments of each Keras class, named `kind.Class`; layers also take specc's `name`, `inputs` and `call`."""
    definitions = {}
    for kind in ("layer", "application", *OBJECT_KINDS):
        for name, cls in catalog[kind].classes.items():
            reserved = (_layer_reserved(cls) if kind == "layer" else {**_layer_reserved(cls), **APPLICATION_RESERVED}
                        if kind == "application" else None)  # an application's call(): `training`
            definitions[f"{kind}.{name}"] = _arguments_schema(cls, reserved)
    return definitions


def _specc_item_definitions(input_spec: dict) -> dict:
    """specc's own layer items: `Input`/`InputLayer` (the model's input, first in a chain) and `Shared`."""
    inputs = {
        f"specc.{name}": {
            "type": "object", "required": ["shape"], "additionalProperties": False, "title": name,
            "properties": {key: {**value, "title": f"{key} ({name})"}
                           for key, value in {**input_spec["properties"], "name": LAYER_RESERVED["name"]}.items()},
            "description": "keras.Input: the model's input, declared first in a chain (instead of model.inputs).",
        } for name in INPUT_ITEMS}
    shared = {
        "type": "object", "required": ["layer"], "additionalProperties": False, "title": SHARED,
        "description": "The layer named by `layer:` applied again, with the same weights, to other inputs.",
        "properties": {
            "layer": {"type": "string", "title": f"layer ({SHARED})", "description": "The name of a layer defined in model.layers."},
            **{key: {**LAYER_RESERVED[key], "title": f"{key} ({SHARED})"} for key in ("inputs", "name")},
        },
    }
    expression = {"type": "string", "title": f"expr ({OPS_ITEM})",
                  "description": "keras.ops functions by name applied to tensors by name: sqrt(sum(square(a - b), axis=1))."}
    ops = {
        "title": OPS_ITEM, "description": "A tensor expression of keras.ops functions, operators and slices on named tensors.",
        "anyOf": [expression, {"type": "object", "required": ["expr"], "additionalProperties": False, "properties": {
            "expr": expression, "name": {**LAYER_RESERVED["name"], "title": f"name ({OPS_ITEM})"}}}],
    }
    return {**inputs, f"specc.{SHARED}": shared, f"specc.{OPS_ITEM}": ops}


SPECC_ITEMS = (*INPUT_ITEMS, SHARED, OPS_ITEM)


def _call_schema(catalog: Catalog, kinds: tuple[str, ...], what: str, specc_items: tuple[str, ...] = ()) -> dict:
    """`{Class: {arguments}}`: one mapping of every class of `kinds`, holding exactly one of them."""
    properties = {name: {"$ref": f"#/$defs/{kind}.{name}"} for kind in kinds for name in sorted(catalog[kind].classes)}
    properties.update({name: {"$ref": f"#/$defs/specc.{name}"} for name in specc_items})
    # No description: the server shows the first one it meets, and the argument's own, outside it, says more.
    return {"type": "object", "properties": properties, "additionalProperties": False, "minProperties": 1,
            "maxProperties": 1, "$comment": f"{what}: {{ClassName: {{arguments}}}}."}


def _names_pattern(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(name) for name in sorted(names)) + ")$"


def _bare_class_names(catalog: Catalog, kinds: tuple[str, ...]) -> list[str]:
    return [name for kind in kinds for name, cls in catalog[kind].classes.items() if not cls.required]


def _kind_schema(catalog: Catalog, kind: str) -> dict:
    """A Keras object of one kind: an identifier, a class without required arguments, or {Class: {args}}."""
    entry = catalog[kind]
    # Identifiers spelt like a class (`Adam`) join the pattern, or the server would merge them with the key `Adam`.
    identifiers = sorted(name for name in entry.identifiers if name not in entry.classes)
    class_names = sorted({*_bare_class_names(catalog, (kind,)), *(n for n in entry.identifiers if n in entry.classes)})
    options: list[dict] = []
    if identifiers:
        options.append({"type": "string", "enum": identifiers, "description": f"A Keras {kind} identifier."})
    if class_names:
        options.append({"type": "string", "pattern": _names_pattern(class_names),
                        "description": f"A Keras {kind} class with its default arguments."})
    if entry.classes:
        options.append({"$ref": f"#/$defs/{kind}_call"})
    return {"anyOf": options + [REFERENCE]}


def _layer_item_schemas(catalog: Catalog) -> dict:
    """`keras_layer_item`: a Keras layer or application; `layer_item`: that, or a block instance."""
    keras_names = [*catalog["layer"].classes, *catalog["application"].classes, *SPECC_ITEMS]
    layer_name = {"type": "string", "pattern": _names_pattern(_bare_class_names(catalog, ("layer", "application"))),
                  "description": "A Keras layer with its default arguments."}
    call = {"$ref": "#/$defs/layer_or_application_call"}
    # The mapping first: of equally bad matches the server reports the first, and "Property Dense2 is
    # not allowed" on the key says more than "Incorrect type. Expected string" on the whole item.
    keras_item = {"anyOf": [call, layer_name]}
    block_instance = {
        "type": "object", "minProperties": 1, "maxProperties": 1,
        # doNotSuggest: the block names are the spec's, which a schema cannot list; no "property" placeholder.
        "propertyNames": {"not": {"enum": sorted(keras_names)}, "doNotSuggest": True},
        "description": "A block instance: {block_name: {param: value, repeat: N, name: ..., inputs: ...}}.",
    }
    block_name = {"type": "string", "not": {"enum": sorted(keras_names)}, "description": "A block instance without parameters."}
    return {
        "layer_or_application_call": _call_schema(catalog, ("layer", "application"), "A Keras layer or application",
                                                  SPECC_ITEMS),
        "keras_layer_item": keras_item,
        "layer_item": {"anyOf": [call, layer_name, block_name, block_instance]},
    }


def _keras_layers_only_without_blocks() -> dict:
    """A name that is no Keras layer can only be a block: flag it where the spec can have none."""
    may_have_blocks = {"anyOf": [{"required": ["extends"]},
                                 {"required": ["model"], "properties": {"model": {"required": ["blocks"]}}}]}
    keras_layers = {"properties": {"layers": {"items": {"$ref": "#/$defs/keras_layer_item"}}}}
    return {"if": may_have_blocks, "else": {"properties": {"model": keras_layers}}}


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


def _section_paths(schema: dict) -> dict[str, str]:
    """{definition name: the path of the spec where it first appears}, e.g. TrainSection -> "train"."""
    defs = schema["$defs"]
    paths: dict[str, str] = {}
    pending: list[tuple[Any, str]] = [(schema, "")]
    while pending:
        node, path = pending.pop(0)
        if isinstance(node, list):
            pending += [(item, path) for item in node]
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/") and ref[8:] in defs and ref[8:] not in paths and "_call" not in ref:
            paths[ref[8:]] = path
            pending.append((defs[ref[8:]], path))
        for key, value in node.get("properties", {}).items():
            pending.append((value, f"{path}.{key}" if path else key))
        pending += [(value, f"{path}.<name>") for value in node.get("patternProperties", {}).values()]
        for keyword in ("additionalProperties", "items", "anyOf", "oneOf", "allOf"):
            suffix = {"additionalProperties": ".<name>", "items": "[]"}.get(keyword, "")
            if isinstance(node.get(keyword), (dict, list)):
                pending.append((node[keyword], path + suffix))
    return paths


def _title_section_keys(schema: dict, section_defs: list[str]) -> None:
    """Title each section and key of specc's own by its path: pydantic's "Epochs" says less than "train.epochs"."""
    paths = _section_paths(schema)
    for name in section_defs:
        definition = schema if name == "" else schema["$defs"][name]
        prefix = paths.get(name, "")
        if name and prefix:
            definition["title"] = prefix  # the hover's heading on the section's own key: "train", not "TrainSection"
        for key, value in definition.get("properties", {}).items():
            value["title"] = f"{prefix}.{key}" if prefix else key


def _flatten_optionals(node: Any) -> Any:
    """pydantic's anyOf [{type: T, ...}, {type: null}] as {type: [T, null], ...}.

    The server heads the hover of an anyOf whose alternatives carry no title or
    description with the key's title once per alternative ("train.steps_per_epoch || ...").
    """
    if isinstance(node, list):
        return [_flatten_optionals(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _flatten_optionals(value) for key, value in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (other,) = [option for option in options if option != {"type": "null"}]
        if isinstance(other.get("type"), str) and not {"$ref", "anyOf", "oneOf", "allOf"} & set(other):
            del node["anyOf"]
            node.update({**other, "type": [other["type"], "null"]})
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
    return node


def _pydantic_schema() -> dict:
    schema = _flatten_optionals(_link_kinds(SpecDocument.model_json_schema(ref_template="#/$defs/{model}")))
    # `model` may come from the spec that `extends` names (specc validates the merged spec).
    schema["required"] = [key for key in schema["required"] if key != "model"]
    schema["anyOf"] = [{"required": ["model"]}, {"required": ["extends"]}]
    defs = schema["$defs"]
    # `distribution: mirrored` is short for `{strategy: mirrored}` (a BeforeValidator, which pydantic cannot show).
    strategies = sorted(defs[name]["properties"]["strategy"]["const"] for name in
                        ("OneDevice", "Mirrored", "MultiWorkerMirrored", "ParameterServer"))
    defs["TrainSection"]["properties"]["distribution"]["anyOf"].insert(
        0, {"type": "string", "enum": strategies, "description": "A strategy with its default arguments."})
    return schema


def build_schema(catalog: Catalog | None = None) -> dict:
    catalog = catalog or load_catalog()
    schema = _pydantic_schema()
    defs = schema["$defs"]
    section_defs = ["", *defs]
    defs.update(_class_definitions(catalog))
    defs.update(_specc_item_definitions(defs["InputSpec"]))
    defs.update(_layer_item_schemas(catalog))
    for kind in ("layer", *OBJECT_KINDS):
        defs[kind] = _kind_schema(catalog, kind)
        if catalog[kind].classes:
            defs[f"{kind}_call"] = _call_schema(catalog, (kind,), f"A Keras {kind}")
    defs["activation"] = {"anyOf": [{"type": "string", "enum": sorted(catalog["activation"].identifiers)},
                                    {"$ref": "#/$defs/layer"}, REFERENCE]}
    schema["allOf"] = [_keras_layers_only_without_blocks()]
    _title_section_keys(schema, section_defs)
    # Draft 7: the newest draft every yaml-language-server release understands;
    # "#/$defs/..." references are plain JSON pointers, which draft 7 resolves.
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "specc spec"
    schema["description"] = f"A specc model spec (Keras {catalog.keras_version} API). DO NOT EDIT: generated by `specc schema`."
    return schema


def render_schema(catalog: Catalog | None = None) -> str:
    return json.dumps(build_schema(catalog), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
