"""A tiny, safe expression language for constraints and sweep filters.

``"fast < slow"``, ``"fast * 2 <= slow and window > 5"``: names, numbers,
arithmetic, comparisons (chains too), ``and/or/not`` and parentheses. Nothing
else is allowed (no calls, attributes or subscripts), so user text can never
run code. Evaluates on scalars or, element-wise, on numpy arrays.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparkbt.errors import ConfigError, did_you_mean

__all__ = ["Condition", "compile_condition"]

_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMP = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


class Condition:
    """A compiled condition over named values."""

    def __init__(self, text: str, names: set[str], fn: Callable[[Mapping[str, Any]], Any]) -> None:
        self.text = text
        self.names = names
        self._fn = fn

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return self._fn(values)

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"


def compile_condition(
    text: str, allowed: set[str] | None = None, *, what: str = "where"
) -> Condition:
    """Parse ``text``; names must be in ``allowed`` (if given). Raises ConfigError."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{what}: cannot parse {text!r} ({exc.msg})") from None
    names: set[str] = set()

    def build(node: ast.AST) -> Callable[[Mapping[str, Any]], Any]:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
            v = node.value
            return lambda _env: v
        if isinstance(node, ast.Name):
            if allowed is not None and node.id not in allowed:
                hint = did_you_mean(node.id, sorted(allowed), show=repr)
                raise ConfigError(
                    f"{what}: unknown name {node.id!r} in {text!r} "
                    f"(known: {', '.join(sorted(allowed))}){hint}"
                )
            names.add(node.id)
            key = node.id
            return lambda env: env[key]
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            op, a, b = _BIN[type(node.op)], build(node.left), build(node.right)
            return lambda env: op(a(env), b(env))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            a = build(node.operand)
            return lambda env: -a(env)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            a = build(node.operand)
            return lambda env: np.logical_not(a(env))
        if isinstance(node, ast.BoolOp):
            parts = [build(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

            def boolop(env: Mapping[str, Any]) -> Any:
                out = parts[0](env)
                for p in parts[1:]:
                    out = combine(out, p(env))
                return out

            return boolop
        if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
            first = build(node.left)
            rest = [
                (_CMP[type(o)], build(c)) for o, c in zip(node.ops, node.comparators, strict=True)
            ]

            def compare(env: Mapping[str, Any]) -> Any:
                left, out = first(env), True
                for op, right_fn in rest:
                    right = right_fn(env)
                    out = np.logical_and(out, op(left, right))
                    left = right
                return out

            return compare
        raise ConfigError(
            f"{what}: {text!r} may only use names, numbers, + - * / // % **, comparisons, "
            "and/or/not and parentheses"
        )

    return Condition(text, names, build(tree))
