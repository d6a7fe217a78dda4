"""Backend 2, emit (continued): the generated script's load_data(), make_dataset() and train().

The script's load_data() reads the source and splits it with the same NumPy
calls as specc.data (fixed helper functions in templates/data.py.j2) and
transforms it with specc.data.transforms' own functions, whose source the
script contains (specc.emit.runtime); train() feeds tf.data as
specc.data.to_dataset does and fits as specc.train does. Only the lines that
carry spec values are prepared here, through the same `literal`/`source` as
the rest of the script.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc.emit.runtime import runtime_source
from specc.emit.source import (INDENT, Raw, call_source, file_expression, literal, relative_to_script, source, wrapped,
                               source as value_source)  # value_source: where `source` names a data source
from specc.errors import dotted
from specc.emit.model import compile_call
from specc.ir import (BuiltinSource, Call, Callback, CsvSource, Data, File, ImagesSource, KerasSource, NpzSource, Phase,
                      Spec, TFRecordSource)
from specc.speed import automatic_steps

TRANSFORMS = ("rescale", "reshape", "cast", "one_hot", "pad")


@dataclass
class DataView:
    """What templates/data.py.j2 and train.py.j2 print; empty when the spec has no `data:` section."""

    helpers: list[str] = field(default_factory=list)  # helper functions the script needs, in order
    runtime: str = ""  # specc.data.transforms' own source for the transforms among them (and what they use)
    transform_lines: list[str] = field(default_factory=list)  # body of transformed(x, y)
    load_lines: list[str] = field(default_factory=list)  # body of load_data()
    train_lines: list[str] = field(default_factory=list)  # body of train()
    parser_lines: list[str] = field(default_factory=list)  # main()'s argparse.ArgumentParser
    distribution: "DistributionView | None" = None  # templates/distribute.py.j2, for specs with train.distribution
    modules: set[str] = field(default_factory=set)  # what train() imports besides the helpers' modules
    stream: dict | None = None  # images with stream: true: make_dataset's image size, channels, and its functions
    records: dict | None = None  # tfrecord: make_dataset's features, their names, compression, and its functions
    csv_stream: dict | None = None  # csv with stream: true: make_dataset's buffer and its functions
    phases: bool = False  # train.phases: train() fits once per phase
    phase_runtime: str = ""  # specc.run.phases' own set_trainable, for phases
    speed_runtime: str = ""  # specc.speed's own steps_per_execution, where training chooses it


@dataclass
class DistributionView:
    """make_strategy() and the helpers of templates/distribute.py.j2."""

    strategy_lines: list[str]  # body of make_strategy()
    split_cpu: int  # logical CPU devices to make first (0: none)
    multi_worker: bool
    backups: list[str]  # BackupAndRestore folders, relative to `out`, that a worker copies from the chief's
    repair: str = ""  # specc.run.repair's own source of repair_multi_worker_fit, for multi_worker


def _body(text: str) -> list[str]:
    """Code made at one indent level (a function body) as lines relative to that level."""
    return [line[len(INDENT):] if i and line.startswith(INDENT) else line for i, line in enumerate(text.splitlines())]


def _transform_lines(part: str, plan: dict[str, list]) -> list[str]:
    """`x["input"] = rescale(x["input"], 0.0625)`: each transform, in order, as specc.data.transforms applies it."""
    lines = []
    for name, items in plan.items():
        target = f"{part}[{literal(name)}]"
        for item in items:
            if item.kind == "pad":
                pad = item.argument
                call = call_source("pad", {"x": Raw(target), "length": pad.length, "padding": pad.padding,
                                           "truncating": pad.truncating, "value": pad.value}, INDENT,
                                   len(target) + 3)
            else:
                call = f"{item.kind}({target}, {literal(item.argument)})"
            lines.extend(_body(f"{target} = {call}"))
    return lines


def _named(part: Any, names: list[str], wrap: str, indent: str, table: str = "archive") -> str:
    """`{model name: array}` source for a source's x or y: one array (`wrap`), or the arrays of `table` by name
    per model input/output (an npz file's; a CSV's text columns)."""
    if isinstance(part, dict):
        return wrapped("{", [f"{literal(n)}: {table}[{literal(part[n])}]" for n in names], "}", indent, 1)
    return wrapped("{", [f"{literal(names[0])}: {wrap}"], "}", indent, 1)


def _transformed(target: str, x: tuple, y: tuple, indent: str = INDENT) -> list[str]:
    """`x, y = transformed({...}, {...})`, wrapped to fit; x and y: _named's (part, names, wrap[, table])."""
    items = [_named(*x[:3], indent + INDENT, *x[3:]), _named(*y[:3], indent + INDENT, *y[3:])]
    return _body(f"{target} = " + wrapped("transformed(", items, ")", indent, len(target) + 3))


