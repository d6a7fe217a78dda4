"""Lowering the model section: its items become one `Graph` of named, ordered nodes.

Lowering expands blocks (each instance, and each `repeat` copy, gets its own
uniquely named layers), gives every layer a deterministic name (Keras's own
`snake_case` + counter scheme, but never depending on Keras's global
counters), resolves `inputs:` references (forward references are allowed),
and orders the nodes topologically. It also runs the graph checks: unknown
references, duplicate names, cycles, layers whose output goes nowhere, and
the number of inputs each layer takes. A chain's first `Input` or `InputLayer`
item is not a layer: it declares the model's input, as `keras.Input` does.

Layer arguments are not checked here: each layer item (block copies included,
with where their substituted values were written) becomes an `ArgumentCheck`
that the validation pass `specc.validate.objects` runs against the catalog.
The nodes keep their arguments as the spec gives them; `specc.lower.values`
describes them once validation passed.

Problems go to the `report` callback (path, where, message, at_key); the
returned graph is None when there were any.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError

from specc.catalog import Catalog, ClassInfo
from specc.lower.arithmetic import BadExpression
from specc.lower.expressions import parse_expression
from specc.catalog.check import Report, split_object, suggest
from specc.codes import Code
from specc.errors import describe, did_you_mean, dotted, split_where
from specc.ir import (APPLICATION, IMPLICIT_INPUT, LAYER, MODEL, OPS, SHARED as SHARED_KIND, BlockDef, BlockInstance, BlockItem, Graph,
                      InputNode, LayerNode, Ref)
from specc.lower.blocks import instance_values, instantiate
from specc.lower.interpolate import Deferred
from specc.lower.names import to_snake_case
from specc.schema import Block, ModelSection
from specc.schema.sections import InputSpec

MAX_LAYERS = 100_000  # after block expansion: far past any real Keras model, and still checked in seconds
BLOCK_INPUT = "input"  # inside a block: the tensor the block instance is applied to
LAYER_RESERVED = frozenset({"inputs", "call", "adapt"})
ADAPT = "adapt"  # `adapt: true`: a preprocessing layer learns its state from the training split before training
CALL = "call"  # `call: {initial_state: ["enc[1]", "enc[2]"], use_causal_mask: true}`: call()'s keyword arguments
# `- ops: {name: dist, expr: "sqrt(sum(square(a - b), axis=1))"}`: keras.ops applied to named tensors
OPS_ITEM = "ops"
OPS_KEYS = ("expr", "name")
OPS_CLASS = ClassInfo("ops", OPS_ITEM, "keras.ops", "keras.ops functions applied to the model's tensors", {}, inputs=(1, None, False))
SHARED = "Shared"  # `- Shared: {layer: encoder, inputs: right}` applies the layer `encoder` again, same weights
SHARED_KEYS = frozenset({"layer", "inputs", "name"})
_INDEXED = re.compile(r"(.+)\[(\d+)\]")  # `lstm[1]`: one output of a multi-output layer
APPLICATION_RESERVED = frozenset({"inputs", "trainable", "call"})
# `- InputLayer: {shape: [784]}` (or `- Input: ...`) first in a chain: the model's input, as Keras's own
# Sequential guide starts a model with keras.Input. It takes what model.inputs takes, and a name.
INPUT_ITEMS = ("Input", "InputLayer")
INPUT_KEYS = (*InputSpec.model_fields, "name")
INPUT_NAME = "input_layer"  # Keras's default name for it


@dataclass
class _Layer:
    """A layer whose name and inputs are not final yet."""

    cls: ClassInfo
    args: dict[str, Any]
    name: str | None  # explicit name, or None for an automatic one
    refs: list[str] | None  # None: the previous item
    path: tuple  # the spec item
    label: str
    scope: dict[str, str] = field(default_factory=dict)  # block-local name -> final name
    block: str | None = None
    shares: str | None = None  # a Shared item: the layer it applies again
    input_names: list[str] = field(default_factory=list)  # `inputs: {query: x, value: y}`: refs passed by name
    call: dict[str, Any] = field(default_factory=dict)  # call()'s constants
    call_refs: dict[str, Any] = field(default_factory=dict)  # call()'s tensors: a reference or a list of them
    expression: Any = None  # an ops item's checked tree
    adapt: bool = False  # adapt() on the training data of its input, before training
    submodel: Any = None  # a block instance as one Keras model: its Graph

    @property
    def refs_key(self) -> str:
        """The key under the item's class key where its references are written."""
        return "expr" if self.expression is not None else "inputs"


class ArgumentCheck(NamedTuple):
    """One layer item's arguments, to be checked against its class by the validation pass."""

    cls: ClassInfo
    args: dict[str, Any]
    path: tuple  # the item's class key: ("model", "layers", 3, "Dense")
    label: str
    reserved: frozenset
    remap: dict  # inside a block copy: argument path -> where its substituted value was written


@dataclass
class _SharedUse:
    """A `Shared` item, resolved once every layer item is parsed."""

    args: dict[str, Any]
    path: tuple


@dataclass
class _InputUse:
    """An `Input` or `InputLayer` item, which declares the model's input rather than a layer."""

    type: str
    args: dict[str, Any]
    path: tuple


@dataclass
class _BlockUse:
    """A block instance item, expanded in the second pass."""

    block: str
    args: dict[str, Any]
    path: tuple


