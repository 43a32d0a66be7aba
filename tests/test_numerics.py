"""Numerics of the op table: NaN and infinities as PyTorch, exact higher orders, no bare errors."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import mpmath  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value, compile, grad, ops
from autograd.engine import Op
from autograd.testing import finite_floats, points
from nn import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

NAN, INF = math.nan, math.inf


def same(actual: float, expected: float, rel: float = 1e-12) -> bool:
    """Equal as PyTorch's value: NaN for NaN, the same infinity, else to `rel` (zeros unsigned)."""
    if math.isnan(expected):
        return math.isnan(actual)
    if math.isinf(expected):
        return actual == expected
    return abs(actual - expected) <= rel * max(abs(expected), 1e-300)


# --- every op at NaN, +-inf and +-1e308, against PyTorch ------------------------------


def _stack(xs: Sequence[Any]) -> Any:
    return torch.stack(list(xs))


TORCH: dict[str, Callable[..., Any]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "neg": lambda x: -x,
    "pow": torch.pow,
    "abs": torch.abs,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "sin": torch.sin,
    "cos": torch.cos,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "softplus": F.softplus,
    "sum": lambda *xs: _stack(xs).sum(),
    "dot": lambda *wx: (_stack(wx[: len(wx) // 2]) * _stack(wx[len(wx) // 2 :])).sum(),
    "logsumexp": lambda *xs: torch.logsumexp(_stack(xs), 0),
}

#: Ordinary operands per op, inside its domain; each case replaces one by a special value.
BASE: dict[str, list[tuple[float, ...]]] = {
    "pow": [(0.7, 0.7), (-2.0, 2.0)],
    "log": [(0.7,)],
    "sqrt": [(0.7,)],
    "leaky_relu": [(0.7, 0.1), (-0.7, 0.1)],
    "sum": [(0.7, -1.3, 2.0)],
    "dot": [(0.7, -1.3, 0.4, 2.0)],
    "logsumexp": [(0.7, -1.3, 2.0)],
}
SPECIAL = (NAN, INF, -INF, 1e308, -1e308)


def _rows(op: Op) -> list[tuple[float, ...]]:
    bases = BASE.get(op.name) or ([(0.7, -1.3)] if op.nargs == 2 else [(0.7,), (-0.7,)])
    rows: list[tuple[float, ...]] = []
    for base in bases:
        for k in range(len(base)):
            for s in SPECIAL:
                row = (*base[:k], s, *base[k + 1 :])
                if repr(row) not in map(repr, rows):
                    rows.append(row)
        rows.append((NAN,) * len(base))
    return rows


CASES = [(op, row) for op in ops.OPS.values() for row in _rows(op)]


def _expected_error(name: str, row: tuple[float, ...]) -> tuple[type[Exception], str] | None:
    """The error the op raises for `row` by DESIGN.md (PyTorch's value otherwise)."""
    x = row[0]
    if name in ("sin", "cos") and math.isinf(x):
        return ValueError, rf"{name} is undefined for x = {x!r}; inputs must be finite"
    if name == "log" and x <= 0.0:
        return ValueError, "log is undefined"
    if name == "sqrt" and x < 0.0:
        return ValueError, "sqrt is undefined"
    if name == "exp" and math.isfinite(x) and x > 709.79:
        return OverflowError, "exp overflows"
    if name == "pow":
        y = row[1]
        if math.isfinite(x) and x < 0.0 and math.isfinite(y) and not y.is_integer():
            return ValueError, "negative base to a non-integer power"
        if math.isfinite(x) and x != 0.0 and math.isfinite(y) and y * math.log(abs(x)) > 709.79:
            return OverflowError, "pow overflows"
    return None


def _torch_reference(name: str, row: tuple[float, ...]) -> tuple[float, list[float]]:
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in row]
    if name == "leaky_relu":
        # F.leaky_relu takes its slope as a number: d/dslope is x where x <= 0
        x = xs[0]
        y = F.leaky_relu(x, negative_slope=row[1])
        (dx,) = torch.autograd.grad(y, [x])
        dslope = torch.where(x > 0, torch.zeros_like(x), x)
        return y.item(), [dx.item(), dslope.item()]
    y = TORCH[name](*xs)
    grads = torch.autograd.grad(y, xs, allow_unused=True)
    return y.item(), [0.0 if d is None else d.item() for d in grads]


def _eager(op: Op, row: tuple[float, ...]) -> tuple[float, float, list[float]]:
    """Value on floats, then value and gradients through Values."""
    on_floats = op(*row)
    leaves = [Value(v) for v in row]
    out = op(*leaves)
    out.backward()
    return on_floats, out.data, [leaf.grad for leaf in leaves]


def _compiled_floats(op: Op, row: tuple[float, ...]) -> tuple[float, list[float]]:
    """Traced at ordinary values, every operand a parameter set to `row`: the float templates."""
    leaves = [Value(0.5) for _ in row]
    prog = compile(op(*leaves), [])
    for leaf, v in zip(leaves, row):
        leaf.data = v
        leaf.grad = 0.0
    out = prog.backward()
    assert same(prog(), out)
    return out, [leaf.grad for leaf in leaves]


def _compiled_numpy(op: Op, row: tuple[float, ...]) -> tuple[float, list[float]]:
    """A batch of one example: every operand an input array, shifted by a zero parameter."""
    xs = [Value(0.5) for _ in row]
    shifts = [Value(0.0) for _ in row]
    prog = compile(op(*[x + p for x, p in zip(xs, shifts)]), xs)
    out = prog.backward(*[np.array([v]) for v in row])
    return float(out[0]), [p.grad for p in shifts]


def test_every_op_has_a_torch_reference() -> None:
    assert {*TORCH, "leaky_relu"} == set(ops.OPS)  # leaky_relu: see _torch_reference


@pytest.mark.parametrize(("op", "row"), CASES, ids=[f"{op.name}{row}" for op, row in CASES])
def test_nonfinite_and_huge_inputs_match_torch_or_raise_clearly(
    op: Op, row: tuple[float, ...]
) -> None:
    error = _expected_error(op.name, row)
    if error is not None:
        kind, message = error
        runs: list[Callable[[], Any]] = [
            lambda: op(*row),
            lambda: op(*[Value(v) for v in row]),
            lambda: _compiled_floats(op, row),
        ]
        for run in runs:
            with pytest.raises(kind, match=message):
                run()
        with pytest.raises(kind, match=message + r".*\(example 0 of the batch\)"):
            _compiled_numpy(op, row)
        return
    ref, ref_grads = _torch_reference(op.name, row)
    on_floats, value, grads = _eager(op, row)
    results = {"eager": (value, grads)}
    results["compiled"] = _compiled_floats(op, row)
    results["numpy"] = _compiled_numpy(op, row)
    assert same(on_floats, ref), (on_floats, ref)
    for mode, (out, ds) in results.items():
        assert same(out, ref), (mode, out, ref)
        for k, (d, r) in enumerate(zip(ds, ref_grads, strict=True)):
            assert same(d, r), (mode, k, d, r)


# --- every rule multiplies by g ------------------------------------------------------


def _rules(op: Op, row: Sequence[float], g: float) -> list[float]:
    ans = op.forward(*row)
    if op.vjp_all is not None:
        return [float(d) for d in op.vjp_all(g, ans, *row)]
    assert op.vjps is not None
    return [float(rule(g, ans, *row)) for rule in op.vjps]


def _check_linear_in_g(op: Op, row: Sequence[float]) -> None:
    unit = _rules(op, row, 1.0)
    # A masked side (relu below 0, abs at 0, ...) passes exactly 0 whatever the seed,
    # NaN and inf included, as PyTorch; every other derivative is the seed times it.
    masked = [d == 0.0 for d in _rules(op, row, NAN)]
    for seed in (NAN, INF, -INF, 0.0, -2.5):
        got = _rules(op, row, seed)
        assert all(d == 0.0 for d, m in zip(got, masked) if m), (row, seed, got)
    assert all(u == 0.0 for u, m in zip(unit, masked) if m)
    live = [not m for m in masked]
    assert all(math.isnan(d) for d, k in zip(_rules(op, row, NAN), live) if k)
    assert not any(math.isfinite(d) for d, k in zip(_rules(op, row, INF), live) if k)
    # a zero seed gives zero, except times an infinite derivative (0 * inf is NaN)
    assert all(d == 0.0 or not math.isfinite(u) for d, u in zip(_rules(op, row, 0.0), unit))
    for d, u in zip(_rules(op, row, -2.5), unit):
        assert same(d, -2.5 * u, rel=1e-14)


@pytest.mark.parametrize("op", list(ops.OPS.values()), ids=list(ops.OPS))
@given(data=st.data())
def test_every_rule_multiplies_by_g(op: Op, data: st.DataObject) -> None:
    row = data.draw(points(op, lo=-3, hi=3, nargs=3 if op.nargs < 0 and op.name != "dot" else None))
    _check_linear_in_g(op, row)


@pytest.mark.parametrize(
    ("name", "row", "unit"),
    [
        ("relu", (0.0,), [0.0]),  # DESIGN's kink conventions, scaled by g
        ("relu", (-1.0,), [0.0]),
        ("abs", (0.0,), [0.0]),
        ("leaky_relu", (0.0, 0.1), [0.1, 0.0]),
        ("pow", (0.0, 0.5), [INF, 0.0]),
        ("pow", (2.0, 0.0), [0.0, math.log(2.0)]),
        ("sqrt", (0.0,), [INF]),
    ],
)
def test_kinks_and_constant_derivatives_still_scale_with_g(
    name: str, row: tuple[float, ...], unit: list[float]
) -> None:
    op = ops.OPS[name]
    assert _rules(op, row, 1.0) == unit
    _check_linear_in_g(op, row)
    # compiled programs too: a NaN seed reaches every gradient but the masked ones
    leaves = [Value(v) for v in row]
    prog = compile(op(*leaves), [])
    prog.backward(gradient=NAN)
    masked = [d == 0.0 for d in _rules(op, row, NAN)]
    assert all(leaf.grad == 0.0 if m else math.isnan(leaf.grad) for leaf, m in zip(leaves, masked))


MASKED = [  # (op, operands, which gradients are masked): DESIGN's kink conventions
    ("relu", (0.0,), [True]),
    ("relu", (-1.0,), [True]),
    ("abs", (0.0,), [True]),
    ("leaky_relu", (-1.0, 0.0), [True, False]),  # a zero slope masks like relu
    ("leaky_relu", (0.0, 0.0), [True, False]),
    ("leaky_relu", (2.0, 0.1), [False, True]),  # d/dslope is 0 on the positive side
    ("pow", (2.0, 0.0), [True, False]),  # x ** 0 does not depend on x
    ("pow", (0.0, 2.0), [False, True]),  # 0 ** y is 0 near y = 2
]


@pytest.mark.parametrize(("name", "row", "masked"), MASKED)
@pytest.mark.parametrize("seed", [INF, -INF, NAN, 1e308])
def test_masked_sides_pass_exactly_zero_whatever_the_upstream(
    name: str, row: tuple[float, ...], masked: list[bool], seed: float
) -> None:
    op = ops.OPS[name]
    got = _rules(op, row, seed)
    assert all(d == 0.0 for d, m in zip(got, masked) if m), got
    leaves = [Value(v) for v in row]
    op(*leaves).backward(seed)  # the engine, through whatever interpreter runs it
    assert all(leaf.grad == 0.0 for leaf, m in zip(leaves, masked) if m)


def test_an_infinite_gradient_behind_a_dead_relu_is_zero_as_in_pytorch() -> None:
    # sqrt'(0) is inf; relu below 0 must pass 0, not inf * 0 = NaN (issue 19)
    x = Value(-1.0)
    x.relu().sqrt().backward()
    assert x.grad == 0.0
    y = Value(-1.0)
    (y + y.relu().sqrt()).backward()
    assert y.grad == 1.0
    z = Value(0.0)
    abs(z).sqrt().backward()
    assert z.grad == 0.0


def test_dead_relu_gradients_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for x0 in (-1.0, 0.0):
        t = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        (t + torch.sqrt(torch.relu(t))).backward()
        x = Value(x0)
        (x + x.relu().sqrt()).backward()
        assert x.grad == float(t.grad), x0


# --- logsumexp's higher derivatives against mpmath ----------------------------------------

LSE_CASES: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], list[float]]] = [
    (
        "lse(e^1.5x, 0)",
        lambda x: ops.logsumexp([(1.5 * x).exp(), 0.0]),
        lambda x: mpmath.log(mpmath.exp(mpmath.exp(1.5 * x)) + 1),
        [30.0, 3.0, 0.25, -2.0, -40.0],
    ),
    (
        "lse(e^1.7x)",
        lambda x: ops.logsumexp([(1.7 * x).exp()]),
        lambda x: mpmath.exp(1.7 * x),
        [6.4, -3.0, 100.0],
    ),
    (
        "lse(x, 2x, -x, 0.5)",
        lambda x: ops.logsumexp([x, 2.0 * x, -x, 0.5]),
        lambda x: mpmath.log(mpmath.exp(x) + mpmath.exp(2 * x) + mpmath.exp(-x) + mpmath.exp(0.5)),
        [1.3, 25.0, -30.0, 300.0, -300.0],
    ),
    (
        "lse(x^2, 3x)",
        lambda x: ops.logsumexp([x * x, 3.0 * x]),
        lambda x: mpmath.log(mpmath.exp(x * x) + mpmath.exp(3 * x)),
        [0.7, 2.2, 40.0, -40.0],
    ),
]


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize(
    ("name", "f", "exact", "xs"), LSE_CASES, ids=[case[0] for case in LSE_CASES]
)
def test_logsumexp_higher_derivatives_match_mpmath(
    order: int,
    name: str,
    f: Callable[[Any], Any],
    exact: Callable[[Any], Any],
    xs: list[float],
) -> None:
    d = f
    for _ in range(order):
        d = grad(d)
    for x in xs:
        # 400 digits: at x = 300 the derivatives are e^-300 next to terms of size 600
        with mpmath.workdps(400):
            want = float(mpmath.diff(exact, mpmath.mpf(x), order))
        got = d(x)
        scale = max(abs(want), 1e-300)
        assert abs(got - want) <= 1e-9 * scale, (name, order, x, got, want)


