"""The ``tapegrad`` command: ``train`` an MLP, ``predict`` with it, ``serve`` the playground."""

from __future__ import annotations

import argparse
import copy
import difflib
import inspect
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from autograd import Value, no_grad
from nn import data, losses, schedules
from nn.io import ModelFileError, write_atomically
from nn.layers import ACTIVATIONS, INITS, MLP, input_size
from nn.module import Module, load, read_meta
from nn.optim import OPTIMIZERS, SGD, Adam, AdamW, Optimizer
from nn.schedules import Schedule
from nn.train import (
    LOSS_NAMES,
    DivergenceError,
    History,
    accuracy,
    fit,
    predict_class,
    step_count,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "EXIT_STATUS",
    "OUTPUTS",
    "Training",
    "UsageError",
    "build_parser",
    "explain_page",
    "main",
    "parse_train",
    "prepare_training",
    "training_meta",
]

DEFAULT_LR = {"sgd": 1.0, "adam": 0.05, "adamw": 0.05}
"""Learning rate when ``--lr`` is not given (SGD's is micrograd's demo's)."""

OUTPUTS = (
    "loss.png",
    "decision_boundary.png",
    "graph.svg",
    "network.svg",
    "explain.html",
    "model.pt",
    "model.onnx",
    "training.html",
    "model.json",
)
"""The files ``tapegrad train`` writes into ``--out`` (model.json last)."""

EXIT_STATUS = """\
exit status:
  0  success
  1  the run failed: training diverged, an output could not be written, or the
     model's output is not a finite number for the given inputs
  2  usage error, found before any work is done: a bad option or value, or an
     input file or --out folder that cannot be used
every error is one line on stderr, starting with "tapegrad: error:"."""
"""What ``main`` returns, as the ``--help`` texts say it."""

_TRAIN_DESCRIPTION = """\
Train an MLP and write loss.png, decision_boundary.png, graph.svg, network.svg,
explain.html and model.json into --out. The defaults reproduce micrograd's demo:
MLP(2, [16, 16, 1]) on 100 moons, hinge loss + 1e-4 * sum(W^2), 100 full-batch
steps of SGD whose learning rate decays linearly from 1 at step 0 to 0.109 at
step 99 (micrograd's lr = 1.0 - 0.9*k/100). The summary prints the first and last rate the schedule
actually used. The pictures show the training example with the largest loss
under the trained model: graph.svg its computation graph from the inputs to the
loss (weights as constants), network.svg the network with that example's
gradients, explain.html its forward and backward pass, node by node. With
--html, training.html replays the run in a browser: the views of `tapegrad
serve` (boundary, curves, network, one weight's update) with a step slider."""

_TRAIN_EPILOG = f"""\
CSV files (--csv): one example per row, the feature columns first and the class
label in the last column, for example
    x0,x1,label
    0.5,-1.2,red
    1.3,0.4,blue
The header row is optional (it is a first row with no number in it). Features are
plain decimal numbers (-1.5, 0.25, 2e-3; not 1_0, inf or nan). Labels are all
integers, or all class names: the names are numbered 0..k-1 in sorted order
(blue = 0, red = 1 here); the run prints the mapping and model.json keeps it, so
`tapegrad predict` answers with the name. UTF-8, with or without a byte-order
mark (as spreadsheets save it). examples/points.csv is such a file.

--batch-size larger than the data set uses the whole data set at every step (the
summary says so).

Outputs are written into a hidden folder inside --out and moved into place once
all of them are ready, model.json last: a run that fails leaves --out as it was.
A run that diverges writes loss.png (the loss up to the step where it diverged,
marked in red) and no model.json. After a run, --out holds only that run's
outputs: a loss.png, decision_boundary.png, graph.svg, network.svg, explain.html,
training.html or model.json left by an earlier run and not written again is removed.

{EXIT_STATUS}"""

_PREDICT_DESCRIPTION = """\
Print a saved model's output for one example, and the class it stands for.
The model file is one that `tapegrad train` wrote (by default out/model.json) or
that Module.save wrote: an MLP, a Layer (prints a list of scores) or a Neuron
(prints one score). One score means class 1 when it is positive, else class 0; a
list means the index of its largest score; a model trained on a CSV file with
class names answers with the name."""


REPLAY_FRAMES = 200
"""training.html records the views at most this many times (and at the last step)."""

