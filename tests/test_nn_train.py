"""Tests of nn.fit: micrograd's demo reproduced, batching, losses, divergence, plots."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import Value, custom_op, ops
from nn import MLP, SGD, Adam, data, fit, losses, schedules
from nn.train import DivergenceError, History, Trainer, step_count


def _demo(steps: int = 100) -> tuple[MLP, History, list[list[float]], list[int]]:
    X, y = data.make_moons(100, noise=0.1, seed=1337)
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    history = fit(
        model,
        X,
        y,
        loss="hinge",
        l2=1e-4,
        steps=steps,
        optimizer=SGD(model.parameters(), lr=1.0),
        schedule=schedules.LinearDecay(1.0, 0.1, 100),
        progress=False,
    )
    return model, history, X, y


def test_micrograds_demo_reaches_full_training_accuracy() -> None:
    model, history, X, y = _demo()
    assert len(history) == 100
    assert history.lr == [1.0 - 0.9 * k / 100 for k in range(100)]
    assert history.accuracy[0] < 0.9
    assert history.accuracy[-1] == 1.0
    assert nn.accuracy(model, X, y) == 1.0
    assert history.loss[-1] < 0.05 < history.loss[0]


def test_first_steps_follow_micrograds_own_training_loop() -> None:
    micrograd_nn = pytest.importorskip("micrograd.nn")
    from micrograd.engine import Value as MicroValue

    _, history, X, y = _demo(steps=3)
    random.seed(1337)
    model = micrograd_nn.MLP(2, [16, 16, 1])
    ys = [2 * label - 1 for label in y]
    for k in range(3):  # micrograd's demo notebook, written against its API
        scores = [model([MicroValue(v) for v in row]) for row in X]
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(ys, scores)) * (1.0 / len(ys))
        total = data_loss + 1e-4 * sum(p * p for p in model.parameters())
        acc = sum((yi > 0) == (si.data > 0) for yi, si in zip(ys, scores)) / len(ys)
        assert history.loss[k] == pytest.approx(total.data, rel=1e-9)
        assert history.accuracy[k] == acc
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad


def test_epochs_and_minibatches() -> None:
    X, y = data.make_moons(40, seed=0)
    model = MLP(2, [4, 1], rng=random.Random(0))
    history = fit(model, X, y, epochs=3, batch_size=16, progress=False)
    assert len(history) == 3 * 3  # ceil(40 / 16) batches per epoch
    again = MLP(2, [4, 1], rng=random.Random(0))
    assert fit(again, X, y, epochs=3, batch_size=16, progress=False).loss == history.loss
    other = MLP(2, [4, 1], rng=random.Random(0))
    assert fit(other, X, y, epochs=3, batch_size=16, seed=1, progress=False).loss != history.loss


@given(
    n=st.integers(1, 12),
    count=st.one_of(
        st.tuples(st.none(), st.none()),  # neither: fit's default
        st.tuples(st.integers(1, 15), st.none()),  # steps
        st.tuples(st.none(), st.integers(1, 4)),  # epochs
    ),
    batch_size=st.none() | st.integers(1, 15),
)
def test_fit_takes_step_count_updates_and_an_epoch_sees_every_example_once(
    n: int, count: tuple[int | None, int | None], batch_size: int | None
) -> None:
    steps, epochs = count
    X = [[k / n] for k in range(n)]
    y = [float(k % 2) for k in range(n)]
    sizes: list[int] = []

    def loss(outputs: list[Value], targets: list[float]) -> Value:
        sizes.append(len(outputs))  # the batch of this step
        return losses.mse(outputs, targets)

    calls: list[int] = []
    history = fit(
        MLP(1, [1], rng=random.Random(0)),
        X,
        y,
        loss=loss,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        progress=False,
        callback=lambda step, _: calls.append(step),
    )
    expected = step_count(n, steps, epochs, batch_size)
    assert len(history) == len(sizes) == expected
    assert calls == list(range(expected))
    if epochs is not None:  # each pass is ceil(n / batch) batches that hold every example once
        assert sum(sizes) == epochs * n
        per_epoch = 1 if batch_size is None else -(-n // batch_size)
        assert expected == epochs * per_epoch
    else:
        assert expected == (100 if steps is None else steps)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((10, 3, 2), ValueError, "give steps or epochs, not both"),
        ((10, 0), ValueError, "steps must be a positive integer, got 0"),
        ((10, None, -1), ValueError, "epochs must be a positive integer, got -1"),
        ((10, None, 2, 0), ValueError, "batch_size must be a positive integer or None, got 0"),
        ((10, 2.5), TypeError, r"steps must be a positive integer, got 2.5 \(float\)"),
        ((0, 5), ValueError, "n_examples must be a positive integer, got 0"),
        ((True, 5), TypeError, "n_examples must be a positive integer, got True"),
    ],
)
def test_step_count_refuses_bad_counts(
    args: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        step_count(*args)


def test_cross_entropy_learns_three_blobs_with_adam() -> None:
    X, y = data.make_blobs(60, noise=1.0, seed=2, centers=3)
    model = MLP(2, [8, 3], rng=random.Random(0))
    history = fit(
        model,
        X,
        y,
        loss="cross_entropy",
        optimizer=Adam(model.parameters(), lr=0.05),
        steps=40,
        progress=False,
    )
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert nn.accuracy(model, X, y) >= 0.9


@pytest.mark.parametrize("loss", ["bce", "binary_cross_entropy", "mse", "hinge"])
def test_binary_losses_take_0_1_or_sign_labels(loss: str) -> None:
    X, y = data.make_moons(30, seed=4)
    signs = [2 * v - 1 for v in y]
    runs = []
    for labels in (y, signs):
        model = MLP(2, [8, 1], rng=random.Random(0))
        runs.append(fit(model, X, labels, loss=loss, steps=15, progress=False))
    assert runs[0].loss == runs[1].loss
    assert runs[0].loss[-1] < runs[0].loss[0]


def test_mse_on_real_targets_is_regression_without_accuracy() -> None:
    X = [[x / 10] for x in range(-10, 11)]
    y = [2.5 * row[0] + 0.5 for row in X]
    model = MLP(1, [1], rng=random.Random(0))
    history = fit(
        model,
        X,
        y,
        loss="mse",
        optimizer=SGD(model.parameters(), lr=0.3),
        steps=200,
        progress=False,
    )
    assert all(math.isnan(a) for a in history.accuracy)
    neuron = model.layers[0].neurons[0]
    assert neuron.w[0].data == pytest.approx(2.5, abs=1e-3)
    assert neuron.b.data == pytest.approx(0.5, abs=1e-3)


def test_callable_loss_and_callback() -> None:
    X, y = data.make_xor(20, seed=0)
    seen: list[int] = []

    def my_loss(outputs: list[Value], targets: list[int]) -> Value:
        return losses.mse(outputs, [2.0 * t - 1 for t in targets])

    model = MLP(2, [4, 1], rng=random.Random(0))
    history = fit(
        model,
        X,
        y,
        loss=my_loss,
        steps=4,
        progress=False,
        callback=lambda step, h: seen.append(len(h)),
    )
    assert seen == [1, 2, 3, 4]
    assert len(history.to_dict()["loss"]) == 4


def test_progress_bar_shows_loss_and_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    X, y = data.make_moons(10, seed=0)
    fit(MLP(2, [2, 1], rng=random.Random(0)), X, y, steps=2, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err
    assert "acc=" in err
    fit(MLP(2, [2, 1], rng=random.Random(0)), X, y, steps=2, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("compiled", [False, True])
def test_divergence_stops_with_a_clear_error(compiled: bool) -> None:
    X, y = data.make_moons(20, seed=0)
    model = MLP(2, [8, 8, 1], rng=random.Random(0))
    with pytest.raises(DivergenceError, match="smaller learning rate") as info:
        fit(
            model,
            X,
            y,
            loss="mse",
            optimizer=SGD(model.parameters(), lr=1e150),
            steps=50,
            progress=False,
            compiled=compiled,
        )
    history = info.value.history
    assert 1 < len(history) < 50
    assert not math.isfinite(history.loss[-1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 3, "epochs": 2}, "not both"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"batch_size": 0}, "batch_size"),
        ({"loss": "huber"}, "hinge, mse, binary_cross_entropy, bce, cross_entropy"),
        ({"l2": -1.0}, "l2"),
    ],
)
def test_bad_fit_arguments(kwargs: dict[str, Any], match: str) -> None:
    X, y = data.make_moons(10, seed=0)
    with pytest.raises(ValueError, match=match):
        fit(MLP(2, [2, 1], rng=random.Random(0)), X, y, progress=False, **kwargs)


def test_labels_that_do_not_fit_the_loss() -> None:
    X, y = data.make_spirals(30, seed=0, n_classes=3)
    with pytest.raises(ValueError, match="use cross_entropy"):
        fit(MLP(2, [2, 1], rng=random.Random(0)), X, y, loss="hinge", progress=False)
    with pytest.raises(ValueError, match="labels"):
        fit(MLP(2, [2, 1], rng=random.Random(0)), X, y[:5], progress=False)


def test_plots_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from nn.plot import plot_decision_boundary, plot_history

    model, history, X, y = _small_run()
    fig = plot_history(history, tmp_path / "loss.png")
    assert len(fig.axes) == 3
    plot_decision_boundary(model, X, y, tmp_path / "boundary.png")
    three = MLP(2, [4, 3], rng=random.Random(0))
    plot_decision_boundary(three, X, y, tmp_path / "three.png", resolution=20)
    for name in ("loss.png", "boundary.png", "three.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundary.png", "loss.png", "three.png"]


def test_numpy_grid_evaluation_matches_the_model() -> None:
    np = pytest.importorskip("numpy")
    from nn.plot import _compiled_on_grid, _model_on_grid

    for activation in ("relu", "tanh", "sigmoid", "leaky_relu"):
        model = MLP(2, [5, 4, 2], activation=activation, rng=random.Random(1))
        points = np.array([[0.3, -0.2], [-1.5, 2.0], [0.0, 0.0]])
        fast = _compiled_on_grid(np, model, points)
        slow = _model_on_grid(np, model, points)
        assert np.allclose(fast, slow, rtol=1e-12, atol=1e-12)


def _small_run() -> tuple[MLP, History, list[list[float]], list[int]]:
    X, y = data.make_moons(20, seed=0)
    model = MLP(2, [4, 1], rng=random.Random(0))
    return model, fit(model, X, y, steps=3, progress=False), X, y


# --- fit(compiled=True): the compiled replay trains exactly like eager ------------------

Run = tuple[nn.Module, History]


def _eager_and_compiled(
    make_model: Callable[[], nn.Module],
    X: list[list[float]],
    y: list[Any],
    *,
    lr: float = 0.1,
    momentum: float = 0.0,
    **kwargs: Any,
) -> tuple[Run, Run]:
    """The same training run twice from the same initial weights: eager, then compiled."""
    runs = []
    for compiled in (False, True):
        model = make_model()
        # SGD, not Adam: Adam divides by sqrt(v), which turns a rounding-level
        # difference in a near-zero gradient into a visible difference in the step.
        optimizer = SGD(model.parameters(), lr=lr, momentum=momentum)
        history = fit(model, X, y, optimizer=optimizer, progress=False, compiled=compiled, **kwargs)
        runs.append((model, history))
    return runs[0], runs[1]


def _assert_same_training(eager: Run, compiled: Run, rel: float = 0.0) -> None:
    """Same losses, accuracies, learning rates, final parameters and gradients (to 1e-12)."""
    (m_eager, h_eager), (m_comp, h_comp) = eager, compiled
    assert h_comp.loss == pytest.approx(h_eager.loss, rel=rel, abs=1e-12)
    assert h_comp.accuracy == pytest.approx(h_eager.accuracy, nan_ok=True)
    assert h_comp.lr == h_eager.lr
    for p, q in zip(m_eager.parameters(), m_comp.parameters(), strict=True):
        assert q.data == pytest.approx(p.data, rel=rel, abs=1e-12)
        assert q.grad == pytest.approx(p.grad, rel=rel, abs=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "mse", "bce", "cross_entropy"])
@pytest.mark.parametrize("batch_size", [None, 3, 16])
def test_compiled_training_matches_eager(loss: str, batch_size: int | None) -> None:
    # Batches of 3 run the float program per example; 16 and the full batch mix
    # numpy batches (groups of >= 8 sharing a program) with float calls.
    if loss == "cross_entropy":
        X, y = data.make_spirals(40, seed=2, n_classes=3)
    else:
        X, y = data.make_moons(40, noise=0.2, seed=2)
    nout = 3 if loss == "cross_entropy" else 1
    runs = _eager_and_compiled(
        lambda: MLP(2, [6, 5, nout], rng=random.Random(3)),
        X,
        y,
        momentum=0.9,
        loss=loss,
        l2=1e-3,
        steps=8,
        batch_size=batch_size,
    )
    _assert_same_training(*runs)


def test_compiled_regression_takes_the_target_as_an_input() -> None:
    rng = random.Random(5)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(30)]
    y = [x0 * x1 + 0.5 for x0, x1 in X]  # real targets: one program, target as input
    runs = _eager_and_compiled(
        lambda: MLP(2, [6, 5, 1], rng=random.Random(3)), X, y, loss="mse", l2=1e-3, steps=5
    )
    _assert_same_training(*runs)
    assert all(math.isnan(a) for a in runs[1][1].accuracy)


def test_compiled_demo_reaches_full_accuracy() -> None:
    X, y = data.make_moons(100, noise=0.1, seed=1337)
    model = MLP(2, [16, 16, 1], rng=random.Random(1337))
    history = fit(
        model,
        X,
        y,
        l2=1e-4,
        optimizer=SGD(model.parameters(), lr=1.0),
        schedule=schedules.LinearDecay(1.0, 0.1, 100),
        progress=False,
        compiled=True,
    )
    assert history.accuracy[-1] == 1.0
    assert nn.accuracy(model, X, y) == 1.0


def test_compiled_cross_entropy_with_logits_far_from_those_at_the_trace() -> None:
    # Features in the thousands make logits in the thousands: log-sum-exp must
    # shift by each example's own largest logit, not one frozen at the trace.
    X = [[800.0, -900.0], [-700.0, 850.0], [900.0, 900.0], [0.1, 0.2]] * 3
    y = [0, 1, 2, 1] * 3
    runs = _eager_and_compiled(
        lambda: MLP(2, [4, 3], rng=random.Random(0)),
        X,
        y,
        lr=1e-6,
        loss="cross_entropy",
        steps=3,
    )
    assert all(math.isfinite(v) for v in runs[1][1].loss)
    _assert_same_training(*runs, rel=1e-12)


class _LogModel(nn.Module):
    """Defined only for positive inputs, and blind to the third feature."""

    def __init__(self) -> None:
        self.w = Value(0.5)
        self.b = Value(0.1)

    def __call__(self, x: list[Any]) -> Value:
        return self.w * ops.log(x[0]) + self.b / x[1]


def test_compiled_traces_on_real_examples_and_skips_unused_features() -> None:
    X = [[1.0 + i, 2.0 + i, -5.0 * i] for i in range(20)]
    y = [i % 2 for i in range(20)]
    # full batches: one numpy batch of 10 examples per label
    _assert_same_training(*_eager_and_compiled(_LogModel, X, y, loss="hinge", steps=4))


def test_compiled_needs_a_loss_name() -> None:
    X, y = data.make_moons(10, seed=0)
    model = MLP(2, [2, 1], rng=random.Random(0))
    before = [p.data for p in model.parameters()]
    with pytest.raises(ValueError, match="compiled=True needs a loss name"):
        fit(model, X, y, loss=losses.mse, compiled=True, progress=False)
    assert [p.data for p in model.parameters()] == before


class _FixedLogit(nn.Module):
    """Two class scores, the second a plain number: the model's outputs need not all be Values."""

    def __init__(self) -> None:
        self.w = Value(0.5)

    def __call__(self, x: list[Any]) -> list[Any]:
        return [self.w * x[0], 0.25]


