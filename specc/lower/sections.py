"""The last lowering pass: every section of a checked spec as IR nodes, and the spec's canonical form.

The graph's arguments are described (`specc.lower.values`), compile's
optimizer, losses and metrics become `Call`s or identifiers keyed like
`Model.compile` takes them, callbacks record which argument holds a file,
data sources get absolute paths and their transforms are matched to the
model's inputs and outputs, and the distribution strategy is copied out.
Validation has passed by then: nothing here reports a problem.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from specc.catalog import Catalog
from specc.catalog.check import split_object
from specc.ir import (IMPLICIT_INPUT, OPS, SHARED, BuiltinSource, Callback, Compile, CsvSource, Data, Distribution, Fit,
                      Graph, ImagesSource, KerasSource, ModelClass, NpzSource, Pad, Phase, Spec, TFRecordSource, Trainable,
                      Transform, Transforms)
from specc.lower.canonical import canonical_form, content_hash
from specc.lower.paths import absolute
from specc.lower.values import describe, describe_args, describe_graph, describe_optimizer, describe_per_output
from specc.schema import CompileSection, DataSection, SpecDocument, TrainSection
from specc.schema.data import KerasDataset

# Callback arguments that name a file or folder, and Keras's own default where it has one (which would
# land in the working folder): a relative one lives in the run folder.
FILE_ARGUMENTS = {"ModelCheckpoint": "filepath", "CSVLogger": "filename", "TensorBoard": "log_dir",
                  "BackupAndRestore": "backup_dir"}
DEFAULT_FILES = {"TensorBoard": "logs"}


def lower_spec(source, document: SpecDocument, graph: Graph, catalog: Catalog) -> Spec:
    """The whole IR of a spec whose graph lowered and which validation passed: nothing here can fail."""
    positions = source.positions
    graph = describe_graph(graph, catalog, positions)
    model_class = _model_class(document.model, catalog)
    if model_class is not None:  # made of the graph's tensors or sub-models: never a keras.Sequential
        graph = dataclasses.replace(graph, sequential=False)
    inputs = tuple(node.name for node in graph.inputs) or (IMPLICIT_INPUT,)
    train = document.train
    canonical = canonical_form(document)
    return Spec(
        path=source.path, name=document.name, description=document.description, seed=document.seed, graph=graph,
        compile=lower_compile(document.compile, graph.outputs),
        fit=lower_fit(train or TrainSection(), document.compile, graph),
        data=lower_data(document.data, positions, inputs, graph.outputs) if document.data is not None else None,
        distribution=lower_distribution(train.distribution) if train is not None and train.distribution else None,
        canonical=canonical, sha256=content_hash(canonical), files=source.files, positions=positions,
        model_class=model_class,
        weights=absolute(document.model.weights, ("model", "weights"), positions) if document.model.weights else None)


def _model_class(model, catalog: Catalog) -> ModelClass | None:
    if model.model_class is None:
        return None
    cls = catalog["model"].classes[model.model_class]
    return ModelClass(model.model_class, cls.path, describe_args(cls, model.arguments or {}), dict(model.parts or {}))


# -- compile -----------------------------------------------------------------------------


def lower_compile(section: CompileSection | None, outputs: tuple[str, ...]) -> Compile | None:
    if section is None:
        return None
    return Compile(
        optimizer=describe_optimizer(section.optimizer),
        loss=describe_per_output(section.loss, "loss"),
        loss_weights=section.loss_weights,
        metrics=describe_per_output(section.metrics, "metric"),
        weighted_metrics=describe_per_output(section.weighted_metrics, "metric"),
        run_eagerly=section.run_eagerly,
        steps_per_execution=section.steps_per_execution if "steps_per_execution" in section.model_fields_set else None,
        jit_compile=section.jit_compile,
        auto_scale_loss=section.auto_scale_loss,
        loss_names={output: _loss_name(section.loss, output) for output in outputs},
    )


def _loss_name(loss: Any, output: str) -> str | None:
    """The loss of one output, as a lower-case identifier or class name (None when absent or unusual)."""
    if isinstance(loss, dict) and output in loss:
        loss = loss[output]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss))
    return loss.lower() if isinstance(loss, str) else None


# -- train -------------------------------------------------------------------------------


def lower_fit(section: TrainSection, compile_section: CompileSection | None = None, graph: Graph | None = None) -> Fit:
    phases = _phases(section.phases, compile_section, graph) if section.phases else ()
    return Fit(epochs=sum(phase.epochs for phase in phases) if phases else section.epochs, batch_size=section.batch_size,
               shuffle=section.shuffle, validation_freq=section.validation_freq, class_weight=section.class_weight,
               steps_per_epoch=section.steps_per_epoch, verbose=section.verbose,
               mixed_precision=section.mixed_precision,
               callbacks=tuple(_callback(value, ("train", "callbacks", i)) for i, value in enumerate(section.callbacks)),
               phases=phases)


def _phases(sections: list, compile_section: CompileSection | None, graph: Graph) -> tuple[Phase, ...]:
    """Each phase with its changes resolved to layer names, and the compile arguments that hold from it on."""
    holding = compile_section or CompileSection()
    phases = []
    for i, section in enumerate(sections):
        path = ("train", "phases", i)
        changes = tuple(_change(target, trainable, graph, path + (key, k))
                        for key, trainable in (("freeze", False), ("unfreeze", True))
                        for k, target in enumerate(getattr(section, key)))
        if section.compile is not None:  # each argument given replaces the one that held
            holding = holding.model_copy(update={key: getattr(section.compile, key) for key in section.compile.model_fields_set})
        recompile = section.compile is not None or (i > 0 and bool(changes))
        phases.append(Phase(section.name or f"phase-{i + 1}", section.epochs, changes,
                            lower_compile(holding, graph.outputs) if recompile else None,
                            tuple(_callback(value, path + ("callbacks", k)) for k, value in enumerate(section.callbacks)),
                            path))
    return tuple(phases)


def _change(target, trainable: bool, graph: Graph, path: tuple) -> Trainable:
    name, top = (target, None) if isinstance(target, str) else (target.layer, target.top)
    return Trainable(name, phase_layers(graph, name), trainable, top, path)


def phase_layers(graph: Graph, name: str) -> tuple[str, ...] | str:
    """The Keras layers (by name) that a phase's freeze or unfreeze `name` stands for, or why it stands for none:
    "unknown", "input" or "expression". A block instance: its layers with weights of their own, in order
    (a shared layer: the one it applies again)."""
    nodes = {node.name: node for node in graph.layers}
    instance = next((i for i in graph.instances if i.name == name), None)
    if name in nodes or instance is None:
        if any(node.name == name for node in graph.inputs):
            return "input"
        if name not in nodes:
            return "unknown"
        node = nodes[name]
        if node.kind == OPS:
            return "expression"
        return (node.shares if node.kind == SHARED else name,)
    layers = []
    for node_name in instance.nodes:
        node = nodes[node_name]
        owner = node.shares if node.kind == SHARED else node.name
        if node.kind != OPS and owner not in layers:
            layers.append(owner)
    return tuple(layers)


def _callback(value: Any, path: tuple) -> Callback:
    name, args = split_object(value)
    key = FILE_ARGUMENTS.get(name)
    given = (args or {}).get(key, DEFAULT_FILES.get(name)) if key else None
    return Callback(name, describe("callback", value), path, key if given is not None else None,
                    given if isinstance(given, str) else None)


# The spec's names for tf.distribute's classes and enum members: the strategy made by specc.run.distribute
# and the generated script's make_strategy() both take them from the IR, never from spec text.
STRATEGY_CLASSES = {"one_device": "OneDeviceStrategy", "mirrored": "MirroredStrategy",
                    "multi_worker_mirrored": "MultiWorkerMirroredStrategy"}
CROSS_DEVICE_OPS = {"nccl": "NcclAllReduce", "hierarchical_copy": "HierarchicalCopyAllReduce",
                    "reduction_to_one_device": "ReductionToOneDevice"}
COMMUNICATION = {"auto": "AUTO", "ring": "RING", "nccl": "NCCL"}
_CPU = re.compile(r"(?:^|/)(?:device:)?cpu:(\d+)$", re.IGNORECASE)


def lower_distribution(section) -> Distribution:
    device = getattr(section, "device", None)
    devices = getattr(section, "devices", None)
    named = [device] if device else list(devices or [])
    ops = getattr(section, "cross_device_ops", None)
    return Distribution(strategy=section.strategy, strategy_class=STRATEGY_CLASSES[section.strategy], device=device,
                        devices=tuple(devices) if devices else None,
                        cross_device_ops=CROSS_DEVICE_OPS[ops] if ops else None,
                        communication=COMMUNICATION[getattr(section, "communication", "auto")],
                        scale_learning_rate=section.scale_learning_rate, logical_cpus=logical_cpus(named))


def logical_cpus(devices: list[str]) -> int:
    """How many CPU devices the names need: /cpu:3 needs 4 (a machine has one until it is split)."""
    return max((int(m.group(1)) for m in map(_CPU.search, devices) if m), default=0) + 1


# -- data --------------------------------------------------------------------------------

DATA = ("data",)


def lower_data(section: DataSection, positions, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Data:
    return Data(
        source=_source(section.source, positions),
        features=_plan(section.features, inputs, "features"),
        labels=_plan(section.labels, outputs, "labels"),
        validation=section.split.validation, test=section.split.test, shuffle_buffer=section.shuffle_buffer,
        validation_source=_source(section.validation, positions, "validation") if section.validation else None,
        test_source=_source(section.test, positions, "test") if section.test else None,
        inputs=inputs, outputs=outputs)


def _source(source, positions, key: str = "source"):
    at = DATA + (key,)
    if source.builtin is not None:
        return BuiltinSource(source.builtin)
    if source.keras is not None:
        given = source.keras
        if isinstance(given, KerasDataset):
            return KerasSource(given.name, dict(given.model_extra or {}))
        return KerasSource(given)
    if source.npz is not None:
        npz = source.npz
        return NpzSource(absolute(npz.path, at + ("npz", "path"), positions), npz.x, npz.y, npz.x_test, npz.y_test)
    if source.csv is not None:
        return CsvSource(absolute(source.csv.path, at + ("csv", "path"), positions), source.csv.label,
                         text=tuple(source.csv.text or ()), stream=bool(source.csv.stream))
    if source.tfrecord is not None:
        records = source.tfrecord
        return TFRecordSource(absolute(records.files, at + ("tfrecord", "files"), positions),
                              {name: (tuple(f.shape), f.dtype) for name, f in records.features.items()},
                              records.x, records.y, records.compression)
    images = source.images
    return ImagesSource(absolute(images.path, at + ("images", "path"), positions), tuple(images.image_size), images.color_mode,
                        stream=bool(images.stream))


def _plan(transforms: Any, names: tuple[str, ...], key: str) -> dict[str, Transforms]:
    """{model input/output name: its transforms} from the list or the mapping form (checked by
    `specc.validate.objects.check_data_names`: a list is for one name, a mapping's keys are names)."""
    path = DATA + (key,)
    if isinstance(transforms, list):
        return {names[0]: Transforms(tuple(_transform(t) for t in transforms), path)} if transforms else {}
    return {name: Transforms(tuple(_transform(t) for t in items), path + (name,)) for name, items in transforms.items() if items}


def _transform(transform) -> Transform:
    argument = transform.argument
    if transform.kind == "pad":
        argument = Pad(argument.length, argument.value, argument.padding, argument.truncating)
    elif isinstance(argument, list):
        argument = tuple(argument)
    return Transform(transform.kind, argument)
