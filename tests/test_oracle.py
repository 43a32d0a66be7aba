"""The oracle: every fast interpreter of the rules against the reference engine, bit for bit.

`autograd/engine.py` defines every result (DESIGN.md, "Third wave");
`autograd/fastpaths.py` installs generated code over it, and `explain` and
`compile` run the same rules their own way. Hypothesis draws random graphs as
recipes (lists of instructions over every op of `ops.OPS`, shared
sub-expressions, constants on either side, kinks, nn models with their losses,
custom ops), and each recipe is built twice: inside `fastpaths.reference()`
(the reference alone) and outside it (the fast paths). Floats are equal when
their IEEE bytes are (-0.0 is not 0.0) or when both are NaN.

With TAPEGRAD_REFERENCE=1 both sides are the reference and every comparison
still runs; the tests of the neuron kernel and of the self-test call the
fast paths directly (`fastpaths.build()`, `fastpaths.fast_pass`).
"""

from __future__ import annotations

import contextlib
import math
import operator
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
from autograd import (
    Value,
    custom_op,
    detect_anomaly,
    fastpaths,
    grad,
    hessian,
    ops,
    topological_order,
)
from autograd import neuron as neuron_module
from autograd.engine import backward_order, chain_rule, is_constant, reference_pass
from autograd.testing import finite_floats, seeds
from autograd.viz import node_names
from nn import MLP, losses

# What a forward or a backward pass may raise on a bad point: both engines must raise alike.
ERRORS = (ArithmeticError, ValueError)


