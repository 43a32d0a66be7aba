"""compile() checked against the eager engine, its oracle: every op, kinks, shared parts, constants.

The eager `output.backward()` is the reference (DESIGN.md, third wave). A
compiled float program runs the same rules on the same floats in the same
order, so it must leave exactly the same `.grad` on every parameter, bit for
bit (NaN counts as equal to NaN). A numpy batch sums the examples' gradients
in another order and calls numpy's exp, log, tanh, log1p and power, which
differ from the C library's by an ulp at some points: it is compared to the
sum of the eager gradients to a tolerance (see `NUMPY_REL`).

The random programs here draw from every op of `autograd.ops.OPS` and the
neuron ops, kinked ones included (relu, abs, leaky_relu, Value ** Value), at
points on and next to the kinks, with shared sub-expressions and numeric
constants on either side of binary ops. Issue 19 was found this way: the
compiler pasted a conditional expression after `g + `, and Python read
`g + a if c else b` as `(g + a) if c else b`, dropping what g held.
"""

from __future__ import annotations

import inspect
import math
import random
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nn
from autograd import Value, compile, emit, fastpaths, ops
from autograd.engine import Op, topological_order
from autograd.testing import finite_floats

#: Errors an op raises for a point outside its domain (log of a negative number, ...).
DOMAIN_ERRORS = (ValueError, ZeroDivisionError, OverflowError)

#: Points on and next to the kinks of relu, abs and leaky_relu (and pow's base 0).
KINKS = (0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1.0, -1.0, 0.5, -2.0)

UNARY = [op for op in ops.OPS.values() if op.nargs == 1]
BINARY = [op for op in ops.OPS.values() if op.nargs == 2]
VARIADIC = [op for op in ops.OPS.values() if op.nargs < 0] + list(ops.NEURONS.values())
#: The ops whose rules choose between branches (`where`); drawn as often as all others.
KINKED = [ops.relu, ops.abs, ops.leaky_relu, ops.pow, ops.relu_neuron]


def numbers() -> st.SearchStrategy[float]:
    """Leaf values and constants: kinks and their neighbours, or anything in [-3, 3]."""
    return st.one_of(st.sampled_from(KINKS), finite_floats(-3.0, 3.0))


# An operand of a node: ("ref", j) is value j (leaves first, then nodes); ("const", c) the
# number c; ("data", j) the number value j held at the trace, so a sum like
# `x - x.data` sits exactly on relu's kink there.
Operand = tuple[str, Any]


@dataclass
class Recipe:
    """A random program: leaves (inputs first, then parameters) and nodes applying ops."""

    n_inputs: int
    values: list[float]  # the leaves' values at the trace
    nodes: list[tuple[Op, list[Operand]]]

    def build(self, leaves: Sequence[Value], *, settle: bool = False) -> Value:
        """The graph of the program on these leaves; the last node is the output.

        With `settle`, a node whose op fails at this point (log of a negative
        number, a negative base to a fractional power) becomes relu of its first
        Value operand, and `("data", j)` operands become the numbers they are here:
        the recipe is then fixed, to be rebuilt at other points.
        """
        vals: list[Value] = list(leaves)
        for k, (op, operands) in enumerate(self.nodes):
            if settle:
                operands = [
                    ("const", vals[j].data) if how == "data" else (how, j) for how, j in operands
                ]
            args = [vals[j] if how == "ref" else j for how, j in operands]
            try:
                out = op(*args)
            except DOMAIN_ERRORS:
                if not settle:
                    raise
                op, operands = ops.relu, [next(a for a in operands if a[0] == "ref")]
                out = op(vals[operands[0][1]])
            if settle:
                self.nodes[k] = (op, operands)
            vals.append(out)
        return vals[-1]

    def __str__(self) -> str:
        names = [f"x{i}" if i < self.n_inputs else f"p{i}" for i in range(len(self.values))]
        for op, operands in self.nodes:
            text = ", ".join(names[j] if how == "ref" else repr(j) for how, j in operands)
            names.append(f"{op.name}({text})")
        return names[-1]


