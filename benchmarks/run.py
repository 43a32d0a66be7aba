"""Benchmarks: tapegrad against micrograd, PyTorch and a hand-written floor, measured side by side.

    python benchmarks/run.py            # the full run (`make bench`), about a minute
    python benchmarks/run.py --quick    # a tiny configuration, a few seconds (the test suite)

The workload is micrograd's demo training step: `MLP(2, [16, 16, 1])` on 100
points of the moons data set, hinge loss plus 1e-4 L2, forward + backward +
SGD update. Every implementation starts from the same weights (micrograd's,
after `random.seed(1337)`) and the first step's loss is checked to agree
across all of them before anything is timed. Timing is in one process,
round-robin over the implementations (so a noisy neighbour hits them all
alike), each round repeating a step enough times to last ~50 ms; the
reported figure is the median over the rounds. Then: bytes per graph node
(tracemalloc) for micrograd and tapegrad on the same graph, and the backward
time of chains of 10^4..10^6 nodes. The table is printed and written as JSON
and as a PNG bar chart under `--out` (default `benchmarks/results`).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import mul
from pathlib import Path
from typing import Any

import numpy as np

import nn
from autograd import Value, compile, ops
from nn import losses

HERE = Path(__file__).resolve().parent
ALPHA = 1e-4  # L2 weight, as in micrograd's demo
LR = 0.1  # a fixed learning rate: the timings do not depend on it


@dataclass
class Config:
    """What one run measures."""

    sizes: list[int]
    n_points: int
    rounds: int
    seconds_per_measurement: float
    chains: list[int]
    chain_rounds: int


FULL = Config([16, 16, 1], 100, 7, 0.05, [10**4, 10**5, 10**6], 3)
QUICK = Config([4, 4, 1], 8, 2, 0.0, [10**3, 10**4], 1)


@dataclass
class Variant:
    """One implementation of the demo step."""

    key: str
    name: str
    step: Callable[[], float] | None  # None: not available here
    note: str = ""
    times: list[float] = field(default_factory=list)
    reps: int = 1
    first_loss: float = math.nan


# --- the data and the shared initial weights ----------------------------------------


def moons(n: int) -> tuple[list[list[float]], list[float]]:
    """n moons points with labels -1/+1 (the demo's hinge convention)."""
    X, y = nn.data.make_moons(n, noise=0.1, seed=0)
    return [list(map(float, x)) for x in X], [1.0 if label > 0 else -1.0 for label in y]


def initial_weights(sizes: list[int]) -> list[list[tuple[list[float], float]]]:
    """micrograd's initial weights: per layer, per neuron, (w, b), after random.seed(1337)."""
    random.seed(1337)
    model = nn.MLP(2, sizes)
    return [[([w.data for w in n.w], n.b.data) for n in layer.neurons] for layer in model.layers]


# --- the implementations ---------------------------------------------------------------


def tapegrad_model(weights: list[list[tuple[list[float], float]]]) -> nn.MLP:
    random.seed(1337)
    model = nn.MLP(2, [len(layer) for layer in weights])
    for layer, lw in zip(model.layers, weights):
        for neuron, (w, b) in zip(layer.neurons, lw):
            for v, x in zip(neuron.w, w):
                v.data = x
            neuron.b.data = b
    return model


def sgd(params: list[Value]) -> None:
    for p in params:
        p.data -= LR * p.grad


def make_eager(weights: Any, X: list[list[float]], Y: list[float]) -> Callable[[], float]:
    model = tapegrad_model(weights)
    params = model.parameters()

    def step() -> float:
        scores: list[Any] = [model(x) for x in X]
        total = losses.hinge(scores, Y) + ALPHA * losses.l2(params)
        model.zero_grad()
        total.backward()
        sgd(params)
        return float(total.data)

    return step


def make_compiled(weights: Any, X: list[list[float]], Y: list[float], batch: bool) -> Any:
    """The compiled steps: one program for an example's hinge term, one for the penalty."""
    model = tapegrad_model(weights)
    params = model.parameters()
    x0, x1, label = Value(0.0, label="x0"), Value(0.0, label="x1"), Value(1.0, label="y")
    started = time.perf_counter()
    score: Any = model([x0, x1])
    term = compile(ops.relu(1.0 - label * score), [x0, x1, label])
    penalty = compile(ALPHA * losses.l2(params), [])
    compile_ms = (time.perf_counter() - started) * 1e3
    n = len(X)
    rows = [(a, b, y) for (a, b), y in zip(X, Y)]
    A, B, L = (np.array(c) for c in zip(*rows))

    def per_example() -> float:
        for p in params:
            p.grad = 0.0
        backward = term.backward
        seed = 1.0 / n  # d(mean)/d(term)
        data = sum([backward(a, b, y, gradient=seed) for a, b, y in rows]) / n
        total: float = data + penalty.backward()
        sgd(params)
        return total

    def batched() -> float:
        for p in params:
            p.grad = 0.0
        data = float(term.backward(A, B, L, gradient=1.0 / n).sum()) / n
        total: float = data + penalty.backward()
        sgd(params)
        return total

    if batch:
        started = time.perf_counter()
        term.numpy_source  # noqa: B018  (generates and compiles the numpy variant)
        compile_ms += (time.perf_counter() - started) * 1e3
    return (batched if batch else per_example), compile_ms


def make_floor(weights: Any, X: list[list[float]], Y: list[float]) -> Callable[[], float]:
    """The same step by hand on Python floats: the floor for any pure-Python engine."""
    W = [[list(w) for w, _ in layer] for layer in weights]
    Bs = [[b for _, b in layer] for layer in weights]
    depth = len(W)
    n = len(X)

    def step() -> float:
        gW = [[[0.0] * len(row) for row in Wl] for Wl in W]
        gB = [[0.0] * len(bl) for bl in Bs]
        WT = [[list(col) for col in zip(*Wl)] for Wl in W]  # for the input gradients
        data = 0.0
        for x, y in zip(X, Y):
            acts = [x]
            zs = []
            h = x
            for li in range(depth):
                z = [sum(map(mul, row, h)) + b for row, b in zip(W[li], Bs[li])]
                zs.append(z)
                h = [v if v > 0.0 else 0.0 for v in z] if li < depth - 1 else z
                acts.append(h)
            margin = 1.0 - y * h[0]
            data += margin if margin > 0.0 else 0.0
            g = [-y / n if margin > 0.0 else 0.0]
            for li in reversed(range(depth)):
                if li < depth - 1:
                    g = [gi if zi > 0.0 else 0.0 for gi, zi in zip(g, zs[li])]
                a = acts[li]
                gWl = gW[li]
                gBl = gB[li]
                for j, gj in enumerate(g):
                    gWl[j] = [r + gj * ak for r, ak in zip(gWl[j], a)]
                    gBl[j] += gj
                if li:
                    g = [sum(map(mul, col, g)) for col in WT[li]]
        penalty = 0.0
        for li in range(depth):
            for row, grow in zip(W[li], gW[li]):
                for k, w in enumerate(row):
                    penalty += w * w
                    row[k] = w - LR * (grow[k] + 2.0 * ALPHA * w)
            for j, b in enumerate(Bs[li]):
                penalty += b * b
                Bs[li][j] = b - LR * (gB[li][j] + 2.0 * ALPHA * b)
        return data / n + ALPHA * penalty

    return step


def make_micrograd(weights: Any, X: list[list[float]], Y: list[float]) -> Callable[[], float]:
    from micrograd.engine import Value as MValue
    from micrograd.nn import MLP as MMLP

    model = MMLP(2, [len(layer) for layer in weights])
    for layer, lw in zip(model.layers, weights):
        for neuron, (w, b) in zip(layer.neurons, lw):
            for v, x in zip(neuron.w, w):
                v.data = x
            neuron.b.data = b
    params = model.parameters()

    def step() -> float:  # micrograd's demo loss(), without the accuracy
        inputs = [list(map(MValue, row)) for row in X]
        scores = list(map(model, inputs))
        hinge = [(1 + -yi * si).relu() for yi, si in zip(Y, scores)]
        data_loss = sum(hinge) * (1.0 / len(hinge))
        reg_loss = ALPHA * sum(p * p for p in params)
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        for p in params:
            p.data -= LR * p.grad
        return float(total.data)

    return step


def make_torch_scalar(weights: Any, X: list[list[float]], Y: list[float]) -> Callable[[], float]:
    import torch

    def t(x: float) -> Any:
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)

    layers = [[([t(w) for w in ws], t(b)) for ws, b in layer] for layer in weights]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    depth = len(layers)

    def step() -> float:
        terms = []
        for x, y in zip(X, Y):
            h: list[Any] = list(x)
            for li, layer in enumerate(layers):
                outs = []
                for ws, b in layer:
                    act = b
                    for w, xi in zip(ws, h):
                        act = act + w * xi
                    outs.append(torch.relu(act) if li < depth - 1 else act)
                h = outs
            terms.append(torch.relu(1.0 - y * h[0]))
        total = sum(terms) / len(terms) + ALPHA * sum(p * p for p in params)
        for p in params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        return float(total.item())

    return step


