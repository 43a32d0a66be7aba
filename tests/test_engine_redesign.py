"""The engine's second design (issue 14 section 2): operand tuple, recording order, neuron nodes."""

from __future__ import annotations

import copy
import math
import pickle
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import (
    Value,
    compile,
    detect_anomaly,
    fastpaths,
    format_tape,
    grad,
    hessian,
    no_grad,
    ops,
    topological_order,
)
from autograd import neuron as neuron_module
from autograd.engine import Constant, chain_rule, constant, is_constant, operands
from autograd.testing import finite_floats, seeds

ACTS: list[str | None] = [None, "relu", "tanh", "sigmoid"]

# Special floats the fused and unfused neurons must treat alike, bit for bit.
SPECIALS = [0.0, -0.0, 1.5, -2.0, 1e200, -1e200, math.inf, -math.inf, math.nan]
special_floats = st.one_of(st.sampled_from(SPECIALS), finite_floats(-5.0, 5.0))


def bits(xs: Sequence[Any]) -> list[str]:
    """Floats as their reprs: NaN equals NaN and -0.0 differs from 0.0."""
    return [repr(float(x)) for x in xs]


def every_node(*roots: Value) -> list[Value]:
    """Every Value below `roots`, through operands and through `.grad` Values."""
    seen: dict[int, Value] = {}
    stack = list(roots)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen[id(v)] = v
        stack.extend(v._operands)
        if isinstance(v.grad, Value):
            stack.append(v.grad)
    return list(seen.values())


def assert_numbered_after_operands(*roots: Value) -> None:
    """The invariant backward's sort relies on: an op-made node is newer than its operands."""
    for v in every_node(*roots):
        for c in v._operands:
            if c._seq > 0:
                assert v._seq > c._seq, (
                    f"{v!r} (#{v._seq}) is not newer than its operand {c!r} (#{c._seq})"
                )


def unfused(ws: Sequence[Value], b: Value, xs: Sequence[Any], act: str | None) -> Value:
    """The same neuron from separate ops: dot, add, activation."""
    z = ops.dot(list(ws), list(xs)) + b
    return z if act is None else getattr(z, act)()


def second_order_graph() -> tuple[Value, Value, Value]:
    """x, h = x*x, y = h*h after y.backward(create_graph=True): h.grad's graph uses h."""
    x = Value(1.5)
    h = x * x
    y = h * h
    y.backward(create_graph=True)
    return x, h, y


# --- bugs ----------------------------------------------------------------------


def _pickled(t: Any) -> Any:
    return pickle.loads(pickle.dumps(t))


@pytest.mark.parametrize("how", [_pickled, copy.deepcopy], ids=["pickle", "deepcopy"])
@pytest.mark.parametrize("sel", [(0, 1, 2), (1, 0), (2, 0)], ids=["x-first", "h-first", "y-first"])
def test_copied_create_graph_gradients_are_numbered_after_their_operands(
    how: Callable[[Any], Any], sel: tuple[int, ...]
) -> None:
    # h.grad (a Value after create_graph) is computed from h itself, so the copy's
    # walk reaches h.grad's nodes while h is still open: they must still be
    # renumbered after h, or backward through them visits h too early.
    x, _, _ = second_order_graph()
    x.grad.backward()  # plain accumulation: x.grad becomes the float dy/dx + d(dy/dx)/dx
    expected = x.grad
    assert type(expected) is float

    t = second_order_graph()
    copied = how(tuple(t[i] for i in sel))
    x2 = copied[sel.index(0)]
    assert_numbered_after_operands(*copied)
    x2.grad.backward()
    assert x2.grad == expected


def test_a_graph_with_neuron_nodes_pickles() -> None:
    # Before the neuron node, an MLP's output was dot/add/tanh nodes and pickled.
    model = nn.MLP(2, [3, 1])
    out = model([1.0, -2.0])
    out2 = pickle.loads(pickle.dumps(out))
    assert out2.data == out.data
    out.backward()
    out2.backward()
    leaves = [v for v in topological_order(out) if not v._prev]
    leaves2 = [v for v in topological_order(out2) if not v._prev]
    assert bits([v.grad for v in leaves2]) == bits([v.grad for v in leaves])