def _data_file_lines(file: File, script_dir: Path | None) -> list[str]:
    """`path = ...`: a data file the spec names, found from the script's own folder as specc finds it from the spec's."""
    if relative_to_script(file, script_dir) is None:
        return ["# The spec's data file (an absolute path in the spec).", *_body("path = " + source(file.path, INDENT, 7))]
    return ["# The spec's data file, relative to this script's folder.",
            *_body("path = " + file_expression(file, script_dir, INDENT, 7))]


def data_view(spec: Spec, script_dir: Path | None = None) -> DataView:
    """script_dir: the folder the script is written to (None: the working folder)."""
    section = spec.data
    inputs, outputs = list(section.inputs), list(section.outputs)
    view = DataView(parser_lines=_body("parser = " + call_source(
        "argparse.ArgumentParser", {"description": f"Train {spec.name} (generated by specc)."}, INDENT, 9)))
    helpers: set[str] = set()

    # transformed(x, y)
    features = {name: planned.items for name, planned in section.features.items()}
    labels = {name: planned.items for name, planned in section.labels.items()}
    helpers.update(item.kind for items in (*features.values(), *labels.values()) for item in items)
    view.transform_lines = _transform_lines("x", features) + _transform_lines("y", labels)

    source = section.source
    # The keras datasets have their own test set, and an npz file may (x_test, y_test).
    own_test = source.kind == "keras" or (source.kind == "npz" and source.x_test is not None)
    view.load_lines = SOURCE_LINES[source.kind](source, inputs, outputs, script_dir, helpers)
    named = source.kind in NAMES_CLASSES
    for key, own in (("validation", section.validation_source), ("test", section.test_source)):
        if own is not None:  # a source of its own: read after the training source, whose classes it maps to
            view.load_lines += [f"# data.{key}: a source of its own",
                                *SOURCE_LINES[own.kind](own, inputs, outputs, script_dir, helpers,
                                                        Reading.split(key) if named else Reading(f"x_{key}", f"y_{key}", key))]
    own_test = own_test or section.test_source is not None
    extra = ()
    if source.kind == "csv" and source.stream:  # each split's file, as make_dataset reads it
        own = {"validation": section.validation_source, "test": section.test_source}
        extra = ('"csv": ' + wrapped("{", [f'"{key}": {"csv_file_" + key if own.get(key) is not None else "csv_file"}'
                                           for key in ("train", "validation", "test")], "}", INDENT * 2, 8),)
    _split_lines(view.load_lines, section, spec.seed, inputs[0], own_test, helpers, named, extra)

    order = ["read_builtin", "read_csv", "scan_csv", "read_images", "list_images", *TRANSFORMS]
    view.helpers = [h for h in order if h in helpers] + (["take"] if "take" in helpers else [])
    used = [h for h in view.helpers if h in TRANSFORMS]
    view.runtime = runtime_source("specc.data.transforms", used, imports=("import numpy as np",)) if used else ""
    view.distribution = _distribution_view(spec)
    has_validation = section.validation > 0 or section.validation_source is not None
    view.train_lines = _train_lines(spec, own_test or section.test > 0, has_validation, view.distribution)
    if source.kind == "images" and source.stream:  # make_dataset decodes batch by batch, with specc.data.stream's code
        view.stream = {"image_size": literal(tuple(source.image_size)), "channels": source.channels,
                       "runtime": runtime_source("specc.data.stream", ["stream_dataset", "stream_sample"])}
    if source.kind == "csv" and source.stream:  # make_dataset reads line by line, with specc.data.csv_stream's code
        from specc.data.csv_stream import BUFFER as ROWS

        view.csv_stream = {"buffer": f"{ROWS:_}", "runtime": runtime_source("specc.data.csv_stream", [
            "csv_dataset", "csv_rows"], imports=("import numpy as np",))}
    if source.kind == "tfrecord":  # make_dataset parses and transforms batch by batch, with specc.data.records' code
        from specc.data.records import BUFFER

        names = {"x": (source.x, inputs), "y": (source.y, outputs)}
        mapped = {key: {name: part for name in model_names} if isinstance(part, str) else dict(part)
                  for key, (part, model_names) in names.items()}
        view.records = {"features": value_source({name: (list(shape), dtype) for name, (shape, dtype) in
                                                    source.features.items()}, INDENT, 15),
                        "x": literal(mapped["x"]), "y": literal(mapped["y"]), "compression": literal(source.compression),
                        "buffer": f"{BUFFER:_}",
                        "runtime": runtime_source("specc.data.records", ["record_dataset", "record_sample",
                                                                         "record_count"])}
        view.modules.add("glob")
    if automatic_steps(spec):
        view.speed_runtime = runtime_source("specc.speed", ["steps_per_execution"], imports=())
    if spec.fit.phases:
        view.phases = True
        view.phase_runtime = runtime_source("specc.run.phases", ["set_trainable"], imports=())
    if named:
        view.train_lines[-1:-1] = _labels_lines(source, view.distribution)
    view.modules |= {*(["sys"] if spec.fit.verbose == "auto" else []),
                    *(["importlib.util"] if _tensorboard(spec) else [])}
    return view