def make_torch_batched(weights: Any, X: list[list[float]], Y: list[float]) -> Callable[[], float]:
    import torch

    sizes = [2] + [len(layer) for layer in weights]
    linears = [torch.nn.Linear(a, b, dtype=torch.float64) for a, b in itertools.pairwise(sizes)]
    with torch.no_grad():
        for lin, layer in zip(linears, weights):
            lin.weight.copy_(torch.tensor([w for w, _ in layer], dtype=torch.float64))
            lin.bias.copy_(torch.tensor([b for _, b in layer], dtype=torch.float64))
    mods: list[Any] = []
    for lin in linears:
        mods += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*mods[:-1])
    params: list[Any] = list(model.parameters())
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(Y, dtype=torch.float64)

    def step() -> float:
        scores = model(Xt).squeeze(1)
        penalty = sum((p * p).sum() for p in params)
        total: Any = torch.relu(1.0 - Yt * scores).mean() + ALPHA * penalty
        for p in params:
            p.grad = None
        total.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
        return float(total.item())

    return step


def variants(cfg: Config) -> tuple[list[Variant], dict[str, float]]:
    X, Y = moons(cfg.n_points)
    weights = initial_weights(cfg.sizes)
    per_example, compile_ms = make_compiled(weights, X, Y, batch=False)
    batched, numpy_ms = make_compiled(weights, X, Y, batch=True)
    out = [
        _optional("micrograd", "micrograd 0.1.0", "micrograd", make_micrograd, weights, X, Y),
        Variant("eager", "tapegrad eager", make_eager(weights, X, Y)),
        Variant("compiled", "tapegrad compiled, per example", per_example),
        Variant("numpy", "tapegrad compiled, numpy batch", batched),
        Variant("floor", "hand-written Python floats", make_floor(weights, X, Y)),
        _optional(
            "torch_scalar",
            "PyTorch, 0-d tensor per scalar",
            "torch",
            make_torch_scalar,
            weights,
            X,
            Y,
        ),
        _optional(
            "torch_batched",
            "PyTorch, batched nn.Linear",
            "torch",
            make_torch_batched,
            weights,
            X,
            Y,
        ),
    ]
    return out, {"compiled": compile_ms, "numpy": numpy_ms}


