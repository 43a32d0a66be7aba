"""The ``tapegrad`` command: ``train`` an MLP on a toy data set, ``predict`` with a saved one."""

from __future__ import annotations

import argparse
import inspect
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from autograd import Value, no_grad
from nn import data, losses, schedules
from nn.layers import ACTIVATIONS, INITS, MLP
from nn.module import ModelFileError, _write_atomically, load, read_meta
from nn.optim import OPTIMIZERS, SGD, Adam, AdamW, Optimizer
from nn.train import LOSS_NAMES, DivergenceError, History, accuracy, fit, predict_class

__all__ = ["build_parser", "main"]

DEFAULT_LR = {"sgd": 1.0, "adam": 0.05, "adamw": 0.05}
"""Learning rate when ``--lr`` is not given (SGD's is micrograd's demo's)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option gives one line on stderr (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _number(text: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "a positive" if positive else "a non-negative"
        raise argparse.ArgumentTypeError(f"must be {kind} finite number, got {text}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, positive=True)


def _non_negative_float(text: str) -> float:
    return _number(text, positive=False)


def _hidden_sizes(text: str) -> list[int]:
    """``"16,16"`` -> ``[16, 16]``; an empty string means no hidden layer."""
    if not text.strip():
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"malformed {text!r}: expected comma-separated positive integers, like 16,16"
        )
    return sizes


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tapegrad`` (``train`` and ``predict`` subcommands)."""
    parser = _Parser(
        prog="tapegrad",
        description="Train small neural networks by gradient descent: "
        "W_new = W_old - lr * dL/dW, repeated.",
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("tapegrad")
    except PackageNotFoundError:
        release = "unknown"
    parser.add_argument("--version", action="version", version=f"tapegrad {release}")
    commands = parser.add_subparsers(dest="command", metavar="{train,predict}", required=True)

    train = commands.add_parser(
        "train",
        help="train an MLP on a built-in data set (default: micrograd's moons demo)",
        description="Train an MLP and write loss.png, decision_boundary.png, model.json "
        "and graph.svg into --out. The defaults reproduce micrograd's demo: MLP(2, [16, 16, 1]) "
        "on 100 moons, hinge loss + 1e-4 L2, 100 steps of SGD with lr 1.0 -> 0.1.",
    )
    d = train.add_argument_group("data")
    d.add_argument("--dataset", choices=sorted(data.DATASETS), default="moons")
    d.add_argument("--csv", metavar="PATH", help="train on a CSV file (features..., label)")
    d.add_argument("--samples", type=_positive_int, default=100, help="number of examples")
    d.add_argument("--noise", type=_non_negative_float, help="noise std (data set default)")
    d.add_argument("--classes", type=_positive_int, help="classes of spirals/blobs")
    m = train.add_argument_group("model")
    m.add_argument(
        "--hidden", type=_hidden_sizes, default=[16, 16], metavar="SIZES", help="default 16,16"
    )
    m.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    m.add_argument("--init", choices=INITS, default="uniform")
    t = train.add_argument_group("training")
    t.add_argument("--loss", choices=LOSS_NAMES, default="hinge")
    t.add_argument("--l2", type=_non_negative_float, default=1e-4, help="weight of sum(W^2)")
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    t.add_argument("--lr", type=_positive_float, help="learning rate (sgd 1.0, adam 0.05)")
    t.add_argument("--momentum", type=_non_negative_float, default=0.0, help="SGD momentum")
    t.add_argument("--schedule", choices=schedules.SCHEDULES, default="linear")
    count = t.add_mutually_exclusive_group()
    count.add_argument("--steps", type=_positive_int, help="updates (default 100)")
    count.add_argument("--epochs", type=_positive_int, help="passes over the data")
    t.add_argument("--batch-size", type=_positive_int, help="default: the whole data set")
    t.add_argument("--seed", type=int, default=1337, help="seed of data, weights and batches")
    t.add_argument(
        "--compiled",
        action="store_true",
        help="replay each example with a compiled program (same gradients, faster)",
    )
    o = train.add_argument_group("output")
    o.add_argument("--out", default="out", metavar="DIR", help="output folder (default out/)")
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    o.add_argument("--no-plots", action="store_true", help="write only model.json")

    predict = commands.add_parser(
        "predict",
        help="run a saved model on one example",
        description="Print a saved model's output for one example, and the class it means.",
    )
    predict.add_argument("--model", default=os.path.join("out", "model.json"), metavar="PATH")
    predict.add_argument("inputs", type=_finite_float, nargs="+", metavar="x")
    train.set_defaults(run=_train, parser=train)
    predict.set_defaults(run=_predict, parser=predict)
    return parser


def _load_data(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Any, Any, str]:
    """The examples, the labels remapped to 0..k-1, and a one-line description."""
    if args.classes is not None and (args.csv or args.dataset not in ("spirals", "blobs")):
        parser.error("--classes applies to --dataset spirals or blobs")
    if args.csv and args.noise is not None:
        parser.error("--noise applies to the built-in data sets, not to --csv")
    if args.csv:
        try:
            X, y = data.load_csv(args.csv)
        except data.DataError as exc:
            parser.error(str(exc))
        what = f"{args.csv}: {len(X)} examples"
    else:
        kwargs: dict[str, Any] = {"n_samples": args.samples, "seed": args.seed}
        if args.noise is not None:
            kwargs["noise"] = args.noise
        if args.classes is not None:
            kwargs["n_classes" if args.dataset == "spirals" else "centers"] = args.classes
        try:
            X, y = data.DATASETS[args.dataset](**kwargs)
        except data.DataError as exc:
            parser.error(str(exc))
        noise = kwargs.get("noise", _default(data.DATASETS[args.dataset], "noise"))
        what = f"{args.dataset} (noise {noise:g}, seed {args.seed}): {len(X)} examples"
    return X, y, what


def _default(function: Any, name: str) -> Any:
    return inspect.signature(function).parameters[name].default


def _make_optimizer(args: argparse.Namespace, model: MLP, lr: float) -> Optimizer:
    if args.optimizer == "adam":
        return Adam(model.parameters(), lr=lr)
    if args.optimizer == "adamw":
        return AdamW(model.parameters(), lr=lr)
    return SGD(model.parameters(), lr=lr, momentum=args.momentum)


def _draw_graph(model: MLP, x: Sequence[float], label: int, loss: str, path: str) -> str:
    """Draw one example's forward pass and its gradients; return what happened, in words."""
    try:
        from autograd import draw_dot
        from autograd.viz import largest_gradient_path
    except ImportError:
        return "graph.svg skipped: autograd.viz is not available yet"
    inputs = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    out = model(inputs)
    if isinstance(out, list):
        example_loss = losses.cross_entropy(out, label)
    elif loss in ("bce", "binary_cross_entropy"):
        example_loss = losses.binary_cross_entropy(out, float(label > 0))
    elif loss == "mse":
        example_loss = losses.mse(out, 1.0 if label > 0 else -1.0)
    else:
        example_loss = losses.hinge(out, 1.0 if label > 0 else -1.0)
    example_loss.label = "loss"
    model.zero_grad()
    example_loss.backward()
    try:
        graph = draw_dot(example_loss, highlight=largest_gradient_path(example_loss))
        svg = graph.pipe(format="svg").decode("utf-8")
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"graph.svg skipped: {reason}"
    finally:
        model.zero_grad()
    try:
        _write_atomically(path, svg)
    except ModelFileError as exc:
        return f"graph.svg skipped: {exc.reason}"
    return ""


def _train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    X, raw_y, what = _load_data(args, parser)
    labels = sorted(set(raw_y))
    y = [labels.index(v) for v in raw_y]  # classes 0..k-1, whatever the file used
    n_classes = len(labels)
    if n_classes < 2:
        parser.error(f"the data has a single class ({labels[0]}); nothing to learn")
    if n_classes > 2 and args.loss != "cross_entropy":
        parser.error(f"the data has {n_classes} classes; use --loss cross_entropy")
    if args.momentum and args.optimizer != "sgd":
        parser.error("--momentum applies to --optimizer sgd")
    n_features = len(X[0])
    n_outputs = n_classes if args.loss == "cross_entropy" else 1
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.epochs is not None:
        per_epoch = 1 if args.batch_size is None else math.ceil(len(X) / args.batch_size)
        steps = args.epochs * per_epoch
    else:
        steps = args.steps if args.steps is not None else 100
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        parser.error(f"cannot create --out folder {args.out!r}: {exc.strerror or exc}")

    model = MLP(
        n_features,
        [*args.hidden, n_outputs],
        activation=args.activation,
        init=args.init,
        rng=random.Random(args.seed),  # = micrograd's weights after random.seed(seed)
    )
    optimizer = _make_optimizer(args, model, lr)
    schedule = schedules.get(args.schedule, lr, steps)
    penalty = f" + {args.l2:g} * sum(W^2)" if args.l2 else ""
    batch = "full batch" if args.batch_size is None else f"batches of {args.batch_size}"
    print(f"tapegrad train: {model!r}, {len(model.parameters())} parameters")
    print(f"  data       {what}, {n_features} features, {n_classes} classes")
    print(f"  loss       {args.loss}{penalty}")
    print(
        f"  optimizer  {type(optimizer).__name__}, lr {lr:g} -> {schedule(steps - 1):.3g} "
        f"({args.schedule} schedule), {steps} steps, {batch}"
    )
    how = " (compiled: traced once, replayed)" if args.compiled else ""
    print(f"  each step: forward, loss, backward (dL/dW for every W){how}, then update:")
    print(f"             {optimizer.update_rule}", flush=True)

    start = time.perf_counter()
    try:
        history = fit(
            model,
            X,
            y,
            loss=args.loss,
            optimizer=optimizer,
            steps=steps,
            batch_size=args.batch_size,
            schedule=schedule,
            l2=args.l2,
            progress=not args.no_progress,
            seed=args.seed,
            compiled=args.compiled,
        )
    except DivergenceError as exc:
        print(f"tapegrad train: error: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    train_acc = accuracy(model, X, y)
    print(
        f"done in {seconds:.1f} s: loss {history.loss[-1]:.4f} at the last step, "
        f"training accuracy {train_acc:.1%}"
    )
    return _write_outputs(args, model, X, y, labels, history, train_acc)


def _write_outputs(
    args: argparse.Namespace,
    model: MLP,
    X: Any,
    y: list[int],
    labels: list[int],
    history: History,
    train_acc: float,
) -> int:
    written = []
    meta = {
        "loss": args.loss,
        "labels": labels,
        "dataset": args.csv or args.dataset,
        "steps": len(history),
        "final_loss": history.loss[-1],
        "training_accuracy": train_acc,
    }
    model_path = os.path.join(args.out, "model.json")
    try:
        model.save(model_path, meta=meta)
    except ModelFileError as exc:
        print(f"tapegrad train: error: {exc}", file=sys.stderr)
        return 1
    written.append(model_path)
    notes = []
    if not args.no_plots:
        from nn.plot import plot_decision_boundary, plot_history

        loss_path = os.path.join(args.out, "loss.png")
        plot_history(history, loss_path)
        written.append(loss_path)
        if len(X[0]) == 2:
            boundary_path = os.path.join(args.out, "decision_boundary.png")
            plot_decision_boundary(model, X, y, boundary_path)
            written.append(boundary_path)
        else:
            notes.append("decision_boundary.png skipped: the data is not 2-D")
        graph_path = os.path.join(args.out, "graph.svg")
        note = _draw_graph(model, X[0], y[0], args.loss, graph_path)
        if note:
            notes.append(note)
        else:
            written.append(graph_path)
    print("wrote " + ", ".join(written))
    for note in notes:
        print(note)
    return 0


def _predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        model = load(args.model)
        meta = read_meta(args.model)
    except ModelFileError as exc:
        parser.error(str(exc))
    nin = _input_count(model)
    if nin is not None and len(args.inputs) != nin:
        parser.error(f"the model takes {nin} inputs, got {len(args.inputs)}")
    with no_grad():
        out = model(args.inputs)
    labels = meta.get("labels")
    index = predict_class(out)
    cls = labels[index] if isinstance(labels, list) and 0 <= index < len(labels) else index
    shown = (
        "[" + ", ".join(f"{v.data:.6g}" for v in out) + "]"
        if isinstance(out, list)
        else f"{out.data:.6g}"
    )
    print(f"{shown}  (class {cls})")
    return 0


def _input_count(model: object) -> int | None:
    if isinstance(model, MLP):
        return len(model.layers[0].neurons[0].w)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapegrad`` command line; return the exit status.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 if training diverged or a file could not be written,
        2 for bad options or unusable input files.
    """
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args, args.parser)
        return status
    except KeyboardInterrupt:
        print("tapegrad: interrupted", file=sys.stderr)
        return 130