# -- load_data(), by source kind: the lines that read the source and transform it ----------------


@dataclass(frozen=True)
class Reading:
    """Where a source's lines put what they read: `x, y` (the training source) or `x_validation, y_validation`, and
    the target of its transformed arrays (`x, y`, `validation`, `test`); `classes`: the training source's classes,
    which a validation or test source maps its own to (None for the training source)."""

    x: str = "x"
    y: str = "y"
    into: str = "x, y"
    classes: str | None = None

    @classmethod
    def split(cls, key: str) -> "Reading":
        return cls(f"x_{key}", f"y_{key}", key, "classes")


def _builtin_lines(source: BuiltinSource, inputs: list, outputs: list, script_dir, helpers: set,
                   reading: Reading = Reading()) -> list[str]:
    helpers.add("read_builtin")
    return [f"{reading.x}, {reading.y} = read_builtin({literal(source.name)})",
            *_transformed(reading.into, (None, inputs, reading.x), (None, outputs, reading.y))]


def _keras_lines(source: KerasSource, inputs: list, outputs: list, script_dir, helpers: set,
                 reading: Reading = Reading()) -> list[str]:
    assert source.name.isidentifier()  # one of specc's own list (validation checked it): it cannot become code
    lines = _body("(x, y), (x_test, y_test) = " + call_source(f"keras.datasets.{source.name}.load_data",
                                                              dict(source.kwargs), INDENT, room=28))
    for suffix, target in (("", "x, y"), ("_test", "test")):
        lines.extend(_transformed(target, (None, inputs, f"np.asarray(x{suffix})"), (None, outputs, f"np.asarray(y{suffix})")))
    return lines


def _npz_lines(source: NpzSource, inputs: list, outputs: list, script_dir, helpers: set,
               reading: Reading = Reading()) -> list[str]:
    lines = [*_data_file_lines(source.file, script_dir), "with np.load(path, allow_pickle=False) as archive:"]
    inside = _transformed(reading.into, (source.x, inputs, f"archive[{literal(source.x)}]"),
                          (source.y, outputs, f"archive[{literal(source.y)}]"), INDENT * 2)
    if source.x_test is not None:  # the file's own test set
        inside += _transformed("test", (source.x_test, inputs, f"archive[{literal(source.x_test)}]"),
                               (source.y_test, outputs, f"archive[{literal(source.y_test)}]"), INDENT * 2)
    return [*lines, *(INDENT + line if not line.startswith(INDENT) else line for line in inside)]  # in the `with` block