class _Lowering:
    def __init__(self, model: ModelSection, catalog: Catalog, report: Report, params: dict):
        self.model = model
        self.params = params
        self.catalog = catalog
        self.report = report
        self.checks: list[ArgumentCheck] = []
        self.blocks: dict[str, BlockDef] = {}
        self.instances: list[BlockInstance] = []
        self.layers: list[_Layer] = []
        self.taken: dict[str, str] = {}  # final name -> what took it, for messages
        self.aliases: dict[str, Any] = {}  # block instance name -> its output (a list: its outputs)
        self.expanding: list[str] = []  # the blocks being expanded, outermost first: a cycle is an error
        self.expanded = 0  # layers made by block copies so far
        self.too_large = False  # the copies passed MAX_LAYERS: expanding stopped
        self.sizes: dict[str, int] = {}  # block -> the layers one copy expands to
        self.counters: dict[str, int] = {}
        self.duplicates = False  # with two layers of one name, references (and cycles) mean nothing
        self.broken_references = False  # a reference to nothing: what it was meant to use looks unused
        self.reserved: set[str] = set()  # explicit names, which automatic names must not take

    # -- names -----------------------------------------------------------------

    def claim(self, name: str, path: tuple, label: str, owner: str | None = None) -> None:
        """Take `name` for the thing at `path`; `owner` says who that is in a later duplicate's message."""
        if "/" in name:
            self.report(Code.BAD_VALUE, path, label, f"name {name!r} contains '/', which Keras 3 does not allow in layer names", False)
        if name in self.taken:
            self.duplicates = True
            self.report(Code.DUPLICATE_NAME, path, label, f"duplicate name '{name}' (already used by {self.taken[name]})", False)
        self.taken.setdefault(name, owner or dotted(path[:3]))

    def auto_name(self, base: str) -> str:
        """Keras's scheme: dense, dense_1, dense_2, ... skipping names already taken."""
        n = self.counters.get(base, 0)
        while True:
            candidate = base if n == 0 else f"{base}_{n}"
            n += 1
            if candidate not in self.taken and candidate not in self.reserved:
                self.counters[base] = n
                return candidate

    # -- items -----------------------------------------------------------------

    def parse_item(self, item: Any, path: tuple, blocks: dict[str, Block], in_block: str | None):
        """(kind, type name, args) for one layer item, or None after reporting."""
        parts = split_object(item)
        label = dotted(path)
        if parts is None:
            shape = f"a mapping with {len(item)} keys ({', '.join(map(str, item))})" if isinstance(item, dict) else describe(item)
            self.report(Code.WRONG_TYPE, path, label, "a layer is a class name or a one-key mapping {ClassName: {arguments}}; "
                        f"received {shape}", False)
            return None
        type_name, args = parts
        if args is None:
            args = {}
        if type_name == OPS_ITEM and isinstance(args, str):
            args = {"expr": args}  # `- ops: "a - b"`
        if not isinstance(args, dict):
            self.report(Code.WRONG_TYPE, path + (type_name,), f"{label} ({type_name})",
                        f"arguments must be a mapping of keyword arguments; received {describe(args)}", False)
            return None
        if type_name == SHARED and in_block is None:
            return "shared", type_name, args
        if type_name in blocks:
            return "block", type_name, args
        if type_name == OPS_ITEM:
            return "ops", type_name, args
        if type_name in INPUT_ITEMS:
            if in_block is None:
                return "input", type_name, args
            self.report(Code.INPUT_ITEM, path + (type_name,), f"{label} ({type_name})", f"{type_name} declares a model "
                        f"input, which a block does not have: a block's layers take `{BLOCK_INPUT}`, the tensor it is applied to", True)
            return None
        for kind in ("layer", "application"):
            if type_name in self.catalog[kind].classes:
                return kind, type_name, args
        candidates = [*self.catalog["layer"].classes, *blocks, *self.catalog["application"].classes, *INPUT_ITEMS]
        self.report(Code.UNKNOWN_CLASS, path + (type_name,) if isinstance(item, dict) else path, label,
                    f"unknown layer '{type_name}'." + suggest(type_name, candidates), isinstance(item, dict))
        return None

    def read_refs(self, args: dict, path: tuple, label: str, cls: ClassInfo | None = None,
                  names: list[str] | None = None) -> list[str] | None:
        """The `inputs:` of an item: None when absent, [] after reporting a malformed one.

        A mapping passes them by the names of call()'s tensor parameters (`{query: x, value: y}`):
        their names go into `names`.
        """
        if "inputs" not in args:
            return None
        refs = args["inputs"]
        if isinstance(refs, dict) and cls is not None and names is not None:
            return self.named_refs(refs, path + ("inputs",), label, cls, names)
        if isinstance(refs, str):
            return [refs]
        if isinstance(refs, list) and refs and all(isinstance(r, str) for r in refs):
            return list(refs)
        self.report(Code.WRONG_TYPE, path + ("inputs",), label, f"inputs: expected a layer or input name, or a non-empty list of them; received {describe(refs)}", False)
        return []

    def named_refs(self, refs: dict, path: tuple, label: str, cls: ClassInfo, names: list[str]) -> list[str]:
        """`inputs: {query: x, value: context}`, checked against call()'s tensor parameters."""
        if not cls.tensors:
            self.report(Code.CALL_ARGUMENT, path, label, f"{cls.name} is called on a list of tensors, which inputs: lists "
                        "in order; it takes none by name", False)
            return []
        found = []
        for key, ref in refs.items():
            if key not in cls.tensors:
                self.report(Code.CALL_ARGUMENT, path + (key,), label, f"{cls.name}'s call() takes no tensor '{key}' (it takes "
                            f"{', '.join(cls.tensors)})." + did_you_mean(key, cls.tensors), True)
            elif not isinstance(ref, str):
                self.report(Code.WRONG_TYPE, path + (key,), label, f"inputs.{key}: expected a layer or input name; received "
                            f"{describe(ref)}", False)
            else:
                names.append(key)
                found.append(ref)
        missing = [name for name in cls.tensors[:cls.inputs[0]] if name not in refs]
        if missing and len(found) == len(refs):
            self.report(Code.CALL_ARGUMENT, path, label, f"{cls.name}'s call() needs {' and '.join(missing)} too "
                        f"(its tensors: {', '.join(cls.tensors)})", False)
        return found if len(found) == len(refs) and not missing else []

    def read_call(self, layer: _Layer, value: Any, path: tuple) -> None:
        """`call:`: call()'s keyword arguments, tensors by name (kept to resolve) and constants, checked by kind."""
        cls, label = layer.cls, layer.label
        if not isinstance(value, dict):
            self.report(Code.WRONG_TYPE, path, label, f"call: expected a mapping of call() arguments; received {describe(value)}", False)
            return
        options = cls.call or {}
        for key, item in value.items():
            kind = options.get(key, "tensor" if cls.call_open else None)
            if key in cls.tensors:
                self.report(Code.CALL_ARGUMENT, path + (key,), label, f"{key} is one of {cls.name}'s input tensors: give it "
                            f"in inputs: {{{key}: ...}}", True)
            elif kind is None:
                takes = ", ".join(options) or "none"
                self.report(Code.CALL_ARGUMENT, path + (key,), label, f"{cls.name}'s call() takes no argument '{key}' (it takes "
                            f"{takes})." + did_you_mean(key, options), True)
            elif kind == "bool" and not isinstance(item, bool) and not (item is None and key == "training"):
                self.report(Code.CALL_ARGUMENT, path + (key,), label, f"call.{key}: expected true or false; received {describe(item)}", False)
            elif kind == "bool" or item is None or (cls.call_open and not isinstance(item, (str, list))):
                layer.call[key] = item
            elif isinstance(item, str) or (isinstance(item, list) and item and all(isinstance(r, str) for r in item)):
                layer.call_refs[key] = item
            else:
                self.report(Code.CALL_ARGUMENT, path + (key,), label, f"call.{key}: expected a tensor (a layer or input name) or "
                            f"a list of them; received {describe(item)}", False)

    def add_expression(self, args: dict, path: tuple, block: str | None = None) -> _Layer | None:
        """An `ops` item: its expression checked against the grammar and keras.ops's signatures."""
        item_path, label = path + (OPS_ITEM,), f"{dotted(path)} ({OPS_ITEM})"
        for key in args:
            if key not in OPS_KEYS:
                self.report(Code.UNKNOWN_KEY, item_path + (key,), label, f"unknown key '{key}' for ops (it takes expr and name)."
                            + did_you_mean(key, OPS_KEYS), True)
        name = args.get("name")
        if "name" in args and not isinstance(name, str):
            self.report(Code.WRONG_TYPE, item_path + ("name",), label, f"name: expected a string; received {describe(name)}", False)
        if "expr" not in args:
            self.report(Code.MISSING_KEY, item_path, label, "missing key 'expr': the keras.ops expression, "
                        "e.g. expr: \"sqrt(square(a - b))\"", False)
            self.broken_references = True
            return None
        try:
            tree, names = parse_expression(args["expr"], self.catalog.ops or {})
        except BadExpression as err:
            self.report(Code.EXPRESSION, item_path + ("expr",), label, f"expr: {err}", False)
            self.broken_references = True  # the tensors it meant to use would look unused: an echo, not reported
            return None
        return _Layer(OPS_CLASS, {}, name if isinstance(name, str) else None, list(names), path, label, block=block,
                      expression=tree)

    def add_item(self, kind: str, type_name: str, args: dict, path: tuple, block: str | None = None,
                 remap: dict | None = None) -> _Layer | None:
        """A layer, application or ops item as a _Layer (None after reporting)."""
        if kind == "ops":
            return self.add_expression(args, path, block)
        return self.add_layer(kind, type_name, args, path, block, remap)

    def add_layer(self, kind: str, type_name: str, args: dict, path: tuple, block: str | None = None,
                  remap: dict | None = None) -> _Layer:
        cls = self.catalog[kind].classes[type_name]
        label = f"{dotted(path)} ({type_name})"
        reserved = APPLICATION_RESERVED if kind == "application" else LAYER_RESERVED
        self.checks.append(ArgumentCheck(cls, args, path + (type_name,), label, reserved, remap or {}))
        name = args.get("name")
        names: list[str] = []
        layer = _Layer(cls, {k: v for k, v in args.items() if k not in ("name", "inputs", CALL, ADAPT)},
                       name if isinstance(name, str) else None,
                       self.read_refs(args, path + (type_name,), label, cls if kind == "layer" else None, names),
                       path, label, block=block, input_names=names)
        if CALL in args and kind in ("layer", "application"):
            self.read_call(layer, args[CALL], path + (type_name, CALL))
        if ADAPT in args and kind == "layer":
            layer.adapt = self.read_adapt(cls, args[ADAPT], path + (type_name, ADAPT), label)
        return layer

    def read_adapt(self, cls: ClassInfo, value: Any, path: tuple, label: str) -> bool:
        """`adapt: true`, for a layer whose state adapt() learns from data."""
        if not isinstance(value, bool):
            self.report(Code.WRONG_TYPE, path, label, f"adapt: expected true or false; received {describe(value)}", False)
            return False
        if value and not cls.adapts:
            adaptable = ", ".join(name for name, info in self.catalog["layer"].classes.items() if info.adapts)
            self.report(Code.BAD_ARGUMENT, path, label, f"{cls.name} has no adapt(): it learns nothing from data "
                        f"(the layers that do: {adaptable})", False)
            return False
        return value

    # -- blocks ----------------------------------------------------------------

    def expand_block(self, block_name: str, block: Block, args: dict, path: tuple, instance: str,
                     sources: dict[str, Any]) -> tuple[list[_Layer], Any]:
        """One copy of a block: its layers, named `instance`_<local name>, and its output(s).

        `sources` maps the block's inputs to what the instance gives them: `_Final` names of the
        model, or names of the block around this one (a block used inside a block), which that
        block resolves. The layers come back with every reference resolved as far as this block
        can; the output is a reference, or a list of them for a block with several outputs.
        """
        where = f"{dotted(path[:-1])} ({block_name})"
        values, origins = instance_values(block_name, block, args, path, where, self.report)
        names = block_inputs(block)
        scope: dict[str, Any] = {}  # block-local name -> its final reference (a list: a nested block's outputs)
        previous = names[0] if len(names) == 1 else None  # an item's default input: the item before it
        layers: list[_Layer] = []
        entries = instantiate(block_name, block, values, origins, self.params, self.report)
        if block_name not in self.blocks:
            self.blocks[block_name] = _block_def(block_name, block, entries)
        self.expanding.append(block_name)
        first_nested = len(self.instances)  # the instances of blocks inside this one, made below
        for entry in entries:
            parsed = self.parse_item(entry.item, entry.path, self.model.blocks, in_block=block_name)
            if parsed is None:
                continue
            kind, type_name, item_args = parsed
            label = f"{dotted(entry.path)} ({type_name})"
            if kind == "block" and self.model.blocks[type_name].model:
                self.report(Code.BLOCK_USE, entry.path + (type_name,), label, f"'{type_name}' is one Keras model (model: true), "
                            f"which specc makes at the model's top level only; inside block '{block_name}' use a block "
                            "without model: true", False)
                continue
            if kind == "block":
                local = item_args.get("name") if isinstance(item_args.get("name"), str) else _free_name(
                    to_snake_case(type_name), {**scope, **dict.fromkeys(names)})
                if local in scope or local in names:
                    self.report(Code.DUPLICATE_NAME, entry.path + (type_name, "name"), label, f"duplicate name '{local}' in block '{block_name}'", False)
                given = self.instance_sources(type_name, item_args, entry.path + (type_name,), label, previous, [])
                nested, output = self.expand_copies(type_name, item_args, entry.path + (type_name,), label,
                                                    f"{instance}_{local}", given)
                layers.extend(nested)
                scope[local] = output
                previous = local
                continue
            layer = self.add_item(kind, type_name, item_args, entry.path, block=instance, remap=entry.remap)
            if layer is None:
                continue
            inner = layer.name or _free_name(to_snake_case(type_name), {**scope, **dict.fromkeys(names)})
            if inner in scope or inner in names:
                self.report(Code.DUPLICATE_NAME, entry.path + (type_name, "name"), layer.label, f"duplicate name '{inner}' in block '{block_name}'", False)
            if layer.refs is None:
                layer.refs = [previous] if previous is not None else self.no_previous(
                    entry.path + (type_name,), layer.label, [], what="layer", block=(block_name, names))
            previous = inner
            layer.name = f"{instance}_{inner}"
            scope[inner] = _Final(layer.name)
            layers.append(layer)
            self.expanded += 1
        self.expanding.pop()
        resolve = _BlockScope(sources, scope)
        for k in range(first_nested, len(self.instances)):  # their inputs were written in this block
            nested = self.instances[k]
            self.instances[k] = dataclasses.replace(nested, sources=tuple(map(resolve, nested.sources)),
                                                    outputs=tuple(map(resolve, nested.outputs)))
        for layer in layers:
            layer.refs = [ref for ref in map(resolve, layer.refs) if ref is not None]
            layer.call_refs = {key: [resolve(r) for r in value] if isinstance(value, list) else resolve(value)
                               for key, value in layer.call_refs.items()}
        declared = block.outputs if block.outputs is not None else [previous] if previous is not None else []
        outputs = [resolve(ref) for ref in ([declared] if isinstance(declared, str) else declared)]
        for k, ref in enumerate(outputs):
            if isinstance(ref, _Unknown):
                at = ("model", "blocks", block_name, "outputs") + ((k,) if isinstance(block.outputs, list) else ())
                self.report(Code.UNKNOWN_REFERENCE, at, f"model.blocks.{block_name}.outputs", f"unknown output '{ref.name}' "
                            "in this block." + did_you_mean(ref.name, ref.scope), False)
                self.broken_references = True
        outputs = [ref for ref in outputs if not isinstance(ref, _Unknown)]
        return layers, (outputs[0] if len(outputs) == 1 else outputs or None)

    def size_of(self, block_name: str, seen: tuple = ()) -> int:
        """How many layers one copy of a block expands to, at least (a `${...}` repeat counts once)."""
        if block_name in self.sizes:
            return self.sizes[block_name]
        total = 0
        for item in self.model.blocks[block_name].layers:
            parts = split_object(item)
            inner = parts[0] if parts and parts[0] in self.model.blocks and parts[0] not in seen + (block_name,) else None
            if inner is None:
                total += 1
                continue
            repeat = (parts[1] or {}).get("repeat", 1) if isinstance(parts[1] or {}, dict) else 1
            repeat = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) and repeat > 0 else 1
            total += repeat * self.size_of(inner, seen + (block_name,))
            if total > MAX_LAYERS:
                break  # past the limit: how far past does not matter
        self.sizes[block_name] = total
        return total

    def instance_sources(self, block_name: str, args: dict, item_path: tuple, label: str, previous: Any,
                         inputs: list) -> dict[str, Any] | None:
        """What an instance gives each of the block's inputs: `inputs:` as a list in order or a mapping by
        name, else the item before (a block of one input); None after reporting."""
        names = block_inputs(self.model.blocks[block_name])
        refs = args.get("inputs")
        if refs is None:
            if len(names) == 1 and previous is not None:
                return {names[0]: previous}
            if len(names) == 1 and not inputs:
                return {names[0]: None}  # a deferred Sequential model
            self.no_previous(item_path, label, inputs, what="block", block=(block_name, names))
            return None
        if isinstance(refs, dict):
            unknown = [key for key in refs if key not in names]
            for key in unknown:
                self.report(Code.UNKNOWN_REFERENCE, item_path + ("inputs", key), label, f"block '{block_name}' has no input "
                            f"'{key}' (its inputs: {', '.join(names)})." + did_you_mean(key, names), True)
            missing = [name for name in names if name not in refs]
            if missing:
                self.report(Code.INPUT_COUNT, item_path + ("inputs",), label, f"block '{block_name}' needs its input"
                            f"{'s' * (len(missing) > 1)} {', '.join(missing)} too", False)
            bad = [key for key, ref in refs.items() if not isinstance(ref, str)]
            for key in bad:
                self.report(Code.WRONG_TYPE, item_path + ("inputs", key), label, f"inputs.{key}: expected a layer or input "
                            f"name; received {describe(refs[key])}", False)
            return None if unknown or missing or bad else dict(refs)
        listed = self.read_refs(args, item_path, label)
        if not listed:
            return None
        if len(listed) != len(names):
            self.report(Code.INPUT_COUNT, item_path + ("inputs",), label, f"block '{block_name}' takes {len(names)} input"
                        f"{'s' * (len(names) > 1)} ({', '.join(names)}); received {len(listed)}", False)
            return None
        return dict(zip(names, listed))

    def expand_copies(self, block_name: str, args: dict, item_path: tuple, label: str, base: str | None,
                      sources: dict[str, Any] | None, explicit: str | None = None) -> tuple[list[_Layer], Any]:
        """Every copy of one instance (`repeat`), each fed by the one before; (their layers, the last output).

        `base` names the instance inside a block (`outer_inner`); at the model's top level it is None and
        copies get the instance's name or an automatic one, claimed like layer names.
        """
        block = self.model.blocks[block_name]
        if self.too_large:
            return [], None  # reported once: nothing more is expanded
        if block_name in self.expanding:
            cycle = " -> ".join([*self.expanding[self.expanding.index(block_name):], block_name])
            self.report(Code.BLOCK_USE, item_path, label, f"blocks that use each other in a cycle: {cycle}", False)
            return [], None
        repeat = args.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            self.report(Code.BAD_VALUE, item_path + ("repeat",), label, f"repeat: expected a positive integer; received {describe(repeat)}", False)
            repeat = 1
        names = block_inputs(block)
        if repeat > 1 and len(names) != 1:
            self.report(Code.BLOCK_USE, item_path + ("repeat",), label, f"repeat chains copies of a block of one input; "
                        f"'{block_name}' takes {len(names)}", False)
            repeat = 1
        if "name" in args and not isinstance(args["name"], str):
            self.report(Code.WRONG_TYPE, item_path + ("name",), label, f"name: expected a string; received {describe(args['name'])}", False)
        layers: list[_Layer] = []
        output = None
        for copy in range(repeat):
            # Each copy has at least its block's items: a repeat past the limit is refused before it is expanded.
            if self.expanded + (repeat - copy) * self.size_of(block_name) > MAX_LAYERS:
                # Like an alias bomb: a few characters must not expand into an unbounded model.
                self.report(Code.BLOCK_USE, item_path + (("repeat",) if "repeat" in args else ()), label,
                            f"the copies of '{block_name}' make the model larger than {MAX_LAYERS:,} layers", False)
                self.too_large = self.broken_references = True  # what is left unexpanded would echo
                return layers, None
            if base is not None:
                instance = base if repeat == 1 else f"{base}_{copy + 1}"
            elif explicit:
                instance = explicit if repeat == 1 else f"{explicit}_{copy + 1}"
            else:
                instance = self.auto_name(to_snake_case(block_name))
            if base is None:
                self.claim(instance, item_path + (("name",) if explicit else ()), label)
            copy_layers, output = self.expand_block(block_name, block, args, item_path, instance,
                                                    sources if sources is not None else dict.fromkeys(names))
            values = {param: args.get(param, default) for param, default in block.params.items()}
            given = sources if sources is not None else {}
            self.instances.append(BlockInstance(instance, block_name, values, tuple(layer.name for layer in copy_layers),
                                                tuple(given.get(name) for name in names),
                                                tuple(output if isinstance(output, list) else [output] if output else [])))
            layers.extend(copy_layers)
            if base is None:
                self.aliases[instance] = output
            if copy + 1 < repeat:
                if self.too_large:
                    break
                if isinstance(output, list) or output is None:
                    self.report(Code.BLOCK_USE, item_path + ("repeat",), label, f"repeat chains copies: '{block_name}' "
                                "must give one output", False)
                    break
                sources = {names[0]: output}
        return layers, output

    # -- the whole model -------------------------------------------------------

    def run(self) -> Graph | None:
        model = self.model
        for block_name in model.blocks:
            if (block_name in self.catalog["layer"].classes or block_name in self.catalog["application"].classes
                    or block_name in INPUT_ITEMS):
                self.report(Code.BLOCK_USE, ("model", "blocks", block_name), f"model.blocks.{block_name}",
                            f"block name '{block_name}' is a Keras class name; choose another", True)

        inputs = [InputNode(name, tuple(spec.shape), spec.dtype, spec.sparse, spec.ragged, spec.batch_size,
                            ("model", "inputs", name))
                  for name, spec in (model.inputs or {}).items()]
        for node in inputs:
            self.claim(node.name, node.path, f"model.inputs.{node.name}")

        # Pass 1: parse every item, so explicit names are known before automatic ones are given.
        items: list[_Layer | _BlockUse | None] = []
        for i, item in enumerate(model.layers):
            path = ("model", "layers", i)
            parsed = self.parse_item(item, path, model.blocks, in_block=None)
            if parsed is None:
                items.append(None)
                continue
            kind, type_name, args = parsed
            if kind == "block":
                items.append(_BlockUse(type_name, args, path))
            elif kind == "input":
                items.append(_InputUse(type_name, args, path))
            elif kind == "shared":
                items.append(_SharedUse(args, path))
            else:
                items.append(self.add_item(kind, type_name, args, path))
        items = [self.add_shared(item, items) if isinstance(item, _SharedUse) else item for item in items]
        for item in items:
            explicit = item.args.get("name") if isinstance(item, (_BlockUse, _InputUse)) else getattr(item, "name", None)
            if isinstance(explicit, str):
                self.reserved.add(explicit)

        for k, item in enumerate(items):
            if isinstance(item, _InputUse):
                declared = self.input_item(item, first=k == 0)
                if declared is not None:
                    inputs.append(declared)
                    self.claim(declared.name, declared.path[:-1] + (("name",) if "name" in item.args else ()),
                               f"{dotted(item.path)} ({item.type})")
        if not model.inputs and isinstance(items[0], _Layer):
            implicit = self.implicit_input(items[0])
            if implicit is not None:
                inputs.append(implicit)
                self.claim(implicit.name, implicit.path, "model.layers[0]",
                           owner="the model input that `input_shape` on model.layers[0] declares")

        # Pass 2: final names and default edges, in spec order.
        prev = inputs[0].name if len(inputs) == 1 else None
        last = None
        for item in items:
            if isinstance(item, _BlockUse):
                prev = last = self.add_instances(item, prev, inputs)
            elif isinstance(item, _InputUse):
                continue  # the model's input, which `prev` already is
            elif isinstance(item, _Layer):
                item.name = item.name or self.auto_name(to_snake_case(item.cls.name))
                self.claim(item.name, item.path + (item.cls.name, "name"), item.label)
                if item.refs is None:
                    item.refs = [prev] if prev is not None else self.no_previous(item.path + (item.cls.name,), item.label, inputs)
                self.layers.append(item)
                prev = last = item.name
            else:
                prev = None
        return self.finish(inputs, last)

    def implicit_input(self, first: _Layer) -> InputNode | None:
        """A plain chain declares its input on the first layer, as in the Keras tutorial."""
        shape = first.args.pop("input_shape", None)
        if shape is None and "input_dim" in first.args:
            dim = first.args.pop("input_dim")
            shape = [dim] if isinstance(dim, int) else None
        if not isinstance(shape, list):
            return None
        return InputNode(IMPLICIT_INPUT, tuple(shape), path=first.path + (first.cls.name, "input_shape"))

    def input_item(self, use: _InputUse, first: bool) -> InputNode | None:
        """`- InputLayer: {shape: [784]}` as a chain's first item: the model's input, with keras.Input's
        arguments (those model.inputs takes, and a name); None after reporting."""
        path, label = use.path + (use.type,), f"{dotted(use.path)} ({use.type})"
        if not first or self.model.inputs:
            why = ("model.inputs declares this model's inputs: remove one of the two" if self.model.inputs else
                   "it can only be the first item of model.layers (a model of several inputs declares them in model.inputs)")
            self.report(Code.INPUT_ITEM, path, label, f"{use.type} declares the model's input, and {why}", True)
            return None
        valid = True
        for key in use.args:
            if key not in INPUT_KEYS:
                valid = False
                hint = (" Give the shape without its batch dimension as shape, and that dimension as batch_size."
                        if key == "batch_shape" else suggest(key, INPUT_KEYS))
                self.report(Code.UNKNOWN_ARGUMENT, path + (key,), label, f"unknown argument '{key}' for {use.type} as a chain's "
                            f"first item (it takes {', '.join(INPUT_KEYS)}).{hint}", True)
        if any(isinstance(value, Deferred) for value in use.args.values()):
            return None  # an unresolved ${...}, already reported
        values = {key: value for key, value in use.args.items() if key in InputSpec.model_fields}
        try:
            declared = InputSpec.model_validate(values)
        except ValidationError as err:
            for problem in err.errors():
                key = problem["loc"][0]
                if problem["type"] == "missing":
                    self.report(Code.MISSING_ARGUMENT, path, label, f"missing required argument {key}", False)
                else:
                    self.report(Code.BAD_ARGUMENT, path + (key,), label,
                                f"{dotted(problem['loc'])}: {problem['msg']} (received {describe(problem['input'])})", False)
            return None
        name = use.args["name"] if "name" in use.args else self.auto_name(INPUT_NAME)
        if not isinstance(name, str):
            self.report(Code.BAD_ARGUMENT, path + ("name",), label, f"name: expected a string; received {describe(name)}", False)
            return None
        if not valid:
            return None
        return InputNode(name, tuple(declared.shape), declared.dtype, declared.sparse, declared.ragged, declared.batch_size,
                         path=path + ("shape",))

    def add_shared(self, use: "_SharedUse", items: list) -> _Layer | None:
        """A `Shared` item: the layer named by `layer:` applied again, to other inputs."""
        path, args = use.path + (SHARED,), use.args
        label = f"{dotted(use.path)} ({SHARED})"
        for key in args:
            if key not in SHARED_KEYS:
                self.report(Code.UNKNOWN_KEY, path + (key,), label, f"unknown key '{key}' for Shared (it takes layer, inputs and name)."
                            + did_you_mean(key, SHARED_KEYS), True)
        target = args.get("layer")
        owners = {item.name: item for item in items if isinstance(item, _Layer) and item.name and not item.shares
                  and item.expression is None}
        owners.update({item.args["name"]: item for item in items if isinstance(item, _BlockUse) and self.model.blocks[item.block].model
                       and isinstance(item.args.get("name"), str)})
        if not isinstance(target, str) or target not in owners:
            hint = did_you_mean(target, owners) if isinstance(target, str) else ""
            self.report(Code.UNKNOWN_REFERENCE, path + ("layer",) if "layer" in args else path, label,
                        f"layer: expected the name of a layer defined in model.layers; received {describe(target)}.{hint}", False)
            return None
        owner = owners[target]
        if isinstance(owner, _BlockUse):  # a block as one Keras model: the model applied again
            inputs = block_inputs(self.model.blocks[owner.block])
            owner = _Layer(_model_class(owner.block, len(inputs)), {}, target, None, owner.path, "")
        name = args.get("name")
        if "name" in args and not isinstance(name, str):
            self.report(Code.WRONG_TYPE, path + ("name",), label, f"name: expected a string; received {describe(name)}", False)
        return _Layer(owner.cls, {}, name if isinstance(name, str) else None, self.read_refs(args, path, label),
                      use.path, f"{label} of '{target}'", shares=target)

    def add_submodel(self, use: _BlockUse, sources: dict[str, Any] | None, explicit: str | None) -> str | None:
        """An instance of a `model: true` block: one Keras model of the block's layers, applied to the instance's
        inputs (and again by `Shared`, with the same weights); its layers keep their names inside it."""
        block_name, args = use.block, use.args
        block = self.model.blocks[block_name]
        label, item_path = f"{dotted(use.path)} ({block_name})", use.path + (block_name,)
        if args.get("repeat", 1) != 1:
            self.report(Code.BLOCK_USE, item_path + ("repeat",), label, f"'{block_name}' is one Keras model (model: true): "
                        "apply it again with Shared, or give the block model: false to repeat its layers", False)
        names = block_inputs(block)
        instance = explicit or self.auto_name(to_snake_case(block_name))
        self.claim(instance, item_path + (("name",) if explicit else ()), label)
        placeholders = {name: _Final(f"{_SUBMODEL_INPUT}{name}") for name in names}
        count = len(self.instances)
        layers, output = self.expand_copies(block_name, {**args, "repeat": 1}, item_path, label, instance, placeholders)
        del self.instances[count:]  # its layers are the sub-model's, not the model's
        submodel = self.submodel_graph(block_name, names, layers, output, instance)
        refs = None if sources is None else [ref for ref in sources.values() if ref is not None]
        model = _Layer(_model_class(block_name, len(names)), {}, instance, refs, use.path, label, submodel=submodel)
        self.layers.append(model)
        return instance

    def submodel_graph(self, block_name: str, names: list[str], layers: list[_Layer], output: Any, instance: str) -> Graph | None:
        """The graph of a block made one Keras model: its inputs, its layers (named as in the block), its outputs."""
        prefix = len(instance) + 1
        local = {layer.name: layer.name[prefix:] for layer in layers}

        def inner(ref: str) -> Ref:
            name, index = _split(ref)
            return Ref(name[len(_SUBMODEL_INPUT):] if name.startswith(_SUBMODEL_INPUT) else local.get(name, name), index)

        for layer in layers:
            layer.name = local[layer.name]
            layer.refs = [inner(ref) for ref in layer.refs if not isinstance(ref, _Unknown)]
            layer.call_refs = {key: tuple(inner(r) for r in value) if isinstance(value, list) else inner(value)
                               for key, value in layer.call_refs.items()}
        outputs = [inner(ref) for ref in (output if isinstance(output, list) else [output] if output else [])]
        used = {ref.name for layer in layers for ref in _all_refs(layer)} | {ref.name for ref in outputs}
        if not self.broken_references:  # a reference to nothing leaves what it meant to use unused: an echo
            self.report_dead_ends([layer for layer in layers if layer.name not in used], inside=block_name)
        path = ("model", "blocks", block_name)
        inputs = tuple(InputNode(name, (), path=path + (("inputs",) if len(names) > 1 or names != [BLOCK_INPUT] else ()))
                       for name in names)
        nodes = tuple(_node(layer) for layer in _in_order(layers))
        return Graph(inputs, nodes, tuple(ref.name for ref in outputs),
                     output_refs=tuple(outputs) if any(ref.index is not None for ref in outputs) else ())

    def no_previous(self, path: tuple, label: str, inputs: list[InputNode], what: str = "layer",
                    block: tuple | None = None) -> list[str]:
        """The inputs of a first item that names none: fine with no model input (a deferred
        Sequential model), ambiguous with several. `block`: (name, inputs) of the block it is in, or is."""
        if block is not None and len(block[1]) > 1:
            self.report(Code.AMBIGUOUS_INPUT, path, label, f"block '{block[0]}' has {len(block[1])} inputs "
                        f"({', '.join(block[1])}): say which this {what} takes with `inputs:`", False)
            return []
        if len(inputs) > 1:
            names = ", ".join(i.name for i in inputs)
            self.report(Code.AMBIGUOUS_INPUT, path, label, f"the model has {len(inputs)} inputs ({names}): say which this {what} takes with `inputs:`", False)
        return []

    def add_instances(self, use: _BlockUse, prev: str | None, inputs) -> str | None:
        """Every copy of one block instance item of model.layers; returns the name its output goes by."""
        block_name, args = use.block, use.args
        label = f"{dotted(use.path)} ({block_name})"
        item_path = use.path + (block_name,)
        given = self.instance_sources(block_name, args, item_path, label, prev, inputs)
        sources = None if given is None else {name: None if ref is None else _Final(ref) for name, ref in given.items()}
        explicit = args.get("name") if isinstance(args.get("name"), str) else None
        if self.model.blocks[block_name].model:
            return self.add_submodel(use, sources, explicit)
        layers, output = self.expand_copies(block_name, args, item_path, label, None, sources, explicit)
        for layer in layers:
            self.claim(layer.name, layer.path + (layer.cls.name,), layer.label)
            self.layers.append(layer)
        if output is None or not layers:
            return None
        copies = [instance.name for instance in self.instances if instance.nodes and instance.nodes[-1] in
                  {layer.name for layer in layers}]
        name = explicit or (copies[-1] if copies else None)
        if explicit and explicit not in self.aliases:  # `repeat`: the instance's name is its last copy's output
            self.aliases[explicit] = output
        return name

    def finish(self, inputs: list[InputNode], last: str | None) -> Graph | None:
        known = {i.name for i in inputs} | {layer.name for layer in self.layers} | set(self.aliases)
        consumers: dict[str, int] = {}
        for layer in self.layers:
            type_key = SHARED if layer.shares else layer.cls.name
            resolve = _Resolver(self, layer, known, consumers)
            layer.refs = [ref for ref in (resolve(r, layer.path + (type_key, layer.refs_key)) for r in layer.refs) if ref]
            for key, value in list(layer.call_refs.items()):
                at = layer.path + (type_key, CALL, key)
                refs = [resolve(r, at) for r in (value if isinstance(value, list) else [value])]
                layer.call_refs[key] = tuple(refs) if isinstance(value, list) else refs[0]
            self.broken_references |= resolve.broken
            if not resolve.broken:  # with a reference missing, its count of inputs says nothing
                self.check_arity(layer)
                self.check_adapt(layer, inputs)

        self.instances = [dataclasses.replace(instance, sources=tuple(map(self.as_ref, instance.sources)),
                                              outputs=tuple(map(self.as_ref, instance.outputs)))
                          for instance in self.instances]
        outputs = self.resolve_outputs(known, last)
        for ref in outputs:
            consumers[ref.name] = consumers.get(ref.name, 0) + 1
        self.check_output_indices(outputs)
        # A misspelt reference was meant to use something: "goes nowhere" and "not used" would be its echo.
        quiet = self.broken_references
        for node in () if quiet else inputs:
            if not consumers.get(node.name):
                where = f"model.inputs.{node.name}" if node.path[:2] == ("model", "inputs") else split_where(node.path)[0]
                self.report(Code.UNUSED, node.path, where, f"input '{node.name}' is not used by any layer", True)
        self.report_dead_ends([] if quiet else [layer for layer in self.layers if not consumers.get(layer.name)])

        if self.duplicates:
            return None
        order = self.topological_order(inputs)
        if order is None:
            return None
        nodes = tuple(_node(layer) for layer in order)
        chain = _is_chain(inputs, nodes, outputs) and not getattr(self.model, "functional", None)
        return Graph(tuple(inputs), nodes, tuple(ref.name for ref in outputs), sequential=chain,
                     blocks=tuple(self.blocks.values()), instances=tuple(self.instances), 
                     output_refs=tuple(outputs) if any(ref.index is not None for ref in outputs) else ())

    def report_dead_ends(self, unused: list[_Layer], inside: str | None = None) -> None:
        """Layers whose output goes nowhere, once per item written: a block's layer in every copy is one mistake.

        `inside`: the block made one Keras model they belong to, whose outputs they can be."""
        by_item: dict[tuple, list[_Layer]] = {}
        for layer in unused:
            by_item.setdefault(layer.path, []).append(layer)
        outputs = f"model.blocks.{inside}.outputs" if inside else "model.outputs"
        for path, layers in by_item.items():
            names = [f"'{layer.name}'" for layer in layers]
            if len(names) == 1:
                message = f"the output of {names[0]} goes nowhere: use it as an input or list it in {outputs}"
            else:
                listed = f"{', '.join(names[:-1])} and {names[-1]}"
                message = (f"the outputs of {listed} (one per copy of the block) go nowhere: use them as inputs "
                           "or list them in model.outputs")
            self.report(Code.UNUSED, path, layers[0].label, message, False)

    def check_output_indices(self, outputs: list[Ref]) -> None:
        """References to a layer that gives several outputs (an LSTM with return_state, attention returning its
        scores) need one's index, and an index it has: known from the layer's arguments, before building."""
        counts = {layer.name: count for layer in self.layers if (count := output_count(layer)) is not None}
        if not counts:
            return
        uses = [(layer, ref, layer.path + (SHARED if layer.shares else layer.cls.name, layer.refs_key))
                for layer in self.layers if layer.expression is None for ref in layer.refs]
        uses += [(layer, ref, layer.path + (layer.cls.name, CALL, key)) for layer in self.layers
                 for key, value in layer.call_refs.items() for ref in (value if isinstance(value, tuple) else [value])]
        declared = self.model.outputs
        uses += [(None, ref, ("model", "outputs") + ((k,) if isinstance(declared, list) else ()))
                 for k, ref in enumerate(outputs)]
        for layer, ref, path in uses:
            count = counts.get(ref.name) if isinstance(ref, Ref) else None
            if count is None or (ref.index is not None and ref.index < count):
                continue
            listed = ", ".join(f"'{ref.name}[{k}]'" for k in range(count))
            problem = (f"'{ref.name}' gives {count} outputs ({listed}): pick one" if ref.index is None
                       else f"'{ref.name}' gives {count} outputs ({listed}); there is no '{ref}'")
            self.report(Code.OUTPUT_REFERENCE, path, layer.label if layer else "model.outputs", problem, False)

    def check_adapt(self, layer: _Layer, inputs: list[InputNode]) -> None:
        """An adapting layer learns from the training data of one model input, so it must be applied to one."""
        names = {node.name for node in inputs}
        if layer.adapt and not (len(layer.refs) == 1 and layer.refs[0].name in names and layer.refs[0].index is None):
            self.report(Code.BAD_ARGUMENT, layer.path + (layer.cls.name, ADAPT), layer.label,
                        "adapt: learns from the training data of a model input, so the layer must be applied to one "
                        f"(it is applied to {', '.join(map(str, layer.refs)) or 'nothing'})", False)

    def check_arity(self, layer: _Layer) -> None:
        low, high, _ = layer.cls.inputs
        count = len(layer.refs)
        if count == 0:
            return  # a deferred Sequential model (no declared input), or already reported
        if count < low or (high is not None and count > high):
            expected = f"{low}" if low == high else (f"at least {low}" if high is None else f"{low} to {high}")
            self.report(Code.INPUT_COUNT, layer.path + (layer.cls.name,), layer.label,
                        f"{layer.cls.name} takes {expected} input{'s' if (high or 2) > 1 else ''}; received {count}"
                        f" ({', '.join(map(str, layer.refs))})", False)

    def as_ref(self, ref: Any) -> Ref | None:
        """A resolved reference (a block instance's input or output) as a node's output; None when there is none."""
        if not isinstance(ref, str):
            return None
        name, index = _split(ref)
        return self.through_aliases(name, index)[0]

    def through_aliases(self, name: str, index: int | None) -> tuple[Ref | None, str | None]:
        """`name[index]` as a node's output: a block instance's name stands for its output(s)."""
        if name not in self.aliases:
            return Ref(name, index), None
        output = self.aliases[name]
        if isinstance(output, list):
            if index is None or index >= len(output):
                listed = ", ".join(f"'{name}[{k}]'" for k in range(len(output)))
                return None, f"block instance '{name}' gives {len(output)} outputs: pick one ({listed})"
            output, index = output[index], None
        if output is None:
            return None, f"block instance '{name}' has no output"
        target, inner = _split(output)
        if inner is not None and index is not None:
            return None, f"'{name}' is one output, '{output}': it has no '[{index}]'"
        return Ref(target, inner if inner is not None else index), None

    def resolve_outputs(self, known: set, last: str | None) -> list[Ref]:
        declared = self.model.outputs
        if declared is None:
            if not last:
                return []
            resolved, problem = self.through_aliases(last, None)
            if problem:  # the last item, a block instance of several outputs
                self.report(Code.UNKNOWN_REFERENCE, ("model", "layers"), "model.outputs", f"{problem} in model.outputs", False)
                return []
            return [resolved]
        names = [declared] if isinstance(declared, str) else list(declared)
        outputs = []
        for k, written in enumerate(names):
            path = ("model", "outputs") if isinstance(declared, str) else ("model", "outputs", k)
            name, index = _split(written)
            if name not in known:
                self.report(Code.UNKNOWN_REFERENCE, path, "model.outputs", f"unknown output '{name}'." + did_you_mean(name, sorted(known)), False)
                self.broken_references = True
            else:
                resolved, problem = self.through_aliases(name, index)
                if problem:
                    self.report(Code.UNKNOWN_REFERENCE, path, "model.outputs", problem, False)
                    self.broken_references = True
                else:
                    outputs.append(resolved)
        return outputs

    def topological_order(self, inputs: list[InputNode]) -> list[_Layer] | None:
        """Kahn's algorithm, keeping spec order among ready layers; reports cycles."""
        by_name = {layer.name: layer for layer in self.layers}
        pending = {layer.name: sum(1 for r in _all_refs(layer) if r.name in by_name) for layer in self.layers}
        users: dict[str, list[_Layer]] = {}
        for layer in self.layers:
            for ref in _all_refs(layer):
                users.setdefault(ref.name, []).append(layer)
        order, ready = [], [l for l in self.layers if pending[l.name] == 0]
        position = {layer.name: i for i, layer in enumerate(self.layers)}
        while ready:
            ready.sort(key=lambda l: position[l.name])
            layer = ready.pop(0)
            order.append(layer)
            for user in users.get(layer.name, ()):
                pending[user.name] -= 1
                if pending[user.name] == 0:
                    ready.append(user)
        if len(order) == len(self.layers):
            return order
        stuck = [l for l in self.layers if pending[l.name] > 0]
        cycle = _find_cycle(stuck, by_name)
        first = by_name[cycle[0]]
        self.report(Code.CYCLE, first.path + (first.cls.name, "inputs"), first.label, "cycle: " + " -> ".join(cycle + [cycle[0]]), False)
        return None


