"""Pictures of training: loss/accuracy curves and a classifier's decision boundary.

matplotlib and numpy are imported inside the functions, so ``import nn`` stays
light. The figures are built with matplotlib's object API (``Figure``, no
``pyplot``): nothing touches the global backend, files render headless through
Agg, and in Jupyter the returned Figure displays itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autograd import Value, compile, enable_grad, no_grad
from nn.io import write_atomically
from nn.layers import MLP
from nn.module import Module
from nn.train import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_decision_boundary", "plot_history"]

PathLike = str | os.PathLike[str]


def _save(fig: Figure, path: PathLike) -> None:
    """Render the figure, then write it with nn.io's atomic writer (never half a file)."""
    import io

    ext = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=ext, dpi=110)
    write_atomically(path, buffer.getvalue())


# matplotlib computes limits and transforms from the data's range, which
# overflows for values near the largest float: drawn values stop at +-1e300.
_DRAWN_MAX = 1e300


def _finite(values: Sequence[float]) -> tuple[list[int], list[float]]:
    """The steps and values of the finite entries, clipped to +-1e300: NaN and inf are not drawn."""
    steps, kept = [], []
    for step, v in enumerate(values):
        if math.isfinite(v):
            steps.append(step)
            kept.append(min(max(v, -_DRAWN_MAX), _DRAWN_MAX))
    return steps, kept


def plot_history(
    history: History,
    path: PathLike | None = None,
    *,
    diverged_at: int | None = None,
) -> Figure:
    """Loss, accuracy and learning rate per step, side by side.

    Only finite values are drawn: a curve stops where its values stop being
    finite (a regression's accuracy, which is NaN, leaves its panel empty), and
    values beyond +-1e300 are drawn at +-1e300.
    For a run that diverged, pass the step where it did (a
    :class:`~nn.train.DivergenceError` carries it)::

        except DivergenceError as exc:
            plot_history(exc.history, "loss.png", diverged_at=exc.step)

    and a red dashed line marks that step in every panel, labelled with the
    loss it reached; the loss axis turns logarithmic when the finite losses
    span more than three orders of magnitude, so the blow-up stays readable.

    Args:
        history: What :func:`nn.fit` returned, or a ``DivergenceError``'s history.
        path: Also write the figure there (format from the extension, e.g. ``.png``).
        diverged_at: The step (from 0, below ``len(history)``) where training
            diverged, or ``None`` for a run that did not.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: ``diverged_at`` is not a step of ``history``.
    """
    if diverged_at is not None:
        if isinstance(diverged_at, bool) or not isinstance(diverged_at, int):
            raise TypeError(f"diverged_at must be a step number or None, got {diverged_at!r}")
        if not 0 <= diverged_at < len(history):
            raise ValueError(
                f"diverged_at={diverged_at} is not a step of this history "
                f"(steps 0..{len(history) - 1})"
            )
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    loss_steps, loss = _finite(history.loss)
    title = "loss"
    if diverged_at is not None and loss and min(loss) > 0 and max(loss) > 1e3 * min(loss):
        # Plotted as log10 on a linear axis: matplotlib's own log scale overflows
        # computing its limits when losses near 1e308 are on the axis.
        from matplotlib.ticker import FuncFormatter

        # The exact values here, unclipped: the log10 of any finite float is small.
        loss = [math.log10(v) for v in history.loss if math.isfinite(v)]
        ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{v:g}"))
        title = "loss (log scale)"
    ax_loss.plot(loss_steps, loss, color="tab:blue")
    ax_loss.set(title=title, xlabel="step")
    acc_steps, acc = _finite(history.accuracy)
    ax_acc.plot(acc_steps, [100 * a for a in acc], color="tab:green")
    ax_acc.set(title="training accuracy (%)", xlabel="step", ylim=(0, 102))
    if not acc:
        ax_acc.text(0.5, 0.5, "no accuracy (not classes)", ha="center", transform=ax_acc.transAxes)
    ax_lr.plot(*_finite(history.lr), color="tab:orange")
    ax_lr.set(title="learning rate", xlabel="step", ylim=(0, None))
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        if diverged_at is not None:
            ax.axvline(diverged_at, color="tab:red", linestyle="--", linewidth=1.2)
    if diverged_at is not None:
        last = history.loss[diverged_at]
        left = diverged_at > 0  # the label goes on the side that is inside the axes
        ax_loss.annotate(
            f"diverged at step {diverged_at}\nloss = {last:.3g}",
            xy=(diverged_at, 0.97),
            xycoords=("data", "axes fraction"),  # x in steps, y in axes fraction
            xytext=(-4 if left else 4, 0),
            textcoords="offset points",
            color="tab:red",
            ha="right" if left else "left",
            va="top",
        )
    if path is not None:
        _save(fig, path)
    return fig


