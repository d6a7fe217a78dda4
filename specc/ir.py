"""The intermediate representation: one frozen description of everything a spec says.

Lowering (`specc.lower`) is the only code that interprets spec values. It
turns a validated spec into these objects: `extends` merged, `${...}`
resolved, blocks expanded into uniquely named layers (with a record of each
instance and its parameter bindings), references resolved, nodes in
topological order, Keras objects described as neutral `Call`s, and every
relative path made absolute from the file that wrote it. The backends (the
Keras builder and the runs around it, the code generator) read only this,
never the YAML or the pydantic document, so they cannot disagree about what
a spec means.

Nodes are frozen dataclasses; the mappings inside them are never changed
after lowering. `dump(spec)` prints the IR as readable text (the valid test
cases compare it like golden files).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

IMPLICIT_INPUT = "input"  # the input a plain chain gets from `input_shape` on its first layer


# -- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A Keras constructor call: `path(**kwargs)`, the kwargs' values described in turn.

    `path` is a public Keras path from the catalog (`keras.regularizers.L2`), never spec text.
    """

    path: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class File:
    """A file or folder a spec names: `path` is absolute, made so from the folder of the file that wrote it."""

    path: str
    written: str  # as the spec wrote it, for messages

    @property
    def relative(self) -> bool:
        """Whether the spec wrote it relative (a generated script then finds it from its own folder)."""
        return not os.path.isabs(os.path.expanduser(self.written))

    def __str__(self) -> str:
        return self.path


# -- the model graph ---------------------------------------------------------------------


class Ref(NamedTuple):
    """A reference to a node's output: `encoder`, or `lstm[1]` for one output of a multi-output layer."""

    name: str
    index: int | None = None

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"


@dataclass(frozen=True)
class InputNode:
    """A model input: the arguments of `keras.Input`."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    sparse: bool = False
    ragged: bool = False
    batch_size: int | None = None
    path: tuple = ()  # where the spec declares it


LAYER, APPLICATION, SHARED, OPS, MODEL = "layer", "application", "shared", "ops", "model"  # the kinds of LayerNode, which backends dispatch on


# -- tensor expressions (an `ops` item: specc.lower.expressions) -------------------------


@dataclass(frozen=True)
class Tensor:
    """The k-th input of the expression's node (`LayerNode.inputs[k]`): a layer's or input's output."""

    index: int


@dataclass(frozen=True)
class Constant:
    value: Any  # int, float, str, bool, None or Ellipsis


@dataclass(frozen=True)
class Sequence:
    items: tuple
    list: bool = False  # a list, else a tuple


@dataclass(frozen=True)
class SliceExpr:
    lower: Any = None
    upper: Any = None
    step: Any = None


@dataclass(frozen=True)
class Operator:
    """A Python operator applied to one or two operands: "+", "-", "*", "/", "//", "%", "**", "@", "~", "<", "==", ..."""

    op: str
    operands: tuple


@dataclass(frozen=True)
class Subscript:
    value: Any
    index: Any  # an expression, a SliceExpr, or a Sequence of them (x[:, 0])


@dataclass(frozen=True)
class OpCall:
    """`keras.ops.<function>(*args, **kwargs)`; the function is in the catalog's `ops`."""

    function: str
    args: tuple
    kwargs: tuple  # ((name, expression), ...), in the order written


Expression = Tensor | Constant | Sequence | SliceExpr | Operator | Subscript | OpCall


def expression_text(node: Any) -> str:
    """An expression on one line, fully parenthesized, `Tensor(k)` as `$k`: how `dump` shows it."""
    if isinstance(node, Tensor):
        return f"${node.index}"
    if isinstance(node, Constant):
        return "..." if node.value is Ellipsis else repr(node.value)
    if isinstance(node, Sequence):
        items = ", ".join(expression_text(item) for item in node.items)
        return f"[{items}]" if node.list else f"({items}{',' if len(node.items) == 1 else ''})"
    if isinstance(node, SliceExpr):
        return ":".join("" if part is None else expression_text(part) for part in (node.lower, node.upper, node.step))
    if isinstance(node, Operator):
        operands = [expression_text(item) for item in node.operands]
        return f"({node.op}{operands[0]})" if len(operands) == 1 else f"({operands[0]} {node.op} {operands[1]})"
    if isinstance(node, Subscript):
        return f"{expression_text(node.value)}[{expression_text(node.index)}]"
    if isinstance(node, OpCall):
        arguments = [expression_text(arg) for arg in node.args] + [f"{k}={expression_text(v)}" for k, v in node.kwargs]
        return f"{node.function}({', '.join(arguments)})"
    return repr(node)