def _csv_lines(source: CsvSource, inputs: list, outputs: list, script_dir, helpers: set,
               reading: Reading = Reading()) -> list[str]:
    if source.stream:  # row numbers: make_dataset reads those rows line by line
        helpers.add("scan_csv")
        known = f", known={reading.classes}" if reading.classes else ""
        target = "csv_file" if reading.into == "x, y" else f"csv_file_{reading.into}"
        pair = f"{{{literal(inputs[0])}: rows}}, {{{literal(outputs[0])}: rows}}"
        return [*_data_file_lines(source.file, script_dir),
                f"{target} = scan_csv(path, {literal(source.label)}{known})",
                *([] if reading.classes else ['classes = csv_file["classes"]']),
                f"rows = np.arange({target}[\"count\"])",
                f"{reading.into} = " + (pair if reading.into == "x, y" else f"({pair})")
                + "  # row numbers: make_dataset reads those rows"]
    helpers.add("read_csv")
    arguments = ["path", literal(source.label), *([f"known={reading.classes}"] if reading.classes else []),
                 *([f"text={literal(list(source.text))}"] if source.text else [])]
    target = f"{reading.x}, {reading.y}, {'_' if reading.classes else 'classes'} = "
    features = None
    if source.text:  # the text columns by name, the numeric ones ("*") for the one other input, as specc.data does
        rest = [name for name in inputs if name not in source.text]
        features = {name: name if name in source.text else "*" for name in inputs if name in source.text or len(rest) == 1}
    return [*_data_file_lines(source.file, script_dir),
            *_body(target + wrapped("read_csv(", arguments, ")", INDENT, len(target))),
            *_transformed(reading.into, (features, list(features or inputs), reading.x, reading.x),
                          (None, outputs, reading.y))]


def _images_lines(source: ImagesSource, inputs: list, outputs: list, script_dir, helpers: set,
                  reading: Reading = Reading()) -> list[str]:
    reader = "list_images" if source.stream else "read_images"
    helpers.add(reader)
    arguments: dict[str, Any] = {"folder": Raw("path")}
    if not source.stream:
        arguments.update(image_size=tuple(source.image_size), color_mode=source.color_mode)
    if reading.classes:
        arguments["classes"] = Raw(reading.classes)
    target = f"{reading.x}, {reading.y}, {'_' if reading.classes else 'classes'} = "
    lines = [*_data_file_lines(source.file, script_dir), *_body(target + call_source(reader, arguments, INDENT, len(target)))]
    if source.stream:  # file paths: make_dataset decodes and transforms them batch by batch
        pair = f"{{{literal(inputs[0])}: {reading.x}}}, {{{literal(outputs[0])}: {reading.y}}}"
        return lines + [f"{reading.into} = " + (pair if reading.into == "x, y" else f"({pair})")
                        + "  # transformed batch by batch, in make_dataset"]
    return lines + _transformed(reading.into, (None, inputs, reading.x), (None, outputs, reading.y))


def _tfrecord_lines(source: TFRecordSource, inputs: list, outputs: list, script_dir, helpers: set,
                    reading: Reading = Reading()) -> list[str]:
    lines = [line.replace("data file", "TFRecord files") for line in _data_file_lines(source.files, script_dir)]
    files = "sorted(path for path in glob.glob(path) if os.path.isfile(path))"
    pair = "x, y = files, None" if reading.into == "x, y" else f"{reading.into} = (files, None)"
    return lines + [f"files = {files}", f"{pair}  # their records are read batch by batch, in make_dataset"]


SOURCE_LINES = {"builtin": _builtin_lines, "keras": _keras_lines, "npz": _npz_lines, "csv": _csv_lines,
                "images": _images_lines, "tfrecord": _tfrecord_lines}
NAMES_CLASSES = ("csv", "images")  # sources whose reader gives the classes too (None for a CSV's numeric labels)


