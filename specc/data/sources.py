"""Reading `data.source`: each source to NumPy arrays, as the source has them.

A source gives features `x` and labels `y`, each one array or a mapping
{model input/output name: array}, and, when it has its own, a test set
(the keras datasets). Transforms and splits come after (`specc.data`).
"""

from __future__ import annotations

import csv
import gzip
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from specc.codes import Code
from specc.data.locate import Locator
from specc.errors import did_you_mean, dotted, shown_path
from specc.ir import BuiltinSource, CsvSource, File, ImagesSource, KerasSource, NpzSource
from specc.resources import builtin_data_file

Part = Union[np.ndarray, dict[str, np.ndarray]]


@dataclass
class Raw:
    """What a source holds, before transforms."""

    x: Part
    y: Part
    test: tuple[Part, Part] | None = None  # the source's own test set, if it has one
    name: str = ""  # for messages: "digits", "keras.datasets.mnist", "d.npz"
    classes: list[str] | None = None  # what each class index of y stands for (a CSV's text labels, image folders)


SOURCE = ("data", "source")


def read(source, locate: Locator, base: tuple = SOURCE) -> Raw:
    """The arrays of a source (an IR node: BuiltinSource, KerasSource, ...); a located SpecError when it cannot be read.

    base: where the spec writes it: data.source, or data.validation or data.test (see read_split).
    """
    return READERS[source.kind](source, locate, base)


def read_split(source, locate: Locator, base: tuple, classes: list[str] | None) -> Raw:
    """A validation or test source (at `base`), its class indices those of the training source's `classes`
    (by name: a CSV's text labels, image folders); a located error when the two do not name classes alike."""
    raw = read(source, locate, base)
    if (raw.classes is None) != (classes is None):
        theirs = "class names" if raw.classes is not None else "numbers"
        ours = f"class names ({', '.join(classes)})" if classes is not None else "numbers"
        raise locate.error(Code.LABELS, base + (source.kind,), f"the labels of {raw.name} are {theirs}, but those of the "
                           f"training data are {ours}: a split's labels must be the training data's kind")
    if classes is not None:
        if raw.y is None and hasattr(raw.x, "labels"):  # a streamed folder: its labels are the stream's
            raw.x.labels = _remapped(Raw(None, raw.x.labels, name=raw.name, classes=raw.classes), classes, source, locate, base)
        elif raw.y is None:  # a streamed CSV: its text labels looked up in the training data's classes
            unknown = [c for c in raw.classes if c not in classes]
            if unknown:
                raise locate.error(Code.LABELS, base + ("csv", "label"), f"{raw.name} has labels the training data "
                                   f"does not: {', '.join(map(repr, unknown))} (its classes: {', '.join(classes)})",
                                   where=dotted(base + ("csv",)))
            raw.x.classes = list(classes)
        else:
            raw.y = _remapped(raw, classes, source, locate, base)
        raw.classes = list(classes)
    return raw


def _remapped(raw: Raw, classes: list[str], source, locate: Locator, base: tuple) -> np.ndarray:
    """A validation or test set's class indices as the training set's: by class name."""
    unknown = [c for c in raw.classes if c not in classes]
    if unknown:
        what = "labels" if source.kind == "csv" else "class folders"
        raise locate.error(Code.LABELS, base + (source.kind, "label" if source.kind == "csv" else "path"),
                           f"{raw.name} has {what} the training data does not: {', '.join(map(repr, unknown))} (its classes: "
                           f"{', '.join(classes)})", where=dotted(base + (source.kind,)))
    index = np.array([classes.index(c) for c in raw.classes], dtype=np.int64)
    return index[raw.y]


# -- builtin ------------------------------------------------------------------------


def builtin(name: str) -> Raw:
    """digits: 1797 8x8 images of handwritten digits as 64 values in 0..16 (uint8), labels 0..9."""
    with builtin_data_file(name).open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.uint8)
    return Raw(table[:, :-1], table[:, -1], name=name)


# -- keras.datasets ---------------------------------------------------------------------


