"""draw_network: an MLP drawn as learners draw one, a column of circles per layer."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autograd.engine import Value
from autograd.neuron import weighted_sum

# Private helpers of autograd.viz, shared so both drawings quote, escape and render alike.
from autograd.viz import digraph_class, escape, grad_of, quote
from nn.io import shown
from nn.layers import MLP, Layer, Neuron

if TYPE_CHECKING:
    import graphviz

__all__ = ["draw_network"]

POSITIVE = "#2563eb"  # blue: w > 0 (as TensorFlow Playground draws it)
NEGATIVE = "#dc2626"  # red: w < 0
ZERO = "#9ca3af"  # grey: w == 0, NaN, or edges standing for hidden weights
MIN_PENWIDTH, MAX_PENWIDTH = 0.3, 5.0
DENSE_MAX_PENWIDTH, DENSE = 2.5, 100
"""Above ``DENSE`` drawn edges, the widest is ``DENSE_MAX_PENWIDTH``, so edges stay apart."""
LABEL_EDGES_UP_TO = 40
"""With ``labels=None``, edges carry a text label only when at most this many are drawn."""

_INPUT = ' shape=circle style=filled fillcolor="#f3f4f6"'
_NEURON = " shape=circle style=filled"
_OUTPUT = " peripheries=2"
_MORE = ' shape=box style="dashed,rounded" color="#6b7280" fontcolor="#374151"'
_FILL_POSITIVE, _FILL_NEGATIVE, _FILL_PLAIN = "#dbeafe", "#fee2e2", "white"


@dataclass
class _Unit:
    """One drawn circle: an input or a neuron, with what its label and tooltip say."""

    id: str  # the DOT node name, e.g. "x0" or "l1.n3"
    neuron: Neuron | None  # None for an input
    out: float | None = None  # the neuron's output (the input's value) for x
    z: float | None = None  # the neuron's pre-activation w . x + b for x


def draw_network(
    model: MLP | Layer | Neuron,
    x: Iterable[float | Value] | None = None,
    *,
    rankdir: str = "LR",
    show_grad: bool | None = None,
    labels: bool | None = None,
    max_neurons: int | None = 16,
    format: str = "svg",
) -> graphviz.Digraph:
    """Draw a network as a learner draws one: inputs, then one column of neurons per layer.

    Each neuron is a circle showing its activation and bias (and, given `x`, its output,
    computed by running the model on `x`; the circle is blue when that output is positive,
    red when negative, white when zero, as a dead ReLU is). The output layer has a double
    border. An edge joins every input or neuron to every neuron of the next layer: blue
    for a positive weight, red for a negative one (grey and dashed for NaN or inf), as
    thick as ``|w|`` (pen widths from 0.3 up to 5, or up to 2.5 when more than 100 edges are
    drawn, scaled to the largest finite ``|w|`` drawn). Hovering (SVG tooltips) always tells
    each weight and each bias with its gradient at full precision (``repr``); after a
    backward pass the circles also show the bias gradient ``∇b`` and a small network's
    edges carry ``w`` and its gradient ``∇`` as text (4 significant digits).
    A layer wider than `max_neurons` shows its first neurons and a "… k more" box, so big
    networks draw quickly.

    Example:
        >>> import random
        >>> from nn import MLP, draw_network
        >>> model = MLP(2, [3, 1], rng=random.Random(0))
        >>> model([1.0, -2.0]).backward()
        >>> g = draw_network(model, [1.0, -2.0])
        >>> g
        <Digraph: 6 nodes>
        >>> path = g.render("/tmp/network", format="png")  # doctest: +SKIP

    Args:
        model: An ``nn.MLP``, a single ``nn.Layer`` or a single ``nn.Neuron``.
        x: One input vector (numbers or Values). Given, every neuron shows its output for
            it, computed by the model's own neurons (the engine); the model's gradients
            are left untouched.
        rankdir: Graphviz layout direction: 'LR' (inputs on the left), 'TB', 'RL' or 'BT'.
        show_grad: Write the gradients into the labels. ``None`` (default) does so when
            some parameter has a non-zero gradient, i.e. after a backward pass. Tooltips
            show the gradients in any case.
        labels: Write each edge's weight (and gradient) next to it. ``None`` (default) does
            so when at most 40 edges are drawn.
        max_neurons: Draw at most this many units per column (at least 2); ``None`` draws
            every one.
        format: Default output format of ``render()`` and ``pipe()``, such as 'svg' or 'png'.

    Returns:
        A ``graphviz.Digraph`` like `autograd.draw_dot`'s: it displays inline in Jupyter,
        ``.render(path)`` writes a file and ``.source`` is the DOT text. Node names are
        ``x<i>`` for inputs and ``l<layer>.n<neuron>`` for neurons. Rendering without the
        Graphviz ``dot`` program raises `autograd.viz.GraphvizNotFoundError`, which says
        how to install it.

    Raises:
        TypeError: If `model` is not an MLP, Layer or Neuron, or `x` is not a sequence of
            numbers, or an option has the wrong type.
        ValueError: If `x` has the wrong length, or `rankdir` or `max_neurons` is invalid.
    """
    layers = _layers(model)
    _check_options(rankdir, show_grad, labels, max_neurons)
    nin = len(layers[0][0].w)
    inputs = _inputs(x, nin)

    # Every unit of every column, in order; the forward pass runs through all of them.
    columns: list[list[_Unit]] = [[_Unit(f"x{i}", None) for i in range(nin)]]
    for i, neurons in enumerate(layers):
        columns.append([_Unit(f"l{i}.n{j}", n) for j, n in enumerate(neurons)])
    if inputs is not None:
        _forward(columns, inputs)

    limit = max_neurons if max_neurons is not None else max(len(c) for c in columns)
    shown_columns = [column[:limit] for column in columns]
    edges = [  # (tail, head, weight index): every weight whose two ends are drawn
        (tail, head, k)
        for before, after in itertools.pairwise(shown_columns)
        for head in after
        for k, tail in enumerate(before)
    ]
    largest = max(
        (
            abs(_weight(head, k).data)
            for _, head, k in edges
            if math.isfinite(_weight(head, k).data)
        ),
        default=0.0,
    )
    if show_grad is None:
        show_grad = any(
            grad_of(p) != 0.0 for neurons in layers for n in neurons for p in n.parameters()
        )
    if labels is None:
        labels = len(edges) <= LABEL_EDGES_UP_TO

    lines: list[str] = []
    for c, (column, drawn) in enumerate(zip(columns, shown_columns, strict=True)):
        is_output = c == len(columns) - 1
        lines.extend(_unit_line(unit, show_grad, is_output) for unit in drawn)
        ids = [quote(unit.id) for unit in drawn]
        hidden = len(column) - len(drawn)
        if hidden:
            more = quote(f"more{c}")
            ids.append(more)
            what = "input" if c == 0 else "neuron"
            text = f"… {hidden} more {what}{'s' * (hidden > 1)}"
            tip = (
                f"{hidden} {what}{'s' * (hidden > 1)} of this column, and their weights, not drawn"
            )
            lines.append(f"\t{more} [label={quote(text)} tooltip={quote(tip)}{_MORE}]\n")
        # One column per layer, kept in order by invisible edges down the column.
        lines.extend([f"\tsubgraph column{c} {{\n", "\t\trank=same\n"])
        lines.extend(f"\t\t{a} -> {b} [style=invis]\n" for a, b in itertools.pairwise(ids))
        lines.append("\t}\n")
        if hidden:  # dashed edges stand for the weights into and out of the hidden units
            before = [u.id for u in shown_columns[c - 1]] if c > 0 else []
            if c > 0 and len(columns[c - 1]) > len(before):
                before.append(f"more{c - 1}")
            after = [u.id for u in shown_columns[c + 1]] if not is_output else []
            lines.extend(_dashed(tail, f"more{c}") for tail in before)
            lines.extend(_dashed(f"more{c}", head) for head in after)
    widest = MAX_PENWIDTH if len(edges) <= DENSE else DENSE_MAX_PENWIDTH
    for tail, head, k in edges:
        lines.append(_edge_line(tail, head, k, largest, widest, show_grad, labels))

    return digraph_class()(
        format=format,
        graph_attr={
            "rankdir": rankdir,
            # Straight lines as learners draw them; curves when labels need room beside them.
            "splines": "true" if labels else "line",
            # Dense columns need room between them for the edges to be told apart.
            "ranksep": f"{max(1.8, 0.2 * max(len(c) for c in shown_columns)):.2f}",
            "nodesep": "0.4" if labels else "0.15",
            "fontsize": "11",
            "labelloc": "b",
            "outputorder": "edgesfirst",  # the filled circles cover the edges behind them
            "label": escape(_legend(model, inputs)),  # graphviz quotes it
        },
        node_attr={"fontsize": "10", "width": "0.8", "margin": "0.02"},
        edge_attr={"arrowhead": "none"},
        body=lines,
    )


def _layers(model: object) -> list[list[Neuron]]:
    """The model's neurons, layer by layer (a Layer is one layer, a Neuron a layer of one)."""
    if isinstance(model, MLP):
        return [layer.neurons for layer in model.layers]
    if isinstance(model, Layer):
        return [model.neurons]
    if isinstance(model, Neuron):
        return [[model]]
    raise TypeError(
        "draw_network draws an nn.MLP, nn.Layer or nn.Neuron, "
        f"got {type(model).__name__} {shown(model)}; for any other graph of Values use "
        "autograd.draw_dot(output)"
    )


