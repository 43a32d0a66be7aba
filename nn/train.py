"""The training loop: forward, loss, backward, update, repeated (``fit``), and its history."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from autograd import Value, compile, no_grad, topological_order
from autograd.compile import Program
from nn import losses as _losses
from nn.data import batches
from nn.module import Module
from nn.optim import SGD, Optimizer
from nn.schedules import Schedule

__all__ = ["LOSS_NAMES", "DivergenceError", "History", "accuracy", "fit", "predict_class"]

LOSS_NAMES = ("hinge", "mse", "binary_cross_entropy", "bce", "cross_entropy")
"""Loss names ``fit`` accepts (``bce`` is short for ``binary_cross_entropy``)."""

Output = Value | list[Value]


@dataclass
class History:
    """What happened at each step of :func:`fit`.

    Attributes:
        loss: Loss of the batch at each step, before the update (including the
            ``l2`` penalty, as micrograd's demo reports it).
        accuracy: Share of the batch classified correctly, before the update
            (``nan`` when the targets are not class labels).
        lr: Learning rate used by the update.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)

    def to_dict(self) -> dict[str, list[float]]:
        """The three lists by name."""
        return {"loss": list(self.loss), "accuracy": list(self.accuracy), "lr": list(self.lr)}


class DivergenceError(FloatingPointError):
    """The loss became infinite or NaN: the learning rate is too large for this problem.

    Attributes:
        history: The steps taken, the last one with the non-finite loss.
    """

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def _output_data(out: Output) -> float | list[float]:
    if isinstance(out, list):
        return [v.data for v in out]
    return out.data


def predict_class(output: Output | float | Sequence[float]) -> int:
    """The class a model output stands for.

    A list of scores gives the index of the largest; a single score gives 1 when
    it is positive and 0 otherwise (the sign convention of hinge loss and of logits).

    Args:
        output: A model output (Values or numbers).

    Returns:
        The class index.
    """
    if isinstance(output, Value):
        return int(output.data > 0)
    if isinstance(output, int | float):
        return int(output > 0)
    scores = [v.data if isinstance(v, Value) else float(v) for v in output]
    return max(range(len(scores)), key=scores.__getitem__)


def accuracy(model: Module, X: Sequence[Sequence[float]], y: Sequence[int]) -> float:
    """Share of examples whose :func:`predict_class` equals their label (labels > 0 count as 1).

    Args:
        model: The model.
        X: Examples.
        y: Class labels (0/1 or -1/+1 for a single-output model, indices otherwise).

    Returns:
        A number in [0, 1].
    """
    if not X:
        raise ValueError("accuracy of an empty data set")
    with no_grad():
        hits = sum(_correct(model(x), label) for x, label in zip(X, y, strict=True))
    return hits / len(X)


def _correct(out: Output | float | list[float], label: float) -> bool:
    if isinstance(out, list):
        return predict_class(out) == label
    score = out.data if isinstance(out, Value) else out
    return (score > 0) == (label > 0)


def _binary(y: Sequence[float], loss: str) -> bool:
    labels = set(y)
    if labels <= {0, 1} or labels <= {-1, 1}:
        return True
    if loss == "mse":
        return False
    raise ValueError(
        f"loss {loss!r} needs two classes labelled 0/1 or -1/+1, got labels {sorted(labels)}; "
        "use cross_entropy for more classes"
    )


def _task(
    loss: str | Callable[[Any, Any], Value], y: Sequence[Any]
) -> tuple[Callable[[Any, Any], Value], list[Any], bool]:
    """The loss function, the targets it wants, and whether accuracy makes sense."""
    if callable(loss):
        return loss, list(y), True
    if loss not in LOSS_NAMES:
        raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSS_NAMES)}")
    if loss == "cross_entropy":
        for label in y:
            if isinstance(label, bool) or not isinstance(label, int) or label < 0:
                raise ValueError(f"cross_entropy needs class indices 0, 1, ..., got {label!r}")
        return _losses.cross_entropy, list(y), True
    if loss in ("bce", "binary_cross_entropy"):
        _binary(y, loss)
        return _losses.binary_cross_entropy, [1.0 if v > 0 else 0.0 for v in y], True
    if _binary(y, loss):  # hinge, or mse on class labels: targets -1 / +1
        fn = _losses.hinge if loss == "hinge" else _losses.mse
        return fn, [1.0 if v > 0 else -1.0 for v in y], True
    return _losses.mse, [float(v) for v in y], False  # mse regression


Outputs = list[Output] | list[float] | list[list[float]]
Step = Callable[[list[list[float]], list[Any]], tuple[float, Outputs]]

# Examples that share a program are run as one numpy batch from this many on;
# below it, numpy's per-call overhead costs more than the float program.
_NUMPY_FROM = 8


