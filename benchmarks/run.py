"""Benchmarks: each engine in its own clean process, compared through a reference timed in each.

    .venv/bin/python -m benchmarks.run            # the full run (`make bench`), a few minutes
    .venv/bin/python -m benchmarks.run --quick    # tiny sizes, seconds (the test suite runs this)

For every (engine, workload) pair this starts `python -m benchmarks.worker
ENGINE WORKLOAD` (a fresh interpreter: no engine shares a heap with another,
torch is imported by PyTorch's process only), which times its tasks and the
reference -- micrograd's demo step hand-written on floats -- interleaved, each
call after an untimed full `gc.collect()`, with the collector on and off, with
weights frozen (no update is timed; every call must return the same loss).
Ratios between processes go through the reference: a task's median divided
by its process's reference median (GC off), so a machine that was slower
while one process ran does not tilt the comparison. Losses and gradients are
checked to agree across engines (1e-9) before anything is reported. Output:
`results.json` (every timing, the machine, the command), `table.md` (printed
too; README's Speed section) and `demo_step.png` under `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import worker
from benchmarks.timing import median

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
TOLERANCE = 1e-9

PLAN: list[tuple[str, str]] = [
    (engine, workload) for workload, engines in worker.WORKLOADS.items() for engine in engines
]
"""Every process the run starts, in order."""


# --- running the processes --------------------------------------------------------------


def run_worker(engine: str, workload: str, quick: bool, reps: int | None) -> dict[str, Any]:
    """One worker process; its JSON result, or a record of its failure (the stderr's tail).

    A process that fails (the engine being redesigned does not import, say)
    leaves its figures unmeasured rather than stopping the run.

    Raises:
        RuntimeError: torch was imported into a process other than PyTorch's.
    """
    cmd = [sys.executable, "-m", "benchmarks.worker", engine, workload]
    cmd += ["--quick"] if quick else []
    cmd += ["--reps", str(reps)] if reps else []
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {
            "engine": engine,
            "workload": workload,
            "times": {},
            "wall": {},
            "checks": {},
            "extra": {},
            "errors": {"process": f"{shlex.join(cmd)} exited {proc.returncode}: {tail[0]}"},
            "stderr": proc.stderr[-4000:],
            "loaded": {"torch": False, "autograd": False},
        }
    result: dict[str, Any] = json.loads(proc.stdout)
    if result["loaded"]["torch"] and engine != "torch":
        raise RuntimeError(f"torch was imported in the {engine} {workload} process")
    return result


def machine() -> dict[str, Any]:
    """CPU model, cores, platform, Python and the versions of the engines compared."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("numpy", "torch", "micrograd"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **versions,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "engine_changes_uncommitted": bool(_git("status", "--porcelain", "autograd", "nn")),
    }


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


# --- checks: same losses and gradients everywhere ---------------------------------------


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=1e-12)


