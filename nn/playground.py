"""The playground's runs: options to data, model and optimizer, one step at a time, and the views.

A :class:`Run` is what one browser tab trains: the options of ``tapegrad train``
(checked by the CLI's own code, so a bad value gets the CLI's one-line message),
``step()`` for one step of ``nn.fit``'s own loop (``nn.train.Trainer``), and ``state()`` /
``frame()``, the JSON the page draws. :class:`Recorder` is ``fit``'s callback
that keeps what the views need (the weights before and after the last step)
and, for ``tapegrad train --html``, records frames for :func:`replay_html`.
``nn.serve`` puts runs behind HTTP; the protocol is in its docstring.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from autograd import Value, compile
from nn import losses
from nn.cli import (
    Training,
    UsageError,
    explain_page,
    parse_train,
    prepare_training,
    training_meta,
)
from nn.optim import SGD
from nn.train import DivergenceError, History, Trainer

__all__ = [
    "GRID",
    "LIVE_OPTIONS",
    "MAX_CLASSES",
    "MAX_HIDDEN_LAYERS",
    "MAX_SAMPLES",
    "MAX_STEPS",
    "MAX_WIDTH",
    "OPTIONS",
    "OptionError",
    "Recorder",
    "Run",
    "page_html",
    "replay_html",
]

MAX_SAMPLES = 2000
"""At most this many examples (``samples``, and rows of an uploaded CSV)."""

MAX_WIDTH = 64
"""At most this many neurons in a hidden layer."""

MAX_HIDDEN_LAYERS = 4
"""At most this many hidden layers."""

MAX_CLASSES = 10
"""At most this many classes (``classes``, or the labels of a CSV)."""

MAX_STEPS = 100_000
"""A run stops itself after this many steps."""

GRID = 40
"""The decision boundary is evaluated on a GRID x GRID grid."""

HISTORY_POINTS = 2000
"""A frame's curves hold at most this many points (evenly thinned)."""

OPTIONS: dict[str, str] = {
    "dataset": "--dataset",
    "csv": "--csv",
    "samples": "--samples",
    "noise": "--noise",
    "classes": "--classes",
    "hidden": "--hidden",
    "activation": "--activation",
    "init": "--init",
    "loss": "--loss",
    "l2": "--l2",
    "optimizer": "--optimizer",
    "momentum": "--momentum",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "watch": "",
    "example": "",
}
"""The options a run takes, and the ``tapegrad train`` option each one is ("" = the page's own)."""

LIVE_OPTIONS = ("lr", "watch", "example")
"""Options whose change the run takes without starting again (``lr`` from the next step)."""

_UPLOAD = "the uploaded CSV"


class OptionError(ValueError):
    """A bad option: ``str(error)`` is the one-line message (the CLI's, for the CLI's options)."""