@pytest.mark.parametrize("act", [None, "relu"])
def test_neuron_fast_path_skips_zero_shares_without_changing_any_gradient(act: str | None) -> None:
    # A zero activation slope (a dead relu, a zero seed) makes every share 0; the fast
    # path skips the node (issue 14's measured fast path). Every gradient is the same
    # number as the general rule's; only the sign of a zero already in .grad can
    # differ (-0.0 + 0.0 is 0.0, so adding the shares would turn -0.0 into 0.0).
    def run(fused: bool) -> list[float]:
        ws = [Value(1.0), Value(2.0)]
        b = Value(-10.0)
        xs = [Value(0.5), Value(0.25)]
        for v in (*ws, b, *xs):
            v.grad = -0.0
        out = neuron_module.neuron(ws, b, xs, act) if fused else unfused(ws, b, xs, act)
        out.backward(0.0 if act is None else 1.0)  # linear: a zero seed; relu: dead (z < 0)
        return [v.grad for v in (*ws, b, *xs)]

    fused, general = run(True), run(False)
    assert fused == general and all(g == 0.0 for g in fused)


POW_CONSTANT = {
    "pow_constant_exponent": lambda p: (2.0 * p + 1.0) ** 3.0,
    "pow_int_exponent": lambda p: p**3,
    "rpow_constant_base": lambda p: 2.0**p,
}


@pytest.mark.parametrize("name", sorted(POW_CONSTANT))
def test_second_derivative_through_pow_with_a_number_is_a_float(name: str) -> None:
    # Before the redesign grad(grad(f)) was a float here as for every other op; now
    # pow with a number operand makes it a Value (mul, div, exp stay floats).
    f = POW_CONSTANT[name]
    second = grad(grad(f))(0.25)
    assert type(second) is float, repr(second)
    assert second == hessian(f)(0.25)[0][0]


# --- neuron nodes: the fast path is exactly the general rule ------------------


@st.composite
def neuron_case(draw: Any) -> tuple[int, list[int], int, list[Any], list[float], float]:
    """A pool of leaves; weights, bias and inputs as indices into it (repeats) or numbers."""
    k = draw(st.integers(1, 4))
    n = draw(st.integers(1, 4))
    pick = st.integers(0, k - 1)
    w_idx = draw(st.lists(pick, min_size=n, max_size=n))
    b_idx = draw(pick)
    x_spec = draw(st.lists(st.one_of(pick, finite_floats(-3.0, 3.0)), min_size=n, max_size=n))
    data = draw(st.lists(finite_floats(-3.0, 3.0), min_size=k, max_size=k))
    g = draw(st.one_of(seeds(), st.just(0.0)))
    return k, w_idx, b_idx, x_spec, data, g


def _build(case: Any, act: str | None, fused: bool) -> tuple[list[Value], Value]:
    _, w_idx, b_idx, x_spec, data, _ = case
    pool = [Value(d) for d in data]
    ws = [pool[i] for i in w_idx]
    xs = [pool[x] if isinstance(x, int) else x for x in x_spec]
    out = (
        fastpaths.neurons([(ws, pool[b_idx])], xs, act)[0]
        if fused
        else unfused(ws, pool[b_idx], xs, act)
    )
    return pool, out


@pytest.mark.parametrize("act", ACTS)
@given(case=neuron_case())
def test_neuron_float_kernel_equals_general_step_with_repeated_operands(
    act: str | None, case: Any
) -> None:
    g = case[-1]
    pool_a, a = _build(case, act, True)
    pool_b, b = _build(case, act, True)
    fastpaths.build()  # (already built unless TAPEGRAD_REFERENCE=1)
    assert isinstance(a, fastpaths.NeuronValue)  # recorded by the fast path
    op = a._maker
    assert op is not None and op.float_kernel is not None
    a.grad = b.grad = g
    op.float_kernel(a)
    chain_rule(b)
    assert bits([v.grad for v in pool_a]) == bits([v.grad for v in pool_b])