# --- bit-for-bit comparison -------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Two floats with the same IEEE bytes (so -0.0 differs from 0.0), or two NaNs.

    Anything else (an op's shape, say) is compared with ==, and a float never
    equals a number of another type.
    """
    if type(a) is not float or type(b) is not float:
        return type(a) is type(b) and type(a) is not float and bool(a == b)
    return struct.pack("<d", a) == struct.pack("<d", b) or (a != a and b != b)


def differences(what: str, want: Sequence[Any], got: Sequence[Any]) -> list[str]:
    """Where `got` differs from `want` (the reference), bit for bit; empty when they agree."""
    if len(want) != len(got):
        return [f"{what}: {len(want)} values in the reference, {len(got)} in the other"]
    return [
        f"{what}[{i}]: reference {w!r}, other {g!r}"
        for i, (w, g) in enumerate(zip(want, got))
        if not same(w, g)
    ]


def agree(*problems: list[str]) -> None:
    """Fail with every difference listed."""
    found = [p for ps in problems for p in ps]
    assert not found, "\n".join(found)


def engine(reference: bool) -> contextlib.AbstractContextManager[None]:
    """The reference engine alone (True) or whatever `import autograd` installed (False)."""
    return fastpaths.reference() if reference else contextlib.nullcontext()


# --- two custom ops, one- and two-argument ----------------------------------------------


@custom_op(kinks=(0.0,))
def softsign(x: Any) -> Any:
    """x / (1 + |x|)."""
    return x / (1.0 + abs(x))


softsign.defvjp(lambda g, ans, x: g / (1.0 + abs(x)) ** 2)  # d/dx = 1 / (1 + |x|)^2


@custom_op
def blend(x: Any, y: Any) -> Any:
    """x tanh(y)."""
    return x * ops.tanh(y)


blend.defvjp(
    lambda g, ans, x, y: g * ops.tanh(y),  # d/dx = tanh y
    lambda g, ans, x, y: g * x * (1.0 - ops.tanh(y) ** 2),  # d/dy = x (1 - tanh(y)^2)
)


# --- recipes: a random graph as instructions, to build it twice --------------------------

# A step is (kind, operands, parameters). An int operand is an earlier node (the
# leaves first, then one node per step); a float operand is a number the op receives.
Step = tuple[str, tuple[Any, ...], tuple[Any, ...]]

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,  # Value ** Value
    "pow_c": operator.pow,  # Value ** number, number ** Value
}
_METHODS = ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "softplus")
_CALLS: dict[str, Callable[..., Any]] = {
    "neg": operator.neg,
    "abs": abs,
    "leaky_relu": lambda x, slope: x.leaky_relu(slope),
    "sum": lambda *xs: ops.sum(xs),
    "dot": lambda *wx: ops.dot(wx[: len(wx) // 2], wx[len(wx) // 2 :]),
    "logsumexp": lambda *xs: ops.logsumexp(xs),
    "softmax": ops.softmax_share,
    "input": ops.identity,
    "softsign": softsign,
    "blend": blend,
}

#: Every kind of step; the kinds named like an op of `ops.OPS` record that op.
KINDS = (*_OPERATORS, *_METHODS, *_CALLS, "mlp")
#: What `compile` is checked on: relu, abs, leaky_relu and Value ** Value expose a
#: compiler bug being fixed elsewhere (tests/test_compile_oracle.py covers compile
#: against eager on every op); relu and leaky_relu models and the hinge loss use relu.
COMPILE_KINDS = tuple(k for k in KINDS if k not in ("relu", "abs", "leaky_relu", "pow"))
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "linear")
LOSSES = ("mse", "hinge", "binary_cross_entropy", "cross_entropy")


def _mlp(inputs: Sequence[Any], params: tuple[Any, ...]) -> Value:
    """An nn.MLP (weights from a seeded stream) on `inputs`, and a loss from nn.losses."""
    seed, widths, activation, loss, targets = params
    model = MLP(len(inputs), list(widths), activation=activation, rng=random.Random(seed))
    out = model(list(inputs))
    outs = out if isinstance(out, list) else [out]
    if loss == "cross_entropy":
        return losses.cross_entropy(outs, targets)
    fn: Callable[[Any, Any], Value] = getattr(losses, loss)
    return fn(outs, list(targets))


def _apply(step: Step, nodes: Sequence[Any]) -> Any:
    kind, args, params = step
    xs = [nodes[a] if type(a) is int else a for a in args]
    if kind in _OPERATORS:
        return _OPERATORS[kind](*xs)
    if kind in _METHODS:
        return getattr(xs[0], kind)()
    if kind == "mlp":
        return _mlp(xs, params)
    return _CALLS[kind](*xs)


@dataclass(frozen=True)
class Recipe:
    """A random graph as instructions: leaves, then steps; the output sums every unused node."""

    leaves: tuple[float, ...]
    steps: tuple[Step, ...]

    def build(self, leaves: Sequence[Any]) -> tuple[Value, list[Any]]:
        """(the output, every node in order: the leaves, then one per step)."""
        nodes = list(leaves)
        for step in self.steps:
            nodes.append(_apply(step, nodes))
        used = {a for _, args, _ in self.steps for a in args if type(a) is int}
        return ops.sum([v for i, v in enumerate(nodes) if i not in used]), nodes


# Points at and beside the kinks (0 and -0 included), and ordinary ones.
AT_KINKS = st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-9, 1.0, -1.0])
FINITE = st.one_of(AT_KINKS, finite_floats(-3.0, 3.0))
NONFINITE = st.sampled_from([math.inf, -math.inf, math.nan])
CONSTANTS = st.one_of(st.sampled_from([2.0, -3.0, 0.5, 1.0, 0.0, -0.0]), finite_floats(-3.0, 3.0))
#: Gradients a graph holds before a pass (-0.0 included: see the two tests at the end).
PRESETS = st.one_of(AT_KINKS, CONSTANTS)
#: Gradients a node's operands hold in the middle of a pass: never -0.0, since a pass
#: starts every node from +0.0 and no sum of floats reaches -0.0 from there.
RUNNING = PRESETS.map(lambda x: x + 0.0)
#: Backward seeds: 1, zeros of both signs, huge ones, and seeds() (|g| in [0.25, 4], not 1).
SEEDS = st.one_of(st.sampled_from([1.0, 0.0, -0.0, 1e300, -1e300, 5e-324]), seeds())


SLOPES = [0.0, -0.0, 0.01, 0.2, -0.5]


@st.composite
def leaf_values(draw: Any) -> float:
    """A leaf's number: mostly finite, at times inf or NaN."""
    if draw(st.integers(0, 11)) == 0:
        return float(draw(NONFINITE))
    return float(draw(FINITE))


@st.composite
def recipes(
    draw: Any,
    *,
    kinds: Sequence[str] = KINDS,
    max_steps: int = 10,
    max_leaves: int = 4,
    activations: Sequence[str] = ACTIVATIONS,
    losses_: Sequence[str] = LOSSES,
) -> Recipe:
    """A random recipe: every kind of step, shared operands, constants, guarded domains."""
    leaves = tuple(draw(st.lists(leaf_values(), min_size=1, max_size=max_leaves)))
    steps: list[Step] = []

    def size() -> int:
        return len(leaves) + len(steps)

    def node() -> int:  # the newest node (a chain) or any earlier one (shared)
        return int(draw(st.one_of(st.just(size() - 1), st.integers(0, size() - 1))))

    def operand() -> Any:
        return draw(st.one_of(st.integers(0, size() - 1), CONSTANTS))

    def emit(kind: str, args: Sequence[Any], params: tuple[Any, ...] = ()) -> int:
        steps.append((kind, tuple(args), params))
        return size() - 1

    def positive(i: int) -> int:  # i * i + 0.5 mostly; i * i (may be 0), or i itself, at times
        how = draw(st.sampled_from(["guard", "guard", "guard", "square", "raw"]))
        if how == "raw":  # a domain error, which both engines must raise alike
            return i
        square = emit("mul", (i, i))
        return square if how == "square" else emit("add", (square, 0.5))

    def pair() -> tuple[Any, Any]:  # a node and the same node, another one or a number
        a = node()
        b = draw(st.one_of(st.just(a), st.integers(0, size() - 1), CONSTANTS))
        return (b, a) if draw(st.booleans()) else (a, b)

    def several(even: bool = False) -> list[Any]:  # at least one node, in any position
        rest = [operand() for _ in range(draw(st.integers(1 if even else 0, 4)))]
        if even and len(rest) % 2 == 0:
            rest.append(operand())
        return list(draw(st.permutations([node(), *rest])))

    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(kinds))
        if kind in ("add", "sub", "mul", "blend"):
            emit(kind, pair())
        elif kind == "div":
            x, y = pair()
            if type(y) is int and draw(st.booleans()):
                y = positive(y)
            emit(kind, (x, y))
        elif kind == "pow":  # Value ** Value
            base = positive(node())
            emit(kind, (base, node()))
        elif kind == "pow_c":  # Value ** number or number ** Value
            if draw(st.booleans()):
                e = draw(st.sampled_from([2.0, 3.0, 1.0, 0.0, -1.0, -2.0, 0.5, 1.5, -0.5]))
                base = node()
                emit(kind, (base if e.is_integer() and e > 0 else positive(base), e))
            else:
                c = draw(st.sampled_from([2.0, 0.5, 1.5, 0.25, 1.0, 0.0]))
                emit(kind, (c, node()))
        elif kind in ("log", "sqrt"):
            emit(kind, (positive(node()),))
        elif kind == "leaky_relu":
            x = node()  # the slope: a node, or a number (0 masks the negative side exactly)
            slope = node() if draw(st.booleans()) else draw(st.sampled_from(SLOPES))
            emit(kind, (x, slope))
        elif kind in ("sum", "logsumexp", "softmax"):
            emit(kind, several())
        elif kind == "dot":
            emit(kind, several(even=True))
        elif kind == "mlp":
            nin = draw(st.integers(1, 3))
            widths = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
            loss = draw(st.sampled_from(losses_))
            k = widths[-1]
            if loss == "mse":
                targets: Any = tuple(draw(st.lists(CONSTANTS, min_size=k, max_size=k)))
            elif loss == "hinge":
                targets = tuple(
                    draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=k, max_size=k))
                )
            elif loss == "binary_cross_entropy":
                targets = tuple(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)))
            else:
                targets = draw(st.integers(0, k - 1))
            params = (draw(st.integers(0, 2**16)), widths, draw(st.sampled_from(activations)))
            emit(kind, [operand() for _ in range(nin)], (*params, loss, targets))
        else:  # one operand: neg, abs, exp, sin, ..., input, softsign
            emit(kind, (node(),))
    return Recipe(leaves, tuple(steps))


