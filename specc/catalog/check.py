"""Keras objects in a spec, checked against the catalog of Keras's API.

A Keras object is written as its string identifier (`adam`, `relu`,
`glorot_uniform`) or as a one-key mapping `{ClassName: {arguments}}`. This
module checks the name against the catalog (with "did you mean" for
misspellings, for a class name written where an identifier goes or the other
way round, and for arguments that Keras renamed), every argument name against
the class's signature (including the keys Keras reads from `**kwargs`), and
every argument value against the type the catalog infers plus the
hand-written ranges and choices in `schemas/keras_rules.yaml`. It reports
problems through a callback and never raises for a user mistake, so one pass
finds them all.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Annotated, Any, Callable, Optional, Union

import yaml
from annotated_types import Ge, Gt, Le, Len, Lt
from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr, TypeAdapter, ValidationError

from specc.catalog import ArgInfo, Catalog, ClassInfo
from specc.codes import Code
from specc.errors import describe, did_you_mean
from specc.lower.interpolate import Deferred
from specc.resources import data_dir

# report(code, path, where, message, at_key): `code` is the kind of mistake (specc.codes),
# `path` locates the problem in the spec, `where` names the object as a person reads it
# (`model.layers[3] (Dense)`), and at_key points at the mapping key rather than its value.
Report = Callable[[Code, tuple, str, str, bool], None]

# Kinds whose integer arguments stay Python numbers (EarlyStopping's patience); every other kind's
# integers become tensors or shapes, so anything past int64 fails inside Keras ("out-of-range integer").
PYTHON_ONLY_KINDS = frozenset({"callback"})
INT64 = (-(2**63), 2**63 - 1)
FLOAT32_MAX = 3.4028234663852886e38

NESTED_KINDS = ("activation", "initializer", "regularizer", "constraint")
OBJECT_ARGUMENTS = (*NESTED_KINDS, "learning_rate", "layer", "layers")  # argument types whose values are Keras objects

# Arguments that Keras renamed, as older code and tutorials still spell them: the old name -> (its name
# now, the Keras that spelled it so, the classes it was theirs in; None: any class that has the new name).
# Names Keras 3 still reads are not here (LeakyReLU's `alpha`, the optimizers' ignored `decay`): they are accepted.
RENAMED_ARGUMENTS: dict[str, tuple[str, str, frozenset | None]] = {
    "lr": ("learning_rate", "Keras 2", None),  # the optimizers
    "epsilon": ("min_delta", "Keras 2", frozenset({"ReduceLROnPlateau"})),
    "output_dim": ("units", "Keras 1", None),  # Dense, the recurrent layers (Embedding keeps output_dim)
    "init": ("kernel_initializer", "Keras 1", None),
    "inner_init": ("recurrent_initializer", "Keras 1", None),
    "W_regularizer": ("kernel_regularizer", "Keras 1", None),
    "U_regularizer": ("recurrent_regularizer", "Keras 1", None),
    "b_regularizer": ("bias_regularizer", "Keras 1", None),
    "W_constraint": ("kernel_constraint", "Keras 1", None),
    "b_constraint": ("bias_constraint", "Keras 1", None),
    "bias": ("use_bias", "Keras 1", None),
    "nb_filter": ("filters", "Keras 1", None),
    "filter_length": ("kernel_size", "Keras 1", None),
    "border_mode": ("padding", "Keras 1", None),
    "subsample": ("strides", "Keras 1", None),
    "subsample_length": ("strides", "Keras 1", None),
    "pool_length": ("pool_size", "Keras 1", None),
    "stride": ("strides", "Keras 1", None),
    "dim_ordering": ("data_format", "Keras 1", None),
    "p": ("rate", "Keras 1", None),  # Dropout
    "dropout_W": ("dropout", "Keras 1", None),
    "dropout_U": ("recurrent_dropout", "Keras 1", None),
}


def object_kind(arg: ArgInfo, value: Any) -> str | None:
    """The catalog kind in which a value of this argument is written; None for a plain value.

    The one rule for validation and lowering alike: nested objects are of their argument's kind,
    except that Keras takes any callable as an activation (a layer such as LeakyReLU included);
    a learning rate is a number or a schedule; a `layer` argument (Bidirectional's) is a layer.
    """
    if arg.type in NESTED_KINDS:
        return "layer" if arg.type == "activation" and isinstance(value, dict) else arg.type
    if arg.type == "learning_rate":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "schedule"
    return "layer" if arg.type in ("layer", "layers") else None


def object_items(arg: ArgInfo, value: Any) -> list[tuple[tuple, Any]]:
    """The Keras objects in one argument's value, each with its path below the argument: the value
    itself, or each item of a list where the argument takes a list of layers (RNN's stacked cells)."""
    if arg.type == "layers" and isinstance(value, list):
        return [((i,), item) for i, item in enumerate(value)]
    return [((), value)]


def is_per_output(value: Any, kind: str, catalog: Catalog) -> bool:
    """Whether a loss or metrics value maps output names to values, rather than being one object
    (`{Huber: {delta: 2}}` is one loss; `{cls: mse}` is per output)."""
    return isinstance(value, dict) and not (len(value) == 1 and next(iter(value)) in catalog[kind].classes)


@cache
def load_rules() -> dict:
    """schemas/keras_rules.yaml: ranges and choices Keras enforces beyond its signatures."""
    text = (data_dir("schemas") / "keras_rules.yaml").read_text(encoding="utf-8")
    # libyaml's loader where PyYAML has it: 3 ms against 27 for this file, on every cold start
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def rule_for(cls: ClassInfo, arg: str) -> dict:
    """The rule for one argument of one class: the class's own, else its kind's, else the argument name's."""
    rules = load_rules()
    for scope in (rules.get("classes", {}).get(cls.name, {}), rules.get("kinds", {}).get(cls.kind, {})):
        if arg in scope:
            return scope[arg] or {}
    return rules.get("args", {}).get(arg, {})


PLUGIN_HINT = (" A class of the project's own is named as Keras registers it (package>Name): declare its module "
               "in pyproject.toml's [tool.specc] plugins (or give --plugin MODULE) and run `specc plugins`.")


def suggest(name: object, candidates) -> str:
    """' Did you mean 'X'?': first a name that differs only in case and underscores, as a class name
    does from its string identifier (`LeakyReLU`, `leaky_relu`), else the closest misspelling; for a
    registered name (`mypkg>Block`) that is none of them, where to declare the module that has it."""
    pool = list(candidates)
    if isinstance(name, str):
        folded = name.replace("_", "").lower()
        same = [c for c in pool if c.replace("_", "").lower() == folded and c != name]
        if same:
            return f" Did you mean '{same[0]}'?"
    if isinstance(name, str) and ">" in name:  # a registered name: only another is a likely slip
        return did_you_mean(name, [c for c in pool if ">" in c]) or PLUGIN_HINT
    return did_you_mean(name, pool)


def renamed(cls: ClassInfo, key: object) -> str:
    """" Did you mean 'learning_rate'? (Keras 2 called it 'lr')" for an argument Keras renamed, else ''."""
    entry = RENAMED_ARGUMENTS.get(key) if isinstance(key, str) else None
    if entry is None:
        return ""
    new, keras, classes = entry
    if new not in cls.args or (classes is not None and cls.name not in classes):
        return ""
    return f" Did you mean '{new}'? ({keras} called it '{key}')"


def split_object(value: Any) -> tuple[str, Any] | None:
    """('Adam', {...}) for `{Adam: {...}}` or ('adam', None) for `adam`; None if neither shape."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and len(value) == 1:
        ((name, args),) = value.items()
        if isinstance(name, str):
            return name, args
    return None


@cache
def _adapter(type_name: str, nullable: bool, bounds: tuple, length: int | None = None) -> TypeAdapter | None:
    """A pydantic validator for one catalog type, with numeric bounds applied."""
    constraints = [c(v) for c, v in zip((Gt, Ge, Lt, Le), bounds) if v is not None]

    def bounded(base):
        return Annotated[(base, *constraints)] if constraints else base  # (tuple): Python 3.10 syntax

    scalar = {
        "bool": StrictBool,
        "int": bounded(StrictInt),
        "float": bounded(StrictFloat),  # strict floats still take ints, as Keras does
        "str": StrictStr,
    }
    if type_name in scalar:
        annotation = scalar[type_name]
    elif type_name == "int_or_ints" and length:
        element = bounded(StrictInt)  # one per spatial dimension, as standardize_tuple wants
        annotation = Union[element, Annotated[list[element], Len(length, length)]]
    elif type_name == "int_or_ints":
        element = bounded(StrictInt)
        annotation = Union[element, list[Union[element, None, list[Union[element, None]]]]]
    elif type_name == "shape":
        annotation = list[Union[bounded(StrictInt), None]]
    else:
        return None
    return TypeAdapter(Optional[annotation] if nullable else annotation)


def _first_error(err: ValidationError) -> str:
    messages = []
    for e in err.errors():
        if e["msg"] not in messages:
            messages.append(e["msg"])
    return " or ".join(messages[:3])


class ObjectChecker:
    """Checks Keras objects and their arguments; problems go to `report`."""

    def __init__(self, catalog: Catalog, report: Report):
        self.catalog = catalog
        self.report = report

    # -- objects ---------------------------------------------------------------

    def check_object(self, value: Any, kind: str, path: tuple, label: str) -> ClassInfo | None:
        """A Keras object of `kind` written as an identifier or `{ClassName: {args}}`.

        Returns the class when the value names one (None for identifiers and errors).
        """
        catalog_kind = self.catalog[kind]
        parts = split_object(value)
        if parts is None:
            shape = f"a mapping with {len(value)} keys" if isinstance(value, dict) else describe(value)
            self.report(Code.WRONG_TYPE, path, label, f"expected a {kind} name or a one-key mapping {{ClassName: {{arguments}}}}; received {shape}", False)
            return None
        name, args = parts
        if isinstance(value, str):
            if name in catalog_kind.identifiers:
                return None
            cls = catalog_kind.classes.get(name)
            if cls is not None:
                self._check_required(cls, {}, path, label)
                return cls
            self.report(Code.UNKNOWN_CLASS, path, label, f"unknown {kind} '{name}'." + suggest(name, catalog_kind.names()), False)
            return None
        cls = catalog_kind.classes.get(name)
        if cls is None:
            hint = suggest(name, catalog_kind.classes)
            if name in catalog_kind.identifiers:
                hint = f" '{name}' takes no arguments: write it as a plain string, or use its class."
            self.report(Code.UNKNOWN_CLASS, path + (name,), label, f"unknown {kind} class '{name}'." + hint, True)
            return None
        self.check_args(cls, args, path + (name,), f"{label} ({name})")
        return cls

    # -- arguments -------------------------------------------------------------

    def check_args(self, cls: ClassInfo, args: Any, path: tuple, label: str, reserved: frozenset = frozenset()) -> None:
        """Every argument of `cls` in `args` (a mapping or null), plus required ones present."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            self.report(Code.WRONG_TYPE, path, label, f"arguments must be a mapping of keyword arguments; received {describe(args)}", False)
            return
        for key, value in args.items():
            if key in reserved:
                continue
            arg = cls.args.get(key) if isinstance(key, str) else None
            if arg is None:
                hint = renamed(cls, key) or suggest(key, [*cls.args, *reserved])
                self.report(Code.UNKNOWN_ARGUMENT, path + (key,), label, f"unknown argument '{key}' for {cls.path}.{hint}", True)
                continue
            self.check_value(cls, arg, value, path + (key,), label)
        self._check_required(cls, args, path, label)

    def _check_required(self, cls: ClassInfo, args: dict, path: tuple, label: str) -> None:
        missing = [name for name in cls.required if name not in args]
        if missing:
            names = ", ".join(missing)
            self.report(Code.MISSING_ARGUMENT, path, label, f"missing required argument{'s' if len(missing) > 1 else ''} {names}", False)

    def check_value(self, cls: ClassInfo, arg: ArgInfo, value: Any, path: tuple, label: str) -> None:
        if isinstance(value, Deferred):
            return  # an unresolved ${...}, already reported
        rule = rule_for(cls, arg.name)
        if rule.get("refused") and value is not None:  # null is the default: no code at all
            self.report(Code.BAD_ARGUMENT, path, label, f"{arg.name}: {rule['refused']}", False)
            return
        if arg.type in OBJECT_ARGUMENTS:
            for below, item in object_items(arg, value):
                kind = object_kind(arg, item)
                if kind is not None and not (item is None and (arg.type in NESTED_KINDS or arg.nullable)):
                    self.check_object(item, kind, path + below, f"{label}: {arg.name}")
            return
        if arg.type == "dtype":
            problem = self._dtype_problem(value, arg.nullable)
            if problem:
                self.report(Code.BAD_ARGUMENT, path, label, f"{arg.name}: {problem}", False)
            return

        if arg.length and isinstance(value, list) and len(value) != arg.length:
            plural = "s" if arg.length > 1 else ""
            self.report(Code.BAD_ARGUMENT, path, label, f"{arg.name}: expected an integer or a list of {arg.length} integer{plural},"
                        f" one per spatial dimension of {cls.name}; received {describe(value)}", False)
            return
        bounds = (None,) * 4 if value in rule.get("also", ()) else tuple(rule.get(b) for b in ("gt", "ge", "lt", "le"))
        adapter = _adapter(arg.type, arg.nullable, bounds, arg.length)
        if adapter is None and any(b is not None for b in bounds) and isinstance(value, (int, float)) and not isinstance(value, bool):
            adapter = _adapter("float", False, bounds)  # a number in an argument of several forms (F1Score's threshold)
        if adapter is not None:
            try:
                adapter.validate_python(value)
            except ValidationError as err:
                also = "".join(f" or {v!r}" for v in rule.get("also", ()))
                self.report(Code.BAD_ARGUMENT, path, label, f"{arg.name}: {_first_error(err)}{also} (received {describe(value)})", False)
                return
        problem = (_value_problem(rule, value) or _float32_problem(value)
                   or (_int64_problem(value) if cls.kind not in PYTHON_ONLY_KINDS else ""))
        if problem:
            self.report(Code.BAD_ARGUMENT, path, label, f"{arg.name}: {problem}", False)

    def _dtype_problem(self, value: Any, nullable: bool) -> str:
        """What is wrong with a dtype policy name (`float32`, `mixed_float16`, `int8_from_float32`); '' if nothing."""
        if value is None and nullable:
            return ""
        names = self.catalog.dtype_policies
        if not names or (isinstance(value, str) and value in names):
            return ""  # a catalog without the list (an older one) checks nothing
        if isinstance(value, str) and "_from_" in value:
            mode, _, source = value.partition("_from_")
            if mode.split("/")[0] in self.catalog.dtype_modes and "/" in mode and source in names:
                return ""  # int4/128_from_float32: the parameters are Keras's to check
        examples = "'float32', 'float16', 'bfloat16', 'mixed_float16', 'int32'"
        hint = " Did you mean 'float32'?" if value == "float" else suggest(value, sorted(names))  # NumPy's spelling
        return f"expected a Keras dtype policy name such as {examples}; received {describe(value)}." + hint


def _float32_problem(value: Any) -> str:
    """What is wrong with a finite number past float32's range, which Keras computes in (1e300 ends in
    "Can't convert Python sequence with a value out of range", for a schedule's power as for a callback's
    min_delta); '' if nothing. Infinities are left to the rules: some arguments take them."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, float) and math.isfinite(item) and abs(item) > FLOAT32_MAX:
            return f"{describe(item)} is past the range of a 32-bit float (±{FLOAT32_MAX:.7g}), in which Keras computes"
    return ""


def _int64_problem(value: Any) -> str:
    """What is wrong with integers too large for the 64-bit tensors Keras makes of them; '' if nothing."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
            return (f"{describe(item)} does not fit in a 64-bit integer ({INT64[0]} to {INT64[1]}),"
                    " and Keras makes a tensor of it")
    return ""


def _value_problem(rule: dict, value: Any) -> str:
    """What a rule's `choices`, `values`, `forbidden`, `finite` or `float_only` say is wrong with a value; '' if nothing."""
    if rule.get("finite") and isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number; received {describe(value)}"
    if rule.get("float_only") and isinstance(value, int) and not isinstance(value, bool):
        return f"Keras takes only a float here (it checks isinstance(value, float)): write {value}.0"
    values = rule.get("values")
    if values is not None and not any(value == v and isinstance(value, str) == isinstance(v, str) for v in values):
        allowed = ", ".join(repr(v) for v in values)
        return f"expected one of {allowed}; received {describe(value)}." + suggest(value, [v for v in values if isinstance(v, str)])
    if not isinstance(value, str):
        return ""
    choices = rule.get("choices")
    if choices and (value.lower() if rule.get("fold_case") else value) not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        return f"expected one of {allowed}; received {value!r}." + suggest(value, choices)
    forbidden = [c for c in rule.get("forbidden", "") if c in value]
    if forbidden:
        return f"{value!r} contains {forbidden[0]!r}, which Keras refuses in this argument."
    return ""