def _check_names(options: object) -> dict[str, object]:
    """The options as a dict, refusing unknown names (``None`` values are kept)."""
    if not isinstance(options, Mapping):
        raise OptionError(
            f'the options must be a JSON object like {{"lr": 0.1}}, got {type(options).__name__}'
        )
    for name in options:
        if name not in OPTIONS:
            close = difflib.get_close_matches(str(name), OPTIONS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise OptionError(
                f"unknown option {name!r}; {hint}the options are: {', '.join(OPTIONS)}"
            )
    return {str(k): v for k, v in options.items()}


def _text(name: str, value: object) -> str:
    """An option's value as the command line would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise OptionError(f"option {name}: expected a string or a number, got {type(value).__name__}")


def _argv(options: Mapping[str, object], csv_path: str | None) -> list[str]:
    """The ``tapegrad train`` arguments that say what ``options`` say."""
    argv = []
    for name, flag in OPTIONS.items():
        if not flag or name not in options or name == "csv":
            continue
        text = _text(name, options[name])
        if name == "dataset" and text == "csv":
            continue
        if name == "batch_size" and text.strip() == "0":
            continue  # 0: the whole data set, as without --batch-size
        argv.append(f"{flag}={text}")
    if csv_path is not None:
        argv.append(f"--csv={csv_path}")
    return argv


def _limits(training: Training) -> None:
    """The playground's limits, past the CLI's checks: one request cannot take the machine."""
    args = training.args
    if args.samples > MAX_SAMPLES:
        raise OptionError(
            f"argument --samples: at most {MAX_SAMPLES} examples in the playground, "
            f"got {args.samples}"
        )
    if len(args.hidden) > MAX_HIDDEN_LAYERS:
        raise OptionError(
            f"argument --hidden: at most {MAX_HIDDEN_LAYERS} hidden layers in the playground, "
            f"got {len(args.hidden)}"
        )
    if any(n > MAX_WIDTH for n in args.hidden):
        raise OptionError(
            f"argument --hidden: at most {MAX_WIDTH} neurons per layer in the playground, "
            f"got {max(args.hidden)}"
        )
    if args.classes is not None and args.classes > MAX_CLASSES:
        raise OptionError(
            f"argument --classes: at most {MAX_CLASSES} classes in the playground, "
            f"got {args.classes}"
        )
    if args.csv:
        if len(training.X) > MAX_SAMPLES:
            raise OptionError(
                f"{_UPLOAD} has {len(training.X)} rows; the playground takes at most {MAX_SAMPLES}"
            )
        if len(training.labels) > MAX_CLASSES:
            raise OptionError(
                f"{_UPLOAD} has {len(training.labels)} classes; the playground takes at most "
                f"{MAX_CLASSES}"
            )
        if len(training.X[0]) != 2:
            raise OptionError(
                f"{_UPLOAD} has {len(training.X[0])} feature columns; the playground draws "
                "2-D data: two feature columns and the label, like x0,x1,label"
            )


def _prepare(options: Mapping[str, object]) -> Training:
    """A run's data, model and optimizer from the options, with the CLI's checks and messages."""
    folder = None
    csv_path = None
    try:
        if options.get("dataset") == "csv":
            text = options.get("csv")
            if not isinstance(text, str) or not text.strip():
                raise OptionError(
                    "dataset csv needs the file's text in the option csv (upload a CSV file)"
                )
            folder = tempfile.mkdtemp(prefix="tapegrad-playground-")
            csv_path = os.path.join(folder, "upload.csv")
            with open(csv_path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        try:
            training = prepare_training(parse_train(_argv(options, csv_path)))
        except UsageError as exc:
            message = str(exc)
            raise OptionError(message.replace(csv_path, _UPLOAD) if csv_path else message) from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if csv_path is not None:
        training.args.csv = _UPLOAD
        training.what = training.what.replace(csv_path, _UPLOAD)
    _limits(training)
    return training


def _whole(name: str, value: object) -> int:
    text = _text(name, value).strip()
    if not text.lstrip("+-").isdigit():
        raise OptionError(f"option {name}: {text!r} is not an integer")
    return int(text)


def _watch(value: object, training: Training) -> tuple[int, int, int]:
    """The weight the update view follows: ``"layer,neuron,input"`` (default 0,0,0)."""
    if value is None:
        return (0, 0, 0)
    text = _text("watch", value)
    parts = text.split(",")
    shape = ", ".join(
        f"layer {i}: {len(layer.neurons)} neurons x {len(layer.neurons[0].w)} inputs"
        for i, layer in enumerate(training.model.layers)
    )
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise OptionError(
            f"option watch: {text!r} is not layer,neuron,input (three whole numbers, like 0,0,0)"
        )
    layer, neuron, inp = (int(p) for p in parts)
    layers = training.model.layers
    if not (
        layer < len(layers)
        and neuron < len(layers[layer].neurons)
        and inp < len(layers[layer].neurons[neuron].w)
    ):
        raise OptionError(f"option watch: the model has no weight {text}; it has {shape}")
    return layer, neuron, inp


def _example(value: object, training: Training) -> int | None:
    """The example the explain view shows (None: the first with a nonzero loss)."""
    if value is None:
        return None
    k = _whole("example", value)
    if not 0 <= k < len(training.X):
        raise OptionError(
            f"option example: {k} is not an example index; the data has examples "
            f"0..{len(training.X) - 1}"
        )
    return k


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` with every NaN or infinity replaced by None (JSON has no such numbers)."""
    cleaned: dict[str, Any] = _clean(value)
    return cleaned


def _thin(values: Sequence[Any], limit: int) -> list[int]:
    """At most ``limit`` indices of ``values``, evenly spread, first and last included."""
    n = len(values)
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def _grad(p: Value) -> float:
    g = p.grad
    return float(g.data if isinstance(g, Value) else (g or 0.0))


class Recorder:
    """``fit``'s callback for the playground's views: the last step's weights, and frames.

    After every step it keeps the parameters' values before and after it (for
    the update view); with ``every`` it also records a frame every ``every``
    steps (and at step 0), which :meth:`finish` completes with the last step:
    the frames of ``tapegrad train --html``'s replay.

    Args:
        training: The run (``nn.cli.prepare_training``).
        every: Record a frame every so many steps (0: record none).
        history_points: Thin each frame's curves to at most this many points.
    """

    def __init__(
        self, training: Training, every: int = 0, history_points: int = HISTORY_POINTS
    ) -> None:
        self.training = training
        self.every = every
        self.history_points = history_points
        self.params = training.model.parameters()
        self.before: list[float] | None = None
        self.after = [p.data for p in self.params]
        self.frames: list[dict[str, Any]] = []
        self.watch = (0, 0, 0)
        xs = [Value(0.0, label="x0"), Value(0.0, label="x1")]
        out = training.model(xs)
        self.multi = isinstance(out, list)
        self._program = compile(out, xs)  # the engine draws the boundary, never JavaScript
        self._area = self._grid_area()
        if every:
            self.frames.append(self.frame(History()))

    def __call__(self, step: int, history: History) -> None:
        """Called by ``fit`` after the update of ``step``."""
        self.before, self.after = self.after, [p.data for p in self.params]
        if self.every and (step + 1) % self.every == 0:
            self.frames.append(self.frame(history))

    def finish(self, history: History, diverged: DivergenceError | None = None) -> None:
        """The run ended (or diverged, in which case ``fit`` called no callback for that step)."""
        if diverged is not None:
            self.before, self.after = self.after, [p.data for p in self.params]
        if self.every and (not self.frames or self.frames[-1]["step"] != len(history)):
            self.frames.append(self.frame(history, diverged=_diverged(diverged)))
        elif self.every and diverged is not None:
            self.frames[-1]["diverged"] = _diverged(diverged)

    def options(self) -> dict[str, Any]:
        """The run's options, by the playground's names (what the replay page lists)."""
        args = self.training.args
        return _json_safe(
            {
                "dataset": "csv" if args.csv else args.dataset,
                "samples": len(self.training.X),
                "noise": args.noise,
                "classes": args.classes,
                "hidden": ",".join(map(str, args.hidden)),
                "activation": args.activation,
                "init": args.init,
                "loss": args.loss,
                "l2": args.l2,
                "optimizer": args.optimizer,
                "momentum": args.momentum,
                "lr": self.training.lr,
                "schedule": args.schedule,
                "steps": self.training.steps,
                "batch_size": self.training.batch_size or 0,
                "seed": args.seed,
            }
        )

    def _grid_area(self) -> tuple[list[float], list[float]]:
        """The boundary's x0 and x1 ranges: the data's, padded as nn.plot pads them."""
        ranges = []
        for column in (0, 1):
            lo = min(x[column] for x in self.training.X)
            hi = max(x[column] for x in self.training.X)
            pad = 0.15 * (hi - lo) + 0.1
            ranges.append([lo - pad, hi + pad])
        return ranges[0], ranges[1]

    def outputs(self, points: Sequence[Sequence[float]]) -> list[list[float]]:
        """The model's outputs (one list of scores per point), by the compiled program."""
        import numpy as np

        columns = np.array(points, dtype=float).T
        if self._program.batchable and len(points) > 1:
            with np.errstate(all="ignore"):
                result = self._program(columns[0], columns[1])
            arrays = list(result) if self.multi else [result]
            rows: list[list[float]] = np.stack(arrays, axis=1).tolist()
            return rows
        rows = []
        for x0, x1 in points:
            out = self._program(float(x0), float(x1))
            rows.append(list(out) if self.multi else [out])
        return rows

    def boundary(self) -> dict[str, Any]:
        """The predicted class (and one output's raw score) on the grid; row 0 = lowest x1."""
        (a0, b0), (a1, b1) = self._area
        x0s = [a0 + (b0 - a0) * i / (GRID - 1) for i in range(GRID)]
        x1s = [a1 + (b1 - a1) * i / (GRID - 1) for i in range(GRID)]
        outs = self.outputs([(u, v) for v in x1s for u in x0s])
        if self.multi:
            cls = [_argmax(o) for o in outs]
            score = None
        else:
            cls = [int(o[0] > 0) for o in outs]
            score = [[_short(outs[r * GRID + c][0]) for c in range(GRID)] for r in range(GRID)]
        return {
            "x0": [a0, b0],
            "x1": [a1, b1],
            "n": GRID,
            "cls": [cls[r * GRID : (r + 1) * GRID] for r in range(GRID)],
            "score": score,
        }

    def network(self) -> dict[str, Any]:
        """The network's sizes, weights, biases and their gradients of the last step."""
        layers = self.training.model.layers
        return {
            "sizes": [len(layers[0].neurons[0].w), *(len(layer.neurons) for layer in layers)],
            "activation": self.training.args.activation,
            "weights": [[[w.data for w in n.w] for n in layer.neurons] for layer in layers],
            "biases": [[n.b.data for n in layer.neurons] for layer in layers],
            "grads": [[[_grad(w) for w in n.w] for n in layer.neurons] for layer in layers],
            "bias_grads": [[_grad(n.b) for n in layer.neurons] for layer in layers],
        }

    def update(self, history: History, lr: float) -> dict[str, Any]:
        """The watched weight's last update, with its numbers: ``w_new = w_old - lr * grad``."""
        layer, neuron, inp = self.watch
        w = self.training.model.layers[layer].neurons[neuron].w[inp]
        index = next(i for i, p in enumerate(self.params) if p is w)
        found: dict[str, Any] = {"layer": layer, "neuron": neuron, "input": inp}
        if self.before is None or not len(history):
            found.update(w_old=w.data, grad=None, lr=lr, w_new=None, w_after=w.data)
            return found
        w_old, w_after, grad, used = self.before[index], w.data, _grad(w), history.lr[-1]
        found.update(w_old=w_old, grad=grad, lr=used, w_new=w_old - used * grad, w_after=w_after)
        optimizer = self.training.optimizer
        if not (
            isinstance(optimizer, SGD) and not optimizer.momentum and not optimizer.weight_decay
        ):
            name = type(optimizer).__name__
            found["w_new"] = w_old - used * grad
            found["delta"] = w_after - w_old
            found["note"] = (
                f"{name} rescales the step ({optimizer.update_rule}): the weight moved by "
                "delta, not by -lr * grad"
            )
        return found

    def frame(
        self,
        history: History,
        *,
        lr: float | None = None,
        points: bool = True,
        diverged: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What the page draws after the steps in ``history`` (no NaN or infinity: null).

        Args:
            history: The run's history.
            lr: The rate the next step uses (default: the run's initial one).
            points: Include the training points (False: ``"points": null``, unchanged).
            diverged: The run's divergence, if it diverged.

        Returns:
            The frame, as JSON-ready data.
        """
        picked = _thin(history.loss, self.history_points)
        curves = {
            "step": [i + 1 for i in picked],
            "loss": [history.loss[i] for i in picked],
            "accuracy": [history.accuracy[i] for i in picked],
            "lr": [history.lr[i] for i in picked],
        }
        drawn = None
        if points:
            drawn = {
                "x": self.training.X,
                "y": self.training.y,
                "classes": len(self.training.labels),
                "labels": [str(v) for v in self.training.labels],
            }
        frame = {
            "step": len(history),
            "history": curves,
            "points": drawn,
            "boundary": self.boundary(),
            "network": self.network(),
            "update": self.update(history, self.training.lr if lr is None else lr),
        }
        if diverged is not None:
            frame["diverged"] = diverged
        return _json_safe(frame)


def _argmax(scores: Sequence[float]) -> int:
    """The class of a list of scores (a NaN never wins)."""
    best = 0
    for j, x in enumerate(scores):
        if x > scores[best] or scores[best] != scores[best]:
            best = j
    return best


def _short(x: float) -> float:
    """A score as the boundary shades it: four significant digits are plenty."""
    return float(f"{x:.4g}") if math.isfinite(x) else x


def _diverged(exc: DivergenceError | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    return {"step": exc.step, "quantity": exc.quantity, "message": str(exc)}


class Run:
    """One playground run: options, one ``fit`` step at a time, its state and frames.

    Not thread-safe by itself: ``nn.serve`` holds a lock around every call.

    Args:
        options: Options by the names of :data:`OPTIONS` (values as strings or
            numbers, as JSON gives them; missing ones take the CLI's defaults).
            The learning rate stays constant: a run has no schedule.
        max_steps: The run stops itself after this many steps.

    Attributes:
        options: The options given (merged by :meth:`configure`).
        training: Data, model and optimizer (``nn.cli.Training``).
        lr: The rate the next step uses.
        history: The steps so far (``nn.train.History``).
        running: Whether the server's loop is training it (set by ``nn.serve``).
        diverged: ``None``, or the step, quantity and message of ``fit``'s DivergenceError.
        error: ``None``, or why the run stopped by itself.

    Raises:
        OptionError: A bad option, with the CLI's one-line message.
    """

    def __init__(
        self, options: Mapping[str, object] | None = None, *, max_steps: int = MAX_STEPS
    ) -> None:
        given = {
            k: v
            for k, v in _check_names({} if options is None else options).items()
            if v is not None
        }
        self.training = _prepare(given)
        self.options = given
        self.watch = _watch(given.get("watch"), self.training)
        self.example = _example(given.get("example"), self.training)
        self.lr = self.training.lr
        self.max_steps = max_steps
        self.history = History()
        self.running = False
        self.diverged: dict[str, Any] | None = None
        self.error: str | None = None
        self.recorder = Recorder(self.training)
        self.recorder.watch = self.watch
        t = self.training
        self._trainer = Trainer(
            t.model,
            t.X,
            t.y,
            loss=t.args.loss,
            optimizer=t.optimizer,
            steps=max_steps,
            batch_size=t.batch_size,
            schedule=self._rate,
            seed=t.args.seed,
            l2=t.args.l2,
            compiled=True,
        )
        self.history = self._trainer.history
        self._ended = False  # closed, or a step failed (not by diverging)

    def _rate(self, step: int) -> float:
        return self.lr  # constant, and changed by configure between steps

    @property
    def stopped(self) -> bool:
        """Whether the run can take no more steps (diverged, reached ``max_steps``, or closed)."""
        return self.diverged is not None or len(self.history) >= self.max_steps or self._ended

    def step(self) -> bool:
        """One optimizer step (forward, loss, backward, update) on the next batch.

        Returns:
            True if a step was taken; False if the run had stopped, or diverged
            at this step (then ``diverged`` says where and why, and ``running``
            is False).
        """
        if self.stopped:
            self.running = False
            return False
        try:
            self._trainer.step()  # one of fit's steps
        except DivergenceError as exc:
            self.recorder.finish(exc.history, exc)
            self.diverged = _diverged(exc)
            self.running = False
            return False
        except BaseException:
            self._ended = True  # as fit would: a failed step ends the run
            raise
        self.recorder(len(self.history) - 1, self.history)
        if len(self.history) >= self.max_steps:
            self.running = False
            self.error = (
                f"the run stopped after {self.max_steps} steps (the playground's limit); "
                "change an option to start a new one"
            )
        return True

    def state(self) -> dict[str, Any]:
        """``{step, loss, accuracy, lr, running, diverged, error}``, JSON-ready (no NaN)."""
        h = self.history
        return _json_safe(
            {
                "step": len(h),
                "loss": h.loss[-1] if len(h) else None,
                "accuracy": h.accuracy[-1] if len(h) else None,
                "lr": self.lr,
                "running": self.running,
                "diverged": self.diverged,
                "error": self.error,
            }
        )

    def frame(self, *, points: bool = True) -> dict[str, Any]:
        """The views after the last step (see :meth:`Recorder.frame`)."""
        self.recorder.watch = self.watch
        return self.recorder.frame(self.history, lr=self.lr, points=points)

    def configure(self, changes: Mapping[str, object]) -> Run:
        """Merge ``changes`` into the options: this run, or a new one at step 0.

        A change of ``lr``, ``watch`` or ``example`` alone keeps this run (the
        rate applies from the next step; a diverged or stopped run starts again
        for a new ``lr``); any other change returns a new run with the merged
        options and this one's ``running``. A bad option changes nothing.

        Args:
            changes: Options to merge (``None`` values restore the default).

        Returns:
            ``self`` or the new run (close this one then).

        Raises:
            OptionError: A bad option (nothing changed).
        """
        merged = dict(self.options)
        for name, value in _check_names(changes).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        candidate = self._restarted(merged, changes)
        changed = {k for k in OPTIONS if merged.get(k) != self.options.get(k)}
        live = changed <= {"watch", "example"} or (
            changed <= set(LIVE_OPTIONS) and not self.stopped
        )
        if not live:
            candidate.running = self.running
            return candidate
        candidate.close()
        if "lr" in changed:
            self.lr = candidate.lr
        self.options = merged
        self.watch, self.example = candidate.watch, candidate.example
        return self

    def _restarted(self, merged: dict[str, object], changes: Mapping[str, object]) -> Run:
        """A run of the merged options; a watch or example left over that no longer fits is dropped.

        (A smaller network or data set would otherwise refuse the weight or the
        example the page chose for the old one, which the learner did not touch.)
        """
        while True:
            try:
                return Run(merged, max_steps=self.max_steps)
            except OptionError as exc:
                stale = [
                    name
                    for name in ("watch", "example")
                    if name in merged
                    and name not in changes
                    and str(exc).startswith(f"option {name}:")
                ]
                if not stale:
                    raise
                del merged[stale[0]]

    def chosen_example(self) -> int:
        """The explain view's example: the one chosen, else the first with a nonzero loss."""
        if self.example is not None:
            return self.example
        t = self.training
        outs = self.recorder.outputs(t.X)
        for k, (out, label) in enumerate(zip(outs, t.y, strict=True)):
            output = out if self.recorder.multi else out[0]
            value = losses.example_loss(output, label, t.args.loss)
            if value != 0:
                return k
        return 0

    def explain_html(self, k: int | None = None) -> str:
        """``autograd.explain`` of example ``k``'s loss at the current weights, as a page.

        Args:
            k: The example (default :meth:`chosen_example`).

        Raises:
            OptionError: ``k`` is not an example of the data.
        """
        t = self.training
        index = self.chosen_example() if k is None else _example(k, t)
        assert index is not None
        return explain_page(t.model, t.X[index], t.y[index], t.args.loss, lr=self.lr)

    def model_json(self) -> bytes:
        """The trained model, the bytes ``Module.save`` writes (the file ``nn.load`` reads).

        Raises:
            nn.io.ModelFileError: A weight is not finite (the run diverged).
        """
        folder = tempfile.mkdtemp(prefix="tapegrad-model-")
        try:
            path = os.path.join(folder, "model.json")
            self.training.model.save(path, meta=training_meta(self.training, self.history))
            with open(path, "rb") as f:
                return f.read()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """End the run: it takes no more steps."""
        self._ended = True


def _asset(name: str) -> str:
    return (resources.files("nn") / "assets" / name).read_text(encoding="utf-8")


def page_html(before_script: str = "") -> str:
    """The playground page: ``playground.html`` with its CSS and JavaScript inlined.

    Args:
        before_script: HTML to insert just before the page's ``<script>`` element.

    Raises:
        RuntimeError: An asset would end its ``<style>`` or ``<script>`` element early.
    """
    css, js = _asset("playground.css"), _asset("playground.js")
    for name, text, tag in (("playground.css", css, "</style"), ("playground.js", js, "</script")):
        if tag in text.lower():
            raise RuntimeError(f"nn/assets/{name} contains {tag!r}, which would end it early")
    page = _asset("playground.html")
    if before_script:
        at = page.rfind("<script", 0, max(page.find("<!--TG-JS-->"), 0))
        at = at if at >= 0 else max(page.lower().rfind("</body"), 0)
        page = page[:at] + before_script + page[at:]
    return page.replace("<!--TG-CSS-->", css).replace("<!--TG-JS-->", js)


def _script_json(value: Any) -> str:
    """JSON to put inside a ``<script>`` element: nothing in it can end the element."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def replay_html(options: Mapping[str, Any], frames: Sequence[Mapping[str, Any]]) -> str:
    """The replay page of ``tapegrad train --html``: the playground page with recorded frames.

    The frames go into ``<script type="application/json" id="tg-replay">``; the
    page then shows a step slider instead of the controls and fetches nothing.

    Args:
        options: The run's options (shown on the page).
        frames: The frames, as :meth:`Recorder.frame` makes them.

    Returns:
        One self-contained HTML document.
    """
    data = _script_json({"options": dict(options), "frames": list(frames)})
    return page_html(f'<script type="application/json" id="tg-replay">{data}</script>\n')