# --- building and differentiating a recipe with either engine ---------------------------


@dataclass
class Graph:
    """A recipe built by one engine: its output, and every node to compare, in order."""

    out: Value
    leaves: list[Value]
    order: list[Value]  # the output's graph, leaves first (topological_order)
    nodes: list[Value]  # the recipe's nodes, then `order`

    def grads(self) -> list[Any]:
        """Every node's `.grad` (constants are never among the nodes)."""
        return [v.grad for v in self.nodes]

    def shape(self) -> list[str]:
        """Each node's op and operands (numbers as reprs): equal graphs have equal shapes."""
        return [
            f"{v._op}({', '.join(repr(a.data) if is_constant(a) else '.' for a in v._operands)})"
            for v in self.nodes
        ]


def record(recipe: Recipe, *, reference: bool) -> Graph | type[BaseException]:
    """Build `recipe` with the reference engine or the fast one; the error type if it raises."""
    with engine(reference):
        leaves = [Value(x, label=f"x{i}") for i, x in enumerate(recipe.leaves)]
        try:
            out, nodes = recipe.build(leaves)
        except ERRORS as e:
            return type(e)
    order = topological_order(out)
    assert not any(is_constant(v) for v in [*nodes, *order])
    return Graph(out, leaves, order, [*nodes, *order])


