"""The tf.data input pipeline that feeds `Model.fit` (imports TensorFlow when called)."""

from __future__ import annotations

from specc.data.arrays import Arrays


def to_dataset(arrays: Arrays, batch_size: int, *, shuffle: bool, seed: int | None, shuffle_buffer: int | None):
    """A batched, prefetched tf.data.Dataset of (x, y), shuffled afresh each epoch when `shuffle`.

    x and y are plain tensors when the model has one input / one output, dicts keyed by name otherwise.
    (Keras ignores `fit(shuffle=True)` for datasets, so the shuffling happens here.)
    """
    from specc.data.streaming import is_streamed

    if is_streamed(arrays):  # an image folder read lazily, TFRecord files, a CSV file: batch by batch
        return arrays.dataset(batch_size, shuffle=shuffle, seed=seed, shuffle_buffer=shuffle_buffer)
    import tensorflow as tf

    x = next(iter(arrays.x.values())) if len(arrays.x) == 1 else dict(arrays.x)
    y = next(iter(arrays.y.values())) if len(arrays.y) == 1 else dict(arrays.y)
    data = tf.nest.map_structure(tf.convert_to_tensor, (x, y))
    # Shuffle and batch sample *indices*, then gather each batch in one op: slicing the arrays
    # sample by sample (from_tensor_slices -> shuffle -> batch) made small models slower to train
    # than Keras's own fit(numpy_arrays), which gathers whole batches too.
    indices = tf.data.Dataset.range(len(arrays))
    if shuffle:
        # never past the data: a larger buffer shuffles the same, and TensorFlow reserves memory for it (one of
        # 2**30 or more kills the process with a segmentation fault)
        indices = indices.shuffle(min(shuffle_buffer or len(arrays), len(arrays)), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda index: tf.nest.map_structure(lambda tensor: tf.gather(tensor, index), data),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)
