"""A CSV file too large to load (`csv: {..., stream: true}`): read line by line through tf.data.

    rows = scan_csv(path, label, written, locate, at)   # one pass: checks every row, counts them, finds the classes
    part = rows.take(indices)                           # a split: a mask over the rows, as Arrays.take
    part.sample()                                       # Arrays of its first rows, transformed: what the checks read
    part.dataset(32, shuffle=True, seed=1, shuffle_buffer=None)

The first pass reads the file once with Python's csv module, as `specc.data.sources`
reads a CSV in memory, and holds only the classes and the row count: every row is
checked there (its number of values, its numbers), so a bad row is a located error
before training. Training reads the file again each epoch with `tf.data.TextLineDataset`
and `tf.io.decode_csv`; a split keeps its rows with a mask over the row numbers, in
the file's order, as `split.carve` keeps them, so an unshuffled run trains exactly as
the file loaded whole. Shuffled, the rows of each epoch pass through a buffer
(`data.shuffle_buffer`, default 10,000 rows). Numeric columns only: text columns need
the file loaded whole.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from specc.codes import Code
from specc.data.arrays import Arrays
from specc.data.batches import transform_batch

BUFFER = 10_000  # rows in the shuffle buffer when the spec sets no data.shuffle_buffer


@dataclass
class CsvRows:
    path: str
    header: list[str]
    label_at: int
    label_kind: str  # "classes" (text labels: their index in `classes`), "int64" or "float32"
    classes: list[str] | None
    count: int  # the file's data rows
    input_name: str = ""
    output_name: str = ""
    mask: np.ndarray | None = None  # a split's rows; None: every row
    transform: Callable[[dict, dict], tuple[dict, dict]] = field(default=lambda x, y: (x, y))
    _sample: Arrays | None = None

    def __len__(self) -> int:
        return self.count if self.mask is None else int(self.mask.sum())

    def take(self, index: np.ndarray) -> CsvRows:
        mask = np.zeros(self.count, dtype=bool)
        mask[np.flatnonzero(self.mask)[index] if self.mask is not None else index] = True
        return CsvRows(self.path, self.header, self.label_at, self.label_kind, self.classes, self.count,
                       self.input_name, self.output_name, mask, self.transform)

    def dataset(self, batch_size: int, *, shuffle: bool, seed: int | None, shuffle_buffer: int | None):
        sample = self.sample()
        return csv_dataset(self.path, len(self.header), self.label_at, self.label_kind, self.classes, self.mask,
                           self.input_name, self.output_name, self.transform, batch_size, shuffle, seed,
                           shuffle_buffer or BUFFER, (sample.x, sample.y), len(self))

    def sample(self) -> Arrays:
        """Its first 32 rows, transformed: what the checks before training read."""
        if self._sample is None:
            rows = next(iter(self.dataset_of_rows(32)))
            x, y = self.transform({self.input_name: rows[0].numpy()}, {self.output_name: rows[1].numpy()})
            self._sample = Arrays(x, y)
        return self._sample

    def dataset_of_rows(self, batch_size: int):
        return csv_rows(self.path, len(self.header), self.label_at, self.label_kind, self.classes, self.mask).batch(
            batch_size)

    @property
    def x(self) -> dict[str, np.ndarray]:
        return self.sample().x

    @property
    def y(self) -> dict[str, np.ndarray]:
        return self.sample().y


def is_csv_rows(part: Any) -> bool:
    return isinstance(part, CsvRows)


def scan_csv(path: str, label: str, written: str, locate, at: tuple) -> CsvRows:
    """The one pass over the file: its header, every row checked, the classes of text labels, the rows counted."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as err:
        raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot read {written}: {err}") from None
    header, count, labels, numbers, whole = None, 0, set(), True, True
    with handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = [cell.strip() for cell in row]
                    if label not in header:
                        raise locate.error(Code.DATA_NAME, at + ("label",), f"no column '{label}' in {written} (its "
                                           f"columns: {', '.join(header)})", where="data.source.csv")
                    label_at = header.index(label)
                    continue
                if len(row) != len(header):
                    raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{written}, line {reader.line_num}: "
                                       f"{len(row)} values; the header has {len(header)}")
                for i, cell in enumerate(row):
                    if i != label_at:
                        try:
                            float(cell)
                        except ValueError:
                            raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{written}, line {reader.line_num}, "
                                               f"column '{header[i]}': {cell.strip()!r} is not a number (a streamed CSV "
                                               "has numeric features only)") from None
                value = row[label_at].strip()
                if numbers:
                    try:
                        number = float(value)
                        whole = whole and math.isfinite(number) and number == int(number)
                    except ValueError:
                        numbers = False
                if not numbers:
                    labels.add(value)
                count += 1
        except (UnicodeDecodeError, csv.Error) as err:
            raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot read {written}: {err}") from None
    if header is None or not count:
        raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{written} has no data rows")
    kind = "classes" if not numbers else "int64" if whole else "float32"
    return CsvRows(path, header, label_at, kind, sorted(labels) if not numbers else None, count)


# The functions below are also the generated script's (specc.emit.runtime copies them): standalone, NumPy and
# TensorFlow only, within 100 columns.


def csv_rows(path, columns, label_at, label_kind, classes, mask):
    """The file's data rows, one (features, label) at a time: float32 features, and the label as a
    number, or as its index in `classes`; only the rows `mask` keeps (None: all)."""
    import tensorflow as tf

    lines = tf.data.TextLineDataset(path).skip(1).filter(nonblank)
    if mask is not None:
        keep = tf.constant(mask)

        def kept(index, line):
            return tf.gather(keep, index)

        def line_of(index, line):
            return line

        lines = lines.enumerate().filter(kept).map(line_of)
    # Numbers as float64 first, then float32, as NumPy stores Python's floats: the same roundings.
    number = tf.constant([0.0], dtype=tf.float64)
    defaults = [[""] if i == label_at and label_kind == "classes" else number
                for i in range(columns)]
    table = None
    if label_kind == "classes":
        names = tf.constant(classes)
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            names, tf.range(len(classes), dtype=tf.int64)), -1)

    def decode(line):
        values = tf.io.decode_csv(line, record_defaults=defaults)
        features = tf.cast(tf.stack([v for i, v in enumerate(values) if i != label_at]), tf.float32)
        label = values[label_at]
        if table is not None:
            label = table.lookup(tf.strings.strip(label))
        else:
            label = tf.cast(label, tf.int64 if label_kind == "int64" else tf.float32)
        return features, label

    return lines.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def nonblank(line):
    import tensorflow as tf

    return tf.strings.length(tf.strings.strip(tf.strings.regex_replace(line, ",", ""))) > 0


def csv_dataset(path, columns, label_at, label_kind, classes, mask, input_name, output_name,
                transform, batch_size, shuffle, seed, shuffle_buffer, sample, count):
    """Batches of (features, labels) read from the file each epoch, shuffled in a buffer when
    `shuffle`, transformed by `transform` (NumPy, on dicts); `sample`: the first rows transformed,
    for the dtypes and shapes; `count`: the rows, so that Keras knows the epoch's length."""
    import tensorflow as tf

    rows = csv_rows(path, columns, label_at, label_kind, classes, mask)
    if shuffle:
        rows = rows.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def transformed(features, labels):
        x, y = transform_batch({input_name: features}, {output_name: labels}, transform, *sample)
        return x[input_name], y[output_name]

    batches = rows.batch(batch_size).map(transformed, num_parallel_calls=tf.data.AUTOTUNE,
                                         deterministic=True)
    batches = batches.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return batches.prefetch(tf.data.AUTOTUNE)
