"""TFRecord files (`tfrecord:`): tf.train.Example records streamed through tf.data, never loaded whole.

    records = Records(files, features, x_features, y_features)   # the files of a glob, sorted
    records.sample()                      # Arrays of the first records, parsed and transformed: what the checks read
    records.dataset(32, shuffle=True, seed=1, shuffle_buffer=None)   # files shuffled, records in a buffer, batches

Each batch of records is parsed with `tf.io.parse_example` and its FixedLenFeatures, then
transformed by the spec's transforms, the same NumPy functions as for data in memory
(through `tf.numpy_function`). With `shuffle`, the files are shuffled (seeded) every epoch,
then the records in a buffer (`data.shuffle_buffer`, default 10,000 records); without,
records come in the files' order, as an npz of the same arrays would. Under
multi_worker_mirrored each worker reads its own files (`AutoShardPolicy.FILE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from specc.data.arrays import Arrays
from specc.data.batches import transform_batch

BUFFER = 10_000  # records in the shuffle buffer when the spec sets no data.shuffle_buffer


@dataclass
class Records:
    """TFRecord files, their features, and which feed which model input and output (by name)."""

    files: list[str]
    features: dict[str, tuple[tuple[int, ...], str]]  # feature -> (shape, dtype)
    x_features: dict[str, str]  # model input -> feature
    y_features: dict[str, str]  # model output -> feature
    compression: str = ""
    transform: Callable[[dict, dict], tuple[dict, dict]] = field(default=lambda x, y: (x, y))
    _sample: Arrays | None = None
    _count: int | None = None

    def sample(self) -> Arrays:
        """The first 32 records, parsed and transformed: what the checks before training read."""
        if self._sample is None:
            x, y = record_sample(self.files, self.features, self.x_features, self.y_features, self.transform,
                                 self.compression)
            self._sample = Arrays(x, y)
        return self._sample

    @property
    def x(self) -> dict[str, np.ndarray]:
        return self.sample().x

    @property
    def y(self) -> dict[str, np.ndarray]:
        return self.sample().y

    def __len__(self) -> int:
        """The records in the files, counted once (a pass over the files, record by record)."""
        if self._count is None:
            self._count = record_count(self.files, self.compression)
        return self._count

    def dataset(self, batch_size: int, *, shuffle: bool, seed: int | None, shuffle_buffer: int | None):
        sample = self.sample()
        return record_dataset(self.files, self.features, self.x_features, self.y_features, self.transform,
                              self.compression, batch_size, shuffle, seed, shuffle_buffer or BUFFER,
                              (sample.x, sample.y), len(self))


def is_records(part: Any) -> bool:
    return isinstance(part, Records)


# The functions below are also the generated script's (specc.emit.runtime copies them): standalone, NumPy and
# TensorFlow only, within 100 columns.


def parse_records(serialized, features, x_features, y_features):
    """A batch of serialized tf.train.Example records as (x, y) dicts of tensors, keyed by model
    input and output."""
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature(shape, getattr(tf, dtype))
            for name, (shape, dtype) in features.items()}
    parsed = tf.io.parse_example(serialized, spec)
    return ({name: parsed[feature] for name, feature in x_features.items()},
            {name: parsed[feature] for name, feature in y_features.items()})


def record_sample(files, features, x_features, y_features, transform, compression, count=32):
    """The first `count` records of the files, parsed and transformed: (x, y) dicts of NumPy
    arrays."""
    import tensorflow as tf

    records = tf.data.TFRecordDataset(files, compression_type=compression)
    x, y = parse_records(next(iter(records.batch(count))), features, x_features, y_features)
    return transform({k: v.numpy() for k, v in x.items()}, {k: v.numpy() for k, v in y.items()})


def record_count(files, compression):
    """How many records the files hold (read once, record by record)."""
    import tensorflow as tf

    records = tf.data.TFRecordDataset(files, compression_type=compression)
    return int(records.reduce(np.int64(0), add_one))


def add_one(count, _):
    return count + 1


def record_dataset(files, features, x_features, y_features, transform, compression, batch_size,
                   shuffle, seed, shuffle_buffer, sample, count):
    """Batches of (x, y) from the files: shuffled by file and in a buffer when `shuffle`, each batch
    parsed, then transformed by `transform` (NumPy, on dicts); `sample`: record_sample's, for the
    dtypes and shapes; `count`: the records, so that Keras knows the epoch's length (on a dataset
    of unknown length, Keras 3.15 takes one optimizer step more per epoch)."""
    import tensorflow as tf

    x_names, y_names = list(x_features), list(y_features)
    paths = tf.data.Dataset.from_tensor_slices(list(files))
    if shuffle:
        paths = paths.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def read(path):
        return tf.data.TFRecordDataset(path, compression_type=compression)

    records = paths.flat_map(read)
    if shuffle:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def transformed(serialized):
        x, y = parse_records(serialized, features, x_features, y_features)
        x, y = transform_batch(x, y, transform, *sample)
        return (x[x_names[0]] if len(x) == 1 else x), (y[y_names[0]] if len(y) == 1 else y)

    batches = records.batch(batch_size).map(transformed, num_parallel_calls=tf.data.AUTOTUNE,
                                            deterministic=True)
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)
