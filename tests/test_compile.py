"""compile(): generated programs reproduce eager forward and backward, on floats and numpy."""

from __future__ import annotations

import itertools
import math
import random
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import Value, compile, custom_op, ops
from autograd.compiler import Program
from autograd.engine import Op, topological_order
from autograd.testing import Expression, expressions, finite_floats, points
from nn import MLP

TOL = 1e-12


def close(actual: float, expected: float, scale: float = 1.0) -> bool:
    """Equal to 1e-12, relative to the larger of the values and `scale`."""
    if math.isnan(expected):
        return math.isnan(actual)
    if math.isinf(expected):
        return actual == expected
    return abs(actual - expected) <= TOL * max(1.0, abs(expected), abs(actual), scale)


def eager(
    build: Callable[[list[Value]], Value], xs: Sequence[float], params: Sequence[Value]
) -> tuple[float, list[float]]:
    """Output and parameter gradients from a fresh eager graph (gradients zeroed first)."""
    for p in params:
        p.grad = 0.0
    out = build([Value(x) for x in xs])
    out.backward()
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    return out.data, grads


def compiled(prog: Program, xs: Sequence[Any], **kw: Any) -> tuple[Any, list[float]]:
    """Output and parameter gradients of one compiled backward call (gradients zeroed first)."""
    for p in prog.parameters:
        p.grad = 0.0
    out = prog.backward(*xs, **kw)
    grads = [p.grad for p in prog.parameters]
    for p in prog.parameters:
        p.grad = 0.0
    return out, grads


def check_program(
    build: Callable[[list[Value]], Value], xs_list: Sequence[Sequence[float]], prog: Program
) -> None:
    """The program matches eager per example, and in one numpy call over all examples."""
    params = prog.parameters
    per_example = []
    for xs in xs_list:
        ref, ref_grads = eager(build, xs, params)
        assert close(prog(*xs), ref)
        out, grads = compiled(prog, xs)
        assert close(out, ref)
        for g, r in zip(grads, ref_grads):
            assert type(g) is float and close(g, r)
        per_example.append((ref, ref_grads))
    columns = [np.array(col) for col in zip(*xs_list)]
    outs, grads = compiled(prog, columns)
    assert isinstance(outs, np.ndarray) and outs.shape == (len(xs_list),)
    for o, (ref, _) in zip(outs, per_example):
        assert close(float(o), ref)
    for k, g in enumerate(grads):
        terms = [rg[k] for _, rg in per_example]
        assert type(g) is float and close(g, sum(terms), scale=sum(map(abs, terms)))


# --- hypothesis: random expressions --------------------------------------------------


@given(
    expressions(n_leaves=3, max_ops=10),
    st.lists(st.lists(finite_floats(-3, 3), min_size=3, max_size=3), min_size=2, max_size=3),
    st.integers(1, 2),
)
def test_random_expressions_match_eager(
    expr: Expression, rows: list[list[float]], n_inputs: int
) -> None:
    leaves = [Value(x, label=f"x{i}") for i, x in enumerate(rows[0])]
    out = expr(*leaves)
    graph = set(topological_order(out))
    used = [i for i, leaf in enumerate(leaves) if leaf in graph]
    inputs = used[:n_inputs]  # the first leaves become arguments, the rest parameters
    params = {i: leaves[i] for i in used[n_inputs:]}
    prog = compile(out, [leaves[i] for i in inputs])

    def build(xs: list[Value]) -> Value:
        args = [params.get(i) or Value(0.0) for i in range(3)]
        for i, x in zip(inputs, xs):
            args[i] = x
        return expr(*args)  # type: ignore[no-any-return]

    xs_list = [[row[i] for i in inputs] for row in rows]
    check_program(build, xs_list, prog)
    for i, p in params.items():  # parameters are read live: move them, compare again
        p.data = rows[-1][i] * 0.5 + 0.25
    check_program(build, xs_list, prog)


# --- MLP-shaped graphs built with ops.dot ------------------------------------------


class TinyMLP:
    """Layers of neurons `act(w . x + b)` recorded with ops.dot, as nn builds them."""

    def __init__(self, sizes: Sequence[int], act: str, rng: random.Random) -> None:
        self.layers = [
            [([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(0.1)) for _ in range(nout)]
            for nin, nout in itertools.pairwise(sizes)
        ]
        self.act = act

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for w, b in layer for p in (*w, b)]

    def __call__(self, x: Sequence[Any]) -> Value:
        h: list[Any] = list(x)
        for depth, layer in enumerate(self.layers):
            outs = [ops.dot([*w, b], [*h, 1.0]) for w, b in layer]
            if depth < len(self.layers) - 1:
                outs = [getattr(ops, self.act)(o) for o in outs]
            h = outs
        return h[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "softplus"])
