"""The `data:` section of a spec, as pydantic models.

Like `specc.schema`, this checks structure only and never imports Keras:
whether files exist, arrays are present and shapes fit the model is found
when the data is loaded (`specc.data.load_arrays`, `check_shapes`).

    data:
      source: {builtin: digits}          # exactly one of builtin, keras, npz, csv, images, tfrecord
      features: [{rescale: 0.0625}, {reshape: [8, 8, 1]}]
      labels: [{one_hot: 10}]
      split: {validation: 0.1, test: 0.2}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from specc.errors import describe, did_you_mean
from specc.schema.base import INT64_MAX, Name, Number, PositiveInt, Section, Since

BUILTIN_DATASETS = ("digits",)
# keras.datasets with a load_data() returning ((x_train, y_train), (x_test, y_test)).
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing", "california_housing")
DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


def _one_of(choices: tuple[str, ...], what: str):
    """A string among `choices`, with "did you mean" when it is not (Literal's own message lists them all)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in choices:
            raise PydanticCustomError(
                "specc_data_choice", f"unknown {what} '{value}' (choose from {', '.join(choices)})." + did_you_mean(value, choices))
        return value

    return BeforeValidator(check)


BuiltinName = Annotated[Literal[BUILTIN_DATASETS], _one_of(BUILTIN_DATASETS, "builtin dataset")]  # type: ignore[valid-type]
KerasName = Annotated[Literal[KERAS_DATASETS], _one_of(KERAS_DATASETS, "keras dataset")]  # type: ignore[valid-type]
DType = Annotated[Literal[DTYPES], _one_of(DTYPES, "dtype")]  # type: ignore[valid-type]
Fraction = Annotated[Number, Field(ge=0, lt=1)]
FilePath = Annotated[StrictStr, Field(min_length=1)]
ArrayNames = Union[StrictStr, dict[Name, StrictStr]]


def _exactly_one(model: Section, what: str) -> None:
    given = [name for name in type(model).model_fields if getattr(model, name) is not None]
    if len(given) != 1:
        choices = ", ".join(type(model).model_fields)
        received = f"{len(given)} ({', '.join(given)})" if given else "none"
        raise PydanticCustomError("specc_data_one_key", f"expected exactly one {what}: {choices}; received {received}")


# -- sources ------------------------------------------------------------------------


class KerasDataset(Section):
    """A `keras.datasets` dataset with keyword arguments for its `load_data`, e.g. {name: imdb, num_words: 10000}."""

    # Any other key is a keyword argument of keras.datasets.<name>.load_data, checked against its signature on loading.
    model_config = ConfigDict(extra="allow", strict=True)

    name: KerasName = Field(description="The dataset: " + ", ".join(KERAS_DATASETS) + ".")


class NpzSource(Section):
    """Arrays in a NumPy .npz file (saved with numpy.savez); object arrays are refused, nothing is unpickled."""

    path: FilePath = Field(description="The .npz file, relative to the spec file.")
    x: ArrayNames = Field("x", description="The features' array name, or a mapping {model input name: array name}.")
    y: ArrayNames = Field("y", description="The labels' array name, or a mapping {model output name: array name}.")
    x_test: Annotated[Union[ArrayNames, None], Since(2)] = Field(
        None, description="The file's own test features (like x), e.g. x_test; with y_test, the test set instead of a fraction.")
    y_test: Annotated[Union[ArrayNames, None], Since(2)] = Field(
        None, description="The file's own test labels (like y), e.g. y_test.")

    @model_validator(mode="after")
    def _test_arrays_in_pairs(self) -> "NpzSource":
        if (self.x_test is None) != (self.y_test is None):
            given, missing = ("x_test", "y_test") if self.y_test is None else ("y_test", "x_test")
            raise PydanticCustomError("specc_data_test_arrays", f"{given} needs {missing} too: the test set's features and labels")
        return self


class CsvSource(Section):
    """A CSV file with a header row: one label column; every other column is a numeric feature (float32), or text."""

    path: FilePath = Field(description="The .csv file, relative to the spec file.")
    label: StrictStr = Field(description="The header of the label column. Text labels become class indices, in sorted order.")
    text: Annotated[Union[Annotated[list[StrictStr], Field(min_length=1)], None], Since(2)] = Field(
        None, description="Text columns: each feeds the model input of its name as strings (dtype: string, shape: [1]), "
                          "e.g. into TextVectorization; the numeric columns, if any, feed the model's one other input.")
    stream: Annotated[Union[StrictBool, None], Since(2)] = Field(
        None, description="true: read line by line while training, never the whole file in memory (for files too "
                          "large to load); numeric features only. Unshuffled, it trains exactly as the file loaded whole.")

    @model_validator(mode="after")
    def _stream_numbers(self) -> "CsvSource":
        if self.stream and self.text:
            raise PydanticCustomError("specc_data_stream_text", "a streamed CSV has numeric features only: load the "
                                      "file whole for its text columns (no stream), or write the text to TFRecords")
        return self


class ImagesSource(Section):
    """A folder with one sub-folder of images per class, read by keras.utils.image_dataset_from_directory."""

    path: FilePath = Field(description="The folder, relative to the spec file; class names are its sub-folders, sorted.")
    image_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = Field(
        description="[height, width]: every image is resized to it.")
    color_mode: Literal["rgb", "grayscale", "rgba"] = Field("rgb", description="1, 3 or 4 channels.")
    stream: Annotated[Union[StrictBool, None], Since(2)] = Field(
        None, description="true: read lazily, batch by batch, never the whole folder in memory (for folders too large "
                          "to load); trains exactly as the folder loaded whole.")


class RecordFeature(Section):
    """One feature of the tf.train.Example records, as tf.io.FixedLenFeature reads it."""

    shape: list[PositiveInt] = Field(default_factory=list, description="Its shape per record; [] for one number.")
    dtype: Literal["float32", "int64"] = Field(description="float32 (a FloatList) or int64 (an Int64List).")


class TFRecordSource(Section):
    """TFRecord files of tf.train.Example records, streamed through tf.data (never loaded whole)."""

    files: FilePath = Field(description="A glob of the files, relative to the spec file (e.g. shards/train-*.tfrecord); "
                                        "read in sorted order, shuffled by file and in a buffer when training shuffles.")
    features: dict[Name, RecordFeature] = Field(min_length=1, description="The records' features: name -> {shape, dtype}.")
    x: ArrayNames = Field(description="The features' feature name, or a mapping {model input name: feature name}.")
    y: ArrayNames = Field(description="The labels' feature name, or a mapping {model output name: feature name}.")
    compression: Literal["", "GZIP", "ZLIB"] = Field("", description="The files' compression.")

    @model_validator(mode="after")
    def _named_features(self) -> "TFRecordSource":
        for key in ("x", "y"):
            names = [getattr(self, key)] if isinstance(getattr(self, key), str) else list(getattr(self, key).values())
            unknown = [name for name in names if name not in self.features]
            if unknown:
                raise PydanticCustomError("specc_data_record_feature", f"{key}: {', '.join(map(repr, unknown))} is "
                                          f"not among the features ({', '.join(self.features)})."
                                          + did_you_mean(unknown[0], list(self.features)))
        return self


class Source(Section):
    """Where the data comes from: exactly one key."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    builtin: Union[BuiltinName, None] = Field(
        None, description="A dataset shipped with specc: digits (8x8 handwritten digits, 1797 samples, 10 classes).")
    keras: Union[KerasName, KerasDataset, None] = Field(
        None, description="A keras.datasets dataset, read through Keras's cache (~/.keras/datasets, or $KERAS_HOME/datasets).")
    npz: Union[NpzSource, None] = Field(None, description="Arrays in a NumPy .npz file.")
    csv: Union[CsvSource, None] = Field(None, description="A CSV file with a header row and one label column.")
    images: Union[ImagesSource, None] = Field(None, description="A folder of images, one sub-folder per class.")
    tfrecord: Annotated[Union[TFRecordSource, None], Since(2)] = Field(
        None, description="TFRecord files of tf.train.Example records, streamed.")

    @model_validator(mode="after")
    def _one_source(self) -> "Source":
        _exactly_one(self, "source")
        return self


# -- transforms ---------------------------------------------------------------------


def _reshape_dims(value: Any) -> Any:
    numbers = isinstance(value, list) and all(type(d) is int for d in value)
    if numbers and (any(d == 0 or d < -1 or d > INT64_MAX for d in value) or value.count(-1) > 1):  # sizes are int64
        raise PydanticCustomError(
            "specc_data_reshape", f"expected positive sizes, with at most one -1 (the size that fits); received {describe(value)}")
    return value


class Pad(Section):
    """Pad or truncate variable-length integer sequences (imdb, reuters) to one length, as keras.utils.pad_sequences."""

    length: PositiveInt = Field(description="The length of every sequence after padding or truncating.")
    padding: Literal["pre", "post"] = Field("pre", description="Pad before (pre) or after (post) each sequence.")
    truncating: Literal["pre", "post"] = Field("pre", description="Drop values from the start (pre) or the end (post).")
    value: Annotated[StrictInt, Field(ge=-2**31, lt=2**31)] = Field(0, description="The padding value.")  # pad makes int32 arrays


class Transform(Section):
    """One transform, a one-key mapping: rescale, reshape, cast, one_hot or pad."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    rescale: Union[Number, None] = Field(
        None, description="Multiply by this factor (the result is float32), e.g. 0.00392156862745098 for 1/255.")
    reshape: Union[Annotated[list[StrictInt], Field(min_length=1), BeforeValidator(_reshape_dims)], None] = Field(
        None, description="The per-sample shape, without the batch dimension; one size may be -1.")
    cast: Union[DType, None] = Field(None, description="Convert to this dtype.")
    one_hot: Union[PositiveInt, None] = Field(None, description="Integer class labels to one-hot vectors of this many classes.")
    pad: Union[Pad, None] = Field(None, description="Pad or truncate variable-length sequences.")

    @model_validator(mode="after")
    def _one_transform(self) -> "Transform":
        _exactly_one(self, "transform")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)

    @property
    def argument(self) -> Any:
        return getattr(self, self.kind)


