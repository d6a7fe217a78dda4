"""An `ops` node's expression, computed: keras.ops functions and Python's operators on the tensors.

The tree was checked when the spec was lowered (`specc.lower.expressions`);
this walks it, calling `keras.ops.<function>` for calls and the `operator`
module for operators, which is what the generated script's `a - b` and
`x[:, 0]` do on the same tensors. Nothing here compiles or evaluates text.
"""

from __future__ import annotations

import operator
from typing import Any

from specc.ir import Constant, OpCall, Operator, Sequence, SliceExpr, Subscript, Tensor

BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
          "%": operator.mod, "**": operator.pow, "@": operator.matmul, "<": operator.lt, "<=": operator.le,
          ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
UNARY = {"-": operator.neg, "+": operator.pos, "~": operator.invert}


class SeveralOutputs(ValueError):
    """`Tensor(index)` is a layer's several outputs, used as one tensor: the expression must pick one (`name[0]`)."""

    def __init__(self, index: int, count: int):
        super().__init__(index, count)
        self.index, self.count = index, count


def evaluate(tree: Any, tensors: list, ops) -> Any:
    """The value of `tree`, with `Tensor(k)` as `tensors[k]` and calls as `ops.<function>` (`keras.ops`)."""
    return _Evaluator(tensors, ops).value(tree)


class _Evaluator:
    def __init__(self, tensors: list, ops):
        self.tensors, self.ops = tensors, ops

    def value(self, node: Any, subscripted: bool = False) -> Any:
        if isinstance(node, Tensor):
            value = self.tensors[node.index]
            if isinstance(value, (list, tuple)) and not subscripted:
                raise SeveralOutputs(node.index, len(value))
            return value
        if isinstance(node, Constant):
            return node.value
        if isinstance(node, Sequence):
            items = [self.value(item) for item in node.items]
            return items if node.list else tuple(items)
        if isinstance(node, SliceExpr):
            return slice(*(None if part is None else self.value(part) for part in (node.lower, node.upper, node.step)))
        if isinstance(node, Operator):
            operands = [self.value(item) for item in node.operands]
            return (UNARY if len(operands) == 1 else BINARY)[node.op](*operands)
        if isinstance(node, Subscript):
            return self.value(node.value, subscripted=True)[self.value(node.index)]
        if isinstance(node, OpCall):
            function = getattr(self.ops, node.function)
            return function(*(self.value(arg) for arg in node.args), **{key: self.value(v) for key, v in node.kwargs})
        raise TypeError(f"not an expression node: {node!r}")  # lowering makes only the nodes above
