"""examples/tiny_gpt.py: the loss falls; tapegrad's gradients equal the minimal slots Value's."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "examples"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import tiny_gpt as g  # noqa: E402

from autograd import Value  # noqa: E402
from benchmarks.slotvalue import Value as SlotValue  # noqa: E402

DOCS = g.make_names(200)
TOK = g.Tokenizer(DOCS)
SMALL = g.Config(TOK.vocab_size, n_embd=8, n_head=2, n_layer=1, block_size=8)


def _loss_and_grads(
    value: Any, cfg: g.Config, docs: list[str], seed: int
) -> tuple[list[float], list[float]]:
    params = g.init_params(cfg, value, seed)
    losses = []
    for doc in docs:
        loss = g.doc_loss(params, cfg, TOK.encode(doc))
        loss.backward()  # gradients accumulate over the documents
        losses.append(loss.data)
    return losses, [p.grad for p in g.parameters(params)]


def test_names_are_deterministic_letters_and_round_trip() -> None:
    assert g.make_names(50, seed=3) == g.make_names(50, seed=3)
    assert g.make_names(50, seed=3) != g.make_names(50, seed=4)
    assert all(2 <= len(n) <= 12 and n.isalpha() and n.islower() for n in DOCS)
    for name in DOCS[:20]:
        ids = TOK.encode(name)
        assert ids[0] == ids[-1] == TOK.bos and TOK.bos not in ids[1:-1]
        assert TOK.decode(ids) == name


def test_the_loss_falls_over_a_few_steps() -> None:
    docs = DOCS[:6]
    start = g.init_params(SMALL, Value, seed=1)
    before = sum(g.doc_loss(start, SMALL, TOK.encode(d)).data for d in docs) / len(docs)
    params, history = g.train(Value, docs, SMALL, TOK, steps=36, lr=2e-2, seed=1)
    after = sum(g.doc_loss(params, SMALL, TOK.encode(d)).data for d in docs) / len(docs)
    assert len(history) == 36 and all(math.isfinite(x) for x in history)
    assert math.isclose(history[0], g.doc_loss(start, SMALL, TOK.encode(docs[0])).data)
    assert after < before - 0.3, (before, after)  # the untrained loss is about log(vocab)


@given(
    docs=st.lists(
        st.text(alphabet="".join(TOK.chars), min_size=1, max_size=10), min_size=1, max_size=2
    ),
    seed=st.integers(0, 2**16),
)
def test_gradients_equal_the_slots_values(docs: list[str], seed: int) -> None:
    cfg = g.Config(TOK.vocab_size, n_embd=4, n_head=2, n_layer=1, block_size=8)
    ours, our_grads = _loss_and_grads(Value, cfg, docs, seed)
    theirs, their_grads = _loss_and_grads(SlotValue, cfg, docs, seed)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert our_grads == pytest.approx(their_grads, rel=1e-9, abs=1e-12)
    assert any(x != 0.0 for x in our_grads)


def test_the_slots_value_matches_central_differences() -> None:
    """The bar tapegrad is held to is itself right: its gradients are the loss's derivatives."""
    cfg = g.Config(TOK.vocab_size, n_embd=4, n_head=2, n_layer=1, block_size=8)
    tokens = TOK.encode(DOCS[0])
    params = g.init_params(cfg, SlotValue, seed=5)
    g.doc_loss(params, cfg, tokens).backward()
    flat = g.parameters(params)
    used = [p for p in flat if p.grad != 0.0]
    for p in used[:: max(1, len(used) // 12)]:
        x, h = p.data, 1e-6
        p.data = x + h
        up = g.doc_loss(params, cfg, tokens).data
        p.data = x - h
        down = g.doc_loss(params, cfg, tokens).data
        p.data = x
        assert p.grad == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-8)


def test_the_example_trains_and_prints_the_loss(capsys: pytest.CaptureFixture[str]) -> None:
    history = g.main(["--steps", "4", "--embd", "4", "--heads", "2", "--names", "30"])
    out = capsys.readouterr().out
    assert len(history) == 4
    assert "step    1 / 4  loss" in out and "step    4 / 4  loss" in out
    assert f"{history[-1]:.4f}" in out and "samples:" in out
