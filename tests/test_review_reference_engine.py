"""Review of the reference-engine change (issue 19, DESIGN.md "Third wave").

The tests marked BUG fail on the reviewed commit: each names the smallest
reproduction and the behaviour it should have. The others pin behaviour the
review checked and found right but untested: what a micrograd or PyTorch user
does (subclasses, `_backward` closures, own attributes, labels, copies,
pickles, threads, masked sides), each time through the fast paths and the
reference engine (`fastpaths.reference()`).
"""

from __future__ import annotations

import copy
import math
import pickle
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autograd import Value, fastpaths, grad, hessian, topological_order
from autograd import engine as engine_module
from autograd.engine import Constant


def bits(x: float) -> bytes:
    """The IEEE bytes of a float (so -0.0 differs from 0.0)."""
    return struct.pack("<d", x)


def both_engines(run: Callable[[], Any]) -> tuple[Any, Any]:
    """`run()` with the fast paths in place, then with the reference alone."""
    fast = run()
    with fastpaths.reference():
        ref = run()
    return fast, ref


# --- interrupts (see also tests/test_engine_trust.py) --------------------------------------
# An interrupt at backprop's last two line events (the `with` exit, `return None`) comes
# after every gradient is stored: the pass has happened, as if the interrupt had arrived
# just after backward() returned. tests/test_engine_trust.py accepts "as it was" or "the
# whole pass" for those; this test covers every earlier line in both engines.