def _optional(key: str, name: str, module: str, make: Any, *args: Any) -> Variant:
    try:
        __import__(module)
    except ImportError:
        return Variant(key, name, None, note=f"{module} not installed")
    return Variant(key, name, make(*args))


# --- measuring -----------------------------------------------------------------------


def measure_steps(vs: list[Variant], cfg: Config) -> None:
    """First step's loss from each (must agree), then median step time over alternating rounds."""
    live = [v for v in vs if v.step is not None]
    for v in live:
        assert v.step is not None
        v.first_loss = v.step()
        started = time.perf_counter()
        v.step()  # a warm second step, also sizing the repetitions
        once = time.perf_counter() - started
        v.reps = max(1, int(cfg.seconds_per_measurement / max(once, 1e-9)))
    for _ in range(cfg.rounds):
        for v in live:
            assert v.step is not None
            gc.collect()
            started = time.perf_counter()
            for _ in range(v.reps):
                v.step()
            v.times.append((time.perf_counter() - started) / v.reps)


def graph_memory(cfg: Config) -> dict[str, Any]:
    """Bytes per node (tracemalloc) of the demo's forward graph, micrograd-style, in both engines.

    The graph is built by the same code (micrograd's neuron: a chain of `w*x`
    additions and a relu) so both engines hold the same computation; then the
    idiomatic tapegrad graph (nn.MLP: one dot node per neuron) for the totals.
    """
    X, Y = moons(cfg.n_points)
    weights = initial_weights(cfg.sizes)
    engines: list[tuple[str, Any]] = [("tapegrad", Value)]
    try:
        from micrograd.engine import Value as MValue

        engines.insert(0, ("micrograd", MValue))
    except ImportError:
        pass
    out: dict[str, Any] = {}
    for name, cls in engines:
        params = [[([cls(w) for w in ws], cls(b)) for ws, b in layer] for layer in weights]
        flat = [p for layer in params for ws, b in layer for p in (*ws, b)]

        def build(cls: Any = cls, params: Any = params, flat: Any = flat) -> Any:
            terms = []
            for x, y in zip(X, Y):
                h = [cls(v) for v in x]
                for li, layer in enumerate(params):
                    outs = [sum((w * xi for w, xi in zip(ws, h)), b) for ws, b in layer]
                    h = [o.relu() for o in outs] if li < len(params) - 1 else outs
                terms.append((1 + -y * h[0]).relu())
            return sum(terms) * (1.0 / len(terms)) + ALPHA * sum(p * p for p in flat)

        nbytes, root = _traced(build)
        nodes = _count_nodes(root) - len(flat)  # the parameters existed before
        out[name] = {"nodes": nodes, "bytes": nbytes, "bytes_per_node": nbytes / nodes}
    model = tapegrad_model(weights)
    params_t = model.parameters()

    def idiomatic() -> Any:
        scores: list[Any] = [model(x) for x in X]
        return losses.hinge(scores, Y) + ALPHA * losses.l2(params_t)

    nbytes, root = _traced(idiomatic)
    nodes = _count_nodes(root) - len(params_t)
    out["tapegrad_nn"] = {"nodes": nodes, "bytes": nbytes, "bytes_per_node": nbytes / nodes}
    return out


