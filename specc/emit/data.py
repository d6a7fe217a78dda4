"""Backend 2, emit (continued): the generated script's load_data(), make_dataset() and train().

The script's load_data() reads the source and applies the transforms and the
split with the same NumPy calls as specc.data (fixed helper functions in
templates/data.py.j2); train() feeds tf.data as specc.data.to_dataset does
and fits as specc.train does. Only the lines that carry spec values are
prepared here, through the same `literal`/`source` as the rest of the script.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc.emit.source import INDENT, Raw, wrapped, call_source, literal, source
from specc.ir import Spec
from specc.lower.values import Call

TRANSFORMS = ("rescale", "reshape", "cast", "one_hot", "pad")


@dataclass
class DataView:
    """What templates/data.py.j2 and train.py.j2 print; empty when the spec has no `data:` section."""

    helpers: list[str] = field(default_factory=list)  # fixed helper functions the script needs, in order
    transform_lines: list[str] = field(default_factory=list)  # body of transformed(x, y)
    load_lines: list[str] = field(default_factory=list)  # body of load_data()
    train_lines: list[str] = field(default_factory=list)  # body of train()
    parser_lines: list[str] = field(default_factory=list)  # main()'s argparse.ArgumentParser
    distribution: "DistributionView | None" = None  # templates/distribute.py.j2, for specs with train.distribution


@dataclass
class DistributionView:
    """make_strategy() and the helpers of templates/distribute.py.j2."""

    strategy_lines: list[str]  # body of make_strategy()
    split_cpu: int  # logical CPU devices to make first (0: none)
    multi_worker: bool
    backups: list[str]  # BackupAndRestore folders, relative to `out`, that a worker copies from the chief's


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


def _plan(transforms: Any, names: list[str]) -> dict[str, list]:
    if isinstance(transforms, list):
        return {names[0]: transforms} if transforms else {}
    return {name: items for name, items in transforms.items() if items}


def _named(part: Any, names: list[str], wrap: str, indent: str) -> str:
    """`{model name: array}` source for a source's x or y (one array, or npz names per model input/output)."""
    if isinstance(part, dict):
        return wrapped("{", [f"{literal(n)}: archive[{literal(part[n])}]" for n in names], "}", indent, 1)
    return wrapped("{", [f"{literal(names[0])}: {wrap}"], "}", indent, 1)


def _transformed(target: str, x: tuple, y: tuple, indent: str = INDENT) -> list[str]:
    """`x, y = transformed({...}, {...})`, wrapped to fit; x and y: _named's (part, names, wrap)."""
    items = [_named(*x, indent + INDENT), _named(*y, indent + INDENT)]
    return _body(f"{target} = " + wrapped("transformed(", items, ")", indent, len(target) + 3))


def _data_file_lines(locate, path: tuple, value: str, script_dir: Path | None) -> list[str]:
    """`path = ...`: a data file the spec names, found from the script's own folder as specc finds it from the spec's.

    A relative path in the spec stays relative (to the folder the script is written to, or the
    working folder when the script goes to stdout), so the script and the data can move together.
    """
    target = locate.base_dir(path) / value
    if Path(os.path.expanduser(value)).is_absolute():
        return ["# The spec's data file (an absolute path in the spec).",
                *_body("path = " + source(str(target), INDENT, 7))]
    try:
        relative = os.path.relpath(target, script_dir if script_dir is not None else os.curdir).replace(os.sep, "/")
    except ValueError:  # another drive
        return ["# The spec's data file (on another drive than this script).",
                *_body("path = " + source(str(target.resolve()), INDENT, 7))]
    here = "os.path.dirname(os.path.abspath(__file__))"
    return ["# The spec's data file, relative to this script's folder.",
            *_body("path = " + wrapped("os.path.join(", [here, literal(relative)], ")", INDENT, 7))]