def test_mlp_training_steps_match_eager(act: str) -> None:
    rng = random.Random(act)
    model = TinyMLP([2, 5, 4, 1], act, rng)
    params = model.parameters()
    data = [([rng.uniform(-2, 2), rng.uniform(-2, 2)], rng.choice([-1.0, 1.0])) for _ in range(6)]

    def build(v: list[Value]) -> Value:  # hinge on one example, label as an input
        return ops.relu(1.0 - v[2] * model(v[:2])) + 1e-3 * ops.dot(params, params)

    xv = [Value(0.0), Value(0.0), Value(1.0)]
    prog = compile(build(xv), xv)
    assert set(prog.parameters) == set(params)
    rows = [[*x, y] for x, y in data]
    for _ in range(3):  # SGD steps between calls: the program reads the new weights
        check_program(build, rows, prog)
        for p in params:
            p.data -= 0.3 * rng.uniform(-1, 1)


def test_full_batch_mean_loss_gradient_equals_seeded_per_example_calls() -> None:
    rng = random.Random(3)
    model = TinyMLP([2, 3, 1], "tanh", rng)
    params = model.parameters()
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(5)]
    loss = ops.sum([model(x) ** 2.0 for x in X]) / len(X)
    loss.backward()
    expected = [p.grad for p in params]
    xv = [Value(0.0), Value(0.0)]
    prog = compile(model(xv) ** 2.0, xv)
    for p in params:
        p.grad = 0.0
    total = sum(prog.backward(*x, gradient=1.0 / len(X)) for x in X) / len(X)
    assert close(total, loss.data)
    for p, e in zip(params, expected):
        assert close(p.grad, e)


# --- every built-in op, inlined --------------------------------------------------------


@pytest.mark.parametrize("op", sorted(ops.OPS.values(), key=lambda op: op.name), ids=str)
def test_every_builtin_op_is_traced_and_inlined(op: Op) -> None:
    n = op.nargs if op.nargs >= 0 else 3
    leaves = [Value(0.5 + k) for k in range(n)]
    prog = compile(op(*leaves), leaves[:1])
    fn = op.forward.__name__
    # no call of the op's own functions: its forward and rules were written out
    assert f"f_{fn}" not in prog.source and "_vjp" not in prog.source
    assert prog.batchable and "f_" not in prog.numpy_source


OP_CASES = sorted((op for op in ops.OPS.values() if op.nargs >= 0), key=lambda op: op.name)


@pytest.mark.parametrize("op", OP_CASES, ids=lambda op: op.name)
@given(data=st.data())
def test_each_inlined_op_matches_its_rules(op: Op, data: st.DataObject) -> None:
    rows = [data.draw(points(op, lo=-3, hi=3)) for _ in range(3)]
    on_inputs, params, on_params, leaves, scale = _template_programs(op)
    values = [op.forward(*row) for row in rows]
    for row, v in zip(rows, values):  # every argument an input: the float templates
        assert close(on_inputs(*row), v)
    out_batch = on_inputs.backward(*[np.array(c) for c in zip(*rows)])
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    assert all(close(float(a), v) for a, v in zip(out_batch, values))
    # out = s * op(x0 + p0, x1 + p1, ...) with s = 1 and every p = 0, so in numpy
    # mode ds sums the op's values and dp_k sums its k-th rule: the array templates.
    assert close(grads[0], sum(values), scale=sum(map(abs, values)))
    assert op.vjps is not None
    for k, rule in enumerate(op.vjps):
        terms = [rule(1.0, v, *row) for row, v in zip(rows, values)]
        assert close(grads[k + 1], sum(terms), scale=sum(map(abs, terms)))
    for row, v in zip(rows, values):  # every argument a parameter: the float rules
        for leaf, x in zip(leaves, row):
            leaf.data = x
            leaf.grad = 0.0
        assert close(on_params.backward(gradient=scale), v)
        for k, leaf in enumerate(leaves):
            assert close(leaf.grad, op.vjps[k](scale, v, *row))


_PROGRAMS: dict[Op, tuple[Program, list[Value], Program, list[Value], float]] = {}


