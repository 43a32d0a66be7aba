"""Issue 19's engine defects, pinned: interrupted passes, own attributes, accumulation.

Each test here failed on the engine before the reference redesign.
"""

from __future__ import annotations

import copy
import pickle
import random
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import nn
from autograd import Value, topological_order
from autograd import engine as engine_module

# --- an interrupted backward leaves every .grad as it was -------------------------------

_TRACED = ("autograd/engine.py", "autograd/fastpaths.py", "autograd/opdef.py", "autograd/ops.py")


def _try_lines() -> set[int]:
    """The lines of engine.py that take and give back backward_lock, and `try:` lines.

    An exception a trace function raises there (before the release runs, or before the
    block a `try:` opens protects anything) would leave the lock held; these lines are
    about the lock, not the gradients, so the interrupts below skip them.
    """
    text = Path(engine_module.__file__).read_text().splitlines()
    return {
        i
        for i, line in enumerate(text, 1)
        if line.strip().startswith(("try:", "finally:")) or "backward_lock." in line
    }


_NO_SIGNAL = _try_lines()


def _lock_is_free() -> bool:
    """Whether another thread can take backward_lock (a leaked lock would hang the suite)."""
    got: list[bool] = []

    def take() -> None:
        got.append(engine_module.backward_lock.acquire(False))
        if got[0]:
            engine_module.backward_lock.release()

    t = threading.Thread(target=take)
    t.start()
    t.join()
    return got[0]


class _Interrupt(KeyboardInterrupt):
    """The KeyboardInterrupt a trace function raises at a chosen line."""


@contextmanager
def _interrupt_at(k: int) -> Iterator[list[int]]:
    """Raise `_Interrupt` at the k-th line the engine runs inside the block.

    Lines of engine.py, fastpaths.py, opdef.py, ops.py and of generated code
    count; yields a one-item list holding how many lines ran.
    """
    seen = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        engine_file = frame.f_code.co_filename.endswith("autograd/engine.py")
        if event == "line" and not (engine_file and frame.f_lineno in _NO_SIGNAL):
            seen[0] += 1
            if seen[0] == k:
                raise _Interrupt(f"line {k}")
        return local

    def glob(frame: FrameType, event: str, arg: Any) -> Any:
        name = frame.f_code.co_filename
        if name.endswith(_TRACED) or name.startswith("<tapegrad-generated"):
            return local
        return None

    old = sys.gettrace()
    sys.settrace(glob)
    try:
        yield seen
    finally:
        sys.settrace(old)


def _model_loss() -> tuple[list[Value], Value]:
    rng = random.Random(3)
    model = nn.MLP(2, [3, 1], rng=rng)
    x = [Value(0.5, label="x0"), Value(-1.5, label="x1")]
    out = model(x)
    loss = (out - 0.25) ** 2 + out.relu() * x[0]
    nodes = topological_order(loss)
    return nodes, loss


def _grads(nodes: list[Value]) -> list[Any]:
    return [n.grad for n in nodes]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Value) and isinstance(b, Value):
        return a is b or a.data == b.data
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("create_graph", [False, True])
def test_a_backward_interrupted_at_any_line_leaves_every_grad_as_it_was(
    create_graph: bool,
) -> None:
    nodes, loss = _model_loss()
    loss.backward()  # gradients that must survive every interrupted pass
    for n in nodes:
        if n.grad == 0.0:
            n.grad = None  # PyTorch's "no gradient yet" must survive as well
    before = _grads(nodes)
    loss.backward(create_graph=create_graph)
    after = _grads(nodes)  # what a pass that completes leaves
    assert not all(_same(a, b) for a, b in zip(after, before))
    k, completed = 1, False
    while not completed:
        for n, g in zip(nodes, before):
            n.grad = g
        try:
            with _interrupt_at(k):
                loss.backward(create_graph=create_graph)
            completed = True
        except _Interrupt:
            # all or nothing: as it was, or (interrupted on its way out) the whole pass
            now = _grads(nodes)
            assert all(map(_same, now, before)) or all(map(_same, now, after)), k
        k += 1
    assert k > 50  # the pass was interrupted at every one of its lines first
    assert all(map(_same, _grads(nodes), after))
    assert _lock_is_free()