def _distribution_view(spec: Spec) -> DistributionView | None:
    """specc.run.distribute.make_strategy as code, and what train() needs for it."""
    section = spec.distribution
    if section is None:
        return None
    cpus = section.logical_cpus
    lines = [f"split_cpu({cpus})"] if cpus > 1 else []
    if section.strategy == "one_device":
        device = literal(section.device) if section.device else '"/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"'
        lines.append(f"return tf.distribute.OneDeviceStrategy({device})")
    elif section.strategy == "mirrored":
        kwargs: dict[str, Any] = {"devices": list(section.devices) if section.devices else None}
        if section.cross_device_ops is not None:
            kwargs["cross_device_ops"] = Raw(f"tf.distribute.{section.cross_device_ops}()")
        lines.extend(_body("return " + call_source("tf.distribute.MirroredStrategy", kwargs, INDENT, 7)))
    else:
        implementation = f"tf.distribute.experimental.CommunicationImplementation.{section.communication}"
        lines.extend(_body("options = " + call_source("tf.distribute.experimental.CommunicationOptions",
                                                      {"implementation": Raw(implementation)}, INDENT, 10)))
        lines.append("return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)")
    backups, repair = [], ""
    if section.multi_worker:
        backups = [c.file for c in spec.fit.callbacks if c.type == "BackupAndRestore" and c.file is not None
                   and not os.path.isabs(os.path.expanduser(c.file))] or ["backup"]
        # specc's own repair, as source; the script imports types for it (and TensorFlow anyway)
        repair = runtime_source("specc.run.repair", ["repair_multi_worker_fit"], imports=("import types",))
    return DistributionView(lines, cpus if cpus > 1 else 0, section.multi_worker, backups, repair)


def _split_lines(lines: list[str], split: Data, seed: int | None, first_input: str, own_test: bool, helpers: set,
                 named: bool = False, extra: tuple[str, ...] = ()) -> None:
    """specc.data.split.carve: the same counts (Python's round) and the same permutation of the same seed.

    named: the source named its classes (`classes`), which load_data returns too.
    """
    has_test = own_test or split.test > 0
    has_val = split.validation > 0
    test = "test" if own_test else None
    validation = "validation" if split.validation_source is not None else None  # a source of its own
    classes = ', "classes": classes' if named else ""
    if not has_val and not (split.test > 0 and not own_test):
        lines.extend(_body("return " + wrapped("{", ['"train": (x, y)', f'"validation": {validation or "None"}',
                                                     f'"test": {test or "None"}', *([classes[2:]] if named else []),
                                                     *extra], "}", INDENT, 7)))
        return
    helpers.add("take")
    lines.append(f"n = len(x[{literal(first_input)}])")
    lines.append("n_test = 0  # the source has its own test set" if own_test else f"n_test = round(n * {literal(split.test)})")
    lines.append(f"n_val = round(n * {literal(split.validation)})")
    lines.append(f"order = np.random.default_rng({literal(seed)}).permutation(n)")
    parts = ['"train": take(x, y, order[n_test + n_val:])',
             '"validation": ' + ("take(x, y, order[n_test:n_test + n_val])" if has_val else "None"),
             '"test": ' + (test or ("take(x, y, order[:n_test])" if has_test else "None"))]
    parts += ['"classes": classes'] if named else []
    lines.extend(_body("return " + wrapped("{", [*parts, *extra], "}", INDENT, 7)))


def _callbacks_source(callbacks: tuple[Callback, ...], phase_index: int | None = None) -> list[Call]:
    """Callbacks as constructor calls; relative file arguments under `out`, as specc train puts them in the run folder.

    phase_index: for a phase of train.phases, as specc train makes them: CSVLogger appends after the first
    phase, BackupAndRestore keeps each phase in a folder of its own (phase-N).
    """
    made = []
    for callback in callbacks:
        call, given = callback.call, callback.file
        if given is not None:
            expanded = os.path.expanduser(given)
            path = (Raw(f"os.path.expanduser({literal(given)})") if expanded != given else given) if os.path.isabs(
                expanded) else Raw(f"os.path.join(out, {literal(given)})")
            if callback.type == "BackupAndRestore" and phase_index is not None:
                path = Raw(f"os.path.join({source(path, '', 0)}, {literal(f'phase-{phase_index + 1}')})")
            call = Call(call.path, {**call.kwargs, callback.file_argument: path})
        if callback.type == "CSVLogger" and phase_index:
            call = Call(call.path, {**call.kwargs, "append": call.kwargs.get("append", True)})
        made.append(call)
    return made


def _tensorboard(spec: Spec) -> Callback | None:
    """The spec's TensorBoard callback, if it has one (the script checks for the tensorboard package first)."""
    return next((c for c in spec.fit.callbacks if c.type == "TensorBoard"), None)


