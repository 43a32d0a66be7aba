"""The engine: Value, graph recording through ops, topological order and the backward loop.

There is no calculus in this file. Every derivative lives next to its forward
rule in `autograd/ops.py`; this module only records which op made which Value
from which operands, and walks that record backwards applying the rules.
"""

from __future__ import annotations

import decimal
import itertools
import math
import numbers
import operator
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeAlias

Operand: TypeAlias = "Value | float | int"
Rule = Callable[..., Any]

# One context variable holds both switches so the hot path reads it once.
# Bit 1: recording disabled (no_grad).  Bit 2: anomaly detection on.
_NO_GRAD = 1
_ANOMALY = 2
_mode: ContextVar[int] = ContextVar("tapegrad_mode", default=0)

# Counts the backward(create_graph=True) passes, which may leave Values in
# `.grad` fields: a compiled program, which adds floats into `.grad`, turns such
# gradients back into floats first (as a plain backward does) when it changes.
graph_grads_epoch = 0

# While a functional transform (`grad`, `value_and_grad`, `hessian`) runs, the
# leaves made with `Value(...)` are logged here, so the transform can tell its
# own leaves from Values made outside it that the function closed over.
leaf_log: ContextVar[list[Value] | None] = ContextVar("tapegrad_leaf_log", default=None)

# Backward passes keep their running gradients in the nodes' `.grad` fields, so
# two passes over shared nodes must not interleave: one pass at a time, per
# process (re-entrant, so a rule may itself differentiate something).
backward_lock = threading.RLock()

# Every node an op records gets the next number of this counter: an operand is
# always older than its result, so sorting a graph's nodes by number, newest
# first, is a reverse topological order (the order of recording, kept for free).
# Leaves are numbered 0, constants -1 (see `constant`).
_tick = itertools.count(1).__next__


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: operations inside record no graph and return leaf Values.

    Like `torch.no_grad()`. It is a context variable, so other threads and
    asyncio tasks keep their own setting.
    """
    token = _mode.set(_mode.get() | _NO_GRAD)
    try:
        yield
    finally:
        _mode.reset(token)


@contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager: turn recording back on inside a `no_grad()` block."""
    token = _mode.set(_mode.get() & ~_NO_GRAD)
    try:
        yield
    finally:
        _mode.reset(token)


