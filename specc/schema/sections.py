"""The sections of a spec (model, compile, train with its distribution) and the whole document."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from specc.schema.base import (REQUIRED, Callback, LayerItem, Loss, Metric, Name, Number, Optimizer, PositiveInt, Reference, Section,
                               Since, exactly_the_integer)
from specc.schema.data import DataSection


class InputSpec(Section):
    """A model input, as `keras.Input` takes it."""

    shape: list[Union[PositiveInt, None]] = Field(description="Shape without the batch dimension, e.g. [32, 32, 3].")
    dtype: StrictStr = Field("float32", description="Input dtype, e.g. float32, int32.")
    sparse: StrictBool = Field(False, description="Whether the input is a sparse tensor.")
    ragged: StrictBool = Field(False, description="Whether the input is a ragged tensor.")
    batch_size: Union[PositiveInt, None] = Field(None, description="A fixed batch size; default: any.")


class Block(Section):
    """A named, parameterized sub-graph, instantiated like a layer."""

    params: dict[Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Any] = Field(
        default_factory=dict,
        description=f"Parameters with their defaults, used as ${{name}} in the block; {REQUIRED!r} marks one without a default.",
    )
    layers: list[LayerItem] = Field(min_length=1, description="The block's layers; `input` names the block's input.")
    inputs: Annotated[Union[list[Name], None], Since(2)] = Field(
        None, min_length=1, description="The names its layers call the block's inputs, in the order an instance gives "
                                        "them; default: one, `input`.")
    outputs: Annotated[Union[Reference, list[Reference], None], Since(2)] = Field(
        None, description="The layer(s) whose output(s) the block gives (`name[i]` for one output of a layer); "
                          "default: its last layer.")
    model: Annotated[Union[StrictBool, None], Since(2)] = Field(
        None, description="true: each instance is one Keras model of the block's layers (one layer in the summary, "
                          "applied again with Shared, same weights); default: the layers join the model.")


Identifier = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class ModelSection(Section):
    model_class: Annotated[Union[StrictStr, None], Since(2)] = Field(
        None, alias="class",
        description="A keras.Model subclass of the project's own, by the name Keras registers it under (mypkg>VAE, "
                    "from a declared plugin): made with the graph's inputs and outputs, or with `parts`.")
    parts: Annotated[Union[dict[Identifier, Name], None], Since(2)] = Field(
        None, description="The class's constructor arguments that are sub-models: {argument: a `model: true` block "
                          "instance among the layers}. The class is then made of these, not of the graph's inputs and outputs.")
    arguments: Annotated[Union[dict[Identifier, Any], None], Since(2)] = Field(
        None, description="The class's other constructor arguments.")
    weights: Annotated[Union[StrictStr, None], Since(2)] = Field(
        None, min_length=1, description="A Keras weights file (.weights.h5, relative to the spec) loaded into the model "
                                        "once it is built, before training: what `specc import --weights` writes.")
    functional: Annotated[Union[StrictBool, None], Since(2)] = Field(
        None, description="true: a functional keras.Model even when the layers are one chain (which is otherwise a "
                          "keras.Sequential), as `specc import` writes a functional model that is a chain.")
    inputs: Union[dict[Name, InputSpec], None] = Field(
        None, description="Named inputs. Omit for a plain chain whose first layer gives `input_shape`."
    )
    blocks: dict[Name, Block] = Field(default_factory=dict, description="Reusable sub-graphs.")
    layers: list[LayerItem] = Field(min_length=1, description="The layers, in order: each a Keras layer {Class: {arguments}}, "
                                    "a block instance, Input or Shared; each takes the previous item unless it names `inputs`.")
    outputs: Union[Reference, list[Reference], None] = Field(
        None, description="Output layer names (`lstm[1]`: one output of a multi-output layer); default: the last layer.")


class CompileSection(Section):
    """Arguments of `keras.Model.compile`."""

    optimizer: Optimizer = Field("rmsprop", description="The optimizer: an identifier (adam) or {Class: {arguments}}.")
    loss: Union[Loss, dict[Name, Loss], list[Loss], None] = Field(
        None, description="The loss: one for the model, or a mapping {output name: loss} (or a list) for several outputs.")
    loss_weights: Union[dict[Name, Number], list[Number], None] = Field(
        None, description="Weights of the outputs' losses in the total loss, by output name (or in output order).")
    metrics: Union[list[Metric], dict[Name, Union[Metric, list[Metric]]], None] = Field(
        None, description="Metrics to report: a list, or a mapping {output name: metric(s)}.")
    weighted_metrics: Union[list[Metric], dict[Name, Union[Metric, list[Metric]]], None] = Field(
        None, description="Metrics weighted by the sample weights (or class_weight).")
    run_eagerly: StrictBool = Field(False, description="Run the model eagerly, not as a compiled graph: slow, for debugging.")
    steps_per_execution: PositiveInt = Field(1, description="Batches run in each compiled call.")
    jit_compile: Union[StrictBool, Literal["auto"]] = Field("auto", description="Compile with XLA; auto: where the backend can.")
    auto_scale_loss: StrictBool = Field(True, description="Scale the loss under mixed precision, so float16 gradients do not underflow.")


# -- train.distribution: a tf.distribute strategy (run by specc.run.distribute) ---------------

DEVICE_PATTERN = r"^/?(job:[A-Za-z0-9_]+/)?(replica:\d+/)?(task:\d+/)?(device:)?(CPU|GPU|TPU|cpu|gpu|tpu):\d+$"


MAX_DEVICE_INDEX = 1023  # /cpu:N splits the CPU into N + 1 logical devices: far past any machine, TensorFlow overflows


def _device_name(value: str) -> str:
    if not re.match(DEVICE_PATTERN, value):
        raise PydanticCustomError("specc_device", f"expected a TensorFlow device name, like /gpu:0 or /cpu:1; received {value!r}")
    if int(value.rpartition(":")[2]) > MAX_DEVICE_INDEX:
        raise PydanticCustomError("specc_device", f"expected a device index of at most {MAX_DEVICE_INDEX}; received {value!r}")
    return value


DEVICE = Annotated[StrictStr, AfterValidator(_device_name),
                   Field(description="A TensorFlow device name, like /gpu:0 or /cpu:0.", json_schema_extra={"pattern": DEVICE_PATTERN})]
ScaleLearningRate = Union[Literal["linear"], None]
SCALE_DESCRIPTION = ("linear: multiply the optimizer's learning rate by the number of replicas (the global batch "
                     "grows with them); default: leave it as the spec gives it.")


class OneDevice(Section):
    """tf.distribute.OneDeviceStrategy: everything on one device."""

    strategy: Literal["one_device"] = Field(description="The tf.distribute strategy.")
    device: Union[DEVICE, None] = Field(None, description="Default: /gpu:0 when there is a GPU, else /cpu:0.")
    scale_learning_rate: ScaleLearningRate = Field(None, description=SCALE_DESCRIPTION)


class Mirrored(Section):
    """tf.distribute.MirroredStrategy: one replica per device of this machine, gradients all-reduced."""

    strategy: Literal["mirrored"] = Field(description="The tf.distribute strategy.")
    devices: Union[Annotated[list[DEVICE], Field(min_length=1)], None] = Field(
        None, description="Default: every GPU, else the CPU. CPU devices beyond the machine's one (/cpu:1, ...) "
        "split the CPU into logical devices, to try the strategy without GPUs.")
    cross_device_ops: Union[Literal["nccl", "hierarchical_copy", "reduction_to_one_device"], None] = Field(
        None, description="How gradients are all-reduced; default: TensorFlow's choice for the devices.")
    scale_learning_rate: ScaleLearningRate = Field(None, description=SCALE_DESCRIPTION)


class MultiWorkerMirrored(Section):
    """tf.distribute.MultiWorkerMirroredStrategy: the workers of TF_CONFIG's cluster, each with its devices."""

    strategy: Literal["multi_worker_mirrored"] = Field(description="The tf.distribute strategy.")
    communication: Literal["auto", "ring", "nccl"] = Field(
        "auto", description="The collective implementation (tf.distribute.experimental.CommunicationImplementation).")
    scale_learning_rate: ScaleLearningRate = Field(None, description=SCALE_DESCRIPTION)


