"""The transforms of `data.features` and `data.labels`, on NumPy arrays (first axis = samples).

Each takes an array and the transform's argument and returns a new array, or
raises TransformError with a message for the user; the caller locates it at
the transform's entry in the spec.

A generated script contains these very functions (specc.emit.runtime copies
their source): everything from TransformError to pad uses only NumPy as `np`
and the builtins, and takes plain values, never specc's objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class TransformError(ValueError):
    """A transform that cannot apply to this data; the message says why."""


def shape_text(shape: tuple | list) -> str:
    """A shape as the spec writes it: [28, 28, 1]."""
    return "[" + ", ".join(map(str, shape)) + "]"


def size_of(shape: tuple | list) -> int:
    """How many values an array of this shape holds (1 for a scalar's shape, ())."""
    return int(np.prod(shape, dtype=object))  # Python integers: int64 would wrap past 2**63


def check_numeric(x: np.ndarray, kind: str) -> None:
    """Raise TransformError unless x holds numbers (or booleans) in fixed-size samples."""
    if x.dtype == object:
        raise TransformError(f"{kind} needs fixed-size samples; these are variable-length "
                             "sequences: pad them first (- pad: {length: N})")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TransformError(f"{kind} needs numbers; the data's dtype is {x.dtype}")


def rescale(x: np.ndarray, factor: float) -> np.ndarray:
    """x times factor, in x's float dtype when it has one of 32 bits or more, else float32."""
    check_numeric(x, "rescale")
    floating = np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize >= 4
    dtype = x.dtype if floating else np.float32
    return x.astype(dtype, copy=False) * np.asarray(factor, dtype=dtype)


def reshape(x: np.ndarray, shape: list[int]) -> np.ndarray:
    """Each sample to `shape` (one size may be -1)."""
    check_numeric(x, "reshape")
    sample = x.shape[1:]
    size = size_of(sample)
    if -1 in shape:
        known = size_of([d for d in shape if d != -1])
        if size % known:
            raise TransformError(f"cannot reshape samples of shape {shape_text(sample)} "
                                 f"({size} values) to {shape_text(shape)}: "
                                 f"{size} is not a multiple of {known}")
        shape = [size // known if d == -1 else d for d in shape]
    if size_of(shape) != size:
        raise TransformError(f"cannot reshape samples of shape {shape_text(sample)} "
                             f"({size} values) to {shape_text(shape)} ({size_of(shape)} values)")
    return x.reshape((x.shape[0], *shape))


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    """x as `dtype` (a NumPy dtype name: float32, int64, ...)."""
    check_numeric(x, "cast")
    return x.astype(dtype)


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    """Integer class labels (shape (n,) or (n, 1)) to float32 one-hot vectors."""
    check_numeric(y, "one_hot")
    labels = y
    if y.ndim > 1 and y.shape[-1] == 1:  # (n, 1) labels, as cifar's
        labels = y.reshape(y.shape[0], *y.shape[1:-1])
    if labels.ndim != 1:
        raise TransformError("one_hot takes one integer class label per sample; these samples "
                             f"have shape {shape_text(y.shape[1:])}")
    floating = np.issubdtype(labels.dtype, np.floating)
    if floating and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))):
        raise TransformError("one_hot takes integer class labels; these have fractions")
    ints = labels.astype(np.int64)
    if ints.size and (ints.min() < 0 or ints.max() >= classes):
        bad = ints.min() if ints.min() < 0 else ints.max()
        raise TransformError(f"label {bad} is outside 0..{classes - 1} (one_hot: {classes}); "
                             f"the labels range over {ints.min()}..{ints.max()}")
    out = np.zeros((ints.shape[0], classes), dtype=np.float32)
    out[np.arange(ints.shape[0]), ints] = 1.0
    return out


def pad(x: np.ndarray, length: int, padding: str = "pre", truncating: str = "pre",
        value: int = 0) -> np.ndarray:
    """Every sequence to `length`, padded and truncated as keras.utils.pad_sequences does.

    padding and truncating: "pre" (at the start) or "post" (at the end).
    """
    out = np.full((len(x), length), value, dtype=np.int32)
    for i, seq in enumerate(x):
        seq = np.asarray(seq)
        if seq.ndim != 1:
            raise TransformError(f"pad takes sequences of integers; sample {i} has shape "
                                 f"{shape_text(seq.shape)}")
        if seq.size and not np.issubdtype(seq.dtype, np.integer):
            raise TransformError(f"pad takes sequences of integers; sample {i} holds "
                                 f"{seq.dtype} values")
        seq = seq[-length:] if truncating == "pre" else seq[:length]
        if padding == "pre":
            out[i, length - seq.size:] = seq
        else:
            out[i, :seq.size] = seq
    return out


# -- specc's own: the transforms by kind, for schema.Transform items --------------------


def _pad(x: np.ndarray, args: Any) -> np.ndarray:
    """pad with its argument, an ir.Pad."""
    return pad(x, args.length, args.padding, args.truncating, args.value)


APPLY: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "rescale": rescale,
    "reshape": reshape,
    "cast": cast,
    "one_hot": one_hot,
    "pad": _pad,
}


def apply(x: np.ndarray, transforms: list, on_error: Callable[[int, str, str], Exception]) -> np.ndarray:
    """`transforms` (schema.Transform items) in order; `on_error(index, kind, message)` makes the exception to raise."""
    for i, transform in enumerate(transforms):
        try:
            x = APPLY[transform.kind](x, transform.argument)
        except TransformError as err:
            raise on_error(i, transform.kind, str(err)) from None
        except (MemoryError, ValueError) as err:  # one_hot or pad past memory, or past NumPy's largest array
            raise on_error(i, transform.kind, f"its result does not fit in memory: {err}") from None
    return x