def _requirement_lines(spec: Spec) -> list[str]:
    """What train() needs that keras, tensorflow and numpy do not bring, checked before anything runs."""
    callback = _tensorboard(spec)
    if callback is None:
        return []
    first = literal(f"{dotted(callback.path)} (TensorBoard) needs the tensorboard package, ")
    return ['if importlib.util.find_spec("tensorboard") is None:  # tensorflow-cpu does not bring it',
            f"{INDENT}raise SystemExit({first}",
            f'{INDENT}                 "which is not installed: pip install tensorboard")']


def _labels_lines(source: CsvSource | ImagesSource, dist: DistributionView | None) -> list[str]:
    """out/labels.json, as specc train writes it: what each class index stands for."""
    where = literal(source.file.written)
    return ['if data["classes"] is not None:  # labels.json: the class of each label index',
            INDENT + 'with open(os.path.join(out, "labels.json"), "w", encoding="utf-8") as handle:',
            *_body(INDENT * 2 + "json.dump(" + wrapped("{", [f'"source": {where}', '"classes": data["classes"]'], "}",
                                                     INDENT * 3, 10) + ", handle, indent=2)")]


def _train_lines(spec: Spec, has_test: bool, has_val: bool, dist: DistributionView | None) -> list[str]:
    """train()'s body: the model made (inside the strategy), the callbacks, fit, evaluate and save."""
    lines = _requirement_lines(spec)
    lines += ["strategy = make_strategy()  # first: before any other TensorFlow work"] if dist else []
    phases = spec.fit.phases
    lines += [] if phases else [f"epochs = {literal(spec.fit.epochs)} if epochs is None else epochs"]
    lines += [f"batch_size = {literal(spec.fit.batch_size)} if batch_size is None else batch_size",
              "data = load_data()"]
    lines += _model_lines(spec, dist)
    lines.append("os.makedirs(out, exist_ok=True)")
    if not phases:
        lines += _callbacks_lines(spec.fit.callbacks, None, dist)
    lines += _fit_lines(spec, has_val, dist)
    evaluated = "test" if has_test else "validation" if has_val else "train"
    lines += _body("evaluation = " + wrapped("make_dataset(", [f"*data[{literal(evaluated)}]", "batch_size", "shuffle=False",
                                                              f"seed={literal(spec.seed)}",
                                                              *([_csv_file(spec, evaluated)[2:]] if _csv_file(spec, evaluated) else [])],
                                             ")", INDENT, 13))
    if dist is not None:
        lines.append("evaluation = distribute_dataset(strategy, evaluation)")
    lines += ["scores = model.evaluate(evaluation, return_dict=True, verbose=0)",
              'model.save(os.path.join(out, "model.keras"))']
    if dist is not None and dist.multi_worker:
        lines += ["if out != chief_out:  # a worker's own copies: the chief's `out` holds the results",
                  INDENT + "shutil.rmtree(out, ignore_errors=True)"]
    history = "history" if phases else "history.history"
    lines.append(f"return {history}, {{name: float(value) for name, value in scores.items()}}")
    return lines


def _callbacks_lines(callbacks: tuple[Callback, ...], phase_index: int | None, dist: DistributionView | None) -> list[str]:
    """`callbacks = [...]`: new objects for each fit (a phase's EarlyStopping starts afresh)."""
    made = _callbacks_source(callbacks, phase_index)
    if dist is not None and dist.multi_worker and not any(c.path.endswith(".BackupAndRestore") for c in made):
        folder = ["backup"] + ([f"phase-{phase_index + 1}"] if phase_index is not None else [])
        made.append(Call("keras.callbacks.BackupAndRestore",
                         {"backup_dir": Raw(f"os.path.join(out, {', '.join(map(literal, folder))})")}))
    return _body("callbacks = " + source(made, INDENT, 12))


