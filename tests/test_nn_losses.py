"""Tests of nn.losses: values and gradients against PyTorch (float64), stability, bad input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value
from autograd.testing import finite_floats
from nn import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {"rel": 1e-12, "abs": 1e-12}

logits = finite_floats(-500, 500)
moderate = finite_floats(-30, 30)


def _t(xs: list[float]) -> Any:
    return torch.tensor(xs, dtype=torch.float64, requires_grad=True)


def _values(xs: list[float]) -> list[Value]:
    return [Value(x) for x in xs]


def _check(ours: Value, inputs: list[Value], ref: Any, ref_inputs: Any) -> None:
    """Same loss and same gradient with respect to every input, to 1e-12."""
    assert ours.data == pytest.approx(ref.item(), **TOL)
    ours.backward()
    ref.backward()
    for v, g in zip(inputs, ref_inputs.grad.tolist(), strict=True):
        assert v.grad == pytest.approx(g, **TOL)


@given(st.lists(st.tuples(logits, st.sampled_from([0.0, 1.0]) | finite_floats(0, 1)), min_size=1))
def test_binary_cross_entropy_matches_torch_for_logits_in_the_hundreds(
    pairs: list[tuple[float, float]],
) -> None:
    xs = [x for x, _ in pairs]
    ts = [t for _, t in pairs]
    vs = _values(xs)
    ref_x = _t(xs)
    ref = F.binary_cross_entropy_with_logits(ref_x, torch.tensor(ts, dtype=torch.float64))
    _check(losses.binary_cross_entropy(vs, ts), vs, ref, ref_x)
    one = losses.binary_cross_entropy(xs[0], ts[0])
    assert isinstance(one, float)
    assert math.isfinite(one)


@given(
    st.lists(moderate, min_size=1, max_size=8).flatmap(
        lambda row: st.tuples(st.just(row), st.integers(0, len(row) - 1))
    )
)
def test_cross_entropy_matches_torch(case: tuple[list[float], int]) -> None:
    row, target = case
    vs = _values(row)
    ref_x = _t(row)
    ref = F.cross_entropy(ref_x.unsqueeze(0), torch.tensor([target]))
    _check(losses.cross_entropy(vs, target), vs, ref, ref_x)


@given(
    st.lists(st.lists(logits, min_size=3, max_size=3), min_size=1, max_size=5),
    st.data(),
)
def test_cross_entropy_of_a_batch_is_the_mean_and_stable(
    rows: list[list[float]], data: st.DataObject
) -> None:
    targets = data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    vs = [_values(r) for r in rows]
    ref_x = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    ref = F.cross_entropy(ref_x, torch.tensor(targets))
    ours = losses.cross_entropy(vs, targets)
    # Logits in the hundreds: compare relative to the size of the logits involved.
    scale = max(1.0, max(abs(x) for r in rows for x in r))
    assert ours.data == pytest.approx(ref.item(), rel=1e-12, abs=1e-12 * scale)
    ours.backward()
    ref.backward()
    for row, grads in zip(vs, ref_x.grad.tolist(), strict=True):
        for v, g in zip(row, grads, strict=True):
            assert v.grad == pytest.approx(g, **TOL)


def test_cross_entropy_does_not_overflow_on_huge_logits() -> None:
    vs = _values([1000.0, -1000.0, 999.0])
    loss = losses.cross_entropy(vs, 2)
    assert loss.data == pytest.approx(1.0 + math.log1p(math.exp(-1.0)), **TOL)
    loss.backward()
    assert all(math.isfinite(v.grad) for v in vs)
    assert losses.cross_entropy([1000.0, -1000.0], 0) == pytest.approx(0.0, abs=1e-300)


@given(st.lists(st.tuples(moderate, moderate), min_size=1, max_size=10))
def test_mse_matches_torch(pairs: list[tuple[float, float]]) -> None:
    ps = [p for p, _ in pairs]
    ts = [t for _, t in pairs]
    vs = _values(ps)
    ref_x = _t(ps)
    ref = F.mse_loss(ref_x, torch.tensor(ts, dtype=torch.float64))
    _check(losses.mse(vs, ts), vs, ref, ref_x)
    assert losses.mse(ps[0], ts[0]) == pytest.approx((ps[0] - ts[0]) ** 2, **TOL)


@given(st.lists(st.tuples(moderate, st.sampled_from([-1.0, 1.0])), min_size=1, max_size=10))
def test_hinge_matches_the_max_margin_loss_in_torch(pairs: list[tuple[float, float]]) -> None:
    ss = [s for s, _ in pairs]
    ys = [y for _, y in pairs]
    vs = _values(ss)
    ref_x = _t(ss)
    ref = torch.relu(1 - torch.tensor(ys, dtype=torch.float64) * ref_x).mean()
    _check(losses.hinge(vs, ys), vs, ref, ref_x)


@given(st.lists(moderate, max_size=10))
def test_l2_is_the_sum_of_squares(ps: list[float]) -> None:
    vs = _values(ps)
    ref_x = _t(ps)
    ref = (ref_x * ref_x).sum()
    penalty = losses.l2(vs)
    if not ps:
        assert penalty == 0.0
        return
    _check(penalty, vs, ref, ref_x)


def test_losses_of_plain_numbers_are_floats() -> None:
    assert losses.hinge([0.5, -2.0], [1, -1]) == pytest.approx(0.25)
    assert isinstance(losses.mse([1.0], [3.0]), float)
    assert losses.binary_cross_entropy(0.0, 1.0) == pytest.approx(math.log(2))
    assert losses.cross_entropy([0.0, 0.0], 1) == pytest.approx(math.log(2))
    assert losses.l2([3.0, 4.0]) == 25.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: losses.hinge([1.0], [0]), "labels must be -1 or \\+1"),
        (lambda: losses.mse([1.0, 2.0], [1.0]), "2 predictions but 1 targets"),
        (lambda: losses.mse([], []), "empty batch"),
        (lambda: losses.mse([1.0], 1.0), "targets must be a list"),
        (lambda: losses.binary_cross_entropy(0.0, 2.0), "in \\[0, 1\\]"),
        (lambda: losses.cross_entropy([1.0, 2.0], 2), "out of range for 2 classes"),
        (lambda: losses.cross_entropy([1.0, 2.0], -1), "out of range"),
        (lambda: losses.cross_entropy([], 0), "non-empty"),
        (lambda: losses.cross_entropy([1.0], 0.0), "class index"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