def _template_programs(op: Op) -> tuple[Program, list[Value], Program, list[Value], float]:
    """Compiled once per op (hypothesis then only varies the numbers)."""
    if op not in _PROGRAMS:
        xs = [Value(0.5) for _ in range(op.nargs)]
        shifts = [Value(0.0) for _ in range(op.nargs)]
        scale = Value(1.0)
        on_inputs = compile(scale * op(*[x + p for x, p in zip(xs, shifts)]), xs)
        leaves = [Value(0.5) for _ in range(op.nargs)]
        on_params = compile(op(*leaves), [])
        _PROGRAMS[op] = (on_inputs, [scale, *shifts], on_params, leaves, -1.5)
    return _PROGRAMS[op]


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 3.0, -1.0, 0.5, 2.5])
def test_pow_with_constant_exponents(exponent: float) -> None:
    w = Value(1.5, label="w")
    x = Value(1.0, label="x")
    prog = compile((x * w) ** exponent, [x])

    def build(v: list[Value]) -> Value:
        return (v[0] * w) ** exponent

    check_program(build, [[0.5], [1.25], [2.0]], prog)


def test_pow_with_a_value_exponent_and_a_constant_base() -> None:
    w = Value(0.7, label="w")
    x = Value(0.0, label="x")
    prog = compile(x**w + 2.0 ** (x * w) + (-2.0) ** (w * 0.0 + 2.0), [x])

    def build(v: list[Value]) -> Value:
        return v[0] ** w + 2.0 ** (v[0] * w) + (-2.0) ** (w * 0.0 + 2.0)

    check_program(build, [[0.5], [1.5], [3.0]], prog)


def test_leaky_relu_with_a_parameter_slope_and_kinks() -> None:
    slope = Value(0.1, label="slope")
    x = Value(0.0, label="x")
    prog = compile(ops.leaky_relu(x, slope) + abs(x) + ops.relu(x), [x])

    def build(v: list[Value]) -> Value:
        return ops.leaky_relu(v[0], slope) + abs(v[0]) + ops.relu(v[0])

    check_program(build, [[-1.5], [0.0], [2.0]], prog)


def test_stable_activations_at_extreme_inputs() -> None:
    w = Value(1.0)
    x = Value(0.0)
    prog = compile(ops.sigmoid(x * w) + ops.softplus(x * w) + ops.tanh(x * w), [x])

    def build(v: list[Value]) -> Value:
        return ops.sigmoid(v[0] * w) + ops.softplus(v[0] * w) + ops.tanh(v[0] * w)

    check_program(build, [[-1000.0], [-30.0], [0.0], [40.0], [1000.0]], prog)


def test_logsumexp_shifts_by_the_current_maximum_not_the_traced_one() -> None:
    # Traced at x = 0, run at +-1000: a shift frozen at trace time would overflow
    # exp() or take log(0); the op shifts by the largest argument at every call.
    w1, w2 = Value(1.0), Value(-2.0)
    x = Value(0.0)

    def build(v: list[Value]) -> Value:
        return ops.logsumexp([v[0] * w1, v[0] * w2, w1 + w2, 3.0])

    check_program(build, [[-1000.0], [-3.0], [0.0], [2.5], [1000.0]], compile(build([x]), [x]))


def test_sqrt_at_zero_gives_eager_infinite_gradient() -> None:
    w = Value(0.0)
    x = Value(1.0)
    prog = compile(ops.sqrt(x * w), [x])
    prog.backward(2.0)
    assert w.grad == math.inf


def test_dot_with_constants_on_either_side() -> None:
    w1, w2 = Value(0.3), Value(-1.2)
    x = Value(1.0)

    def build(v: list[Value]) -> Value:
        a = ops.dot([w1, w2, v[0], 2.0], [v[0], 2.0, 1.0, w1])
        return a * ops.dot([1.0, -1.0, 1.0], [w2, v[0] * w1, a]) + ops.sum([w1, 3.0, v[0]])

    check_program(build, [[0.5], [-2.0]], compile(build([x]), [x]))


def test_long_sums_and_dots_compile() -> None:
    # 3000 terms in one expression would nest too deeply for Python's compiler.
    ws = [Value(math.sin(i)) for i in range(3000)]
    x = Value(0.5)
    out = ops.sum([ops.dot(ws, ws), x * 2.0, *ws])
    out.backward()
    expected = [w.grad for w in ws]
    prog = compile(out, [x])
    out_c, grads = compiled(prog, [0.5])
    assert close(out_c, out.data)
    assert all(close(g, e) for g, e in zip(grads, expected))
    assert set(prog.parameters) == set(ws)


# --- calling conventions --------------------------------------------------------------