def _eager_step(model: Module, loss_fn: Callable[[Any, Any], Value], l2: float) -> Step:
    """One step the eager way: build the graph of the batch's loss, then ``backward()``."""
    params = model.parameters()

    def step(xb: list[list[float]], tb: list[Any]) -> tuple[float, Outputs]:
        outputs = [model(x) for x in xb]  # forward
        data_loss = loss_fn(outputs, tb)
        total_loss = data_loss + l2 * _losses.l2(params) if l2 else data_loss
        model.zero_grad()
        if math.isfinite(total_loss.data):
            total_loss.backward()  # dL/dW for every parameter
        return total_loss.data, outputs

    return step


@dataclass
class _Traced:
    program: Program
    columns: list[int]  # the features the program takes (those the loss depends on)
    takes_target: bool  # the target is the program's last input (else it is a constant)
    is_list: bool  # the model returns a list of outputs


class _CompiledStep:
    """One step of ``fit(compiled=True)``: each example's loss replayed by a compiled program.

    The built-in losses are means of per-example terms, so the model and the
    loss of *one* example are traced once and compiled into a program whose
    outputs are the term and the model's outputs (for the accuracy). A step
    runs it on every example of the batch (as one numpy batch where examples
    share a program whose ops take arrays) with the term's gradient seeded
    with ``1/n``: the parameters get exactly the gradients of the batch's mean
    loss. A target the
    loss keeps in the graph (mse, bce) is an input of the program; one it turns
    into a constant (hinge's sign, a class index) gets a program per value. The
    trace runs on the first example that needs the program, so a model defined
    only for some inputs (a log, a division) traces where it is defined.
    """

    def __init__(self, model: Module, loss_fn: Callable[[Any, Any], Value], l2: float) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.shared: dict[int, _Traced] = {}  # by input size: the target is an input
        self.keyed: dict[tuple[int, Any], _Traced] = {}  # by input size and target value
        params = model.parameters()
        self.penalty = compile(l2 * _losses.l2(params)) if l2 and params else None

    def program(self, x: Sequence[float], target: Any) -> _Traced:
        """The program for examples like ``x`` with this target (traced on first use)."""
        n = len(x)
        traced = self.shared.get(n) or self.keyed.get((n, target))
        if traced is not None:
            return traced
        xs = [Value(v, label=f"x{j}") for j, v in enumerate(x)]
        out = self.model(xs)
        outs = [
            o if isinstance(o, Value) else Value(o)
            for o in (out if isinstance(out, list) else [out])
        ]
        t = Value(target, label="target") if isinstance(target, float) else target
        term = self.loss_fn(out, t)
        reached = set(topological_order(term))
        for o in outs:
            reached.update(topological_order(o))
        columns = [j for j, v in enumerate(xs) if v in reached]  # a feature may go unused
        inputs = [xs[j] for j in columns]
        is_list = isinstance(out, list)
        if isinstance(t, Value) and t in reached:
            traced = _Traced(compile([term, *outs], [*inputs, t]), columns, True, is_list)
            self.shared[n] = traced
        else:
            traced = _Traced(compile([term, *outs], inputs), columns, False, is_list)
            self.keyed[(n, target)] = traced
        return traced

    def __call__(self, xb: list[list[float]], tb: list[Any]) -> tuple[float, Outputs]:
        groups: dict[int, tuple[_Traced, list[int]]] = {}
        for i, (x, t) in enumerate(zip(xb, tb, strict=True)):
            traced = self.program(x, t)
            groups.setdefault(id(traced), (traced, []))[1].append(i)
        self.model.zero_grad()
        seed = 1.0 / len(xb)
        total = 0.0
        outputs: list[Any] = [None] * len(xb)
        for traced, members in groups.values():
            prog = traced.program
            seeds = (seed,) + (0.0,) * (len(prog.outputs) - 1)
            rows = [
                [xb[i][j] for j in traced.columns] + ([tb[i]] if traced.takes_target else [])
                for i in members
            ]
            if len(members) >= _NUMPY_FROM and prog.inputs and prog.batchable:
                import numpy as np

                columns = [np.array(c, dtype=float) for c in zip(*rows, strict=True)]
                term, *outs = prog.backward(*columns, gradient=seeds)
                total += float(term.sum())
                results = [[float(o[k]) for o in outs] for k in range(len(members))]
            else:
                results = []
                for row in rows:
                    term, *outs = prog.backward(*row, gradient=seeds)
                    total += term
                    results.append(outs)
            for i, outs in zip(members, results, strict=True):
                outputs[i] = outs if traced.is_list else outs[0]
        loss = total / len(xb)
        return loss + (self.penalty.backward() if self.penalty is not None else 0.0), outputs


