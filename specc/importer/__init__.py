"""`specc import`: an existing Keras model as a spec whose build is exactly that model.

    text = import_model(model)                 # YAML text; ImportRefused naming the layer it cannot express
    text = import_source("ResNet50")           # a keras.applications name (weights=None), a .keras file

What it writes: the model's inputs (shape, dtype), its layers in Keras's order with
Keras's own names, each a catalog class with only the arguments that differ from
their defaults (found by rebuilding the layer from its config without each one),
`inputs:` only where a layer does not take the item before it, a layer called again
as `Shared`, call arguments (`training: false`) as `call:`, and the compile section
from the model's compile config. A functional model that is one chain keeps being
functional (`functional: true`); a Sequential one is a plain chain. Repeated
structure becomes blocks (`blocks.py`); `weights=` names a weights file
(`model.weights`).

Every spec is checked before it is returned: it is loaded, built, and its model's
config compared with the original's (with weights, also its outputs on one input).
A difference, or a layer the language cannot express yet (nested models, keras.ops
nodes, a class outside Keras's layers), is an ImportRefused naming the layer and
the reason: never a silently different model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from specc.importer.blocks import Block, Instance, Item, Ref, find_blocks

OBJECT_KEYS = {"module", "class_name", "config", "registered_name"}
# Call arguments Keras records by itself on a call without them (an RNN's training=False, mask=None): left out, unless
# the spec without them builds another model (then `training` was the caller's, and is written).
AUTOMATIC_CALL = {"mask": None, "training": False}
SKIPPED = ("name", "trainable", "dtype")  # written apart: the name always, the others when not the default


class ImportRefused(Exception):
    """The model has something the spec language cannot express (yet): the message names the layer and why."""


def import_source(source: str, arguments: dict | None = None, weights: str | None = None) -> tuple[Any, str]:
    """(the model, its spec) for a keras.applications name (weights=None unless `arguments` say), a .keras file, or
    `module:function`, the user's own code that returns a model (run because the user named it: never from a spec)."""
    from specc.build import import_keras

    keras = import_keras()
    if source.endswith(".keras"):
        model = keras.saving.load_model(source)
    elif hasattr(keras.applications, source) and source[:1].isupper():
        model = getattr(keras.applications, source)(**{"weights": None, **(arguments or {})})
    elif ":" in source:
        model = _from_function(source, arguments or {})
    else:
        raise ImportRefused(f"{source}: neither a .keras file, a keras.applications model (e.g. ResNet50), nor "
                            "module:function (a function of your own that returns a model)")
    if not isinstance(model, keras.Model):
        raise ImportRefused(f"{source} gives {type(model).__name__}, not a Keras model")
    return model, import_model(model, weights=weights)


def _from_function(source: str, arguments: dict) -> Any:
    import importlib
    import sys

    module_name, _, function_name = source.partition(":")
    if os.getcwd() not in sys.path:  # the user's module, beside them
        sys.path.insert(0, os.getcwd())
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        raise ImportRefused(f"{source}: cannot import it: {type(err).__name__}: {err}") from None
    return function(**arguments)


def import_model(model, name: str | None = None, blocks: bool = True, weights: str | None = None) -> str:
    """The spec text of a Sequential or functional Keras model of Keras layers, checked to build the same model.

    With `blocks`, repeated structure becomes blocks (specc.importer.blocks); a model whose spec with blocks does not
    build it exactly (which the check would find) is written without them. `weights`: the weights file the spec
    names (`model.weights`, relative to the spec; save them there with `model.save_weights`): the check then also
    runs both models on the same input and requires identical outputs."""
    for automatic in (AUTOMATIC_CALL, {"mask": None}):
        without = None
        for with_blocks in ((True, False) if blocks else (False,)):
            try:
                text = _import(model, name, automatic=automatic, blocks=with_blocks, weights=weights)
            except ImportRefused as err:
                refused = without = err
                continue
            if with_blocks or not blocks:
                return text
            reason = " ".join(str(without).split())  # one comment line
            return f"# specc import: written without blocks, as the spec with them did not build the same model: " \
                   f"{reason}\n{text}"
    raise refused