def test_gradients_left_as_values_by_create_graph_become_floats_like_eager() -> None:
    x, w = Value(0.3), Value(1.2)
    (ops.tanh(x * w) * w).backward(create_graph=True)
    assert isinstance(w.grad, Value)
    first = w.grad.data
    prog = compile(ops.tanh(x * w) * w, [x])
    prog.backward(0.5)
    eager_w = Value(1.2)
    eager_w.grad = Value(first)  # the same state, then a plain eager backward
    (ops.tanh(Value(0.5) * eager_w) * eager_w).backward()
    assert type(w.grad) is float and type(eager_w.grad) is float
    assert close(w.grad, eager_w.grad)
    prog.backward(0.5)  # and from then on plain accumulation
    assert type(w.grad) is float


def test_a_create_graph_pass_that_fails_still_makes_programs_check_for_value_grads() -> None:
    x, w = Value(0.3), Value(1.2)
    prog = compile(ops.tanh(x * w) * w, [x])
    prog.backward(0.5)
    w.grad = 0.0
    out = (ops.sqrt(Value(0.0)) + ops.tanh(x * w)) * w  # sqrt'(0) is infinite
    with pytest.raises(FloatingPointError), autograd.detect_anomaly():
        out.backward(create_graph=True)
    prog.backward(0.5)
    assert type(w.grad) is float


def test_generated_source_is_released_with_its_program() -> None:
    import gc
    import linecache

    before = set(linecache.cache)
    x = Value(1.0)
    prog = compile(x * Value(2.0), [x])
    prog.numpy_source  # noqa: B018  (generates the numpy variant too)
    ours = set(linecache.cache) - before
    assert len(ours) == 2  # tracebacks can show the generated lines while it lives
    del prog
    gc.collect()
    assert not ours & set(linecache.cache)


def test_parameters_are_read_live_and_gradients_accumulate() -> None:
    w = Value(2.0, label="w")
    x = Value(3.0, label="x")
    prog = compile(w * x, [x])
    assert prog(3.0) == 6.0
    w.data = -1.0
    assert prog(3.0) == -3.0
    w.grad = 10.0
    assert prog.backward(4.0) == -4.0
    prog.backward(0.5)
    assert w.grad == 14.5  # += like eager backward, never overwritten
    assert x.grad == 0.0  # inputs are arguments; their Values are left alone


def test_gradient_seed_like_eager_backward() -> None:
    w = Value(0.3)
    x = Value(1.2)
    out = ops.tanh(w * x)
    out.backward(-2.5)
    expected = w.grad
    w.grad = 0.0
    compile(out, [x]).backward(1.2, gradient=-2.5)
    assert close(w.grad, expected)


def test_ints_numpy_scalars_and_bools_are_accepted_as_inputs() -> None:
    w = Value(2.0)
    x = Value(1.0)
    prog = compile(w * x + x, [x])
    assert prog(3) == 9.0
    assert prog(np.float32(0.5)) == 1.5
    assert prog(True) == 3.0
    assert prog.backward(np.int64(2), gradient=2) == 6.0
    assert w.grad == 4.0


def test_no_values_are_created_when_a_program_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    w = Value(0.5)
    x = Value(1.0)
    prog = compile(ops.tanh(ops.dot([w, w], [x, x * 3.0])), [x])

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the program recorded an op")

    monkeypatch.setattr(Op, "__call__", forbidden)
    monkeypatch.setattr(Value, "__init__", forbidden)
    assert close(prog(2.0), math.tanh(0.5 * 2.0 + 0.5 * 6.0))
    prog.backward(2.0)
    prog.backward(np.array([1.0, 2.0]))
    assert w.grad != 0.0


def test_control_flow_is_frozen_at_trace_time() -> None:
    w = Value(1.0)
    x = Value(2.0)
    y = x * w if x.data > 0 else -(x * w)  # Python `if`: traced with x > 0
    prog = compile(y, [x])
    assert prog(-3.0) == -3.0  # eager code would have taken the other branch: 3.0
    r = ops.relu(x * w)  # a branch inside an op is re-evaluated every call
    assert compile(r, [x])(-3.0) == 0.0


def test_several_outputs_return_a_tuple_and_take_one_seed_each() -> None:
    w = Value(0.5)
    x = Value(1.0)
    h = ops.tanh(w * x)
    loss = h * h
    prog = compile([loss, h], [x])
    out = prog(2.0)
    assert isinstance(out, tuple) and close(out[1], math.tanh(1.0))
    assert close(out[0], math.tanh(1.0) ** 2)
    prog.backward(2.0, gradient=(1.0, 0.0))  # only the loss
    only_loss = w.grad
    w.grad = 0.0
    h2 = ops.tanh(w * Value(2.0))
    (h2 * h2).backward()
    assert close(only_loss, w.grad)
    w.grad = 0.0
    prog.backward(2.0)  # default: one seed of 1.0 per output, d(loss + h)
    both = w.grad
    w.grad = 0.0
    h3 = ops.tanh(w * Value(2.0))
    (h3 * h3 + h3).backward()
    assert close(both, w.grad)
    batch = prog(np.array([2.0, 1.0]))
    assert isinstance(batch, tuple) and batch[1].shape == (2,)
    assert isinstance(compile([h], [x])(2.0), tuple)
    with pytest.raises(ValueError, match="one seed per output"):
        prog.backward(2.0, gradient=(1.0,))