_STATES = {"LSTM": 2, "ConvLSTM1D": 2, "ConvLSTM2D": 2, "ConvLSTM3D": 2, "GRU": 1, "SimpleRNN": 1}  # with return_state
_SCORES = {"MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention"}  # return_attention_scores


def output_count(layer: _Layer) -> int | None:
    """How many outputs a layer gives when its arguments say it gives several (None: one, or not known here)."""
    name, args = layer.cls.name, layer.args
    if layer.shares or layer.expression is not None or layer.submodel is not None:
        return None
    if name in _STATES and args.get("return_state") is True:
        return 1 + _STATES[name]
    if name == "Bidirectional" and isinstance(args.get("layer"), dict) and len(args["layer"]) == 1:
        ((inner, inner_args),) = args["layer"].items()
        if inner in _STATES and isinstance(inner_args, dict) and inner_args.get("return_state") is True:
            return 1 + 2 * _STATES[inner]  # the output, then each direction's states
    if name in _SCORES and layer.call.get("return_attention_scores") is True:
        return 2
    return None


def _split(ref: str) -> tuple[str, int | None]:
    """`lstm[1]` as ("lstm", 1), `lstm` as ("lstm", None)."""
    indexed = _INDEXED.fullmatch(ref)
    return (indexed.group(1), int(indexed.group(2))) if indexed else (ref, None)