@pytest.mark.parametrize("act", ACTS)
@given(case=neuron_case())
def test_neuron_backward_equals_dot_plus_activation(act: str | None, case: Any) -> None:
    # A leaf used twice sums its shares in another order than dot + add do (w, b,
    # x in one node against b, then the dot's): equal to rounding, exact otherwise.
    g = case[-1]
    pool_a, a = _build(case, act, True)
    pool_b, b = _build(case, act, False)
    assert bits([a.data]) == bits([b.data])
    a.backward(g)
    b.backward(g)
    got = [v.grad for v in pool_a]
    want = [v.grad for v in pool_b]
    _, w_idx, b_idx, x_spec, _, _ = case
    used = [*w_idx, b_idx, *[x for x in x_spec if isinstance(x, int)]]
    if len(set(used)) == len(used):
        assert bits(got) == bits(want)
    else:
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("act", ACTS)
@given(
    w=special_floats,
    x=special_floats,
    bias=special_floats,
    g=st.sampled_from([1.0, -1.0, 0.0, -0.0, math.inf, -math.inf, math.nan]),
)
def test_neuron_nan_inf_and_signed_zero_like_the_unfused_ops(
    act: str | None, w: float, x: float, bias: float, g: float
) -> None:
    # Non-finite sums take the general path (a node without _z); the result and
    # every gradient must be the unfused graph's, NaN for NaN and -0.0 for -0.0.
    def run(fused: bool) -> tuple[list[str], list[str]]:
        ws = [Value(w), Value(0.5)]
        b = Value(bias)
        xs = [Value(x), Value(-1.25)]
        out = neuron_module.neuron(ws, b, xs, act) if fused else unfused(ws, b, xs, act)
        out.backward(g)
        return bits([out.data]), bits([v.grad for v in (*ws, b, *xs)])

    assert run(True) == run(False)


def test_a_non_finite_sum_is_recorded_by_the_general_path() -> None:
    ws = [Value(math.inf)]
    out = neuron_module.neuron(ws, Value(0.0), [Value(1.0)], "relu")
    assert not isinstance(out, fastpaths.NeuronValue)
    assert out._maker is not None and out._maker.name == "relu_neuron"
    assert neuron_module.weighted_sum(out) == math.inf


def test_neuron_under_no_grad_and_detect_anomaly() -> None:
    ws = [Value(1.0), Value(2.0)]
    with no_grad():
        out = neuron_module.neuron(ws, Value(0.5), [1.0, 2.0], "tanh")
    assert out._maker is None and out._prev == ()
    bad = [Value(math.nan), Value(2.0)]
    with detect_anomaly(), pytest.raises(FloatingPointError, match="nan"):
        neuron_module.neuron(bad, Value(0.5), [1.0, 2.0], "tanh")


@given(a=finite_floats(-2.0, 2.0), b=finite_floats(-2.0, 2.0), c=finite_floats(-2.0, 2.0))
def test_hessian_through_neurons_equals_unfused(a: float, b: float, c: float) -> None:
    def f(fused: bool) -> Callable[..., Any]:
        def fn(p: Any, q: Any, r: Any) -> Any:
            make = neuron_module.neuron if fused else unfused
            return make([p, q], r, [2.0, p], "tanh") * make([r, p], q, [q, 0.5], "sigmoid")

        return fn

    assert hessian(f(True))(a, b, c) == hessian(f(False))(a, b, c)
    assert grad(grad(f(True)))(a, b, c) == grad(grad(f(False)))(a, b, c)