def test_a_program_without_inputs_and_a_leaf_output() -> None:
    w = Value(3.0)
    prog = compile(w * w, [])
    assert prog() == 9.0
    prog.backward()
    assert w.grad == 6.0
    leaf = compile(w, [])
    assert leaf.backward(gradient=2.0) == 3.0
    assert w.grad == 8.0


def test_micrograd_style_nodes_are_refused_by_name() -> None:
    a = Value(2.0)
    c = Value(6.0, (a, Value(3.0)), "*")  # made by hand: no rule
    x = Value(1.0)
    with pytest.raises(ValueError, match=r"built by hand.*@custom_op"):
        compile(c * x, [x])
    d = Value(2.0, (a,), "double")
    d._backward = lambda: None
    with pytest.raises(ValueError, match=r"op 'double'"):
        compile(d * x, [x])


def test_repr_and_sources_are_readable() -> None:
    w = Value(0.5, label="w")
    x = Value(1.0, label="x")
    prog = compile(ops.relu(ops.tanh(w * x)), [x])
    assert "1 inputs, 1 parameters, 3 ops" in repr(prog)
    assert "tanh(" in prog.source and "# w" in prog.source and " if " in prog.source
    assert "np.tanh(" in prog.numpy_source and "np.where(" in prog.numpy_source