def _check_options(rankdir: object, show_grad: object, labels: object, max_neurons: object) -> None:
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be 'LR', 'RL', 'TB' or 'BT', got {shown(rankdir)}")
    for name, flag in (("show_grad", show_grad), ("labels", labels)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(
                f"{name} must be True, False or None (automatic), "
                f"got {type(flag).__name__} {shown(flag)}"
            )
    if max_neurons is not None:
        if isinstance(max_neurons, bool) or not isinstance(max_neurons, int):
            raise TypeError(
                "max_neurons must be an int or None, "
                f"got {type(max_neurons).__name__} {shown(max_neurons)}"
            )
        if max_neurons < 2:
            raise ValueError(
                f"max_neurons must be at least 2 (or None to draw every neuron), got {max_neurons}"
            )


def _inputs(x: object, nin: int) -> list[float | Value] | None:
    """`x` as a list of `nin` numbers or Values, checked before anything runs."""
    if x is None:
        return None
    if isinstance(x, str | bytes | Value) or not isinstance(x, Iterable):
        raise TypeError(
            f"x must be one input vector (a list of {nin} numbers), "
            f"got {type(x).__name__} {shown(x)}"
        )
    items = list(x)
    if len(items) != nin:
        raise ValueError(f"x has {len(items)} entries but the model takes {nin} inputs")
    for i, item in enumerate(items):
        if not isinstance(item, numbers.Real | Value):
            raise TypeError(f"x[{i}] must be a number, got {type(item).__name__} {shown(item)}")
    return [item if isinstance(item, Value) else float(item) for item in items]


def _forward(columns: list[list[_Unit]], inputs: list[float | Value]) -> None:
    """Run every neuron on the previous column's outputs: the model's own forward pass."""
    h: list[float | Value] = list(inputs)
    for unit, value in zip(columns[0], inputs, strict=True):
        unit.out = float(value.data if isinstance(value, Value) else value)
    for column in columns[1:]:
        outs: list[Value] = []
        for unit in column:
            assert unit.neuron is not None
            out = unit.neuron(h)  # the engine computes it: activation(w . x + b), one node
            z = weighted_sum(out)
            if z is None:  # a leaky relu: the pre-activation is the dot node below it
                dot = next((v for v in out._prev if v._op == "dot"), None)
                z = dot.data if dot is not None else None
            unit.out, unit.z = out.data, z
            outs.append(out)
        h = list(outs)


def _dashed(tail: str, head: str) -> str:
    return f'\t{quote(tail)} -> {quote(head)} [style=dashed color="{ZERO}"]\n'


def _weight(head: _Unit, k: int) -> Value:
    assert head.neuron is not None
    return head.neuron.w[k]


def _number(v: float) -> str:
    return f"{v:.4g}"


def _unit_line(unit: _Unit, show_grad: bool, is_output: bool) -> str:
    """The DOT statement of one input or neuron circle."""
    if unit.neuron is None:
        text = [unit.id] if unit.out is None else [unit.id, _number(unit.out)]
        tip = [unit.id if unit.out is None else f"input {unit.id} = {unit.out!r}"]
        return f"\t{quote(unit.id)} [label={_text(text)} tooltip={_text(tip)}{_INPUT}]\n"
    b = unit.neuron.b
    text = [unit.neuron.act, f"b {_number(b.data)}"]
    tip = [
        f"{unit.id}: {unit.neuron.act}(w · x + b), {len(unit.neuron.w)} inputs",
        f"bias b = {b.data!r}, grad {grad_of(b)!r}",
    ]
    if show_grad:
        text.append(f"∇b {_number(grad_of(b))}")
    fill = _FILL_PLAIN
    if unit.out is not None:
        text.append(f"out {_number(unit.out)}")
        if unit.z is not None:
            tip.append(f"w · x + b = {unit.z!r}")
        tip.append(f"out = {unit.out!r}")
        fill = _FILL_POSITIVE if unit.out > 0 else _FILL_NEGATIVE if unit.out < 0 else _FILL_PLAIN
    style = f'{_NEURON} fillcolor="{fill}"{_OUTPUT if is_output else ""}'
    return f"\t{quote(unit.id)} [label={_text(text)} tooltip={_text(tip)}{style}]\n"


def _edge_line(
    tail: _Unit, head: _Unit, k: int, largest: float, widest: float, show_grad: bool, labels: bool
) -> str:
    """The DOT statement of one weight's edge: colour by sign, pen width by magnitude."""
    w = _weight(head, k)
    g = grad_of(w)
    if not math.isfinite(w.data):  # a diverged weight: drawn grey and dashed at full width
        color, width, style = ZERO, widest, " style=dashed"
    else:
        color = POSITIVE if w.data > 0 else NEGATIVE if w.data < 0 else ZERO
        scale = abs(w.data) / largest if largest > 0 else 0.0
        width, style = MIN_PENWIDTH + (widest - MIN_PENWIDTH) * scale, ""
    tip = [f"weight {head.id}.w{k} ({tail.id} → {head.id}) = {w.data!r}", f"grad {g!r}"]
    attrs = f'color="{color}" penwidth={width:.3f}{style} tooltip={_text(tip)}'
    if labels:
        text = [f"w {_number(w.data)}"] + ([f"∇ {_number(g)}"] if show_grad else [])
        attrs += f' label={_text(text)} fontsize=9 fontcolor="{color}"'
    return f"\t{quote(tail.id)} -> {quote(head.id)} [{attrs}]\n"


def _text(lines: list[str]) -> str:
    """A quoted DOT label or tooltip of several lines (``\\n`` between them)."""
    return quote("\\n".join(escape(line) for line in lines))


_LEGEND_INPUTS = 4  # the caption lists at most this many entries of x


def _legend(model: object, inputs: list[float | Value] | None) -> str:
    at = ""
    if inputs is not None:
        shown_x = [_number(_data(v)) for v in inputs[:_LEGEND_INPUTS]]
        if len(inputs) > _LEGEND_INPUTS:
            shown_x.append(f"… {len(inputs) - _LEGEND_INPUTS} more")
        at = f" at x = [{', '.join(shown_x)}]"
    return (
        f"{model!r}{at}: blue w > 0, red w < 0, thickness ∝ |w|; "
        "hover an edge or a neuron for its weight, bias and gradient"
    )


def _data(v: float | Value) -> float:
    return float(v.data) if isinstance(v, Value) else v