def both(recipe: Recipe) -> tuple[Graph, Graph] | None:
    """The recipe built by each engine (reference first); None when both raised alike."""
    ref = record(recipe, reference=True)
    fast = record(recipe, reference=False)
    if not isinstance(ref, Graph) or not isinstance(fast, Graph):
        assert ref == fast, f"building raised {ref} in the reference, {fast} in the fast engine"
        return None
    agree(differences("shape", ref.shape(), fast.shape()))
    return ref, fast


def backward(graph: Graph, g: float, *, reference: bool) -> str | None:
    """`graph.out.backward(g)` with the reference engine's loop or the installed one.

    Returns the name of the error a rule raised (a custom op's `** 2` may overflow),
    or None: the engines must agree on that too, and a failed pass changes no `.grad`.
    """
    with engine(reference):
        try:
            graph.out.backward(g)
        except ArithmeticError as e:
            return type(e).__name__
    return None


# --- 1 to 5: forward, backward, mixing, repeated passes, detect_anomaly -----------------


@given(recipe=recipes())
def test_forward_every_node_equals_the_reference(recipe: Recipe) -> None:
    built = both(recipe)
    if built is not None:
        ref, fast = built
        agree(differences("data", [v.data for v in ref.nodes], [v.data for v in fast.nodes]))


@given(recipe=recipes(), g=SEEDS)
def test_backward_every_gradient_equals_the_reference(recipe: Recipe, g: float) -> None:
    built = both(recipe)
    if built is not None:
        ref, fast = built
        assert backward(ref, g, reference=True) == backward(fast, g, reference=False)
        agree(differences("grad", ref.grads(), fast.grads()))


@given(recipe=recipes(), g=SEEDS)
def test_a_graph_recorded_by_one_engine_differentiates_alike_in_the_other(
    recipe: Recipe, g: float
) -> None:
    built = both(recipe)
    if built is None:
        return
    ref = built[0]
    failed = backward(ref, g, reference=True)
    mixed = [record(recipe, reference=True), record(recipe, reference=False)]
    for graph, by_reference in zip(mixed, [False, True]):  # recorded by the other engine
        assert isinstance(graph, Graph)
        assert backward(graph, g, reference=by_reference) == failed
        what = f"grad (differentiated by reference={by_reference})"
        agree(differences(what, ref.grads(), graph.grads()))


@given(recipe=recipes(), g1=SEEDS, g2=SEEDS)
def test_repeated_passes_accumulate_alike(recipe: Recipe, g1: float, g2: float) -> None:
    built = both(recipe)
    if built is None:
        return
    ref, fast = built
    for k, g in enumerate([g1, g2, g1]):
        assert backward(ref, g, reference=True) == backward(fast, g, reference=False)
        agree(differences(f"grad after pass {k + 1}", ref.grads(), fast.grads()))


def anomaly_run(recipe: Recipe, g: float, *, reference: bool) -> tuple[Any, list[Any]]:
    """(the error type or None, the nodes' numbers): build and differentiate under anomaly."""
    with engine(reference), detect_anomaly():
        leaves = [Value(x) for x in recipe.leaves]
        try:
            out, nodes = recipe.build(leaves)
        except ERRORS as e:
            return type(e), []
        order = topological_order(out)
        try:
            out.backward(g)
        except ERRORS as e:  # the pass puts every .grad back: compare those too
            return type(e), [v.grad for v in [*nodes, *order]]
        return None, [v.data for v in [*nodes, *order]] + [v.grad for v in [*nodes, *order]]