def test_odd_labels_and_op_names_cannot_break_the_source() -> None:
    w = Value(0.5, label="np\nraise SystemExit \x00 # tanh")
    x = Value(1.0, label="dispatch")
    weird = custom_op(lambda v: 2.0 * v, name="1 weird-op!")
    weird.defvjp(lambda g, ans, v: 2.0 * g)
    prog = compile(weird(w * x), [x])
    assert prog(3.0) == 3.0
    assert prog.backward(np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert w.grad == 6.0


# --- numpy batches ---------------------------------------------------------------------


def test_batch_mixes_arrays_and_floats_and_takes_per_example_seeds() -> None:
    w = Value(0.5)
    x = Value(1.0)
    y = Value(2.0)
    prog = compile(ops.tanh(w * x) * y, [x, y])
    out, grads = compiled(prog, [np.array([1.0, -2.0, 0.5]), 3.0], gradient=np.array([1, 2, 0]))
    assert np.allclose(out, [3 * math.tanh(0.5), 3 * math.tanh(-1.0), 3 * math.tanh(0.25)])
    expected = sum(
        s * 3.0 * xv * (1 - math.tanh(0.5 * xv) ** 2) for s, xv in [(1, 1.0), (2, -2.0), (0, 0.5)]
    )
    assert close(grads[0], expected)


def test_batch_output_that_ignores_the_inputs_is_repeated() -> None:
    w = Value(0.5)
    x = Value(1.0)
    prog = compile([x * w, w * w], [x])
    out, grads = compiled(prog, [np.array([1.0, 2.0, 3.0])], gradient=(0.0, 1.0))
    assert out[1].tolist() == [0.25, 0.25, 0.25]
    assert grads == [3.0]  # the sum over three examples of d(w*w)/dw = 1


def test_batch_shapes_are_checked() -> None:
    x = Value(1.0)
    y = Value(1.0)
    prog = compile(x * y * Value(2.0), [x, y])
    with pytest.raises(ValueError, match="equal lengths"):
        prog(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        prog(np.zeros((2, 2)), 1.0)
    with pytest.raises(ValueError, match="shape"):
        prog.backward(np.zeros(3), 1.0, gradient=np.ones(2))
    with pytest.raises(TypeError, match="numpy arrays as inputs"):
        prog.backward(1.0, 1.0, gradient=np.ones(2))
    assert prog(np.zeros(0), np.zeros(0)).shape == (0,)
    with pytest.raises(TypeError, match="real numbers, got complex128"):
        prog(np.zeros(3, dtype=complex), 1.0)
    with pytest.raises(TypeError, match="gradient: batches are arrays of real numbers"):
        prog.backward(np.zeros(3), 1.0, gradient=np.ones(3, dtype=complex))
    objects = np.array([1.0, 2.0], dtype=object)  # real numbers held as objects are fine
    assert prog(objects, 1.0).tolist() == [2.0, 4.0]


# --- custom ops ------------------------------------------------------------------------


@custom_op(kinks=(0.0,))
def softsign(x: float) -> float:
    return x / (1 + abs(x))


softsign.defvjp(lambda g, ans, x: g / (1 + abs(x)) ** 2)


@custom_op
def scalar_only(x: float, y: float) -> float:
    return math.atan2(x, y)  # rejects arrays: no numpy variant


scalar_only.defvjp(
    lambda g, ans, x, y: g * y / (x * x + y * y),
    lambda g, ans, x, y: -g * x / (x * x + y * y),
)


@custom_op
def poly(*xs: float) -> float:
    return sum((k + 1) * x**2 for k, x in enumerate(xs))  # works on arrays too


poly.defvjp_all(lambda g, ans, *xs: [g * 2 * (k + 1) * x for k, x in enumerate(xs)])


@custom_op
def squares(*xs: float) -> float:
    return sum(x * x for x in xs)


squares.defvjp_all(lambda g, ans, *xs: (2.0 * g * x for x in xs))  # a generator, as eager allows


@pytest.mark.parametrize(
    "make",
    [
        lambda x, w: softsign(x * w) * w,
        lambda x, w: poly(x, w, 3.0, x * w),
        lambda x, w: squares(x * w, w, 0.5),
    ],
    ids=["vectorizable", "variadic", "generator-rule"],
)
def test_custom_ops_match_eager(make: Callable[[Any, Any], Value]) -> None:
    w = Value(0.8, label="w")
    x = Value(0.0, label="x")
    prog = compile(make(x, w), [x])
    check_program(lambda v: make(v[0], w), [[-1.5], [0.3], [2.0]], prog)
    check_program(lambda v: make(v[0], w), [[0.7], [-0.2]], prog)
    assert prog.batchable


@custom_op
def branchy(x: float) -> float:
    return x if x > 0 else 0.5 * x  # an `if` on the value: ambiguous for an array


branchy.defvjp(lambda g, ans, x: g * 1.0)  # takes arrays; the forward does not


@custom_op
def scalar_rule(x: float) -> float:
    return x * x


scalar_rule.defvjp(lambda g, ans, x: g * 2.0 * float(x))  # float() of an array fails


@custom_op
def batch_max(x: float) -> float:
    return float(np.max(np.array([x, 0.0 * x])))  # on an array: one max over the whole batch


batch_max.defvjp(lambda g, ans, x: g * (x > 0))


@custom_op
def sinc(x: float) -> float:
    return np.sinc(x / np.pi)  # type: ignore[no-any-return]


sinc.defvjp(lambda g, ans, x: g * (math.cos(x) - ans) / x)  # math.cos, and 1/0 at the trace


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda x, w: scalar_only(x, w) + scalar_only(w, 2.0), r"its forward .*float\(\)"),
        (lambda x, w: branchy(x * w), r"its forward .*bool\(\)"),
        (lambda x, w: scalar_rule(x * w), r"its derivative rule 0 .*float\(\)"),
        (lambda x, w: batch_max(x * w), r"its forward .*bool\(\)"),
        (lambda x, w: sinc(x * w), r"its forward .*raised AttributeError"),
    ],
    ids=["math-function", "if-on-value", "float-rule", "mixes-examples", "fails-at-trace"],
)
def test_ops_that_do_not_take_arrays_refuse_the_numpy_variant_clearly(
    make: Callable[[Any, Any], Value], what: str
) -> None:
    w = Value(0.8, label="w")
    x = Value(0.0, label="x")  # traced where sinc's rule divides by zero
    prog = compile(make(x, w), [x])
    for xs in ([-1.5], [0.3], [2.0]):  # floats: one example at a time works
        ref, ref_grads = eager(lambda v: make(v[0], w), xs, prog.parameters)
        out, grads = compiled(prog, xs)
        assert close(out, ref) and all(close(g, r) for g, r in zip(grads, ref_grads))
    assert not prog.batchable
    with pytest.raises(TypeError, match=rf"cannot run on numpy arrays: {what}.*one example"):
        prog.backward(np.array([0.3, 2.0]))
    assert w.grad == 0.0  # nothing was added by the refused call


@custom_op
def scaled(x: float, w: float) -> float:
    return x * w


# The rule for x takes no arrays, but x is an input: the program never calls it.
scaled.defvjp(lambda g, ans, x, w: g * w * math.exp(0.0 * x), lambda g, ans, x, w: g * x)


def test_rules_the_program_never_calls_are_not_held_against_it() -> None:
    w = Value(0.8, label="w")
    x = Value(0.5, label="x")
    prog = compile(scaled(x, w) * 2.0, [x])
    assert prog.batchable
    check_program(lambda v: scaled(v[0], w) * 2.0, [[0.3], [2.0]], prog)