def data_view(spec: Spec, script_dir: Path | None = None) -> DataView:
    """script_dir: the folder the script is written to (None: the working folder)."""
    from specc.data import Locator, data_section, input_names
    from specc.schema.data import KERAS_DATASETS, KerasDataset

    section = data_section(spec)
    locate = Locator(spec)
    inputs, outputs = input_names(spec), list(spec.graph.outputs)
    view = DataView(parser_lines=_body("parser = " + call_source(
        "argparse.ArgumentParser", {"description": f"Train {spec.name} (generated by specc)."}, INDENT, 9)))
    helpers: set[str] = set()

    # transformed(x, y)
    features, labels = _plan(section.features, inputs), _plan(section.labels, outputs)
    helpers.update(item.kind for items in (*features.values(), *labels.values()) for item in items)
    view.transform_lines = _transform_lines("x", features) + _transform_lines("y", labels)

    # the source
    source, lines, own_test = section.source, view.load_lines, False
    if source.builtin is not None:
        helpers.add("read_builtin")
        lines.append(f"x, y = read_builtin({literal(source.builtin)})")
        lines.extend(_transformed("x, y", (None, inputs, "x"), (None, outputs, "y")))
    elif source.keras is not None:
        given = source.keras
        name, kwargs = (given.name, dict(given.model_extra or {})) if isinstance(given, KerasDataset) else (given, {})
        assert name in KERAS_DATASETS  # a module name from specc's own list, never spec text
        own_test = True
        lines.extend(_body("(x, y), (x_test, y_test) = " + call_source(f"keras.datasets.{name}.load_data", kwargs,
                                                                         INDENT, room=28)))
        for suffix, target in (("", "x, y"), ("_test", "test")):
            lines.extend(_transformed(target, (None, inputs, f"np.asarray(x{suffix})"),
                                      (None, outputs, f"np.asarray(y{suffix})")))
    elif source.npz is not None:
        lines.extend(_data_file_lines(locate, ("data", "source", "npz", "path"), source.npz.path, script_dir))
        lines.append("with np.load(path, allow_pickle=False) as archive:")
        inside = _transformed("x, y", (source.npz.x, inputs, f"archive[{literal(source.npz.x)}]"),
                              (source.npz.y, outputs, f"archive[{literal(source.npz.y)}]"), INDENT * 2)
        lines.extend([INDENT + inside[0], *inside[1:]])  # in the `with` block
    elif source.csv is not None:
        helpers.add("read_csv")
        lines.extend(_data_file_lines(locate, ("data", "source", "csv", "path"), source.csv.path, script_dir))
        lines.append(f"x, y = read_csv(path, {literal(source.csv.label)})")
        lines.extend(_transformed("x, y", (None, inputs, "x"), (None, outputs, "y")))
    else:
        helpers.add("read_images")
        images = source.images
        lines.extend(_data_file_lines(locate, ("data", "source", "images", "path"), images.path, script_dir))
        lines.extend(_body("x, y = " + call_source("read_images", {"folder": Raw("path"), "image_size": tuple(
            images.image_size), "color_mode": images.color_mode}, INDENT, 7)))
        lines.extend(_transformed("x, y", (None, inputs, "x"), (None, outputs, "y")))
    _split_lines(lines, section.split, spec.seed, inputs[0], own_test, helpers)

    order = ["read_builtin", "read_csv", "read_images", *TRANSFORMS]
    view.helpers = [h for h in order if h in helpers] + (["take"] if "take" in helpers else [])
    view.distribution = _distribution_view(spec)
    view.train_lines = _train_lines(spec, section, own_test or section.split.test > 0, section.split.validation > 0,
                                    view.distribution)
    return view


def _distribution_view(spec: Spec) -> DistributionView | None:
    """specc.distribute.make_strategy as code, and what train() needs for it."""
    from specc.run.distribute import COMMUNICATION, CROSS_DEVICE_OPS, logical_cpus, section_of, strategy_devices

    section = section_of(spec)
    if section is None:
        return None
    cpus = logical_cpus(strategy_devices(section))
    lines = [f"split_cpu({cpus})"] if cpus > 1 else []
    if section.strategy == "one_device":
        device = literal(section.device) if section.device else '"/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"'
        lines.append(f"return tf.distribute.OneDeviceStrategy({device})")
    elif section.strategy == "mirrored":
        kwargs: dict[str, Any] = {"devices": section.devices}
        if section.cross_device_ops is not None:
            kwargs["cross_device_ops"] = Raw(f"tf.distribute.{CROSS_DEVICE_OPS[section.cross_device_ops]}()")
        lines.extend(_body("return " + call_source("tf.distribute.MirroredStrategy", kwargs, INDENT, 7)))
    else:
        implementation = f"tf.distribute.experimental.CommunicationImplementation.{COMMUNICATION[section.communication]}"
        lines.extend(_body("options = " + call_source("tf.distribute.experimental.CommunicationOptions",
                                                      {"implementation": Raw(implementation)}, INDENT, 10)))
        lines.append("return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)")
    backups = []
    if section.strategy == "multi_worker_mirrored":
        from specc.catalog.check import split_object

        for value in (spec.resolved.get("train") or {}).get("callbacks") or []:
            name, args = split_object(value)
            folder = (args or {}).get("backup_dir") if name == "BackupAndRestore" else None
            if isinstance(folder, str) and not os.path.isabs(os.path.expanduser(folder)):
                backups.append(folder)
        backups = backups or ["backup"]
    return DistributionView(lines, cpus if cpus > 1 else 0, section.strategy == "multi_worker_mirrored", backups)


def _split_lines(lines: list[str], split, seed: int | None, first_input: str, own_test: bool, helpers: set) -> None:
    """specc.data.split.carve: the same counts (Python's round) and the same permutation of the same seed."""
    has_test = own_test or split.test > 0
    has_val = split.validation > 0
    test = "test" if own_test else None
    if not has_val and not (split.test > 0 and not own_test):
        lines.append(f'return {{"train": (x, y), "validation": None, "test": {test or "None"}}}')
        return
    helpers.add("take")
    lines.append(f"n = len(x[{literal(first_input)}])")
    lines.append("n_test = 0  # the source has its own test set" if own_test else f"n_test = round(n * {literal(split.test)})")
    lines.append(f"n_val = round(n * {literal(split.validation)})")
    lines.append(f"order = np.random.default_rng({literal(seed)}).permutation(n)")
    parts = ['"train": take(x, y, order[n_test + n_val:])',
             '"validation": ' + ("take(x, y, order[n_test:n_test + n_val])" if has_val else "None"),
             '"test": ' + (test or ("take(x, y, order[:n_test])" if has_test else "None"))]
    lines.extend(_body("return " + wrapped("{", parts, "}", INDENT, 7)))