@given(recipe=recipes(), g=SEEDS)
def test_detect_anomaly_raises_where_the_reference_raises(recipe: Recipe, g: float) -> None:
    ref_error, ref_values = anomaly_run(recipe, g, reference=True)
    fast_error, fast_values = anomaly_run(recipe, g, reference=False)
    assert ref_error == fast_error
    agree(differences("values under detect_anomaly", ref_values, fast_values))


# --- 6: create_graph and second derivatives ------------------------------------------


def second_derivatives(recipe: Recipe, *, reference: bool) -> list[Any] | type[BaseException]:
    """grad(grad(f)) by each argument and hessian(f), f the recipe's output as a function."""

    def f(*xs: Any) -> Any:
        return recipe.build(xs)[0]

    n = len(recipe.leaves)
    with engine(reference):
        try:
            rows = [grad(grad(f, i), argnums=tuple(range(n)))(*recipe.leaves) for i in range(n)]
            matrix = hessian(f)(*recipe.leaves)
        except ERRORS as e:
            return type(e)
    return [x for row in [*rows, *matrix] for x in row]


@settings(max_examples=80)
@given(recipe=recipes(max_steps=6, max_leaves=3))
def test_second_derivatives_equal_the_reference(recipe: Recipe) -> None:
    ref = second_derivatives(recipe, reference=True)
    fast = second_derivatives(recipe, reference=False)
    if not isinstance(ref, list) or not isinstance(fast, list):
        assert ref == fast
        return
    agree(differences("second derivative", ref, fast))


def create_graph_run(recipe: Recipe, g: float, *, reference: bool) -> list[Any] | None:
    """backward(g, create_graph=True), then backward through the first leaf's gradient."""
    graph = record(recipe, reference=reference)
    if not isinstance(graph, Graph):
        return None
    with engine(reference):
        try:
            graph.out.backward(g, create_graph=True)
            first = [v.grad.data for v in graph.nodes]
            dx0 = graph.leaves[0].grad
            for v in graph.nodes:
                v.grad = 0.0
            dx0.backward()
        except ERRORS as e:
            return [type(e).__name__]
    return [*first, *graph.grads()]


@settings(max_examples=100)
@given(recipe=recipes(max_steps=8), g=SEEDS)
def test_create_graph_gradients_and_their_derivatives_equal_the_reference(
    recipe: Recipe, g: float
) -> None:
    ref = create_graph_run(recipe, g, reference=True)
    fast = create_graph_run(recipe, g, reference=False)
    assert (ref is None) == (fast is None)
    if ref is not None and fast is not None:
        agree(differences("create_graph grad", ref, fast))


# --- 7: explain tells the engine's own gradients ------------------------------------------


def explained_gradients(page: Any, order: list[Value]) -> list[float]:
    """Each node's final gradient in explain's story: the last `after` of an edge to it."""
    names = node_names(order)
    final = {page.story["root"]: float(page.story["backward"][0]["seed"])}
    for step in page.story["backward"]:
        for edge in step["edges"]:
            final[edge["to"]] = float(edge["after"])
    return [final.get(names[v], 0.0) for v in order]


@settings(max_examples=100)
@given(recipe=recipes(max_steps=8), data=st.data())
def test_explain_tells_the_gradients_backward_leaves(recipe: Recipe, data: st.DataObject) -> None:
    graph = record(recipe, reference=False)
    if not isinstance(graph, Graph):
        return
    order = graph.order
    before = data.draw(st.lists(PRESETS, min_size=len(order), max_size=len(order)), "grads")
    for v, g in zip(order, before):
        v.grad = g
    page = autograd.explain(graph.out, max_nodes=len(order) + 1)
    agree(differences("grad left by explain", before, [v.grad for v in order]))
    told = explained_gradients(page, order)
    for v in order:
        v.grad = 0.0
    graph.out.backward()
    agree(differences("explain against backward", [v.grad for v in order], told))


# --- 8: the neuron recording and kernel ----------------------------------------------------

NEURON_VALUES = st.one_of(FINITE, NONFINITE, st.sampled_from([1e200, -1e200]))


