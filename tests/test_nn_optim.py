"""Tests of nn.optim and nn.schedules: trajectories against torch.optim, plain SGD, validation."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value
from autograd.testing import finite_floats
from nn import MLP, SGD, Adam, AdamW, losses, schedules
from nn.optim import Optimizer

X = [[0.5, -1.0], [1.5, 0.25], [-0.75, 0.8], [0.1, 0.2], [-1.2, -0.4]]
Y = [1.0, -1.0, 1.0, -1.0, 1.0]


def _torch_mlp(model: MLP, torch: Any) -> tuple[list[Any], Callable[[], Any]]:
    """The same network in torch: one weight matrix and bias vector per layer."""
    params = []
    for layer in model.layers:
        W = [[w.data for w in n.w] for n in layer.neurons]
        b = [n.b.data for n in layer.neurons]
        params.append(torch.tensor(W, dtype=torch.float64, requires_grad=True))
        params.append(torch.tensor(b, dtype=torch.float64, requires_grad=True))
    x = torch.tensor(X, dtype=torch.float64)
    y = torch.tensor(Y, dtype=torch.float64)

    def loss() -> Any:
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = torch.tanh(h)
        return ((h.squeeze(1) - y) ** 2).mean()

    return params, loss


def _flat(torch_params: list[Any]) -> list[float]:
    """torch parameters in the order of MLP.parameters() (per neuron: weights, then bias)."""
    out: list[float] = []
    for i in range(0, len(torch_params), 2):
        for row, b in zip(torch_params[i].tolist(), torch_params[i + 1].tolist(), strict=True):
            out.extend([*row, b])
    return out


CONFIGS: list[tuple[str, Callable[..., Optimizer], str, dict[str, Any]]] = [
    ("sgd", SGD, "SGD", {"lr": 0.1}),
    ("momentum", SGD, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("dampening", SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    ("nesterov", SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("weight_decay", SGD, "SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}),
    ("sgd_decay_only", SGD, "SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("adam", Adam, "Adam", {"lr": 0.01}),
    ("adam_defaults", Adam, "Adam", {}),
    ("adam_wd", Adam, "Adam", {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("amsgrad", Adam, "Adam", {"lr": 0.05, "amsgrad": True}),
    ("adamw", AdamW, "AdamW", {"lr": 0.01}),
    ("adamw_strong", AdamW, "AdamW", {"lr": 0.05, "weight_decay": 0.3, "eps": 1e-6}),
    ("adamw_amsgrad", AdamW, "AdamW", {"lr": 0.05, "amsgrad": True}),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_trajectory_matches_torch_optim(
    name: str, ours: Callable[..., Optimizer], theirs: str, kwargs: dict[str, Any]
) -> None:
    torch = pytest.importorskip("torch")
    model = MLP(2, [4, 3, 1], activation="tanh", rng=random.Random(0))
    torch_params, torch_loss = _torch_mlp(model, torch)
    opt = ours(model.parameters(), **kwargs)
    ref_opt = getattr(torch.optim, theirs)(torch_params, **kwargs)
    for _ in range(8):
        outs = [model(x) for x in X]
        loss = losses.mse(outs, Y)  # type: ignore[arg-type]
        model.zero_grad()
        loss.backward()
        opt.step()
        ref_opt.zero_grad()
        ref = torch_loss()
        ref.backward()
        ref_opt.step()
        assert loss.data == pytest.approx(ref.item(), rel=1e-9, abs=1e-12)
        for p, q in zip(model.parameters(), _flat(torch_params), strict=True):
            assert p.data == pytest.approx(q, rel=1e-9, abs=1e-12)


def test_plain_sgd_is_exactly_data_minus_lr_times_grad() -> None:
    ps = [Value(0.3), Value(-1.7), Value(2.5)]
    for p, g in zip(ps, [0.1, -0.25, 3.0], strict=True):
        p.grad = g
    expected = [0.3 - 0.7 * 0.1, -1.7 - 0.7 * -0.25, 2.5 - 0.7 * 3.0]
    SGD(ps, lr=0.7).step()
    assert [p.data for p in ps] == expected  # bit for bit


def test_lr_can_change_between_steps_and_zero_grad_clears() -> None:
    p = Value(1.0)
    opt = SGD([p, p], lr=0.5)  # duplicates are updated once
    p.grad = 1.0
    opt.step()
    opt.lr = 0.25
    opt.step()
    assert p.data == 1.0 - 0.5 - 0.25
    opt.zero_grad()
    assert p.grad == 0.0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: SGD(p, lr=-0.1), "lr"),
        (lambda p: SGD(p, lr=math.nan), "lr"),
        (lambda p: SGD([], lr=0.1), "empty parameter list"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov"),
        (lambda p: SGD(p, lr=0.1, momentum=-1), "momentum"),
        (lambda p: Adam(p, betas=(0.9, 1.0)), "betas\\[1\\]"),
        (lambda p: Adam(p, eps=-1), "eps"),
        (lambda p: AdamW(p, weight_decay=-0.1), "weight_decay"),
    ],
)
def test_bad_hyperparameters_are_value_errors(
    make: Callable[[list[Value]], Optimizer], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        make([Value(1.0)])
    with pytest.raises(TypeError, match="Values"):
        SGD([1.0], lr=0.1)  # type: ignore[list-item]


def test_update_rules_are_written_out() -> None:
    p = [Value(1.0)]
    assert SGD(p, lr=1).update_rule == "W_new = W_old - lr * dL/dW"
    assert "v = 0.9 * v + dL/dW" in SGD(p, lr=1, momentum=0.9).update_rule
    assert "sqrt(v_hat)" in Adam(p).update_rule
    assert AdamW(p).update_rule.startswith("W = W * (1 - lr*wd)")


# --- schedules ---------------------------------------------------------------------------------


def test_linear_decay_is_micrograds_schedule_exactly() -> None:
    schedule = schedules.LinearDecay(1.0, 0.1, 100)
    assert [schedule(k) for k in range(100)] == [1.0 - 0.9 * k / 100 for k in range(100)]
    assert schedule(150) == pytest.approx(0.1)
    assert schedules.get("linear", 1.0, 100)(37) == 1.0 - 0.9 * 37 / 100


@pytest.mark.parametrize(
    ("ours", "theirs", "kwargs"),
    [
        (schedules.StepDecay(0.5, 7, 0.3), "StepLR", {"step_size": 7, "gamma": 0.3}),
        (schedules.Exponential(0.5, 0.9), "ExponentialLR", {"gamma": 0.9}),
        (schedules.Cosine(0.5, 20, 0.01), "CosineAnnealingLR", {"T_max": 20, "eta_min": 0.01}),
        (schedules.Constant(0.5), "ConstantLR", {"factor": 1.0}),
    ],
)
def test_schedules_match_torch_lr_schedulers(
    ours: schedules.Schedule, theirs: str, kwargs: dict[str, Any]
) -> None:
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    scheduler = getattr(torch.optim.lr_scheduler, theirs)(opt, **kwargs)
    for step in range(21):
        assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        scheduler.step()


@pytest.mark.parametrize("name", schedules.SCHEDULES)
def test_named_schedules_start_at_lr_and_never_grow(name: str) -> None:
    schedule = schedules.get(name, 0.8, 30)
    rates = [schedule(k) for k in range(30)]
    assert rates[0] == 0.8
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(rates))
    assert all(r >= 0 for r in rates)
    if name != "constant":
        assert rates[-1] < 0.8


def test_unknown_schedule_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="constant, linear, step, exponential, cosine"):
        schedules.get("warmup", 1.0, 10)
    with pytest.raises(ValueError, match="learning rate"):
        schedules.Constant(-1.0)
    with pytest.raises(ValueError, match="steps"):
        schedules.Cosine(1.0, 0)
    with pytest.raises(ValueError, match="gamma"):
        schedules.Exponential(1.0, 0.0)


def test_sgd_positional_arguments_follow_the_design() -> None:
    ps = [Value(1.0)]
    sgd = SGD(ps, 0.1, 0.9, True, 0.01)  # params, lr, momentum, nesterov, weight_decay
    assert (sgd.lr, sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.1, 0.9, True, 0.01)
    assert sgd.dampening == 0.0
    with pytest.raises(TypeError):
        SGD(ps, 0.1, 0.9, False, 0.0, 0.5)  # type: ignore[misc]  # dampening is keyword-only
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        SGD(ps, 0.1, 0.9, 0.5)  # type: ignore[arg-type]  # torch's order: this was dampening
    assert "v = 0.9 * v + 0.7 * dL/dW" in SGD(ps, 0.1, 0.9, dampening=0.3).update_rule


# --- gradients that are Values or None -----------------------------------------------------


@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_step_after_create_graph_uses_the_gradients_value(
    name: str, ours: Callable[..., Optimizer], theirs: str, kwargs: dict[str, Any]
) -> None:
    # backward(create_graph=True) leaves Values in .grad; the step must move
    # p.data by their numbers (as torch steps with a tensor's value), exactly
    # as it does after a plain backward, and leave p.data a float.
    runs = []
    for create_graph in (False, True):
        model = MLP(2, [3, 1], activation="tanh", rng=random.Random(4))
        opt = ours(model.parameters(), **kwargs)
        for _ in range(3):
            model.zero_grad()
            losses.mse([model(x) for x in X], Y).backward(create_graph=create_graph)  # type: ignore[arg-type]
            assert all(isinstance(p.grad, Value) == create_graph for p in model.parameters())
            opt.step()
        assert all(type(p.data) is float for p in model.parameters())
        runs.append([p.data for p in model.parameters()])
    assert runs[1] == runs[0]


@settings(max_examples=25)
@given(
    grads=st.lists(
        st.lists(st.none() | finite_floats(-3.0, 3.0), min_size=3, max_size=3),
        min_size=1,
        max_size=6,
    )
)
@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_parameters_without_a_gradient_are_skipped_like_torch(
    name: str,
    ours: Callable[..., Optimizer],
    theirs: str,
    kwargs: dict[str, Any],
    grads: list[list[float | None]],
) -> None:
    # p.grad = None is torch's "no gradient": the parameter, its momentum, its
    # Adam step count and its weight decay are all left alone that step.
    torch = pytest.importorskip("torch")
    start = [0.7, -1.3, 2.1]
    ps = [Value(v) for v in start]
    qs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in start]
    opt = ours(ps, **kwargs)
    ref = getattr(torch.optim, theirs)(qs, **kwargs)
    for step_grads in grads:
        for p, q, g in zip(ps, qs, step_grads, strict=True):
            p.grad = g
            q.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
        opt.step()
        ref.step()
        for p, q in zip(ps, qs, strict=True):
            assert p.data == pytest.approx(q.item(), rel=1e-12, abs=1e-12)
    untouched = [v for i, v in enumerate(start) if all(g[i] is None for g in grads)]
    assert untouched == [p.data for i, p in enumerate(ps) if all(g[i] is None for g in grads)]


def test_zero_grad_set_to_none() -> None:
    ps = [Value(1.0), Value(2.0)]
    opt = Adam(ps, lr=0.1)
    for p in ps:
        p.grad = 0.5
    opt.zero_grad(set_to_none=True)
    assert [p.grad for p in ps] == [None, None]
    opt.step()  # nothing has a gradient: nothing moves
    assert [p.data for p in ps] == [1.0, 2.0]
    assert opt.steps == [0, 0]
    (ps[0] * ps[0]).backward()  # backward fills a None gradient, as in torch
    assert [p.grad for p in ps] == [2.0, None]
    opt.step()
    assert ps[0].data < 1.0
    assert ps[1].data == 2.0
    assert opt.steps == [1, 0]
    opt.zero_grad()
    assert [p.grad for p in ps] == [0.0, 0.0]
    with pytest.raises(TypeError, match="set_to_none must be True or False"):
        opt.zero_grad(set_to_none="yes")  # type: ignore[arg-type]


# --- argument validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: Adam(p, amsgrad="no"), TypeError, "amsgrad must be True or False, got 'no'"),
        (lambda p: AdamW(p, amsgrad=1), TypeError, "amsgrad must be True or False"),
        (lambda p: SGD(p, lr="0.1"), TypeError, "lr must be a number, got '0.1'"),
        (lambda p: SGD(p, lr=True), TypeError, "lr must be a number, got True"),
        (lambda p: SGD(p, lr=None), TypeError, "lr must be a number, got None"),
        (lambda p: SGD(p, lr=Value(0.1)), TypeError, "lr must be a number"),
        (lambda p: Adam(p, lr=math.inf), ValueError, "lr must be a finite number"),
        (lambda p: SGD(p, lr=0.1, momentum="0.9"), TypeError, "momentum must be a number"),
        (lambda p: SGD(p, lr=0.1, dampening=None), TypeError, "dampening must be a number"),
        (lambda p: SGD(p, lr=0.1, weight_decay=math.nan), ValueError, "weight_decay"),
        (lambda p: Adam(p, eps=None), TypeError, "eps must be a number"),
        (lambda p: Adam(p, betas=0.9), TypeError, "betas must be a pair"),
        (lambda p: Adam(p, betas=(0.9,)), TypeError, "betas must be a pair"),
        (lambda p: Adam(p, betas=("a", 0.9)), TypeError, "betas\\[0\\] must be a number"),
        (lambda p: Adam(p, betas=(0.9, math.nan)), ValueError, "betas\\[1\\] must be in"),
        (lambda p: SGD(p[0], lr=0.1), TypeError, "single Value"),
        (lambda p: SGD(MLP(2, [1]), lr=0.1), TypeError, "model.parameters\\(\\)"),
    ],
)
def test_bad_optimizer_arguments_name_the_argument(
    make: Callable[[list[Value]], Optimizer], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make([Value(1.0)])


def test_numpy_numbers_are_accepted_as_hyperparameters() -> None:
    np = pytest.importorskip("numpy")
    opt = Adam([Value(1.0)], lr=np.float64(0.01), betas=(np.float32(0.5), 0.9))
    assert (opt.lr, opt.betas) == (0.01, (0.5, 0.9))
    assert all(type(v) is float for v in (opt.lr, *opt.betas))


def test_setting_a_bad_lr_is_refused_and_changes_nothing() -> None:
    opt = SGD([Value(1.0)], lr=0.5)
    for bad, error in ((math.nan, ValueError), (-1.0, ValueError), ("fast", TypeError)):
        with pytest.raises(error, match="lr"):
            opt.lr = bad  # type: ignore[assignment]
    assert opt.lr == 0.5
    opt.lr = 0.25
    assert opt.lr == 0.25


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: schedules.Constant("0.1"), TypeError, "lr must be a number"),
        (lambda: schedules.Constant(True), TypeError, "lr must be a number"),
        (lambda: schedules.Constant(math.nan), ValueError, "finite"),
        (lambda: schedules.LinearDecay(1.0, -0.1, 10), ValueError, "end"),
        (lambda: schedules.LinearDecay(1.0, 0.1, 2.5), TypeError, "steps must be an integer"),
        (lambda: schedules.Cosine(1.0, True), TypeError, "steps must be an integer"),
        (lambda: schedules.Cosine(1.0, 10, min_lr=None), TypeError, "min_lr must be a number"),
        (lambda: schedules.StepDecay(1.0, 0), ValueError, "step_size must be >= 1"),
        (lambda: schedules.StepDecay(1.0, 3.0), TypeError, "step_size must be an integer"),
        (lambda: schedules.StepDecay(1.0, 3, gamma=math.inf), ValueError, "gamma"),
        (lambda: schedules.Exponential(1.0, "0.9"), TypeError, "gamma must be a number"),
        (lambda: schedules.Exponential(1.0, math.nan), ValueError, "gamma"),
        (lambda: schedules.get("constant", 0.1, 0), ValueError, "steps must be >= 1"),
        (lambda: schedules.get("constant", -0.1, 10), ValueError, "learning rate"),
        (lambda: schedules.get(None, 0.1, 10), TypeError, "schedule name"),
    ],
)
def test_bad_schedule_arguments_name_the_argument(
    make: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("name", schedules.SCHEDULES)
def test_schedules_take_a_step_number_from_0(name: str) -> None:
    schedule = schedules.get(name, 0.5, 10)
    with pytest.raises(ValueError, match="step must be >= 0"):
        schedule(-1)
    with pytest.raises(TypeError, match="step must be an integer"):
        schedule(1.5)  # type: ignore[arg-type]
