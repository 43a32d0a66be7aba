"""One engine, one workload, in a clean process of its own: `python -m benchmarks.worker E W`.

    python -m benchmarks.worker tapegrad demo            # prints one JSON document
    python -m benchmarks.worker micrograd scalar --quick

`benchmarks.run` starts one of these per (engine, workload) so that no engine
shares a heap with another (micrograd's cost is mostly the cyclic garbage
collector, which grows with everything in the heap) and torch is imported by
PyTorch's process only. Every process also times the reference (the demo step
hand-written on floats, `benchmarks.reference`), interleaved with its own
tasks, so figures from different processes are compared through it. This
module imports only the standard library at the top; each engine is imported
inside its builder.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import reference as ref
from benchmarks.timing import interleave, timed_call

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Config:
    """The sizes of one run (full or quick)."""

    reps: int
    demo_sizes: tuple[int, ...]
    demo_points: int
    chains: int  # workload b: how many chains per timed call
    chain_length: int  # steps of relu(h*a + b) + h*0.5 per chain
    gpt_embd: int
    gpt_heads: int
    gpt_block: int
    gpt_docs: int  # documents per timed call (one backward each)
    memory_steps: int  # chain steps of the graph whose memory is traced
    backward_nodes: tuple[int, ...]
    widths: tuple[int, ...]
    compile_reps: int


FULL = Config(
    7, (16, 16, 1), 100, 200, 50, 16, 4, 16, 2, 20_000, (10**4, 10**5, 10**6), (16, 64, 128), 3
)
QUICK = Config(3, (8, 8, 1), 20, 10, 10, 8, 2, 8, 1, 500, (10**3, 10**4), (4, 8), 1)

Task = Callable[[], float]
Grads = Callable[[], list[float]]


# --- workload a: micrograd's demo step ----------------------------------------------


def _demo_data(cfg: Config) -> tuple[ref.Weights, list[list[float]], list[float]]:
    X, Y = ref.moons(cfg.demo_points)
    return ref.initial_weights(2, list(cfg.demo_sizes)), X, Y


def demo_micrograd(
    weights: ref.Weights, X: list[list[float]], Y: list[float]
) -> tuple[Task, Grads]:
    """micrograd's own demo loss() and backward, weights frozen (no update)."""
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(2, [len(layer) for layer in weights])
    _set_weights(model, weights)
    params = model.parameters()

    def step() -> float:
        inputs = [list(map(Value, row)) for row in X]
        scores = list(map(model, inputs))
        hinge = [(1 + -yi * si).relu() for yi, si in zip(Y, scores)]
        data_loss = sum(hinge) * (1.0 / len(hinge))
        reg_loss = ref.ALPHA * sum(p * p for p in params)
        total = data_loss + reg_loss
        model.zero_grad()
        total.backward()
        return float(total.data)

    return step, lambda: [p.grad for p in params]


def _set_weights(model: Any, weights: ref.Weights) -> None:
    for layer, lw in zip(model.layers, weights):
        for neuron, (w, b) in zip(layer.neurons, lw):
            for v, x in zip(neuron.w, w):
                v.data = x
            neuron.b.data = b


def _neuron_params(model: Any) -> list[Any]:
    """Parameters in micrograd's order, read through micrograd's attribute names."""
    return [p for layer in model.layers for n in layer.neurons for p in (*n.w, n.b)]


def _tapegrad_model(weights: ref.Weights) -> Any:
    import nn

    model = nn.MLP(2, [len(layer) for layer in weights])
    _set_weights(model, weights)
    return model


def demo_tapegrad(weights: ref.Weights, X: list[list[float]], Y: list[float]) -> tuple[Task, Grads]:
    """tapegrad eager, the idiomatic way: nn.MLP, losses.hinge + ALPHA * losses.l2, backward."""
    from nn import losses

    model = _tapegrad_model(weights)
    params = model.parameters()
    ordered = _neuron_params(model)

    def step() -> float:
        scores = [model(x) for x in X]
        total = losses.hinge(scores, Y) + ref.ALPHA * losses.l2(params)
        model.zero_grad()
        total.backward()
        return float(total.data)

    return step, lambda: [float(p.grad) for p in ordered]


