"""Steps per second of a playground run, through ``Run.step()`` as ``tapegrad serve`` trains.

The run is the issue's: MLP(2, [16, 16, 1]) on 200 moons with the default loss
(hinge + 1e-4 * sum(W^2)) and optimizer (SGD, lr 1), full batch (the default
batch size) and batches of 32. Each timed run is a fresh ``Run`` (so its first
step, which traces and compiles the program, is included) taking 100 steps;
the figure is the median of 5 runs. Target (issue 12): above 20 steps/s.

    .venv/bin/python benchmarks/playground.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nn.playground import Run

STEPS = 100
REPEATS = 5


def steps_per_second(options: dict[str, object]) -> float:
    """100 steps of a fresh run, as steps per second."""
    run = Run(options)
    try:
        start = time.perf_counter()
        for _ in range(STEPS):
            run.step()
        seconds = time.perf_counter() - start
    finally:
        run.close()
    assert run.state()["step"] == STEPS and run.diverged is None
    return STEPS / seconds


def main() -> None:
    """Print the command, the machine and the median steps per second of each case."""
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"MLP(2, [16, 16, 1]) on 200 moons, hinge, SGD lr 1; median of {REPEATS} runs of {STEPS}")
    for label, batch in (("full batch (the default)", 0), ("batches of 32", 32)):
        options: dict[str, object] = {"samples": 200, "hidden": "16,16", "batch_size": batch}
        rates = [steps_per_second(options) for _ in range(REPEATS)]
        low, high = min(rates), max(rates)
        print(
            f"  {label:<26} {statistics.median(rates):7.1f} steps/s  "
            f"(runs: {low:.1f} .. {high:.1f}; target > 20)"
        )


if __name__ == "__main__":
    main()