@st.composite
def recipes(
    draw: Any, max_ops: int = 8, node_constants: bool = True, max_inputs: int = 2
) -> Recipe:
    """Random programs over 1-`max_inputs` inputs and 1-3 parameters drawing on every op.

    Operands are earlier values (so sub-expressions are shared), the newest half
    the time so that the program stays connected; a second and later operand is a
    constant now and then, and the first one too for binary ops (`2.0 - x`).
    """
    n_inputs = draw(st.integers(1, max_inputs))
    n_leaves = n_inputs + draw(st.integers(1, 3))
    values = [draw(numbers()) for _ in range(n_leaves)]
    nodes: list[tuple[Op, list[Operand]]] = []
    kinds = ["const", "data"] if node_constants else ["const"]
    for k in range(draw(st.integers(1, max_ops))):
        available = n_leaves + k
        newest = available - 1

        def operand(constant_ok: bool, newest: int = newest) -> Operand:
            if constant_ok and draw(st.integers(0, 4)) == 0:
                how = draw(st.sampled_from(kinds))
                if how == "const":
                    return ("const", draw(numbers()))
                return ("data", draw(st.integers(0, newest)))
            return ("ref", draw(st.integers(0, newest)))

        first: Operand = ("ref", newest) if k and draw(st.booleans()) else operand(False)
        if draw(st.booleans()):
            op = draw(st.sampled_from(KINKED))
        else:
            op = draw(st.sampled_from([*UNARY, *BINARY, *VARIADIC]))
        if op.nargs == 1:
            nodes.append((op, [first]))
            continue
        if op.nargs == 2:
            second = operand(True)
            pair = [second, first] if draw(st.booleans()) else [first, second]
            if pair[0][0] != "ref" and pair[1][0] != "ref":  # one operand must be a Value
                pair = [first, second]
            nodes.append((op, pair))
            continue
        if op is ops.OPS["dot"]:
            n = 2 * draw(st.integers(1, 3))
        elif op in ops.NEURONS.values():
            n = 2 * draw(st.integers(1, 2)) + 1
        else:
            n = draw(st.integers(1, 4))
        rest = [operand(True) for _ in range(n - 1)]
        at = draw(st.integers(0, n - 1))
        nodes.append((op, [*rest[:at], first, *rest[at:]]))
    # The output adds up every node that nothing reads, so that no node is dead code.
    read = {j for _, operands in nodes for how, j in operands if how == "ref"}
    ends = [n_leaves + k for k in range(len(nodes)) if n_leaves + k not in read]
    if len(ends) > 1:
        nodes.append((ops.OPS["sum"], [("ref", j) for j in ends]))
    return Recipe(n_inputs, values, nodes)