def keras_dataset(source: KerasSource, locate: Locator, base: tuple = SOURCE) -> Raw:
    from specc.data import keras_cache

    path = base + ("keras",)
    name, kwargs = source.name, dict(source.kwargs)
    known = keras_cache.load_data_parameters(name)
    for key in kwargs:
        if key not in known:
            takes = ", ".join(known) if known else "no arguments"
            raise locate.error(Code.UNKNOWN_ARGUMENT, path + (key,), f"unknown argument '{key}' for keras.datasets.{name}.load_data (it takes {takes})."
                               + did_you_mean(key, known), where=f"data.source.keras ({name})", at_key=True)
    try:
        (x, y), (x_test, y_test) = keras_cache.load_keras_dataset(name, kwargs)
    except keras_cache.NotCached:
        raise  # under keras_cache.no_downloads(): the caller decides what a set it may not download means
    except keras_cache.CacheProblem as err:
        raise locate.error(Code.KERAS_DATASET, path, str(err)) from err.__cause__
    return Raw(np.asarray(x), np.asarray(y), (np.asarray(x_test), np.asarray(y_test)), f"keras.datasets.{name}")


# -- files ------------------------------------------------------------------------------


def _existing(file: File, path: tuple, locate: Locator, *, folder: bool = False) -> Path:
    """The file (or folder) a spec names (made absolute by lowering); a located error if there is none."""
    target, value = Path(file.path), file.written
    kind = "folder" if folder else "file"
    try:
        found = target.is_dir() if folder else target.is_file()
        exists = target.exists()
    except (OSError, ValueError) as err:  # a name too long, a NUL byte
        raise locate.error(Code.DATA_FILE, path, f"cannot use {value!r}: {getattr(err, 'strerror', None) or err}") from None
    if not found:
        why = f"not a {kind}" if exists else f"no such {kind}"
        raise locate.error(Code.DATA_FILE, path, f"{why}: {value} (looked at {shown_path(target)})")
    return target


def npz(source: NpzSource, locate: Locator, base: tuple = SOURCE) -> Raw:
    at = base + ("npz",)
    file = _existing(source.file, at + ("path",), locate)
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot read {source.file.written} as a .npz file: {err}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{source.file.written} holds one array (a .npy file); specc reads .npz files "
                           "with named arrays (numpy.savez(path, x=..., y=...))")
    with archive:
        names = list(archive.files)

        def array(name: str, path: tuple) -> np.ndarray:
            if name not in names:
                raise locate.error(Code.DATA_NAME, path, f"no array '{name}' in {source.file.written} (it has {', '.join(names) or 'none'})."
                                   + did_you_mean(name, names), where=dotted(at))
            try:
                return archive[name]
            except ValueError as err:  # object arrays need pickle, which specc never runs on a data file
                raise locate.error(Code.DATA_CONTENT, path, f"array '{name}' in {source.file.written} cannot be read without unpickling "
                                   f"Python objects, which specc does not do ({err})", where=dotted(at)) from None
            except (OSError, zipfile.BadZipFile, EOFError) as err:
                raise locate.error(Code.DATA_FILE, path, f"array '{name}' in {source.file.written} is damaged: {err}", where=dotted(at)) from None

        def part(spec: Any, key: str) -> Part:
            if isinstance(spec, str):
                return array(spec, at + (key,))
            return {model_name: array(array_name, at + (key, model_name)) for model_name, array_name in spec.items()}

        test = None if source.x_test is None else (part(source.x_test, "x_test"), part(source.y_test, "y_test"))
        return Raw(part(source.x, "x"), part(source.y, "y"), test=test, name=source.file.written)


def csv_file(source: CsvSource, locate: Locator, base: tuple = SOURCE) -> Raw:
    at = base + ("csv",)
    file = _existing(source.file, at + ("path",), locate)
    if source.stream:  # one pass to check it and find its classes; read line by line when training
        from specc.data.csv_stream import scan_csv

        rows = scan_csv(str(file), source.label, source.file.written, locate, at)
        return Raw(rows, None, name=source.file.written, classes=rows.classes)
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot read {source.file.written}: {err}") from None
    if not rows:
        raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{source.file.written} is empty: it needs a header row and data rows")
    header = [cell.strip() for cell in rows[0][1]]
    if source.label not in header:
        raise locate.error(Code.DATA_NAME, at + ("label",), f"no column '{source.label}' in {source.file.written} (its columns: {', '.join(header)})."
                           + did_you_mean(source.label, header), where=dotted(at))
    if len(rows) < 2:
        raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{source.file.written} has a header row but no data")
    label_at = header.index(source.label)
    text_at = []
    for k, column in enumerate(source.text):
        if column not in header or column == source.label:
            raise locate.error(Code.DATA_NAME, at + ("text", k), f"no text column '{column}' in {source.file.written} (its "
                               f"columns: {', '.join(c for c in header if c != source.label)})." + did_you_mean(column, header),
                               where=dotted(at))
        text_at.append(header.index(column))
    features = [i for i in range(len(header)) if i != label_at and i not in text_at]
    x = np.empty((len(rows) - 1, len(features)), dtype=np.float32)
    texts: list[list[str]] = [[] for _ in text_at]
    labels: list[str] = []
    hint = "every column but the label is a numeric feature" if not text_at else "a column of text is named in `text:`"
    for r, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{source.file.written}, line {line}: {len(row)} values; the header has {len(header)}")
        for c, i in enumerate(features):
            try:
                x[r, c] = float(row[i])
            except ValueError:
                raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{source.file.written}, line {line}, column '{header[i]}': "
                                   f"{row[i].strip()!r} is not a number ({hint})") from None
        for column, i in zip(texts, text_at):
            column.append(row[i])
        labels.append(row[label_at].strip())
    y, classes = _labels(labels)
    if text_at:  # the text columns by name; the numeric ones (if any) under NUMERIC, for the model's other input
        part = {name: np.array(values, dtype=np.str_).reshape(-1, 1) for name, values in zip(source.text, texts)}
        return Raw({**part, **({NUMERIC: x} if features else {})}, y, name=source.file.written, classes=classes)
    return Raw(x, y, name=source.file.written, classes=classes)