def test_interrupt_anywhere_inside_the_pass_restores_every_grad() -> None:
    # Verified (both engines, with and without create_graph): an exception raised at any
    # line event before the gradients are stored leaves every .grad as it was, including
    # None, -0.0 and a Value left by create_graph. The last two line events are the bug above.
    class Boom(BaseException):
        pass

    def build() -> tuple[Value, list[Value]]:
        a, b, c = Value(0.5), Value(-1.5), Value(2.0)
        d = a * b + c
        e = (d.tanh() * a - b**2 + 3).relu() + abs(d) * 0.5 + a.leaky_relu(0.1)
        a.grad, b.grad, c.grad, d.grad = -0.0, None, 1.25, Value(7.0)
        return e, [a, b, c, d, e]

    def snapshot(nodes: list[Value]) -> list[Any]:
        return [bits(n.grad) if type(n.grad) is float else n.grad for n in nodes]

    lines: list[int] = []

    def record(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_name == "backprop" and event == "line":
            lines.append(frame.f_lineno)
        return record

    sys.settrace(record)
    try:
        build()[0].backward()
    finally:
        sys.settrace(None)
    after_store = set(lines[-2:])
    # `try:` lines: a signal never lands there, a trace function's exception would leak the lock
    source = Path(engine_module.__file__).read_text().splitlines()
    no_signal = {
        i
        for i, text in enumerate(source, 1)
        if text.strip().startswith(("try:", "finally:")) or "backward_lock." in text
    }

    def check(create_graph: bool) -> int:
        k = 0
        while True:
            k += 5  # every fifth event keeps the test quick
            root, nodes = build()
            before = snapshot(nodes)
            count = [0]

            def tracer(frame: Any, event: str, arg: Any) -> Any:
                if event in ("line", "call"):
                    count[0] += 1  # noqa: B023
                    late = frame.f_code.co_name == "backprop" and (
                        frame.f_lineno in after_store or frame.f_lineno in no_signal
                    )
                    if count[0] >= k and not late and count[0] < 10**9:  # noqa: B023
                        count[0] = 10**9  # noqa: B023  (once: the restore must run in peace)
                        raise Boom
                return tracer

            sys.settrace(tracer)
            try:
                root.backward(create_graph=create_graph)
                return k
            except Boom:
                pass
            finally:
                sys.settrace(None)
            assert snapshot(nodes) == before, (create_graph, k)

    for create_graph in (False, True):
        fast, ref = both_engines(lambda: check(create_graph))  # noqa: B023
        assert fast > 50 and ref > 50


# --- pickle protocols 0 and 1 (the reviewer's find, fixed) ---------------------------------


@pytest.mark.parametrize("protocol", [0, 1])
def test_a_graph_with_a_number_operand_pickles_at_every_protocol(protocol: int) -> None:
    # BUG (regression from 08577bb, where it worked). A number an op receives is now a
    # `Constant` with __slots__ and no __getstate__/__reduce__, so
    #     pickle.dumps(Value(2.0) * 3, protocol=0)
    # raises "a class that defines __slots__ without defining __getstate__ cannot be
    # pickled" (protocols 0 and 1; 2+ work). Issue 19 keeps pickling working for micrograd
    # code, and a Value graph pickled at every protocol before. Right: Constant pickles
    # like Value does (its own __reduce__ or __getstate__).
    x = Value(2.0)
    y = x * 3 + 1
    z = pickle.loads(pickle.dumps(y, protocol=protocol))
    assert z.data == 7.0
    z.backward()
    assert z._prev[0]._prev[0].grad == 3.0


def test_graph_with_constants_pickles_and_copies_at_protocol_2_and_up() -> None:
    x = Value(2.0, label="x")
    y = (x * 3 + 2**x).tanh()
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        z = pickle.loads(pickle.dumps(y, protocol=protocol))
        assert [type(a) for a in z._prev[0]._operands] == [Value, Value]
        assert type(z._prev[0]._prev[0]._operands[1]) is Constant
        assert z.data == y.data
    for z in (copy.deepcopy(y), copy.copy(y)):
        z.backward()
        assert z.data == y.data


# --- pow's rule overflowed where the derivative is 0 (the reviewer's find, fixed) ----------


def test_pow_at_zero_base_is_zero_not_nan_for_a_large_upstream() -> None:
    # BUG, silently wrong gradient (older than this change, but in the rule it edited for
    # "masked sides exactly 0"): d/dx x**2 at x = 0 is 0, and _pow_dx computes it as
    # (g * y) * x**(y - 1), so g * y overflows first:
    #     x = Value(0.0); y = x ** 2 * 1e308; y.backward(); x.grad  # nan
    # PyTorch (pow_backward: grad * (exponent * self.pow(exponent - 1))) gives 0.0.
    # Right: 0.0 (multiply g last, as PyTorch does), in both engines and in compile.
    def run() -> float:
        x = Value(0.0)
        (x**2 * 1e308).backward()
        return float(x.grad)

    fast, ref = both_engines(run)
    assert fast == 0.0
    assert ref == 0.0


# --- verified: masked sides ----------------------------------------------------------------


@pytest.mark.parametrize("upstream", [math.inf, -math.inf, math.nan, 1e308])
def test_masked_sides_pass_exactly_zero_in_both_engines(upstream: float) -> None:
    # DESIGN.md: relu, abs at 0 and leaky_relu with slope 0 pass exactly 0 whatever the
    # upstream gradient. For relu that is PyTorch's threshold_backward. For abs at 0 and
    # leaky_relu(slope=0) PyTorch gives NaN with an infinite or NaN upstream
    # (grad * sgn(0), grad * 0.0): the design's "as PyTorch" holds for relu only, the
    # exact 0 elsewhere is tapegrad's own (documented) choice.
    torch = pytest.importorskip("torch")
    cases: list[tuple[Callable[[Value], Value], float]] = [
        (lambda v: v.relu(), -2.0),
        (lambda v: v.relu(), 0.0),
        (lambda v: abs(v), 0.0),
        (lambda v: v.leaky_relu(0.0), -2.0),
        (lambda v: v.leaky_relu(0), 0.0),
    ]
    for f, at in cases:

        def run() -> bytes:
            x = Value(at)  # noqa: B023
            f(x).backward(upstream)  # noqa: B023
            return bits(x.grad)

        assert both_engines(run) == (bits(0.0), bits(0.0))
    t = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward(torch.tensor(upstream, dtype=torch.float64))
    assert t.grad.item() == 0.0


# --- verified: micrograd code --------------------------------------------------------------


class MicrogradValue(Value):
    """A subclass with micrograd's own `__mul__` (a closure assigned to `_backward`)."""

    def __init__(self, data: Any, _children: Any = (), _op: str = "", label: str = "") -> None:
        super().__init__(data, _children, _op, label)
        self._backward = lambda: None

    def __mul__(self, other: Any) -> MicrogradValue:
        other = other if isinstance(other, Value) else MicrogradValue(other)
        out = MicrogradValue(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    __rmul__ = __mul__


class Tagged(Value):
    """A subclass with a slot of its own."""

    __slots__ = ("tag",)


def test_micrograd_subclass_and_closures_through_both_engines() -> None:
    def run() -> tuple[float, float, str, str]:
        a, b = MicrogradValue(2.0), MicrogradValue(3.0)
        c = a * b * 4  # closures all the way: 4 becomes a MicrogradValue leaf
        d = (c + a).tanh() + c
        d.backward()
        return a.grad, b.grad, type(c).__name__, c._op

    fast, ref = both_engines(run)
    assert fast == ref
    t = 1.0 - math.tanh(26.0) ** 2
    assert fast[:2] == pytest.approx((12.0 * t + t + 12.0, 8.0 * t + 8.0))
    assert fast[2:] == ("MicrogradValue", "*")


def test_micrograd_loop_over_prev_and_backward_never_meets_a_constant() -> None:
    # micrograd's own backward: build_topo over _prev, then node._backward() newest first.
    a = Value(2.0)
    b = ((a * 3 + 1) ** 2 - 2**a) / 4
    topo: list[Value] = []
    seen: set[Value] = set()

    def build(v: Value) -> None:
        if v not in seen:
            seen.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)

    build(b)
    assert all(type(v) is not Constant for v in topo)
    assert topo == topological_order(b)
    b.grad = 1.0
    for v in reversed(topo):
        v._backward()
    expected = (2 * 7 * 3 - 4 * math.log(2)) / 4
    assert a.grad == pytest.approx(expected)
    x = Value(2.0)
    (((x * 3 + 1) ** 2 - 2**x) / 4).backward()
    assert x.grad == pytest.approx(expected)


def test_slotted_subclass_keeps_its_fields_through_copies_and_pickles() -> None:
    a = Tagged(2.0)
    a.tag = "w"
    a.note = "own"
    b = (a * a).tanh()
    b.backward()
    for c in (copy.deepcopy(b), pickle.loads(pickle.dumps(b))):
        leaf = c._prev[0]._prev[0]
        assert type(leaf) is Tagged and leaf.tag == "w" and leaf.note == "own"
        assert leaf.grad == a.grad
    assert copy.copy(a).tag == "w"


# --- verified: own attributes and labels ---------------------------------------------------


def test_own_attributes_and_labels_survive_copies_and_pickles() -> None:
    p = Value(1.0, label="p")
    p.m = 0.5  # an optimizer's state, micrograd style
    q = Value(2.0)
    q.label = "q"
    r = p * q
    r.label = "r"
    assert vars(p) == {"label": "p", "m": 0.5}
    assert vars(Value(3.0)) == {}  # an unnamed node holds nothing of its own
    for s in (copy.copy(r), copy.deepcopy(r), pickle.loads(pickle.dumps(r))):
        assert s.label == "r"
        assert [v.label for v in s._prev] == ["p", "q"]
        assert s._prev[0].m == 0.5
    del p.label
    assert p.label == "" and "label=" not in repr(p)


# --- verified: constants stay out of the public graph --------------------------------------


def test_functional_transforms_of_float_functions_match_torch() -> None:
    torch = pytest.importorskip("torch")

    def f(x: Any, y: Any) -> Any:
        return x * 3 + 2**x + x**2 * y - 1 / (y + 0.5)

    xs = torch.tensor([0.7, 1.3], dtype=torch.float64, requires_grad=True)
    expected = torch.autograd.functional.hessian(lambda t: f(t[0], t[1]), xs)
    h = hessian(f)(0.7, 1.3)
    for row, want in zip(h, expected.tolist(), strict=True):
        assert row == pytest.approx(want, rel=1e-12)
    out = f(xs[0], xs[1])
    (gx,) = torch.autograd.grad(out, xs)
    assert grad(f, argnums=(0, 1))(0.7, 1.3) == pytest.approx(tuple(gx.tolist()), rel=1e-12)


def test_create_graph_through_number_operands_then_a_plain_pass() -> None:
    def run() -> tuple[float, float, float]:
        x = Value(2.0)
        y = x * 3 + 2**x + x**2
        y.backward(create_graph=True)
        g = x.grad
        x.grad = 0.0
        g.backward()
        second = float(x.grad)
        x.grad = None
        y.backward()  # plain pass after create_graph: floats again
        return float(g.data), second, x.grad

    fast, ref = both_engines(run)
    assert [bits(v) for v in fast] == [bits(v) for v in ref]
    assert fast[0] == pytest.approx(3 + 4 * math.log(2) + 4)
    assert fast[1] == pytest.approx(4 * math.log(2) ** 2 + 2)
    assert type(fast[2]) is float


# --- verified: threads ---------------------------------------------------------------------


def test_concurrent_backward_passes_on_shared_weights_all_count() -> None:
    weights = [Value(0.1 * i) for i in range(10)]

    def work() -> None:
        for _ in range(30):
            total = weights[0] * weights[0]
            for w in weights[1:]:
                total = total + w * w * 1.0
            total.backward()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in weights:
        assert w.grad == pytest.approx(120 * 2 * w.data)