def compiled_programs(weights: ref.Weights) -> tuple[Any, Any, Any, float]:
    """(model, per-example hinge program, penalty program, compile ms) for the demo network.

    The per-example program is traced from one example's graph with the
    example (x0, x1, label) as inputs; the model's weights are its parameters,
    read live at every call. Only `compile(...)` itself is timed.
    """
    from autograd import Value, compile
    from nn import losses

    model = _tapegrad_model(weights)
    x0, x1, label = Value(0.0, label="x0"), Value(0.0, label="x1"), Value(1.0, label="y")
    term_graph = (1.0 - label * model([x0, x1])).relu()
    penalty_graph = ref.ALPHA * losses.l2(model.parameters())
    started = time.process_time()
    term = compile(term_graph, [x0, x1, label])
    penalty = compile(penalty_graph, [])
    return model, term, penalty, (time.process_time() - started) * 1e3


def demo_compiled(
    weights: ref.Weights, X: list[list[float]], Y: list[float]
) -> tuple[Task, Grads, dict[str, float]]:
    """The compiled demo step, one program call per example; and the compile time."""
    model, term, penalty, compile_ms = compiled_programs(weights)
    params = model.parameters()
    ordered = _neuron_params(model)
    rows = [(a, b, y) for (a, b), y in zip(X, Y)]
    n = len(rows)
    seed = 1.0 / n  # d(mean)/d(term)

    def per_example() -> float:
        for p in params:
            p.grad = 0.0
        backward = term.backward
        data = sum([backward(a, b, y, gradient=seed) for a, b, y in rows]) / n
        return float(data + penalty.backward())

    return per_example, lambda: [float(p.grad) for p in ordered], {"compile_ms": compile_ms}


def demo_numpy(
    weights: ref.Weights, X: list[list[float]], Y: list[float]
) -> tuple[Task, Grads, dict[str, float]]:
    """The same program called once on numpy arrays of the whole batch."""
    import numpy as np

    model, term, penalty, _ = compiled_programs(weights)
    params = model.parameters()
    ordered = _neuron_params(model)
    n = len(X)
    seed = 1.0 / n
    A, B, L = (np.array(c, dtype=float) for c in zip(*[(a, b, y) for (a, b), y in zip(X, Y)]))

    def batched() -> float:
        for p in params:
            p.grad = 0.0
        data = float(term.backward(A, B, L, gradient=seed).sum()) / n
        return data + float(penalty.backward())

    first, _, _ = timed_call(batched, True)  # builds the numpy variant on its first call
    again, _, _ = timed_call(batched, True)
    extra = {"numpy_first_call_extra_ms": (first - again) * 1e3}
    return batched, lambda: [float(p.grad) for p in ordered], extra


def demo_torch(
    weights: ref.Weights, X: list[list[float]], Y: list[float]
) -> dict[str, tuple[Task, Grads]]:
    """PyTorch float64, one thread: one 0-d tensor per scalar, and batched nn.Linear layers."""
    import torch

    torch.set_num_threads(1)

    def t(x: float) -> Any:
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)

    layers = [[([t(w) for w in ws], t(b)) for ws, b in layer] for layer in weights]
    scalars = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    last = len(layers) - 1

    def scalar_step() -> float:
        terms = []
        for x, y in zip(X, Y):
            h: list[Any] = list(x)
            for li, layer in enumerate(layers):
                outs = []
                for ws, b in layer:
                    act = b
                    for w, xi in zip(ws, h):
                        act = act + w * xi
                    outs.append(act if li == last else torch.relu(act))
                h = outs
            terms.append(torch.relu(1.0 - y * h[0]))
        total = sum(terms) / len(terms) + ref.ALPHA * sum(p * p for p in scalars)
        for p in scalars:
            p.grad = None
        total.backward()
        return float(total.item())

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
    params = list(model.parameters())
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(Y, dtype=torch.float64)

    def batched_step() -> float:
        scores = model(Xt).squeeze(1)
        penalty = sum((p * p).sum() for p in params)
        total: Any = torch.relu(1.0 - Yt * scores).mean() + ref.ALPHA * penalty
        for p in params:
            p.grad = None
        total.backward()
        return float(total.item())

    def batched_grads() -> list[float]:
        out = []
        for lin in linears:
            for row, b in zip(lin.weight.grad.tolist(), lin.bias.grad.tolist()):
                out += [*row, b]
        return out

    return {
        "torch_scalar": (scalar_step, lambda: [float(p.grad) for p in scalars]),
        "torch_batched": (batched_step, batched_grads),
    }


