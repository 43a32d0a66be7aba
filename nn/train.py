"""The training loop: forward, loss, backward, update, repeated (``fit``), and its history."""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from autograd import Value, compile, no_grad, topological_order
from autograd.compiler import Program
from nn import losses as _losses
from nn.data import batches
from nn.layers import input_size
from nn.module import Module
from nn.optim import SGD, Optimizer
from nn.schedules import Schedule

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "LOSS_NAMES",
    "DivergenceError",
    "History",
    "Trainer",
    "accuracy",
    "fit",
    "predict_class",
    "step_count",
]

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

    The three lists always have one entry per step. Only the history of a
    :class:`DivergenceError` can end with a non-finite loss (its last step).
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
    """Training produced an infinite or NaN loss, gradient or parameter.

    The usual cause is a learning rate too large for the problem. ``fit``
    stops at the first such step, so the history shows the run up to it.

    Attributes:
        history: Every step taken, the diverging one included (its loss is
            ``inf`` or ``nan`` when the loss itself went bad).
        step: The step (from 0) at which training diverged, ``len(history) - 1``;
            pass it to ``nn.plot.plot_history(history, diverged_at=step)``.
        quantity: What went bad first: ``"loss"``, ``"gradient"`` or ``"parameter"``.
    """

    def __init__(
        self,
        message: str,
        history: History,
        *,
        step: int | None = None,
        quantity: str = "loss",
    ) -> None:
        super().__init__(message)
        self.history = history
        self.step = len(history) - 1 if step is None else step
        self.quantity = quantity


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


def _is_array(x: object) -> TypeGuard[NDArray[Any]]:
    """A numpy array (or anything with ``ndim`` and ``tolist``, as numpy's are)."""
    return hasattr(x, "ndim") and callable(getattr(x, "tolist", None))


def _as_examples(X: Any) -> list[list[float]]:
    """``X`` as lists of floats: a 2-D numpy array or a list of rows, every feature finite."""
    if _is_array(X):
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D (examples x features), got an array of shape {tuple(X.shape)}"
                + ("; for a single feature use X.reshape(-1, 1)" if X.ndim == 1 else "")
            )
        X = X.tolist()
    if isinstance(X, str | bytes) or not isinstance(X, Sequence):
        raise TypeError(
            f"X must be a list of examples or a 2-D numpy array, got {type(X).__name__}"
        )
    rows = []
    for i, row in enumerate(X):
        if _is_array(row) and row.ndim == 1:
            row = row.tolist()
        if isinstance(row, str | bytes) or not isinstance(row, Sequence):
            raise TypeError(
                f"X[{i}] is {row!r} ({type(row).__name__}), not a list of features: X must be "
                "2-D (examples x features), e.g. [[x0, x1], ...]"
            )
        for j, v in enumerate(row):
            if isinstance(v, Value) or not isinstance(v, numbers.Real):
                raise TypeError(
                    f"X[{i}][{j}] is {v!r} ({type(v).__name__}); features must be plain numbers"
                )
            if not math.isfinite(v):
                raise ValueError(f"X[{i}][{j}] is {v!r}; features must be finite numbers")
        rows.append([float(v) for v in row])
    return rows


def _as_labels(y: Any) -> list[Any]:
    """``y`` as a list of Python numbers (numpy integers become ints), every label finite."""
    if _is_array(y):
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D (one label per example), got an array of shape {tuple(y.shape)}"
                + ("; use y.ravel()" if y.ndim == 2 and y.shape[1] == 1 else "")
            )
        y = y.tolist()
    if isinstance(y, str | bytes) or not isinstance(y, Sequence):
        raise TypeError(f"y must be a list of labels or a 1-D numpy array, got {type(y).__name__}")
    labels: list[Any] = []
    for i, label in enumerate(y):
        if isinstance(label, bool):
            labels.append(label)  # kept as is: cross_entropy refuses it, 0/1 losses take it
        elif isinstance(label, numbers.Integral):
            labels.append(int(label))
        elif isinstance(label, numbers.Real) and not isinstance(label, Value):
            if not math.isfinite(label):
                raise ValueError(f"y[{i}] is {label!r}; labels must be finite numbers")
            labels.append(float(label))
        else:
            raise TypeError(f"y[{i}] is {label!r} ({type(label).__name__}); labels must be numbers")
    return labels