def _compiled_on_grid(np: Any, model: Module, points: Any) -> Any:
    """A model's outputs at many points: traced once, compiled, run as one numpy batch.

    The program is the engine's own (every op's forward as `autograd.ops`
    writes it), so the picture shows exactly what the model computes. For
    MLPs, whose graph has the same shape at every point (a trace would freeze
    the branches of a model's Python code on its data). A graph that cannot be
    compiled or batched (an op built by hand, an op the tracer cannot follow,
    outputs that ignore an input) is evaluated one point at a time instead.
    """
    xs = [Value(0.0, label="x0"), Value(0.0, label="x1")]
    with enable_grad():
        out = model(xs)
    outs = list(out) if isinstance(out, list) else [out]
    try:
        program = compile(outs, xs)
        if not program.batchable:
            raise TypeError("not batchable")
    except (TypeError, ValueError):
        return _model_on_grid(np, model, points)
    columns = program(np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]))
    return np.column_stack(columns)


def _model_on_grid(np: Any, model: Module, points: Any) -> Any:
    """Any model's outputs, one example at a time (no graph recorded)."""
    rows = []
    with no_grad():
        for x in points.tolist():
            out = model(x)
            rows.append([v.data for v in out] if isinstance(out, list) else [out.data])
    return np.array(rows)


def plot_decision_boundary(
    model: Module,
    X: Sequence[Sequence[float]],
    y: Sequence[int],
    path: PathLike | None = None,
    *,
    resolution: int | None = None,
    title: str | None = None,
) -> Figure:
    """The data and the regions the model assigns to each class, for 2-D inputs.

    A single-output model's class is the sign of its score (the boundary is
    where the score is 0); a multi-output model's is the index of its
    largest output.

    Args:
        model: A model taking two inputs.
        X: Examples, each ``[x0, x1]``.
        y: Their class labels (colours).
        path: Also write the figure there.
        resolution: Grid points per axis (default 200 for an MLP, which is
            compiled and evaluated as one numpy batch, and 60 for other models).
        title: Figure title.

    Returns:
        The matplotlib Figure.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    pts = np.asarray(X, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError("plot_decision_boundary needs examples with exactly two features")
    n = resolution or (200 if isinstance(model, MLP) else 60)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * (hi - lo) + 0.1
    gx, gy = np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], n),
        np.linspace(lo[1] - pad[1], hi[1] + pad[1], n),
    )
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    out = (
        _compiled_on_grid(np, model, grid)
        if isinstance(model, MLP)
        else _model_on_grid(np, model, grid)
    )
    labels = np.asarray(y)

    fig = Figure(figsize=(5.6, 5), layout="constrained")
    ax = fig.subplots()
    if out.shape[1] == 1:
        cmap: Any = "coolwarm"
        score = out[:, 0].reshape(gx.shape)
        ax.contourf(
            gx, gy, (score > 0).astype(float), levels=[-0.5, 0.5, 1.5], cmap=cmap, alpha=0.3
        )
        if score.min() < 0 < score.max():
            ax.contour(gx, gy, score, levels=[0.0], colors="k", linewidths=1.2)
        # Labels -1/+1 and 0/1 both map to the two colours by sign.
        color = (labels > 0).astype(float)
        ax.scatter(pts[:, 0], pts[:, 1], c=color, cmap=cmap, vmin=0, vmax=1, s=22, edgecolors="k")
    else:
        region = out.argmax(axis=1).reshape(gx.shape).astype(float)
        k = out.shape[1]
        cmap = ListedColormap([colormaps["tab10"](i % 10) for i in range(k)])
        ax.contourf(gx, gy, region, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
        ax.scatter(
            pts[:, 0], pts[:, 1], c=labels, cmap=cmap, vmin=-0.5, vmax=k - 0.5, s=22, edgecolors="k"
        )
    ax.set(xlabel="x0", ylabel="x1", title=title or f"decision boundary of {model!r}")
    ax.set_xlim(gx.min(), gx.max())
    ax.set_ylim(gy.min(), gy.max())
    if path is not None:
        _save(fig, path)
    return fig
