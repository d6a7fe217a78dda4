"""Block instances: a block's layer items with one instance's parameters substituted.

Inside a block, `${name}` reads a block parameter: the instance's value, or
the block's default (`"???"` marks a parameter without one). When a value
substituted whole turns out wrong (`filters: 0`), the error belongs where the
person wrote the 0: `remap` records, for each substituted argument, the path
of the instance's value or of the default, so the layer checks can point there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from specc.catalog.check import Report
from specc.codes import Code
from specc.errors import did_you_mean, dotted, split_where
from specc.lower.interpolate import Deferred, Unresolved, dotted_lookup, substitute
from specc.schema import REQUIRED, Block

RESERVED = frozenset({"inputs", "name", "repeat"})  # keys of an instance that are not block parameters
_WHOLE_REFERENCE = re.compile(r"\$\{\s*(\w+)\s*\}")
_WHOLE_EXPRESSION = re.compile(r"\$\{([^}]*)\}")


class _NotGiven(Unresolved):
    """A parameter without a default that the instance did not give (reported once, for the instance)."""

    def __init__(self, param: str) -> None:
        super().__init__(Code.BLOCK_PARAMETER, param)


@dataclass(frozen=True)
class BlockItem:
    """One layer item of a block, ready to be checked like any other."""

    path: tuple  # where the block defines it
    item: Any  # the item with parameters substituted
    remap: dict[tuple, tuple]  # argument path -> where its substituted value was written
    bound: dict[tuple, str]  # path of a value that is block parameters, whole -> the parameter, or the arithmetic
    # on parameters (`filters * 4`, from "${filters * 4}"), which a code generator writes as Python
    partial: bool  # a block parameter is used inside a longer string


def instance_values(block_name: str, block: Block, args: dict, path: tuple, where: str, report: Report):
    """The parameter values of one instance, and the path each value was written at."""
    values, origins = {}, {}
    for param, default in block.params.items():
        values[param] = default
        origins[param] = ("model", "blocks", block_name, "params", param)
    for key, value in args.items():
        if key in RESERVED:
            continue
        if key not in block.params:
            hint = did_you_mean(key, [*block.params, *RESERVED])
            report(Code.BLOCK_PARAMETER, path + (key,), where, f"block '{block_name}' has no parameter '{key}'.{hint}", True)
            continue
        values[key] = value
        origins[key] = path + (key,)
    missing = [p for p, v in values.items() if v == REQUIRED]
    if missing:
        plural = len(missing) > 1
        report(Code.BLOCK_PARAMETER, path, where, f"missing block parameter{'s' if plural else ''} {', '.join(missing)} "
               f"(block '{block_name}' has no default for {'them' if plural else 'it'})", False)
    return values, origins


def instantiate(block_name: str, block: Block, values: dict, origins: dict, params: dict, report: Report) -> list[BlockItem]:
    """The block's items with `values` (and the spec's `params`) substituted."""

    def resolve(expr: str) -> Any:
        if expr.startswith("params."):
            return dotted_lookup(params, expr[len("params."):], "params")
        if expr not in values:
            raise Unresolved(Code.UNDEFINED_REFERENCE, f"undefined ${{{expr}}}: block '{block_name}' has no parameter '{expr}'." + did_you_mean(expr, values))
        if values[expr] == REQUIRED:
            raise _NotGiven(expr)
        return values[expr]

    items = []
    for j, item in enumerate(block.layers):
        path = ("model", "blocks", block_name, "layers", j)
        remap: dict[tuple, tuple] = {}
        used: list[str] = []  # the block parameters each string reads, for the bindings

        def noting(expr: str) -> Any:
            used.append(expr)
            return resolve(expr)

        bound: dict[tuple, str] = {}
        partial: list[bool] = []
        substituted = _substitute(item, path, noting, origins, remap, report, bound, partial, used)
        items.append(BlockItem(path, substituted, remap, bound, any(partial)))
    return items


def _substitute(value: Any, path: tuple, resolve, origins: dict, remap: dict, report: Report, bound: dict,
                partial: list, used: list) -> Any:
    """`value` with the references substituted; records where a parameter stands whole (`bound`) or in part."""
    if isinstance(value, str) and "${" in value:
        used.clear()
        try:
            result = substitute(value, resolve)
        except _NotGiven:
            return Deferred(value)  # the instance's missing parameter is reported once, for the instance
        except Unresolved as err:
            where, key = split_where(path)
            report(err.code, path, where, f"{key}: {err}" if key else str(err), False)
            return Deferred(value)
        whole = _WHOLE_REFERENCE.fullmatch(value)
        expression = _WHOLE_EXPRESSION.fullmatch(value)
        if whole and whole.group(1) in origins:
            remap[path] = origins[whole.group(1)]
            bound[path] = whole.group(1)
        elif expression and used and all(name in origins for name in used):
            bound[path] = expression.group(1).strip()  # arithmetic on the block's parameters alone
        elif any(expr in origins for expr in used):
            partial.append(True)
        return result
    if isinstance(value, dict):
        return {k: _substitute(v, path + (k,), resolve, origins, remap, report, bound, partial, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, path + (i,), resolve, origins, remap, report, bound, partial, used)
                for i, v in enumerate(value)]
    return value


def remapped(report: Report, remap: dict[tuple, tuple]) -> Report:
    """A report that moves problems in substituted values to where the value was written."""
    if not remap:
        return report

    def moved(code: Code, path: tuple, where: str, message: str, at_key: bool) -> None:
        if at_key:  # a misspelt argument name is the block's own text, whatever its value
            return report(code, path, where, message, at_key)
        for source, origin in remap.items():
            if path[: len(source)] == source:
                return report(code, origin, where, f"{message} (from {dotted(origin)})", False)
        return report(code, path, where, message, at_key)

    return moved