def test_logsumexp_first_derivative_at_huge_equal_values_is_one_half() -> None:
    # e^(x - lse) with lse rounded to the ulp of 1e15 gave 0.47; softmax shifts by the max
    xs = [Value(1e15), Value(1e15)]
    ops.logsumexp(xs).backward()
    assert [x.grad for x in xs] == [0.5, 0.5]


def test_compiled_gradient_graphs_of_logsumexp_match_eager_on_floats_and_batches() -> None:
    # backward(create_graph=True) records softmax nodes; compile writes them inline
    def first_derivative(x: Value, w: Value) -> Value:
        y = ops.logsumexp([x * w, 2.0 * x, ops.exp(x), 0.5])
        y.backward(create_graph=True)
        d = x.grad
        x.grad = w.grad = 0.0
        assert isinstance(d, Value)
        return d

    w = Value(1.2)
    x = Value(0.3)
    prog = compile(first_derivative(x, w), [x])
    rows = [-30.0, 0.3, 1.7, 40.0]
    eager_grads = []
    for r in rows:
        w.grad = 0.0
        d = first_derivative(Value(r), w)
        d.backward()
        eager_grads.append(w.grad)
        w.grad = 0.0
        assert prog.backward(r) == d.data
        assert w.grad == eager_grads[-1]
    values = [first_derivative(Value(r), w).data for r in rows]
    w.grad = 0.0
    batch = prog.backward(np.array(rows))
    assert batch.tolist() == pytest.approx(values, rel=1e-12)
    assert w.grad == pytest.approx(sum(eager_grads), rel=1e-12)


