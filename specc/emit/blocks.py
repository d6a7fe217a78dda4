"""Blocks as Python functions in generated scripts: a ResNet spec reads like a hand-written ResNet.

Each block becomes one function, called once per instance (and per `repeat`
copy): for a functional model `def residual(x, name, filters): ...; return y`,
for a Sequential one `def conv_bn(name, filters): return [layers...]`. A block
parameter used as a whole argument (`filters: "${filters}"`) becomes the
function's parameter; everything else must be the same in every instance.
Where a block does not fit that shape (a parameter inside a nested value or a
longer string, a layer outside the block using one of its inner layers, an
application inside it), its instances are written out layer by layer instead.
Either way the script creates and calls the layers in the IR's order, so the
model is the same.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from specc.emit.source import INDENT, Raw, identifier, literal, source, wrapped
from specc.emit.expressions import expression_source
from specc.ir import LAYER, OPS, BlockDef, BlockInstance, Graph, LayerNode, Ref


@dataclass
class Plan:
    """The blocks written as functions, and their instances in the graph (each by its first node's name)."""

    blocks: dict[str, BlockDef] = field(default_factory=dict)
    instances: dict[str, BlockInstance] = field(default_factory=dict)
    nodes: dict[str, LayerNode] = field(default_factory=dict)
    all_instances: tuple[BlockInstance, ...] = ()  # every instance written as a call, those inside others too
    inner: dict[str, list[BlockInstance]] = field(default_factory=dict)  # instance -> the instances directly inside it
    _inside: set[str] = field(default_factory=set)  # nodes of instances, but their first

    def __post_init__(self) -> None:
        self._inside = {name for instance in self.instances.values() for name in instance.nodes[1:]}

    def inner_instances(self, instance: BlockInstance) -> list[BlockInstance]:
        """The instances of blocks directly inside `instance`, in its order."""
        return self.inner.get(instance.name, [])

    def starting_at(self, node: str) -> BlockInstance | None:
        """The instance whose first node this is: the script calls its function here."""
        return self.instances.get(node)

    def inside(self, node: str) -> bool:
        """A node its instance's function makes."""
        return node in self._inside

    def function(self, instance: BlockInstance) -> BlockDef:
        return self.blocks[instance.block]

    def first_instances(self) -> list[tuple[BlockDef, BlockInstance]]:
        """Each block once, with the instance its function is written from; a block inside another first."""
        seen: dict[str, BlockInstance] = {}
        for instance in sorted(self.all_instances, key=lambda i: len(i.nodes)):
            seen.setdefault(instance.block, instance)
        return [(self.blocks[name], instance) for name, instance in seen.items()]

    def layers_of(self, instance: BlockInstance) -> list[LayerNode]:
        return [self.nodes[name] for name in instance.nodes]


def plan(graph: Graph) -> Plan:
    """Which block instances become function calls: see `_fits_a_function`; a block is a function only when
    every instance of it fits (they share its code), and then every instance is a call."""
    nodes = {node.name: node for node in graph.layers}
    position = {node.name: i for i, node in enumerate(graph.layers)}
    position.update((node.name, -1) for node in graph.inputs)
    users: dict[str, set[str | None]] = {}  # node name -> the names of the nodes using it
    for node in graph.layers:
        for ref in node.references():
            users.setdefault(ref.name, set()).add(node.name)
    for ref in graph.output_references:
        users.setdefault(ref.name, set()).add(None)
    blocks = {block.name: block for block in graph.blocks}
    rejected = {name for name, block in blocks.items() if not block.whole_arguments}
    inner = inner_instances(graph.instances)
    # A block inside another is written inside its function: the outer fits only if the inner does.
    changed = True
    while changed:
        changed = False
        for instance in graph.instances:
            if instance.block not in rejected and not _fits_a_function(
                    instance, blocks[instance.block], graph, nodes, position, users, rejected, inner[instance.name]):
                rejected.add(instance.block)
                changed = True
    # Inside a block written as a function, a block's instances are its calls; inside one written out, the model's.
    nested = {i.name for outer in graph.instances if outer.block not in rejected for i in inner[outer.name]}
    instances = {instance.nodes[0]: instance for instance in graph.instances
                 if instance.block not in rejected and instance.name not in nested}
    return Plan({name: block for name, block in blocks.items() if name not in rejected}, instances, nodes,
                all_instances=tuple(i for i in graph.instances if i.block not in rejected), inner=inner)


def inner_instances(instances) -> dict[str, list[BlockInstance]]:
    """Each instance's name -> the instances of blocks directly inside it, in order.

    A block inside a block is expanded within its outer copy, so its nodes are a run of the outer's:
    found from where each instance starts, in time linear in the nodes.
    """
    starting: dict[str, list[BlockInstance]] = {}
    for instance in instances:
        if instance.nodes:
            starting.setdefault(instance.nodes[0], []).append(instance)
    found = {}
    for instance in instances:
        within = [other for name in instance.nodes for other in starting.get(name, ())
                  if other is not instance and len(other.nodes) < len(instance.nodes)]
        covered = {name for other in within for name in other.nodes[1:]}
        found[instance.name] = [other for other in within if other.nodes[0] not in covered
                                and not any(other is not o and set(other.nodes) < set(o.nodes) for o in within
                                            if o.nodes[0] == other.nodes[0])]
    return found


def _fits_a_function(instance: BlockInstance, block: BlockDef, graph: Graph, nodes: dict, position: dict,
                     users: dict, rejected: set, direct: list[BlockInstance]) -> bool:
    """Whether one instance can be a call of its block's function: its nodes plain layers (or calls of blocks inside
    it that fit), consecutive, fed by tensors made before them, and used outside only through its outputs."""
    if not instance.nodes or any(ref is None for ref in instance.sources) or not instance.outputs:
        return False
    if any(ref.index is not None for ref in (*instance.sources, *instance.outputs)):
        return False  # `lstm[1]` in or out: written out, where the index reads plainly
    if len(set(instance.sources)) != len(instance.sources):
        return False  # one tensor for two inputs: the function could not tell them apart
    if any(i.block in rejected for i in direct):
        return False
    own = [name for name in instance.nodes if not any(name in i.nodes for i in direct)]
    if len(own) + len(direct) != len(block.items):
        return False
    first = position[instance.nodes[0]]
    if [position[name] for name in instance.nodes] != list(range(first, first + len(instance.nodes))):
        return False
    if any(position.get(ref.name, first) >= first for ref in instance.sources):
        return False  # an input made after the block starts: the call would come too early
    layers = [nodes[name] for name in own]
    if any(node.kind not in (LAYER, OPS) for node in layers):
        return False
    if graph.sequential and (direct or len(block.inputs) != 1 or block.outputs):
        return False  # a Sequential model's function returns a list of layers
    outputs = {ref.name for ref in instance.outputs}
    inside = set(instance.nodes)
    return not any(users.get(name, set()) - inside for name in instance.nodes if name not in outputs) \
        and not any(isinstance(v, dict) for v in instance.values.values())


def constant_args(block: BlockDef, index: int, node: LayerNode) -> dict[str, Any]:
    """A block layer's arguments as the function writes them: parameters by name, the rest as described."""
    bound = block.items[index].bound
    return {key: (Parameter(bound[key]) if key in bound else value) for key, value in node.kwargs.items()}


def passed_value(block: BlockDef, instance: BlockInstance, param: str) -> Any:
    """The value an instance passes for a parameter: its own where the block uses it whole, else the default."""
    used = any(param in parameters_in(value) for item in block.items for value in item.bound.values())
    return instance.values[param] if used else block.defaults[param]


def parameters_in(bound: str) -> set[str]:
    """The parameters a bound value reads: itself (`filters`), or those in its arithmetic (`filters * 4`)."""
    return {node.id for node in ast.walk(ast.parse(bound, mode="eval")) if isinstance(node, ast.Name)}


class Parameter(str):
    """A block function's parameter, used as an argument value."""


def function_name(block: str) -> str:
    """residual -> residual_block (never one of the script's own names); dense_block stays dense_block."""
    base = re.sub(r"\W", "_", block, flags=re.ASCII)
    return base if base.endswith("block") else f"{base}_block"


def input_names(function: BlockDef) -> list[str]:
    """The function's tensor parameters: the block's input names (`input`, the default, is `x`)."""
    return ["x" if name == "input" else identifier(name, set()) for name in function.inputs]


def function_source(function: BlockDef, instance: BlockInstance, sequential: bool, nodes: list[LayerNode],
                    plan: Plan | None = None) -> str:
    """The block's function, written from one of its instances (every instance has the same shape).

    A functional model's takes one parameter per block input and returns the block's outputs; blocks inside it
    are calls of their own functions. A Sequential model's returns the list of its layers.
    """
    prefix = len(instance.name) + 1
    tensors = [] if sequential else input_names(function)
    head = f"def {function_name(function.name)}({', '.join([*tensors, 'name', *function.params])}):"
    doc = literal(f"The spec's block {function.name}: one copy, its layers named NAME_<layer>.")
    lines = [head, INDENT + doc]
    taken = {*tensors, "name", *function.params}
    local: dict[str, str] = {}  # node name -> its variable
    given = dict(zip(instance.sources, tensors))  # what the instance passes -> the parameter it is

    def tensor(ref) -> str:
        if ref.name in local:
            return local[ref.name] + (f"[{ref.index}]" if ref.index is not None else "")
        return given[ref]

    inner = {i.nodes[0]: i for i in (plan.inner_instances(instance) if plan else [])}
    skip = {name for i in inner.values() for name in i.nodes}
    constructors, item = [], 0
    for node in nodes:
        if node.name in inner:
            nested = inner[node.name]
            lines.extend(_nested_call(plan.function(nested), nested, function.items[item].bound, prefix, tensor, local, taken))
            item += 1
            continue
        if node.name in skip:
            continue
        if node.kind == OPS:  # an expression: keras.ops code on the function's tensors
            variable = identifier(node.name[prefix:], taken)
            code = expression_source(node.expression, [tensor(Ref(ref.name)) for ref in node.inputs], INDENT,
                                     len(INDENT) + len(variable) + 3)
            lines.extend((INDENT + f"{variable} = {code}").splitlines())
            local[node.name] = variable
            item += 1
            continue
        kwargs = {key: Raw(value) if isinstance(value, Parameter) else value
                  for key, value in constant_args(function, item, node).items()}
        item += 1
        kwargs["name"] = Raw(f"name + {literal('_' + node.name[prefix:])}")
        indent = INDENT * 2
        arguments = [f"{key}={source(value, indent + INDENT, len(key) + 2)}" for key, value in kwargs.items()]
        if sequential:
            constructors.append(wrapped(f"{node.keras_path}(", arguments, ")", indent))
            continue
        refs = [tensor(ref) for ref in node.inputs]
        if node.input_names:
            refs = [f"{key}={ref}" for key, ref in zip(node.input_names, refs)]
        call_args = f"[{', '.join(refs)}]" if node.takes_list and not node.input_names else ", ".join(refs)
        call_args = ", ".join(filter(None, [call_args, *call_arguments(node, tensor)]))
        variable = identifier(node.name[prefix:], taken)
        room = len(INDENT) + len(variable) + 3 + len(call_args) + 2
        constructor = wrapped(f"{node.keras_path}(", arguments, ")", INDENT, room)
        lines.extend((INDENT + f"{variable} = {constructor}({call_args})").splitlines())
        local[node.name] = variable
    if sequential:
        lines.extend((INDENT + "return " + wrapped("[", constructors, "]", INDENT, 7)).splitlines())
    else:
        lines.append(INDENT + "return " + ", ".join(tensor(ref) for ref in instance.outputs))
    return "\n".join(lines)


def call_arguments(node: LayerNode, tensor) -> list[str]:
    """call()'s keyword arguments as `key=value`: tensors as `tensor(ref)` writes them (a list for several),
    constants as literals."""
    written = []
    for key, value in node.call.items():
        if isinstance(value, Ref):
            text = tensor(value)
        elif isinstance(value, tuple):
            text = "[" + ", ".join(tensor(ref) for ref in value) + "]"
        else:
            text = literal(value)
        written.append(f"{key}={text}")
    return written


def _nested_call(function: BlockDef, nested: BlockInstance, bound: dict, prefix: int, tensor, local: dict,
                 taken: set) -> list[str]:
    """Inside a block's function, the call of a block inside it: its values, or the outer function's parameters."""
    arguments = [tensor(ref) for ref in nested.sources] + [f"name + {literal('_' + nested.name[prefix:])}"]
    arguments += [f"{param}={bound[param] if param in bound else literal(passed_value(function, nested, param))}"
                  for param in function.params]
    variables = []
    for ref in nested.outputs:
        local[ref.name] = identifier(ref.name[prefix:], taken)
        variables.append(local[ref.name])
    target = ", ".join(variables)
    call = wrapped(f"{function_name(function.name)}(", arguments, ")", INDENT, len(INDENT) + len(target) + 3)
    return (INDENT + f"{target} = {call}").splitlines()


def call_source(function: BlockDef, instance: BlockInstance, tensors: list[str] | None, room: int = 0) -> str:
    """The call of the block's function for one instance: its input tensors (none in a Sequential model) first."""
    arguments = list(tensors or []) + [literal(instance.name)]
    arguments += [f"{param}={literal(passed_value(function, instance, param))}" for param in function.params]
    return wrapped(f"{function_name(function.name)}(", arguments, ")", INDENT, room)