def _traced(build: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    root = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, root


def _count_nodes(root: Any) -> int:
    seen = {id(root)}
    stack = [root]
    while stack:
        for child in stack.pop()._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def chains(cfg: Config) -> list[dict[str, Any]]:
    """Backward time of chains of n nodes (alternating * and +): it should grow linearly."""
    rows: list[dict[str, Any]] = []
    for n in cfg.chains:
        times = []
        for _ in range(cfg.chain_rounds):
            x = Value(0.5)
            v = x
            for i in range(n - 1):
                v = v * 0.999 if i % 2 else v + 0.001
            gc.collect()
            started = time.perf_counter()
            v.backward()
            times.append(time.perf_counter() - started)
            del v, x
        median = statistics.median(times)
        rows.append({"nodes": n, "backward_s": median, "ns_per_node": median / n * 1e9})
    micrograd = "not installed"
    try:
        from micrograd.engine import Value as MValue

        v = MValue(0.5)
        for _ in range(cfg.chains[0] - 1):
            v = v * 0.999
        try:
            v.backward()
            micrograd = "ok"
        except RecursionError:
            micrograd = "RecursionError"
    except ImportError:
        pass
    rows[0]["micrograd"] = micrograd
    return rows


# --- reporting ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {"numpy": np.__version__}
    for module in ("torch", "micrograd"):
        try:
            from importlib.metadata import version

            versions[module] = version(module)
        except Exception:
            versions[module] = None
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
    }