# --- cross_entropy at any magnitude ---------------------------------------------------------


def _torch_cross_entropy(zs: list[float], target: int) -> tuple[float, list[float]]:
    z = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(z.unsqueeze(0), torch.tensor([target]))
    loss.backward()
    assert z.grad is not None
    return loss.item(), z.grad.tolist()


def _check_cross_entropy(zs: list[float], target: int) -> None:
    ref, ref_grads = _torch_cross_entropy(zs, target)
    vs = [Value(z) for z in zs]
    loss = losses.cross_entropy(vs, target)
    loss.backward()
    assert losses.cross_entropy(zs, target) == loss.data
    assert loss.data == pytest.approx(ref, rel=1e-12, abs=1e-12)
    for v, r in zip(vs, ref_grads, strict=True):
        assert v.grad == pytest.approx(r, rel=1e-12, abs=1e-12)
    # compiled, floats and a numpy batch of the same example twice
    xs = [Value(0.0) for _ in zs]
    prog = compile(losses.cross_entropy(xs, target), xs)
    assert prog(*zs) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    batch = prog(*[np.array([z, z]) for z in zs])
    assert batch.tolist() == pytest.approx([ref, ref], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("magnitude", [1e15, 1e16, 1e300])
@pytest.mark.parametrize("target", [0, 1])
def test_cross_entropy_of_two_equal_huge_logits_is_log_2(magnitude: float, target: int) -> None:
    _check_cross_entropy([magnitude, magnitude], target)
    vs = [Value(magnitude), Value(magnitude)]
    losses.cross_entropy(vs, target).backward()
    assert vs[target].grad == pytest.approx(-0.5) and vs[1 - target].grad == pytest.approx(0.5)


@given(
    st.floats(0.0, 300.0),
    st.lists(finite_floats(-3, 3), min_size=2, max_size=5),
    st.lists(finite_floats(-1.0, 1.0), min_size=5, max_size=5),
    st.data(),
)
def test_cross_entropy_matches_torch_at_any_magnitude(
    exponent: float, spread: list[float], offsets: list[float], data: st.DataObject
) -> None:
    # logits around a common value of 10^exponent (either sign), a few units apart, or
    # spread over the same magnitude: where logsumexp(z) - z_t lost its bits
    center = data.draw(st.sampled_from([1.0, -1.0])) * 10.0**exponent
    relative = data.draw(st.booleans())
    zs = [
        center * (1.0 + o) if relative else center + s
        for s, o in zip(spread, offsets[: len(spread)])
    ]
    _check_cross_entropy(zs, data.draw(st.integers(0, len(zs) - 1)))


# --- derivatives that overflow: PyTorch's infinity everywhere, never a bare math error --------

Binary = Callable[[Any, Any], Any]

#: (case, our function, PyTorch's, operands, seed): each derivative overflows a float.
OVERFLOWING: list[tuple[str, Binary, Binary, tuple[float, float], float]] = [
    ("pow dx", lambda x, y: x**y, torch.pow, (1e-200, -1.0), 1.0),
    ("pow dx odd power", lambda x, y: x**y, torch.pow, (-1e-105, -2.0), 1.0),
    ("pow dx big seed", lambda x, y: x**y, torch.pow, (1e-100, -1.0), 1e300),
    ("exp", lambda x, y: ops.exp(x) * y, lambda x, y: torch.exp(x) * y, (700.0, 1.0), 1e300),
    ("div dy", lambda x, y: x / y, torch.div, (1.0, 1e-200), 1.0),
    ("log", lambda x, y: ops.log(x) * y, lambda x, y: torch.log(x) * y, (5e-324, 1.0), 1.0),
    ("sqrt", lambda x, y: ops.sqrt(x) * y, lambda x, y: torch.sqrt(x) * y, (5e-324, 1.0), 1e300),
]


@pytest.mark.parametrize(
    ("name", "f", "tf", "row", "seed"), OVERFLOWING, ids=[case[0] for case in OVERFLOWING]
)
def test_overflowing_derivatives_are_torchs_infinity_in_every_mode(
    name: str, f: Binary, tf: Binary, row: tuple[float, float], seed: float
) -> None:
    xs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in row]
    ref = [
        d.item() for d in torch.autograd.grad(tf(*xs), xs, torch.tensor(seed, dtype=torch.float64))
    ]
    assert not all(math.isfinite(r) for r in ref)  # the case does overflow
    modes: dict[str, list[float]] = {}
    leaves = [Value(v) for v in row]
    f(*leaves).backward(seed)
    modes["eager"] = [leaf.grad for leaf in leaves]
    leaves = [Value(v) for v in row]
    f(*leaves).backward(seed, create_graph=True)
    modes["create_graph"] = [leaf.grad.data for leaf in leaves]
    leaves = [Value(v) for v in row]
    prog = compile(f(*leaves), [])
    prog.backward(gradient=seed)
    modes["compiled"] = [leaf.grad for leaf in leaves]
    inputs = [Value(v) for v in row]
    shifts = [Value(0.0), Value(0.0)]
    prog = compile(f(*[x + p for x, p in zip(inputs, shifts)]), inputs)
    prog.backward(*[np.array([v]) for v in row], gradient=seed)
    modes["numpy"] = [p.grad for p in shifts]
    for mode, grads in modes.items():
        for d, r in zip(grads, ref, strict=True):
            assert same(d, r), (mode, grads, ref)


def test_forward_overflow_of_pow_still_raises_naming_it() -> None:
    with pytest.raises(OverflowError, match=r"pow overflows in 1e-200 \*\* -2.0"):
        Value(1e-200) ** -2.0
