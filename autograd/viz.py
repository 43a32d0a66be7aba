"""Displays of the computation graph: the tape listing (format_tape) and draw_dot pictures."""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from autograd.engine import Value, operands, topological_order

if TYPE_CHECKING:
    import graphviz

__all__ = [
    "GraphvizNotFoundError",
    "draw_dot",
    "format_tape",
    "largest_gradient_path",
    "node_names",
]


# --- the tape listing: a graph's nodes by name, one line each ---------------------------

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
        if v._maker is None and not v._prev:
            expr = "input"
        else:
            args = operands(v)
            parts = [names[a] if isinstance(a, Value) else _num(a) for a in args]
            if v._op in _INFIX and len(parts) == 2:
                expr = f"{parts[0]} {v._op} {parts[1]}"
            else:
                expr = f"{v._op}({', '.join(parts)})"
        rows.append((f"{names[v]} = {expr}", f"data={_num(v.data)}", f"grad={_num(v.grad)}"))
    width = max(len(r[0]) for r in rows)
    dwidth = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width}}   {b:<{dwidth}}  {c}" for a, b, c in rows)


INSTALL_HINT = (
    "Rendering needs the Graphviz 'dot' program, which is not on PATH (the Python package "
    "'graphviz' only writes DOT text). Install it with: sudo apt-get install graphviz "
    "(Debian/Ubuntu), brew install graphviz (macOS) or conda install graphviz (conda). "
    "The DOT text itself is in graph.source."
)

# Node styles, as DOT attribute text. Colours are for a white background.
_LEAF = ' style=filled fillcolor="#dbeafe"'  # inputs and parameters: light blue
_ROOT = ' style=filled fillcolor="#fde68a" peripheries=2'  # the output: amber, double border
_OP = " shape=ellipse fontsize=10 width=0 height=0 margin=0.04"
_HOT_EDGE = 'color="#dc2626" penwidth=2.5'  # highlighted nodes and edges: red
_HOT = " " + _HOT_EDGE
_MORE = " shape=box style=dashed"


class GraphvizNotFoundError(RuntimeError):
    """Raised when a drawing is rendered but the Graphviz `dot` program is not installed."""


def draw_dot(
    root: Value | Sequence[Value],
    rankdir: str = "LR",
    show_grad: bool = True,
    max_nodes: int | None = 300,
    highlight: Iterable[Value] | None = None,
    format: str = "svg",
) -> graphviz.Digraph:
    """Draw the computation graph that produced `root`, for a notebook or a file.

    Each Value becomes a record ``name | data | grad`` (4 significant digits; the name is its
    label, or the ``v<i>`` that `format_tape` prints), and each operation a small node between
    its operands and its result, with constant operands written into it (``** 2``, ``1 -``).
    Leaves (inputs, parameters) are blue, the root is amber, and the Values in `highlight`
    are red. Node ids are the names, so two drawings of the same
    graph have identical DOT source.

    Args:
        root: The output Value, or a list of them (for example a layer's outputs).
        rankdir: Graphviz layout direction: 'LR' (left to right), 'TB', 'RL' or 'BT'.
        show_grad: Show each Value's gradient (its ``.data`` when the gradient is a Value).
        max_nodes: Draw at most this many Values, those closest to the root; the others are
            collapsed into one "… N more nodes" node. ``None`` draws everything.
        highlight: Values to emphasise, for example ``largest_gradient_path(root)``.
        format: Default output format of ``render()`` and ``pipe()``, such as 'svg' or 'png'.

    Returns:
        A ``graphviz.Digraph``: it displays inline in Jupyter, ``.render(path)`` writes a
        file and ``.source`` is the DOT text. Rendering without the Graphviz ``dot`` program
        raises `GraphvizNotFoundError`, which says how to install it.

    Raises:
        TypeError: If `root` is not a Value or a sequence of Values.
        ValueError: If `rankdir`, `max_nodes` or an empty list of roots is given.
    """
    roots = _as_roots(root)
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be 'LR', 'RL', 'TB' or 'BT', got {rankdir!r}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1 (or None for no limit), got {max_nodes}")

    order = _tape(roots)
    names = node_names(order)
    kept = closest(roots, max_nodes) if max_nodes is not None and len(order) > max_nodes else None
    hot_values = set(highlight) if highlight is not None else set()
    is_root = set(roots)
    # Record fields stack vertically when the graph runs left to right; braces turn them back.
    record = "{{ {} }}" if rankdir in ("LR", "RL") else "{}"

    ids: dict[Value, str] = {}  # Value -> its quoted DOT id
    used: set[str] = set()
    lines: list[str] = []
    hidden_operands: dict[str, None] = {}  # op or Value ids with an operand not drawn
    for i, v in enumerate(order):
        if kept is not None and v not in kept:
            continue
        vid = ids[v] = _unique(names[v], i, used)
        fields = [escape(names[v], "{}|<>"), f"data {v.data:.4g}"]
        if show_grad:
            fields.append(f"grad {grad_of(v):.4g}")
        style = _ROOT if v in is_root else "" if v._prev else _LEAF
        hot = _HOT if v in hot_values else ""
        lines.append(f"\t{vid} [label={quote(record.format(' | '.join(fields)))}{style}{hot}]\n")
        head = vid
        if v._op:  # the op node sits between the operands and the result
            head = _unique(names[v] + "/op", i, used)
            lines.append(f"\t{head} [label={quote(escape(op_label(v)))}{_OP}{hot}]\n")
        for child in v._prev:
            if child in ids:
                edge_hot = f" [{_HOT_EDGE}]" if hot and child in hot_values else ""
                lines.append(f"\t{ids[child]} -> {head}{edge_hot}\n")
            else:
                hidden_operands[head] = None
        if v._op:
            lines.append(f"\t{head} -> {vid}{f' [{_HOT_EDGE}]' if hot else ''}\n")
    if kept is not None:
        more = _unique("more", len(order), used)
        hidden = len(order) - len(kept)
        lines.append(f'\t{more} [label="… {hidden} more node{"s" * (hidden > 1)}"{_MORE}]\n')
        lines.extend(f"\t{more} -> {head} [style=dashed]\n" for head in hidden_operands)

    return digraph_class()(
        format=format,
        graph_attr={"rankdir": rankdir},
        node_attr={"shape": "record", "fontsize": "11"},
        body=lines,
    )