def _no_parameter_server(value: Any) -> Any:
    raise PydanticCustomError(
        "specc_parameter_server", "parameter_server cannot train with Keras 3: its Model.fit has no support for "
        "tf.distribute's ClusterCoordinator, which ParameterServerStrategy needs. Use multi_worker_mirrored "
        "(synchronous data parallelism over the same TF_CONFIG cluster)")


class ParameterServer(Section):
    """tf.distribute.ParameterServerStrategy: named so that specc can say why it cannot run it."""

    model_config = ConfigDict(extra="allow", strict=True)
    strategy: Annotated[Literal["parameter_server"], AfterValidator(_no_parameter_server)] = Field(
        description="The tf.distribute strategy (refused: see the error).")


def _strategy_shorthand(value: Any) -> Any:
    """`distribution: mirrored` is `distribution: {strategy: mirrored}`."""
    return {"strategy": value} if isinstance(value, str) else value


Distribution = Annotated[Union[OneDevice, Mirrored, MultiWorkerMirrored, ParameterServer], Field(discriminator="strategy"),
                         BeforeValidator(_strategy_shorthand)]


# -- train.phases: training in stages, as Keras's transfer-learning guide does (run by specc.run.phases) ----------


class TopLayers(Section):
    """The last `top` layers of a nested model (a keras.applications model, a `model: true` block instance)."""

    layer: Name = Field(description="The nested model: an application's or sub-model's name in the spec.")
    top: PositiveInt = Field(description="How many of its last layers.")


