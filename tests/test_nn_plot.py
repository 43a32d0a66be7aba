"""Tests of nn.plot's loss plot: a diverged run is marked and NaN/inf are never drawn."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn import MLP, SGD, data, fit
from nn.plot import plot_history  # imports matplotlib only when it draws
from nn.train import DivergenceError, History

pytest.importorskip("matplotlib")


def _markers_line(line: Any) -> bool:
    """A vertical dashed line: the divergence marker."""
    xs = list(line.get_xdata())
    return line.get_linestyle() == "--" and len(xs) == 2 and xs[0] == xs[1]


def _markers(ax: Any) -> list[float]:
    """The x positions of the divergence markers in one panel."""
    return [float(line.get_xdata()[0]) for line in ax.lines if _markers_line(line)]


def _curves_are_finite(fig: Any) -> bool:
    for ax in fig.axes:
        for line in ax.lines:
            if _markers_line(line):
                continue
            for x, y in line.get_xydata():
                if not (math.isfinite(x) and math.isfinite(y)):
                    return False
    return True


def _diverged_run() -> DivergenceError:
    X, y = data.make_moons(30, seed=0)
    model = MLP(2, [8, 8, 1], rng=random.Random(0))
    with pytest.raises(DivergenceError) as info:
        fit(model, X, y, loss="mse", optimizer=SGD(model.parameters(), lr=30.0), progress=False)
    return info.value


def test_a_diverged_run_is_marked_and_drawn_without_inf(tmp_path: Path) -> None:
    error = _diverged_run()
    assert not math.isfinite(error.history.loss[-1])  # the diverging step is in the history
    fig = plot_history(error.history, tmp_path / "loss.png", diverged_at=error.step)
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 3
    assert [_markers(ax) for ax in fig.axes] == [[error.step]] * 3
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert any(f"diverged at step {error.step}" in t and "inf" in t for t in labels)
    assert _curves_are_finite(fig)
    # the loss curve runs up to the last finite loss, one point per finite step
    finite = [v for v in error.history.loss if math.isfinite(v)]
    (curve,) = [line for line in fig.axes[0].lines if not _markers_line(line)]
    assert len(curve.get_xdata()) == len(finite) == error.step


def test_without_diverged_at_nothing_is_marked() -> None:
    history = History(loss=[1.0, 0.5, 0.25], accuracy=[math.nan] * 3, lr=[0.1] * 3)
    fig = plot_history(history)
    assert all(_markers(ax) == [] for ax in fig.axes)
    assert all(not t.get_text().startswith("diverged") for ax in fig.axes for t in ax.texts)
    assert _curves_are_finite(fig)  # a regression's NaN accuracy is not drawn
    assert fig.axes[0].get_title() == "loss"


values = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([math.nan, math.inf])


@given(
    rows=st.lists(st.tuples(values, values, st.floats(0, 10)), min_size=1, max_size=12),
    data_=st.data(),
)
def test_nan_and_inf_are_never_drawn(rows: list[tuple[float, float, float]], data_: Any) -> None:
    history = History(
        loss=[r[0] for r in rows], accuracy=[r[1] for r in rows], lr=[r[2] for r in rows]
    )
    at = data_.draw(st.none() | st.integers(0, len(rows) - 1))
    fig = plot_history(history, diverged_at=at)
    assert _curves_are_finite(fig)
    assert [_markers(ax) for ax in fig.axes] == [[] if at is None else [at]] * 3


@pytest.mark.parametrize(
    ("at", "error", "match"),
    [
        (3, ValueError, "not a step of this history"),
        (-1, ValueError, "not a step of this history"),
        (True, TypeError, "must be a step number"),
        (1.0, TypeError, "must be a step number"),
    ],
)
def test_diverged_at_must_be_a_step_of_the_history(
    at: Any, error: type[Exception], match: str
) -> None:
    history = History(loss=[1.0, 2.0, math.inf], accuracy=[0.5] * 3, lr=[1.0] * 3)
    with pytest.raises(error, match=match):
        plot_history(history, diverged_at=at)


def test_plots_are_written_by_nn_ios_atomic_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nn.plot

    written: list[tuple[str, bytes]] = []
    monkeypatch.setattr(nn.plot, "write_atomically", lambda p, b: written.append((str(p), b)))
    history = History()
    for step in range(3):
        history.loss.append(1.0 / (step + 1))
        history.accuracy.append(0.5)
        history.lr.append(0.1)
    target = tmp_path / "loss.png"
    plot_history(history, path=target)
    assert [p for p, _ in written] == [str(target)]
    assert written[0][1].startswith(b"\x89PNG")  # the whole picture, handed over in one piece
    assert not target.exists()  # nothing else wrote the file