# --- workload b: micrograd's exact scalar graph -------------------------------------


def chains_task(value: Callable[[float], Any], n_chains: int, length: int) -> Task:
    """Chains of h = relu(h*a + b) + h*0.5 with float constants a, b: binary ops only.

    Each chain starts from its own leaf and gets its own backward pass; the
    call returns the sum of the outputs and of the leaves' gradients (the
    same in every engine, to rounding).
    """
    constants = ref.chain_constants(length)
    starts = ref.chain_starts(n_chains)

    def run() -> float:
        total = 0.0
        for s in starts:
            x = value(s)
            h = x
            for a, b in constants:
                h = (h * a + b).relu() + h * 0.5
            h.backward()
            total += h.data + x.grad
        return total

    return run


def _value_class(engine: str) -> Any:
    if engine == "micrograd":
        from micrograd.engine import Value as MicrogradValue

        return MicrogradValue
    if engine == "slots":
        from benchmarks.slotvalue import Value as SlotValue

        return SlotValue
    from autograd import Value

    return Value


# --- workload c: the tiny GPT, microgpt style ------------------------------------------


def _tiny_gpt() -> Any:
    sys.path.insert(0, str(ROOT / "examples"))
    import tiny_gpt

    return tiny_gpt


def gpt_task(engine: str, cfg: Config) -> tuple[Task, Grads, dict[str, Any]]:
    """Forward + backward of cfg.gpt_docs documents (gradients accumulated), weights frozen."""
    g = _tiny_gpt()
    value = _value_class(engine)
    docs = g.make_names(1000)
    tok = g.Tokenizer(docs)
    model = g.Config(tok.vocab_size, cfg.gpt_embd, cfg.gpt_heads, 1, cfg.gpt_block)
    params = g.init_params(model, value)
    flat = g.parameters(params)
    batch = [tok.encode(d) for d in docs[: cfg.gpt_docs]]

    def step() -> float:
        for p in flat:
            p.grad = 0.0
        total = 0.0
        for tokens in batch:
            loss = g.doc_loss(params, model, tokens)
            loss.backward()
            total += loss.data
        return total

    info = {"model": asdict(model), "parameters": len(flat), "docs": docs[: cfg.gpt_docs]}
    return step, lambda: [float(p.grad) for p in flat], info


# --- workload d: memory per node, backward per node ------------------------------------