def _all_refs(layer: _Layer) -> list[Ref]:
    """A lowered item's references: its inputs, and the tensors among its call arguments."""
    refs = list(layer.refs)
    for value in layer.call_refs.values():
        refs.extend(value if isinstance(value, tuple) else [value])
    return [ref for ref in refs if isinstance(ref, Ref)]  # a reference to nothing is reported already


_SUBMODEL_INPUT = "\0input:"  # inside a sub-model's expansion: the block's input NAME, which no spec name can be


def _model_class(block_name: str, inputs: int) -> ClassInfo:
    """The pseudo-class of a block made one Keras model: keras.Model, called on the block's inputs."""
    return ClassInfo(MODEL, block_name, "keras.Model", f"the block {block_name} as one Keras model", {},
                     inputs=(inputs, inputs, False))


def _in_order(layers: list[_Layer]) -> list[_Layer]:
    """A sub-model's layers in topological order, keeping the block's order among those ready (a cycle: as written)."""
    names = {layer.name for layer in layers}
    done: set[str] = set()
    order: list[_Layer] = []
    pending = list(layers)
    while pending:
        ready = next((l for l in pending if all(r.name not in names or r.name in done for r in _all_refs(l))), pending[0])
        pending.remove(ready)
        order.append(ready)
        done.add(ready.name)
    return order


