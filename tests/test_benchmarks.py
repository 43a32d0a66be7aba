"""The benchmark harness: its quick run reports every workload, and its parts do what they claim.

No timing is asserted anywhere: the machine is noisy. What is checked is that
the harness runs each engine in its own torch-free process, that every figure
exists and is finite, and that the pieces it trusts (the float-loop
reference, the GC switching, the agreement check) are right.
"""

from __future__ import annotations

import gc
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import reference, run, timing, worker  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text()), proc.stdout, out


def test_every_engine_and_workload_ran_in_its_own_process(quick: Any) -> None:
    result, _, _ = quick
    expected = {f"{e} {w}" for w, engines in worker.WORKLOADS.items() for e in engines}
    assert set(result["runs"]) == expected
    assert {"demo", "scalar", "gpt", "memory", "backward", "widths"} == set(worker.WORKLOADS)
    pids = [r["pid"] for r in result["runs"].values()]
    assert len(set(pids)) == len(pids)
    for name, r in result["runs"].items():
        assert r["loaded"]["torch"] == name.startswith("torch "), name
        if not name.startswith(("tapegrad", "compiled")):
            assert not r["loaded"]["autograd"], name  # micrograd and slots run without tapegrad
        if r["workload"] != "memory":
            times = r["times"]["float_loop"]  # the reference, in every timed process
            assert len(times["gc_on"]) == len(times["gc_off"]) == result["config"]["reps"]


def test_every_figure_is_finite_and_the_targets_are_listed(quick: Any) -> None:
    result, _, _ = quick
    errors = {name: r["errors"] for name, r in result["runs"].items() if r["errors"]}
    assert not errors  # a task or process that failed is named here
    keys = {f["key"] for f in result["figures"]}
    for prefix in (
        "a.eager_vs_micrograd.gc_on",
        "a.eager_vs_micrograd.gc_off",
        "a.eager_vs_float_loop.gc_on",
        "a.compiled_vs_micrograd.gc_on",
        "a.numpy_vs_micrograd.gc_on",
        "a.numpy_vs_torch_batched",
        "a.torch_scalar_vs_micrograd",
        "b.scalar_vs_micrograd.gc_off",
        "c.gpt_vs_slots.gc_on",
        "d.memory_share",
        "d.backward_growth.gc_on",
        "e.compile_ms",
        "e.compile_growth",
    ):
        assert prefix in keys
    for f in result["figures"]:
        assert math.isfinite(f["value"]) and f["value"] > 0, f
        assert f["met"] is None  # quick sizes are too small to judge a target
    for row in result["demo_step"]:
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in row if k.startswith(("ms", "vs")))
    assert result["demo_step"][0]["name"] == "micrograd 0.1.0"


def test_losses_and_gradients_agree_across_processes(quick: Any) -> None:
    result, _, _ = quick
    agreement = result["agreement"]
    assert {"demo", "scalar", "gpt"} <= set(agreement)
    demo = agreement["demo"]["tasks"]
    for task in ("micrograd", "eager", "compiled", "numpy", "torch_scalar", "torch_batched"):
        assert any(t.endswith(": " + task) for t in demo), task
    for group in agreement.values():
        assert group["max_relative_loss_difference"] <= 1e-9
        assert group["max_abs_gradient_difference"] <= 1e-9


