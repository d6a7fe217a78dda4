"""specc's runtime benchmarks: build time and training throughput, against the same model hand-written in Keras.

    python bench/runtime.py            # the full run (about 2 to 3 minutes on 2 CPUs; see bench/README.md)
    python bench/runtime.py --quick    # fewer repetitions, less data (well under a minute)
    python bench/runtime.py --smoke    # that it still runs (the MLP only)

1. Build time: a ResNet-50-sized spec (bottleneck blocks with `repeat`,
   about 175 layers, 64x64x3 input), written to a temporary folder.
   `specc.build.build_model(spec)` (the spec already loaded) against
   `keras.Model.from_config(config)` of the same architecture, and, for
   reference, the same network written by hand in the functional API. Each
   timed call runs in a fresh `keras.backend.clear_session()`, interleaved
   (a, b, c, a, b, c, ...) after one untimed warm-up of each. Target: specc
   within 1.10x of `from_config`.
2. Training throughput (samples/s) for specs/mlp.yaml and specs/cifar10_cnn.yaml
   on random data of the right shape:
     (a) specc's model, fed and run the way `specc train` runs it
         (`specc.data.to_dataset`: shuffled sample indices, batched, each batch gathered in one op, prefetched;
         as many batches per compiled call as `specc.speed` chooses where the spec does not say),
     (b) the same model written by hand in Keras, fed the way a person writes it with tf.data
         (from_tensor_slices -> shuffle -> batch -> prefetch),
     (c) the hand-written model with `model.fit(x, y, batch_size=..., shuffle=True)` on NumPy arrays,
     (d) the script `specc codegen` writes for the spec (with a `data:` section naming an npz of the same
         arrays), imported: its build_model(), make_dataset() and steps_per_execution(), as its train() runs them.
   One `fit` per variant: a warm-up epoch (tracing), then timed epochs; the
   variants alternate (a, b, c, a, b, c, ...) over the rounds, and each
   variant's figure is the median over its rounds. Targets (issue 14): on the MLP a/b >= 1.2 and
   a/c >= 1.5; on the CNN both >= 1.0; d/a within 3 %.

Results are reported, never asserted: the exit status is 0 unless something crashed.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import versions  # bench/common.py: the scripts run from bench/

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the source tree's specc, whatever is (or is not) installed
    sys.path.insert(0, str(REPO))

BUILD_TARGET = 1.02  # specc build / from_config, at most (issue 14)
# (a) / (b) and (a) / (c), at least: the MLP is where per-call overhead dominates and specc's defaults save it
SAME_PIPELINE_TARGET = {"mlp": 1.2, "cifar10_cnn": 1.0}
NUMPY_FIT_TARGET = {"mlp": 1.5, "cifar10_cnn": 1.0}
SCRIPT_TOLERANCE = 0.03  # (d) the generated script / (a) specc, within

# -- the ResNet-50-sized spec ----------------------------------------------------

STAGES = [(64, 256, 1, 3), (128, 512, 2, 4), (256, 1024, 2, 6), (512, 2048, 2, 3)]  # filters, expand, strides, blocks


def resnet_spec() -> str:
    """ResNet-50's layout: stem, 16 bottleneck blocks in 4 stages (a projection block, then identity blocks)."""
    lines = [
        "specc: 1",
        "name: resnet50_like",
        "description: ResNet-50's layout on 64x64x3 images (bench/runtime.py).",
        "seed: 5",
        "model:",
        "  inputs:",
        "    image: {shape: [64, 64, 3]}",
        "  blocks:",
        "    projection:",
        '      params: {filters: "???", expand: "???", strides: 1}',
        "      layers:",
        '        - Conv2D: {name: short, filters: "${expand}", kernel_size: 1, strides: "${strides}"}',
        "        - BatchNormalization: {name: short_bn}",
        '        - Conv2D: {name: c1, filters: "${filters}", kernel_size: 1, strides: "${strides}", inputs: input}',
        "        - BatchNormalization: {name: bn1}",
        "        - Activation: {name: relu1, activation: relu}",
        '        - Conv2D: {name: c2, filters: "${filters}", kernel_size: 3, padding: same}',
        "        - BatchNormalization: {name: bn2}",
        "        - Activation: {name: relu2, activation: relu}",
        '        - Conv2D: {name: c3, filters: "${expand}", kernel_size: 1}',
        "        - BatchNormalization: {name: bn3}",
        "        - Add: {name: add, inputs: [short_bn, bn3]}",
        "        - Activation: {name: out, activation: relu}",
        "    identity:",
        '      params: {filters: "???", expand: "???"}',
        "      layers:",
        '        - Conv2D: {name: c1, filters: "${filters}", kernel_size: 1}',
        "        - BatchNormalization: {name: bn1}",
        "        - Activation: {name: relu1, activation: relu}",
        '        - Conv2D: {name: c2, filters: "${filters}", kernel_size: 3, padding: same}',
        "        - BatchNormalization: {name: bn2}",
        "        - Activation: {name: relu2, activation: relu}",
        '        - Conv2D: {name: c3, filters: "${expand}", kernel_size: 1}',
        "        - BatchNormalization: {name: bn3}",
        "        - Add: {name: add, inputs: [input, bn3]}",
        "        - Activation: {name: out, activation: relu}",
        "  layers:",
        "    - ZeroPadding2D: {name: stem_pad, padding: 3}",
        "    - Conv2D: {name: stem_conv, filters: 64, kernel_size: 7, strides: 2}",
        "    - BatchNormalization: {name: stem_bn}",
        "    - Activation: {name: stem_relu, activation: relu}",
        "    - ZeroPadding2D: {name: pool_pad, padding: 1}",
        "    - MaxPooling2D: {name: pool, pool_size: 3, strides: 2}",
    ]
    for stage, (filters, expand, strides, blocks) in enumerate(STAGES, start=2):
        lines.append(f"    - projection: {{name: stage{stage}_0, filters: {filters}, expand: {expand}, strides: {strides}}}")
        lines.append(f"    - identity: {{name: stage{stage}, filters: {filters}, expand: {expand}, repeat: {blocks - 1}}}")
    lines += [
        "    - GlobalAveragePooling2D: {name: avg_pool}",
        "    - Dense: {name: predictions, units: 10, activation: softmax}",
        "",
    ]
    return "\n".join(lines)


