"""Tests of nn.optim and nn.schedules: trajectories against torch.optim, plain SGD, validation."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from autograd import Value
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