def check_agreement(runs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """Every engine's loss and gradients equal (1e-9) across processes, per workload.

    Raises:
        AssertionError: naming the workload, the two tasks and the values.
    """
    out: dict[str, Any] = {}
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for (engine, workload), r in runs.items():
        for task, check in r["checks"].items():
            if task == "float_loop" or workload == "demo":
                group = "demo"  # the reference computes the demo step in every process
            elif workload == "widths":
                group = "width " + task.rsplit("_w", 1)[1]
            else:
                group = workload
            groups.setdefault(group, []).append((f"{engine} {workload}: {task}", check))
    for group, members in groups.items():
        first_name, first = members[0]
        worst_loss = worst_grad = 0.0
        for name, check in members[1:]:
            a, b = first["result"], check["result"]
            if not _close(a, b):
                raise AssertionError(f"{group}: {first_name} gives {a!r}, {name} gives {b!r}")
            worst_loss = max(worst_loss, abs(a - b) / max(abs(a), 1e-300))
            if "grads" in first and "grads" in check:
                ga, gb = first["grads"], check["grads"]
                if len(ga) != len(gb) or not all(map(_close, ga, gb)):
                    bad = next(
                        (i for i, (x, y) in enumerate(zip(ga, gb)) if not _close(x, y)), None
                    )
                    raise AssertionError(
                        f"{group}: gradients of {first_name} and {name} differ "
                        f"(lengths {len(ga)}, {len(gb)}; first at index {bad})"
                    )
                worst_grad = max([worst_grad, *(abs(x - y) for x, y in zip(ga, gb))])
        out[group] = {
            "tasks": [name for name, _ in members],
            "max_relative_loss_difference": worst_loss,
            "max_abs_gradient_difference": worst_grad,
        }
    return out


def without_gradients(run: dict[str, Any]) -> dict[str, Any]:
    """A worker's result with each gradient list replaced by its length (results.json stays small).

    The gradients have been compared by then (`check_agreement`); the
    comparison's largest differences are what the results keep.
    """
    checks = {
        task: {k: (len(v) if k == "grads" else v) for k, v in check.items()}
        for task, check in run["checks"].items()
    }
    return {**run, "checks": checks}


# --- figures ------------------------------------------------------------------------------


def _ms(r: dict[str, Any], task: str, mode: str) -> float:
    return median(r["times"][task][mode]) * 1e3


def _paired(r: dict[str, Any], task: str, mode: str, base: str, base_mode: str) -> float:
    """Median over the rounds of task / base, each round's two calls taken side by side.

    Pairing the calls of one round cancels what the machine did in between
    rounds (a noisy neighbour, a frequency change) better than a ratio of
    two medians would.
    """
    xs, ys = r["times"][task][mode], r["times"][base][base_mode]
    return median([x / y for x, y in zip(xs, ys, strict=True)])


def _norm(r: dict[str, Any], task: str, mode: str) -> float:
    """The task's time in units of its process's reference (GC off), paired by round."""
    return _paired(r, task, mode, "float_loop", "gc_off")


@dataclass
class Figure:
    """One measured figure, with the target issue 14 sets for it (if any)."""

    key: str
    what: str
    value: float
    unit: str  # "x" (a ratio), "ms", "%" or "ns"
    target: str = ""
    met: bool | None = None

    def shown(self) -> str:
        """The value as the table prints it."""
        if not math.isfinite(self.value):
            return "-"
        if self.unit == "x":
            return f"{self.value:.2f}x" if self.value < 10 else f"{self.value:.0f}x"
        if self.unit == "%":
            return f"{self.value:.0f}%"
        if self.unit == "ns":
            return f"{self.value:.0f} ns"
        return f"{self.value:.1f} ms"


def _measured(compute: Callable[[], float]) -> float:
    """compute(), or NaN when what it needs was not measured (a process or task failed)."""
    try:
        return float(compute())
    except (KeyError, ValueError, ZeroDivisionError, TypeError):
        return math.nan


def figures(runs: dict[tuple[str, str], dict[str, Any]], judge: bool = True) -> list[Figure]:
    """Every ratio the issue names, computed through the reference where processes differ.

    Args:
        runs: The workers' results by (engine, workload).
        judge: Whether to mark each target met or missed (not for the quick sizes).

    Returns:
        The figures, in the issue's order; NaN for one that could not be measured.
    """
    figs: list[Figure] = []
    modes = (("gc_on", "GC on"), ("gc_off", "GC off"))

    def add(
        key: str,
        what: str,
        compute: Callable[[], float],
        unit: str,
        target: str = "",
        goal: Callable[[float], bool] | None = None,
    ) -> None:
        value = _measured(compute)
        met = goal(value) if goal and judge and math.isfinite(value) else None
        figs.append(Figure(key, what, value, unit, target, met))

    def speedup(slow: tuple[str, str, str], fast: tuple[str, str, str], mode: str) -> float:
        """How many times faster `fast` (engine, workload, task) is than `slow`."""
        return _norm(runs[slow[:2]], slow[2], mode) / _norm(runs[fast[:2]], fast[2], mode)

    def within(engine: str, workload: str, task: str, base: str, mode: str) -> float:
        return _paired(runs[engine, workload], task, mode, base, mode)

    mg = ("micrograd", "demo", "micrograd")
    eager = ("tapegrad", "demo", "eager")
    compiled = ("compiled", "demo", "compiled")
    numpy = ("compiled", "demo", "numpy")
    torch_b = ("torch", "demo", "torch_batched")
    torch_s = ("torch", "demo", "torch_scalar")
    for (mode, word), goal in zip(modes, (50.0, 10.0)):
        add(
            f"a.eager_vs_micrograd.{mode}",
            f"demo step: eager vs micrograd, {word}",
            lambda m=mode: speedup(mg, eager, m),
            "x",
            f">= {goal:g}x",
            lambda v, g=goal: v >= g,
        )
    for mode, word in modes:
        add(
            f"a.eager_vs_float_loop.{mode}",
            f"demo step: eager / float loop (slower by), {word}",
            lambda m=mode: within("tapegrad", "demo", "eager", "float_loop", m),
            "x",
            "<= 1.5x",
            lambda v: v <= 1.5,
        )
    for mode, word in modes:
        add(
            f"a.compiled_vs_micrograd.{mode}",
            f"demo step: compiled per example vs micrograd, {word}",
            lambda m=mode: speedup(mg, compiled, m),
            "x",
            ">= 300x",
            lambda v: v >= 300,
        )
    for mode, word in modes:
        add(
            f"a.numpy_vs_micrograd.{mode}",
            f"demo step: compiled numpy batch vs micrograd, {word}",
            lambda m=mode: speedup(mg, numpy, m),
            "x",
            ">= 3000x",
            lambda v: v >= 3000,
        )
    add(
        "a.numpy_vs_torch_batched",
        "demo step: numpy batch vs PyTorch batched nn.Linear (faster by), GC on",
        lambda: speedup(torch_b, numpy, "gc_on"),
        "x",
        "> 1x",
        lambda v: v > 1,
    )
    for task, label in ((torch_s, "PyTorch 0-d tensors"), (torch_b, "PyTorch batched nn.Linear")):
        add(
            f"a.{task[2]}_vs_micrograd",
            f"demo step: {label} vs micrograd, GC on",
            lambda t=task: speedup(mg, t, "gc_on"),
            "x",
        )
    add(
        "a.eager_vs_torch_scalar",
        "demo step: eager vs PyTorch 0-d tensors, GC on",
        lambda: speedup(torch_s, eager, "gc_on"),
        "x",
    )

    chains = (("micrograd", "scalar", "micrograd"), ("tapegrad", "scalar", "tapegrad"))
    for (mode, word), goal in zip(modes, (8.0, 4.0)):
        add(
            f"b.scalar_vs_micrograd.{mode}",
            f"scalar chains: eager vs micrograd, {word}",
            lambda m=mode: speedup(*chains, m),
            "x",
            f">= {goal:g}x",
            lambda v, g=goal: v >= g,
        )
    gpts = (("slots", "gpt", "slots"), ("tapegrad", "gpt", "tapegrad"))
    for mode, word in modes:
        add(
            f"c.gpt_vs_slots.{mode}",
            f"tiny GPT: tapegrad vs slots Value, {word}",
            lambda m=mode: speedup(*gpts, m),
            "x",
            ">= 3x",
            lambda v: v >= 3,
        )

    def memory(engine: str, graph: str) -> float:
        return float(runs[engine, "memory"]["extra"][graph]["bytes"])

    add(
        "d.memory_share",
        "graph memory of the scalar chains, % of micrograd's (same program)",
        lambda: memory("tapegrad", "chain") / memory("micrograd", "chain") * 100,
        "%",
        "<= 20%",
        lambda v: v <= 20,
    )
    add(
        "d.memory_share_demo",
        "graph memory of the demo forward (idiomatic graphs), % of micrograd's",
        lambda: memory("tapegrad", "demo") / memory("micrograd", "demo") * 100,
        "%",
    )
    scaling: dict[str, Any] = runs["tapegrad", "backward"]["extra"].get("backward_s", {})
    sizes = sorted(scaling, key=int)

    def per_node(n: str, mode: str) -> float:
        return median(scaling[n][mode]) / int(n) * 1e9

    for mode, word in (("gc_on", "GC included"), ("gc_off", "GC off")):
        for n in sizes:
            add(
                f"d.backward_ns_per_node.{n}.{mode}",
                f"backward of {int(n):,} nodes, per node, {word}",
                lambda n=n, m=mode: per_node(n, m),
                "ns",
            )
        if sizes:
            add(
                f"d.backward_growth.{mode}",
                f"backward per node at {int(sizes[-1]):,} / at {int(sizes[0]):,} nodes, {word}",
                lambda m=mode: per_node(sizes[-1], m) / per_node(sizes[0], m),
                "x",
                "linear: <= 1.5x",
                lambda v: v <= 1.5,
            )

    demo_extra = runs["compiled", "demo"]["extra"]
    add(
        "e.compile_ms",
        "compile time of the demo program (per-example + penalty)",
        lambda: demo_extra["compile_ms"],
        "ms",
        "<= 50 ms",
        lambda v: v <= 50,
    )
    add(
        "e.numpy_build_ms",
        "numpy variant: extra time of its first call (builds it)",
        lambda: demo_extra["numpy_first_call_extra_ms"],
        "ms",
    )
    widths = runs["compiled", "widths"]
    compile_ms: dict[str, list[float]] = widths["extra"].get("compile_ms", {})
    ws = sorted(compile_ms, key=int)
    for w in ws:
        add(
            f"e.compile_ms.w{w}",
            f"compile time at width {w}",
            lambda w=w: median(compile_ms[w]),
            "ms",
        )

    def per_parameter(w: str) -> float:  # MLP(2, [w, w, 1]) has w^2 + 5w + 1 parameters
        return median(compile_ms[w]) / (int(w) ** 2 + 5 * int(w) + 1)

    if ws:
        add(
            "e.compile_growth",
            f"compile time per parameter, width {ws[-1]} / width {ws[0]}",
            lambda: per_parameter(ws[-1]) / per_parameter(ws[0]),
            "x",
            "linear: <= 1.5x",
            lambda v: v <= 1.5,
        )
    for w in ws:
        for mode, word in modes:
            goal = (lambda v: v <= 1.0) if int(w) >= 64 else None
            add(
                f"e.compiled_vs_float_loop.w{w}.{mode}",
                f"per example at width {w} / float loop at width {w}, {word}",
                lambda w=w, m=mode: within(
                    "compiled", "widths", f"compiled_w{w}", f"float_loop_w{w}", m
                ),
                "x",
                "<= 1x" if goal else "",
                goal,
            )
    return figs


# --- the report ---------------------------------------------------------------------------


DEMO_ROWS = [
    ("micrograd", "demo", "micrograd", "micrograd 0.1.0"),
    ("tapegrad", "demo", "eager", "tapegrad eager"),
    ("compiled", "demo", "compiled", "tapegrad compiled, per example"),
    ("compiled", "demo", "numpy", "tapegrad compiled, numpy batch"),
    ("torch", "demo", "torch_scalar", "PyTorch, 0-d tensor per scalar"),
    ("torch", "demo", "torch_batched", "PyTorch, batched nn.Linear"),
    ("tapegrad", "demo", "float_loop", "hand-written float loop (reference)"),
]


def demo_table(runs: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo step's rows: raw medians and speed-ups over micrograd through the reference."""
    mg = runs["micrograd", "demo"]
    rows = []
    for engine, workload, task, name in DEMO_ROWS:
        r = runs[engine, workload]
        row: dict[str, Any] = {"name": name, "engine": engine, "task": task}
        for mode in ("gc_on", "gc_off"):
            row[f"ms_{mode}"] = _measured(lambda m=mode, r=r, t=task: _ms(r, t, m))
            row[f"vs_micrograd_{mode}"] = _measured(
                lambda m=mode, r=r, t=task: _norm(mg, "micrograd", m) / _norm(r, t, m)
            )
        rows.append(row)
    return rows


def markdown(result: dict[str, Any]) -> str:
    """The table README's Speed section shows: machine, command, the demo step, every target."""
    m = result["machine"]
    c = result["config"]
    load = result["load_average"]
    dirty = ", engine edits uncommitted" if m["engine_changes_uncommitted"] else ""
    quick = "; quick sizes, no target judged" if result["quick"] else ""
    lines = [
        f"Measured {result['date']} with `{result['command']}` "
        f"(commit {m['commit']}{dirty}) "
        f"on {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}, "
        f"micrograd {m['micrograd']}, torch {m['torch']}, numpy {m['numpy']}; "
        f"load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after. "
        f"Each engine in its own process; CPU time, median of {c['reps']} interleaved calls "
        f"per GC mode, "
        f"a full collection before each; weights frozen (no optimizer update is timed, "
        f"every call returns the same loss); ratios across processes through the "
        f"hand-written float loop timed in each (GC off), paired by round{quick}.",
        "",
        f"Demo step: MLP(2, {list(c['demo_sizes'])}), {c['demo_points']} moons points, "
        f"hinge + 1e-4 L2, forward + backward:",
        "",
        "| implementation | ms, GC on | ms, GC off | vs micrograd, GC on | vs micrograd, GC off |",
        "|---|--:|--:|--:|--:|",
    ]
    for row in result["demo_step"]:
        lines.append(
            f"| {row['name']} | {_f(row['ms_gc_on'])} | {_f(row['ms_gc_off'])} | "
            f"{_x(row['vs_micrograd_gc_on'])} | {_x(row['vs_micrograd_gc_off'])} |"
        )
    lines += [
        "",
        "Every figure, with issue 14's target:",
        "",
        "| figure | measured | target | |",
        "|---|--:|--:|:-:|",
    ]
    for f in result["figures"]:
        mark = "" if f["met"] is None else ("met" if f["met"] else "**missed**")
        if f["target"] and not math.isfinite(f["value"]):
            mark = "**not measured**"
        shown = Figure(**f).shown()
        lines.append(f"| {f['what']} | {shown} | {f['target']} | {mark} |")
    lines += [
        "",
        "Reference (hand-written float loop) in each process, median ms with GC off "
        "(1-minute load average when the process ended):",
        "",
    ]
    lines.append(
        ", ".join(
            f"{k} {v:.3f} ({result['runs'][k]['load_average']['after'][0]:.1f})"
            for k, v in result["reference_ms"].items()
        )
    )
    errors = [f"{k}: {e}" for k, r in result["runs"].items() for e in r["errors"].values()]
    if errors:
        lines += ["", "Not measured (the error each process reported):", ""]
        lines += [f"- {e}" for e in errors]
    return "\n".join(lines)


def _x(v: float) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{v:.2f}x" if v < 10 else f"{v:.0f}x"


def _f(ms: float) -> str:
    return f"{ms:.3f}" if math.isfinite(ms) else "-"


def chart(result: dict[str, Any], path: Path) -> None:
    """Bar chart (log scale) of the demo step, in reference units so processes compare."""
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["demo_step"] if math.isfinite(r["vs_micrograd_gc_on"])]
    rows.sort(key=lambda r: -r["vs_micrograd_gc_on"])
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    names = [r["name"] for r in rows]
    values = [r["vs_micrograd_gc_on"] for r in rows]
    colors = ["#dd8452" if n.startswith("tapegrad") else "#4c72b0" for n in names]
    ax.barh(names, values, color=colors)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("times faster than micrograd, GC on (log scale, higher is better)")
    for i, v in enumerate(values):
        ax.text(v, i, f"  {_x(v)}", va="center", fontsize=8)
    ax.set_xlim(min(values) / 2, max(values) * 10)
    c = result["config"]
    ax.set_title(f"MLP(2, {list(c['demo_sizes'])}), {c['demo_points']} points: forward + backward")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every worker, check agreement, print and write the results; returns them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repetitions")
    parser.add_argument("--reps", type=int, help="timed calls per task and GC mode (>= 7 in full)")
    parser.add_argument("--out", type=Path, help="directory for results.json, table.md, the chart")
    args = parser.parse_args(None if argv is None else list(argv))
    cfg = worker.QUICK if args.quick else worker.FULL
    reps = args.reps or cfg.reps
    out_dir = args.out or HERE / "results" / ("quick" if args.quick else "")
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    load_before = os.getloadavg()
    started = time.perf_counter()
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    for i, (engine, workload) in enumerate(PLAN, 1):
        t0 = time.perf_counter()
        runs[engine, workload] = run_worker(engine, workload, args.quick, args.reps)
        log(f"[{i}/{len(PLAN)}] {engine} {workload}: {time.perf_counter() - t0:.1f} s")
    agreement = check_agreement(runs)
    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "quick": args.quick,
        "machine": machine(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "seconds": time.perf_counter() - started,
        "config": {**vars(cfg), "reps": reps},
        "protocol": {
            "processes": "one fresh interpreter per (engine, workload); torch only in torch's",
            "timing": "interleaved, rotated order; gc.collect() untimed before every call",
            "clock": "CPU time of the process (time.process_time); wall clock in runs[*].wall",
            "modes": "gc_on: collector enabled while timed; gc_off: disabled while timed",
            "statistic": "median per task and mode",
            "frozen_weights": "no optimizer update inside (or outside) the timed calls",
            "ratio": "median over rounds of task / the process's float loop (GC off), "
            "paired by round; within a process, task / its float loop in the same mode",
        },
        "demo_step": demo_table(runs),
        "figures": [vars(f) for f in figures(runs, judge=not args.quick)],
        "agreement": agreement,
        "reference_ms": {
            f"{e} {w}": _ms(r, "float_loop", "gc_off")
            for (e, w), r in runs.items()
            if "float_loop" in r["times"]
        },
        "runs": {f"{e} {w}": without_gradients(r) for (e, w), r in runs.items()},
    }
    text = markdown(result)
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out_dir / "table.md").write_text(text + "\n")
    chart(result, out_dir / "demo_step.png")
    log(f"wrote {out_dir / 'results.json'}, table.md, demo_step.png ({result['seconds']:.0f} s)")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