FreezeTarget = Union[Name, TopLayers]
TARGETS = "layer names, block instances, applications and sub-models, or {layer: NAME, top: N} for the last N layers of one"


class Phase(Section):
    """One stage of training: its epochs, and what changes when it starts."""

    name: Union[Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=100)], None] = Field(
        None, description="Names the phase in the history and the logs; default: phase-1, phase-2, ...")
    epochs: PositiveInt = Field(description="Epochs of this phase; they count on from the phase before.")
    freeze: list[FreezeTarget] = Field(default_factory=list, description=f"Made non-trainable when the phase starts: {TARGETS}.")
    unfreeze: list[FreezeTarget] = Field(
        default_factory=list, description=f"Made trainable when the phase starts, after `freeze`: {TARGETS} (the rest of "
                                          "that model frozen, as Keras's fine-tuning guide does).")
    compile: Union[CompileSection, None] = Field(
        None, description="Recompile with these compile arguments, each replacing the one before (a new optimizer "
                          "starts afresh); a later phase that freezes or unfreezes recompiles with what holds then.")
    callbacks: list[Callback] = Field(default_factory=list, description="Callbacks for this phase, beside train.callbacks.")


def _phase_names(phases: list[Phase]) -> list[Phase]:
    names = [phase.name or f"phase-{i + 1}" for i, phase in enumerate(phases)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PydanticCustomError("specc_phase_names", f"each phase needs a name of its own; {', '.join(repeated)} "
                                  "names more than one")
    return phases


class TrainSection(Section):
    """Arguments of `keras.Model.fit` (validation data comes from `data.split.validation`), and mixed precision."""

    epochs: PositiveInt = Field(1, description="How many times to iterate over the training data; with phases, each gives its own.")
    batch_size: PositiveInt = Field(32, description="Samples per gradient update.")
    shuffle: StrictBool = Field(True, description="Shuffle the training data before each epoch.")
    validation_freq: PositiveInt = Field(1, description="Validate every this many epochs.")
    class_weight: Union[dict[StrictInt, Number], None] = Field(
        None, description="A weight per class index, {0: 1.0, 1: 5.0}, scaling the loss of its samples.")
    steps_per_epoch: Union[PositiveInt, None] = Field(None, description="Batches per epoch; default: the whole training set.")
    verbose: Union[Literal["auto", 0, 1, 2]] = Field("auto", description="Progress output: 0 silent, 1 progress bar, 2 one line per epoch.")
    callbacks: list[Callback] = Field(default_factory=list, description="Keras callbacks, each an identifier or {Class: {arguments}}.")
    mixed_precision: StrictBool = Field(
        False, description="Train with the mixed_float16 policy (float16 compute, float32 weights): fast on GPUs, slow on CPUs.")
    distribution: Annotated[Union[Distribution, None], Since(2)] = Field(
        None, description="Train with a tf.distribute strategy; batch_size is then the global batch, split across replicas.")
    phases: Annotated[Union[Annotated[list[Phase], Field(min_length=1), AfterValidator(_phase_names)], None], Since(2)] = Field(
        None, description="Train in stages, one after the other (freeze, unfreeze, recompile), epochs counting on: "
                          "in place of `epochs`.")

    @model_validator(mode="after")
    def _epochs_or_phases(self) -> "TrainSection":
        if self.phases is not None and "epochs" in self.model_fields_set:
            raise PydanticCustomError("specc_epochs_and_phases", "give epochs or phases, not both: with phases, each "
                                      "phase gives its own epochs")
        return self


class SpecDocument(Section):
    """A specc spec: one model, how to compile it, and how to train it."""

    specc: Annotated[Literal[1], BeforeValidator(exactly_the_integer)] = Field(
        description="Format version of the spec language.")
    name: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=200)] = Field(
        description="The spec's name: letters, digits, _ and -; names its run folder.")
    description: StrictStr = Field("", description="What the spec is for, in a sentence.")
    seed: Union[Annotated[StrictInt, Field(ge=0, lt=2**32)], None] = Field(
        None, description="Seeds Python, NumPy and the backend, and the data split, for runs that repeat.")
    extends: Union[StrictStr, None] = Field(None, description="A spec this one deep-merges over (path relative to this file).")
    params: dict[Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Any] = Field(
        default_factory=dict, description="Values usable anywhere as ${params.NAME}."
    )
    model: ModelSection = Field(description="The model: its inputs, blocks, layers and outputs.")
    compile: Union[CompileSection, None] = Field(None, description="How to compile the model: keras.Model.compile's arguments.")
    train: Union[TrainSection, None] = Field(None, description="How to train the model: keras.Model.fit's arguments.")
    data: Union[DataSection, None] = Field(None, description="The training data: a source, transforms and a split.")
