"""A tiny character-level GPT on scalar Values, written the way microgpt is: all of it in this file.

    .venv/bin/python examples/tiny_gpt.py              # 300 steps on generated names
    .venv/bin/python examples/tiny_gpt.py --steps 50 --embd 8

Every number is one scalar Value: embeddings, attention with a KV cache,
rmsnorm, an MLP block and the softmax are built from `+`, `*`, `**`,
`exp`, `log` and `relu` and Python's builtin `sum` of products (no n-ary
ops), so the same code runs on any micrograd-style Value class. The data
set is generated (pronounceable made-up names from a seeded random stream),
nothing is downloaded. The benchmark harness imports this module (workload c)
and runs it on tapegrad's Value and on a minimal `__slots__` Value.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ONSETS = ["", "b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
ONSETS += ["br", "ch", "kr", "sh", "st", "th", "tr"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "y"]
CODAS = ["", "", "", "n", "r", "l", "s", "th", "x"]


def make_names(n: int, seed: int = 0) -> list[str]:
    """n made-up names of one to three syllables (onset, vowel, coda), lower case.

    Args:
        n: How many names.
        seed: Seed of the private random stream (the same names every time).

    Returns:
        The names; letters only, 2 to 12 characters each.
    """
    rng = random.Random(seed)
    names = []
    while len(names) < n:
        syllables = rng.choice([1, 2, 2, 2, 3, 3])
        name = "".join(
            rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)
        )
        if 2 <= len(name) <= 12:
            names.append(name)
    return names


@dataclass(frozen=True)
class Config:
    """The model's sizes (microgpt's defaults: 16-wide, 4 heads, 1 layer, 16 positions)."""

    vocab_size: int
    n_embd: int = 16
    n_head: int = 4
    n_layer: int = 1
    block_size: int = 16


class Tokenizer:
    """Characters to ids and back; id `bos` (the last) marks a name's start and end."""

    def __init__(self, docs: Sequence[str]) -> None:
        self.chars = sorted(set("".join(docs)))
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {c: i for i, c in enumerate(self.chars)}

    def encode(self, doc: str) -> list[int]:
        """BOS, the characters' ids, BOS."""
        return [self.bos, *(self._ids[c] for c in doc), self.bos]

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of ids (BOS dropped)."""
        return "".join(self.chars[i] for i in ids if i != self.bos)


Matrix = list[list[Any]]
Params = dict[str, Matrix]


def init_params(cfg: Config, value: Callable[[float], Any], seed: int = 42) -> Params:
    """The weights as Values made by `value`, drawn N(0, 0.08) from a seeded stream.

    Args:
        cfg: The sizes.
        value: The Value class (or any float -> Value function).
        seed: Same seed, same numbers, whatever the Value class.

    Returns:
        Matrices by name (rows of Values): wte, wpe, lm_head and each layer's
        attention and MLP weights.
    """
    rng = random.Random(seed)

    def matrix(rows: int, cols: int) -> Matrix:
        return [[value(rng.gauss(0.0, 0.08)) for _ in range(cols)] for _ in range(rows)]

    e = cfg.n_embd
    params = {
        "wte": matrix(cfg.vocab_size, e),
        "wpe": matrix(cfg.block_size, e),
        "lm_head": matrix(cfg.vocab_size, e),
    }
    for i in range(cfg.n_layer):
        for name in ("wq", "wk", "wv", "wo"):
            params[f"layer{i}.attn_{name}"] = matrix(e, e)
        params[f"layer{i}.mlp_fc1"] = matrix(4 * e, e)
        params[f"layer{i}.mlp_fc2"] = matrix(e, 4 * e)
    return params


def parameters(params: Params) -> list[Any]:
    """Every weight, in a fixed order."""
    return [p for matrix in params.values() for row in matrix for p in row]


def linear(x: list[Any], w: Matrix) -> list[Any]:
    """w @ x, one builtin sum of products per output."""
    return [sum(wi * xi for wi, xi in zip(row, x)) for row in w]


def softmax(logits: list[Any]) -> list[Any]:
    """exp(l - max) / sum(exp(l - max)); the max is a constant (read from .data)."""
    top = max(v.data for v in logits)
    exps = [(v - top).exp() for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x: list[Any]) -> list[Any]:
    """x / sqrt(mean(x^2) + 1e-5), written as a power."""
    ms = sum(xi * xi for xi in x) / len(x)
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def gpt(
    params: Params,
    cfg: Config,
    token: int,
    pos: int,
    keys: list[list[Any]],
    values: list[list[Any]],
) -> list[Any]:
    """The logits of the next token after `token` at position `pos`; appends to the KV cache.

    Args:
        params: The weights.
        cfg: The sizes.
        token: The current token id.
        pos: Its position (< block_size).
        keys: Per layer, the keys of the positions so far (this one is appended).
        values: Likewise the values.

    Returns:
        vocab_size logits (Values).
    """
    x = [t + p for t, p in zip(params["wte"][token], params["wpe"][pos])]
    x = rmsnorm(x)
    head_dim = cfg.n_embd // cfg.n_head
    for li in range(cfg.n_layer):
        residual = x
        x = rmsnorm(x)
        q = linear(x, params[f"layer{li}.attn_wq"])
        k = linear(x, params[f"layer{li}.attn_wk"])
        v = linear(x, params[f"layer{li}.attn_wv"])
        keys[li].append(k)
        values[li].append(v)
        attended: list[Any] = []
        for h in range(cfg.n_head):
            lo = h * head_dim
            q_h = q[lo : lo + head_dim]
            k_h = [kt[lo : lo + head_dim] for kt in keys[li]]
            v_h = [vt[lo : lo + head_dim] for vt in values[li]]
            scores = [sum(q_h[j] * kt[j] for j in range(head_dim)) / head_dim**0.5 for kt in k_h]
            weights = softmax(scores)
            attended += [sum(w * vt[j] for w, vt in zip(weights, v_h)) for j in range(head_dim)]
        x = linear(attended, params[f"layer{li}.attn_wo"])
        x = [a + b for a, b in zip(x, residual)]
        residual = x
        x = rmsnorm(x)
        x = [xi.relu() for xi in linear(x, params[f"layer{li}.mlp_fc1"])]
        x = linear(x, params[f"layer{li}.mlp_fc2"])
        x = [a + b for a, b in zip(x, residual)]
    return linear(x, params["lm_head"])


def doc_loss(params: Params, cfg: Config, tokens: Sequence[int]) -> Any:
    """Mean of -log p(next token) over one document (at most block_size predictions).

    Args:
        params: The weights.
        cfg: The sizes.
        tokens: The document's ids, BOS at both ends.

    Returns:
        The loss, a Value whose graph reaches every weight used.
    """
    n = min(cfg.block_size, len(tokens) - 1)
    keys: list[list[Any]] = [[] for _ in range(cfg.n_layer)]
    values: list[list[Any]] = [[] for _ in range(cfg.n_layer)]
    losses = []
    for pos in range(n):
        probs = softmax(gpt(params, cfg, tokens[pos], pos, keys, values))
        losses.append(-probs[tokens[pos + 1]].log())
    return (1 / n) * sum(losses)


class Adam:
    """Adam on the weights' .data/.grad (microgpt's settings), learning rate decaying linearly."""

    def __init__(self, params: list[Any], lr: float, steps: int) -> None:
        self.params = params
        self.lr, self.steps, self.t = lr, steps, 0
        self.beta1, self.beta2, self.eps = 0.85, 0.99, 1e-8
        self.m = [0.0] * len(params)
        self.v = [0.0] * len(params)

    def step(self) -> None:
        """One update from the gradients, then the gradients set back to zero."""
        self.t += 1
        lr = self.lr * (1 - (self.t - 1) / self.steps)
        c1 = 1 - self.beta1**self.t  # bias corrections: m and v start at 0
        c2 = 1 - self.beta2**self.t
        for i, p in enumerate(self.params):
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * p.grad
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * p.grad**2
            p.data -= lr * (self.m[i] / c1) / (math.sqrt(self.v[i] / c2) + self.eps)
            p.grad = 0.0


def train(
    value: Callable[[float], Any],
    docs: Sequence[str],
    cfg: Config,
    tok: Tokenizer,
    steps: int,
    lr: float = 1e-2,
    seed: int = 42,
    log: Callable[[int, float], None] | None = None,
) -> tuple[Params, list[float]]:
    """Train on one document per step (in order, cycling), with Adam.

    Args:
        value: The Value class to build the model from.
        docs: The training documents.
        cfg: The sizes.
        tok: The tokenizer.
        steps: Number of updates.
        lr: Adam's initial learning rate.
        seed: Seed of the initial weights.
        log: Called with (step, loss) after every step.

    Returns:
        The trained weights and each step's loss.
    """
    params = init_params(cfg, value, seed)
    opt = Adam(parameters(params), lr, steps)
    history = []
    for step in range(steps):
        loss = doc_loss(params, cfg, tok.encode(docs[step % len(docs)]))
        loss.backward()
        opt.step()
        history.append(loss.data)
        if log is not None:
            log(step, loss.data)
    return params, history


def sample(
    params: Params, cfg: Config, tok: Tokenizer, rng: random.Random, temperature: float = 0.6
) -> str:
    """One generated name: tokens drawn from the softmax until BOS or block_size."""
    keys: list[list[Any]] = [[] for _ in range(cfg.n_layer)]
    values: list[list[Any]] = [[] for _ in range(cfg.n_layer)]
    token, out = tok.bos, []
    for pos in range(cfg.block_size):
        logits = gpt(params, cfg, token, pos, keys, values)
        probs = softmax([logit / temperature for logit in logits])
        token = rng.choices(range(cfg.vocab_size), weights=[p.data for p in probs])[0]
        if token == tok.bos:
            break
        out.append(token)
    return tok.decode(out)


def main(argv: Sequence[str] | None = None) -> list[float]:
    """Train on generated names with tapegrad's Value, print the loss, sample a few names."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (one name each)")
    parser.add_argument("--embd", type=int, default=16, help="embedding width")
    parser.add_argument("--heads", type=int, default=4, help="attention heads")
    parser.add_argument("--layers", type=int, default=1, help="transformer blocks")
    parser.add_argument("--names", type=int, default=1000, help="size of the generated data set")
    parser.add_argument("--seed", type=int, default=42, help="seed of the initial weights")
    args = parser.parse_args(argv)

    from autograd import Value

    docs = make_names(args.names)
    tok = Tokenizer(docs)
    cfg = Config(tok.vocab_size, args.embd, args.heads, args.layers)
    every = max(1, args.steps // 12)
    started = time.perf_counter()

    def log(step: int, loss: float) -> None:
        if step % every == 0 or step == args.steps - 1:
            print(f"step {step + 1:4d} / {args.steps}  loss {loss:.4f}", flush=True)

    print(f"{len(docs)} generated names, e.g. {', '.join(docs[:5])}; vocabulary {cfg.vocab_size}")
    params, history = train(Value, docs, cfg, tok, args.steps, seed=args.seed, log=log)
    tail = history[-min(50, len(history)) :]
    print(
        f"mean loss of the first and last {len(tail)} steps: "
        f"{sum(history[: len(tail)]) / len(tail):.4f} -> {sum(tail) / len(tail):.4f} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    rng = random.Random(0)
    print("samples:", ", ".join(sample(params, cfg, tok, rng) for _ in range(8)))
    return history


if __name__ == "__main__":
    main(sys.argv[1:])