def _node(layer: _Layer) -> LayerNode:
    """The IR node of a lowered item; its arguments stay in the spec's form until `specc.lower.values` describes them."""
    if layer.submodel is not None:
        return LayerNode(layer.name, layer.cls.name, MODEL, layer.cls.path, {}, tuple(layer.refs), path=layer.path,
                         takes_list=len(layer.submodel.inputs) > 1, submodel=layer.submodel)
    if layer.expression is not None:
        return LayerNode(layer.name, OPS_ITEM, OPS, OPS_CLASS.path, {}, tuple(layer.refs), path=layer.path,
                         block=layer.block, expression=layer.expression)
    call = {**layer.call, **layer.call_refs}
    if layer.shares:
        return LayerNode(layer.name, layer.cls.name, SHARED_KIND, layer.cls.path, {}, tuple(layer.refs), path=layer.path,
                         block=layer.block, shares=layer.shares, input_names=tuple(layer.input_names), call=call)
    kwargs = dict(layer.args)
    application = layer.cls.kind == APPLICATION
    trainable = kwargs.pop("trainable", True) if application else True
    return LayerNode(layer.name, layer.cls.name, APPLICATION if application else LAYER, layer.cls.path,
                     kwargs, tuple(layer.refs), takes_list=bool(layer.cls.inputs[2]), trainable=trainable is not False,
                     shape_from_input=application and "input_shape" not in kwargs and len(layer.refs) == 1,
                     path=layer.path, block=layer.block, input_names=tuple(layer.input_names), call=call, adapt=layer.adapt)