@dataclass(frozen=True)
class LayerNode:
    """One Keras layer (or `keras.applications` model) applied to its inputs, or a layer applied again.

    `kind` is `layer`, `application` (a keras.applications function: its
    `trainable` is set on the model it returns), `shared` (the layer of node
    `shares`, applied again with the same weights), `ops` (no layer: the
    `expression` of keras.ops calls applied to `inputs`) or `model` (a block
    instance made one `keras.Model` of the `submodel` graph, named `name`).
    `input_names`, when set, are the call parameters `inputs` are passed as
    (`query`, `value`); `call` holds call()'s other keyword arguments, each a
    constant, a `Ref` or a tuple of `Ref`s. `kwargs` are the
    constructor's keyword arguments, described: nested Keras objects as
    `Call`s or identifier strings, files as `File`s; `name` is always set, so
    models are reproducible and names never depend on Keras's global counters.
    """

    name: str
    type: str  # Keras class name, e.g. "Dense"
    kind: str  # LAYER, APPLICATION or SHARED
    keras_path: str  # the catalog path of the class, e.g. "keras.layers.Dense"
    kwargs: Mapping[str, Any]
    inputs: tuple[Ref, ...]
    takes_list: bool = False  # called as layer([a, b]) (Add, Concatenate) rather than layer(a, b)
    trainable: bool = True
    shape_from_input: bool = False  # an application without input_shape: built for the shape of its one input
    path: tuple = ()  # the spec item it came from
    block: str | None = None  # the block instance it belongs to, if any
    shares: str | None = None  # SHARED: the node whose layer is applied again
    input_names: tuple[str, ...] = ()  # inputs passed by name: layer(query=..., value=...)
    call: Mapping[str, Any] = field(default_factory=dict)  # call()'s keyword arguments: constants and Refs
    adapt: bool = False  # a preprocessing layer whose state `adapt()` learns from the training split of its input
    expression: Any = None  # OPS: the Expression
    submodel: Any = None  # MODEL: the Graph of a block made one keras.Model (its inputs' shapes: those it is applied to)

    def references(self) -> tuple[Ref, ...]:
        """Every Ref the node uses: its inputs, then those among its call arguments."""
        extra = []
        for value in self.call.values():
            extra.extend(value if isinstance(value, tuple) and not isinstance(value, Ref) else [value])
        return self.inputs + tuple(ref for ref in extra if isinstance(ref, Ref))


@dataclass(frozen=True)
class BlockItem:
    """One layer item of a block definition: which of its arguments are a parameter, whole."""

    type: str
    bound: Mapping[str, str]  # argument -> the block parameter it is, e.g. {"filters": "filters"}


@dataclass(frozen=True)
class BlockDef:
    """A block as defined: its parameters, and whether each use of them is a whole argument.

    `whole_arguments` is False when a parameter is part of a longer string or a
    nested value, or names a layer: a code generator cannot then pass it as a
    plain function argument.
    """

    name: str
    params: tuple[str, ...]
    defaults: Mapping[str, Any]
    items: tuple[BlockItem, ...]
    whole_arguments: bool
    inputs: tuple[str, ...] = ("input",)  # the names its layers call its inputs
    outputs: tuple[str, ...] = ()  # its declared outputs; none: its last layer


@dataclass(frozen=True)
class BlockInstance:
    """One copy of a block in the graph (each `repeat` copy is one): its bindings and its nodes."""

    name: str  # its layers are named NAME_<inner name>
    block: str
    values: Mapping[str, Any]  # parameter -> value: the instance's, else the default
    nodes: tuple[str, ...]  # its layer nodes' names, in the block's order
    sources: tuple[Ref | None, ...] = ()  # what it gives each of the block's inputs, in their order
    outputs: tuple[Ref, ...] = ()  # the outputs it gives, in the block's order


@dataclass(frozen=True)
class Graph:
    """A model: inputs, layers in topological order, output names (Keras's: the layers'), and the block instances among the layers."""

    inputs: tuple[InputNode, ...]
    layers: tuple[LayerNode, ...]
    outputs: tuple[str, ...]
    sequential: bool = False  # a plain chain: build it as keras.Sequential
    blocks: tuple[BlockDef, ...] = ()
    instances: tuple[BlockInstance, ...] = ()
    output_refs: tuple[Ref, ...] = ()  # set when an output has an index: `lstm[1]`, one output of lstm (named lstm by Keras)

    @property
    def output_references(self) -> tuple[Ref, ...]:
        """The outputs as references, with their indices."""
        return self.output_refs or tuple(Ref(name) for name in self.outputs)


# -- compile and fit ---------------------------------------------------------------------