def _model_lines(spec: Spec, dist: DistributionView | None) -> list[str]:
    """The model, made inside the strategy's scope (with its mixed precision policy), and the multi-worker set-up."""
    lines = ["with strategy.scope():  # the model, its optimizer and its metrics are made inside"] if dist else []
    inner = INDENT if dist is not None else ""
    if spec.fit.mixed_precision:  # layers keep the policy they were made with: restore the global one after
        lines += [inner + "policy = keras.mixed_precision.global_policy()",
                  inner + 'keras.mixed_precision.set_global_policy("mixed_float16")  # train.mixed_precision',
                  inner + "model = build_model()",
                  inner + "keras.mixed_precision.set_global_policy(policy)"]
    else:
        lines.append(inner + "model = build_model()")
    streamed = spec.data.source.kind == "tfrecord" or getattr(spec.data.source, "stream", False)
    for node in spec.graph.layers:  # adapt: true, from the training split only, as specc train does
        if node.adapt and streamed:  # read batch by batch
            lines += _body(f"model.get_layer({literal(node.name)}).adapt(" + wrapped(
                "make_dataset(", ['*data["train"]', "batch_size", "shuffle=False", "seed=None",
                                  *([_csv_file(spec, "train")[2:]] if _csv_file(spec, "train") else [])], ")", INDENT, 40)
                + ".map(lambda x, y: x))")
        elif node.adapt:
            lines.append(f"model.get_layer({literal(node.name)}).adapt("
                         f"data[\"train\"][0][{literal(node.inputs[0].name)}])")
    if dist is not None and spec.distribution.scale_learning_rate == "linear":
        lines += [INDENT + "rate = model.optimizer.learning_rate  # scale_learning_rate: linear, for the global batch",
                  INDENT + "rate.assign(rate.numpy() * strategy.num_replicas_in_sync)"]
    if dist is not None and dist.multi_worker:
        lines += ["repair_multi_worker_fit(model, strategy)",
                  "chief_out = out",
                  "if not is_chief():  # the chief writes `out`; each other worker a folder of its own",
                  INDENT + "out = worker_folder(out)",
                  INDENT + "shutil.rmtree(out, ignore_errors=True)",
                  INDENT + f"for folder in {literal(dist.backups)}:  # every worker resumes from the chief's backup",
                  INDENT * 2 + "if os.path.isdir(os.path.join(chief_out, folder)):",
                  INDENT * 3 + "shutil.copytree(os.path.join(chief_out, folder), os.path.join(out, folder))"]
    return lines


def _fit_lines(spec: Spec, has_val: bool, dist: DistributionView | None) -> list[str]:
    fit_section, seed = spec.fit, literal(spec.seed)
    buffer = f", shuffle_buffer={literal(spec.data.shuffle_buffer)}" if spec.data.shuffle_buffer is not None else ""
    lines = _body(f'train_data = make_dataset(*data["train"], batch_size, shuffle={literal(fit_section.shuffle)}, '
                  f"seed={seed}{buffer}{_csv_file(spec, 'train')})" if not _csv_file(spec, "train") else
                  "train_data = " + wrapped("make_dataset(", ['*data["train"]', "batch_size",
                                                            f"shuffle={literal(fit_section.shuffle)}", f"seed={seed}",
                                                            *([buffer[2:]] if buffer else []),
                                                            _csv_file(spec, "train")[2:]], ")", INDENT, 13))
    if fit_section.steps_per_epoch is not None:
        lines.append("train_data = train_data.repeat()  # steps_per_epoch counts batches across epochs")
    if dist is not None:
        lines.append("train_data = distribute_dataset(strategy, train_data)")
    fit: dict[str, Any] = {}
    validation = f'make_dataset(*data["validation"], batch_size, shuffle=False, seed={seed}{_csv_file(spec, "validation")})'
    automatic = automatic_steps(spec)
    if has_val and (dist is not None or fit_section.phases or _csv_file(spec, "validation") or automatic):  # made once
        lines += _body("validation_data = " + wrapped("make_dataset(", [
            '*data["validation"]', "batch_size", "shuffle=False", f"seed={seed}",
            *([_csv_file(spec, "validation")[2:]] if _csv_file(spec, "validation") else [])], ")", INDENT, 18))
        lines += ["validation_data = distribute_dataset(strategy, validation_data)"] if dist is not None else []
        fit["validation_data"] = Raw("validation_data")
    elif has_val:
        fit["validation_data"] = Raw(validation)
    def speed(epochs: str) -> list[str]:  # as specc train: several batches per compiled call (specc.speed)
        if not automatic:
            return []
        given = [*(["validation_data"] if has_val else []),
                 *([f"steps_per_epoch={fit_section.steps_per_epoch}"] if fit_section.steps_per_epoch else [])]
        call = "model.steps_per_execution = steps_per_execution("
        return _body(wrapped(call, ["train_data", *given, f"epochs={epochs}"], ")", INDENT))
    fit.update(epochs=Raw("epochs"), callbacks=Raw("callbacks"), shuffle=False)
    for key, default in (("class_weight", None), ("steps_per_epoch", None), ("validation_freq", 1), ("verbose", "auto")):
        value = getattr(fit_section, key)
        if value != default:
            fit[key] = dict(value) if key == "class_weight" else value
    if fit_section.verbose == "auto":  # as specc train: Keras's progress bar on a terminal, one line per epoch in a pipe
        fit["verbose"] = Raw('1 if sys.stdout.isatty() or "ipykernel" in sys.modules else 2')
    if fit_section.phases:
        return lines + _phases_lines(spec, fit, dist, speed)
    arguments = ["train_data"] + [f"{key}={source(value, INDENT * 2, len(key) + 2)}" for key, value in fit.items()]
    return lines + speed("epochs") + _body("history = " + wrapped("model.fit(", arguments, ")", INDENT, 10))