def test_compiled_accepts_outputs_that_are_plain_numbers() -> None:
    X = [[float(i - 5)] for i in range(10)]
    y = [int(i > 5) for i in range(10)]
    runs = _eager_and_compiled(_FixedLogit, X, y, loss="cross_entropy", steps=3)
    _assert_same_training(*runs)
    assert runs[1][0].w.data != 0.5  # type: ignore[attr-defined]


@custom_op
def _soft_step(x: float) -> float:
    return math.tanh(x) if x > 0 else 0.1 * x  # math and an if: floats only


_soft_step.defvjp(lambda g, ans, x: g * (1 - ans * ans) if x > 0 else g * 0.1)


class _FloatOnly(nn.Module):
    def __init__(self) -> None:
        self.w = [Value(0.3), Value(-0.6)]
        self.b = Value(0.1)

    def __call__(self, x: list[Any]) -> Value:
        return _soft_step(ops.dot(self.w, x) + self.b)


def test_compiled_training_with_an_op_that_takes_no_arrays_runs_example_by_example() -> None:
    X, y = data.make_moons(40, noise=0.2, seed=4)  # 20 per label: groups large enough for numpy
    _assert_same_training(*_eager_and_compiled(_FloatOnly, X, y, lr=0.2, steps=5))


# --- divergence: fit never silently succeeds on garbage ---------------------------------