_SERVE_DESCRIPTION = """\
Start the playground, a local web app in which you train an MLP live with this
engine: choose the data set (a built-in one or a CSV you upload), hidden layers,
activation, loss, optimizer, learning rate, batch size and seed; press play,
pause or step once; change the learning rate while it runs. The page shows the
decision boundary with the points, the loss and accuracy curves, the network
with its weights and gradients, one example's computation graph, and one
weight's update W_new = W_old - lr * dL/dW, all computed in Python by tapegrad.
The options take the names and values of `tapegrad train`; a run's learning rate
stays constant (no schedule), and it stops after 100000 steps."""

_SERVE_EPILOG = f"""\
The server listens on 127.0.0.1 (this machine only) unless --host says otherwise,
answers only requests whose Host header is its own address (127.0.0.1, localhost,
[::1] or --host, with the port; against DNS rebinding), refuses writes from other
web sites (a foreign Origin), serves no file but its page, reads request bodies of
at most 1 MiB, and limits each run: at most 2000 examples (and CSV rows), at most
4 hidden layers of at most 64 neurons, 10 classes, 100000 steps. A run that no
page has asked about for 3 minutes pauses, and is forgotten after 10; at most 8
runs are kept (one per browser tab). Errors reach the page as one line, never a
traceback. Ctrl-C stops the server.

{EXIT_STATUS}"""


