"""`specc.build.build_model` against the same models written by hand in Keras, and located build errors.

1. Every example spec (everything in specs/, and the valid cases listed in
   TWINS) is built by specc and by a hand-written Keras "twin" in this file,
   written the natural way: `keras.utils.set_random_seed(seed)`, then
   `keras.Sequential([keras.Input(...), layers...])` for a chain, or the
   functional API, creating and calling each layer in the spec's order, for a
   graph. The two must agree on the model class, layer classes and names (the
   chains' twins use Keras's own automatic names, after `clear_session`, so
   specc's names are checked against Keras's), every layer's `get_config()`,
   output shapes, parameter counts, initial weights (element-wise) and the
   compile configuration.
2. `specc check` on specs that validate but cannot be built. The cases in
   tests/cases/build_errors themselves (each fails at build_model with exactly
   its `# expect:` lines) are run by tests/test_cases.py, with every other case.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import specc
from specc.build import build_model
from specc.cli import main

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)
from keras import layers, optimizers, losses, regularizers, initializers, constraints

from spec_cases import expectations  # tests/spec_cases.py: the `# expect:` lines of a case

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


@pytest.fixture(autouse=True)
def from_repository_root(monkeypatch):
    # Messages show paths relative to the working folder, as a person types them.
    monkeypatch.chdir(ROOT)


# -- the hand-written twins --------------------------------------------------------

TWINS: dict[str, Callable[[], keras.Model]] = {}  # spec path relative to the repository -> twin


def twin(path: str):
    def register(fn):
        TWINS[path] = fn
        return fn
    return register


@twin("specs/mlp.yaml")
def mlp():
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input(shape=(784,), name="input"),  # specc names the input `input_shape` declares "input"
        layers.Dense(32, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name="mlp")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def digits_mlp(name: str):
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input(shape=(64,), name="input"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name=name)  # the name is part of every weight's path, so it is given when the model is made
    model.compile(optimizer=optimizers.Adam(learning_rate=0.003), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@twin("specs/quickstart.yaml")
def quickstart():
    return digits_mlp("quickstart")


@twin("specs/quickstart_cluster.yaml")
def quickstart_cluster():
    # The quickstart's model: train.distribution changes how it trains (and its learning rate
    # with scale_learning_rate, applied by `specc train` inside the strategy), not what is built.
    return digits_mlp("quickstart_cluster")


@twin("specs/mlp_regularized.yaml")
def mlp_regularized():
    keras.utils.set_random_seed(42)  # from mlp.yaml, which it extends
    model = keras.Sequential([
        keras.Input(shape=(784,), name="input"),
        layers.Dense(128, activation="relu", kernel_regularizer=regularizers.L2(l2=0.0001)),
        layers.Dropout(0.2),
        layers.Dense(128, activation="relu", kernel_regularizer=regularizers.L2(l2=0.0001)),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ], name="mlp_regularized")
    schedule = optimizers.schedules.ExponentialDecay(initial_learning_rate=0.001, decay_steps=1000, decay_rate=0.9)
    model.compile(optimizer=optimizers.Adam(learning_rate=schedule), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@twin("specs/cifar10_cnn.yaml")
def cifar10_cnn():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3), name="image"),
        layers.Rescaling(scale=1 / 255),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ], name="cifar10_cnn")
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


@twin("specs/cifar10_augmented.yaml")
def cifar10_augmented():
    keras.utils.set_random_seed(11)

    def conv_bn(prefix: str, filters: int) -> list:
        return [layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizers.L2(0.0005),
                              name=f"{prefix}_conv"),
                layers.BatchNormalization(name=f"{prefix}_bn"),
                layers.Activation("relu", name=f"{prefix}_relu")]

    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3), name="image"),
        layers.RandomFlip("horizontal"),
        layers.RandomTranslation(0.1, 0.1),
        layers.Rescaling(1 / 255),
        *conv_bn("conv_bn", 32), *conv_bn("conv_bn_1", 32),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        *conv_bn("conv_bn_2", 64), *conv_bn("conv_bn_3", 64),
        layers.MaxPooling2D(),
        layers.Dropout(0.3),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ], name="cifar10_augmented")
    schedule = optimizers.schedules.CosineDecay(initial_learning_rate=0.002, decay_steps=10000)
    model.compile(optimizer=optimizers.AdamW(learning_rate=schedule, weight_decay=0.0001),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@twin("specs/cifar_resnet.yaml")
def cifar_resnet():
    keras.utils.set_random_seed(1337)
    image = keras.Input(shape=(32, 32, 3), name="image")
    meta = keras.Input(shape=(8,), dtype="float32", name="meta")
    x = layers.Conv2D(32, 3, padding="same", name="stem")(image)
    for instance in ("residual", "residual_1"):  # `residual: {repeat: 2}`
        y = layers.Conv2D(32, 3, padding="same", activation="relu", name=f"{instance}_c1")(x)
        y = layers.Conv2D(32, 3, padding="same", name=f"{instance}_c2")(y)
        y = layers.Add(name=f"{instance}_add")([x, y])
        x = layers.Activation("relu", name=f"{instance}_activation")(y)
    pooled = layers.GlobalAveragePooling2D(name="pooled")(x)
    joined = layers.Concatenate(name="joined")([pooled, meta])
    cls = layers.Dense(10, activation="softmax", name="cls")(joined)
    size = layers.Dense(1, name="size")(joined)
    model = keras.Model(inputs=[image, meta], outputs=[cls, size], name="cifar_resnet")
    schedule = optimizers.schedules.ExponentialDecay(initial_learning_rate=0.001, decay_steps=1000, decay_rate=0.9)
    model.compile(optimizer=optimizers.Adam(learning_rate=schedule),
                  loss={"cls": "categorical_crossentropy", "size": "mse"}, metrics={"cls": ["accuracy"]})
    return model


@twin("specs/ticket_router.yaml")
def ticket_router():
    keras.utils.set_random_seed(2024)
    title = keras.Input(shape=(None,), dtype="int32", name="title")
    body = keras.Input(shape=(None,), dtype="int32", name="body")
    title_embedding = layers.Embedding(10000, 64, name="title_embedding")(title)
    title_features = layers.LSTM(128, name="title_features")(title_embedding)
    body_embedding = layers.Embedding(10000, 64, name="body_embedding")(body)
    body_features = layers.LSTM(32, name="body_features")(body_embedding)
    features = layers.Concatenate(name="features")([title_features, body_features])
    priority = layers.Dense(1, name="priority")(features)
    department = layers.Dense(4, name="department")(features)
    model = keras.Model(inputs=[title, body], outputs=[priority, department], name="ticket_router")
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.001),
                  loss={"priority": losses.BinaryCrossentropy(from_logits=True),
                        "department": losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2},
                  metrics={"department": ["accuracy"]})
    return model


@twin("tests/cases/valid/siamese_shared_layers.yaml")
def siamese_shared_layers():
    keras.utils.set_random_seed(3)
    left = keras.Input(shape=(10, 4), name="left")
    right = keras.Input(shape=(10, 4), name="right")
    encoder = layers.LSTM(8, return_state=True, name="encoder")
    encoded_left = encoder(left)  # [output, state_h, state_c]
    encoded_right = encoder(right)  # the same layer again: same weights
    difference = layers.Subtract(name="difference")([encoded_left[0], encoded_right[0]])
    states = layers.Concatenate(name="states")([encoded_left[1], encoded_right[2], difference])
    same = layers.Dense(1, activation="sigmoid", name="same")(states)
    model = keras.Model(inputs=[left, right], outputs=same, name="siamese_shared_layers")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@twin("tests/cases/valid/transfer_learning.yaml")
def transfer_learning():
    keras.utils.set_random_seed(0)  # no seed in the spec: the test seeds both alike
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3),
                                          name="mobile_net_v2")  # Keras's own default would be "mobilenetv2_1.00_96"
    base.trainable = False
    return keras.Sequential([keras.Input(shape=(96, 96, 3), name="image"), base,
                             layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax")],
                            name="transfer_learning")


@twin("tests/cases/valid/block_defaults_and_names.yaml")
def block_defaults_and_names():
    keras.utils.set_random_seed(0)  # no seed in the spec: the test seeds both alike
    return keras.Sequential([
        keras.Input(shape=(16,), name="x"),
        layers.Dense(8, activation="relu", name="dense_block_proj"),
        layers.Dropout(0.1, name="dense_block_dropout"),
        layers.Dense(4, activation="relu", name="dense_block_1_proj"),  # `repeat: 2` chains two copies
        layers.Dropout(0.1, name="dense_block_1_dropout"),
        layers.Dense(4, activation="relu", name="dense_block_2_proj"),
        layers.Dropout(0.1, name="dense_block_2_dropout"),
        layers.Dense(8, activation="relu", name="head_block_proj"),
        layers.Dropout(0.0, name="head_block_dropout"),
        layers.Dense(1, name="out"),
    ], name="block_defaults_and_names")


@twin("tests/cases/valid/wrappers_and_nested_objects.yaml")
def wrappers_and_nested_objects():
    keras.utils.set_random_seed(0)  # no seed in the spec: the test seeds both alike
    model = keras.Sequential([
        keras.Input(shape=(None,), dtype="int32", name="tokens"),
        layers.Embedding(1000, 16, mask_zero=True, embeddings_regularizer="l2"),
        layers.Bidirectional(layers.LSTM(8, return_sequences=True), merge_mode="concat"),
        layers.GlobalMaxPooling1D(),
        layers.Dense(4, activation=layers.LeakyReLU(negative_slope=0.1),
                     kernel_initializer=initializers.HeNormal(seed=3),
                     kernel_constraint=constraints.MaxNorm(max_value=2),
                     bias_regularizer=regularizers.L1L2(l1=1e-5, l2=1e-4)),
        layers.Dense(1, activation="sigmoid"),
    ], name="wrappers_and_nested_objects")
    schedule = optimizers.schedules.PiecewiseConstantDecay(boundaries=[100], values=[0.1, 0.01])
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule, momentum=0.9), loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(curve="PR"), keras.metrics.Precision()])
    return model


@twin("tests/cases/valid/expressions.yaml")
def expressions():
    keras.utils.set_random_seed(7)
    ops = keras.ops
    left = keras.Input(shape=(6, 4), name="left")
    right = keras.Input(shape=(6, 4), name="right")
    embed = layers.Dense(8, name="embed")
    embedded_left, embedded_right = embed(left), embed(right)
    distance = ops.sqrt(ops.sum(ops.square(embedded_left - embedded_right), axis=-1) + 1e-6)
    first_step = left[:, 0] * 2.0 - right[:, -1]
    positions = ops.cumsum(ops.ones_like(ops.cast(left[..., 0], "int32")), axis=1) - 1
    position_embedding = layers.Embedding(6, 4, name="position_embedding")(positions)
    shifted = ops.mean(left + position_embedding, axis=1)
    features = layers.Concatenate(name="features")([distance, first_step, shifted])
    leaky = ops.where(features > 0, features, 0.1 * features)
    score = layers.Dense(1, activation="sigmoid", name="score")(leaky)
    model = keras.Model(inputs=[left, right], outputs=score, name="expressions")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@twin("tests/cases/valid/call_arguments.yaml")
def call_arguments():
    keras.utils.set_random_seed(3)
    source = keras.Input(shape=(5, 3), name="source")
    target = keras.Input(shape=(4, 3), name="target")
    encoder = layers.LSTM(8, return_state=True, name="encoder")(source)  # [output, state_h, state_c]
    decoder = layers.LSTM(8, return_sequences=True, name="decoder")(target, initial_state=[encoder[1], encoder[2]])
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")(
        query=decoder, value=decoder, use_causal_mask=True)
    residual = layers.Add(name="residual")([decoder, attention])
    norm = layers.LayerNormalization(name="norm")(residual)
    dropout = layers.Dropout(0.1, name="dropout")(norm, training=False)
    next_token = layers.Dense(3, activation="softmax", name="next_token")(dropout)
    model = keras.Model(inputs=[source, target], outputs=[next_token, encoder[1]], name="call_arguments")
    model.compile(optimizer="adam", loss=["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.0])
    return model


@twin("specs/unet.yaml")
def unet():
    keras.utils.set_random_seed(5)

    def conv_pair(x, name, filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_a")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_b")(x)

    def down(x, name, filters):
        features = conv_pair(x, f"{name}_features", filters)
        return features, layers.MaxPooling2D(2, name=f"{name}_pooled")(features)

    def up(x, skip, name, filters):
        upsampled = layers.Conv2DTranspose(filters, 2, strides=2, padding="same", name=f"{name}_upsampled")(x)
        merged = layers.Concatenate(name=f"{name}_merged")([upsampled, skip])
        return conv_pair(merged, f"{name}_convs", filters)

    image = keras.Input(shape=(32, 32, 3), name="image")
    skip1, x = down(image, "down1", 16)
    skip2, x = down(x, "down2", 32)
    x = conv_pair(x, "bottom", 64)
    x = up(x, skip2, "up2", 32)
    x = up(x, skip1, "up1", 16)
    mask = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    model = keras.Model(image, mask, name="unet")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.BinaryIoU(target_class_ids=[1])])
    return model


@twin("specs/transformer_classifier.yaml")
def transformer_classifier():
    keras.utils.set_random_seed(1234)
    ops = keras.ops
    tokens = keras.Input(shape=(32,), dtype="int32", name="tokens")
    token_embedding = layers.Embedding(2000, 32, name="token_embedding")(tokens)
    positions = ops.cumsum(ops.ones_like(tokens), axis=1) - 1
    position_embedding = layers.Embedding(32, 32, name="position_embedding")(positions)
    embedded = token_embedding + position_embedding

    def transformer_block(x, name, dim, heads, ff_dim, rate=0.1):
        attention = layers.MultiHeadAttention(num_heads=heads, key_dim=dim, name=f"{name}_attention")(query=x, value=x)
        attention = layers.Dropout(rate, name=f"{name}_attention_dropout")(attention)
        x = layers.Add(name=f"{name}_attention_residual")([x, attention])
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_attention_norm")(x)
        ffn = layers.Dense(ff_dim, activation="relu", name=f"{name}_ffn_hidden")(x)
        ffn = layers.Dense(dim, name=f"{name}_ffn_output")(ffn)
        ffn = layers.Dropout(rate, name=f"{name}_ffn_dropout")(ffn)
        x = layers.Add(name=f"{name}_ffn_residual")([x, ffn])
        return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ffn_norm")(x)

    x = transformer_block(embedded, "transformer", dim=32, heads=2, ff_dim=32)
    x = layers.GlobalAveragePooling1D(name="pooled")(x)
    x = layers.Dropout(0.1, name="head_dropout")(x)
    sentiment = layers.Dense(2, activation="softmax", name="sentiment")(x)
    model = keras.Model(inputs=tokens, outputs=sentiment, name="transformer_classifier")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@twin("specs/seq2seq_lstm.yaml")
def seq2seq_lstm():
    keras.utils.set_random_seed(2017)
    encoder_inputs = keras.Input(shape=(None, 20), name="encoder_inputs")
    decoder_inputs = keras.Input(shape=(None, 24), name="decoder_inputs")
    _, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_inputs)
    decoder_outputs, _, _ = layers.LSTM(64, return_sequences=True, return_state=True, name="decoder")(
        decoder_inputs, initial_state=[state_h, state_c])
    next_character = layers.Dense(24, activation="softmax", name="next_character")(decoder_outputs)
    model = keras.Model(inputs=[encoder_inputs, decoder_inputs], outputs=next_character, name="seq2seq_lstm")
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@twin("specs/siamese.yaml")
def siamese():
    keras.utils.set_random_seed(2)
    left = keras.Input(shape=(8, 8, 1), name="left")
    right = keras.Input(shape=(8, 8, 1), name="right")

    def tower_model(like):
        inputs = keras.Input(shape=like.shape[1:], name="input")
        x = layers.Conv2D(8, 3, activation="tanh", name="conv")(inputs)
        x = layers.AveragePooling2D(2, name="pool")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.BatchNormalization(name="norm")(x)
        return keras.Model(inputs, layers.Dense(10, activation="tanh", name="embedding")(x), name="tower")

    tower = tower_model(left)
    embedded_left, embedded_right = tower(left), tower(right)  # one model, one set of weights
    distance = keras.ops.sqrt(keras.ops.maximum(
        keras.ops.sum(keras.ops.square(embedded_left - embedded_right), axis=1, keepdims=True), 1e-7))
    x = layers.BatchNormalization(name="distance_norm")(distance)
    same = layers.Dense(1, activation="sigmoid", name="same")(x)
    model = keras.Model(inputs=[left, right], outputs=same, name="siamese")
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


@twin("specs/fine_tuning.yaml")
def fine_tuning():
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = layers.Resizing(96, 96, name="resize")(inputs)
    x = layers.Rescaling(1 / 127.5, offset=-1, name="scale")(x)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(96, 96, 3), name="base")
    base.trainable = False
    x = base(x, training=False)  # BatchNormalization in inference mode, even once unfrozen
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(10, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, outputs, name="fine_tuning")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


UNSEEDED = {"tests/cases/valid/transfer_learning.yaml", "tests/cases/valid/block_defaults_and_names.yaml",
            "tests/cases/valid/wrappers_and_nested_objects.yaml"}  # the twin sets the seed the test gives specc
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in SPECS.glob("*.yaml"))
TWIN_CASES = sorted(p for p in TWINS if not p.startswith("specs/"))


# -- comparing two models ----------------------------------------------------------


def node_output_shapes(layer) -> list:
    """The output shapes of every call of a layer (a shared layer is called more than once)."""
    return [keras.tree.map_structure(lambda t: tuple(t.shape), node.output_tensors) for node in layer._inbound_nodes]


def assert_same_model(built, expected) -> None:
    assert type(built) is type(expected), f"{type(built).__name__} vs {type(expected).__name__}"
    assert built.name == expected.name
    assert [type(layer).__name__ for layer in built.layers] == [type(layer).__name__ for layer in expected.layers]
    assert [layer.name for layer in built.layers] == [layer.name for layer in expected.layers]
    for a, b in zip(built.layers, expected.layers):
        assert a.get_config() == b.get_config(), f"layer {a.name}: configs differ"
        assert a.trainable == b.trainable, f"layer {a.name}"
        assert node_output_shapes(a) == node_output_shapes(b), f"layer {a.name}: output shapes differ"
    assert [tuple(t.shape) for t in built.inputs] == [tuple(t.shape) for t in expected.inputs]
    assert [tuple(t.shape) for t in built.outputs] == [tuple(t.shape) for t in expected.outputs]
    assert built.count_params() == expected.count_params()
    assert [w.path for w in built.weights] == [w.path for w in expected.weights]
    assert [w.path for w in built.trainable_weights] == [w.path for w in expected.trainable_weights]
    for weight, a, b in zip(built.weights, built.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(a, b, err_msg=f"initial weights of {weight.path} differ")
    assert built.get_config() == expected.get_config()  # the whole graph: which output of which call feeds what
    assert built.compiled == expected.compiled
    if expected.compiled:
        assert type(built.optimizer) is type(expected.optimizer)
        assert built.optimizer.get_config() == expected.optimizer.get_config()
        assert built.get_compile_config() == expected.get_compile_config()  # loss, loss_weights, metrics, ...


def build_in_a_fresh_session(spec, seed: int | None = None):
    """build_model as in a new process (`specc build`): see test_compile_config_is_independent_of_history.

    `seed`: set for a spec without one, as its twin sets it.
    """
    keras.backend.clear_session()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return build_model(spec)


@pytest.mark.parametrize("path", EXAMPLES + TWIN_CASES)
def test_build_matches_the_hand_written_model(path: str):
    if path not in TWINS:
        pytest.fail(f"{path} has no hand-written Keras twin: add a function decorated with @twin({path!r}) "
                    "to tests/test_build.py that builds the same model in plain Keras")
    spec = specc.load(path)
    if path in UNSEEDED:
        assert spec.seed is None
    built = build_in_a_fresh_session(spec, seed=0 if path in UNSEEDED else None)
    keras.backend.clear_session()  # Keras's automatic names start afresh, as in a new script
    expected = TWINS[path]()
    assert_same_model(built, expected)


def test_building_twice_gives_identical_models():
    """The seed, not the process's history, decides names and initial weights."""
    first = build_model("specs/cifar_resnet.yaml", compile=False)
    keras.layers.Dense(3)  # advance Keras's name counters
    keras.optimizers.Adam()
    np.random.rand(10)
    second = build_model("specs/cifar_resnet.yaml", compile=False)
    assert first.get_config() == second.get_config()
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compile_config_is_independent_of_history():
    """Keras names optimizers and metrics by a process-wide counter (adam, adam_1, ...); specc must not."""
    first = build_model("specs/cifar_resnet.yaml")
    second = build_model("specs/cifar_resnet.yaml")
    assert second.optimizer.name == first.optimizer.name == "adam"
    assert first.get_compile_config() == second.get_compile_config()