def test_neuron_layer_gradients_match_torch() -> None:
    torch = pytest.importorskip("torch")
    W = [[0.3, -1.2, 0.7], [1.1, 0.4, -0.5]]
    B = [0.1, -0.2]
    X = [0.5, -1.5, 2.0]
    for act in ("tanh", "sigmoid", "relu"):
        ws = [[Value(v) for v in row] for row in W]
        bs = [Value(v) for v in B]
        xs = [Value(v) for v in X]
        outs = neuron_module.neurons(list(zip(ws, bs)), xs, act)
        (outs[0] * 2.0 + outs[1] * outs[1]).backward()
        tw = torch.tensor(W, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(B, dtype=torch.float64, requires_grad=True)
        tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        h = getattr(torch, act)(tw @ tx + tb)
        (h[0] * 2.0 + h[1] * h[1]).backward()
        got = [v.grad for row in ws for v in row] + [v.grad for v in bs] + [v.grad for v in xs]
        want = tw.grad.flatten().tolist() + tb.grad.tolist() + tx.grad.tolist()
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("w0", [0.5, math.inf], ids=["fast", "fallback"])
def test_compiled_neuron_graph_with_constants_equals_eager(act: str | None, w0: float) -> None:
    ws = [Value(w0), Value(-1.5)]
    b = Value(0.1)
    x = Value(0.7)
    out = neuron_module.neuron(ws, b, [x, 3.0], act) * 2.0 + 1.0
    prog = compile(out, [x])
    result = prog.backward(0.7)
    compiled = [v.grad for v in (*ws, b)]
    for v in (*ws, b):
        v.grad = 0.0
    out.backward()
    assert bits([result]) == bits([out.data])
    assert bits(compiled) == bits([v.grad for v in (*ws, b)])


# --- operands: constants, _prev and _args views -------------------------------


def test_operand_views_show_constants_as_numbers_and_leave_them_out_of_prev() -> None:
    x = Value(2.0, label="x")
    y = 3.0 * x
    c, v = y._operands
    assert is_constant(c) and c.data == 3.0 and v is x
    assert y._prev == (x,)
    assert operands(y) == (3.0, x)
    z = x * x
    assert z._prev == (x, x) and operands(z) == (x, x)
    assert topological_order(y) == [x, y]
    assert "3" in format_tape(y)


def test_constants_never_show_a_gradient() -> None:
    x = Value(2.0)
    ws = [Value(0.5), Value(-1.0)]
    out = neuron_module.neuron(ws, Value(0.25), [4.0, x], "tanh") * 3.0 + x**2.0
    out.backward()
    out.backward()
    for node in topological_order(out):
        assert all(not is_constant(p) for p in node._prev)
        assert all(isinstance(a, (float, Value)) for a in operands(node))
        assert all(not (isinstance(a, Value) and is_constant(a)) for a in operands(node))
    # the functional API differentiates only the function's own arguments
    g = grad(lambda p: neuron_module.neuron([p, p], p, [4.0, 2.0], "tanh") * 3.0)(0.5)
    dz = 1.0 - math.tanh(0.5 * 4.0 + 0.5 * 2.0 + 0.5) ** 2
    assert g == pytest.approx(3.0 * dz * (4.0 + 2.0 + 1.0), rel=1e-12)


def test_functional_transforms_do_not_take_constants_for_outer_values() -> None:
    # A function whose numbers become constants is still a pure function of its arguments.
    def f(p: Any) -> Any:
        return (2.0 * p + 1.0) ** 3.0 + neuron_module.neuron([p], 0.5, [3.0], "sigmoid")

    direct = grad(f)(0.25)
    assert type(direct) is float
    p = Value(0.25)
    f(p).backward()
    assert direct == p.grad


def test_a_constant_is_a_leaf_of_its_own_class() -> None:
    c = constant(7)
    assert type(c) is Constant and is_constant(c) and not is_constant(Value(7))
    assert c.data == 7.0 and c._seq == 0 and c._operands == () and c._maker is None
    assert c._prev == () and operands(c) == () and c.label == ""


# --- recording order: pickling, copying, mixing --------------------------------


def chain(x: Value, n: int) -> Value:
    y = x
    for i in range(n):
        y = (y * 0.5 + x).tanh() if i % 2 else y * x + 1.0
    return y


def test_graphs_built_after_unpickling_are_ordered_after_the_loaded_nodes() -> None:
    x = Value(0.3)
    y = chain(x, 50)
    x2, y2 = pickle.loads(pickle.dumps((x, y)))
    assert_numbered_after_operands(y2)
    z2 = y2 * y2 + x2  # new nodes on top of loaded ones
    z = y * y + x
    assert z2._seq > y2._seq
    z.backward()
    z2.backward()
    assert x2.grad == x.grad


def test_deep_pickle_and_deepcopy_keep_the_order_and_the_gradients() -> None:
    x = Value(0.7)
    y = chain(x, 3000)
    for copied in (pickle.loads(pickle.dumps(y)), copy.deepcopy(y)):
        assert_numbered_after_operands(copied)
    y.backward()
    x3 = copy.deepcopy(x)
    # graph mixing copied and new nodes: a copied leaf and the original one
    y_mix = chain(x3, 3000) + y
    y_mix.backward()
    assert x3.grad == x.grad  # each held one pass's gradient and got a second one


def test_mixed_original_and_copied_subgraphs_backprop_into_both() -> None:
    x = Value(1.25)
    h = (x * x).tanh()
    h2 = copy.deepcopy(h)  # its own copy of x
    x2 = h2._operands[0]._operands[0]
    assert x2 is not x
    z = h * h2 + h2 * 3.0
    z.backward()
    dh = 1.0 - h.data**2
    assert x.grad == pytest.approx(h2.data * dh * 2 * 1.25, rel=1e-12)
    assert x2.grad == pytest.approx((h.data + 3.0) * dh * 2 * 1.25, rel=1e-12)


# --- trust fixes over the new loop ---------------------------------------------


def test_a_failed_backward_through_neuron_nodes_leaves_every_grad_as_it_was() -> None:
    ws = [Value(0.5), Value(-1.0)]
    b = Value(0.25)
    xs = [Value(1.0), Value(2.0)]
    broken = Value(ws[0].data * 2.0, (ws[0],), "twice")  # children, no rule: backward raises
    out = neuron_module.neuron(ws, b, xs, "tanh")
    top = out + broken  # newest first: top, then out (its kernel adds shares), then broken fails
    for i, v in enumerate((*ws, b, *xs)):
        v.grad = float(i) + 0.5
    before = [v.grad for v in (*ws, b, *xs)]
    with pytest.raises(TypeError, match="twice"):
        top.backward()
    assert [v.grad for v in (*ws, b, *xs)] == before
    assert out.grad == 0.0 and broken.grad == 0.0 and top.grad == 0.0


def test_hand_built_nodes_keep_micrograd_semantics() -> None:
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    out = Value(a.data * b.data, (a, b), "*")

    def _backward() -> None:
        a.grad += b.data * out.grad
        b.grad += a.data * out.grad

    out._backward = _backward
    top = (out + 1.0).tanh()
    top.backward()
    dt = 1.0 - top.data**2
    assert (a.grad, b.grad) == (pytest.approx(-3.0 * dt), pytest.approx(2.0 * dt))
    assert out._op == "*" and out._prev == (a, b) and out.label == ""
    out.label = "ab"
    assert out.label == "ab" and "ab" in repr(out)
    assert (a * b).label == ""


def test_threads_sharing_neuron_weights_accumulate_every_pass() -> None:
    model = nn.MLP(3, [4, 1])
    inputs = [[0.1 * i, -0.2 * i, 0.3] for i in range(8)]

    def work(rows: list[list[float]]) -> None:
        for row in rows:
            model(row).backward()

    threads = [threading.Thread(target=work, args=(inputs[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    together = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = 0.0
    work(inputs)
    assert together == pytest.approx([p.grad for p in model.parameters()], rel=1e-12)


def test_a_custom_rule_for_an_argument_that_is_always_a_number_is_not_called() -> None:
    from autograd import custom_op

    @custom_op
    def scaled(x: float, k: float) -> float:
        return k * x

    def never(g: Any, ans: Any, x: Any, k: Any) -> Any:
        raise AssertionError("the rule of a constant operand was called")

    scaled.defvjp(lambda g, ans, x, k: g * k, never)
    x = Value(1.5)
    scaled(x, 4.0).backward()  # 4.0 is a constant: its rule must not run
    assert x.grad == 4.0