def test_custom_op_results_are_converted_to_floats() -> None:
    @custom_op
    def floor(x: float) -> float:
        return math.floor(x)  # an int

    floor.defvjp(lambda g, ans, x: g * 0.0)
    x = Value(1.0)
    w = Value(2.0)
    out = compile(floor(x * w) * w, [x])(1.3)
    assert out == 4.0 and type(out) is float


# --- errors ------------------------------------------------------------------------------


def test_inputs_that_are_not_leaves_of_the_graph_are_rejected() -> None:
    x = Value(1.0, label="x")
    w = Value(2.0, label="w")
    h = (x * w).tanh()
    h.label = "h"
    with pytest.raises(ValueError, match=r"input 0 \('h'\) is computed by op 'tanh'"):
        compile(h * h, [h])
    with pytest.raises(ValueError, match=r"'other'.*not a leaf of the output's graph"):
        compile(h, [x, Value(0.0, label="other")])
    with pytest.raises(ValueError, match=r"'x'.*twice"):
        compile(h, [x, x])
    with pytest.raises(TypeError, match="float"):
        compile(h, [1.0])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="Value"):
        compile(1.0, [x])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one output"):
        compile([], [x])


def test_ops_without_a_rule_are_rejected_naming_the_op() -> None:
    @custom_op
    def mystery(x: float) -> float:
        return x

    x = Value(1.0)
    with pytest.raises(ValueError, match="op 'mystery' has no derivative rule"):
        compile(mystery(x) * Value(2.0), [x])


def test_wrong_arguments_are_clear() -> None:
    x = Value(1.0, label="x")
    prog = compile(x * Value(2.0), [x])
    with pytest.raises(TypeError, match=r"takes 1 input value\(s\) \('x'\), got 2"):
        prog(1.0, 2.0)
    with pytest.raises(TypeError, match="got a Value"):
        prog(Value(1.0))
    with pytest.raises(TypeError, match="str"):
        prog("1.0")


@pytest.mark.parametrize(
    ("make", "value", "error", "message"),
    [
        (lambda x, w: ops.log(x * w), -1.0, ValueError, r"log is undefined for x = -1.0"),
        (lambda x, w: w / x, 0.0, ZeroDivisionError, r"division by zero in 1.0 / 0.0"),
        (lambda x, w: ops.exp(x * w), 800.0, OverflowError, r"exp overflows for x = 800.0"),
        (lambda x, w: (x - w) ** 0.5, -3.0, ValueError, r"negative base to a non-integer"),
        (lambda x, w: ops.sqrt(x * w), -2.0, ValueError, r"sqrt is undefined"),
    ],
)
def test_domain_errors_are_the_eager_ones(
    make: Callable[[Value, Value], Value], value: float, error: type[Exception], message: str
) -> None:
    x = Value(1.0, label="x")
    w = Value(1.0, label="w")
    eager_x = Value(value, label="x")
    with pytest.raises(error, match=message):
        make(eager_x, w)
    prog = compile(make(x, w), [x])
    before = w.grad
    for call in (prog, prog.backward):
        with pytest.raises(error, match=message):
            call(value)
        with pytest.raises(error, match=message + r".*\(example 1 of the batch\)"):
            call(np.array([1.0, value]))
    assert w.grad == before  # a failed call adds nothing


def test_numpy_overflow_that_python_allows_is_no_error() -> None:
    w = Value(1e300)
    x = Value(1.0)
    prog = compile(x * w * 1e10, [x])
    assert prog(1.0) == math.inf
    assert prog(np.array([1.0, 0.0])).tolist() == [math.inf, 0.0]


# --- wiring ------------------------------------------------------------------------------


def test_compile_is_exported_and_autograd_imports_without_numpy() -> None:
    assert autograd.compile is compile and "compile" in autograd.__all__
    code = "import sys, autograd; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_module_is_compiler_and_compile_is_only_the_function() -> None:
    import importlib

    import autograd.compiler as module

    assert module.compile is compile and callable(autograd.compile)
    assert module.Program is Program is autograd.Program and "Program" in autograd.__all__
    # no module of the function's name shadows it (or is shadowed by it)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("autograd.compile")


