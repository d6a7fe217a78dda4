"""`${params.NAME}` resolved everywhere but inside block bodies (their instances resolve them, with block parameters).

Params may use other params (up to MAX_PARAM_DEPTH deep); cycles are an error.
Unresolvable references are reported and left in place as `Deferred`, so
later passes skip them rather than report the same mistake again.
"""

from __future__ import annotations

from typing import Any, Callable

from specc.codes import Code
from specc.errors import split_where
from specc.lower.interpolate import Deferred, Unresolved, dotted_lookup, interpolate


MAX_PARAM_DEPTH = 64  # params resolve by recursion; a longer chain is surely a mistake


def _in_block_body(path: tuple) -> bool:
    return len(path) == 4 and path[0] == "model" and path[1] == "blocks" and path[3] == "layers"


def resolve_params(data: dict, report: Callable) -> dict:
    """The spec with `${params.NAME}` resolved everywhere but inside block bodies."""
    raw_params = data.get("params")
    if not isinstance(raw_params, dict):
        raw_params = {}
    resolved: dict[str, Any] = {}
    resolving: list[str] = []

    def on_error(code: Code, path: tuple, message: str) -> None:
        where, key = split_where(path)
        report(code, path, where, f"{key}: {message}" if key else message)

    def param(name: str, path: tuple) -> Any:
        # Params may use other params; resolve on demand and refuse cycles.
        if name in resolved:
            return resolved[name]
        if name in resolving:
            raise Unresolved(Code.PARAMS_CYCLE, "params cycle: " + " -> ".join([*resolving[resolving.index(name):], name]))
        if len(resolving) >= MAX_PARAM_DEPTH:
            raise Unresolved(Code.PARAMS_CYCLE, f"params refer to each other more than {MAX_PARAM_DEPTH} deep ({resolving[0]} -> ...)")
        resolving.append(name)
        try:
            resolved[name] = interpolate(raw_params[name], lambda expr: lookup(expr), on_error, path)
        finally:
            resolving.pop()
        return resolved[name]

    def lookup(expr: str) -> Any:
        if not expr.startswith("params."):
            hint = f" Did you mean '${{params.{expr}}}'?" if expr.split(".")[0] in raw_params else ""
            raise Unresolved(Code.UNDEFINED_REFERENCE, f"undefined ${{{expr}}}: spec values can use ${{params.NAME}}.{hint}")
        head = expr[len("params."):].split(".")[0]
        if head in raw_params:
            param(head, ("params", head))
        return dotted_lookup({**raw_params, **resolved}, expr[len("params."):], "params")

    for name in raw_params:
        try:
            param(name, ("params", name))
        except Unresolved as err:
            on_error(err.code, ("params", name), str(err))
            raw = raw_params[name]
            resolved[name] = Deferred(raw) if isinstance(raw, str) else raw

    out = interpolate({k: v for k, v in data.items() if k != "params"}, lookup, on_error, skip=_in_block_body)
    if "params" in data:
        out["params"] = resolved if isinstance(data["params"], dict) else data["params"]
    return out