def _check_model_fits(model: Module, X: list[list[float]], y: list[Any], loss: str) -> None:
    """Refuse, before any step, a model whose input or output size does not fit the data or loss."""
    nin = input_size(model)
    if nin is not None:
        for i, row in enumerate(X):
            if len(row) != nin:
                raise ValueError(
                    f"X[{i}] has {len(row)} features but the model {model!r} takes {nin}"
                )
    with no_grad():
        out = model(X[0])
    name = "binary_cross_entropy" if loss == "bce" else loss
    if loss == "cross_entropy":
        n_classes = max(y) + 1
        if not isinstance(out, list | tuple):
            raise ValueError(
                "loss 'cross_entropy' needs one logit per class, but the model returns a single "
                f"score; for {n_classes} classes end the model with {max(n_classes, 2)} outputs, "
                f"e.g. MLP(nin, [..., {max(n_classes, 2)}])"
                + (", or use loss='hinge' or 'bce' with this one" if n_classes <= 2 else "")
            )
        if n_classes > len(out):
            raise ValueError(
                f"loss 'cross_entropy': labels go up to {n_classes - 1} but the model returns "
                f"{len(out)} outputs (classes 0..{len(out) - 1}); end the model with "
                f"{n_classes} outputs, e.g. MLP(nin, [..., {n_classes}])"
            )
    elif isinstance(out, list | tuple):
        fix = (
            "end the model with a single output (a regression target per example)"
            if loss == "mse"
            else f"use loss='cross_entropy' for {len(out)} classes"
        )
        raise ValueError(
            f"loss {name!r} needs a single score per example, but the model returns "
            f"{'a list of ' if len(out) == 1 else ''}{len(out)} output{'s' * (len(out) != 1)}; "
            f"{fix}, or give the model one output, e.g. MLP(nin, [..., 1])"
        )


