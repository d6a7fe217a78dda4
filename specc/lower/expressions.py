"""Tensor expressions: an `ops` item's `keras.ops` code, checked node by node into an IR tree.

    - ops: {name: dist, expr: "sqrt(sum(square(a - b), axis=1, keepdims=True))"}

The text is parsed with `ast` as one Python expression and every node is
checked against a whitelist; the result is a tree of `specc.ir` expression
nodes, which the builder evaluates with `keras.ops` and the code generator
prints as `keras.ops` code. Nothing is ever passed to `eval`, `exec` or
`compile`. What an expression may hold:

* names: the tensors of the model (a layer's or input's name, `input` inside
  a block), each becoming `Tensor(k)`, the k-th input of the node;
* calls of `keras.ops` functions by their bare name (`sqrt(x)`), checked
  against the catalog's signatures: known keyword names, no more positional
  arguments than the function takes, every required one given;
* numbers, strings, `True`, `False`, `None`, `...`; tuples and lists;
* `+ - * / // % ** @`, unary `- + ~`, one comparison (`< <= > >= == !=`);
* subscripts and slices (`pair[:, 0]`, `x[..., ::2]`, `enc[1]`).

Everything else (an attribute, `__import__`, a lambda, a comprehension,
`and`/`or`, `if`/`else`, `*args`, a call of anything but a `keras.ops`
function) is a `BadExpression` naming the node and its column. Size is
bounded too (length, depth, node count), so a hostile expression costs
nothing.
"""

from __future__ import annotations

import ast
from typing import Any

from specc.catalog import OpInfo
from specc.errors import did_you_mean
from specc.ir import Constant, Expression, OpCall, Operator, Sequence, SliceExpr, Subscript, Tensor
from specc.lower.arithmetic import BadExpression

MAX_LENGTH = 2000  # characters: far past any real model's expression
MAX_DEPTH = 40  # nesting of nodes
MAX_NODES = 400

BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
          ast.MatMult: "@"}
UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}
COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_CONSTANTS = (int, float, str, bool, type(None), type(Ellipsis))
_NODE_NAMES = {ast.Attribute: "an attribute", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
               ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
               ast.BoolOp: "and/or", ast.IfExp: "if/else", ast.Dict: "a mapping", ast.Set: "a set",
               ast.NamedExpr: "an assignment (:=)", ast.Starred: "*unpacking", ast.JoinedStr: "an f-string",
               ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}


