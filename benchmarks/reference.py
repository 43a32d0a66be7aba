"""The shared data, weights and hand-written float loop every benchmark process uses (stdlib only).

Nothing here imports tapegrad, micrograd, numpy or torch: each worker process
loads this module first, so the reference workload (micrograd's demo step
written by hand on Python floats) costs the same in every process and
cross-process ratios can be computed through it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from operator import mul

ALPHA = 1e-4  # the L2 weight of micrograd's demo

Weights = list[list[tuple[list[float], float]]]
"""Per layer, per neuron: (weights, bias), in micrograd's parameter order."""


def moons(n: int, noise: float = 0.1, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """Two interleaving half circles (sklearn's make_moons), labels -1/+1, from `random` only.

    Args:
        n: Number of points (the outer moon gets n // 2, the inner the rest).
        noise: Standard deviation of the Gaussian noise added to each coordinate.
        seed: Seed of the private random stream (same points in every process).

    Returns:
        (X, y): X a list of [x0, x1], y the labels (-1 outer, +1 inner).
    """
    rng = random.Random(seed)
    n_out = n // 2
    n_in = n - n_out
    X: list[list[float]] = []
    y: list[float] = []
    for k in range(n_out):
        t = math.pi * k / max(n_out - 1, 1)
        X.append([math.cos(t), math.sin(t)])
        y.append(-1.0)
    for k in range(n_in):
        t = math.pi * k / max(n_in - 1, 1)
        X.append([1.0 - math.cos(t), 0.5 - math.sin(t)])
        y.append(1.0)
    for row in X:
        row[0] += rng.gauss(0.0, noise)
        row[1] += rng.gauss(0.0, noise)
    return X, y


def initial_weights(nin: int, sizes: list[int], seed: int = 1337) -> Weights:
    """micrograd's initial weights: U(-1, 1) drawn from the global `random` in its order, bias 0.

    After `random.seed(seed)`, micrograd's `MLP(nin, sizes)` draws exactly
    these numbers, neuron by neuron (and so does tapegrad's `nn.MLP`).

    Args:
        nin: Number of inputs.
        sizes: Neurons per layer.
        seed: The seed micrograd's demo uses.

    Returns:
        The weights, per layer, per neuron, as (w, b).
    """
    random.seed(seed)
    out: Weights = []
    for fan_in, width in zip([nin, *sizes], sizes):
        out.append([([random.uniform(-1, 1) for _ in range(fan_in)], 0.0) for _ in range(width)])
    return out


def flat(weights: Weights) -> list[float]:
    """The weights as one list in micrograd's `parameters()` order (w..., b per neuron)."""
    return [p for layer in weights for w, b in layer for p in (*w, b)]


def float_step(
    weights: Weights, X: list[list[float]], Y: list[float]
) -> tuple[Callable[[], float], Callable[[], list[float]]]:
    """micrograd's demo step by hand on floats: mean hinge + ALPHA * sum(p^2), forward + backward.

    The floor any pure-Python engine is measured against: the same
    arithmetic as the demo's graph, with nothing recorded. The weights never
    change (no update), so every call returns the same loss and gradients.

    Args:
        weights: The network (relu hidden layers, linear output of one neuron).
        X: The inputs.
        Y: The labels, -1 or +1.

    Returns:
        (step, grads): `step()` runs forward and backward and returns the loss;
        `grads()` the last step's gradients in micrograd's parameter order.
    """
    W = [[list(w) for w, _ in layer] for layer in weights]
    Bs = [[b for _, b in layer] for layer in weights]
    WT = [[list(col) for col in zip(*Wl)] for Wl in W]  # columns, for the input gradients
    depth = len(W)
    last = depth - 1
    scale = 1.0 / len(X)
    rows = list(zip(X, Y))
    result: list[list[list[float]]] = []

    def step() -> float:
        gW = [[[0.0] * len(row) for row in Wl] for Wl in W]
        gB = [[0.0] * len(bl) for bl in Bs]
        data = 0.0
        for x, y in rows:
            acts = [x]
            zs = []
            h = x
            for li in range(depth):
                z = [sum(map(mul, row, h)) + b for row, b in zip(W[li], Bs[li])]
                zs.append(z)
                h = z if li == last else [v if v > 0.0 else 0.0 for v in z]
                acts.append(h)
            margin = 1.0 - y * h[0]
            if margin <= 0.0:
                continue  # an inactive hinge sends no gradient
            data += margin
            g = [-y * scale]
            for li in range(last, -1, -1):
                if li < last:
                    g = [gi if zi > 0.0 else 0.0 for gi, zi in zip(g, zs[li])]
                a = acts[li]
                gWl = gW[li]
                gBl = gB[li]
                for j, gj in enumerate(g):
                    if gj:
                        gWl[j] = [r + gj * ak for r, ak in zip(gWl[j], a)]
                        gBl[j] += gj
                if li:
                    g = [sum(map(mul, col, g)) for col in WT[li]]
        penalty = 0.0
        twice = 2.0 * ALPHA
        for li in range(depth):
            for row, grow in zip(W[li], gW[li]):
                for k, w in enumerate(row):
                    penalty += w * w
                    grow[k] += twice * w
            for j, b in enumerate(Bs[li]):
                penalty += b * b
                gB[li][j] += twice * b
        result[:] = [
            [g for grow, gb in zip(gW[li], gB[li]) for g in (*grow, gb)] for li in range(depth)
        ]
        return data * scale + ALPHA * penalty

    def grads() -> list[float]:
        return [g for layer in result for g in layer]

    return step, grads


def chain_constants(length: int, seed: int = 1) -> list[tuple[float, float]]:
    """The (a, b) constants of the scalar chain `h = relu(h*a + b) + h*0.5`, one pair per step."""
    rng = random.Random(seed)
    return [(rng.uniform(-1.0, 0.5), rng.uniform(-0.2, 0.2)) for _ in range(length)]


def chain_starts(n_chains: int) -> list[float]:
    """Each chain's starting value (distinct, so no two chains compute the same thing)."""
    return [0.1 + 0.9 * k / max(n_chains, 1) for k in range(n_chains)]
