"""An `ops` node's expression as Python source: `keras.ops.sqrt(keras.ops.sum(keras.ops.square(a - b), axis=1))`.

The checked IR tree (`specc.ir` expression nodes) is turned into a Python
`ast` tree and printed with `ast.unparse`, which places parentheses by
precedence; tensors become the script's variables and calls `keras.ops`
functions. What the script computes is what `specc.build.expressions`
computes: the same functions and operators on the same tensors.
"""

from __future__ import annotations

import ast
from typing import Any

from specc.emit.source import INDENT, LINE_LIMIT, wrapped
from specc.ir import Constant, OpCall, Operator, Sequence, SliceExpr, Subscript, Tensor

BINARY = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "**": ast.Pow,
          "@": ast.MatMult}
UNARY = {"-": ast.USub, "+": ast.UAdd, "~": ast.Invert}
COMPARE = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE, "==": ast.Eq, "!=": ast.NotEq}


def expression_source(tree: Any, variables: list[str], indent: str = "", room: int = 0) -> str:
    """The expression as code; `variables[k]` is the script's variable for `Tensor(k)`.

    On one line when it fits in `LINE_LIMIT` columns after `indent` and `room`; else a call's
    arguments, a list's items or an operator's operands go one per line, as a person wraps them.
    """
    one_line = ast.unparse(_node(tree, variables))
    if len(indent) + room + len(one_line) <= LINE_LIMIT:
        return one_line
    inner = indent + INDENT
    if isinstance(tree, OpCall):
        arguments = [expression_source(arg, variables, inner, 1) for arg in tree.args]
        arguments += [f"{key}={expression_source(value, variables, inner, len(key) + 2)}" for key, value in tree.kwargs]
        return wrapped(f"keras.ops.{tree.function}(", arguments, ")", indent, room)
    if isinstance(tree, Sequence) and tree.items:
        items = [expression_source(item, variables, inner, 1) for item in tree.items]
        return wrapped("[" if tree.list else "(", items, "]" if tree.list else ")", indent, room)
    if isinstance(tree, Operator) and len(tree.operands) == 2:
        # Each operand in parentheses of its own: the operator's precedence then never matters.
        left, right = (_operand(item, variables, inner) for item in tree.operands)
        return f"(\n{inner}{left}\n{inner}{tree.op} {right}\n{indent})"
    return one_line  # a long name or constant: nothing to wrap


def _operand(item: Any, variables: list[str], indent: str) -> str:
    """One operand of a wrapped operator, in parentheses if it is an operation (a wrapped one has its own)."""
    text = expression_source(item, variables, indent, 2)
    return f"({text})" if isinstance(item, Operator) and "\n" not in text else text


def _node(node: Any, variables: list[str]) -> ast.expr:
    if isinstance(node, Tensor):
        return ast.Name(variables[node.index])
    if isinstance(node, Constant):
        return ast.Constant(node.value)
    if isinstance(node, Sequence):
        items = [_node(item, variables) for item in node.items]
        return ast.List(items) if node.list else ast.Tuple(items)
    if isinstance(node, SliceExpr):
        return ast.Slice(*(None if part is None else _node(part, variables) for part in (node.lower, node.upper, node.step)))
    if isinstance(node, Operator):
        operands = [_node(item, variables) for item in node.operands]
        if len(operands) == 1:
            return ast.UnaryOp(UNARY[node.op](), operands[0])
        if node.op in COMPARE:
            return ast.Compare(operands[0], [COMPARE[node.op]()], [operands[1]])
        return ast.BinOp(operands[0], BINARY[node.op](), operands[1])
    if isinstance(node, Subscript):
        return ast.Subscript(_node(node.value, variables), _node(node.index, variables))
    if isinstance(node, OpCall):
        function = ast.Attribute(ast.Attribute(ast.Name("keras"), "ops"), node.function)
        return ast.Call(function, [_node(arg, variables) for arg in node.args],
                        [ast.keyword(key, _node(value, variables)) for key, value in node.kwargs])
    raise TypeError(f"not an expression node: {node!r}")  # lowering makes only the nodes above
