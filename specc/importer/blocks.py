"""Repeated structure in an imported model, as blocks with parameters and instances.

    entries, blocks = find_blocks(items, outputs)

A block's layers are named `<instance>_<layer>` (the spec language's rule), so a
block instance can only be a run of consecutive layers whose Keras names share a
prefix: `conv2_block1_1_conv ... conv2_block1_out` is an instance `conv2_block1`
of a block whose layers are `1_conv ... out`. The prefixes are the names'
`_`-separated heads, nested (`conv2` holds `conv2_block1`, which holds
`conv2_block1_1`). Two runs are one block when they have the same layers (class,
local name, connections, call arguments) and differ only in argument values;
an argument whose value differs between the instances becomes a parameter:
values equal in every instance share one, and a value that is a whole multiple of
another in every instance is written as `${filters * 4}`. A parameter takes as its
default the value most instances have (when more than half do); the others give it.

Blocks are chosen greedily, the one that saves the most lines first (its layers
written once and a line per instance, against every copy's layers), on runs no
block chosen before holds: ResNet50's `conv2_block1` is an instance of a
projection block and `conv2_block2` of an identity block, rather than their
stages (conv2 and conv5 alike) or their conv-bn-relu triples.
A run is a candidate only when the rest of the model takes nothing from it but its
last layer's output, it takes one tensor from outside (the block's `input`), and
no layer of it is applied twice (`Shared`). The importer checks the spec with
blocks like any other, by building it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

REQUIRED = "???"


class Ref(str):
    """A tensor named in a call argument (`initial_state: [encoder[1], encoder[2]]`), told apart from a string value."""


@dataclass
class Item:
    """One layer call of the imported model, as the spec writes it."""

    kind: str  # a Keras class name, or "Shared"
    name: str
    args: dict  # the arguments the spec writes (those that differ from Keras's defaults)
    refs: list[str]  # the tensors it takes, by spec name (`lstm[1]` for one output of several)
    listed: bool = False  # Keras saw a list of inputs: written as a list even when it holds one
    call: dict = field(default_factory=dict)
    full: dict = field(default_factory=dict)  # every argument's value, as a spec writes it (for parameters)


@dataclass
class Instance:
    block: str
    name: str
    values: dict  # the parameters it gives (those not at the block's defaults)
    source: str  # the tensor it is applied to


@dataclass
class Block:
    name: str
    params: dict  # name -> default, or REQUIRED
    layers: list[Item]  # named locally; refs to `input` for the block's input
    instances: list[str]


@dataclass
class _Run:
    prefix: str
    lo: int
    hi: int
    children: list["_Run"]


def find_blocks(items: list[Item], outputs: list[str]) -> tuple[list[Item | Instance], list[Block], list[str]]:
    """The model's entries (flat items and block instances, in Keras's order), the blocks they use, and the
    model's outputs as the spec then names them (an instance's name for its last layer's output)."""
    tokens = [item.name.split("_") for item in items]
    top = _Run("", 0, len(items), _runs(tokens, 0, len(items), 0))
    users = _users(items, outputs)
    names = {item.name for item in items}
    runs = list(_walk(top))
    signatures: dict[int, tuple] = {}  # id(run) -> its signature, for the runs that may be blocks
    for run in runs:
        # An instance's name is a reference to its output: it cannot be a layer's too (MobileNet's conv1, conv1_bn).
        signature = None if run.prefix in names else _signature(items, run, users)
        if signature is not None:
            signatures[id(run)] = signature
    groups = _choose(runs, signatures)
    blocks, instances, renamed = [], {}, {}
    for copies, block_name in zip(groups.values(), _block_names(list(groups.values()), names)):
        block, values = _block(items, copies, block_name)
        blocks.append(block)
        for run, given in zip(copies, values):
            instances[run.lo] = (run, Instance(block_name, run.prefix, given, ""))
            renamed[items[run.hi - 1].name] = run.prefix
    entries: list[Item | Instance] = []
    index = 0
    while index < len(items):
        if index in instances:
            run, instance = instances[index]
            instance.source = _rename(_external(items, run)[0], renamed)
            entries.append(instance)
            index = run.hi
        else:
            item = items[index]
            entries.append(Item(item.kind, item.name, item.args, [_rename(ref, renamed) for ref in item.refs],
                                item.listed, _map_refs(item.call, lambda ref: _rename(ref, renamed)), item.full))
            index += 1
    return entries, blocks, [_rename(ref, renamed) for ref in outputs]