def _import(model, name: str | None, automatic: dict, blocks: bool, weights: str | None) -> str:
    import keras

    config = model.get_config()
    functional = not isinstance(model, keras.Sequential)
    layers = {layer.name: layer for layer in model.layers}
    if functional:  # Keras writes one input or output as [name, node, index], several as a list of them
        input_names = [entry[0] for entry in _entries(config["input_layers"])]
        outputs = _entries(config["output_layers"])
    else:
        input_names, outputs = [], []
    inputs, items, tensors = {}, [], {}  # tensors: (layer, node index) -> the spec name of that call's output
    several: set[str] = set()  # layers of several outputs, whose every reference needs its index
    for entry in config["layers"]:
        class_name, layer_name = entry["class_name"], entry["config"]["name"]
        if class_name == "InputLayer":
            inputs[layer_name] = _input(entry["config"])
            tensors[(layer_name, 0)] = layer_name
            continue
        layer = layers.get(layer_name)
        if layer is None or entry.get("module") not in ("keras.layers", None) or not _is_keras_layer(keras, layer):
            raise ImportRefused(f"layer '{layer_name}' ({class_name}): only Keras's own layers are imported yet "
                                "(not nested models, keras.ops operations or classes of your own)")
        nodes = entry.get("inbound_nodes") or ([{"args": [None], "kwargs": {}}] if not functional else [])
        several.update(name for name, count in _output_counts(layer_name, layer).items() if count > 1)
        for index, node in enumerate(nodes):
            item = (Item(class_name, layer_name, _arguments(keras, layer), [], full=_full_arguments(layer))
                    if index == 0 else Item("Shared", f"{layer_name}_call{index + 1}", {"layer": layer_name}, []))
            if functional:
                item.refs = _refs(node["args"], tensors, layer_name, several)
                item.listed = len(item.refs) != 1 or isinstance(node["args"][0], list)
                item.call = {k: _call_value(v, tensors, layer_name, several) for k, v in (node.get("kwargs") or {}).items()
                             if automatic.get(k, ...) != v}
            items.append(item)
            tensors[(layer_name, index)] = item.name
    model_section: dict[str, Any] = {}
    output_refs = [tensors[(o[0], o[1])] + (f"[{o[2]}]" if o[2] or o[0] in several else "") for o in outputs]
    found: list[Block] = []
    entries: list[Item | Instance] = list(items)
    if functional:
        model_section["inputs"] = {name: inputs[name] for name in input_names}
        if weights:
            model_section["weights"] = weights
        if _is_chain(items, input_names, output_refs):
            model_section["functional"] = True
        if blocks:
            entries, found, output_refs = find_blocks(items, output_refs)
    elif inputs:
        model_section["inputs"] = inputs
    if weights and not functional:
        model_section["weights"] = weights
    spec = {"specc": 1, "name": _spec_name(name or model.name), "model": model_section}
    compiled = _compile_section(model)
    if compiled:
        spec["compile"] = compiled
    first = input_names[0] if len(input_names) == 1 else None
    text = _render(spec, found, entries, output_refs if functional else None, first)
    _verify(text, model, weights)
    return text