def report(vs: list[Variant], cfg: Config, extra: dict[str, Any]) -> dict[str, Any]:
    base = next((v for v in vs if v.key == "micrograd" and v.times), None)
    base_ms = statistics.median(base.times) * 1e3 if base else None
    rows: dict[str, dict[str, Any]] = {}
    for v in vs:
        ms = statistics.median(v.times) * 1e3 if v.times else None
        rows[v.key] = {
            "name": v.name,
            "median_ms": ms,
            "runs_ms": [t * 1e3 for t in v.times],
            "reps_per_run": v.reps,
            "vs_micrograd": base_ms / ms if base_ms and ms else None,
            "first_loss": None if math.isnan(v.first_loss) else v.first_loss,
            "note": v.note,
        }
    losses_seen = [r["first_loss"] for r in rows.values() if r["first_loss"] is not None]
    agree = all(math.isclose(a, losses_seen[0], rel_tol=1e-9) for a in losses_seen)
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            "model": f"MLP(2, {cfg.sizes})",
            "points": cfg.n_points,
            "loss": f"hinge + {ALPHA:g} L2",
            "rounds": cfg.rounds,
            "statistic": "median over rounds of the mean step time within a round",
        },
        "demo_step": rows,
        "first_losses_agree": agree,
        **extra,
    }


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    c = result["config"]
    lines = [
        f"tapegrad benchmarks, {result['date']}",
        f"machine: {m['cpu']} ({m['cpus']} CPUs), {m['platform']}, Python {m['python']}, "
        f"numpy {m['numpy']}, torch {m['torch']}, micrograd {m['micrograd']}",
        "",
        f"Demo training step: {c['model']}, {c['points']} moons points, {c['loss']}, "
        f"forward + backward + SGD update ({c['statistic']}, {c['rounds']} rounds)",
        "",
        f"| {'implementation':<34} | {'ms / step':>10} | {'vs micrograd':>12} |",
        f"|{'-' * 36}|{'-' * 11}:|{'-' * 13}:|",
    ]
    for row in result["demo_step"].values():
        ms = "-" if row["median_ms"] is None else f"{row['median_ms']:.3f}"
        ratio = "-" if row["vs_micrograd"] is None else f"{row['vs_micrograd']:.1f}x"
        name = row["name"] + (f" ({row['note']})" if row["note"] else "")
        lines.append(f"| {name:<34} | {ms:>10} | {ratio:>12} |")
    lines.append("")
    lines.append(
        "first-step losses agree across implementations: "
        + ("yes" if result["first_losses_agree"] else "NO")
    )
    lines.append(
        f"compile time: per-example program {result['compile_ms']['compiled']:.1f} ms, "
        f"+ numpy variant {result['compile_ms']['numpy']:.1f} ms"
    )
    mem = result["memory"]
    lines += ["", "Graph memory (tracemalloc), the demo's forward graph built micrograd-style:"]
    for name in ("micrograd", "tapegrad", "tapegrad_nn"):
        if name in mem:
            r = mem[name]
            label = "tapegrad, nn.MLP (dot nodes)" if name == "tapegrad_nn" else name
            lines.append(
                f"  {label:<30} {r['nodes']:>8} nodes  {r['bytes'] / 1e6:7.2f} MB  "
                f"{r['bytes_per_node']:6.0f} bytes/node"
            )
    if "micrograd" in mem:
        share = mem["tapegrad"]["bytes_per_node"] / mem["micrograd"]["bytes_per_node"]
        lines.append(f"  tapegrad bytes per node: {share:.0%} of micrograd's")
    lines += ["", "Backward of a chain (alternating * and +):"]
    for r in result["chains"]:
        extra = f"   (micrograd: {r['micrograd']})" if "micrograd" in r else ""
        lines.append(
            f"  {r['nodes']:>9} nodes  {r['backward_s'] * 1e3:9.1f} ms  "
            f"{r['ns_per_node']:6.0f} ns/node{extra}"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["demo_step"].values() if r["median_ms"] is not None]
    rows.sort(key=lambda r: r["median_ms"])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    names = [r["name"] for r in rows]
    values = [r["median_ms"] for r in rows]
    colors = ["#dd8452" if n.startswith("tapegrad") else "#4c72b0" for n in names]
    ax.barh(names, values, color=colors)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("ms per training step (log scale, lower is better)")
    for i, r in enumerate(rows):
        ratio = f"  {r['median_ms']:.3g} ms"
        if r["vs_micrograd"] is not None:
            ratio += f" ({r['vs_micrograd']:.1f}x micrograd)"
        ax.text(r["median_ms"], i, ratio, va="center", fontsize=8)
    ax.set_xlim(min(values) / 2, max(values) * 15)
    ax.set_title(f"{result['config']['model']}, {result['config']['points']} points: one step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Iterable[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks, print the table, write JSON and PNG; returns the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny configuration (seconds)")
    parser.add_argument("--out", type=Path, help="directory for results.json and demo_step.png")
    parser.add_argument("--rounds", type=int, help="timing rounds (median over them)")
    args = parser.parse_args(None if argv is None else list(argv))
    cfg = QUICK if args.quick else FULL
    if args.rounds:
        cfg.rounds = args.rounds
    out_dir = args.out or HERE / "results" / ("quick" if args.quick else "")
    vs, compile_ms = variants(cfg)
    measure_steps(vs, cfg)
    extra = {"compile_ms": compile_ms, "memory": graph_memory(cfg), "chains": chains(cfg)}
    result = report(vs, cfg, extra)
    text = table(result)
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "table.txt").write_text(text + "\n")
    chart(result, out_dir / "demo_step.png")
    print(f"\nwrote {out_dir / 'results.json'}, table.txt and demo_step.png")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