def is_grad_enabled() -> bool:
    """True when operations on Values are being recorded."""
    return not _mode.get() & _NO_GRAD


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Context manager: the first op producing a NaN/inf value or gradient raises.

    The `FloatingPointError` names the op, its inputs and, in the backward
    pass, the node whose gradient went bad.
    """
    token = _mode.set(_mode.get() | _ANOMALY)
    try:
        yield
    finally:
        _mode.reset(token)


def _type_error(x: object, where: str) -> TypeError:
    return TypeError(
        f"{where} must be a real number (int, float, bool or numpy scalar), "
        f"got {type(x).__name__}: {x!r}"
    )


def as_float(x: object, where: str = "Value data") -> float:
    """Convert a real number to a Python float; anything else is a TypeError.

    Real numbers are ints, floats, bools, `fractions.Fraction`, `decimal.Decimal`
    and numpy's integer, float and bool scalars; complex numbers, strings, None
    and containers are not.
    """
    if type(x) is float:
        return x
    if isinstance(x, (int, float)):  # bool is an int; numpy float64 is a float
        return float(x)
    if isinstance(x, Value):
        raise TypeError(f"{where} must be a number, got a Value ({x!r}); pass the Value itself")
    if isinstance(x, (numbers.Real, decimal.Decimal)):  # Fraction, Decimal, numpy scalars
        return float(x)
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if kind in ("b", "i", "u", "f") and getattr(x, "ndim", None) == 0:
        return float(x)  # type: ignore[arg-type]  # a 0-d numpy array
    raise _type_error(x, where)


def _ops_not_loaded(*args: Any) -> Any:
    raise RuntimeError("autograd.ops failed to load, so Value has no operators")


# Value's operators dispatch to these ops. autograd/ops.py defines them and binds
# them here when it loads (it imports this module first, so binding goes that way).
_add: Callable[[Operand, Operand], Value] = _ops_not_loaded
_sub: Callable[[Operand, Operand], Value] = _ops_not_loaded
_mul: Callable[[Operand, Operand], Value] = _ops_not_loaded
_div: Callable[[Operand, Operand], Value] = _ops_not_loaded
_pow: Callable[[Operand, Operand], Value] = _ops_not_loaded
_neg: Callable[[Value], Value] = _ops_not_loaded
_abs: Callable[[Value], Value] = _ops_not_loaded


class Value:
    """One float in a computation graph, with the gradient a backward pass leaves in it.

    `Value(data, _children=(), _op='', label='')` has micrograd's signature, so
    code written for micrograd (and its graph-drawing snippet) keeps working.
    A node holds its operands in one tuple, `_operands` (a number an op
    received is stored there as a constant Value; `_prev` leaves constants
    out), the op that made it (`_fn`, whose symbol `_op` shows) and its
    place in the order of recording (`_n`).

    An op can also be added the micrograd way: build `out = Value(data,
    (x, ...), 'name')` and assign `out._backward = fn`, where `fn()` adds
    `local * out.grad` into each operand's `.grad`; `backward()` then calls it.
    Reading `node._backward` gives a function applying that node's rule once,
    as micrograd's closure does (lecture code steps backprop node by node).
    """

    __slots__ = ("__weakref__", "_fn", "_label", "_n", "_operands", "data", "grad")

    data: float
    grad: Any  # a float, or a Value after backward(create_graph=True)
    _operands: tuple[Value, ...]
    _fn: Op | None
    _n: int

    def __init__(
        self, data: Any, _children: Iterable[Value] = (), _op: str = "", label: str = ""
    ) -> None:
        self.data = data if type(data) is float else as_float(data)
        self.grad = 0.0
        self._label = label
        prev = self._operands = tuple(_children)
        if prev:
            for c in prev:
                if not isinstance(c, Value):
                    raise TypeError(f"Value children must be Values, got {type(c).__name__}: {c!r}")
            # A node built by hand has no rule until `_backward` is assigned.
            self._fn = ManualRule(None, _op)
            self._n = _tick()
        else:
            self._fn = ManualRule(None, _op) if _op else None
            self._n = 0
            log = leaf_log.get()
            if log is not None:
                log.append(self)

    @property
    def label(self) -> str:
        """A name for drawings and tapes ('' when none was given)."""
        try:
            return self._label
        except AttributeError:  # nodes made by ops leave the slot empty until named
            return ""

    @label.setter
    def label(self, name: str) -> None:
        self._label = name

    @property
    def _op(self) -> str:
        """The symbol of the op that made this node ('' for a leaf), as micrograd names it."""
        fn = self._fn
        return "" if fn is None else fn.symbol

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The Values this node was computed from (constants left out), as micrograd names them."""
        ops = self._operands
        for a in ops:
            if a._n < 0:
                return tuple([a for a in ops if a._n >= 0])
        return ops

    @property
    def _args(self) -> tuple[Any, ...] | None:
        """The operands with constants shown as the numbers they are; None when there are none."""
        ops = self._operands
        for a in ops:
            if a._n < 0:
                return tuple([a.data if a._n < 0 else a for a in ops])
        return None

    def __repr__(self) -> str:
        # Full precision, as micrograd prints it: repr(float) round-trips exactly.
        label = self.label
        extra = f", label={label!r}" if label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{extra})"

    @property
    def _backward(self) -> Callable[[], None]:
        """This node's chain-rule step: adds `local derivative * self.grad` into each operand."""
        fn = self._fn
        if isinstance(fn, ManualRule) and fn.fn is not None:
            manual: Callable[[], None] = fn.fn
            return manual
        return lambda: _apply_node(self)

    @_backward.setter
    def _backward(self, fn: Callable[[], None]) -> None:
        if not callable(fn):
            raise TypeError(f"_backward must be a function, got {type(fn).__name__}")
        if not self._operands:  # a leaf has no operands to pass a gradient to (micrograd's no-op)
            return
        self._fn = ManualRule(fn, self._op)

    def __copy__(self) -> Value:
        """A new node with the same data, grad, label, op and operands."""
        _refuse_copy(self)
        new = _new(type(self))
        new.__setstate__(self.__getstate__())
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in _fields(self)}
        extra = getattr(self, "__dict__", None)  # a subclass's own attributes
        if extra:
            state.update(extra)
        return state

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # (the graph below, this node's fields, marker)
            state = state[1]
        renumbered = hasattr(self, "_n")  # by its graph's _renumber, before this state
        for name, value in state.items():
            if name != "_n" or not renumbered:
                object.__setattr__(self, name, value)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickle iteratively: the first Value pickled lists its graph, leaves first.

        Each node is then pickled after its operands and its gradient's graph,
        which the pickler already holds, so no node's state nests the next one
        (a chain of any depth pickles) and Values shared with the rest of the
        pickle stay shared.
        """
        state = self.__getstate__()
        scheduled: dict[int, Any] = _pickling.__dict__.setdefault("ids", {})
        below = []
        if not _is_scheduled(scheduled, self):
            below = [n for n in _reachable(self) if not _is_scheduled(scheduled, n)]
        for n in below or (self,):  # refuse before anything is listed
            _refuse_copy(n, "pickle")
        if below:  # this node itself last (the pickler already holds it: a reference)
            ids = [id(n) for n in below]
            for n in below:
                scheduled[id(n)] = weakref.ref(n)
            return (_new, (type(self),), (below, state, _Unschedule(ids, below)))
        return (_new, (type(self),), state)

    def __deepcopy__(self, memo: dict[int, Any]) -> Value:
        """Copy the whole graph below this Value, iteratively (any depth), ops by reference.

        Gradients that are Values (after `backward(create_graph=True)`) are
        copied with their graphs, sharing nodes as the originals do.
        """
        import copy

        nodes = _reachable(self)
        for node in nodes:
            _refuse_copy(node, "copy")
        made = []
        for node in nodes:  # first every node, then their fields: cycles through .grad are fine
            if id(node) not in memo:
                memo[id(node)] = _new(type(node))
                made.append(node)
        for node in made:
            new = memo[id(node)]
            for name in _fields(node):
                object.__setattr__(new, name, getattr(node, name))
            new._operands = tuple([memo[id(c)] for c in node._operands])
            g = node.grad
            new.grad = memo[id(g)] if isinstance(g, Value) else g
            state = getattr(node, "__dict__", None)  # a subclass's own attributes
            if state:
                new.__dict__.update(copy.deepcopy(state, memo))
        _renumber([memo[id(n)] for n in made], [n._n for n in made])
        memo.setdefault(id(memo), []).append(nodes)  # keep the originals alive, as copy does
        result: Value = memo[id(self)]
        return result

    def item(self) -> float:
        """The wrapped number as a Python float."""
        return self.data

    # Operators and methods only dispatch into autograd.ops.
    def __add__(self, other: Operand) -> Value:
        return _add(self, other)

    def __radd__(self, other: Operand) -> Value:
        return _add(other, self)

    def __sub__(self, other: Operand) -> Value:
        return _sub(self, other)

    def __rsub__(self, other: Operand) -> Value:
        return _sub(other, self)

    def __mul__(self, other: Operand) -> Value:
        return _mul(self, other)

    def __rmul__(self, other: Operand) -> Value:
        return _mul(other, self)

    def __truediv__(self, other: Operand) -> Value:
        return _div(self, other)

    def __rtruediv__(self, other: Operand) -> Value:
        return _div(other, self)

    def __pow__(self, other: Operand) -> Value:
        return _pow(self, other)

    def __rpow__(self, other: Operand) -> Value:
        return _pow(other, self)

    def __neg__(self) -> Value:
        return _neg(self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return _abs(self)

    # Comparisons look at .data only; == and hash stay identity so Values live in sets.
    def __lt__(self, other: Operand) -> bool:
        return self.data < (other.data if isinstance(other, Value) else other)

    def __le__(self, other: Operand) -> bool:
        return self.data <= (other.data if isinstance(other, Value) else other)

    def __gt__(self, other: Operand) -> bool:
        return self.data > (other.data if isinstance(other, Value) else other)

    def __ge__(self, other: Operand) -> bool:
        return self.data >= (other.data if isinstance(other, Value) else other)

    def exp(self) -> Value:
        """e ** self."""
        return _ops.exp(self)

    def log(self) -> Value:
        """Natural logarithm; self must be > 0."""
        return _ops.log(self)

    def sqrt(self) -> Value:
        """Square root; self must be >= 0."""
        return _ops.sqrt(self)

    def sin(self) -> Value:
        """Sine."""
        return _ops.sin(self)

    def cos(self) -> Value:
        """Cosine."""
        return _ops.cos(self)

    def tanh(self) -> Value:
        """Hyperbolic tangent."""
        return _ops.tanh(self)

    def sigmoid(self) -> Value:
        """Logistic function 1 / (1 + e**-self), computed stably."""
        return _ops.sigmoid(self)

    def relu(self) -> Value:
        """max(0, self); derivative 0 at 0, as in PyTorch."""
        return _ops.relu(self)

    def leaky_relu(self, slope: Operand = 0.01) -> Value:
        """self if self > 0 else slope * self."""
        return _ops.leaky_relu(self, slope)

    def softplus(self) -> Value:
        """log(1 + e**self), computed stably."""
        return _ops.softplus(self)

    def backward(self, gradient: Operand = 1.0, *, create_graph: bool = False) -> None:
        """Apply the chain rule from this Value to every node of its graph.

        Each node's `.grad` gets `gradient * d(self)/d(node)` added to it, so
        gradients accumulate across calls exactly as in PyTorch and micrograd
        (call `zero_grad()` or set `.grad = 0.0` between steps). The nodes are
        visited in the reverse of the order they were recorded in, which is a
        topological order; nothing recurses, so chains of any depth work.

        Args:
            gradient: the seed d(loss)/d(self); 1.0 for a scalar loss.
            create_graph: record the backward pass itself, so every `.grad`
                becomes a Value that can be differentiated again.
        """
        _backprop(self, gradient, create_graph, None)


def constant(x: Any, where: str = "operand") -> Value:
    """A number an op received, as a graph leaf marked constant (`_n == -1`).

    Constants sit in `_operands` like any operand, so a node's operands are always
    Values; drawings, tapes and compiled programs show them as numbers.
    """
    c = _new(Value)
    c.data = x if type(x) is float else as_float(x, where)
    c.grad = 0.0
    c._operands = ()
    c._fn = None
    c._n = -1
    return c


def operands(v: Value) -> tuple[Any, ...]:
    """A node's operands as displays show them: Values, and constants as their numbers."""
    return tuple([a.data if a._n < 0 else a for a in v._operands])