@dataclass(frozen=True)
class Layer:
    """Neurons over a pool of leaves: weights, biases and inputs index the pool (repeats)."""

    pool: tuple[float, ...]
    grads: tuple[float, ...]  # the pool's `.grad` before the step
    rows: tuple[tuple[tuple[int, ...], int], ...]
    xs: tuple[Any, ...]  # an int indexes the pool, a float is a constant input
    activation: str | None
    g: float

    def record(self, neurons: Callable[..., list[Value]]) -> tuple[list[Value], list[Value]]:
        """(the pool, the layer's outputs) with `neurons` recording them."""
        pool = [Value(x) for x in self.pool]
        for v, g in zip(pool, self.grads):
            v.grad = g
        xs = [pool[x] if type(x) is int else x for x in self.xs]
        rows = [([pool[i] for i in ws], pool[b]) for ws, b in self.rows]
        return pool, neurons(rows, xs, self.activation)


@st.composite
def layers(draw: Any, held: st.SearchStrategy[float] = RUNNING) -> Layer:
    k = draw(st.integers(1, 4))
    n = draw(st.integers(1, 3))
    index = st.integers(0, k - 1)
    pool = tuple(draw(st.lists(NEURON_VALUES, min_size=k, max_size=k)))
    grads = tuple(draw(st.lists(held, min_size=k, max_size=k)))
    rows = draw(
        st.lists(st.tuples(st.lists(index, min_size=n, max_size=n).map(tuple), index), min_size=1)
    )
    xs = tuple(draw(st.lists(st.one_of(index, NEURON_VALUES), min_size=n, max_size=n)))
    activation = draw(st.sampled_from(list(ops.NEURONS)))
    g = draw(st.one_of(SEEDS, NONFINITE))
    return Layer(pool, grads, tuple(rows[:3]), xs, activation, g)


@given(layer=layers())
def test_neuron_recording_and_kernel_equal_the_reference(layer: Layer) -> None:
    fastpaths.build()  # (already built unless TAPEGRAD_REFERENCE=1)
    with fastpaths.reference():
        ref_pool, ref_outs = layer.record(neuron_module.neurons)
    pool, outs = layer.record(fastpaths.neurons)
    agree(differences("neuron data", [v.data for v in ref_outs], [v.data for v in outs]))
    kernel = ops.NEURONS[layer.activation].float_kernel
    assert kernel is not None
    for ref, out in zip(ref_outs, outs):
        ref.grad = out.grad = layer.g
        chain_rule(ref)
        kernel(out)
    agree(differences("neuron kernel grad", [v.grad for v in ref_pool], [v.grad for v in pool]))


@given(layer=layers(PRESETS))  # through the engine: a pass may start from -0.0
def test_neuron_backward_through_the_engine_equals_the_reference(layer: Layer) -> None:
    with fastpaths.reference():
        ref_pool, ref_outs = layer.record(neuron_module.neurons)
        ops.sum(ref_outs).backward(layer.g)
    pool, outs = layer.record(neuron_module.neurons)  # the installed recording
    ops.sum(outs).backward(layer.g)
    agree(differences("neuron grad", [v.grad for v in ref_pool], [v.grad for v in pool]))


# --- 9: compile's float program -------------------------------------------------------------


# Without relu, abs, leaky_relu and Value ** Value: see COMPILE_KINDS (the compiler bug
# they expose is being fixed elsewhere; tests/test_compile_oracle.py checks compile there).
@settings(max_examples=150)
@given(
    recipe=recipes(
        kinds=COMPILE_KINDS,
        activations=("tanh", "sigmoid", "linear"),
        losses_=("mse", "binary_cross_entropy", "cross_entropy"),
    ),
    g=SEEDS,
    data=st.data(),
)
def test_compiled_backward_equals_the_reference(
    recipe: Recipe, g: float, data: st.DataObject
) -> None:
    built = both(recipe)
    if built is None:
        return
    ref, fast = built
    if backward(ref, g, reference=True) is not None:
        return  # a rule overflowed (the custom op's ** 2): no gradients to compare
    k = data.draw(st.integers(0, len(recipe.leaves)), "inputs")
    program = autograd.compile(fast.out, fast.leaves[:k])
    out = program.backward(*[x.data for x in fast.leaves[:k]], gradient=g)
    where = {v: i for i, v in enumerate(fast.order)}
    want = [ref.order[where[p]].grad for p in program.parameters]
    agree(
        differences("compiled output", [ref.out.data], [out]),
        differences("compiled grad", want, [p.grad for p in program.parameters]),
    )


# --- the oracle itself ------------------------------------------------------------------------