def test_an_interrupted_functional_transform_changes_no_grad() -> None:
    nodes, loss = _model_loss()
    loss.backward()
    before = _grads(nodes)
    leaf = nodes[0]
    k, completed = 1, False
    while not completed:
        try:
            with _interrupt_at(k):
                engine_module.backprop(loss, 1.0, wrt=[leaf])
            completed = True
        except _Interrupt:
            pass
        assert _grads(nodes) == before, f"interrupted at line {k}"
        k += 1


def test_the_interrupting_tracer_does_interrupt() -> None:
    # the test above proves nothing if no line ever raised: check the tool itself
    _, loss = _model_loss()
    with pytest.raises(_Interrupt), _interrupt_at(5):
        loss.backward()
    with _interrupt_at(10**9) as seen:
        loss.backward()
    assert seen[0] > 50


# --- a Value takes attributes of the user's own, as micrograd's does --------------------


def test_values_take_their_own_attributes_like_micrograds() -> None:
    # EurekaLabs' micrograd keeps AdamW state on each parameter and a colour on nodes
    p = Value(1.0)
    p.m, p.v = 0.0, 0.0
    p.m = 0.9 * p.m + 0.1 * 2.0
    out = (p * 2.0).tanh()
    out._vis_color = "red"
    out.backward()
    assert p.m == pytest.approx(0.2) and p.v == 0.0 and out._vis_color == "red"
    assert p.grad != 0.0
    # copies and pickles keep them, alongside the graph
    q = copy.deepcopy(out)
    assert q._vis_color == "red" and q._prev[0]._prev[0].m == pytest.approx(0.2)
    r = pickle.loads(pickle.dumps(out))
    assert r._vis_color == "red"
    with pytest.raises(AttributeError):
        _ = Value(1.0).m  # an attribute never set is still an error


def _bytes_each(make: Callable[[], object], n: int = 4000) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        made = [make() for _ in range(n)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return (total - 8 * len(made)) / n  # less the list's pointers


def test_what_own_attributes_cost_per_node() -> None:
    # The price of `p.m = ...`: a Value against a twin with the same slots and no
    # __dict__ (CPython 3.11 keeps a managed dict's pointers in front of the object).
    class Twin:
        __slots__ = ("_maker", "_operands", "_seq", "data", "grad")

    extra = sorted(_bytes_each(lambda: Value(0.5)) - _bytes_each(Twin) for _ in range(3))[1]
    assert 24 < extra < 44, extra  # 32 bytes per node (README "Speed"), give or take noise
    # a constant, of which graphs hold many (x * 0.5), has no __dict__ at all
    assert not hasattr(engine_module.constant(0.5), "__dict__")


# --- repeated passes: PyTorch's accumulation, not micrograd's re-propagation -------------


def test_a_gradient_left_in_an_intermediate_node_is_not_propagated_again() -> None:
    # micrograd's backward pushes whatever an intermediate node holds down to the
    # leaves again; tapegrad (like PyTorch) adds each pass's result to what was there
    x = Value(3.0)
    y = x * x
    z = y + 1.0
    z.backward()
    assert (x.grad, y.grad) == (6.0, 1.0)
    z.backward()
    assert (x.grad, y.grad) == (12.0, 2.0)  # micrograd: x.grad 6 + 2 * 6 = 18
    w = y * 2.0  # a second loss through y, while y still holds 2.0
    w.backward()
    assert (x.grad, y.grad) == (24.0, 4.0)


def test_a_rule_that_raises_midway_leaves_every_grad_as_it_was() -> None:
    calls: list[int] = []

    def bad() -> None:
        calls.append(1)
        raise RuntimeError("boom")

    x = Value(2.0)
    y = x * 3.0
    z = Value(y.data + 1.0, (y,), "manual")
    z._backward = bad
    out = z * x
    x.grad = 5.0
    with pytest.raises(RuntimeError, match="boom"):
        out.backward()
    assert calls == [1] and x.grad == 5.0 and y.grad == 0.0 and out.grad == 0.0


def test_the_reference_backward_reads_in_one_place() -> None:
    # the learner's path: Value.backward -> backprop -> chain_rule -> the op's rules
    source = engine_module.backprop.__code__.co_names
    assert "chain_rule" in source and "backward_order" in source
    chain: Callable[..., Any] = engine_module.chain_rule
    assert "vjp" in chain.__code__.co_names