def _callbacks_source(spec: Spec) -> list[str]:
    """The spec's callbacks as constructor calls; relative file arguments under `out`, as specc.train puts them in the run folder."""
    from specc.lower.values import describe
    from specc.catalog.check import split_object
    from specc.run.train import DEFAULT_PATHS, PATH_ARGUMENTS

    made = []
    for value in (spec.resolved.get("train") or {}).get("callbacks") or []:
        name, args = split_object(value)
        call = describe("callback", value)
        key = PATH_ARGUMENTS.get(name)
        given = dict(args or {}).get(key, DEFAULT_PATHS.get(name)) if key else None
        if isinstance(given, str):
            expanded = os.path.expanduser(given)
            path = (Raw(f"os.path.expanduser({literal(given)})") if expanded != given else given) if os.path.isabs(
                expanded) else Raw(f"os.path.join(out, {literal(given)})")
            call = Call(call.path, {**call.kwargs, key: path})
        made.append(call)
    return made


def _train_lines(spec: Spec, data, has_test: bool, has_val: bool, dist: DistributionView | None) -> list[str]:
    from specc.schema import TrainSection

    section = spec.document.train or TrainSection()
    seed = literal(spec.seed)
    lines = ["strategy = make_strategy()  # first: before any other TensorFlow work"] if dist else []
    lines += [f"epochs = {literal(section.epochs)} if epochs is None else epochs",
              f"batch_size = {literal(section.batch_size)} if batch_size is None else batch_size",
              "data = load_data()"]
    if dist is not None:
        lines.append("with strategy.scope():  # the model, its optimizer and its metrics are made inside")
    inner = INDENT if dist is not None else ""
    if section.mixed_precision:  # layers keep the policy they were made with: restore the global one after
        lines += [inner + "policy = keras.mixed_precision.global_policy()",
                  inner + 'keras.mixed_precision.set_global_policy("mixed_float16")  # train.mixed_precision',
                  inner + "model = build_model()",
                  inner + "keras.mixed_precision.set_global_policy(policy)"]
    else:
        lines.append(inner + "model = build_model()")
    if dist is not None and section.distribution.scale_learning_rate == "linear":
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
    lines.append("os.makedirs(out, exist_ok=True)")
    made = _callbacks_source(spec)
    if dist is not None and dist.multi_worker and not any(c.path.endswith(".BackupAndRestore") for c in made):
        made.append(Call("keras.callbacks.BackupAndRestore", {"backup_dir": Raw('os.path.join(out, "backup")')}))
    lines += _body("callbacks = " + source(made, INDENT, 12))

    buffer = f", shuffle_buffer={literal(data.shuffle_buffer)}" if data.shuffle_buffer is not None else ""
    lines.append(f'train_data = make_dataset(*data["train"], batch_size, shuffle={literal(section.shuffle)}, '
                 f"seed={seed}{buffer})")
    if section.steps_per_epoch is not None:
        lines.append("train_data = train_data.repeat()  # steps_per_epoch counts batches across epochs")
    if dist is not None:
        lines.append("train_data = distribute_dataset(strategy, train_data)")
    fit: dict[str, Any] = {}
    validation = f'make_dataset(*data["validation"], batch_size, shuffle=False, seed={seed})'
    if has_val and dist is not None:
        lines += [f"validation_data = {validation}", "validation_data = distribute_dataset(strategy, validation_data)"]
        fit["validation_data"] = Raw("validation_data")
    elif has_val:
        fit["validation_data"] = Raw(validation)
    fit.update(epochs=Raw("epochs"), callbacks=Raw("callbacks"), shuffle=False)
    for key, default in (("class_weight", None), ("steps_per_epoch", None), ("validation_freq", 1), ("verbose", "auto")):
        if getattr(section, key) != default:
            fit[key] = getattr(section, key)
    arguments = ["train_data"] + [f"{key}={source(value, INDENT * 2, len(key) + 2)}" for key, value in fit.items()]
    lines += _body("history = " + wrapped("model.fit(", arguments, ")", INDENT, 10))
    evaluated = "test" if has_test else "validation" if has_val else "train"
    lines.append(f'evaluation = make_dataset(*data[{literal(evaluated)}], batch_size, shuffle=False, seed={seed})')
    if dist is not None:
        lines.append("evaluation = distribute_dataset(strategy, evaluation)")
    lines += ["scores = model.evaluate(evaluation, return_dict=True, verbose=0)",
              'model.save(os.path.join(out, "model.keras"))']
    if dist is not None and dist.multi_worker:
        lines += ["if out != chief_out:  # a worker's own copies: the chief's `out` holds the results",
                  INDENT + "shutil.rmtree(out, ignore_errors=True)"]
    lines.append("return history.history, {name: float(value) for name, value in scores.items()}")
    return lines