def _render(spec: dict, blocks: list[Block], entries: list, outputs: list[str] | None, first: str | None) -> str:
    """YAML as a person writes a spec: one line per layer and per input, the rest in YAML's block style.

    `outputs` (a functional model's) are written unless they are the last entry's; an entry's `inputs:` unless it
    takes the entry before it (the first, the model's one input `first`)."""
    lines = [yaml.safe_dump({key: spec[key] for key in ("specc", "name")}, sort_keys=False).rstrip(), "model:"]
    for key, value in spec["model"].items():
        if key == "inputs":
            lines += ["  inputs:"] + [f"    {_flow({name: shape})}" for name, shape in value.items()]
        else:
            lines.append(f"  {_flow({key: value})}")
    if blocks:
        lines.append("  blocks:")
        for block in blocks:
            shown = ", ".join(block.instances[:4]) + (", ..." if len(block.instances) > 4 else "")
            lines.append(f"    {block.name}:  # {len(block.instances)} instances: {shown}")
            if block.params:
                lines.append(f"      {_flow({'params': block.params})}")
            lines.append("      layers:")
            lines += [f"        - {line}" for line in _entry_lines(block.layers, "input", functional=True)]
    lines.append("  layers:")
    lines += [f"    - {line}" for line in _entry_lines(entries, first, functional=outputs is not None)]
    if outputs is not None:
        last = entries[-1].name if entries else None
        if outputs != [last]:
            lines.append(f"  {_flow({'outputs': outputs[0] if len(outputs) == 1 else outputs})}")
    if "compile" in spec:
        lines.append(yaml.safe_dump({"compile": spec["compile"]}, sort_keys=False, default_flow_style=None,
                                    width=110).rstrip())
    return "\n".join(lines) + "\n"


def _entry_lines(entries: list, previous: str | None, functional: bool) -> list[str]:
    """One flow-style line per layer or block instance, each with `inputs:` only where it does not take the one before."""
    lines = []
    for entry in entries:
        if isinstance(entry, Instance):
            key, args, refs, listed = entry.block, {**entry.values, "name": entry.name}, [entry.source], False
        else:
            key, args, refs, listed = entry.kind, {**entry.args, "name": entry.name}, entry.refs, entry.listed
            if entry.kind == "Shared":
                args = {"layer": entry.args["layer"], "name": entry.name}
        if functional and (refs != [previous] or listed):
            args["inputs"] = refs[0] if len(refs) == 1 and not listed else list(refs)
        if isinstance(entry, Item) and entry.call:
            args["call"] = entry.call
        lines.append(_flow({key: _plain(args)}))
        previous = entry.name
    return lines


def _flow(mapping: dict) -> str:
    """A one-key mapping as YAML's flow style without its braces: `Dense: {units: 2}`."""
    return yaml.safe_dump(_plain(mapping), default_flow_style=True, sort_keys=False, width=10**9).strip()[1:-1]