def is_constant(v: Value) -> bool:
    """True for a Value that stands for a number an op received (see `constant`)."""
    return v._n < 0


def _fields(v: Value) -> list[str]:
    """The slots a Value has filled (a subclass may add its own)."""
    return [
        name
        for cls in type(v).__mro__
        for name in getattr(cls, "__slots__", ())
        if name != "__weakref__" and hasattr(v, name)
    ]


def topological_order(root: Value) -> list[Value]:
    """Every Value `root` depends on, each once, leaves first and `root` last.

    Iterative depth-first search (no recursion), so a chain of a million
    nodes is fine. The order is that of a recursive post-order walk through
    each node's operands, as micrograd's `build_topo`, so it is the same on
    every run; `backward()` does not need it (it replays the recording order).
    """
    order: list[Value] = []
    seen = {root}
    add = seen.add
    stack = [(root, iter(root._prev))]
    push = stack.append
    pop = stack.pop
    append = order.append
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                add(child)
                push((child, iter(child._prev)))
                break
        else:
            pop()
            append(node)
    return order


_number = operator.attrgetter("_n")


def _graph(root: Value) -> tuple[set[Value], list[Value]]:
    """(every node `root` depends on, its op-made nodes newest first: the backward order).

    One sweep over the graph with a stack (no recursion), each node visited
    once; sorting the op-made nodes by recording number then gives a reverse
    topological order, with no depth-first bookkeeping of which operand is next.
    """
    seen = {root}
    add = seen.add
    stack = [root] if root._fn is not None else []
    inner = list(stack)
    push = stack.append
    keep = inner.append
    pop = stack.pop
    while stack:
        for c in pop()._operands:
            if c not in seen:
                add(c)
                if c._fn is not None:
                    push(c)
                    keep(c)
    inner.sort(key=_number, reverse=True)
    return seen, inner