def _block_def(block_name: str, block: Block, entries: list) -> BlockDef:
    """The block as a code generator needs it: which arguments of which item are one parameter, whole."""
    items, whole = [], True
    for entry in entries:
        parts = split_object(entry.item)
        type_name = parts[0] if parts else ""
        head = len(entry.path) + 1  # bound paths: item path + (type, argument)
        bound = {path[head]: param for path, param in entry.bound.items() if len(path) == head + 1}
        if entry.partial or len(bound) != len(entry.bound) or {"name", "inputs"} & set(bound) or (
                type_name == OPS_ITEM and entry.bound):
            whole = False  # a parameter inside a longer string or a nested value, naming a layer, or an expression
        items.append(BlockItem(type_name, bound))
    outputs = () if block.outputs is None else (block.outputs,) if isinstance(block.outputs, str) else tuple(block.outputs)
    return BlockDef(block_name, tuple(block.params), dict(block.params), tuple(items), whole,
                    inputs=tuple(block_inputs(block)), outputs=outputs)


class _Resolver:
    """Resolves one item's references to final names, counting their consumers; reports those to nothing."""

    def __init__(self, lowering: "_Lowering", layer: _Layer, known: set, consumers: dict):
        self.lowering, self.layer, self.known, self.consumers = lowering, layer, known, consumers
        self.broken = False

    def __call__(self, ref: Any, path: tuple) -> Ref | None:
        report, label = self.lowering.report, self.layer.label
        what = "tensor" if self.layer.expression is not None else "input"
        if isinstance(ref, _Unknown):
            report(Code.UNKNOWN_REFERENCE, path, label, f"unknown {what} '{ref.name}' in this block." + did_you_mean(ref.name, ref.scope), False)
            self.broken = True
            return None
        name, index = _split(ref)
        if name not in self.known:
            report(Code.UNKNOWN_REFERENCE, path, label, f"unknown {what} '{name}'." + did_you_mean(name, sorted(self.known)), False)
            self.broken = True
            return None
        resolved, problem = self.lowering.through_aliases(name, index)
        if problem:
            report(Code.UNKNOWN_REFERENCE, path, label, problem, False)
            self.broken = True
            return None
        self.consumers[resolved.name] = self.consumers.get(resolved.name, 0) + 1
        return resolved