NUMERIC = "*"  # a CSV with text columns: the key of its numeric columns, until the model's inputs are known


def _labels(values: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Numeric labels as numbers (int64 when all are whole); text labels as class indices in sorted order,
    with the classes (None for numeric labels)."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        classes = sorted(set(values))
        index = {c: i for i, c in enumerate(classes)}
        return np.array([index[v] for v in values], dtype=np.int64), classes
    if all(math.isfinite(n) and n == int(n) for n in numbers):
        return np.array(numbers, dtype=np.int64), None
    return np.array(numbers, dtype=np.float32), None


def images(source: ImagesSource, locate: Locator, base: tuple = SOURCE) -> Raw:
    """A folder of class folders, read by keras.utils.image_dataset_from_directory.

    That loader yields a batched tf.data.Dataset; specc turns it into arrays
    (this source is meant for small folders) so that transforms, splits and the
    input pipeline are the same code for every source.
    """
    at = base + ("images",)
    folder = _existing(source.file, at + ("path",), locate, folder=True)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise locate.error(Code.DATA_CONTENT, at + ("path",), f"{source.file.written} has no sub-folders: put each class's images in a folder "
                           "named after the class")
    if source.stream:  # the files listed, read batch by batch when training (specc.data.stream)
        from specc.data.stream import image_stream

        try:
            stream, names = image_stream(str(folder), source)
        except ValueError as err:
            raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot read images from {source.file.written}: {err}") from None
        return Raw(stream, None, name=source.file.written, classes=names)
    from specc.build.keras import import_keras  # quiet, and the backend specc was written for

    keras = import_keras()

    try:
        dataset = keras.utils.image_dataset_from_directory(
            str(folder), labels="inferred", label_mode="int", color_mode=source.color_mode, batch_size=256,
            image_size=source.image_size, shuffle=False, verbose=False)
    except ValueError as err:  # no images found, ...
        raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot read images from {source.file.written}: {err}") from None
    xs, ys = [], []
    try:
        for x, y in dataset.as_numpy_iterator():
            xs.append(x)
            ys.append(y)
    except Exception as err:  # tf.errors.InvalidArgumentError: a file with an image extension that is not an image
        raise locate.error(Code.DATA_FILE, at + ("path",), f"cannot decode an image in {source.file.written}: {getattr(err, 'message', err)}") from None
    return Raw(np.concatenate(xs), np.concatenate(ys).astype(np.int64), name=source.file.written,
               classes=list(dataset.class_names))  # the sub-folders, sorted: label i is class_names[i]


def tfrecord(source, locate: Locator, base: tuple = SOURCE) -> Raw:
    """The files of the glob, sorted; their records are read while training (specc.data.records)."""
    import glob

    from specc.data.records import Records

    at = base + ("tfrecord", "files")
    files = sorted(p for p in glob.glob(source.files.path) if Path(p).is_file())
    if not files:
        raise locate.error(Code.DATA_FILE, at, f"no files match {source.files.written} (looked for "
                           f"{shown_path(Path(source.files.path))})")
    return Raw(Records(files, dict(source.features), {}, {}, source.compression), None, name=source.files.written)


def _builtin(source: BuiltinSource, locate: Locator, base: tuple = SOURCE) -> Raw:
    return builtin(source.name)


READERS = {"builtin": _builtin, "keras": keras_dataset, "npz": npz, "csv": csv_file, "images": images,
           "tfrecord": tfrecord}