Transforms = Union[list[Transform], dict[Name, list[Transform]]]


class Split(Section):
    """Fractions carved, seeded by the spec's `seed`, from what the source lacks."""

    validation: Fraction = Field(0.0, description="The fraction of the training data held out for validation.")
    test: Fraction = Field(0.0, description="The fraction held out for testing; sources with their own test set (keras) keep theirs.")

    @model_validator(mode="after")
    def _leaves_training_data(self) -> "Split":
        if self.validation + self.test >= 1:
            raise PydanticCustomError(
                "specc_data_split", f"validation + test must leave data to train on; received {self.validation} + {self.test}")
        return self


def _streaming(source: Source) -> str | None:
    """How a source is read while training, when it is not held in memory."""
    if source.tfrecord is not None:
        return "TFRecord files, streamed"
    if source.images is not None and source.images.stream:
        return "an image folder, streamed"
    if source.csv is not None and source.csv.stream:
        return "a CSV file, streamed"
    return None


class DataSection(Section):
    """The training data: a source, transforms of features and labels, and a split."""

    source: Source = Field(description="Where the data comes from: builtin, keras, npz, csv or images.")
    features: Transforms = Field(
        default_factory=list,
        description="Transforms of the inputs, in order; a mapping {model input name: [...]} for models with several inputs.")
    labels: Transforms = Field(
        default_factory=list,
        description="Transforms of the targets, in order; a mapping {model output name: [...]} for models with several outputs.")
    split: Split = Field(default_factory=Split, description="Validation and test fractions carved from the source.")
    shuffle_buffer: Union[PositiveInt, None] = Field(None, description="The shuffle buffer size; default: the whole training set.")
    validation: Annotated[Union[Source, None], Since(2)] = Field(
        None, description="Validation data from a source of its own, instead of split.validation: read, transformed "
                          "and checked as the training source is; text labels and image folders mapped to its classes.")
    test: Annotated[Union[Source, None], Since(2)] = Field(
        None, description="Test data from a source of its own, instead of split.test, like `validation`.")

    @model_validator(mode="after")
    def _one_test_set(self) -> "DataSection":
        own = ("the npz source's own test set (x_test, y_test)" if self.source.npz is not None and self.source.npz.x_test
               is not None else "the keras dataset's own test set" if self.source.keras is not None else None)
        if own is not None and self.split.test > 0 and self.source.npz is not None:
            raise PydanticCustomError("specc_data_test_set", "the npz source gives its own test set (x_test, y_test), "
                                      f"so split.test: {self.split.test} would be a second one: remove one of the two")
        if self.source.tfrecord is not None and (self.split.validation > 0 or self.split.test > 0):
            raise PydanticCustomError("specc_data_split_source", "TFRecord files are streamed, not carved: give "
                                      "data.validation and data.test sources of their own (other files)")
        for key, fraction in (("validation", self.split.validation), ("test", self.split.test)):
            given = getattr(self, key)
            if given is None:
                continue
            if _streaming(given) != _streaming(self.source):
                ours, theirs = _streaming(self.source) or "held in memory", _streaming(given) or "held in memory"
                raise PydanticCustomError("specc_data_split_source", f"data.{key} is {theirs}, the training source "
                                          f"{ours}: a split is read as the training data is (both streamed alike, or "
                                          "both loaded)")
            if fraction > 0:
                raise PydanticCustomError("specc_data_test_set", f"data.{key} is a source of its own, so split.{key}: "
                                          f"{fraction} would be a second {key} set: remove one of the two")
            if key == "test" and own is not None:
                raise PydanticCustomError("specc_data_test_set", f"data.test would be a second test set beside {own}: "
                                          "remove one of the two")
            if given.keras is not None or (given.npz is not None and given.npz.x_test is not None):
                raise PydanticCustomError("specc_data_split_source", f"data.{key} is one set: a keras dataset, or an npz "
                                          "file's x_test, gives two (name the arrays of one with npz x and y)")
        return self