class _Unknown:
    """A reference inside a block to a name the block does not define."""

    def __init__(self, name: str, scope):
        self.name = name
        self.scope = tuple(scope)


class _Final(str):
    """A reference resolved to the model's namespace (a layer, a model input, a top-level instance)."""


def block_inputs(block: Block) -> list[str]:
    """The names a block's layers call its inputs: `input`, unless the block declares its own."""
    return list(block.inputs) if block.inputs else [BLOCK_INPUT]


class _BlockScope:
    """Resolves a reference written in one copy of a block: to an input's source, or a local name's final one."""

    def __init__(self, sources: dict[str, Any], scope: dict[str, Any]):
        self.sources, self.scope = sources, scope

    def __call__(self, ref: Any) -> Any:
        if ref is None or isinstance(ref, (_Final, _Unknown)):
            return ref  # resolved already (by a block inside this one), or reported
        name, index = _split(ref)
        if name in self.sources:
            source = self.sources[name]  # a final name, or one of the block around this one
            if source is None or index is None:
                return source
            return type(source)(f"{source}[{index}]")
        if name in self.scope:
            target = self.scope[name]
            if isinstance(target, list):  # a block inside this one with several outputs
                return target[index] if index is not None and index < len(target) else _Unknown(ref, self.scope)
            if target is None:
                return None  # a block inside this one that failed, already reported
            return target if index is None else _Final(f"{target}[{index}]")
        return _Unknown(ref, [*self.sources, *self.scope])


