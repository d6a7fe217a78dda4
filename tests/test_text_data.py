"""Text in a CSV (`csv: {text: [column]}`): string features for the model input of each column's name.

The expected strings are read here with the csv module; the adapted TextVectorization
vocabulary is checked against the words of the training rows only (a word only the
validation file has is not learnt). The generated script reading and training alike is
checked in tests/test_emit.py (csv_text_columns).
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest

import specc
from specc.data import load_arrays

import keras  # noqa: E402  (tests/conftest.py sets KERAS_BACKEND=tensorflow first)

MODEL = textwrap.dedent("""\
    specc: 1
    name: reviews
    seed: 2
    model:
      inputs:
        review: {shape: [1], dtype: string}
        numbers: {shape: [2]}
      layers:
        - TextVectorization: {max_tokens: 40, output_sequence_length: 5, adapt: true, name: words, inputs: review}
        - Embedding: {input_dim: 40, output_dim: 3, name: embed}
        - GlobalAveragePooling1D: {name: pool}
        - Concatenate: {inputs: [pool, numbers], name: joined}
        - Dense: {units: 2, activation: softmax, name: sentiment}
    compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    train: {epochs: 1, batch_size: 4, verbose: 0}
    """)
TRAIN_WORDS = ["good", "bad", "fine", "dull", "superb"]


def write_reviews(path: Path, rows: int, words: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stars", "review", "sentiment", "length"])
        for i in range(rows):
            writer.writerow([i % 5, f"{words[i % len(words)]}, {words[(i * 3) % len(words)]}!", "pn"[i % 2], 10 + i])


@pytest.fixture
def folder(tmp_path) -> Path:
    write_reviews(tmp_path / "train.csv", 12, TRAIN_WORDS)
    write_reviews(tmp_path / "val.csv", 4, ["unheard"])
    return tmp_path


def spec(folder: Path, data: str, model: str = MODEL) -> Path:
    path = folder / "spec.yaml"
    path.write_text(model + textwrap.dedent(data))
    return path


DATA = """\
    data:
      source: {csv: {path: train.csv, label: sentiment, text: [review]}}
      validation: {csv: {path: val.csv, label: sentiment, text: [review]}}
    """


def test_text_columns_feed_their_inputs_and_the_vocabulary_is_the_training_rows(folder):
    path = spec(folder, DATA)
    splits = load_arrays(specc.load(path))
    with open(folder / "train.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert splits.train.x["review"].tolist() == [[row["review"]] for row in rows]
    np.testing.assert_array_equal(splits.train.x["numbers"], [[float(r["stars"]), float(r["length"])] for r in rows])
    assert splits.classes == ["n", "p"]

    result = specc.train(path, out=folder / "run")
    vectorizer = keras.saving.load_model(result.run_dir / "model.keras").get_layer("words")
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"]
    assert set(vocabulary[2:]) == set(TRAIN_WORDS)  # lower-cased, punctuation stripped; never "unheard"


@pytest.mark.parametrize("data, model, code, where, message", [
    ("""\
        data:
          source: {csv: {path: train.csv, label: sentiment, text: [reveiw]}}
     """, MODEL, "D103", "data.source.csv", "no text column 'reveiw' in train.csv (its columns: stars, review, length). "
                                           "Did you mean 'review'?"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: sentiment, text: [review]}}
     """, MODEL.replace("review:", "text:").replace("inputs: review", "inputs: text"), "D108", "data.source.csv",
     "'review' is not a model input (the model's inputs: text, numbers): a text column feeds the model input of its name"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: sentiment, text: [review]}}
     """, MODEL.replace("numbers: {shape: [2]}", "numbers: {shape: [2]}\n    more: {shape: [2]}").replace(
        "inputs: [pool, numbers]", "inputs: [pool, numbers, more]"), "D108",
     "data.source.csv", "the numeric columns of train.csv feed the model's one input not named after a text column; "
                        "it has 2 (numbers, more)"),
    ("""\
        data:
          source: {csv: {path: train.csv, label: sentiment, text: [review]}}
     """, MODEL.replace("{shape: [1], dtype: string}", "{shape: [1]}"), "D108", "model.inputs.review",
     "the data gives model input 'review' text, but it takes float32: declare it with dtype: string"),
])
def test_a_text_mistake_is_located(folder, data, model, code, where, message):
    path = spec(folder, data, model)
    with pytest.raises(specc.SpecError) as caught:
        loaded = specc.load(path)
        from specc.data import check_shapes

        check_shapes(loaded, load_arrays(loaded))
    found = caught.value.diagnostics[0]
    assert str(found.code) == code and f"error: {where}: " in found.format(), found.format()
    assert message in found.message
    assert found.location is not None