def _backprop(
    root: Value,
    gradient: Any,
    create_graph: bool,
    wrt: Sequence[Value] | None,
) -> list[Any] | None:
    """The backward loop from `root`, over its nodes in reverse recording order.

    The gradient flowing in this pass is kept in the nodes' `.grad` fields,
    starting from zero; whatever they held before is set aside and added back
    at the end, which is what makes repeated passes accumulate. A pass that
    raises puts every `.grad` back as it found it. With `wrt` the pass returns
    the gradients of those nodes and leaves every `.grad` as it was (the
    functional API uses this). Passes run one at a time (`backward_lock`).
    """
    if create_graph:
        if not isinstance(gradient, Value):
            gradient = Value(as_float(gradient, "gradient"))
    else:
        gradient = gradient.data if isinstance(gradient, Value) else as_float(gradient, "gradient")
    with backward_lock:
        nodes, order = _graph(root)
        # None is PyTorch's "no gradient yet" (zero_grad(set_to_none=True)): it counts as 0.
        kept = [(n, g) for n in nodes if type(g := n.grad) is not float or g]
        for n, _ in kept:
            n.grad = 0.0
        root.grad = gradient
        check = bool(_mode.get() & _ANOMALY)
        try:
            if create_graph:
                global graph_grads_epoch
                graph_grads_epoch += 1  # before the pass: one that fails may leave Values in .grad
                token = _mode.set(_mode.get() & ~_NO_GRAD)
                try:
                    _pass_graph(order, check)
                    for n in nodes:
                        if type(n.grad) is float:
                            n.grad = Value(n.grad)
                    if wrt is None:  # recorded too, even inside no_grad()
                        totals = _accumulated(kept, True)
                finally:
                    _mode.reset(token)
            else:
                if check:
                    _pass_checked(order)
                else:
                    for node in order:  # the hot loop: each op's own float step
                        node._fn._step(node)  # type: ignore[union-attr]
                if wrt is None:
                    totals = _accumulated(kept, False)
        except BaseException:
            _restore(nodes, kept)
            raise
        if wrt is not None:
            result = [n.grad for n in wrt]
            _restore(nodes, kept)
            return result
        for n, total in totals:  # every sum is computed before any is stored
            n.grad = total
    return None


