"""A batch of tensors through the spec's NumPy transforms, inside a tf.data pipeline.

    x, y = transform_batch(x, y, transform, x_like, y_like)   # {name: tensor} in, {name: tensor} out

The streamed sources (image folders, CSV files, TFRecord files) read batch by batch and
transform each with the same NumPy functions as data in memory (`specc.data.transforms`),
through `tf.numpy_function`: this is that step, once. Generated scripts copy it
(`specc.emit.runtime` follows the import), so they transform alike.
"""

from __future__ import annotations


def transform_batch(x, y, transform, x_like, y_like):
    """(x, y), dicts of a batch's tensors by name, transformed by `transform` (NumPy, on dicts);
    x_like, y_like: transformed NumPy arrays of the same names, whose dtypes and shapes (but the
    batch's length) the results take."""
    import tensorflow as tf

    x_names, y_names = list(x), list(y)
    likes = [x_like[name] for name in x_names] + [y_like[name] for name in y_names]

    def numpy_transform(*arrays):
        tx, ty = transform(dict(zip(x_names, arrays)), dict(zip(y_names, arrays[len(x_names):])))
        out = [tx[name] for name in x_names] + [ty[name] for name in y_names]
        return [array.astype(like.dtype) for array, like in zip(out, likes)]

    dtypes = [tf.as_dtype(like.dtype) for like in likes]
    arrays = tf.numpy_function(numpy_transform, [*x.values(), *y.values()], dtypes)
    for array, like in zip(arrays, likes):
        array.set_shape((None, *like.shape[1:]))
    return dict(zip(x_names, arrays)), dict(zip(y_names, arrays[len(x_names):]))