def test_recipes_reach_every_op() -> None:
    assert set(ops.OPS) <= set(KINDS)
    unary = {*_METHODS, "neg", "abs", "input", "softsign"}
    steps: list[Step] = []
    for kind in KINDS:  # one step of each kind on the leaves 0.5 and -1.25
        if kind == "mlp":  # seed, widths, activation, loss, target
            steps.append((kind, (0, 1.5, 1), (0, (2, 2), "tanh", "cross_entropy", 1)))
        elif kind == "pow_c":
            steps.append((kind, (0, 0.5), ()))
        else:
            steps.append((kind, (0,) if kind in unary else (0, 1), ()))
    recipe = Recipe((0.5, -1.25), tuple(steps))
    graph = record(recipe, reference=True)
    assert isinstance(graph, Graph)
    made = {v._maker.name for v in graph.order if v._maker is not None}
    expected = {*ops.OPS, "softmax", "input", "softsign", "blend", "tanh_neuron", "linear_neuron"}
    assert expected <= made


def drifted_mul_step(node: Value) -> None:
    """ops.mul's float step, one ulp off: d/dx (x y) = y (1 + 2^-52)."""
    v0, v1 = node._operands
    v0.grad += node.grad * v1.data * (1 + 2**-52)
    v1.grad += node.grad * v0.data


def test_the_oracle_catches_a_float_step_one_ulp_off() -> None:
    recipe = Recipe((0.7, -1.3), (("mul", (0, 1), ()), ("tanh", (2,), ()), ("mul", (3, 0), ())))

    def gradients(step: Callable[[Value], None] | None) -> list[Any]:
        graph = record(recipe, reference=True)
        assert isinstance(graph, Graph)
        graph.out.grad = 1.5
        order = backward_order(graph.out)[1]
        if step is None:
            reference_pass(order)
        else:  # the fast loop, with ops.mul's float step replaced
            fastpaths.build()
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(ops.mul, "float_step", step)
                fastpaths.fast_pass(order)
        return graph.grads()

    want = gradients(None)
    assert differences("grad", want, gradients(drifted_mul_step))
    assert not differences("grad", want, gradients(fastpaths.float_step(ops.mul)))
    assert ops.mul.float_step is not drifted_mul_step


def test_same_tells_signed_zeros_apart_and_nans_alike() -> None:
    assert same(0.0, 0.0) and same(math.nan, -math.nan) and same(math.inf, math.inf)
    assert not same(0.0, -0.0) and not same(1.0, 1.0 + 2**-52) and not same(1.0, 1)
    assert differences("x", [0.0, 1.0], [-0.0, 1.0]) == ["x[0]: reference 0.0, other -0.0"]


# --- what the oracle found, pinned -----------------------------------------------------


def test_a_dead_relu_neuron_after_a_negative_zero_gradient_matches_the_reference() -> None:
    # fastpaths.neuron_kernel skips a node whose activation passes 0 ("every share is a
    # zero"). That is exact only if no running gradient is -0.0 (-0.0 + 0.0 is 0.0): a
    # pass now sets aside a .grad of -0.0 too and starts every node from +0.0, from which
    # no sum of floats reaches -0.0 again.
    def run(neurons: Callable[..., list[Value]]) -> list[Any]:
        w, b, x = Value(2.0), Value(0.5), Value(-1.0)
        x.backward(-0.0)  # x.grad = -0.0
        b.grad = -0.0
        (out,) = neurons([([w], b)], [x], "relu")  # relu(2 * -1 + 0.5): a dead relu
        out.backward()
        return [w.grad, b.grad, x.grad]

    fastpaths.build()  # (already built unless TAPEGRAD_REFERENCE=1)
    with fastpaths.reference():
        want = run(neuron_module.neurons)
    agree(differences("dead relu grads", want, run(fastpaths.neurons)))
    assert not any(same(g, -0.0) for g in want)  # -0.0 held + the pass's +0.0 share


def test_explain_leaves_a_negative_zero_gradient_as_it_found_it() -> None:
    # explain runs backprop(wrt=...), whose _restore put back only the nonzero .grads it
    # had set aside and zeroed the rest: a .grad of -0.0 came back as 0.0 (engine.py,
    # shared by both engines and by autograd.grad). -0.0 is set aside too now.
    x = Value(2.0)
    out = x * 3.0
    x.grad = -0.0
    autograd.explain(out)
    assert same(x.grad, -0.0), x.grad