def _accumulated(kept: list[tuple[Value, Any]], graph: bool) -> list[tuple[Value, Any]]:
    """What each node held before the pass plus what the pass brought (None counts as 0)."""
    totals = []
    for n, g in kept:
        if g is None:
            continue
        if not graph:  # plain accumulation: never grow a graph here
            g = g.data if isinstance(g, Value) else g
        totals.append((n, g + n.grad))
    return totals


def _restore(nodes: Iterable[Value], kept: list[tuple[Value, Any]]) -> None:
    """Put every `.grad` of `nodes` back to what it was before the pass."""
    for n in nodes:
        n.grad = 0.0
    for n, g in kept:
        n.grad = g


def float_step(op: Op) -> Callable[[Value], None]:
    """The function the float backward loop calls for a node `op` made.

    It reads the node's gradient and operands and adds each operand's share
    into its `.grad`, calling the op's own rules (or, when its module attached
    one, `op.float_vjps`: the same rules specialised for floats, or
    `op.float_kernel`: a measured fast path for a whole node). Rules of ops
    outside `autograd.ops` have their results checked (a real number each).
    """
    if op.float_kernel is not None:
        return op.float_kernel
    rules = getattr(op, "float_vjps", None) or op.vjps
    trusted = _ops.OPS.get(op.name) is op or op is _ops._softmax or op is _ops._input
    if trusted and op.vjps is not None and op.nargs in (1, 2):
        inlined = _inlined_step(op)
        if inlined is not None:
            return inlined
    if rules is not None and op.nargs == 1:
        (r0,) = rules

        def step1(node: Value) -> None:
            (x,) = node._operands
            d = r0(node.grad, node.data, x.data)
            if type(d) is not float:
                d = _real_grad(node, 0, d, False)
            x.grad += d

        def step1_trusted(node: Value) -> None:
            (x,) = node._operands
            x.grad += r0(node.grad, node.data, x.data)

        return step1_trusted if trusted else step1
    if rules is not None and op.nargs == 2:
        r0, r1 = rules

        def step2(node: Value) -> None:
            x, y = node._operands
            g = node.grad
            xd = x.data
            yd = y.data
            # A constant operand's rule is not called (as the general path): a user's
            # rule for an argument that is always a number may return anything.
            if x._n >= 0:
                dx = r0(g, node.data, xd, yd)
                if type(dx) is not float:
                    dx = _real_grad(node, 0, dx, False)
                x.grad += dx
            if y._n >= 0:
                dy = r1(g, node.data, xd, yd)
                if type(dy) is not float:
                    dy = _real_grad(node, 1, dy, False)
                y.grad += dy

        def step2_trusted(node: Value) -> None:
            x, y = node._operands
            g = node.grad
            xd = x.data
            yd = y.data
            x.grad += r0(g, node.data, xd, yd)
            y.grad += r1(g, node.data, xd, yd)

        return step2_trusted if trusted else step2

    return general_step(op)