# -- transfer learning ---------------------------------------------------------------


def small_application_spec(tmp_path: Path, weights: str, name: str = "app.yaml", seed: int = 5) -> Path:
    """A small MobileNetV2 (alpha 0.35) with a head: quick to build, real transfer-learning shape."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(f"""\
        specc: 1
        name: app
        seed: {seed}
        model:
          inputs:
            image: {{shape: [96, 96, 3]}}
          layers:
            - MobileNetV2: {{include_top: false, weights: {weights}, alpha: 0.35, trainable: false}}
            - GlobalAveragePooling2D
            - Dense: {{units: 3, activation: softmax}}
        """))
    return path


def test_application_is_frozen_and_the_head_trains(tmp_path):
    model = build_model(small_application_spec(tmp_path, "null"))
    base = model.layers[0]
    assert type(base).__name__ == "Functional" and base.name == "mobile_net_v2"
    assert base.trainable is False
    assert [w.path for w in model.trainable_weights] == ["app/dense/kernel", "app/dense/bias"]


def test_application_loads_local_weights(tmp_path):
    # Seeded apart from the spec below, so equal weights can only come from the file.
    donor = build_model(small_application_spec(tmp_path, "null", "donor.yaml", seed=7), compile=False).layers[0]
    weights = tmp_path / "donor.weights.h5"
    donor.save_weights(weights)
    loaded = build_model(small_application_spec(tmp_path, str(weights)), compile=False).layers[0]
    for a, b in zip(loaded.get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(a, b)
    unloaded = build_model(small_application_spec(tmp_path, "null", "unloaded.yaml"), compile=False).layers[0]
    assert any(not np.array_equal(a, b) for a, b in zip(unloaded.get_weights(), donor.get_weights()))


def test_application_weights_path_is_relative_to_the_spec(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    donor = build_model(small_application_spec(folder, "null", "donor.yaml", seed=7), compile=False).layers[0]
    donor.save_weights(folder / "base.weights.h5")
    spec = small_application_spec(folder, "base.weights.h5")
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    loaded = build_model(spec, compile=False).layers[0]
    for a, b in zip(loaded.get_weights(), donor.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_imagenet_weights_offline_is_a_located_error(tmp_path):
    spec = small_application_spec(tmp_path, "imagenet")
    # `specc build` loads the weights (`specc check` builds without them: it never downloads anything).
    result = run_specc("build", str(spec), "-o", str(tmp_path / "model.keras"),
                       env={"KERAS_HOME": str(tmp_path / "empty_keras_home")})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"{spec}:8:50: error: model.layers[0] (MobileNetV2): weights: imagenet needs "
                                "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5 in Keras's cache, ")
    assert "or give weights: the path of a local weights file" in errors[0]


# -- located build errors ------------------------------------------------------------------


def run_specc(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specc", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "tensorflow", **(env or {})}, timeout=300)


def located(case: str) -> list[str]:
    """The case's expected errors as `specc check` prints them: file:line:col: error: ..."""
    lines = []
    for expected in expectations(case):
        line, column, rest = expected.split(":", 2)
        lines.append(f"{case}:{line}:{column}: error:{rest}")
    return lines


def test_check_prints_the_located_error_and_exits_1(capsys):
    case = "tests/cases/build_errors/add_shapes.yaml"
    assert main(["check", case, "specs/mlp.yaml"]) == 1
    printed = capsys.readouterr()
    assert printed.out.splitlines() == located(case)
    assert "1 of 2 specs does not build" in printed.err


def test_check_on_the_examples_exits_0(capsys):
    assert main(["check", "specs"]) == 0
    printed = capsys.readouterr()
    assert printed.out == ""
    assert f"{len(list(ROOT.joinpath('specs').glob('*.yaml')))} specs build" in printed.err


@pytest.mark.slow
def test_check_in_a_subprocess_prints_no_traceback():
    case = "tests/cases/build_errors/concat_ranks.yaml"
    result = run_specc("check", case)
    assert result.returncode == 1
    assert result.stdout.splitlines() == located(case)
    assert "Traceback" not in result.stderr
