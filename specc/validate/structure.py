"""The structure of a spec, by the pydantic models of `specc.schema`: one located diagnostic per problem.

pydantic reports one error per member of a union and speaks of its own
locations; this turns its errors into specc's (code, data path, where,
message, at_key), keeping only the useful member's errors, naming expected
types the way the YAML writes them, and giving pydantic's error type its
specc code (`extra_forbidden` is an unknown key, S101).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from specc.codes import Code
from specc.errors import describe, did_you_mean, dotted, split_where
from specc.lower.interpolate import Deferred
from specc.schema import CompileSection, DataSection, ModelSection, SpecDocument, TrainSection

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

# The codes of specc's own error types (PydanticCustomError in specc.schema); pydantic's own map by kind in `_code`.
CUSTOM_ERROR_CODES = {
    "specc_object_type": Code.WRONG_TYPE,
    "specc_object_keys": Code.WRONG_TYPE,
    "specc_object_name": Code.WRONG_TYPE,
    "specc_object_arguments": Code.WRONG_TYPE,
    "specc_version": Code.BAD_VALUE,
    "specc_data_choice": Code.BAD_VALUE,
    "specc_data_reshape": Code.BAD_VALUE,
    "specc_data_one_key": Code.NOT_EXACTLY_ONE,
    "specc_data_split": Code.SPLIT,
    "specc_data_test_arrays": Code.MISSING_KEY,  # x_test without y_test, or the reverse
    "specc_data_test_set": Code.NOT_EXACTLY_ONE,  # an npz file's own test set and split.test exclude each other
    "specc_data_split_source": Code.BAD_VALUE,  # data.validation / data.test: a source of one set
    "specc_data_record_feature": Code.DATA_NAME,  # tfrecord x/y naming no declared feature
    "specc_data_stream_text": Code.BAD_VALUE,  # csv stream: true with text columns
    "specc_device": Code.DEVICE,
    "specc_parameter_server": Code.STRATEGY_UNAVAILABLE,
    "specc_phase_names": Code.BAD_VALUE,
    "specc_epochs_and_phases": Code.NOT_EXACTLY_ONE,
}
_KEY_CODES = {"extra_forbidden": Code.UNKNOWN_KEY, "missing": Code.MISSING_KEY, "union_tag_not_found": Code.MISSING_KEY}


@dataclass(frozen=True)
class Sections:
    """The sections the later passes may check: each is None when it is absent or itself unsound."""

    params: dict = field(default_factory=dict)
    model: ModelSection | None = None
    compile: CompileSection | None = None
    train: TrainSection | None = None
    data: DataSection | None = None


def check_structure(data: dict, report) -> SpecDocument | None:
    try:
        return SpecDocument.model_validate(data)
    except ValidationError as err:
        for code, path, where, message, at_key in structure_diagnostics(err.errors(), data):
            report(code, path, where, message, at_key)
        return None


def sound_sections(data: dict, document: SpecDocument | None) -> Sections:
    """The document's sections; when the document failed, each section that is sound by itself.

    One unsound section then hides nothing in the others, so one run reports every problem. A
    section that fails alone is left out: `check_structure` has already reported its errors.
    """
    if document is not None:
        return Sections(document.params, document.model, document.compile, document.train, document.data)
    params = data.get("params")
    return Sections(params=params if isinstance(params, dict) else {}, model=_sound(ModelSection, data.get("model")),
                    compile=_sound(CompileSection, data.get("compile")), train=_sound(TrainSection, data.get("train")),
                    data=_sound(DataSection, data.get("data")))


def _sound(model: type[BaseModel], value: Any) -> Any:
    """`value` validated as `model`, or None when it is absent or not (its errors are already reported)."""
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def structure_diagnostics(errors: list[dict], data: Any):
    """pydantic's errors as (code, data path, where, message, at_key), one per problem.

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
        yield (_code(errs), *_message(path, errs, data))


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


def _code(errs: list[dict]) -> Code:
    """The code of one problem: of its first error that is about the value, else of a wrong type."""
    for e in errs:
        kind = e["type"]
        known = CUSTOM_ERROR_CODES.get(kind) or _KEY_CODES.get(kind)
        if known is not None:
            return known
        if not _is_type_error(kind):
            return Code.BAD_VALUE  # a range, a choice, a pattern, a length, a validator's ValueError
    return Code.WRONG_TYPE


def _is_type_error(kind: str) -> bool:
    return kind in _EXPECTED or kind.endswith(("_type", "_parsing")) or kind in ("int_from_float", "is_instance_of")


# YAML 1.1 read these as booleans; specc reads YAML 1.2, where they are strings.
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def _humane(error: dict) -> str:
    if error["type"] == "bool_type" and isinstance(error.get("input"), str) and error["input"].lower() in _YAML11_BOOLEANS:
        return "Input should be a valid boolean: write true or false (YAML 1.2 reads yes/no/on/off as strings)"
    if error["type"] == "literal_error":
        return f"expected {error['ctx']['expected']}"
    if error["type"] == "string_pattern_mismatch":
        if "\\[" in error.get("ctx", {}).get("pattern", ""):  # a reference: `lstm[1]`
            return "expected a layer's name, or one of its outputs as name[index] (letters, digits, '_' and '-')"
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