def _inlined_step(op: Op) -> Callable[[Value], None] | None:
    """A built-in op's float step with its rules written into it (autograd/trace.py).

    The measured fast path of the scalar backward loop: the traced rules become
    expressions in the step's own body (`v0.grad += g * x1` for mul), so a node
    costs one call instead of one plus one per operand. Exactly the rules'
    results (the same traced code `op.float_vjps` runs). None if they do not trace.
    """
    from autograd import emit, trace

    assert op.vjps is not None
    n = op.nargs
    xs = [f"x{k}" for k in range(n)]
    params = ["g", "ans", *xs]
    syms = [trace.Sym("var", name=p) for p in params]
    try:
        roots = [trace.trace(rule, syms) for rule in op.vjps]
        em, texts = emit.emit(roots, {p: p for p in params}, "t_", numpy=False, strict=False)
    except trace.NotTraceable:
        return None
    helpers = sorted(em.used)
    if "pow_fwd" in helpers:
        return None
    vs = [f"v{k}" for k in range(n)]
    lines = [
        f"def step(node{''.join(f', {h}={h}' for h in helpers)}):",
        f"    {', '.join(vs)}, = node._operands",
        "    g = node.grad",
        "    ans = node.data",
        *[f"    {x} = {v}.data" for x, v in zip(xs, vs)],
        *[f"    {line}" for line in em.lines],
        *[f"    {v}.grad += {text}" for v, text in zip(vs, texts)],
    ]
    namespace: dict[str, Any] = {h: emit.SCALAR_NAMES[h] for h in helpers}
    emit.define("\n".join(lines), f"{op.name}_backward_step", namespace)
    made: Callable[[Value], None] = namespace["step"]
    return made


def general_step(op: Op) -> Callable[[Value], None]:
    """The float backward step for any op: its rules' results checked and added in."""

    def step(node: Value) -> None:
        prev = node._operands
        grads = _vjp(node, op, node.grad, node.data, [a.data for a in prev], prev, False)
        for a, d in zip(prev, grads):
            if d is not None:
                a.grad += d

    return step