def _free_name(base: str, taken: dict) -> str:
    """Keras's naming scheme within one block: conv2d, conv2d_1, ..."""
    n = 0
    while (base if n == 0 else f"{base}_{n}") in taken:
        n += 1
    return base if n == 0 else f"{base}_{n}"


def _find_cycle(stuck: list[_Layer], by_name: dict[str, _Layer]) -> list[str]:
    """One cycle among layers that Kahn's algorithm could not order."""
    stuck_names = {l.name for l in stuck}
    start = stuck[0].name
    seen: list[str] = []
    node = start
    while node not in seen:
        seen.append(node)
        node = next(r.name for r in _all_refs(by_name[node]) if r.name in stuck_names)
    return seen[seen.index(node):]


def _is_chain(inputs, nodes, outputs) -> bool:
    """True when keras.Sequential can express the graph: one input, one path, one output."""
    if len(inputs) > 1 or len(outputs) != 1 or not nodes or outputs[0].name != nodes[-1].name:
        return False
    previous = inputs[0].name if inputs else None
    if outputs[0].index is not None:
        return False
    for node in nodes:
        if node.shares or node.kind in (OPS, MODEL) or node.call or node.input_names or node.inputs != ((Ref(previous),) if previous else ()):
            return False
        previous = node.name
    return True


def lower_graph(model: ModelSection, catalog: Catalog, report: Report,
                params: dict | None = None) -> tuple[Graph | None, list[ArgumentCheck]]:
    """The model section as a Graph (None when `report` was called), and the argument checks of its items.

    `params` are the spec's resolved params, for `${params.*}` inside block bodies.
    """
    failed = False

    def counting(*args):
        nonlocal failed
        failed = True
        report(*args)

    lowering = _Lowering(model, catalog, counting, params or {})
    graph = lowering.run()
    return (None if failed else graph), lowering.checks
