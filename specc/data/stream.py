"""Image folders read lazily (`images: {..., stream: true}`): file paths in memory, pixels batch by batch.

    stream, classes = image_stream(folder, source)   # lists the files of an ImagesSource's folder
    part = stream.take(indices)            # a split: a subset of the files, as Arrays.take
    part.sample()                          # Arrays of its first batch, transformed: what the checks read
    part.dataset(32, shuffle=True, ...)    # tf.data: shuffled indices -> files decoded -> batches -> transforms

The files are listed by Keras's own `image_dataset_from_directory` (its order, its
class names, its file formats), which reads nothing yet; each batch is decoded as
that loader decodes (read, `decode_image`, bilinear `resize`) and then transformed
by the spec's transforms, the same NumPy functions as for data in memory
(`specc.data.transforms`, through `tf.numpy_function`). Shuffling, splits and
batches use the same sample indices as `specc.data.pipeline.to_dataset`, so a
streamed folder trains exactly as the same folder loaded whole; memory holds the
file list and the batches in flight, whatever the folder's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from specc.data.arrays import Arrays
from specc.data.batches import transform_batch


@dataclass
class Stream:
    """A set of image files and their labels, with the transforms to apply once decoded."""

    paths: np.ndarray  # str, one per sample
    labels: np.ndarray  # int64 class indices
    image_size: tuple[int, int]
    channels: int  # 1, 3 or 4: the color mode's
    input_name: str
    output_name: str
    transform: Callable[[dict, dict], tuple[dict, dict]] = field(default=lambda x, y: (x, y))  # NumPy, per batch
    _sample: Arrays | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def take(self, index: np.ndarray) -> Stream:
        return Stream(self.paths[index], self.labels[index], self.image_size, self.channels, self.input_name,
                      self.output_name, self.transform)

    def sample(self) -> Arrays:
        """The first 32 files, decoded and transformed: what the checks before training read."""
        if self._sample is None:
            x, y = stream_sample(self.paths, self.labels, self.input_name, self.output_name, self.transform,
                                 self.image_size, self.channels)
            self._sample = Arrays(x, y)
        return self._sample

    @property
    def x(self) -> dict[str, np.ndarray]:
        return self.sample().x

    @property
    def y(self) -> dict[str, np.ndarray]:
        return self.sample().y

    def dataset(self, batch_size: int, *, shuffle: bool, seed: int | None, shuffle_buffer: int | None):
        """Batches of (x, y) as to_dataset makes them of arrays: the same indices, shuffled alike."""
        sample = self.sample()
        return stream_dataset(self.paths, self.labels, self.input_name, self.output_name, self.transform,
                              self.image_size, self.channels, batch_size, shuffle, seed, shuffle_buffer,
                              (sample.x, sample.y))


# The functions below are also the generated script's (specc.emit.runtime copies them): standalone, NumPy and
# TensorFlow only.


def load_image(path, image_size, channels):
    """One image as keras.utils.image_dataset_from_directory loads it: read, decode_image, and a
    bilinear resize."""
    import tensorflow as tf

    image = tf.image.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    image = tf.image.resize(image, image_size, method="bilinear")
    image.set_shape((image_size[0], image_size[1], channels))
    return image


def stream_sample(paths, labels, input_name, output_name, transform, image_size, channels,
                  count=32):
    """The first `count` images and labels, decoded and transformed: (x, y) dicts of NumPy
    arrays."""
    images = np.stack([load_image(path, image_size, channels).numpy() for path in paths[:count]])
    return transform({input_name: images}, {output_name: labels[:count]})


def stream_dataset(paths, labels, input_name, output_name, transform, image_size, channels,
                   batch_size, shuffle, seed, shuffle_buffer, sample):
    """Batches of (images, labels): sample indices shuffled (and batched) as for data in memory,
    each batch's files decoded, then transformed by `transform` (NumPy, on dicts); `sample`:
    stream_sample's, for the dtypes."""
    import tensorflow as tf

    paths, labels = tf.constant(paths), tf.constant(labels)
    indices = tf.data.Dataset.range(len(labels))
    if shuffle:  # never past the data, as for data in memory
        indices = indices.shuffle(min(shuffle_buffer or len(labels), len(labels)), seed=seed,
                                  reshuffle_each_iteration=True)

    def load(index):
        return load_image(tf.gather(paths, index), image_size, channels), tf.gather(labels, index)

    def transformed(images, classes):
        x, y = transform_batch({input_name: images}, {output_name: classes}, transform, *sample)
        return x[input_name], y[output_name]

    batches = indices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = batches.batch(batch_size).map(transformed, num_parallel_calls=tf.data.AUTOTUNE,
                                            deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def image_stream(folder: str, source) -> tuple[Stream, list[str]]:
    """The image files of `folder` (an ImagesSource's) in Keras's order, labelled by their class folder; (the stream,
    the class names). Its model input and output are named, and its transforms set, by specc.data."""
    from specc.build.keras import import_keras

    keras = import_keras()
    listed = keras.utils.image_dataset_from_directory(  # lists the files only: nothing is decoded until iterated
        folder, labels="inferred", label_mode="int", color_mode=source.color_mode, batch_size=None,
        image_size=source.image_size, shuffle=False, verbose=False)
    classes = list(listed.class_names)
    paths = list(listed.file_paths)
    import os

    root = os.path.abspath(folder)
    labels = [classes.index(os.path.relpath(os.path.abspath(p), root).split(os.sep)[0]) for p in paths]
    return Stream(np.array(paths, dtype=np.str_), np.array(labels, dtype=np.int64), tuple(source.image_size),
                  source.channels, "", ""), classes


def is_stream(part: Any) -> bool:
    return isinstance(part, Stream)