def _assert_consistent(error: DivergenceError, *, finite_before: bool = True) -> None:
    """The history runs up to and including the diverging step, all three lists alike."""
    history = error.history
    assert error.step == len(history) - 1
    assert len(history.loss) == len(history.accuracy) == len(history.lr)
    if finite_before:
        assert all(math.isfinite(v) for v in history.loss[: error.step])
    assert error.quantity in ("loss", "gradient", "parameter")
    assert f"step {error.step}" in str(error)
    assert "smaller learning rate" in str(error)


def _binary_or_three(loss: str) -> tuple[list[list[float]], list[int], int]:
    if loss == "cross_entropy":
        X, y = data.make_blobs(30, seed=1, centers=3)
        return X, y, 3
    X, y = data.make_moons(30, seed=1)
    return X, y, 1


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("loss", ["hinge", "mse", "bce", "cross_entropy"])
def test_weights_that_overflow_stop_training_at_once(loss: str, compiled: bool) -> None:
    # lr = 1.7e308 turns weights infinite in the first update; hinge then used to
    # "train" on: NaN scores went through relu as 0, a loss of exactly 0 every step.
    X, y, nout = _binary_or_three(loss)
    model = MLP(2, [16, 16, nout], rng=random.Random(0))
    steps_done: list[int] = []
    with pytest.raises(DivergenceError) as info:
        fit(
            model,
            X,
            y,
            loss=loss,
            optimizer=SGD(model.parameters(), lr=1.7e308),
            steps=30,
            progress=False,
            compiled=compiled,
            callback=lambda step, h: steps_done.append(step),
        )
    error = info.value
    _assert_consistent(error)
    assert error.step <= 1
    assert steps_done == list(range(error.step))  # no update after the diverging step
    assert error.history.lr == [1.7e308] * (error.step + 1)
    if error.quantity == "parameter":  # it names a parameter that really is not finite
        name = str(error).split("parameter '")[1].split("'")[0]
        assert not math.isfinite(dict(model.named_parameters())[name].data)
        assert all(math.isfinite(v) for v in error.history.loss)
    else:
        assert not math.isfinite(error.history.loss[-1])


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("loss", ["hinge", "mse", "bce", "cross_entropy"])
def test_a_nan_parameter_stops_training_before_any_update(loss: str, compiled: bool) -> None:
    X, y, nout = _binary_or_three(loss)
    model = MLP(2, [8, nout], rng=random.Random(0))
    model.layers[0].neurons[3].w[1].data = math.nan
    before = [p.data for p in model.parameters()]
    with pytest.raises(DivergenceError) as info:
        fit(model, X, y, loss=loss, steps=5, progress=False, compiled=compiled)
    _assert_consistent(info.value)
    assert info.value.step == 0
    # Whether the NaN reaches the loss depends on relu(nan) (NaN, as in PyTorch,
    # or 0 in older engines, which hid it): either way training stops at once.
    message = str(info.value)
    assert "the loss became nan" in message or "'layers.0.neurons.3.w.1' is nan" in message
    after = [p.data for p in model.parameters()]
    assert [repr(v) for v in after] == [repr(v) for v in before]  # nothing was updated


