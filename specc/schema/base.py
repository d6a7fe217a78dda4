"""The leaf of the schema: the base section model and the types every section shares.

Nothing here imports Keras, NumPy or anything of the runtime; every other
schema module builds on this one, and this one on nothing of specc but errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictFloat, StrictInt, StrictStr, WithJsonSchema
from pydantic_core import PydanticCustomError

from specc.errors import describe

# A YAML mapping key that names something in the spec: an input, a layer, a block.
Name = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$", max_length=200)]
# A layer's output, or one output of a multi-output layer: `encoder`, `lstm[1]`.
Reference = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*(\[[0-9]{1,4}\])?$", max_length=210)]
Number = StrictFloat  # strict, yet it takes integers: `loss_weights: {a: 1}` is fine
# Counts and sizes reach TensorFlow as int64 (shapes, batch sizes, steps, buffers): a larger integer is refused
# here, located, rather than as an OverflowError or a TensorFlow traceback at run time.
INT64_MAX = 2**63 - 1
PositiveInt = Annotated[StrictInt, Field(gt=0, le=INT64_MAX)]

# A Keras object: its string identifier (`adam`) or `{ClassName: {arguments}}`.
# The structure is checked here; names and arguments by specc.catalog.check against
# the catalog. The JSON Schema for editors refers to per-kind definitions that
# specc.jsonschema generates from the catalog (every class and argument).
KIND_PLACEHOLDER = "x-specc-kind"


def _keras_object_shape(value: Any) -> Any:
    """A class name, or a mapping with exactly one key: the class, whose value holds its arguments."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "specc_object_type", f"expected a class name or a one-key mapping {{ClassName: {{arguments}}}}; received {describe(value)}")
    if len(value) != 1:
        keys = ", ".join(map(str, value)) or "none"
        raise PydanticCustomError(
            "specc_object_keys", f"expected a one-key mapping {{ClassName: {{arguments}}}}; this one has {len(value)} keys ({keys})"
            + (": is a '-' missing before the second?" if len(value) > 1 else ""))
    ((name, args),) = value.items()
    if not isinstance(name, str):
        raise PydanticCustomError("specc_object_name", f"a class name must be a string; received {name!r}")
    if args is not None and not isinstance(args, dict) and not (name == "ops" and isinstance(args, str)):  # `- ops: "a - b"`
        raise PydanticCustomError(
            "specc_object_arguments", f"{name}: arguments must be a mapping of keyword arguments, like {{units: 10}}; received {describe(args)}")
    return value


def keras_object(kind: str) -> Any:
    # A placeholder that specc.jsonschema swaps for a $ref to the catalog-generated definition.
    return Annotated[Any, PlainValidator(_keras_object_shape), WithJsonSchema({KIND_PLACEHOLDER: kind})]


LayerItem = keras_object("layer_item")
Optimizer = keras_object("optimizer")
Loss = keras_object("loss")
Metric = keras_object("metric")
Callback = keras_object("callback")

# The value OmegaConf and Hydra use for "must be given": a block parameter without a default.
REQUIRED = "???"


def exactly_the_integer(value: Any) -> Any:
    # Literal[1] alone takes True and 1.0, which equal 1 in Python.
    if type(value) is not int:
        raise PydanticCustomError("specc_version", f"expected 1, the spec language's version; received {describe(value)}")
    return value


@dataclass(frozen=True, slots=True)
class Since:
    """Marks an optional field as added in version `version` of the canonical form (specc.lower.canonical).

    While `version` is above `CANONICAL_VERSION`, the field is left out of the
    canonical form whenever it holds None, so adding it changes the content
    hash of no spec written before it existed. Pydantic keeps it as field
    metadata only: it changes neither validation nor the JSON Schema.

    Args:
        version: the canonical form's version that adds the field, one above
            `CANONICAL_VERSION` at the time.

    Example:
        distribution: Annotated[Union[Distribution, None], Since(2)] = None
    """

    version: int

    def __post_init__(self) -> None:
        if type(self.version) is not int or self.version < 2:
            raise ValueError(f"expected the version that adds the field, 2 or above. Received: version={self.version!r}")


class Section(BaseModel):
    """Base of every spec section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)
