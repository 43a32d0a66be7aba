"""How every figure is timed: interleaved calls, a full collection before each, GC on and off.

Times are the process's CPU time (`time.process_time`): on a shared machine
the wall clock also counts the slices the scheduler gave other processes,
which made calls of one task bimodal (1.5 or 9.6 ms) under a load average of
7 on 2 cores. Wall-clock times are recorded beside them.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

MODES = ("gc_on", "gc_off")
"""gc_on: the cyclic collector runs as it would in a training loop; gc_off: disabled while timed."""


def timed_call(fn: Callable[[], Any], gc_enabled: bool) -> tuple[float, float, Any]:
    """One call of fn, in CPU and wall seconds, after an untimed full collection.

    The collection first means a call never pays for garbage an earlier
    call (of this task or another) left behind. With GC off the collector is
    disabled only for the timed region; the garbage is collected, untimed,
    before the next call.

    Args:
        fn: The workload (it must not return its graph, only numbers).
        gc_enabled: Whether the cyclic collector may run during the call.

    Returns:
        (CPU seconds, wall seconds, fn's return value).
    """
    gc.collect()
    if not gc_enabled:
        gc.disable()
    try:
        wall = time.perf_counter()
        cpu = time.process_time()
        result = fn()
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    finally:
        gc.enable()
    return cpu, wall, result


def interleave(
    tasks: Mapping[str, Callable[[], Any]], reps: int
) -> tuple[
    dict[str, dict[str, list[float]]], dict[str, dict[str, list[float]]], dict[str, list[Any]]
]:
    """Time each task reps times in each GC mode, taking turns, after one untimed warm-up call.

    Round r runs the tasks in an order rotated by r, each in both modes (the
    mode order alternating), so drift on a noisy machine spreads over all of
    them instead of landing on one.

    Args:
        tasks: Name -> workload.
        reps: Timed calls per task and mode.

    Returns:
        (times, wall, results): per task, per mode, the CPU seconds of each
        call, and its wall-clock seconds; per task, every call's return value
        (frozen weights: they must agree).
    """
    names = list(tasks)
    times: dict[str, dict[str, list[float]]] = {
        name: {mode: [] for mode in MODES} for name in names
    }
    wall: dict[str, dict[str, list[float]]] = {name: {mode: [] for mode in MODES} for name in names}
    results: dict[str, list[Any]] = {name: [] for name in names}
    for name in names:
        results[name].append(tasks[name]())  # warm-up: caches, lazily built programs
    for r in range(reps):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                cpu, seconds, result = timed_call(tasks[name], mode == "gc_on")
                times[name][mode].append(cpu)
                wall[name][mode].append(seconds)
                results[name].append(result)
    gc.collect()
    return times, wall, results


def median(xs: list[float]) -> float:
    """The median, NaN for no data."""
    return statistics.median(xs) if xs else math.nan