class _WithSpare(nn.Module):
    """An MLP and a parameter the forward pass never reads (so the loss cannot show it)."""

    def __init__(self) -> None:
        self.mlp = MLP(2, [4, 1], rng=random.Random(0))
        self.spare = Value(1.0)

    def __call__(self, x: list[Any]) -> Any:
        return self.mlp(x)


@pytest.mark.parametrize("compiled", [False, True])
def test_a_nan_parameter_the_loss_does_not_see_is_named(compiled: bool) -> None:
    X, y = data.make_moons(10, seed=0)
    model = _WithSpare()
    model.spare.data = math.nan
    with pytest.raises(DivergenceError, match="parameter 'spare' is nan before the update") as info:
        fit(model, X, y, steps=3, progress=False, compiled=compiled)
    _assert_consistent(info.value)
    assert info.value.quantity == "parameter"
    assert math.isfinite(info.value.history.loss[0])


class _Steep(nn.Module):
    """Output w * 1e308 * x: finite for w = 1e-308, but dL/dw overflows."""

    def __init__(self) -> None:
        self.w = Value(1e-308)

    def __call__(self, x: list[Any]) -> Value:
        return self.w * 1e308 * x[0]


@pytest.mark.parametrize("compiled", [False, True])
def test_an_infinite_gradient_is_named(compiled: bool) -> None:
    model = _Steep()
    with pytest.raises(DivergenceError, match="the gradient of parameter 'w' became inf") as info:
        fit(model, [[3.0]], [-1], loss="mse", steps=3, progress=False, compiled=compiled)
    _assert_consistent(info.value)
    assert info.value.quantity == "gradient"
    assert info.value.step == 0
    assert math.isfinite(info.value.history.loss[0])
    assert model.w.data == 1e-308  # the bad gradient was never applied