def _choose(runs: list[_Run], signatures: dict[int, tuple]) -> dict[tuple, list[_Run]]:
    """The blocks worth writing and their instances: greedily, the block that saves the most lines first (its layers
    once, a line per instance, against every copy's layers), on runs no block chosen before holds."""
    taken: list[tuple[int, int]] = []
    chosen: dict[tuple, list[_Run]] = {}
    candidates: dict[tuple, list[_Run]] = {}
    for run in runs:
        if id(run) in signatures:
            candidates.setdefault(signatures[id(run)], []).append(run)

    def free(run: _Run) -> bool:
        return all(run.hi <= lo or hi <= run.lo for lo, hi in taken)

    def available(group: list[_Run]) -> list[_Run]:
        found: list[_Run] = []
        for run in group:
            if free(run) and all(run.hi <= other.lo or other.hi <= run.lo for other in found):
                found.append(run)
        return found

    def saving(group: list[_Run]) -> int:
        size = group[0].hi - group[0].lo if group else 0
        return len(group) * (size - 1) - size - 2 if len(group) >= 2 else 0

    while candidates:
        signature = max(candidates, key=lambda sig: saving(available(candidates[sig])))
        group = available(candidates.pop(signature))
        if saving(group) <= 0:
            break
        chosen[signature] = sorted(group, key=lambda run: run.lo)
        taken += [(run.lo, run.hi) for run in group]
    return dict(sorted(chosen.items(), key=lambda entry: entry[1][0].lo))


def _runs(tokens: list[list[str]], lo: int, hi: int, level: int) -> list[_Run]:
    """The runs of consecutive names in [lo, hi) that share their first level+1 tokens (and have more)."""
    found, i = [], lo
    while i < hi:
        if len(tokens[i]) > level + 1:
            head, j = tokens[i][:level + 1], i + 1
            while j < hi and len(tokens[j]) > level + 1 and tokens[j][:level + 1] == head:
                j += 1
            found.append(_Run("_".join(head), i, j, _runs(tokens, i, j, level + 1)))
            i = j
        else:
            i += 1
    return found


def _walk(run: _Run):
    for child in run.children:
        yield child
        yield from _walk(child)


def _users(items: list[Item], outputs: list[str]) -> dict[str, list[int]]:
    """{layer name: the positions of the items that take one of its outputs} (len(items) for the model's outputs;
    -1 for a `Shared` call of the layer, which must then stay a layer of the model, outside any block)."""
    users: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        for ref in item.refs + _call_refs(item.call):
            users.setdefault(_base(ref), []).append(position)
        if item.kind == "Shared":
            users.setdefault(item.args["layer"], []).append(-1)
    for ref in outputs:
        users.setdefault(_base(ref), []).append(len(items))
    return users


def _signature(items: list[Item], run: _Run, users: dict[str, list[int]]) -> tuple | None:
    """What two runs must share to be one block, or None when this run cannot be one."""
    if run.hi - run.lo < 2:
        return None
    inside = {item.name for item in items[run.lo:run.hi]}
    last = items[run.hi - 1].name
    for item in items[run.lo:run.hi]:
        for position in users.get(item.name, []):
            if position == -1 or (not run.lo <= position < run.hi and item.name != last):
                return None  # the rest of the model takes a tensor from inside: not a block's one output
    if len(_external(items, run)) != 1:
        return None
    for position in users.get(last, []):
        if not run.lo <= position < run.hi and _has_index(items, position, last):
            return None
    local = _localizer(run.prefix, inside)
    layers = []
    for item in items[run.lo:run.hi]:
        if item.kind == "Shared":
            return None  # a layer applied again: written as the model's own items
        layers.append((item.kind, local(item.name), tuple(local(ref) for ref in item.refs), item.listed,
                       json.dumps(_map_refs(item.call, local), sort_keys=True, default=repr)))
    return tuple(layers)


def _has_index(items: list[Item], position: int, name: str) -> bool:
    if position >= len(items):
        return False
    item = items[position]
    return any(_base(ref) == name and ref != name for ref in item.refs + _call_refs(item.call))


def _external(items: list[Item], run: _Run) -> list[str]:
    """The tensors from outside the run that its layers take, in order of first use."""
    inside = {item.name for item in items[run.lo:run.hi]}
    found: list[str] = []
    for item in items[run.lo:run.hi]:
        for ref in item.refs + _call_refs(item.call):
            if _base(ref) not in inside and ref not in found:
                found.append(ref)
    return found


def _localizer(prefix: str, inside: set[str]):
    def local(ref: str) -> str:
        base = _base(ref)
        if base in inside:
            return base[len(prefix) + 1:] + ref[len(base):]
        return "input"
    return local


def _map_refs(call: dict, function) -> dict:
    """Call arguments with each tensor in them (a Ref, alone or in a list) replaced by function(ref)."""
    def value(v: Any) -> Any:
        if isinstance(v, list):
            return [value(x) for x in v]
        return Ref(function(v)) if _is_ref(v) else v
    return {key: value(v) for key, v in call.items()}


