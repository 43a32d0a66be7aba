"""How every figure is timed: interleaved calls, a full collection before each, GC on and off."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

MODES = ("gc_on", "gc_off")
"""gc_on: the cyclic collector runs as it would in a training loop; gc_off: disabled while timed."""


def timed_call(fn: Callable[[], Any], gc_enabled: bool) -> tuple[float, Any]:
    """One call of fn, in seconds, after an untimed full collection.

    The collection first means a call never pays for garbage an earlier
    call (of this task or another) left behind. With GC off the collector is
    disabled only for the timed region; the garbage is collected, untimed,
    before the next call.

    Args:
        fn: The workload (it must not return its graph, only numbers).
        gc_enabled: Whether the cyclic collector may run during the call.

    Returns:
        (seconds, fn's return value).
    """
    gc.collect()
    if not gc_enabled:
        gc.disable()
    try:
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    return elapsed, result


def interleave(
    tasks: Mapping[str, Callable[[], Any]], reps: int
) -> tuple[dict[str, dict[str, list[float]]], dict[str, list[Any]]]:
    """Time each task reps times in each GC mode, taking turns, after one untimed warm-up call.

    Round r runs the tasks in an order rotated by r, each in both modes (the
    mode order alternating), so drift on a noisy machine spreads over all of
    them instead of landing on one.

    Args:
        tasks: Name -> workload.
        reps: Timed calls per task and mode.

    Returns:
        (times, results): per task, per mode, the seconds of each call; per
        task, every call's return value (frozen weights: they must agree).
    """
    names = list(tasks)
    times = {name: {mode: [] for mode in MODES} for name in names}
    results: dict[str, list[Any]] = {name: [] for name in names}
    for name in names:
        results[name].append(tasks[name]())  # warm-up: caches, lazily built programs
    for r in range(reps):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                seconds, result = timed_call(tasks[name], mode == "gc_on")
                times[name][mode].append(seconds)
                results[name].append(result)
    gc.collect()
    return times, results


def median(xs: list[float]) -> float:
    """The median, NaN for no data."""
    return statistics.median(xs) if xs else math.nan