class _Exploding(nn.Module):
    def __init__(self) -> None:
        self.w = Value(1000.0)

    def __call__(self, x: list[Any]) -> Value:
        return ops.exp(self.w * x[0])


def test_an_overflow_in_the_forward_pass_keeps_a_consistent_history() -> None:
    X = [[0.1], [0.2], [1.0]]  # exp(100), exp(200), then exp(1000) overflows
    with pytest.raises(DivergenceError, match="overflow") as info:
        fit(_Exploding(), X, [1, 0, 1], loss="mse", steps=4, progress=False)
    _assert_consistent(info.value)
    assert info.value.history.loss == [math.inf]
    assert math.isnan(info.value.history.accuracy[0])


@given(log_lr=st.floats(-2.0, 308.2), loss=st.sampled_from(["hinge", "mse", "bce"]))
def test_fit_returns_only_finite_runs(log_lr: float, loss: str) -> None:
    # Whatever the learning rate: a run that returns has a finite loss, finite
    # parameters and finite gradients at every step; anything else raises.
    X, y = data.make_moons(12, seed=3)
    model = MLP(2, [4, 4, 1], rng=random.Random(2))
    try:
        history = fit(
            model,
            X,
            y,
            loss=loss,
            optimizer=SGD(model.parameters(), lr=10.0**log_lr),
            steps=4,
            progress=False,
        )
    except DivergenceError as error:
        _assert_consistent(error)
    else:
        assert len(history) == 4
        assert all(math.isfinite(v) for v in history.loss)
        assert all(math.isfinite(p.data) and math.isfinite(p.grad) for p in model.parameters())


