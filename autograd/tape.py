"""The tape: a graph's nodes in evaluation order, and their listing as a Wengert list."""

from __future__ import annotations

from collections import Counter
from typing import Any

from autograd.engine import Value, topological_order

__all__ = ["format_tape", "node_names", "topological_order"]

_INFIX = {"+", "-", "*", "/", "**"}


def node_names(order: list[Value]) -> dict[Value, str]:
    """A stable, unique name for each node of a tape.

    A node is called by its label when no other node in the graph shares it,
    `label#i` when several do, and `vi` when it has none, where `i` is its
    position in `order`. `format_tape` and `draw_dot` both use these names.
    """
    counts = Counter(v.label for v in order if v.label)
    names = {}
    for i, v in enumerate(order):
        if not v.label:
            names[v] = f"v{i}"
        elif counts[v.label] == 1:
            names[v] = v.label
        else:
            names[v] = f"{v.label}#{i}"
    return names


def _num(x: Any) -> str:
    x = x.data if isinstance(x, Value) else x
    return f"{x:.6g}"


def format_tape(root: Value) -> str:
    """The graph of `root` as a Wengert list: one line per node, leaves first.

    Each line reads `name = op(inputs)   data=...  grad=...`, for example
    `v7 = tanh(v6)   data=0.7071  grad=1`; constants appear as numbers.
    """
    order = topological_order(root)
    names = node_names(order)
    rows = []
    for v in order:
        if v._fn is None and not v._prev:
            expr = "input"
        else:
            args = v._args if v._args is not None else v._prev
            parts = [names[a] if isinstance(a, Value) else _num(a) for a in args]
            if v._op in _INFIX and len(parts) == 2:
                expr = f"{parts[0]} {v._op} {parts[1]}"
            else:
                expr = f"{v._op}({', '.join(parts)})"
        rows.append((f"{names[v]} = {expr}", f"data={_num(v.data)}", f"grad={_num(v.grad)}"))
    width = max(len(r[0]) for r in rows)
    dwidth = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width}}   {b:<{dwidth}}  {c}" for a, b, c in rows)
