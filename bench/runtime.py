"""The contenders `bench/ratios.py` times: specc's build and training against the same model hand-written in Keras.

1. Build: a ResNet-50-sized spec (bottleneck blocks with `repeat`, 177
   layers, 64x64x3 input), written to a temporary folder.
   `specc.build.build_model(spec)` (the spec already loaded) against
   `keras.Model.from_config(config)` of the same architecture, and, for
   reference, the same network written by hand in the functional API. Each
   timed call runs in a fresh `keras.backend.clear_session()` (and after a `gc.collect()`), interleaved
   (a b c, b c a, c a b, ...: none always follows the same one) after one untimed warm-up of each.
2. Training throughput (samples/s) for specs/mlp.yaml, specs/cifar10_cnn.yaml and
   specs/transformer_classifier.yaml (spec language v2: an `ops` expression, a block, attention)
   on random data of the right shape:
     (a) specc's model, fed and run the way `specc train` runs it
         (`specc.data.to_dataset`: shuffled sample indices, batched, each batch gathered in one op, prefetched;
         as many batches per compiled call as `specc.speed` chooses where the spec does not say),
     (b) the same model written by hand in Keras, fed the way a person writes it with tf.data
         (from_tensor_slices -> shuffle -> batch -> prefetch),
     (c) the hand-written model with `model.fit(x, y, batch_size=..., shuffle=True)` on NumPy arrays
         (the tutorials' way),
     (d) the script `specc codegen` writes for the spec (with a `data:` section naming an npz of the same
         arrays), imported: its build_model(), make_dataset() and steps_per_execution(), as its train() runs them.
   Each variant trains a warm-up epoch (tracing), then the variants take turns,
   one epoch each, over the rounds; each round starts one variant later
   (a b c d, b c d a, c d a b, ...), so that none always runs after the same one.
"""

from __future__ import annotations

import copy
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the source tree's specc, whatever is (or is not) installed
    sys.path.insert(0, str(REPO))

def in_turn(labels: list[str], round_: int) -> list[str]:
    """The contenders in round `round_`'s order: each round starts one later (a b c, b c a, c a b, ...), so that none
    always runs after the same one."""
    start = round_ % len(labels)
    return labels[start:] + labels[:start]


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
        for label in in_turn(list(contenders), round_):
            prepare, make = contenders[label]
            argument = prepare()
            keras.backend.clear_session()
            gc.collect()  # the model before, freed here rather than in the next one's clock
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


def transformer_by_hand(keras):
    """keras.io's "Text classification with Transformer", as specs/transformer_classifier.yaml writes it."""
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(1234)
    tokens = keras.Input(shape=(32,), dtype="int32", name="tokens")
    positions = ops.cumsum(ops.ones_like(tokens), axis=1) - 1
    x = layers.Embedding(2000, 32)(tokens) + layers.Embedding(32, 32)(positions)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=32)(query=x, value=x)
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(0.1)(attention))
    feed_forward = layers.Dense(32)(layers.Dense(32, activation="relu")(x))
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(0.1)(feed_forward))
    x = layers.Dropout(0.1)(layers.GlobalAveragePooling1D()(x))
    model = keras.Model(tokens, layers.Dense(2, activation="softmax")(x), name="transformer_classifier")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


BY_HAND = {"mlp": mlp_by_hand, "cifar10_cnn": cnn_by_hand, "transformer_classifier": transformer_by_hand}


def random_data(name: str, samples: int):
    """Inputs and targets of the right shape and type for specs/NAME.yaml (a fixed seed)."""
    import numpy as np

    rng = np.random.default_rng(0)
    if name == "mlp":
        x = rng.random((samples, 784), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, samples)]  # one-hot: categorical_crossentropy
    elif name == "cifar10_cnn":
        x = rng.integers(0, 256, (samples, 32, 32, 3)).astype(np.float32)  # raw pixels: the model rescales them
        y = rng.integers(0, 10, samples).astype(np.int64)  # class ids: sparse categorical crossentropy
    else:
        x = rng.integers(0, 2000, (samples, 32)).astype(np.int32)  # token ids below the vocabulary's 2,000
        y = rng.integers(0, 2, samples).astype(np.int64)
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
    by_hand = BY_HAND[name]
    x, y = random_data(name, samples)
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
    for round_ in range(rounds):  # one epoch of each in turn, so that load on the machine hits them alike
        for label in in_turn(list(variants), round_):
            seconds[label].append(variants[label].one_epoch())
    keras.backend.clear_session()
    return {"name": name, "batch_size": batch_size, "samples": samples, "steps_per_execution": ours.steps_per_execution,
            "rates": {label: [samples / s for s in values] for label, values in seconds.items()}}