# --- inputs are checked before the first step --------------------------------------------


def _refused(
    error: type[Exception], match: str, model: nn.Module, X: Any, y: Any, **kwargs: Any
) -> None:
    """fit raises ``error`` and leaves every parameter as it was."""
    before = [p.data for p in model.parameters()]
    with pytest.raises(error, match=match):
        fit(model, X, y, **{"progress": False, **kwargs})
    assert [p.data for p in model.parameters()] == before


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 2.5}, TypeError, "steps must be a positive integer, got 2.5"),
        ({"steps": "3"}, TypeError, "steps must be a positive integer, got '3'"),
        ({"epochs": True}, TypeError, "epochs must be a positive integer, got True"),
        ({"epochs": 0}, ValueError, "epochs must be a positive integer, got 0"),
        ({"steps": -3}, ValueError, "steps must be a positive integer, got -3"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be a positive integer or None"),
        ({"batch_size": False}, TypeError, "batch_size must be a positive integer or None"),
        ({"l2": "0.1"}, TypeError, "l2 must be a number"),
        ({"progress": "no"}, TypeError, "progress must be True or False"),
        ({"compiled": "yes"}, TypeError, "compiled must be True or False"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"callback": 3}, TypeError, "callback must be callable"),
        ({"optimizer": "sgd"}, TypeError, "optimizer must be an nn.optim.Optimizer"),
        ({"schedule": 0.1}, TypeError, "schedule must be callable"),
    ],
)
def test_bad_argument_types_are_refused_before_any_step(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    X, y = data.make_moons(10, seed=0)
    _refused(error, match, MLP(2, [2, 1], rng=random.Random(0)), X, y, **kwargs)


def test_an_optimizer_of_another_model_is_refused() -> None:
    X, y = data.make_moons(10, seed=0)
    other = MLP(2, [2, 1], rng=random.Random(1))
    model = MLP(2, [2, 1], rng=random.Random(0))
    optimizer = SGD(other.parameters(), lr=0.1)
    _refused(ValueError, "none of the model's parameters", model, X, y, optimizer=optimizer)


@pytest.mark.parametrize("bad", [math.nan, -0.5, "fast"])
def test_a_schedule_that_returns_a_bad_rate_is_named(bad: Any) -> None:
    X, y = data.make_moons(10, seed=0)
    model = MLP(2, [2, 1], rng=random.Random(0))
    before = [p.data for p in model.parameters()]
    with pytest.raises((ValueError, TypeError), match=r"schedule\(0\) returned"):
        fit(model, X, y, schedule=lambda step: bad, progress=False)
    assert [p.data for p in model.parameters()] == before


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(
    ("loss", "nout"), [("hinge", 1), ("mse", 1), ("bce", 1), ("cross_entropy", 3)]
)
def test_numpy_arrays_train_like_lists(loss: str, nout: int, compiled: bool) -> None:
    np = pytest.importorskip("numpy")
    if loss == "cross_entropy":
        X, y = data.make_blobs(24, seed=0, centers=3)
    else:
        X, y = data.make_moons(24, seed=0)
    runs = []
    for X_, y_ in ((X, y), (np.array(X), np.array(y, dtype=np.int64))):
        model = MLP(2, [4, nout], rng=random.Random(0))
        history = fit(
            model, X_, y_, loss=loss, steps=4, batch_size=8, progress=False, compiled=compiled
        )
        runs.append((history.to_dict(), [p.data for p in model.parameters()]))
    assert runs[1] == runs[0]


def test_numpy_integer_labels_and_whole_float_labels_are_class_indices() -> None:
    np = pytest.importorskip("numpy")
    X, y = data.make_blobs(12, seed=0, centers=3)
    reference = fit(
        MLP(2, [3, 3], rng=random.Random(0)), X, y, loss="cross_entropy", steps=3, progress=False
    ).loss
    for labels in (
        [np.int64(v) for v in y],
        [np.uint8(v) for v in y],
        [float(v) for v in y],
        np.array(y, dtype=float),
    ):
        model = MLP(2, [3, 3], rng=random.Random(0))
        assert (
            fit(model, X, labels, loss="cross_entropy", steps=3, progress=False).loss == reference
        )


def test_a_callable_loss_gets_numpy_labels_as_a_list() -> None:
    np = pytest.importorskip("numpy")
    X, y = data.make_moons(10, seed=0)
    seen: list[Any] = []

    def my_loss(outputs: list[Value], targets: list[Any]) -> Value:
        seen.extend(targets)
        return losses.mse(outputs, [2.0 * t - 1 for t in targets])

    fit(
        MLP(2, [2, 1], rng=random.Random(0)),
        np.array(X),
        np.array(y),
        loss=my_loss,
        steps=1,
        progress=False,
    )
    assert sorted(seen) == sorted(y)
    assert all(type(t) is int for t in seen)


@pytest.mark.parametrize(
    ("X", "y", "error", "match"),
    [
        ([[0.1, 0.2]] * 4, [0, 1, 0.5, 1], ValueError, "0.5 is not a class label"),
        (
            [[0.1, 0.2]] * 4,
            [0, 1, "1", 0],
            TypeError,
            r"y\[2\] is '1' \(str\); labels must be numbers",
        ),
        ([[0.1, 0.2]] * 4, [0, 1, None, 0], TypeError, r"y\[2\] is None"),
        ([[0.1, 0.2]] * 3 + [[0.1, math.nan]], [0, 1, 1, 0], ValueError, r"X\[3\]\[1\] is nan"),
        ([[0.1, 0.2]] * 3 + [[0.1, "2"]], [0, 1, 1, 0], TypeError, r"X\[3\]\[1\] is '2'"),
        ([[0.1, 0.2]] * 3 + [0.5], [0, 1, 1, 0], TypeError, r"X\[3\] is 0.5 .* not a list"),
        (
            [[0.1, 0.2]] * 3 + [[0.1, 0.2, 0.3]],
            [0, 1, 1, 0],
            ValueError,
            r"X\[3\] has 3 features but the model .* takes 2",
        ),
        ([[0.1, 0.2]] * 4, [0, 1, 1, math.inf], ValueError, r"y\[3\] is inf"),
    ],
)
def test_bad_examples_and_labels_are_refused_before_any_step(
    X: Any, y: Any, error: type[Exception], match: str
) -> None:
    _refused(error, match, MLP(2, [2, 1], rng=random.Random(0)), X, y, batch_size=2)


def test_numpy_arrays_of_the_wrong_shape_say_how_to_fix_them() -> None:
    np = pytest.importorskip("numpy")
    model = MLP(1, [2, 1], rng=random.Random(0))
    _refused(ValueError, r"X must be 2-D .* X.reshape\(-1, 1\)", model, np.zeros(4), [0, 1, 0, 1])
    _refused(
        ValueError,
        r"y must be 1-D .* y.ravel\(\)",
        model,
        np.zeros((4, 1)),
        np.array([[0], [1], [0], [1]]),
    )


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(
    ("loss", "nouts", "labels", "match"),
    [
        (
            "hinge",
            [4, 2],
            [0, 1],
            r"loss 'hinge' needs a single score .* returns 2 outputs; "
            r"use loss='cross_entropy' for 2 classes, or .* MLP\(nin, \[\.\.\., 1\]\)",
        ),
        ("bce", [3], [0, 1], r"loss 'binary_cross_entropy' needs a single score .* 3 outputs"),
        ("mse", [2], [0, 1], r"loss 'mse' needs a single score .* 2 outputs"),
        (
            "cross_entropy",
            [4, 1],
            [0, 1],
            r"'cross_entropy' needs one logit per class, but the "
            r"model returns a single score; .* MLP\(nin, \[\.\.\., 2\]\), or use loss='hinge'",
        ),
        ("cross_entropy", [2], [0, 1, 2], r"labels go up to 2 but the model returns 2 outputs"),
    ],
)
def test_a_model_output_size_that_does_not_fit_the_loss(
    loss: str, nouts: list[int], labels: list[int], match: str, compiled: bool
) -> None:
    X = [[0.1 * i, -0.2 * i] for i in range(12)]
    y = [labels[i % len(labels)] for i in range(12)]
    y[-1] = labels[-1]  # with batches of 4 the largest label comes last: after two updates
    model = MLP(2, nouts, rng=random.Random(0))
    _refused(ValueError, match, model, X, y, loss=loss, batch_size=4, compiled=compiled)


def _twin_runs() -> tuple[tuple[MLP, Adam], tuple[MLP, Adam]]:
    """Two identical models, each with its own Adam."""
    pairs = []
    for _ in range(2):
        model = MLP(2, [5, 1], rng=random.Random(3))
        pairs.append((model, Adam(model.parameters(), lr=0.05)))
    return pairs[0], pairs[1]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_a_loop_of_trainer_steps_is_fit(compiled: bool, batch_size: int | None) -> None:
    X, y = data.make_moons(30, noise=0.2, seed=2)
    (fitted, fit_opt), (stepped, step_opt) = _twin_runs()
    common: dict[str, Any] = {
        "epochs": 2,
        "batch_size": batch_size,
        "schedule": schedules.LinearDecay(0.05, 0.01, 10),
        "l2": 1e-3,
        "seed": 4,
        "compiled": compiled,
    }
    seen: list[int] = []
    history = fit(
        fitted,
        X,
        y,
        optimizer=fit_opt,
        progress=False,
        callback=lambda step, _: seen.append(step),
        **common,
    )
    trainer = Trainer(stepped, X, y, optimizer=step_opt, **common)
    assert trainer.total_steps == len(seen) == step_count(30, None, 2, batch_size)
    returned = [trainer.step() for _ in range(trainer.total_steps)]
    assert trainer.history.to_dict() == history.to_dict()
    assert returned == history.loss
    assert [p.data for p in stepped.parameters()] == [p.data for p in fitted.parameters()]
    with pytest.raises(RuntimeError, match=f"taken all its {trainer.total_steps} steps"):
        trainer.step()
    assert len(trainer.history) == trainer.total_steps  # the refused step changed nothing


def test_a_trainers_schedule_is_read_before_each_step() -> None:
    X, y = data.make_moons(20, seed=0)
    model = MLP(2, [3, 1], rng=random.Random(0))
    rate = {"lr": 0.5}
    trainer = Trainer(model, X, y, steps=3, schedule=lambda step: rate["lr"])
    trainer.step()
    rate["lr"] = 0.25  # the playground changes the rate between steps this way
    trainer.step()
    assert trainer.history.lr == [0.5, 0.25] and trainer.optimizer.lr == 0.25


@pytest.mark.parametrize("compiled", [False, True])
def test_a_diverged_trainer_takes_no_more_steps(compiled: bool) -> None:
    X, y = data.make_moons(20, seed=0)
    model = MLP(2, [8, 8, 1], rng=random.Random(0))
    optimizer = SGD(model.parameters(), lr=1e150)
    trainer = Trainer(model, X, y, loss="mse", optimizer=optimizer, steps=50, compiled=compiled)
    with pytest.raises(DivergenceError) as info:
        while True:
            trainer.step()
    assert info.value.history is trainer.history
    assert info.value.step == len(trainer.history) - 1 < 50
    weights = [repr(p.data) for p in model.parameters()]  # repr: nan == nan
    with pytest.raises(RuntimeError, match=f"diverged at step {info.value.step}"):
        trainer.step()
    assert len(trainer.history) == info.value.step + 1
    assert [repr(p.data) for p in model.parameters()] == weights


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 3, "epochs": 2}, "not both"),
        ({"loss": "huber"}, "unknown loss 'huber'"),
        ({"l2": -1.0}, "l2 must be a finite number >= 0"),
        ({"compiled": "yes"}, "compiled must be True or False"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"optimizer": "sgd"}, "optimizer must be an nn.optim.Optimizer"),
        ({"loss": "cross_entropy"}, "needs one logit per class"),
    ],
)
def test_a_trainer_refuses_what_fit_refuses_with_the_same_message(
    kwargs: dict[str, Any], match: str
) -> None:
    X, y = data.make_moons(10, seed=0)
    model = MLP(2, [2, 1], rng=random.Random(0))
    with pytest.raises((TypeError, ValueError), match=match) as by_fit:
        fit(model, X, y, progress=False, **kwargs)
    with pytest.raises(by_fit.type, match=match) as by_trainer:
        Trainer(model, X, y, **kwargs)
    assert str(by_trainer.value) == str(by_fit.value)