def _count(name: str, value: Any, none: str = "") -> int | None:
    """A positive integer argument (or None), refused with a clear message otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive integer{none}, got {value!r} ({type(value).__name__})"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer{none}, got {value!r}")
    return int(value)


def step_count(
    n_examples: int,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
) -> int:
    """How many updates :func:`fit` makes (its ``History`` has one entry per update).

    ``steps`` updates if given; ``epochs`` passes over the data otherwise, each
    of ``ceil(n_examples / batch_size)`` batches (one batch: the whole data set
    when ``batch_size`` is ``None`` or larger than the data); 100 with neither.

    Args:
        n_examples: Number of training examples.
        steps: Number of updates, as given to ``fit``.
        epochs: Number of passes over the data, as given to ``fit``.
        batch_size: Examples per step (``None``: all of them).

    Returns:
        The number of updates.

    Raises:
        ValueError: Both ``steps`` and ``epochs`` given, or a count below 1.
        TypeError: A count that is not an integer.
    """
    n = _count("n_examples", n_examples)
    if n is None:
        raise TypeError("n_examples must be a positive integer, got None")
    batch_size = _count("batch_size", batch_size, " or None")
    if steps is not None and epochs is not None:
        raise ValueError("give steps or epochs, not both")
    steps = _count("steps", steps)
    epochs = _count("epochs", epochs)
    if epochs is not None:
        return epochs * (1 if batch_size is None else math.ceil(n / batch_size))
    return 100 if steps is None else steps


def _binary(y: Sequence[float], loss: str) -> bool:
    labels = set(y)
    if labels <= {0, 1} or labels <= {-1, 1}:
        return True
    if loss == "mse":
        return False
    fractions = sorted(v for v in labels if not float(v).is_integer())
    raise ValueError(
        f"loss {loss!r} needs two classes labelled 0/1 or -1/+1, got labels {sorted(labels)}"
        + (
            f" ({fractions[0]!r} is not a class label: labels are whole numbers)"
            if fractions
            else "; use cross_entropy for more classes"
        )
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
        indices = []
        for label in y:
            whole = isinstance(label, int) or (isinstance(label, float) and label.is_integer())
            if isinstance(label, bool) or not whole or label < 0:
                hint = " (a class label is a whole number)" if not whole else ""
                raise ValueError(
                    f"cross_entropy needs class indices 0, 1, ..., got {label!r}{hint}"
                )
            indices.append(int(label))
        return _losses.cross_entropy, indices, True
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


def _check_settings(
    *,
    compiled: object,
    seed: object,
    schedule: object,
    progress: object = False,
    callback: object = None,
) -> None:
    """Refuse a flag that is not a bool, a seed that is not an integer, or an uncallable hook."""
    for flag, value in (("progress", progress), ("compiled", compiled)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be callable (step -> lr) or None, got {schedule!r}")


class Trainer:
    """:func:`fit`'s loop, one step at a time (``fit`` steps one ``total_steps`` times).

    Everything ``fit`` checks is checked here, before any step, with the same
    messages; each :meth:`step` is one of ``fit``'s steps (the next batch, the
    scheduled rate, forward, loss, backward, the divergence checks, the
    update), so a loop of ``step()`` calls trains exactly as ``fit`` does::

        trainer = Trainer(model, X, y, loss="hinge", steps=100)
        while len(trainer.history) < trainer.total_steps:
            trainer.step()

    Args:
        model, X, y, loss, optimizer, steps, epochs, batch_size, schedule, l2,
        seed, compiled: As for :func:`fit`. The schedule is called once per
            step, just before it, so a callable that reads a variable can
            change the rate between steps.

    Attributes:
        model: The model.
        optimizer: The optimizer that updates it.
        history: The steps taken so far (a diverging step included).
        total_steps: The number of steps planned (:func:`step_count`).

    Raises:
        ValueError: Bad arguments, as ``fit`` raises them.
        TypeError: An argument of the wrong type, as ``fit`` raises it.
    """

    def __init__(
        self,
        model: Module,
        X: Sequence[Sequence[float]] | NDArray[Any],
        y: Sequence[Any] | NDArray[Any],
        *,
        loss: str | Callable[[Any, Any], Value] = "hinge",
        optimizer: Optimizer | None = None,
        steps: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        schedule: Schedule | None = None,
        l2: float = 0.0,
        seed: int = 0,
        compiled: bool = False,
    ) -> None:
        _check_settings(compiled=compiled, seed=seed, schedule=schedule)
        if not isinstance(model, Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        examples = _as_examples(X)
        labels = list(y.tolist() if _is_array(y) else y) if callable(loss) else _as_labels(y)
        if len(examples) != len(labels):
            raise ValueError(f"X has {len(examples)} examples but y has {len(labels)} labels")
        if not examples:
            raise ValueError("fit needs at least one example")
        loss_fn, targets, self._classify = _task(loss, labels)
        batch_size = _count("batch_size", batch_size, " or None")
        self.total_steps: int = step_count(len(examples), steps, epochs, batch_size)
        l2 = _penalty_weight(l2)
        if compiled and callable(loss):
            raise ValueError(
                "compiled=True needs a loss name (a mean of per-example terms it can trace "
                f"once), not a callable; choose from {', '.join(LOSS_NAMES)}"
            )
        named = model.named_parameters()
        params = [p for _, p in named]
        if optimizer is None:
            optimizer = SGD(params, lr=0.1)
        elif not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"optimizer must be an nn.optim.Optimizer (SGD, Adam, AdamW), got {optimizer!r}"
            )
        elif params and not {id(p) for p in optimizer.params} & {id(p) for p in params}:
            raise ValueError(
                "the optimizer updates none of the model's parameters; build it from this "
                "model, e.g. SGD(model.parameters(), lr=0.1)"
            )
        if not callable(loss):
            _check_model_fits(model, examples, targets, loss)
        self.model: Module = model
        self.optimizer: Optimizer = optimizer
        self.history: History = History()
        self._schedule: Schedule | None = schedule
        self._params: list[Value] = params
        self._names: dict[int, str] = {id(p): name for name, p in named}
        self._run_step: Step = (
            _CompiledStep(model, loss_fn, l2) if compiled else _eager_step(model, loss_fn, l2)
        )
        self._batches: Iterator[tuple[list[list[float]], list[Any]]] = self._stream(
            examples, targets, batch_size, int(seed)
        )
        self._diverged: DivergenceError | None = None

    @staticmethod
    def _stream(
        examples: list[list[float]], targets: list[Any], batch_size: int | None, seed: int
    ) -> Iterator[tuple[list[list[float]], list[Any]]]:
        """Batches from a shuffled order, epoch after epoch (the whole data set: no shuffle)."""
        rng = random.Random(seed)
        while True:
            yield from batches(
                examples, targets, batch_size, shuffle=batch_size is not None, rng=rng
            )

    def step(self) -> float:
        """One step: the next batch forward, its loss, backward, and the update.

        Returns:
            The batch's loss before the update (``history.loss[-1]``).

        Raises:
            DivergenceError: The loss, a gradient or a parameter became infinite
                or NaN at this step (it is in ``history``); the trainer takes
                no more steps.
            RuntimeError: The trainer had diverged, or has taken its
                ``total_steps`` steps.
        """
        step = len(self.history)
        if self._diverged is not None:
            raise RuntimeError(
                f"this trainer diverged at step {self._diverged.step} and takes no more steps; "
                "start a new one (a new model) with a smaller learning rate"
            )
        if step >= self.total_steps:
            raise RuntimeError(
                f"this trainer has taken all its {self.total_steps} steps; "
                "create it with more steps or epochs"
            )
        try:
            return self._step(step)
        except DivergenceError as exc:
            self._diverged = exc
            raise

    def _step(self, step: int) -> float:
        history, optimizer = self.history, self.optimizer
        xb, tb = next(self._batches)
        lr = optimizer.lr if self._schedule is None else _scheduled(self._schedule, step)
        try:
            loss_value, outputs = self._run_step(xb, tb)  # forward and backward: dL/dW
        except OverflowError as exc:
            _record(history, math.inf, math.nan, lr)
            raise DivergenceError(
                f"training diverged at step {step}: overflow in the forward or backward "
                f"pass ({exc}) with lr = {lr:g}; {_advice(lr)}",
                history,
                step=step,
                quantity="loss",
            ) from exc
        acc = (
            sum(_correct(o, t) for o, t in zip(outputs, tb, strict=True)) / len(tb)
            if self._classify
            else math.nan
        )
        _record(history, loss_value, acc, lr)
        if not math.isfinite(loss_value):
            raise DivergenceError(
                f"training diverged at step {step}: the loss became {loss_value} "
                f"(lr = {lr:g}); {_advice(lr)}",
                history,
                step=step,
                quantity="loss",
            )
        _check_finite(self._params, self._names, history, step, lr, "before")
        optimizer.lr = lr
        try:
            optimizer.step()  # W_new = W_old - lr * dL/dW (or the optimizer's rule)
        except OverflowError as exc:
            raise DivergenceError(
                f"training diverged at step {step}: overflow in the update ({exc}) with "
                f"lr = {lr:g}; {_advice(lr)}",
                history,
                step=step,
                quantity="parameter",
            ) from exc
        _check_finite(self._params, self._names, history, step, lr, "after")
        return loss_value


def fit(
    model: Module,
    X: Sequence[Sequence[float]] | NDArray[Any],
    y: Sequence[Any] | NDArray[Any],
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
    parameters (one step at a time: :class:`Trainer`). micrograd's demo is::

        X, y = data.make_moons(100, noise=0.1)
        model = MLP(2, [16, 16, 1])
        fit(model, X, y, loss="hinge", l2=1e-4, steps=100,
            optimizer=SGD(model.parameters(), lr=1.0),
            schedule=schedules.LinearDecay(1.0, 0.1, 100))

    Args:
        model: The model; called on one example at a time.
        X: Examples: lists of numbers, or a 2-D numpy array (examples x
            features). Every feature must be finite.
        y: Labels (a list, or a 1-D numpy array; numpy integers are fine). With a
            loss name they are class labels, turned into what the
            loss wants: -1/+1 for ``hinge`` and ``mse`` (0/1 or -1/+1 labels; other
            numbers make ``mse`` a regression), 0/1 for ``bce``, indices for
            ``cross_entropy``. A callable loss gets them unchanged.
        loss: A name from :data:`LOSS_NAMES`, or ``f(outputs, targets) -> Value``
            taking the batch's lists. ``hinge``, ``bce`` and ``mse`` need a model
            with one output, ``cross_entropy`` one output per class.
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
        DivergenceError: The loss, a gradient or a parameter became infinite or
            NaN. Training stops at that step; the error's ``history`` holds every
            step up to and including it, and its ``step`` says which one it was.
        ValueError: Bad arguments (unknown loss, labels or a model output size
            that do not fit it, ...), raised before the first step.
        TypeError: An argument of the wrong type (``steps=2.5``, a string label, ...).
    """
    _check_settings(
        progress=progress, compiled=compiled, seed=seed, callback=callback, schedule=schedule
    )
    trainer = Trainer(
        model,
        X,
        y,
        loss=loss,
        optimizer=optimizer,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        schedule=schedule,
        l2=l2,
        seed=seed,
        compiled=compiled,
    )
    from tqdm import tqdm  # lazily: `import nn` stays light

    history = trainer.history
    total = trainer.total_steps
    with tqdm(total=total, disable=not progress, unit="step", desc="training") as bar:
        for step in range(total):
            trainer.step()
            shown = {"loss": f"{history.loss[-1]:.4f}", "acc": f"{history.accuracy[-1]:.0%}"}
            bar.set_postfix(ordered_dict=shown, refresh=False)
            bar.update(1)
            if callback is not None:
                callback(step, history)
    return history