def _csv_file(spec: Spec, split: str) -> str:
    """`, csv=data["csv"]["train"]`: a streamed CSV's file for make_dataset; "" for any other source."""
    source = spec.data.source
    return f', csv_file=data["csv"][{literal(split)}]' if source.kind == "csv" and source.stream else ""


def _phases_lines(spec: Spec, fit: dict[str, Any], dist: DistributionView | None, speed) -> list[str]:
    """train.phases as specc.run.phases runs them: each phase's changes, its compile, its callbacks, one fit
    that starts at the epoch after the last one run, and the history kept as one record; `speed(epochs)`: the
    lines choosing steps_per_execution for a fit of that many epochs, before each (a phase's compile resets it)."""
    phases = spec.fit.phases
    lines = ['history = {"epochs": [], "phase": []}  # every phase\'s epochs, each with the phase it ran in', "epoch = 0"]
    for index, phase in enumerate(phases):
        lines.append(f"# Phase {index + 1} of {len(phases)}, {phase.name}: {_phase_summary(phase)}")
        for change in phase.changes:
            top = f", top={change.top}" if change.top is not None else ""
            if len(change.layers) == 1:
                lines.append(f"set_trainable(model.get_layer({literal(change.layers[0])}), {change.trainable}{top})")
            else:
                lines += [f"for name in {source(change.layers, INDENT, 16)}:  # block instance {change.target}",
                          f"{INDENT}set_trainable(model.get_layer(name), {change.trainable}{top})"]
        if phase.compile is not None:
            inner = INDENT if dist is not None else ""
            lines += ["with strategy.scope():"] if dist is not None else []
            lines += _body(inner + compile_call(phase.compile, INDENT + inner))
            if dist is not None and spec.distribution.scale_learning_rate == "linear":
                lines += ["rate = model.optimizer.learning_rate  # scale_learning_rate: linear, for the global batch",
                          "rate.assign(rate.numpy() * strategy.num_replicas_in_sync)"]
        lines += _callbacks_lines((*spec.fit.callbacks, *phase.callbacks), index, dist)
        arguments = {**fit, "initial_epoch": Raw("epoch"), "epochs": Raw(f"epoch + {phase.epochs}")}
        arguments = {key: arguments[key] for key in ("validation_data", "initial_epoch", "epochs", *fit) if key in arguments}
        items = ["train_data"] + [f"{key}={source(value, INDENT * 2, len(key) + 2)}" for key, value in arguments.items()]
        lines += speed(str(phase.epochs)) + _body("fitted = " + wrapped("model.fit(", items, ")", INDENT, 9))
        lines.append(f"epoch = add_epochs(history, fitted, {literal(phase.name)})")
    return lines


def _phase_summary(phase: Phase) -> str:
    """What a phase changes, for the comment above it."""
    parts = []
    for change in phase.changes:
        verb = "unfreeze" if change.trainable else "freeze"
        parts.append(f"{verb} the top {change.top} layers of {change.target}" if change.top is not None
                     else f"{verb} {change.target}")
    if phase.compile is not None:
        parts.append("compile again")
    return f"{phase.epochs} epoch{'s' if phase.epochs > 1 else ''}" + "".join(f"; {part}" for part in parts)