def largest_gradient_path(root: Value) -> list[Value]:
    """Follow the largest gradients from `root` back to a leaf, for ``draw_dot(highlight=...)``.

    Args:
        root: The output Value, after ``root.backward()``.

    Returns:
        The Values from `root` to a leaf, each step taking the operand with the largest |grad|.
    """
    path = [root]
    while path[-1]._prev:
        path.append(max(path[-1]._prev, key=lambda v: abs(grad_of(v))))
    return path


_SHOWN_ARGS = 8  # a variadic op's label lists at most this many entries
_SHOWN_CONSTANTS = 3  # a dot's label writes out at most this many constant terms


def op_label(v: Value) -> str:
    """The op node's text: what the op computes, with its constant operands where they go.

    Operands that are Values arrive as edges; constants have no node of their
    own, so they are written into the label: ``** 2``, ``1 -``,
    ``leaky_relu(·, 0.1)``. The n-ary ops say what they add up, as a learner
    reads them: a neuron's ``Σ w·x (16 terms) + b`` (``b`` a Value times the
    constant 1), ``Σ (5 terms)`` for a sum, ``logsumexp (3 terms)``.
    """
    args = operands(v)
    if v._op == "dot":
        return _dot_label(args)
    if v._op in ("sum", "logsumexp"):
        return _nary_label(v._op, args)
    if all(isinstance(a, Value) for a in args):
        return v._op
    parts = ["·" if isinstance(a, Value) else f"{a:.4g}" for a in args]
    if v._op in _INFIX and len(parts) == 2:
        return f"{v._op} {parts[1]}" if parts[0] == "·" else f"{parts[0]} {v._op}"
    runs: list[str] = []  # long runs of Values as ·×n
    for part, group in itertools.groupby(parts):
        n = len(list(group))
        runs.extend([f"·×{n}"] if part == "·" and n > 3 else [part] * n)
    if len(runs) > _SHOWN_ARGS:
        runs = [*runs[: _SHOWN_ARGS - 1], f"… {len(runs) - _SHOWN_ARGS + 1} more"]
    return f"{v._op}({', '.join(runs)})"


def _terms(n: int) -> str:
    return f"{n} term{'s' * (n != 1)}"


def _dot_label(args: Sequence[Any]) -> str:
    """``w0 x0 + ... + wn xn`` in words: Value pairs counted, constant factors written out.

    A last pair of a Value and the constant 1 is a neuron's bias, ``+ b``:
    a Neuron records ``w . x + b`` as ``dot([*w, b], [*x, 1])``.
    """
    n = len(args) // 2
    pairs = list(zip(args[:n], args[n:]))
    last = pairs[-1] if pairs else (0.0, 0.0)
    bias = any(isinstance(a, Value) for a in last) and any(
        not isinstance(a, Value) and a == 1 for a in last
    )
    if bias:
        pairs.pop()
    both = sum(1 for w, x in pairs if isinstance(w, Value) and isinstance(x, Value))
    scaled = [  # the constant c of each Value times a constant
        x if isinstance(w, Value) else w
        for w, x in pairs
        if isinstance(w, Value) != isinstance(x, Value)
    ]
    fixed = sum(
        float(w) * float(x)
        for w, x in pairs
        if not isinstance(w, Value) and not isinstance(x, Value)
    )
    parts = [f"Σ w·x ({_terms(both)})"] if both else []
    if len(scaled) > _SHOWN_CONSTANTS:
        parts.append(f"Σ c·x ({_terms(len(scaled))})")
    else:
        parts.extend(f"{c:.4g}·x" for c in scaled)
    if bias:
        parts.append("b")
    if fixed or not parts:
        parts.append(f"{fixed:.4g}")
    return _plus(parts)