def _record(history: History, loss: float, acc: float, lr: float) -> None:
    history.loss.append(loss)
    history.accuracy.append(acc)
    history.lr.append(lr)


def _penalty_weight(l2: object) -> float:
    """``l2`` as a float, refused unless it is a finite number >= 0.

    (Typed ``object``: for mypy a float is never a ``numbers.Real``, so a check
    of a ``float`` argument would make the code after it unreachable, unchecked.)
    """
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real):
        raise TypeError(f"l2 must be a number, got {l2!r} ({type(l2).__name__})")
    if not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    return float(l2)


def _scheduled(schedule: Schedule, step: int) -> float:
    """``schedule(step)``, refused unless it is a finite number >= 0."""
    lr: object = schedule(step)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"schedule({step}) returned {lr!r}; a learning rate must be a number")
    rate = float(lr)
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(
            f"schedule({step}) returned {lr!r}; a learning rate must be a finite number >= 0"
        )
    return rate


def _advice(lr: float) -> str:
    if lr > 0:
        return f"try a smaller learning rate (e.g. lr = {lr / 10:g})"
    return "try a smaller learning rate, or check the data and the initial weights"


def _check_finite(
    params: list[Value], names: dict[int, str], history: History, step: int, lr: float, when: str
) -> None:
    """Raise DivergenceError naming the first non-finite parameter (or gradient, before the update).

    ``when`` is ``"before"`` (after backward: parameters, then gradients) or
    ``"after"`` (after the optimizer's update: parameters).
    """
    # Fast path: a sum is finite when every term is (a sum of large finite terms
    # that overflows only costs the exact scan below, which then finds nothing).
    if math.isfinite(sum(p.data for p in params)) and (
        when == "after" or math.isfinite(sum(_grad_float(p.grad) for p in params))
    ):
        return
    for quantity in ("parameter", "gradient") if when == "before" else ("parameter",):
        for p in params:
            value = p.data if quantity == "parameter" else _grad_float(p.grad)
            if math.isfinite(value):
                continue
            name = names.get(id(p), p.label or "?")
            if quantity == "gradient":
                what = f"the gradient of parameter {name!r} became {value}"
            elif when == "before":
                what = f"parameter {name!r} is {value} before the update"
            else:
                what = f"parameter {name!r} became {value} in the update"
            raise DivergenceError(
                f"training diverged at step {step}: {what} (lr = {lr:g}); {_advice(lr)}",
                history,
                step=step,
                quantity=quantity,
            )


def _grad_float(g: Any) -> float:
    if g is None:
        return 0.0
    return float(g.data if isinstance(g, Value) else g)