def _pass_checked(order: list[Value]) -> None:
    """Backward over floats under detect_anomaly: every gradient is checked as it is made."""
    for node in order:
        op = node._fn
        assert op is not None
        if isinstance(op, ManualRule):
            op.run(node)
            continue
        prev = node._operands
        grads = _vjp(node, op, node.grad, node.data, [a.data for a in prev], prev, False)
        _check_grads(node, grads)
        for a, d in zip(prev, grads):
            if d is not None:
                a.grad += d


def _pass_graph(order: list[Value], check: bool) -> None:
    """Backward that records itself: rules receive Values, so gradients get graphs."""
    for node in order:
        op = node._fn
        assert op is not None
        if isinstance(op, ManualRule):
            op.refuse_graph(node)
        args = node._operands
        grads = _vjp(node, op, node.grad, node, args, args, True)
        if check:
            _check_grads(node, grads)
        for a, d in zip(args, grads):
            if d is not None:
                old = a.grad
                a.grad = d if type(old) is float and old == 0.0 else old + d


def _apply_node(node: Value) -> None:
    """One node's chain-rule step, as micrograd's `_backward()` closure does it.

    Adds `local derivative * node.grad` into each operand's `.grad`: with
    floats, or recording a graph when `node.grad` is itself a Value.
    """
    op = node._fn
    if op is None:
        return
    if isinstance(op, ManualRule):
        op.run(node)
        return
    g = 0.0 if node.grad is None else node.grad
    args = node._operands
    graph = isinstance(g, Value)
    with backward_lock:
        if graph:
            token = _mode.set(_mode.get() & ~_NO_GRAD)
            try:
                grads = _vjp(node, op, g, node, args, args, True)
            finally:
                _mode.reset(token)
        else:
            grads = _vjp(node, op, g, node.data, [a.data for a in args], args, False)
        if _mode.get() & _ANOMALY:
            _check_grads(node, grads)
        for a, d in zip(args, grads):
            if d is not None:
                old = a.grad
                a.grad = d if old is None else old + d


def _vjp(
    node: Value,
    op: Op,
    g: Any,
    ans: Any,
    xs: Sequence[Any],
    args: Sequence[Any],
    graph: bool,
) -> list[Any]:
    """All of one node's operand gradients, checked: None where the operand is a constant."""
    if op.vjp_all is not None:
        raw = op.vjp_all(g, ans, *xs)
        try:
            grads = list(raw)
        except TypeError:
            raise TypeError(
                f"derivative rule {_rule_name(op.vjp_all)} of op '{op.name}' returned "
                f"{type(raw).__name__} {raw!r}; it must return one gradient per argument "
                f"({len(args)}), as a list or tuple"
            ) from None
        if len(grads) != len(args):
            raise TypeError(
                f"derivative rule {_rule_name(op.vjp_all)} of op '{op.name}' returned "
                f"{len(grads)} gradient(s) for {len(args)} argument(s); it must return one "
                "per argument (any value for a constant argument)"
            )
    elif op.vjps is None:
        raise NotImplementedError(
            f"op '{op.name}' has no derivative rule, so backward cannot pass through it; "
            f"define one with @{op.name}.defvjp"
        )
    else:
        grads = [rule(g, ans, *xs) if _live(a) else None for rule, a in zip(op.vjps, args)]
    for i, (a, d) in enumerate(zip(args, grads)):
        if not _live(a):
            grads[i] = None  # a constant operand receives nothing
        elif type(d) is not float and not (graph and isinstance(d, Value)):
            grads[i] = _real_grad(node, i, d, graph)
    return grads


def _live(a: Any) -> bool:
    """An operand that takes a gradient: a Value that is not a constant."""
    return isinstance(a, Value) and a._n >= 0


def _rule_name(rule: Any) -> str:
    return repr(getattr(rule, "__name__", type(rule).__name__))