def _count_nodes(root: Any) -> int:
    """Distinct Values reachable through `_prev` (micrograd's and tapegrad's operand field)."""
    seen = {id(root)}
    stack = [root]
    while stack:
        for child in stack.pop()._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def _traced(build: Callable[[], Any]) -> dict[str, Any]:
    """Bytes the graph `build()` returns holds, and the extra peak during its backward."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    root = build()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    peak: int | str
    try:
        root.backward()
        peak = tracemalloc.get_traced_memory()[1] - start
    except RecursionError:  # micrograd's recursive topological sort, on a deep graph
        peak = "RecursionError"
    tracemalloc.stop()
    return {"bytes": held, "backward_peak_bytes": peak, "nodes": _count_nodes(root)}


def memory(engine: str, cfg: Config) -> dict[str, Any]:
    """tracemalloc of the chain graph (the same program in every engine) and of the demo graph."""
    value = _value_class(engine)
    constants = ref.chain_constants(cfg.memory_steps)

    def chain() -> Any:
        h = value(0.5)
        for a, b in constants:
            h = (h * a + b).relu() + h * 0.5
        return h

    out = {"chain": _traced(chain), "chain_ops": 5 * cfg.memory_steps}
    weights, X, Y = _demo_data(cfg)
    if engine == "micrograd":
        from micrograd.engine import Value
        from micrograd.nn import MLP

        mmodel = MLP(2, [len(layer) for layer in weights])
        _set_weights(mmodel, weights)
        mparams = mmodel.parameters()

        def demo() -> Any:
            scores = [mmodel(list(map(Value, row))) for row in X]
            hinge = [(1 + -yi * si).relu() for yi, si in zip(Y, scores)]
            return sum(hinge) * (1.0 / len(hinge)) + ref.ALPHA * sum(p * p for p in mparams)

    else:
        from nn import losses

        model = _tapegrad_model(weights)
        params = model.parameters()

        def demo() -> Any:
            return losses.hinge([model(x) for x in X], Y) + ref.ALPHA * losses.l2(params)

    out["demo"] = _traced(demo)
    return out


def backward_scaling(cfg: Config) -> dict[str, Any]:
    """Backward time of chains of 10^4..10^6 op nodes, GC on and off, a fresh graph each call."""
    from autograd import Value

    rows: dict[str, Any] = {}
    for n in cfg.backward_nodes:
        rows[str(n)] = {"gc_on": [], "gc_off": []}
    for r in range(cfg.reps):
        for n in cfg.backward_nodes:
            for mode in ("gc_on", "gc_off") if r % 2 == 0 else ("gc_off", "gc_on"):
                constants = ref.chain_constants(n // 5)
                h = Value(0.5)
                for a, b in constants:
                    h = (h * a + b).relu() + h * 0.5
                root = h
                del h
                seconds, _, _ = timed_call(root.backward, mode == "gc_on")
                rows[str(n)][mode].append(seconds)
                del root
                gc.collect()
    return rows


# --- workload e: compiled, widths --------------------------------------------------------


Builder = Callable[[], tuple[Task, Grads | None, dict[str, Any]]]
"""Makes one task: (the call, its gradients or None, extra figures)."""


def width_builders(cfg: Config, compile_ms: dict[str, list[float]]) -> list[tuple[str, Builder]]:
    """Per-example compiled steps and float loops at each width; compile times go to compile_ms."""
    X, Y = ref.moons(cfg.demo_points)
    out: list[tuple[str, Builder]] = []
    for width in cfg.widths:
        weights = ref.initial_weights(2, [width, width, 1])

        def compiled(weights: ref.Weights = weights, width: int = width) -> Any:
            times = []
            for _ in range(cfg.compile_reps):
                gc.collect()
                times.append(compiled_programs(weights)[3])
            compile_ms[str(width)] = times
            return demo_compiled(weights, X, Y)[0], None, {}

        def floats(weights: ref.Weights = weights) -> Any:
            return ref.float_step(weights, X, Y)[0], None, {}

        out += [(f"compiled_w{width}", compiled), (f"float_loop_w{width}", floats)]
    return out


# --- the process ---------------------------------------------------------------------------


WORKLOADS = {
    "demo": ("micrograd", "tapegrad", "compiled", "torch"),
    "scalar": ("micrograd", "tapegrad"),
    "gpt": ("tapegrad", "slots"),
    "memory": ("micrograd", "tapegrad"),
    "backward": ("tapegrad",),
    "widths": ("compiled",),
}
"""Which engines run which workload: one process each."""


def run(engine: str, workload: str, cfg: Config, reps: int) -> dict[str, Any]:
    """Measure one engine on one workload (plus the reference); the JSON-ready result."""
    if engine not in WORKLOADS.get(workload, ()):
        raise ValueError(
            f"engine {engine!r} does not run workload {workload!r}; "
            f"choose from {', '.join(f'{w}: {e}' for w, es in WORKLOADS.items() for e in es)}"
        )
    load_before = os.getloadavg()
    weights, X, Y = _demo_data(cfg)
    reference, reference_grads = ref.float_step(weights, X, Y)
    tasks: dict[str, Task] = {"float_loop": reference}
    grads: dict[str, Grads] = {"float_loop": reference_grads}
    extra: dict[str, Any] = {}
    errors: dict[str, str] = {}  # what could not be measured, and why

    def add(name: str, build: Builder) -> None:
        """Build one task and call it once (the warm-up); on an error, record it and go on."""
        try:
            task, task_grads, more = build()
            task()
        except Exception as e:  # the engine is being redesigned: report, do not crash
            errors[name] = f"{type(e).__name__}: {e}"
            return
        tasks[name] = task
        if task_grads is not None:
            grads[name] = task_grads
        extra.update(more)

    if workload == "demo":
        if engine == "micrograd":
            add("micrograd", lambda: (*demo_micrograd(weights, X, Y), {}))
        elif engine == "tapegrad":
            add("eager", lambda: (*demo_tapegrad(weights, X, Y), {}))
        elif engine == "compiled":
            add("compiled", lambda: demo_compiled(weights, X, Y))
            add("numpy", lambda: demo_numpy(weights, X, Y))
        else:
            variants = demo_torch(weights, X, Y)
            for key in variants:
                add(key, lambda key=key: (*variants[key], {}))
    elif workload == "scalar":
        add(
            engine,
            lambda: (chains_task(_value_class(engine), cfg.chains, cfg.chain_length), None, {}),
        )
    elif workload == "gpt":
        add(engine, lambda: gpt_task(engine, cfg))
    elif workload == "widths":
        compile_ms: dict[str, list[float]] = {}
        for name, build in width_builders(cfg, compile_ms):
            add(name, build)
        extra["compile_ms"] = compile_ms
    if workload == "memory":  # tracemalloc slows everything: nothing is timed here
        tasks = {}
        try:
            extra = memory(engine, cfg)
        except Exception as e:
            errors["memory"] = f"{type(e).__name__}: {e}"
    times, wall, results = interleave(tasks, reps) if tasks else ({}, {}, {})
    if workload == "backward":
        try:
            extra = {"backward_s": backward_scaling(cfg)}
        except Exception as e:
            errors["backward"] = f"{type(e).__name__}: {e}"
    checks: dict[str, Any] = {}
    for name, values in results.items():
        spread = max(abs(v - values[0]) for v in values)
        if spread > 1e-12 * max(1.0, abs(values[0])):  # frozen weights: every call is the same
            raise AssertionError(f"{name}: the calls returned different results {values}")
        checks[name] = {"result": values[0]}
        if name in grads:
            checks[name]["grads"] = grads[name]()
    return {
        "engine": engine,
        "workload": workload,
        "config": asdict(cfg) | {"reps": reps},
        "times": times,  # CPU seconds
        "wall": wall,
        "checks": checks,
        "extra": extra,
        "errors": errors,
        "loaded": {m: m in sys.modules for m in ("torch", "numpy", "autograd", "micrograd")},
        "pid": os.getpid(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "gc_threshold": gc.get_threshold(),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, measure, print one JSON document on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=sorted({e for es in WORKLOADS.values() for e in es}))
    parser.add_argument("workload", choices=list(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repetitions")
    parser.add_argument("--reps", type=int, help="timed calls per task and GC mode")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    result = run(args.engine, args.workload, cfg, args.reps or cfg.reps)
    json.dump(result, sys.stdout, allow_nan=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