def resnet_by_hand(keras):
    """The same network in the functional API, as a person writes it."""
    layers = keras.layers
    image = keras.Input(shape=(64, 64, 3), name="image")
    x = layers.ZeroPadding2D(3, name="stem_pad")(image)
    x = layers.Conv2D(64, 7, strides=2, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool")(x)

    def bottleneck(x, prefix, filters, expand, strides, project):
        if project:
            shortcut = layers.Conv2D(expand, 1, strides=strides, name=f"{prefix}_short")(x)
            shortcut = layers.BatchNormalization(name=f"{prefix}_short_bn")(shortcut)
        else:
            shortcut = x
        y = layers.Conv2D(filters, 1, strides=strides, name=f"{prefix}_c1")(x)
        y = layers.BatchNormalization(name=f"{prefix}_bn1")(y)
        y = layers.Activation("relu", name=f"{prefix}_relu1")(y)
        y = layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_c2")(y)
        y = layers.BatchNormalization(name=f"{prefix}_bn2")(y)
        y = layers.Activation("relu", name=f"{prefix}_relu2")(y)
        y = layers.Conv2D(expand, 1, name=f"{prefix}_c3")(y)
        y = layers.BatchNormalization(name=f"{prefix}_bn3")(y)
        y = layers.Add(name=f"{prefix}_add")([shortcut, y])
        return layers.Activation("relu", name=f"{prefix}_out")(y)

    for stage, (filters, expand, strides, blocks) in enumerate(STAGES, start=2):
        x = bottleneck(x, f"stage{stage}_0", filters, expand, strides, project=True)
        for index in range(1, blocks):
            x = bottleneck(x, f"stage{stage}_{index}", filters, expand, 1, project=False)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(image, outputs, name="resnet50_like")


def bench_build(keras, repeats: int, folder: Path) -> dict:
    import specc
    from specc.build import build_model
    from specc.speed import automatic_steps, steps_per_execution

    path = folder / "resnet50_like.yaml"
    path.write_text(resnet_spec(), encoding="utf-8")
    start = time.perf_counter()
    spec = specc.load(path)
    load_s = time.perf_counter() - start
    model = build_model(spec)
    config = model.get_config()
    by_hand = resnet_by_hand(keras)
    if len(model.layers) != len(by_hand.layers) or model.count_params() != by_hand.count_params():
        raise RuntimeError(f"the spec ({len(model.layers)} layers, {model.count_params():,} parameters) and the "
                           f"hand-written network ({len(by_hand.layers)}, {by_hand.count_params():,}) differ")
    # Each contender: (prepare, make). from_config consumes (mutates) its config, so each call gets a fresh
    # copy, made before the clock starts.
    contenders = {
        "specc build_model(spec)": (lambda: spec, build_model),
        "keras.Model.from_config(config)": (lambda: copy.deepcopy(config), keras.Model.from_config),
        "hand-written functional code": (lambda: keras, resnet_by_hand),
    }
    times: dict[str, list[float]] = {label: [] for label in contenders}
    for round_ in range(1 + repeats):  # round 0 is the warm-up
        for label, (prepare, make) in contenders.items():
            argument = prepare()
            keras.backend.clear_session()
            start = time.perf_counter()
            built = make(argument)
            elapsed = time.perf_counter() - start
            if len(built.layers) != len(model.layers) or built.count_params() != model.count_params():
                raise RuntimeError(f"{label} built a different model")
            if round_ > 0:
                times[label].append(elapsed)
    keras.backend.clear_session()
    return {"layers": len(model.layers), "params": model.count_params(), "load_s": load_s, "times": times}


# -- training throughput -----------------------------------------------------------


def mlp_by_hand(keras):
    layers = keras.layers
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="mlp")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def cnn_by_hand(keras):
    layers = keras.layers
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ], name="cifar10_cnn")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def random_data(kind: str, samples: int):
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "mlp":
        x = rng.random((samples, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, samples)]  # one-hot: categorical_crossentropy
    else:
        x = rng.integers(0, 256, (samples, 32, 32, 3)).astype(np.float32)  # raw pixels: the model rescales them
        y = rng.integers(0, 10, samples).astype(np.int64)  # class ids: sparse categorical crossentropy
    return x, y