def _real_grad(node: Value, i: int, d: Any, graph: bool) -> Any:
    """A rule's result as a gradient: a float (or a Value when recording); else a clear error."""
    if isinstance(d, Value):
        return d if graph else d.data
    if isinstance(d, (numbers.Real, decimal.Decimal)) or (
        getattr(getattr(d, "dtype", None), "kind", None) in ("b", "i", "u", "f")
        and getattr(d, "ndim", None) == 0
    ):
        return float(d)
    op = node._fn
    assert op is not None and not isinstance(op, ManualRule)
    rule = op.vjp_all if op.vjp_all is not None else op.vjps[i] if op.vjps else None
    raise TypeError(
        f"derivative rule {_rule_name(rule)} of op '{op.name}' returned "
        f"{type(d).__name__} {d!r} for argument {i}; a rule must return a real number"
        + (" or a Value" if graph else "")
    )


def _check_grads(node: Value, grads: Iterable[Any]) -> None:
    """Under detect_anomaly: every gradient must be finite."""
    for d in grads:
        if d is None:
            continue
        v = d.data if isinstance(d, Value) else d
        if not math.isfinite(v):
            raise FloatingPointError(
                f"backward of op '{node._op}' produced gradient {v!r} "
                f"(its output {node.data!r}, incoming gradient {_data(node.grad)!r}, "
                f"inputs {_describe(node._args or node._prev)})"
            )


_new = object.__new__


_pickling = threading.local()  # ids of the nodes a pickle in progress has listed


class _Unschedule:
    """Pickled after a graph's nodes: marks them done; unpickled, it renumbers them."""

    def __init__(self, ids: list[int], nodes: list[Value]) -> None:
        self.ids = ids
        self.nodes = nodes

    def __reduce__(self) -> tuple[Any, ...]:
        scheduled = _pickling.__dict__.setdefault("ids", {})
        for i in self.ids:
            scheduled.pop(i, None)
        return (_renumber, (self.nodes, [n._n for n in self.nodes]))


def _renumber(nodes: list[Value], numbers: list[int]) -> None:
    """Give copied nodes new recording numbers, in the order of the originals' numbers.

    The originals' numbers are a topological order of the whole graph (through
    the graphs of `.grad` Values too); new ones, from this process's counter,
    keep that order and come after every node already recorded here.
    """
    for i in sorted(range(len(nodes)), key=numbers.__getitem__):
        if numbers[i] > 0:
            nodes[i]._n = _tick()


def _reachable(root: Value) -> list[Value]:
    """Every Value below `root` through operands and through `.grad` Values, children first.

    Iterative depth-first search; a cycle (a gradient whose graph uses the node
    it belongs to) is cut where it closes.
    """
    order: list[Value] = []
    seen = {id(root)}
    stack = [(root, iter(_links(root)))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(_links(child))))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _links(node: Value) -> tuple[Value, ...]:
    g = node.grad
    return (*node._operands, g) if isinstance(g, Value) else node._operands


def _is_scheduled(scheduled: dict[int, Any], node: Value) -> bool:
    """Listed by a pickle in progress (an id whose node has since died does not count)."""
    ref = scheduled.get(id(node))
    return ref is not None and ref() is node


def _refuse_copy(node: Value, what: str = "copy") -> None:
    if isinstance(node._fn, ManualRule) and node._fn.fn is not None:
        raise (pickle_error if what == "pickle" else TypeError)(
            f"cannot {what} a Value whose _backward was assigned (op {node._op!r}): its "
            "function refers to the original nodes; define the op with @custom_op"
        )


def pickle_error(message: str) -> Exception:
    import pickle

    return pickle.PicklingError(message)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


def _describe(args: Iterable[Any]) -> str:
    parts = []
    for a in args:
        if isinstance(a, Value):
            parts.append(f"Value '{a.label}' = {a.data!r}" if a.label else repr(a.data))
        else:
            parts.append(repr(a))
    return "(" + ", ".join(parts) + ")"


# ops.py defines the operators through opdef.py, which imports this module: load them last.
from autograd import ops as _ops  # noqa: E402  (binds the operators above)
from autograd.opdef import (  # noqa: E402  (Op and custom_op re-exported)
    ManualRule,
    Op,
    custom_op,
)

__all__ = [
    "Op",
    "Value",
    "constant",
    "custom_op",
    "detect_anomaly",
    "enable_grad",
    "is_constant",
    "is_grad_enabled",
    "no_grad",
    "operands",
    "topological_order",
]