@dataclass(frozen=True)
class Compile:
    """The arguments of `Model.compile`, described. loss and metrics: one value, a list, or {output: ...}."""

    optimizer: Call
    loss: Any = None
    loss_weights: Any = None
    metrics: Any = None
    weighted_metrics: Any = None
    run_eagerly: bool = False
    steps_per_execution: int | None = None  # None: not in the spec, chosen when training (specc.speed)
    jit_compile: bool | str = "auto"
    auto_scale_loss: bool = True
    loss_names: Mapping[str, str | None] = field(default_factory=dict)  # output -> its loss, lower-case, for checks


@dataclass(frozen=True)
class Callback:
    """One of `train.callbacks`. `file_argument` names the argument holding a file or folder
    (ModelCheckpoint's filepath, ...); `file` is its value, or Keras's default, as written:
    a relative one lives in the run folder (or the generated script's `out`)."""

    type: str
    call: Call
    path: tuple
    file_argument: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class Trainable:
    """One change of a phase: Keras layers made trainable or not.

    `layers` are the model's layers by name (`model.get_layer`): one for a layer, an
    application or a sub-model, a block instance's own layers for an instance. With
    `top`, the change is to the last `top` layers of that one nested model; unfreezing
    them makes the model trainable and the layers before them not, as Keras's
    fine-tuning guide does.
    """

    target: str  # the name the spec wrote
    layers: tuple[str, ...]
    trainable: bool
    top: int | None = None
    path: tuple = ()


@dataclass(frozen=True)
class Phase:
    """One stage of `train.phases`: epochs start..start+epochs-1 unless a callback stops it early
    (the next phase then starts at the epoch after the last one run).

    `changes` apply when it starts, freezes first; `compile` is what the model is then compiled with
    (None: it trains on, with the optimizer's state, as compiled before); `callbacks` are the phase's
    own, beside `Fit.callbacks`.
    """

    name: str
    epochs: int
    changes: tuple[Trainable, ...] = ()
    compile: Compile | None = None
    callbacks: tuple[Callback, ...] = ()
    path: tuple = ()


@dataclass(frozen=True)
class Fit:
    """The arguments of `Model.fit` (the `train:` section; defaults when the spec has none), and mixed precision."""

    epochs: int = 1
    batch_size: int = 32
    shuffle: bool = True
    validation_freq: int = 1
    class_weight: Mapping[int, float] | None = None
    steps_per_epoch: int | None = None
    verbose: int | str = "auto"
    mixed_precision: bool = False
    callbacks: tuple[Callback, ...] = ()
    phases: tuple[Phase, ...] = ()  # train.phases, in order (`epochs`: their sum); none: one fit of `epochs`


# -- data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinSource:
    name: str
    kind: str = "builtin"


@dataclass(frozen=True)
class KerasSource:
    name: str  # one of specc.schema.data.KERAS_DATASETS
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # load_data's keyword arguments
    kind: str = "keras"


@dataclass(frozen=True)
class NpzSource:
    file: File
    x: str | Mapping[str, str]  # an array name, or {model input: array name}
    y: str | Mapping[str, str]
    x_test: str | Mapping[str, str] | None = None  # the file's own test set, like x and y
    y_test: str | Mapping[str, str] | None = None
    kind: str = "npz"


@dataclass(frozen=True)
class CsvSource:
    file: File
    label: str
    kind: str = "csv"
    text: tuple[str, ...] = ()  # text columns: each the string feature of the model input of its name
    stream: bool = False  # read line by line while training (specc.data.csv_stream)


@dataclass(frozen=True)
class ImagesSource:
    file: File
    image_size: tuple[int, int]
    color_mode: str
    kind: str = "images"
    stream: bool = False  # read lazily, batch by batch (specc.data.stream)

    @property
    def channels(self) -> int:
        return {"grayscale": 1, "rgb": 3, "rgba": 4}[self.color_mode]


@dataclass(frozen=True)
class TFRecordSource:
    files: File  # the glob, its folder made absolute
    features: Mapping[str, tuple[tuple[int, ...], str]]  # feature -> (shape, dtype)
    x: str | Mapping[str, str]
    y: str | Mapping[str, str]
    compression: str = ""
    kind: str = "tfrecord"


@dataclass(frozen=True)
class Pad:
    """pad's argument: keras.utils.pad_sequences's."""

    length: int
    value: int = 0
    padding: str = "pre"
    truncating: str = "pre"


@dataclass(frozen=True)
class Transform:
    kind: str  # rescale, reshape, cast, one_hot, pad
    argument: Any


@dataclass(frozen=True)
class Transforms:
    """The transforms of one model input or output, and where the spec lists them."""

    items: tuple[Transform, ...]
    path: tuple