def parse_expression(text: Any, ops: dict[str, OpInfo]) -> tuple[Expression, tuple[str, ...]]:
    """(the checked tree, the tensor names it uses in order of first use; `Tensor(k)` is the k-th).

    Raises BadExpression saying what is wrong and where in the text.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadExpression("expected an expression of keras.ops functions, as a string, e.g. \"sqrt(square(a - b))\"")
    if len(text) > MAX_LENGTH:
        raise BadExpression(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        where = f" at column {err.offset}" if isinstance(err, SyntaxError) and err.offset else ""
        raise BadExpression(f"not a Python expression{where}: {getattr(err, 'msg', None) or err}") from None
    checker = _Checker(ops)
    result = checker.expression(tree.body, 0)
    if not checker.names:
        raise BadExpression("the expression uses no tensor: name a layer or a model input")
    return result, tuple(checker.names)


class _Checker:
    def __init__(self, ops: dict[str, OpInfo]):
        self.ops = ops
        self.names: list[str] = []
        self.count = 0

    def expression(self, node: ast.AST, depth: int) -> Expression:
        self.count += 1
        if depth > MAX_DEPTH:
            raise BadExpression(f"the expression is nested more than {MAX_DEPTH} deep")
        if self.count > MAX_NODES:
            raise BadExpression(f"the expression has more than {MAX_NODES} parts")
        inner = depth + 1
        if isinstance(node, ast.Constant):
            if type(node.value) not in _CONSTANTS:
                raise _refused(node, f"the constant {node.value!r}")
            return Constant(node.value)
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                self.names.append(node.id)
            return Tensor(self.names.index(node.id))
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            return Operator(BINARY[type(node.op)], (self.expression(node.left, inner), self.expression(node.right, inner)))
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            return Operator(UNARY[type(node.op)], (self.expression(node.operand, inner),))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in COMPARE:
                raise _refused(node, "a chained comparison or `in`/`is`" if len(node.ops) != 1 else f"'{ast.unparse(node)}'",
                               "one comparison of < <= > >= == != at a time")
            return Operator(COMPARE[type(node.ops[0])], (self.expression(node.left, inner),
                                                         self.expression(node.comparators[0], inner)))
        if isinstance(node, (ast.Tuple, ast.List)):
            return Sequence(tuple(self.expression(item, inner) for item in node.elts), isinstance(node, ast.List))
        if isinstance(node, ast.Subscript):
            return Subscript(self.expression(node.value, inner), self.index(node.slice, inner))
        if isinstance(node, ast.Call):
            return self.call(node, inner)
        what = _NODE_NAMES.get(type(node), f"'{ast.unparse(node)}'")
        hint = " (keras.ops functions are called by their bare name: sqrt(x), not ops.sqrt(x))" if isinstance(
            node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("ops", "keras") else ""
        raise _refused(node, what, hint=hint)

    def index(self, node: ast.AST, depth: int) -> Expression:
        if isinstance(node, ast.Slice):
            return SliceExpr(*(None if part is None else self.expression(part, depth + 1)
                               for part in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Tuple):
            return Sequence(tuple(self.index(item, depth + 1) for item in node.elts), False)
        return self.expression(node, depth)

    def call(self, node: ast.Call, depth: int) -> OpCall:
        if not isinstance(node.func, ast.Name):
            written = ast.unparse(node.func)
            kind = _NODE_NAMES.get(type(node.func), "an expression")
            what = f"a call of {kind}" + (f" ('{written}')" if len(written) <= 40 else "")
            raise _refused(node, what, "calls of keras.ops functions, by their bare name: sqrt(x), not ops.sqrt(x)")
        name = node.func.id
        info = self.ops.get(name)
        if info is None:
            raise BadExpression(f"'{name}' at column {node.col_offset + 1} is not a function of keras.ops."
                                + did_you_mean(name, self.ops))
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(k.arg is None for k in node.keywords):
            raise _refused(node, "*args or **kwargs in a call")
        args = tuple(self.expression(arg, depth) for arg in node.args)
        kwargs = tuple((k.arg, self.expression(k.value, depth)) for k in node.keywords)
        _check_signature(info, len(args), [k for k, _ in kwargs], node)
        return OpCall(name, args, kwargs)


def _check_signature(info: OpInfo, positional: int, keywords: list[str], node: ast.Call) -> None:
    """The call against keras.ops's signature, as Python would bind it."""
    where = f"{info.name}() at column {node.col_offset + 1}"
    params = [p for p in info.params if not p.kwargs]
    takes_any_keyword = any(p.kwargs for p in info.params)
    by_position = [p for p in params if not p.keyword and not p.variadic]
    variadic = any(p.variadic for p in params)
    limit = None if variadic else len([p for p in params if not p.keyword])
    if limit is not None and positional > limit:
        raise BadExpression(f"{where} takes at most {limit} positional argument{'s' * (limit != 1)}; received {positional}")
    filled = {p.name for p in by_position[:positional]}
    names = [p.name for p in params if not p.variadic]
    for keyword in keywords:
        if keyword in filled:
            raise BadExpression(f"{where}: '{keyword}' is given twice (by position and by name)")
        if keyword not in names and not takes_any_keyword:
            raise BadExpression(f"{where} has no argument '{keyword}' (it takes {', '.join(names) or 'none'})."
                                + did_you_mean(keyword, names))
        filled.add(keyword)
    missing = [p.name for p in params if p.required and p.name not in filled]
    if missing:
        raise BadExpression(f"{where} is missing its argument{'s' * (len(missing) > 1)} {', '.join(missing)}")


def _refused(node: ast.AST, what: str, allowed: str = "", hint: str = "") -> BadExpression:
    allowed = allowed or ("keras.ops functions by name, tensor names, numbers, strings, tuples and lists, "
                          "arithmetic and comparison operators, subscripts and slices")
    return BadExpression(f"{what} at column {getattr(node, 'col_offset', 0) + 1} is not allowed in an expression "
                         f"(only {allowed}){hint}")