def specc_dataset(x, y, batch_size: int, seed: int, input_name: str, output_name: str):
    """The training data as `specc train` feeds it: specc.data.to_dataset when it exists, else the same pipeline."""
    try:
        from specc.data import Arrays, to_dataset
    except ImportError:
        return same_pipeline(x, y, batch_size, seed)
    return to_dataset(Arrays({input_name: x}, {output_name: y}), batch_size, shuffle=True, seed=seed, shuffle_buffer=None)


def same_pipeline(x, y, batch_size: int, seed: int):
    """What a person writes with tf.data: from_tensor_slices -> shuffle -> batch -> prefetch."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class EpochTimer:
    """Wall-clock seconds of each epoch, from Keras's own epoch callbacks (fit's set-up is not in them)."""

    def __init__(self, keras):
        outer = self

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.epochs.append(time.perf_counter() - outer.start)

        self.epochs: list[float] = []
        self.start = 0.0
        self.callback = Timer()


class Trainee:
    """One variant: a compiled model and the arguments of its `fit`, trained one epoch per call."""

    def __init__(self, keras, model, fit_args: dict):
        self.model, self.fit_args, self.epoch = model, fit_args, 0
        self.timer = EpochTimer(keras)

    def one_epoch(self) -> float:
        self.model.fit(**self.fit_args, epochs=self.epoch + 1, initial_epoch=self.epoch, verbose=0,
                       callbacks=[self.timer.callback])
        self.epoch += 1
        return self.timer.epochs[-1]


def generated_trainee(keras, name: str, x, y, input_name: str, output_name: str, folder: Path) -> "Trainee":
    """The script specc codegen writes for specs/NAME.yaml with a data section (an npz of x and y), imported, its
    model fed by its own make_dataset and run with its own steps_per_execution, as its train() does."""
    import importlib.util

    import numpy as np

    import specc
    from specc.emit import render_script

    np.savez(folder / f"{name}.npz", x=x, y=y)
    spec = specc.load(REPO / "specs" / f"{name}.yaml", [f"data={{source: {{npz: {{path: {folder / name}.npz}}}}}}"])
    script = folder / f"{name}_script.py"
    script.write_text(render_script(spec, f"specs/{name}.yaml", script), encoding="utf-8")
    found = importlib.util.spec_from_file_location(f"{name}_script", script)
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module  # where autograph looks for the source of its functions
    found.loader.exec_module(module)
    model = module.build_model()
    dataset = module.make_dataset({input_name: x}, {output_name: y}, spec.fit.batch_size, True, spec.seed)
    if hasattr(module, "steps_per_execution"):
        model.steps_per_execution = module.steps_per_execution(dataset)
    return Trainee(keras, model, dict(x=dataset, shuffle=False))


def bench_training(keras, name: str, samples: int, rounds: int, folder: Path) -> dict:
    import specc
    from specc.build import build_model
    from specc.speed import automatic_steps, steps_per_execution

    spec = specc.load(REPO / "specs" / f"{name}.yaml")
    batch_size = spec.fit.batch_size
    seed = spec.seed or 0
    by_hand = {"mlp": mlp_by_hand, "cifar10_cnn": cnn_by_hand}[name]
    x, y = random_data("mlp" if name == "mlp" else "cnn", samples)
    input_name, output_name = spec.graph.inputs[0].name, spec.graph.outputs[0]

    keras.backend.clear_session()
    ours, dataset = build_model(spec), specc_dataset(x, y, batch_size, seed, input_name, output_name)
    if automatic_steps(spec):  # as specc train runs it (specc.speed)
        ours.steps_per_execution = steps_per_execution(dataset)
    variants = {
        # (a) specc: its model, fed and run as `specc train` does (to_dataset shuffles; Keras cannot shuffle a dataset)
        "a": Trainee(keras, ours, dict(x=dataset, shuffle=False)),
        # (b) the hand-written model, fed by the tf.data pipeline a person writes
        "b": Trainee(keras, by_hand(keras), dict(x=same_pipeline(x, y, batch_size, seed), shuffle=False)),
        # (c) the hand-written model, fit on NumPy arrays
        "c": Trainee(keras, by_hand(keras), dict(x=x, y=y, batch_size=batch_size, shuffle=True)),
        # (d) the generated script's own model, pipeline and steps_per_execution
        "d": generated_trainee(keras, name, x, y, input_name, output_name, folder),
    }
    counts = {label: t.model.count_params() for label, t in variants.items()}
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"specs/{name}.yaml and the hand-written model differ: {counts}")
    for trainee in variants.values():  # warm-up: tracing, the first pass over the data
        trainee.one_epoch()
    seconds: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(rounds):  # one epoch of each in turn, so that load on the machine hits them alike
        for label, trainee in variants.items():
            seconds[label].append(trainee.one_epoch())
    keras.backend.clear_session()
    rates = {label: [samples / s for s in values] for label, values in seconds.items()}
    return {"name": name, "batch_size": batch_size, "samples": samples, "rounds": rounds,
            "rates": {label: statistics.median(values) for label, values in rates.items()},
            "best": {label: max(values) for label, values in rates.items()}}


# -- reporting -----------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 build repetitions, a quarter of the data, 2 rounds")
    parser.add_argument("--smoke", action="store_true", help="1 build, the MLP only on a thirty-second of the data, "
                                                             "1 round: that it still runs")
    args = parser.parse_args(argv)
    build_repeats = 1 if args.smoke else 2 if args.quick else 7
    scale = 32 if args.smoke else 4 if args.quick else 1
    samples = {"mlp": 32768 // scale, "cifar10_cnn": 8192 // scale}
    rounds = 1 if args.smoke else 2 if args.quick else 5

    started = time.perf_counter()
    from specc.build import import_keras

    keras = import_keras()
    print(f"specc runtime benchmarks: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"  {versions(('keras', 'tensorflow-cpu'))}, backend {keras.backend.backend()}")

    with tempfile.TemporaryDirectory(prefix="specc-bench-") as tmp:
        build = bench_build(keras, build_repeats, Path(tmp))
    times = build["times"]
    specc_s = statistics.median(times["specc build_model(spec)"])
    config_s = statistics.median(times["keras.Model.from_config(config)"])
    print()
    print(f"Build: a ResNet-50-sized spec, {build['layers']} layers, {build['params']:,} parameters, 64x64x3 input "
          f"(loading the spec: {ms(build['load_s'])}); median and min of {build_repeats}, each in a fresh session")
    for label, values in times.items():
        print(f"  {label:<34} {ms(statistics.median(values)):>9} {ms(min(values)):>9}")
    ratio = specc_s / config_s
    print(f"  ratio specc / from_config: {ratio:.3f} (target <= {BUILD_TARGET:.2f}) {verdict(ratio <= BUILD_TARGET)}")

    print()
    print(f"Training throughput: random data, samples/s per epoch after a warm-up epoch; the four variants take "
          f"turns, one epoch each, {rounds} rounds: median (best)")
    print(f"  {'spec':<12} {'samples':>7} {'batch':>5} {'(a) specc':>16} {'(b) tf.data':>16} {'(c) numpy':>16}"
          f" {'(d) script':>16} {'a/b':>13} {'a/c':>13} {'d/a':>13}")
    for name in ("mlp",) if args.smoke else ("mlp", "cifar10_cnn"):
        with tempfile.TemporaryDirectory(prefix="specc-bench-") as tmp:
            result = bench_training(keras, name, samples[name], rounds, Path(tmp))
        a, b, c, d = (result["rates"][k] for k in "abcd")
        cells = " ".join(f"{result['rates'][k]:>7,.0f} ({result['best'][k]:>6,.0f})" for k in "abcd")
        ab, ac, da = a / b, a / c, d / a
        print(f"  {name:<12} {result['samples']:>7,} {result['batch_size']:>5} {cells} "
              f"{ab:>7.3f} {verdict(ab >= SAME_PIPELINE_TARGET[name])} {ac:>7.3f} {verdict(ac >= NUMPY_FIT_TARGET[name])}"
              f" {da:>7.3f} {verdict(abs(da - 1) <= SCRIPT_TOLERANCE)}")
    print("  targets: " + "; ".join(f"{name} a/b >= {SAME_PIPELINE_TARGET[name]:.1f}, a/c >= {NUMPY_FIT_TARGET[name]:.1f}"
                                    for name in SAME_PIPELINE_TARGET) + f"; d/a within {SCRIPT_TOLERANCE:.0%} "
          "(ratios of the medians)")
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