def test_the_output_names_the_machine_and_the_command(quick: Any) -> None:
    result, stdout, out = quick
    m = result["machine"]
    assert m["python"] == ".".join(map(str, sys.version_info[:3]))
    assert m["cpu"] and m["cores"] and len(result["load_average"]["before"]) == 3
    assert "benchmarks.run --quick" in result["command"]
    assert m["cpu"] in stdout and result["command"] in stdout
    assert (out / "table.md").read_text().strip() in stdout
    assert (out / "demo_step.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@settings(max_examples=10)
@given(seed=st.integers(0, 2**20), n=st.integers(4, 30), width=st.integers(1, 6))
def test_the_float_loop_reference_computes_the_demo_step(seed: int, n: int, width: int) -> None:
    """The floor is the same step: its loss and gradients equal tapegrad eager's."""
    X, Y = reference.moons(n, seed=seed)
    weights = reference.initial_weights(2, [width, width, 1], seed=seed)
    weights[0][0] = (weights[0][0][0], 0.3)  # a nonzero bias, to check its gradient too
    step, grads = reference.float_step(weights, X, Y)
    task, eager_grads = worker.demo_tapegrad(weights, X, Y)
    assert step() == pytest.approx(task(), rel=1e-12)
    assert grads() == pytest.approx(eager_grads(), rel=1e-9, abs=1e-15)
    assert step() == pytest.approx(task(), rel=1e-12)  # frozen: a second call is the same


def test_initial_weights_are_micrograds() -> None:
    micrograd_nn = pytest.importorskip("micrograd.nn")
    random.seed(1337)
    model = micrograd_nn.MLP(2, [16, 16, 1])
    assert [p.data for p in model.parameters()] == reference.flat(
        reference.initial_weights(2, [16, 16, 1])
    )


def test_gc_is_off_only_inside_gc_off_calls_and_every_call_is_counted() -> None:
    seen: dict[str, list[bool]] = {"a": [], "b": []}

    def task(name: str) -> Any:
        return lambda: seen[name].append(gc.isenabled()) or 1.0

    times, wall, results = timing.interleave({"a": task("a"), "b": task("b")}, reps=3)
    assert gc.isenabled()
    for name in "ab":
        assert [len(times[name][m]) for m in timing.MODES] == [3, 3]
        assert [len(wall[name][m]) for m in timing.MODES] == [3, 3]
        assert seen[name][0] is True  # the warm-up call
        assert sorted(seen[name][1:]) == [False] * 3 + [True] * 3
        assert results[name] == [1.0] * 7


def test_a_failing_call_leaves_the_collector_on() -> None:
    def boom() -> float:
        raise ZeroDivisionError("inside the timed call")

    with pytest.raises(ZeroDivisionError):
        timing.timed_call(boom, gc_enabled=False)
    assert gc.isenabled()


def _fake_run(workload: str, task: str, loss: float, grads: list[float]) -> dict[str, Any]:
    return {"checks": {"float_loop": {"result": 1.0}, task: {"result": loss, "grads": grads}}}


def test_the_agreement_check_names_the_engines_that_disagree() -> None:
    runs = {
        ("micrograd", "gpt"): _fake_run("gpt", "micrograd", 2.0, [0.5, 0.25]),
        ("tapegrad", "gpt"): _fake_run("gpt", "tapegrad", 2.0, [0.5, 0.25 + 1e-13]),
    }
    assert run.check_agreement(runs)["gpt"]["max_abs_gradient_difference"] < 1e-12
    runs["tapegrad", "gpt"] = _fake_run("gpt", "tapegrad", 2.0 + 1e-6, [0.5, 0.25])
    with pytest.raises(AssertionError, match=r"gpt: micrograd gpt: micrograd gives 2\.0"):
        run.check_agreement(runs)
    runs["tapegrad", "gpt"] = _fake_run("gpt", "tapegrad", 2.0, [0.5, 0.26])
    with pytest.raises(AssertionError, match="first at index 1"):
        run.check_agreement(runs)


def test_a_workload_an_engine_does_not_run_is_refused() -> None:
    with pytest.raises(ValueError, match="engine 'slots' does not run workload 'demo'"):
        worker.run("slots", "demo", worker.QUICK, 1)


def test_cross_process_ratios_pair_each_round_with_its_reference() -> None:
    """A round the machine ran slow (ref 10 ms instead of 1) does not tilt the ratio."""
    r = {"times": {"float_loop": {"gc_off": [1.0, 10.0, 1.0]}, "t": {"gc_on": [2.0, 20.0, 30.0]}}}
    assert run._norm(r, "t", "gc_on") == 2.0  # the ratio of the medians would say 20


def test_a_task_that_could_not_run_is_reported_not_measured(quick: Any) -> None:
    result, _, _ = quick
    runs = {tuple(name.split(" ")): dict(r) for name, r in result["runs"].items()}
    runs["compiled", "demo"]["times"] = {
        k: v for k, v in runs["compiled", "demo"]["times"].items() if k != "numpy"
    }
    runs["compiled", "demo"]["errors"] = {"numpy": "TypeError: no numpy today"}
    figs = {f.key: f for f in run.figures(runs)}
    assert math.isnan(figs["a.numpy_vs_micrograd.gc_on"].value)
    assert figs["a.numpy_vs_micrograd.gc_on"].met is None
    assert math.isfinite(figs["a.compiled_vs_micrograd.gc_on"].value)
    page = run.markdown(
        {
            **result,
            "figures": [vars(f) for f in figs.values()],
            "runs": {" ".join(k): r for k, r in runs.items()},
        }
    )
    assert "**not measured**" in page and "compiled demo: TypeError: no numpy today" in page