# --- nn.plot: the decision boundary is the model compiled, not a copy of it -----------------


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_the_grid_is_the_compiled_model_and_matches_eager(
    activation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nn import plot

    def no_fallback(*args: Any) -> Any:
        raise AssertionError("an MLP's grid is one compiled numpy batch, not a loop")

    monkeypatch.setattr(plot, "_model_on_grid", no_fallback)
    model = MLP(2, [5, 4, 3], activation=activation, rng=random.Random(3))
    points = np.array([[0.3, -0.2], [-1.5, 2.0], [0.0, 0.0], [40.0, -40.0], [1e-9, 3.0]])
    got = plot._compiled_on_grid(np, model, points)
    monkeypatch.undo()
    for row, outs in zip(points.tolist(), got.tolist()):
        eager = [v.data for v in model([Value(x) for x in row])]
        assert outs == pytest.approx(eager, rel=1e-12, abs=1e-12)
    assert not hasattr(plot, "_act")  # no copy of the activations: the program is the engine's


def test_a_grid_the_engine_cannot_batch_is_evaluated_point_by_point() -> None:
    from nn import plot
    from nn.module import Module

    class Ignores(MLP):  # an output that does not depend on x1: no program takes x1
        def __call__(self, x: Any) -> Any:
            return super().__call__([x[0], Value(0.25)])

    model = Ignores(2, [3, 1], rng=random.Random(0))
    assert isinstance(model, Module)
    points = np.array([[0.5, 1.0], [-2.0, 7.0]])
    got = plot._compiled_on_grid(np, model, points)
    want = [model([Value(a), Value(b)]).data for a, b in points.tolist()]
    assert got[:, 0].tolist() == want


# --- numpy batches: a layer is one matrix product ---------------------------------------------


def test_a_layer_of_dot_products_is_one_matrix_product_in_a_batch() -> None:
    rng = random.Random(5)
    model = TinyMLP([3, 6, 5, 1], "tanh", rng)
    params = model.parameters()
    xv = [Value(0.0), Value(0.0), Value(0.0)]
    prog = compile(model(xv), xv)
    source = prog.numpy_source
    # each layer (6 and 5 neurons over shared inputs, then the output neuron) is
    # X @ W.T + B; tanh runs once on each hidden layer's matrix, whose result is the
    # next layer's X: only the program's inputs are stacked into a matrix
    products = re.findall(r"(ZL\d+) = XL\d+ @ WL\d+\.T", source)
    assert len(set(products)) == 3
    assert re.findall(r"XL\d+ = np\.stack", source) == ["XL0 = np.stack"] * 2  # fwd, bwd
    assert "XL1 = HL0" in source and "XL2 = HL1" in source
    forward = source[source.index("def forward") : source.index("def backward")]
    assert forward.count("np.tanh(") == 2
    assert "@" not in prog.source  # the float program stays one example at a time
    rows = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(4)]
    check_program(lambda v: model(v), rows, prog)
    for p in params:  # read live: an optimizer step between calls changes the matrices
        p.data -= 0.1
    check_program(lambda v: model(v), rows, prog)


@pytest.mark.parametrize("read_elsewhere", [True, False])
def test_layers_fuse_only_when_nothing_else_reads_the_activations(read_elsewhere: bool) -> None:
    rng = random.Random(6)
    hidden = [([Value(rng.uniform(-1, 1)) for _ in range(2)], Value(0.1)) for _ in range(3)]
    top = [Value(rng.uniform(-1, 1)) for _ in range(3)]

    def build(v: list[Value]) -> Value:
        h = [ops.relu(ops.dot([*w, b], [*v, 1.0])) for w, b in hidden]
        out = [ops.sigmoid(ops.dot(top, h)), ops.tanh(ops.dot(top[::-1], h))]
        # h[1] read outside the next layer: the hidden layer cannot hand over its matrix
        return out[0] + out[1] * (h[1] if read_elsewhere else 1.0)

    xv = [Value(0.0), Value(0.0)]
    prog = compile(build(xv), xv)
    assert ("XL1 = HL0" in prog.numpy_source) is not read_elsewhere
    assert " @ WL" in prog.numpy_source
    rows = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(5)]
    check_program(build, rows, prog)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_nn_mlp_layers_are_matrix_products_in_a_batch(activation: str) -> None:
    model = MLP(2, [6, 5, 1], activation=activation, rng=random.Random(7))
    xv = [Value(0.0), Value(0.0)]
    y = Value(1.0)
    prog = compile(ops.relu(1.0 - y * model(xv)), [*xv, y])
    source = prog.numpy_source
    assert len(set(re.findall(r"(ZL\d+) = XL\d+ @ WL\d+\.T", source))) == 3
    assert "XL1 = HL0" in source and "XL2 = HL1" in source
    rng = random.Random(8)
    rows = [[rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice([-1.0, 1.0])] for _ in range(6)]
    check_program(lambda v: ops.relu(1.0 - v[2] * model(v[:2])), rows, prog)