def _block(items: list[Item], runs: list[_Run], name: str) -> tuple[Block, list[dict]]:
    """The block of these runs (the same layers, other values) and each instance's parameter values."""
    first = runs[0]
    count = first.hi - first.lo
    slots: list[tuple[int, str]] = []  # (layer position in the block, argument) whose values differ
    constant: list[dict] = []
    for offset in range(count):
        copies = [items[run.lo + offset] for run in runs]
        keys = list(dict.fromkeys(k for copy in copies for k in copy.args))
        fixed = {}
        for key in keys:
            values = [_full(copy, key) for copy in copies]
            if all(_same(v, values[0]) for v in values):
                fixed[key] = values[0]
            else:
                slots.append((offset, key))
                fixed[key] = None  # placeholder, keeps the argument's place
        constant.append(fixed)
    vectors = {slot: [_full(items[run.lo + slot[0]], slot[1]) for run in runs] for slot in slots}
    # Slots of equal values in every instance share a parameter; a whole multiple of one is written from it.
    shared: list[tuple[list[tuple[int, str]], list]] = []  # (slots, their values per instance): one parameter each
    derived: dict[tuple[int, str], tuple[int, int]] = {}  # slot -> (parameter index, factor)
    for slot in slots:
        vector = vectors[slot]
        same = next((i for i, (_, v) in enumerate(shared) if _same(v, vector)), None)
        multiple = next((i for i, (_, v) in enumerate(shared) if _is_multiple(vector, v)), None)
        if same is not None:
            shared[same][0].append(slot)
        elif multiple is not None:
            derived[slot] = (multiple, vector[0] // shared[multiple][1][0])
        else:
            shared.append(([slot], vector))
    keys = Counter(slots_of[0][1] for slots_of, _ in shared)
    params: dict[str, Any] = {}
    names: list[str] = []
    written: dict[tuple[int, str], str] = {}  # slot -> the ${...} that fills it
    for slots_of, vector in shared:
        offset, key = slots_of[0]
        param = _param_name(key, items[first.lo + offset].name[len(first.prefix) + 1:], keys[key] > 1, params)
        most, times = Counter(json.dumps(v, sort_keys=True) for v in vector).most_common(1)[0]
        params[param] = json.loads(most) if times * 2 > len(vector) else REQUIRED
        names.append(param)
        written.update({slot: f"${{{param}}}" for slot in slots_of})
    written.update({slot: f"${{{names[index]} * {factor}}}" for slot, (index, factor) in derived.items()})
    param_vectors = {name: vector for name, (_, vector) in zip(names, shared)}
    layers = []
    inside = {item.name for item in items[first.lo:first.hi]}
    local = _localizer(first.prefix, inside)
    for offset in range(count):
        item = items[first.lo + offset]
        args = {key: (written[(offset, key)] if (offset, key) in written else value)
                for key, value in constant[offset].items()}
        layers.append(Item(item.kind, local(item.name), args, [local(ref) for ref in item.refs], item.listed,
                           _map_refs(item.call, local)))
    values = []
    for index in range(len(runs)):
        given = {}
        for param, vector in param_vectors.items():
            if params[param] == REQUIRED or not _same(vector[index], params[param]):
                given[param] = vector[index]
        values.append(given)
    return Block(name, params, layers, [run.prefix for run in runs]), values


def _full(item: Item, key: str) -> Any:
    return item.args[key] if key in item.args else item.full.get(key)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _is_multiple(vector: list, base: list) -> bool:
    """Whether every value is the same whole multiple (above 1) of the base's."""
    if not all(type(v) is int and type(b) is int and b > 0 for v, b in zip(vector, base)):
        return False
    factor = vector[0] // base[0]
    return factor > 1 and all(v == b * factor for v, b in zip(vector, base))


def _param_name(key: str, layer: str, several: bool, params: dict) -> str:
    """The argument's name (`filters`), or with its layer's when several parameters set arguments of that name."""
    name = f"{key}_{layer}" if several else key
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if name[0].isdigit():
        name = f"{key}_{name}"
    while name in params:
        name += "_"
    return name


def _block_names(groups: list[list[_Run]], taken: set[str]) -> list[str]:
    """A name per block from its instances' prefixes without their numbers: conv_block_a, conv_block_b, ...
    (never a layer's name, which `taken` holds)."""
    stems = []
    for runs in groups:
        parts = ["".join(c for c in part if not c.isdigit()) for part in runs[0].prefix.split("_")]
        stem = "_".join(part for part in parts if part) or "block"
        stem = stem if stem[0].isalpha() else f"block_{stem}"
        stems.append(stem if stem not in taken else f"{stem}_block")
    counts, seen = Counter(stems), Counter()
    names = []
    for stem in stems:
        if counts[stem] > 1:
            names.append(f"{stem}_{chr(ord('a') + seen[stem])}" if seen[stem] < 26 else f"{stem}_{seen[stem]}")
            seen[stem] += 1
        else:
            names.append(stem)
    return names


def _rename(ref: str, renamed: dict[str, str]) -> str:
    base = _base(ref)
    return renamed[base] + ref[len(base):] if base in renamed else ref


def _call_refs(call: dict) -> list[str]:
    found = []
    for value in call.values():
        for v in (value if isinstance(value, list) else [value]):
            if _is_ref(v):
                found.append(v)
    return found


def _is_ref(value: Any) -> bool:
    return isinstance(value, Ref)


def _base(ref: str) -> str:
    return ref.split("[", 1)[0]