def fit(
    model: Module,
    X: Sequence[Sequence[float]],
    y: Sequence[Any],
    *,
    loss: str | Callable[[Any, Any], Value] = "hinge",
    optimizer: Optimizer | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    schedule: Schedule | None = None,
    l2: float = 0.0,
    progress: bool = True,
    seed: int = 0,
    callback: Callable[[int, History], None] | None = None,
    compiled: bool = False,
) -> History:
    """Train ``model`` by gradient descent: ``W_new = W_old - lr * dL/dW``, repeated.

    Each step takes a batch, runs the model forward on every example, computes
    the mean loss plus ``l2 * sum(p^2)``, zeroes the gradients, backpropagates,
    sets the learning rate from ``schedule`` and lets the optimizer update the
    parameters. micrograd's demo is::

        X, y = data.make_moons(100, noise=0.1)
        model = MLP(2, [16, 16, 1])
        fit(model, X, y, loss="hinge", l2=1e-4, steps=100,
            optimizer=SGD(model.parameters(), lr=1.0),
            schedule=schedules.LinearDecay(1.0, 0.1, 100))

    Args:
        model: The model; called on one example at a time.
        X: Examples (lists of floats).
        y: Labels. With a loss name they are class labels, turned into what the
            loss wants: -1/+1 for ``hinge`` and ``mse`` (0/1 or -1/+1 labels; other
            numbers make ``mse`` a regression), 0/1 for ``bce``, indices for
            ``cross_entropy``. A callable loss gets them unchanged.
        loss: A name from :data:`LOSS_NAMES`, or ``f(outputs, targets) -> Value``
            taking the batch's lists.
        optimizer: Default: ``SGD(model.parameters(), lr=0.1)``.
        steps: Number of updates. Give ``steps`` or ``epochs``, not both; with
            neither, 100 steps.
        epochs: Number of passes over the data.
        batch_size: Examples per step; ``None`` uses all of them every step.
            Batches are drawn from a shuffled order, epoch after epoch.
        schedule: ``schedule(step) -> lr`` (see ``nn.schedules``); ``None``
            keeps the optimizer's ``lr``.
        l2: Weight of the ``sum(p^2)`` penalty added to the loss.
        progress: Show a tqdm progress bar with the loss and accuracy.
        seed: Seed of the batch order.
        callback: Called as ``callback(step, history)`` after every update.
        compiled: Replay each example's forward and backward with a compiled
            program (:func:`autograd.compile`) instead of building the graph
            every step: the same gradients (to rounding), many times faster.
            The model and loss are traced once (per target value for hinge and
            cross_entropy, whose targets become constants), so they must not
            branch on the data in Python; needs a loss name, not a callable.

    Returns:
        The :class:`History` of loss, accuracy and learning rate, one entry per step.

    Raises:
        DivergenceError: The loss became infinite or NaN (training stops there).
        ValueError: Bad arguments (unknown loss, labels that do not fit it, ...).
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)} labels")
    if not X:
        raise ValueError("fit needs at least one example")
    loss_fn, targets, classify = _task(loss, y)
    params = model.parameters()
    if optimizer is None:
        optimizer = SGD(params, lr=0.1)
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if steps is not None and epochs is not None:
        raise ValueError("give steps or epochs, not both")
    for name, value in (("steps", steps), ("epochs", epochs)):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if epochs is not None:
        total = epochs * (1 if batch_size is None else math.ceil(len(X) / batch_size))
    else:
        total = 100 if steps is None else steps
    if not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    if compiled and callable(loss):
        raise ValueError(
            "compiled=True needs a loss name (a mean of per-example terms it can trace once), "
            f"not a callable; choose from {', '.join(LOSS_NAMES)}"
        )
    run_step = _CompiledStep(model, loss_fn, l2) if compiled else _eager_step(model, loss_fn, l2)

    def batch_stream() -> Iterator[tuple[list[list[float]], list[Any]]]:
        rng = random.Random(seed)
        while True:
            yield from batches(X, targets, batch_size, shuffle=batch_size is not None, rng=rng)

    from tqdm import tqdm  # lazily: `import nn` stays light

    history = History()
    stream = batch_stream()
    with tqdm(total=total, disable=not progress, unit="step", desc="training") as bar:
        for step in range(total):
            xb, tb = next(stream)
            try:
                loss_value, outputs = run_step(xb, tb)  # forward and backward: dL/dW
            except OverflowError as exc:
                raise DivergenceError(
                    f"overflow at step {step} ({exc}): training diverged; "
                    "try a smaller learning rate",
                    history,
                ) from exc
            acc = (
                sum(_correct(o, t) for o, t in zip(outputs, tb, strict=True)) / len(tb)
                if classify
                else math.nan
            )
            lr = schedule(step) if schedule is not None else optimizer.lr
            history.loss.append(loss_value)
            history.accuracy.append(acc)
            history.lr.append(lr)
            if not math.isfinite(loss_value):
                raise DivergenceError(
                    f"loss became {loss_value} at step {step} (lr = {lr:g}): training "
                    "diverged; try a smaller learning rate",
                    history,
                )
            optimizer.lr = lr
            optimizer.step()  # W_new = W_old - lr * dL/dW (or the optimizer's rule)
            shown = {"loss": f"{loss_value:.4f}", "acc": f"{acc:.0%}"}
            bar.set_postfix(ordered_dict=shown, refresh=False)
            bar.update(1)
            if callback is not None:
                callback(step, history)
    return history