def same(a: float, b: float) -> bool:
    """Equal as floats (0.0 == -0.0), NaN equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass
class Traced:
    """A recipe traced at its values: the leaves, inputs, parameters and compiled program."""

    recipe: Recipe
    leaves: list[Value]
    out: Value
    inputs: list[Value]
    params: list[Value]
    scale: Value | None  # an input the output is multiplied by, the last of the inputs

    def eager(self, xs: Sequence[float], seed: float = 1.0) -> tuple[float, list[float]]:
        """Output and parameter gradients of a new eager graph at inputs xs (params as they are)."""
        leaves = list(self.leaves)
        for v, x in zip(self.inputs, xs):
            if v is not self.scale:
                leaves[self.leaves.index(v)] = Value(x)
        for p in self.params:
            p.grad = 0.0
        out = self.recipe.build(leaves)
        if self.scale is not None:
            out = out * Value(xs[-1])
        out.backward(seed)
        grads = [p.grad for p in self.params]
        for p in self.params:
            p.grad = 0.0
        return out.data, grads


def trace(recipe: Recipe, scaled: bool = False) -> Traced:
    """The recipe built at its values (settled); `scaled`: times an input of its own."""
    leaves = [Value(v, label=f"l{i}") for i, v in enumerate(recipe.values)]
    out = recipe.build(leaves, settle=True)
    assume(isinstance(out, Value) and out._maker is not None)
    scale = Value(1.0, label="scale") if scaled else None
    if scale is not None:
        out = out * scale
    graph = set(topological_order(out))
    inputs = [v for v in leaves[: recipe.n_inputs] if v in graph]
    params = [v for v in leaves[recipe.n_inputs :] if v in graph]
    return Traced(recipe, leaves, out, [*inputs, *([scale] if scale else [])], params, scale)


def backward(
    prog: Any, params: Sequence[Value], *xs: Any, seed: Any = 1.0
) -> tuple[Any, list[float]]:
    for p in params:
        p.grad = 0.0
    out = prog.backward(*xs, gradient=seed)
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    return out, grads


# --- the two reproductions of issue 19 --------------------------------------------------


def test_a_residual_around_relu_keeps_both_gradients() -> None:
    x, w = Value(0.7), Value(1.5)
    s = x * w
    out = s + s.relu()
    out.backward()
    assert w.grad == 1.4
    w.grad = 0.0
    prog = compile(out, [x])
    assert prog.backward(0.7) == out.data
    assert w.grad == 1.4  # was 0.7: `g + g3 * 0.0 if v <= 0.0 else g3` dropped g


def test_relu_used_twice_adds_both_contributions() -> None:
    x = Value(0.8)
    out = x.relu() + x.relu()
    out.backward()
    assert x.grad == 2.0
    x.grad = 0.0
    prog = compile(out)  # no inputs: x is a parameter of the program
    assert prog.backward() == out.data == 1.6
    assert x.grad == 2.0  # was 1.0


def test_numpy_batch_of_a_residual_around_relu() -> None:
    # The parameters' own part (w * 2.0) is written as float code in the numpy variant too.
    x, w = Value(0.7), Value(1.5)
    s = w * 2.0
    out = (s + s.relu()) * x
    prog = compile(out, [x])
    xs = [0.7, -1.0, 2.5]
    got = prog.backward(np.array(xs))
    assert got.tolist() == [(3.0 + 3.0) * v for v in xs]
    assert w.grad == sum(4.0 * v for v in xs)  # (2 + 2) * x, summed over the batch


def test_abs_and_pow_of_values_accumulate() -> None:
    a, b = Value(1.25), Value(2.0)
    h = a * b
    out = h + abs(h - 3.0) + h**b + ops.leaky_relu(h - 3.0, 0.1)
    out.backward()
    want = [a.grad, b.grad]
    a.grad = b.grad = 0.0
    x = Value(1.0)
    prog = compile(out * x, [x])
    prog.backward(1.0)
    assert [a.grad, b.grad] == want


def test_a_sum_keeps_the_precedence_of_its_operands() -> None:
    cond = emit.Expr("a if c else b", emit.CONDITIONAL)
    g = emit.atom("g")
    assert emit.binary(g, "+", cond).text == "g + (a if c else b)"
    assert emit.binary(g, "+", emit.Expr("a - b", emit.ADDITIVE)).text == "g + (a - b)"
    assert emit.binary(emit.Expr("a - b", emit.ADDITIVE), "+", g).text == "a - b + g"
    assert emit.binary(cond, "*", emit.constant(-2.0)).text == "(a if c else b) * (-2.0)"
    assert emit.call("float", cond).text == "float(a if c else b)"
    assert cond.fill({}).prec == emit.CONDITIONAL


# --- generated code shows in tracebacks -------------------------------------------------


def test_generated_functions_show_their_source_in_tracebacks() -> None:
    reciprocal = emit.function(lambda x: 1.0 / x, 1, name="reciprocal")
    try:
        reciprocal(0.0)
    except ZeroDivisionError:
        shown = traceback.format_exc()
    assert "<tapegrad-generated reciprocal #" in shown
    assert "return 1.0 / x0" in shown  # the line itself, from linecache
    assert inspect.getsource(reciprocal) == "def reciprocal(x0):\n    return 1.0 / x0\n"
    # the engine's fast paths and a compiled program's code too
    fastpaths.build()  # (installed too, unless TAPEGRAD_REFERENCE=1)
    add_entry = fastpaths.entry(ops.add)
    assert add_entry is not None and "data = x0 + x1" in inspect.getsource(add_entry)
    assert "if x0 <= 0.0 else" in inspect.getsource(ops.relu.float_vjps[0])  # type: ignore[attr-defined]
    x = Value(1.0)
    prog = compile(ops.log(x * Value(2.0)), [x])
    try:
        prog(-1.0)
    except ValueError:
        shown = traceback.format_exc()
    assert "<tapegrad-generated program #" in shown and "diagnose((x0,))" in shown
    assert "def forward(x0" in inspect.getsource(prog._forward)


# --- random programs: every op, kinks, shared parts, constants on both sides -------------


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(
    recipes(),
    st.lists(numbers(), min_size=5, max_size=5),
    st.sampled_from([1.0, -0.75, 3.0]),
)
def test_float_program_leaves_exactly_the_eager_gradients(
    recipe: Recipe, other: list[float], seed: float
) -> None:
    t = trace(recipe)
    prog = compile(t.out, t.inputs)
    # at the trace's own point, where `x - x.data` sits exactly on a kink
    xs = [v.data for v in t.inputs]
    want_out, want = t.eager(xs, seed)
    got_out, got = backward(prog, t.params, *xs, seed=seed)
    assert same(got_out, want_out), recipe
    assert all(map(same, got, want)), (str(recipe), got, want)
    # and at another point: new inputs, parameters moved (read live by the program)
    for p, v in zip(t.params, other[2:]):
        p.data = v
    xs = other[: len(t.inputs)]
    try:
        want_out, want = t.eager(xs, seed)
    except DOMAIN_ERRORS as e:
        with pytest.raises(type(e)):
            prog.backward(*xs, gradient=seed)
        return
    got_out, got = backward(prog, t.params, *xs, seed=seed)
    assert same(got_out, want_out), recipe
    assert all(map(same, got, want)), (str(recipe), got, want)


#: How far a numpy batch's gradient may be from the sum of the eager ones, relative to
#: the sum of their magnitudes. numpy's exp, log, tanh, log1p and power are within an
#: ulp or two (2.2e-16 relative) of the C library's, and the batch adds the examples in
#: another order (an error of a few ulps of the sum of magnitudes); programs of a few
#: ops on numbers in [-3, 3] amplify such differences by at most a few thousand, which
#: leaves 1e-12 with room to spare, as tests/test_compile.py allows.
NUMPY_REL = 1e-12


def close(got: float, want: float, scale: float) -> bool:
    if math.isnan(want) or math.isinf(want):
        return same(got, want)
    return abs(got - want) <= NUMPY_REL * max(1.0, abs(want), abs(got), scale)


# The program is multiplied by an input of its own, and has at most one other: much of
# it then depends on the parameters alone, which the numpy variant writes as float code
# (a conditional expression for relu, where the batch part has np.where). Programs that
# go wrong there are rarer than in the float test: 100 examples at least, in "dev" too.
@settings(
    max_examples=max(100, settings.default.max_examples),
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(
    recipes(node_constants=False, max_inputs=1),
    st.lists(st.lists(numbers(), min_size=2, max_size=2), min_size=3, max_size=3),
)
def test_numpy_batch_adds_the_sum_of_the_eager_gradients(
    recipe: Recipe, rows: list[list[float]]
) -> None:
    t = trace(recipe, scaled=True)
    prog = compile(t.out, t.inputs)
    batch = [row[-len(t.inputs) :] for row in rows]  # 3 examples
    outs, per_example = [], []
    for xs in batch:
        try:
            out, grads = t.eager(xs)
        except DOMAIN_ERRORS:
            assume(False)
        assume(all(math.isfinite(g) for g in grads) and math.isfinite(out))
        outs.append(out)
        per_example.append(grads)
    columns = [np.array(col) for col in zip(*batch)]
    got_out, got = backward(prog, t.params, *columns)
    for o, want in zip(got_out.tolist(), outs):
        assert close(o, want, 0.0), recipe
    for j, g in enumerate(got):
        terms = [grads[j] for grads in per_example]
        want = 0.0
        for term in terms:  # in eager's order: example after example into .grad
            want += term
        assert close(g, want, sum(map(abs, terms))), (str(recipe), got, per_example)


# --- training: fit(compiled=True) of a residual model trains like eager -----------------


class Residual(nn.Module):
    """h = w . x + b; out = v * (h + relu(h)) + c: a skip connection around a relu."""

    def __init__(self, rng: random.Random) -> None:
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(2)]
        self.b = Value(0.1)
        self.v = Value(rng.uniform(-1, 1))
        self.c = Value(0.0)

    def __call__(self, x: list[Any]) -> Value:
        h = ops.dot(self.w, x) + self.b
        return self.v * (h + h.relu()) + self.c


@pytest.mark.parametrize("batch_size", [1, 4, None])
def test_fit_compiled_trains_a_residual_model_like_eager(batch_size: int | None) -> None:
    # One example a step: the compiled step seeds the example's loss with 1/1 and runs
    # eager's rules in eager's order, so the weights are equal bit for bit. Batches of 4
    # (float programs) and of all 24 (one numpy batch) seed each example with 1/n where
    # eager differentiates the mean: equal to rounding, as fit's docstring says (and as
    # tests/test_nn_train.py checks, to 1e-12). Before issue 19 was fixed they differed
    # in the second digit.
    X, y = nn.data.make_moons(24, noise=0.2, seed=4)
    runs = []
    for compiled in (False, True):
        model = Residual(random.Random(7))
        optimizer = nn.SGD(model.parameters(), lr=0.1)
        nn.fit(
            model,
            X,
            y,
            loss="mse",
            optimizer=optimizer,
            steps=5,
            batch_size=batch_size,
            progress=False,
            compiled=compiled,
        )
        runs.append([p.data for p in model.parameters()])
    eager, compiled_run = runs
    if batch_size == 1:
        assert compiled_run == eager
    else:
        assert compiled_run == pytest.approx(eager, rel=0.0, abs=1e-12)