def _plain(value: Any) -> Any:
    """Values YAML's safe dumper writes: a Ref as the string it is."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Ref) else value


def _entries(value: list) -> list[list]:
    return value if value and isinstance(value[0], list) else [value]


def _is_keras_layer(keras, layer) -> bool:
    return type(layer).__module__.startswith("keras.") and getattr(keras.layers, type(layer).__name__, None) is type(layer) \
        and not isinstance(layer, keras.Model)


def _input(config: dict) -> dict:
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    spec: dict[str, Any] = {"shape": list(shape[1:])}
    if config.get("dtype", "float32") != "float32":
        spec["dtype"] = config["dtype"]
    for key in ("sparse", "ragged"):
        if config.get(key):
            spec[key] = True
    return spec


def _refs(args: list, tensors: dict, layer_name: str, several: set[str]) -> list[str]:
    """The spec names of the tensors a call takes (`lstm[1]` for one output of several)."""
    found = []
    for arg in (args[0] if len(args) == 1 and isinstance(args[0], list) else args):
        if not _is_tensor(arg):
            raise ImportRefused(f"layer '{layer_name}': a call with arguments other than tensors is not imported yet")
        found.append(_ref(arg, tensors, several))
    return found


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _ref(tensor: dict, tensors: dict, several: set[str]) -> Ref:
    source, node, index = tensor["config"]["keras_history"]
    return Ref(tensors[(source, node)] + (f"[{index}]" if index or source in several else ""))


def _call_value(value: Any, tensors: dict, layer_name: str, several: set[str]) -> Any:
    """A call argument: tensors as their names (initial_state: [encoder[1], encoder[2]]), other values as they are."""
    if _is_tensor(value):
        return _ref(value, tensors, several)
    if isinstance(value, list) and value and all(_is_tensor(v) for v in value):
        return [_ref(v, tensors, several) for v in value]
    if isinstance(value, (dict, list)):
        raise ImportRefused(f"layer '{layer_name}': a call argument of this kind is not imported yet: {value!r:.80}")
    return value


def _output_counts(layer_name: str, layer) -> dict[str, int]:
    """{layer: how many outputs its (first) call gives}."""
    try:
        output = layer.output
    except (AttributeError, ValueError):  # called more than once: Keras has no one output
        return {}
    return {layer_name: len(output) if isinstance(output, (list, tuple)) else 1}


def _is_chain(items: list[Item], input_names: list, outputs: list[str]) -> bool:
    """Whether specc would make a keras.Sequential of these items (one input, one path, the last layer out)."""
    previous = input_names[0] if len(input_names) == 1 else None
    for item in items:
        if item.refs != [previous] or item.listed or item.call or item.kind == "Shared":
            return False
        previous = item.name
    return len(input_names) == 1 and outputs == [previous]


def _arguments(keras, layer) -> dict:
    """The layer's constructor arguments that differ from their defaults, as a spec writes them."""
    config = layer.get_config()
    cls = type(layer)
    reference = _comparable(config)
    kept = {k: v for k, v in config.items() if k not in SKIPPED}
    for key in list(kept):
        trial = {k: v for k, v in config.items() if k != key}
        try:
            rebuilt = cls.from_config(trial).get_config()
        except Exception:  # the argument is required, or the rest does not stand alone
            continue
        if _comparable(rebuilt) == reference:
            del kept[key]
    args = {key: _spec_value(value) for key, value in kept.items()}
    if not config.get("trainable", True):
        args["trainable"] = False
    dtype = _dtype(config.get("dtype"))
    if dtype not in (None, "float32"):
        args["dtype"] = dtype
    return args


def _full_arguments(layer) -> dict:
    """Every constructor argument's value, as a spec writes it: what a block's parameter takes in each instance."""
    config = layer.get_config()
    full = {key: _spec_value(value) for key, value in config.items() if key not in SKIPPED}
    return {**full, "trainable": config.get("trainable", True), "dtype": _dtype(config.get("dtype")) or "float32"}


def _comparable(config: dict) -> str:
    return json.dumps({k: v for k, v in config.items() if k != "name"}, sort_keys=True, default=repr)


