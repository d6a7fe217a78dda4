"""The transforms of `data.features` and `data.labels`, on NumPy arrays (first axis = samples).

Each takes an array and the transform's argument and returns a new array, or
raises TransformError with a message for the user; the caller locates it at
the transform's entry in the spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


class TransformError(ValueError):
    """A transform that cannot apply to this data; the message says why."""


def _shape(shape: tuple) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _numeric(x: np.ndarray, kind: str) -> None:
    if x.dtype == object:
        raise TransformError(f"{kind} needs fixed-size samples; these are variable-length sequences: "
                             "pad them first (- pad: {length: N})")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TransformError(f"{kind} needs numbers; the data's dtype is {x.dtype}")


def rescale(x: np.ndarray, factor: float) -> np.ndarray:
    _numeric(x, "rescale")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize >= 4 else np.float32
    return x.astype(dtype, copy=False) * np.asarray(factor, dtype=dtype)


def reshape(x: np.ndarray, shape: list[int]) -> np.ndarray:
    _numeric(x, "reshape")
    sample = x.shape[1:]
    size = math.prod(sample)
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if size % known:
            raise TransformError(f"cannot reshape samples of shape {_shape(sample)} ({size} values) to {_shape(shape)}: "
                                 f"{size} is not a multiple of {known}")
        shape = [size // known if d == -1 else d for d in shape]
    if math.prod(shape) != size:
        raise TransformError(f"cannot reshape samples of shape {_shape(sample)} ({size} values) to {_shape(shape)} "
                             f"({math.prod(shape)} values)")
    return x.reshape((x.shape[0], *shape))


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    _numeric(x, "cast")
    return x.astype(dtype)


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    _numeric(y, "one_hot")
    labels = y.reshape(y.shape[0], *y.shape[1:-1]) if y.ndim > 1 and y.shape[-1] == 1 else y  # (n, 1) labels, as cifar's
    if labels.ndim != 1:
        raise TransformError(f"one_hot takes one integer class label per sample; these samples have shape {_shape(y.shape[1:])}")
    if np.issubdtype(labels.dtype, np.floating) and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))):
        raise TransformError("one_hot takes integer class labels; these have fractions")
    ints = labels.astype(np.int64)
    if ints.size and (ints.min() < 0 or ints.max() >= classes):
        bad = ints.min() if ints.min() < 0 else ints.max()
        raise TransformError(f"label {bad} is outside 0..{classes - 1} (one_hot: {classes}); the labels range over "
                             f"{ints.min()}..{ints.max()}")
    out = np.zeros((ints.shape[0], classes), dtype=np.float32)
    out[np.arange(ints.shape[0]), ints] = 1.0
    return out


def pad(x: np.ndarray, args: Any) -> np.ndarray:
    """Like keras.utils.pad_sequences: every sequence to `length`, padded and truncated at the start or the end."""
    length = args.length
    out = np.full((len(x), length), args.value, dtype=np.int32)
    for i, seq in enumerate(x):
        seq = np.asarray(seq)
        if seq.ndim != 1:
            raise TransformError(f"pad takes sequences of integers; sample {i} has shape {_shape(seq.shape)}")
        if seq.size and not np.issubdtype(seq.dtype, np.integer):
            raise TransformError(f"pad takes sequences of integers; sample {i} holds {seq.dtype} values")
        seq = seq[-length:] if args.truncating == "pre" else seq[:length]
        if args.padding == "pre":
            out[i, length - seq.size:] = seq
        else:
            out[i, :seq.size] = seq
    return out


APPLY: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "rescale": rescale,
    "reshape": reshape,
    "cast": cast,
    "one_hot": one_hot,
    "pad": pad,
}


def apply(x: np.ndarray, transforms: list, on_error: Callable[[int, str, str], Exception]) -> np.ndarray:
    """`transforms` (schema.Transform items) in order; `on_error(index, kind, message)` makes the exception to raise."""
    for i, transform in enumerate(transforms):
        try:
            x = APPLY[transform.kind](x, transform.argument)
        except TransformError as err:
            raise on_error(i, transform.kind, str(err)) from None
    return x