@dataclass(frozen=True)
class Data:
    """The `data:` section: a source, transforms per model input (features) and output (labels), a split."""

    source: Any  # BuiltinSource | KerasSource | NpzSource | CsvSource | ImagesSource
    features: Mapping[str, Transforms]
    labels: Mapping[str, Transforms]
    validation: float = 0.0
    test: float = 0.0
    shuffle_buffer: int | None = None
    validation_source: Any = None  # data.validation: a source of its own, instead of a fraction carved
    test_source: Any = None  # data.test, likewise
    inputs: tuple[str, ...] = ()  # the model's input names (IMPLICIT_INPUT for a plain chain)
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Distribution:
    """`train.distribution`: a tf.distribute strategy, with tf.distribute's own names for what the spec chose."""

    strategy: str  # one_device, mirrored, multi_worker_mirrored
    strategy_class: str  # tf.distribute's class: OneDeviceStrategy, MirroredStrategy, MultiWorkerMirroredStrategy
    device: str | None = None  # one_device
    devices: tuple[str, ...] | None = None  # mirrored
    cross_device_ops: str | None = None  # mirrored: a tf.distribute class, e.g. NcclAllReduce
    communication: str = "AUTO"  # multi_worker_mirrored: a tf.distribute.experimental.CommunicationImplementation member
    scale_learning_rate: str | None = None
    logical_cpus: int = 1  # the CPU devices the named devices need: /cpu:3 needs 4 (the CPU is split into them)

    @property
    def multi_worker(self) -> bool:
        return self.strategy == "multi_worker_mirrored"


@dataclass(frozen=True)
class ModelClass:
    """`model.class`: the project's own keras.Model subclass, at `path` (a declared plugin's, from the catalog).

    Without `parts` it is made as Keras makes a Functional subclass, of the graph's inputs and
    outputs; with them, of the graph's sub-models ({constructor argument: a MODEL node's name}),
    and `kwargs`, then called once on the graph's inputs so that it is built.
    """

    registered: str  # the name Keras registers it under, as the spec writes it: mypkg>VAE
    path: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    parts: Mapping[str, str] = field(default_factory=dict)


# -- the whole spec ----------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A validated, lowered spec: what `specc.load` returns and the backends consume.

    `canonical` is the fully resolved spec as plain data in its canonical form
    (`specc.lower.canonical`), and `sha256` its content hash: what names the
    spec in run folders and generated scripts.
    """

    path: str
    name: str
    description: str
    seed: int | None
    graph: Graph
    compile: Compile | None = None
    fit: Fit = field(default_factory=Fit)
    model_class: ModelClass | None = None  # model.class: the graph made into the project's keras.Model subclass
    weights: File | None = None  # model.weights: loaded into the built model
    data: Data | None = None
    distribution: Distribution | None = None
    canonical: Mapping[str, Any] = field(default_factory=dict)
    sha256: str = ""
    files: tuple[str, ...] = ()
    positions: Any = None  # specc.source.SourceMap: locates errors found later (shapes at build time)

    def location(self, path: tuple):
        """Where the value at `path` was written (None without positions)."""
        return self.positions.value(path) if self.positions is not None else None


def dump(spec: Spec) -> str:
    """The IR as indented text, one field per line: what a valid test case states it lowers to."""
    lines: list[str] = []
    skip = {"positions", "canonical", "sha256", "files", "path"}
    for item in dataclasses.fields(spec):
        value = getattr(spec, item.name)
        if item.name not in skip and value is not None and value != "":
            _dump(item.name, value, "", lines)
    return "\n".join(lines) + "\n"


def _dump(key: str, value: Any, indent: str, lines: list[str]) -> None:
    label = f"{indent}{key}:" if key else f"{indent}-"
    if isinstance(value, (Tensor, Constant, Sequence, SliceExpr, Operator, Subscript, OpCall)):
        lines.append(f"{label} {expression_text(value)}")
    elif isinstance(value, File):
        lines.append(f"{label} File {value.written!r}")  # the absolute path depends on the machine
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        lines.append(f"{label} {type(value).__name__}")
        for item in dataclasses.fields(value):
            child = getattr(value, item.name)
            if item.name == "path" and isinstance(child, tuple) and not isinstance(value, Transforms):
                continue  # spec positions: noise in a dump
            if child is None or child == () or child == {} or child == _default(item):
                continue  # what a field holds unless said otherwise
            _dump(item.name, child, indent + "  ", lines)
    elif isinstance(value, Mapping) and value:
        lines.append(label)
        for k, v in value.items():
            _dump(str(k), v, indent + "  ", lines)
    elif isinstance(value, tuple) and value and not isinstance(value, Ref) and any(
            dataclasses.is_dataclass(v) or isinstance(v, Mapping) or (isinstance(v, (tuple, list)) and not isinstance(v, Ref))
            for v in value):
        lines.append(label)
        for v in value:
            _dump("", v, indent + "  ", lines)
    else:
        lines.append(f"{label} {_scalar(value)}")


def _default(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return dataclasses.MISSING


def _scalar(value: Any) -> str:
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return repr(value)