def _compile_comparable(model) -> str:
    """The model's compile config without the optimizer's name, which the spec leaves out (specc gives the default;
    Keras numbers it, `sgd_3`, by how many optimizers the process made before)."""
    config = dict(model.get_compile_config())
    optimizer = config.get("optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        config["optimizer"] = {**optimizer, "config": {k: v for k, v in optimizer["config"].items() if k != "name"}}
    return json.dumps(config, sort_keys=True, default=repr)


def _dtype(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
        return value.get("config", {}).get("name")
    return value


def _spec_value(value: Any) -> Any:
    """A config value as a spec writes it: nested Keras objects as {ClassName: {arguments}}, tuples as lists."""
    if isinstance(value, dict) and OBJECT_KEYS <= set(value) | {"registered_name"} and "class_name" in value:
        if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
            return _dtype(value)
        inner = {k: _spec_value(v) for k, v in (value.get("config") or {}).items() if v is not None and k != "name"}
        return {value["class_name"]: inner} if inner else value["class_name"]
    if isinstance(value, (list, tuple)):
        return [_spec_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _spec_value(v) for k, v in value.items()}
    return value


def _compile_section(model) -> dict | None:
    config = model.get_compile_config() if getattr(model, "compiled", False) else None
    if not config:
        return None
    section: dict[str, Any] = {"optimizer": _optimizer(model.optimizer, config["optimizer"])}
    for key in ("loss", "metrics", "weighted_metrics", "loss_weights"):
        if config.get(key) is not None:
            section[key] = _spec_value(config[key])
    for key, default in (("run_eagerly", False), ("steps_per_execution", 1), ("jit_compile", "auto"),
                         ("auto_scale_loss", True)):
        if config.get(key, default) != default:
            section[key] = config[key]
    return section


def _optimizer(optimizer, serialized: Any) -> Any:
    """The optimizer with only the arguments that differ from their defaults (its name: specc gives the default)."""
    if not isinstance(serialized, dict):
        return serialized
    config = optimizer.get_config()
    reference = _comparable(config)
    kept = {k: v for k, v in config.items() if k != "name"}
    for key in list(kept):
        try:
            rebuilt = type(optimizer).from_config({k: v for k, v in config.items() if k != key}).get_config()
        except Exception:
            continue
        if _comparable(rebuilt) == reference:
            del kept[key]
    kept = {key: _short_float(_spec_value(value)) for key, value in kept.items()}
    return {serialized["class_name"]: kept} if kept else serialized["class_name"].lower()


def _short_float(value: Any) -> Any:
    """0.001 for 0.0010000000474974513: the shortest decimal of the same float32, which Keras keeps."""
    if isinstance(value, float):
        import numpy as np

        for digits in range(1, 17):
            if np.float32(round(value, digits)) == np.float32(value):
                return round(value, digits)
    return value


def _spec_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)
    return cleaned or "imported"


def _verify(text: str, model, weights: str | None) -> None:
    """The spec loads and builds the model: the same layers, configs and connections (and with `weights`, the same
    outputs on the same input), or ImportRefused."""
    from specc.build import build_model
    from specc.errors import SpecError

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "imported.yaml"
        path.write_text(text, encoding="utf-8")
        if weights:
            (path.parent / weights).parent.mkdir(parents=True, exist_ok=True)
            model.save_weights(path.parent / weights)
        try:
            built = build_model(path)
        except SpecError as err:
            raise ImportRefused(f"the spec written for {model.name} does not load or build: {err}") from None
    ours, theirs = built.get_config(), model.get_config()
    for a, b in zip(ours.get("layers", []), theirs.get("layers", [])):
        if _comparable(a) != _comparable(b):
            raise ImportRefused(f"layer '{b.get('config', {}).get('name')}' ({b.get('class_name')}): the spec builds "
                                "it differently, which the language cannot express yet")
    if _comparable(ours) != _comparable(theirs) or type(built) is not type(model):
        raise ImportRefused(f"{model.name}: the spec builds another model ({type(built).__name__} against "
                            f"{type(model).__name__}, or other connections)")
    if getattr(model, "compiled", False) and _compile_comparable(built) != _compile_comparable(model):
        raise ImportRefused(f"{model.name}: the spec compiles the model otherwise (its optimizer, losses or metrics)")
    if weights:
        _same_outputs(built, model)


def _same_outputs(built, model) -> None:
    """Both models on one random input (seeded; integers where an input takes them) give identical outputs."""
    import numpy as np

    random = np.random.default_rng(0)
    batch = []
    for tensor in model.inputs:
        shape = (2, *(dim if dim is not None else 8 for dim in tensor.shape[1:]))
        dtype = np.dtype(str(tensor.dtype))
        batch.append(random.integers(0, 2, shape).astype(dtype) if dtype.kind in "iub" else
                     random.normal(size=shape).astype(dtype))
    ours, theirs = built(batch if len(batch) > 1 else batch[0]), model(batch if len(batch) > 1 else batch[0])
    for a, b in zip(_flat(ours), _flat(theirs)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or not np.array_equal(a, b):
            difference = np.max(np.abs(a - b)) if a.shape == b.shape else f"shapes {a.shape} and {b.shape}"
            raise ImportRefused(f"{model.name}: with the weights carried over, the spec's model gives other outputs on "
                                f"the same input (largest difference {difference})")


def _flat(outputs) -> list:
    if isinstance(outputs, dict):
        return [outputs[key] for key in sorted(outputs)]
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