def _fail(message: str) -> int:
    """Report a runtime failure as one line on stderr; the exit status is 1."""
    print(f"tapegrad: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


class _RunError(Exception):
    """A failure while running (not a usage error): one line on stderr, exit status 1."""


class UsageError(ValueError):
    """A bad option or value, found before any work is done (exit status 2).

    ``str(error)`` is the one-line message the command prints after
    ``tapegrad: error:``; the playground shows the same line for a bad option.

    Attributes:
        prog: The command it belongs to (``tapegrad train``), for the
            ``(see ... --help)`` hint.
    """

    def __init__(self, message: str, prog: str = "tapegrad") -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option raises UsageError: ``main`` prints one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(" ".join(_suggest_choice(message).split()), self.prog)


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<got>[^']*)' \(choose from (?P<choices>.*)\)")


def _suggest_choice(message: str) -> str:
    """Add "did you mean 'moons'?" to argparse's invalid-choice message, when one is close."""
    found = _INVALID_CHOICE.search(message)
    if found is None:
        return message
    choices = re.findall(r"'([^']*)'", found["choices"])
    close = difflib.get_close_matches(found["got"], choices, n=1)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings]


def _unknown_option(argv: Sequence[str], parser: argparse.ArgumentParser) -> None:
    """Refuse a misspelled option up front, suggesting the one meant (argparse 3.11 does not).

    Done before parsing, so the mistake is reported rather than what it caused
    (``predict --modle m.json 1 2`` would otherwise complain that m.json is not a number).
    """
    target = parser
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for token in argv:
        if token == "--":
            return
        if subparsers and target is parser and token in subparsers[0].choices:
            target = subparsers[0].choices[token]
            continue
        if not token.startswith("-") or data.parse_number(token) is not None:
            continue
        option = token.split("=", 1)[0]
        known = _options(target) + (_options(parser) if target is not parser else [])
        if option in known or any(k.startswith(option) for k in known if len(option) > 2):
            continue  # an option, or an abbreviation argparse accepts
        target.error(_unrecognized([option], target))


def _unrecognized(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """The message for arguments no option took, suggesting the option meant."""
    options = [o for o in extras if o.startswith("-") and data.parse_number(o) is None]
    if not options:
        return f"unrecognized arguments: {' '.join(extras)}"
    option = options[0].split("=", 1)[0]
    close = difflib.get_close_matches(option, _options(parser), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unrecognized option {option}{hint}"


def _number(text: str, *, positive: bool) -> float:
    value = data.parse_number(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number like 0.5 or 1e-3")
    if value < 0 or (positive and value == 0):
        kind = "a positive" if positive else "a non-negative"
        raise argparse.ArgumentTypeError(f"must be {kind} finite number, got {text}")
    return value


def _integer(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    return int(text)


def _positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    return _number(text, positive=True)


def _non_negative_float(text: str) -> float:
    return _number(text, positive=False)


def _hidden_sizes(text: str) -> list[int]:
    """``"16,16"`` -> ``[16, 16]``; an empty string means no hidden layer."""
    if not text.strip():
        return []
    parts = [part.strip() for part in text.split(",")]
    sizes = [int(part) for part in parts if re.fullmatch(r"[0-9]+", part)]
    if len(sizes) != len(parts) or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"malformed {text!r}: expected comma-separated positive integers, like 16,16"
        )
    return sizes


def _port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 0 to 65535, got {value}")
    return value


def _finite_float(text: str) -> float:
    value = data.parse_number(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a finite number (inputs are plain decimal numbers, like -0.5)"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tapegrad`` (``train`` and ``predict`` subcommands)."""
    parser = _Parser(
        prog="tapegrad",
        description="Train small neural networks by gradient descent: "
        "W_new = W_old - lr * dL/dW, repeated.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("tapegrad")
    except PackageNotFoundError:
        release = "unknown"
    parser.add_argument("--version", action="version", version=f"tapegrad {release}")
    commands = parser.add_subparsers(dest="command", metavar="{train,predict,serve}", required=True)

    train = commands.add_parser(
        "train",
        help="train an MLP on a built-in data set (default: micrograd's moons demo) or a CSV",
        description=_TRAIN_DESCRIPTION,
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = train.add_argument_group("data")
    d.add_argument("--dataset", choices=sorted(data.DATASETS), default="moons")
    d.add_argument(
        "--csv",
        metavar="PATH",
        help="train on a CSV file: features..., label (integers or class names; see below)",
    )
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
    t.add_argument("--lr", type=_positive_float, help="learning rate at step 0 (sgd 1, adam 0.05)")
    t.add_argument("--momentum", type=_non_negative_float, default=0.0, help="SGD momentum")
    t.add_argument(
        "--schedule",
        choices=schedules.SCHEDULES,
        default="linear",
        help="learning rate over the run; linear (default): step k of n uses "
        "lr * (1 - 0.9*k/n), down towards lr/10",
    )
    count = t.add_mutually_exclusive_group()
    count.add_argument("--steps", type=_positive_int, help="updates (default 100)")
    count.add_argument("--epochs", type=_positive_int, help="passes over the data")
    t.add_argument(
        "--batch-size",
        type=_positive_int,
        help="examples per step (default, or more than the data has: all of them)",
    )
    t.add_argument("--seed", type=_integer, default=1337, help="seed of data, weights and batches")
    t.add_argument(
        "--compiled",
        action="store_true",
        help="replay each example with a compiled program (same gradients, faster)",
    )
    o = train.add_argument_group("output")
    o.add_argument(
        "--out",
        default="out",
        metavar="DIR",
        help="output folder (default out/); after the run it holds only this run's outputs",
    )
    o.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    o.add_argument(
        "--no-plots", action="store_true", help="write only model.json (and training.html)"
    )
    o.add_argument(
        "--html",
        action="store_true",
        help="also write training.html: a replay of the run (the playground's views, recorded "
        f"at up to {REPLAY_FRAMES} steps, with a step slider) that opens from disk, no server",
    )
    o.add_argument(
        "--export",
        choices=("torch", "onnx"),
        help="also hand the trained network over: model.pt (a torch.nn.Sequential, "
        "needs tapegrad[torch]) or model.onnx (needs tapegrad[onnx]), beside model.json",
    )

    predict = commands.add_parser(
        "predict",
        help="run a saved model on one example",
        description=_PREDICT_DESCRIPTION,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument(
        "--model",
        default=os.path.join("out", "model.json"),
        metavar="PATH",
        help="the model file (default: out/model.json, where tapegrad train writes it)",
    )
    predict.add_argument(
        "inputs",
        type=_finite_float,
        nargs="+",
        metavar="x",
        help="the example's features: as many plain decimal numbers as the model has "
        "inputs, e.g. 0.5 -1.2 for a model trained on 2-D data",
    )
    serve = commands.add_parser(
        "serve",
        help="the playground: train a network live in the browser, on this engine",
        description=_SERVE_DESCRIPTION,
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--port", type=_port, default=8765, help="TCP port (default 8765; 0: any free port)"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    serve.add_argument(
        "--no-browser", action="store_true", help="do not open the page in a web browser"
    )
    train.set_defaults(run=_train, parser=train)
    predict.set_defaults(run=_predict, parser=predict)
    serve.set_defaults(run=_serve, parser=serve)
    return parser


def _load_data(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[Any, list[int], list[str] | None, str]:
    """The examples, their labels, the class names (if the CSV named them) and a description."""
    if args.classes is not None and (args.csv or args.dataset not in ("spirals", "blobs")):
        parser.error("--classes applies to --dataset spirals or blobs")
    if args.csv and args.noise is not None:
        parser.error("--noise applies to the built-in data sets, not to --csv")
    if args.csv:
        try:
            found = data.read_csv(args.csv)
        except data.DataError as exc:
            parser.error(str(exc))
        return found.X, found.y, found.classes, f"{args.csv}: {len(found.X)} examples"
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
    return X, y, None, f"{args.dataset} (noise {noise:g}, seed {args.seed}): {len(X)} examples"


def _default(function: Any, name: str) -> Any:
    return inspect.signature(function).parameters[name].default


def _make_optimizer(args: argparse.Namespace, model: MLP, lr: float) -> Optimizer:
    if args.optimizer == "adam":
        return Adam(model.parameters(), lr=lr)
    if args.optimizer == "adamw":
        return AdamW(model.parameters(), lr=lr)
    return SGD(model.parameters(), lr=lr, momentum=args.momentum)


def _check_out(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse an --out folder the run could not write into, before training starts."""
    out = args.out
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        parser.error(f"cannot create --out folder {out!r}: {exc.strerror or exc}")
    names = ["model.json"] if args.no_plots else list(OUTPUTS)
    if args.html:
        names.append("training.html")
    for name in names:
        if os.path.isdir(os.path.join(out, name)):
            parser.error(
                f"cannot write {os.path.join(out, name)}: a folder of that name is in the way; "
                "move it or choose another --out"
            )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tapegrad-", dir=out))
    except OSError as exc:
        parser.error(f"cannot write into --out folder {out!r}: {exc.strerror or exc}")


class _Outputs:
    """A run's outputs: written into a hidden folder inside --out, then moved into place.

    Until :meth:`publish`, --out is untouched, so a failure (disk full, a folder
    in the way) leaves it as it was. ``publish`` first removes the old
    model.json, then moves the plots and the new model.json last: however it
    stops, no model.json sits next to outputs of another run.
    """

    def __init__(self, out: str) -> None:
        self.out = out
        self.names: list[str] = []
        try:
            self.folder = tempfile.mkdtemp(prefix=".tapegrad-", dir=out)
        except OSError as exc:
            raise _RunError(f"cannot write into {out}: {exc.strerror or exc}") from None

    def __enter__(self) -> _Outputs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _failed(self, name: str, reason: str) -> _RunError:
        target = os.path.join(self.out, name)
        return _RunError(f"cannot write {target}: {reason}; {self.out} was left as it was")

    def write(self, name: str, content: str | bytes) -> None:
        """Stage one output file."""
        try:
            write_atomically(os.path.join(self.folder, name), content)
        except ModelFileError as exc:
            raise self._failed(name, exc.reason.removeprefix("cannot write: ")) from None
        except OSError as exc:
            raise self._failed(name, exc.strerror or str(exc)) from None
        self.names.append(name)

    def export(self, model: MLP, fmt: str) -> None:
        """Stage model.pt or model.onnx (nn.export.export_file)."""
        from nn.export import export_file

        try:
            path = export_file(model, fmt, self.folder)
        except (ImportError, ModelFileError, OSError) as exc:
            raise self._failed(f"the {fmt} export", str(exc)) from None
        self.names.append(path.name)

    def save_model(self, model: Module, meta: dict[str, Any]) -> None:
        """Stage model.json."""
        try:
            model.save(os.path.join(self.folder, "model.json"), meta=meta)
        except ModelFileError as exc:
            raise self._failed("model.json", exc.reason.removeprefix("cannot write: ")) from None
        self.names.append("model.json")

    def publish(self) -> tuple[list[str], list[str]]:
        """Move the staged files into --out; return the paths written and those removed."""
        final = {name: os.path.join(self.out, name) for name in OUTPUTS}
        for name in self.names:
            if os.path.isdir(final[name]):
                raise self._failed(name, "a folder of that name is in the way")
        try:
            os.unlink(final["model.json"])  # it would describe another run
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._failed("model.json", exc.strerror or str(exc)) from None
        for name in sorted(self.names, key=lambda n: n == "model.json"):  # model.json last
            try:
                os.replace(os.path.join(self.folder, name), final[name])
            except OSError as exc:
                raise _RunError(
                    f"cannot write {final[name]}: {exc.strerror or exc}; no model.json was written"
                ) from None
        removed = []
        for name in OUTPUTS:
            if name not in self.names and os.path.isfile(final[name]):
                try:
                    os.unlink(final[name])
                except OSError:
                    continue
                removed.append(final[name])
        return [final[name] for name in self.names], removed


def _png(fig: Figure) -> bytes:
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _loss_png(history: History, *, diverged_at: int | None = None) -> bytes:
    """loss.png: the curves of the run, with the step where it diverged marked."""
    from nn.plot import plot_history

    if diverged_at is not None and not 0 <= diverged_at < len(history):
        diverged_at = None  # nothing recorded at that step: no mark to put
    return _png(plot_history(history, diverged_at=diverged_at))


def _graphviz_missing(name: str) -> str:
    return (
        f"{name} skipped: drawing it needs Graphviz's dot program, which is not installed "
        "(sudo apt-get install graphviz, brew install graphviz or conda install graphviz)"
    )


GRAPH_MAX_NODES = 120
"""graph.svg draws at most this many Values (the rest in a "… more" box): readable size."""

GRAPH_SIZE = "40,40"
"""The largest graph.svg, in inches (2880 x 2880 pt): under 3000 pt either way."""

EXPLAIN_MAX_NODES = 120
"""explain.html shows at most this many Values of the example's graph."""


def _hardest_example(model: MLP, X: Any, y: list[int], loss: str) -> tuple[int, float]:
    """The index and loss of the example with the largest loss under `model` (ties: the first)."""
    with no_grad():
        scores = [losses.example_loss(model(list(x)), label, loss).data for x, label in zip(X, y)]
    k = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return k, scores[k]


def _render(graph: Any, name: str) -> tuple[str, str]:
    """A Digraph as SVG text, or ``("", why it was skipped)``."""
    from autograd.viz import GraphvizNotFoundError

    try:
        return graph.pipe(format="svg").decode("utf-8"), ""
    except GraphvizNotFoundError:
        return "", _graphviz_missing(name)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        return "", f"{name} skipped: Graphviz failed ({reason})"


def _frozen_forward(model: MLP, x: Sequence[float], label: int, loss: str) -> Value:
    """The example's loss with the weights as plain numbers: inputs, neurons and loss only.

    The weights become constants written into each neuron's dot node, so the
    graph is one column of Values per layer and fits on a page with the inputs
    in view. The data and the gradients of the Values drawn are the same floats
    as in the full graph (a Value's gradient depends only on what follows it).
    """
    frozen = copy.deepcopy(model)
    for neuron in (n for layer in frozen.layers for n in layer.neurons):
        # Floats where a Neuron is typed to hold Values, on purpose (the copy is thrown away).
        setattr(neuron, "w", [w.data for w in neuron.w])  # noqa: B010
        setattr(neuron, "b", neuron.b.data)  # noqa: B010
    h: list[Value] = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    for i, layer in enumerate(frozen.layers):
        h = layer.outputs(h)
        last = i == len(frozen.layers) - 1
        for j, v in enumerate(h):
            v.label = ("out" if len(h) == 1 else f"out{j}") if last else f"h{i + 1}.{j}"
            below = v._prev[0] if v._prev else None
            if below is not None and below._op == "dot":  # a leaky relu's weighted sum z
                below.label = f"z{i + 1}.{j}"
    example_loss: Value = losses.example_loss(h[0] if len(h) == 1 else h, label, loss)
    example_loss.label = "loss"
    return example_loss


def _draw_graph(model: MLP, x: Sequence[float], label: int, loss: str) -> tuple[str, str]:
    """graph.svg: one example's forward pass and its gradients, or ``("", why it was skipped)``."""
    try:
        from autograd import draw_dot
        from autograd.viz import largest_gradient_path

        example_loss = _frozen_forward(model, x, label, loss)
        example_loss.backward()
        graph = draw_dot(
            example_loss,
            max_nodes=GRAPH_MAX_NODES,
            highlight=largest_gradient_path(example_loss),
        )
        # Tighter columns, and Graphviz scales a drawing larger than GRAPH_SIZE down to it.
        graph.graph_attr.update(ranksep="0.25", nodesep="0.12", size=GRAPH_SIZE)
    except ImportError:
        return "", "graph.svg skipped: the graphviz package is missing (pip install graphviz)"
    return _render(graph, "graph.svg")


def _draw_network(model: MLP, x: Sequence[float], label: int, loss: str) -> tuple[str, str]:
    """network.svg: the trained network with the example's gradients, or ``("", why not)``."""
    try:
        from nn.network import draw_network

        model.zero_grad()
        losses.example_loss(model(list(x)), label, loss).backward()
        graph = draw_network(model, list(x))
    except ImportError:
        return "", "network.svg skipped: the graphviz package is missing (pip install graphviz)"
    finally:
        model.zero_grad()
    return _render(graph, "network.svg")


def explain_page(
    model: Module, x: Sequence[float], label: int, loss: str, lr: float | None = None
) -> str:
    """explain.html: one example's forward and backward pass, to step through in a browser.

    Args:
        model: The model, at its current weights.
        x: The example's features.
        label: Its class label.
        loss: The loss name (``losses.example_loss``).
        lr: A learning rate: the page then also shows each weight's update.

    Returns:
        The page (``autograd.explain(...).html()``), at most ``EXPLAIN_MAX_NODES`` Values.
    """
    from autograd import explain

    inputs = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    example_loss: Value = losses.example_loss(model(inputs), label, loss)
    example_loss.label = "loss"
    return explain(example_loss, max_nodes=EXPLAIN_MAX_NODES, lr=lr).html()


@dataclass
class Training:
    """A training run as the ``train`` options describe it, ready for ``fit``.

    Attributes:
        X: The examples.
        y: Their class labels, ``0..k-1``.
        labels: What each class stands for (the CSV's names, or its integers).
        what: One line describing the data.
        model: The MLP, with its initial weights.
        optimizer: The optimizer over ``model``'s parameters, at ``lr``.
        lr: The learning rate at step 0.
        steps: The number of steps of the run.
        batch_size: Examples per step, or None for all of them.
        schedule: The learning rate at each step.
        args: The options it was built from.
    """

    X: list[list[float]]
    y: list[int]
    labels: list[Any]
    what: str
    model: MLP
    optimizer: Optimizer
    lr: float
    steps: int
    batch_size: int | None
    schedule: Schedule
    args: argparse.Namespace


def parse_train(argv: Sequence[str]) -> argparse.Namespace:
    """The options of ``tapegrad train`` from its arguments (``["--lr", "0.1"]``).

    Args:
        argv: The arguments after ``train``.

    Returns:
        The parsed options.

    Raises:
        UsageError: A bad option or value, with the command's one-line message.
    """
    args = build_parser().parse_args(["train", *argv])
    return args


def prepare_training(args: argparse.Namespace) -> Training:
    """Data, model, optimizer and schedule from the ``train`` options, every check done.

    ``tapegrad train`` and the playground (``nn.playground``) both build their
    runs here, so a bad value gets the same one-line message in both.

    Args:
        args: Options from :func:`parse_train`.

    Returns:
        The run, not yet trained.

    Raises:
        UsageError: The options do not fit together or the data cannot be used.
    """
    parser: argparse.ArgumentParser = args.parser
    X, raw_y, classes, what = _load_data(args, parser)
    if classes is None:
        labels: list[Any] = sorted(set(raw_y))
        y = [labels.index(v) for v in raw_y]  # classes 0..k-1, whatever the file used
    else:
        labels, y = classes, raw_y
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
    batch_size = args.batch_size
    if batch_size is not None and batch_size > len(X):
        batch_size = None  # a batch cannot hold more examples than there are
    steps = step_count(len(X), args.steps, args.epochs, batch_size)
    model = MLP(
        n_features,
        [*args.hidden, n_outputs],
        activation=args.activation,
        init=args.init,
        rng=random.Random(args.seed),  # = micrograd's weights after random.seed(seed)
    )
    return Training(
        X=[list(map(float, x)) for x in X],
        y=list(y),
        labels=labels,
        what=what,
        model=model,
        optimizer=_make_optimizer(args, model, lr),
        lr=lr,
        steps=steps,
        batch_size=batch_size,
        schedule=schedules.get(args.schedule, lr, steps),
        args=args,
    )


def _train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    run = prepare_training(args)
    X, y, labels, model, optimizer = run.X, run.y, run.labels, run.model, run.optimizer
    steps, batch_size, schedule = run.steps, run.batch_size, run.schedule
    n_features, n_classes = len(X[0]), len(labels)
    _check_out(args, parser)
    if args.export is not None:
        import importlib.util

        module = {"torch": "torch", "onnx": "onnx"}[args.export]
        if importlib.util.find_spec(module) is None:
            parser.error(
                f"--export {args.export} needs the `{module}` package; install it with: "
                f"pip install 'tapegrad[{args.export}]'"
            )
    replay = _replay_recorder(run) if args.html else None

    penalty = f" + {args.l2:g} * sum(W^2)" if args.l2 else ""
    if batch_size is not None:
        batch = f"batches of {batch_size}"
    elif args.batch_size is not None:
        batch = f"full batch (--batch-size {args.batch_size} is more than the {len(X)} examples)"
    else:
        batch = "full batch"
    print(f"tapegrad train: {model!r}, {len(model.parameters())} parameters")
    print(f"  data       {run.what}, {n_features} features, {n_classes} classes")
    if labels != list(range(n_classes)):
        print("  classes    " + ", ".join(f"{k} = {name}" for k, name in enumerate(labels)))
    print(f"  loss       {args.loss}{penalty}")
    print(
        f"  optimizer  {type(optimizer).__name__}, lr {schedule(0):g} at step 0 -> "
        f"{schedule(steps - 1):g} at step {steps - 1} ({args.schedule} schedule), "
        f"{steps} steps, {batch}"
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
            batch_size=batch_size,
            schedule=schedule,
            l2=args.l2,
            progress=not args.no_progress,
            seed=args.seed,
            callback=replay,
            compiled=args.compiled,
        )
    except DivergenceError as exc:
        return _write_diverged(args, exc, _replay_page(replay, exc.history, exc))
    seconds = time.perf_counter() - start
    meta = training_meta(run, history)
    print(
        f"done in {seconds:.1f} s: loss {history.loss[-1]:.4f} at the last step, "
        f"training accuracy {meta['training_accuracy']:.1%}; the learning rate went from "
        f"{history.lr[0]:g} (step 0) to {history.lr[-1]:g} (step {len(history) - 1})"
    )
    page = _replay_page(replay, history, None)
    return _write_outputs(args, model, X, y, history, meta, page)


def training_meta(run: Training, history: History) -> dict[str, Any]:
    """What model.json records about the run that trained it (``Module.save``'s ``meta``).

    Args:
        run: The run.
        history: Its history so far.

    Returns:
        The loss, the class labels, the data set, the steps taken, the last loss
        and the accuracy on the training data now.
    """
    return {
        "loss": run.args.loss,
        "labels": run.labels,
        "dataset": run.args.csv or run.args.dataset,
        "steps": len(history),
        "final_loss": history.loss[-1] if len(history) else None,
        "training_accuracy": accuracy(run.model, run.X, run.y),
    }


def _replay_recorder(run: Training) -> Callable[[int, History], None] | None:
    """fit's callback recording the frames of training.html (None for data that is not 2-D)."""
    if len(run.X[0]) != 2:
        return None
    from nn.playground import Recorder

    return Recorder(run, every=math.ceil(run.steps / REPLAY_FRAMES))


def _replay_page(
    recorder: Callable[[int, History], None] | None,
    history: History,
    diverged: DivergenceError | None,
) -> str | None:
    """training.html from the recorded frames (None when nothing was recorded)."""
    from nn.playground import Recorder, replay_html

    if not isinstance(recorder, Recorder):
        return None
    recorder.finish(history, diverged)
    return replay_html(recorder.options(), recorder.frames)


def _report(written: list[str], removed: list[str]) -> None:
    print("wrote " + (", ".join(written) if written else "nothing"))
    if removed:
        print("removed " + ", ".join(removed) + " (left by an earlier run)")


def _write_outputs(
    args: argparse.Namespace,
    model: MLP,
    X: Any,
    y: list[int],
    history: History,
    meta: dict[str, Any],
    page: str | None,
) -> int:
    notes: list[str] = []
    try:
        with _Outputs(args.out) as outputs:
            _write_replay(args, outputs, page, notes)
            if not args.no_plots:
                from nn.plot import plot_decision_boundary

                outputs.write("loss.png", _loss_png(history))
                if len(X[0]) == 2:
                    boundary = plot_decision_boundary(model, X, y)
                    outputs.write("decision_boundary.png", _png(boundary))
                else:
                    notes.append("decision_boundary.png skipped: the data is not 2-D")
                k, largest = _hardest_example(model, X, y, args.loss)
                x = [float(v) for v in X[k]]
                for name, draw in (("graph.svg", _draw_graph), ("network.svg", _draw_network)):
                    svg, note = draw(model, x, y[k], args.loss)
                    if svg:
                        outputs.write(name, svg)
                    else:
                        notes.append(note)
                outputs.write("explain.html", explain_page(model, x, y[k], args.loss))
                notes.append(
                    f"graph.svg, network.svg and explain.html show example {k} "
                    f"(loss {largest:.4g}, the largest under the trained model)"
                )
            if args.export is not None:
                outputs.export(model, args.export)
            outputs.save_model(model, meta)  # last: its presence says the run succeeded
            written, removed = outputs.publish()
    except _RunError as exc:
        return _fail(str(exc))
    _report(written, removed)
    for note in notes:
        print(note)
    return 0


def _write_replay(
    args: argparse.Namespace, outputs: _Outputs, page: str | None, notes: list[str]
) -> None:
    """Stage training.html (``--html``), or say why it was skipped."""
    if page is not None:
        outputs.write("training.html", page)
    elif args.html:
        notes.append("training.html skipped: the replay draws 2-D data, and this data is not")


def _write_diverged(args: argparse.Namespace, exc: DivergenceError, page: str | None) -> int:
    """Keep the loss curve (and replay) of a diverged run (the lesson), and no model.json."""
    message = str(exc)
    notes: list[str] = []
    try:
        with _Outputs(args.out) as outputs:
            _write_replay(args, outputs, page, notes)
            if not args.no_plots:
                outputs.write("loss.png", _loss_png(exc.history, diverged_at=exc.step))
            written, removed = outputs.publish()
    except _RunError as err:
        return _fail(f"{message}; also {err}")
    _report(written, removed)
    for note in notes:
        print(note)
    print(f"training diverged at step {exc.step}: no model.json written", flush=True)
    return _fail(message)


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nn.serve import serve

    try:
        return serve(args.host, args.port, open_browser=not args.no_browser)
    except OSError as exc:
        parser.error(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (or --host)"
        )


def _predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        model = load(args.model)
        meta = read_meta(args.model)
    except ModelFileError as exc:
        parser.error(str(exc))
    nin = input_size(model)
    if nin is not None and len(args.inputs) != nin:
        parser.error(f"the model takes {nin} inputs, got {len(args.inputs)}")
    try:
        with no_grad():
            out = model(args.inputs)
    except (ValueError, TypeError, ArithmeticError) as exc:
        name = type(model).__name__
        return _fail(f"the {name} in {args.model} cannot run on these inputs: {exc}")
    scores = [_score(v) for v in (out if isinstance(out, list) else [out])]
    bad = [s for s in scores if not math.isfinite(s)]
    if bad:
        shown = " ".join(f"{v:g}" for v in args.inputs)
        return _fail(
            f"the model's output is {bad[0]} for inputs {shown}: the inputs are too large "
            "for this model (its weighted sums overflow); use inputs of the size it was "
            "trained on"
        )
    labels = meta.get("labels")
    index = predict_class(scores if isinstance(out, list) else scores[0])
    cls = labels[index] if isinstance(labels, list) and 0 <= index < len(labels) else index
    text = "[" + ", ".join(f"{s:.6g}" for s in scores) + "]" if isinstance(out, list) else None
    print(f"{text or f'{scores[0]:.6g}'}  (class {cls})")
    return 0


def _score(output: object) -> float:
    if isinstance(output, Value):
        return output.data
    if isinstance(output, int | float):
        return float(output)
    raise TypeError(f"the model returned {type(output).__name__}, not a Value")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapegrad`` command line; return the exit status.

    Every error is one line on stderr, ``tapegrad: error: ...``.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success; 1 if the run failed (training diverged, an output could not
        be written, the model's output is not finite); 2 for bad options or
        unusable input files and folders (argparse raises ``SystemExit(2)``),
        found before any work is done; 130 when interrupted.
    """
    parser = build_parser()
    try:
        _unknown_option(sys.argv[1:] if argv is None else argv, parser)
        args, extras = parser.parse_known_args(argv)
        if extras:
            target = getattr(args, "parser", parser)
            target.error(_unrecognized(extras, target))
        status: int = args.run(args, args.parser)
        return status
    except UsageError as exc:
        parser.exit(2, f"tapegrad: error: {exc} (see {exc.prog} --help)\n")
    except _RunError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("tapegrad: interrupted", file=sys.stderr)
        return 130