def _plus(parts: list[str]) -> str:
    """Terms joined by + (a term with a leading minus joined by - instead: ``x - 0.5``)."""
    text = parts[0]
    for part in parts[1:]:
        text += f" - {part[1:]}" if part.startswith("-") else f" + {part}"
    return text


def _nary_label(op: str, args: Sequence[Any]) -> str:
    """``Σ (5 terms)``, ``logsumexp (3 terms)``; constant operands of a sum added as one number."""
    values = sum(1 for a in args if isinstance(a, Value))
    constants = [float(a) for a in args if not isinstance(a, Value)]
    if op == "sum":
        label = f"Σ ({_terms(values)})"
        return _plus([label, f"{sum(constants):.4g}"]) if any(constants) else label
    return f"{op} ({_terms(len(args))})"


def grad_of(v: Value) -> float:
    return float(v.grad if isinstance(v.grad, float | int) else v.grad.data)


def _as_roots(root: Value | Sequence[Value]) -> list[Value]:
    roots = list(root) if isinstance(root, Sequence) else [root]
    if not roots:
        raise ValueError("draw_dot needs at least one Value to draw, got an empty sequence")
    for r in roots:
        if not hasattr(r, "_prev"):
            raise TypeError(f"draw_dot draws Values, got {type(r).__name__}: {r!r}")
    return roots


def _tape(roots: list[Value]) -> list[Value]:
    """Topological order of the graph behind all roots (one root: exactly `format_tape`'s)."""
    if len(roots) == 1:
        return topological_order(roots[0])
    order: dict[Value, None] = {}  # concatenating orders keeps every operand before its result
    for r in roots:
        order.update(dict.fromkeys(topological_order(r)))  # a seen Value keeps its place
    return list(order)


def closest(roots: list[Value], max_nodes: int) -> set[Value]:
    """The `max_nodes` Values nearest the roots, breadth first over the operands."""
    kept = set(roots[:max_nodes])
    queue = deque(roots)
    while queue and len(kept) < max_nodes:
        for child in queue.popleft()._prev:
            if child not in kept and len(kept) < max_nodes:
                kept.add(child)
                queue.append(child)
    return kept


def _unique(name: str, i: int, used: set[str]) -> str:
    """The quoted DOT id for `name`, or `name#i` if taken (by a label such as 'more' or 'x/op')."""
    while name in used:
        name = f"{name}#{i}"
    used.add(name)
    return quote(escape(name))


def escape(text: str, specials: str = "") -> str:
    """Backslash-escape backslashes and `specials` (record labels: the field syntax ``{}|<>``)."""
    for char in "\\" + specials:
        text = text.replace(char, "\\" + char)
    return text


def quote(text: str) -> str:
    """A DOT string literal; inside one, only the double quote is escaped."""
    return '"' + text.replace('"', '\\"') + '"'


@functools.cache
def digraph_class() -> type[Any]:
    """A `graphviz.Digraph` whose rendering explains how to install a missing `dot` program."""
    import graphviz

    @contextlib.contextmanager
    def explain_missing_dot() -> Iterator[None]:
        try:
            yield
        except graphviz.ExecutableNotFound as exc:
            raise GraphvizNotFoundError(INSTALL_HINT) from exc

    # Jupyter's _repr_mimebundle_ and view() go through pipe() and render().
    class Digraph(graphviz.Digraph):  # type: ignore[misc]  # graphviz ships no type hints
        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            with explain_missing_dot():
                return super().pipe(*args, **kwargs)

        def render(self, *args: Any, **kwargs: Any) -> Any:
            with explain_missing_dot():
                return super().render(*args, **kwargs)

        def __repr__(self) -> str:  # stable text (no address) in notebooks and doctests
            n = sum(1 for line in self.body if "[" in line and "->" not in line)
            return f"<Digraph: {n} nodes>"

    Digraph.__qualname__ = Digraph.__name__ = "Digraph"
    return Digraph
