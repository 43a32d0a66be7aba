"""The eager engine's fast paths: code generated from ops.py's rules, installed over the reference.

`autograd/engine.py` defines what every result is; this module makes the
common cases cheaper without changing one bit of them (the tests compare the
two on random graphs, `tests/test_oracle.py`):

- Value's operators: the forward of a built-in op written into the operator
  itself (`data = x0 * x1`), one call per operation instead of three;
- each op's float backward step: its traced rules written into one function
  (`v0.grad += g * x1`), one call per node instead of one plus one per rule;
- neurons: a layer's weighted sums added up once per layer (`neurons`), and a
  backward kernel that adds a neuron's shares in one loop;
- the float backward loop that calls those steps.

`install()` puts them in place (`import autograd` does, unless
`TAPEGRAD_REFERENCE=1` is set); `reference()` takes them out for a `with`
block, which is how the tests run both engines in one process. Every
generated function's source is registered with `linecache`, so tracebacks,
`inspect.getsource` and pdb show it.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import mul
from typing import Any

from autograd import emit, engine, neuron, opdef, ops, trace
from autograd.engine import (
    ANOMALY,
    ZERO,
    Constant,
    Value,
    as_float,
    chain_rule,
    constant,
    modes,
    reference_pass,
    tick,
)
from autograd.opdef import Op

__all__ = [
    "REFERENCE_ONLY",
    "build",
    "entry",
    "fast_pass",
    "float_step",
    "install",
    "installed",
    "neurons",
    "reference",
]

#: `TAPEGRAD_REFERENCE=1` when autograd was imported: the reference engine alone.
REFERENCE_ONLY = os.environ.get("TAPEGRAD_REFERENCE", "") not in ("", "0")

_new = object.__new__


# --- the forward: Value's operators with the op's forward written in ---------------------


def entry(op: Op, swap: bool = False) -> Callable[..., Any] | None:
    """The function Value's operator calls for `op`: its forward written into it when possible.

    For a one- or two-operand built-in op whose forward traces and needs no
    domain check (its errors come from its own code), the forward expression is
    written into the entry (`data = x0 * x1` for mul), with the same checks
    and the same node as `Op.__call__`. None when it cannot be (Value keeps its
    own operator, which calls the op). With
    `swap` the entry takes its two operands in the other order (for reflected
    operators: `2.0 * v` calls `v.__rmul__(2.0)`).
    """
    n = op.nargs
    if n not in (1, 2) or op not in ops.BUILTINS or op.name in _CHECKED:
        return None
    xs = [f"x{k}" for k in range(n)]
    try:
        root = trace.trace(op.forward, [trace.Sym("var", name=x) for x in xs])
        em, (text,) = emit.emit([root], {x: x for x in xs}, "t_", numpy=False, strict=True)
    except trace.NotTraceable:
        return None
    helpers = sorted(em.used)
    if any(h not in emit.SCALAR_NAMES for h in helpers):
        return None
    names = ["x", "y"][:n]
    params = names[::-1] if swap else names
    where = repr(f"operand of {op.name}")
    if n == 2:
        check = [
            "    if not isinstance(x, Value):",
            "        if not isinstance(y, Value):",
            "            return op(x, y)",
            *_constant_lines("x", where),
            "    elif not isinstance(y, Value):",
            *_constant_lines("y", where),
        ]
    else:
        check = ["    if not isinstance(x, Value):", "        return op(x)"]
    operands = f"({', '.join(names)},)"
    name = f"{op.name}_entry" + ("_swapped" if swap else "")
    lines = [
        f"def {name}({', '.join(params)}, *, op=op, Value=Value, Constant=Constant,"
        f" as_float=as_float, mode=mode, new=new, tick=tick, zero=zero"
        f"{''.join(f', {h}={h}' for h in helpers)}):",
        *check,
        *[f"    {x} = {v}.data" for x, v in zip(xs, names)],
        *[f"    {line}" for line in em.lines],
        f"    data = {text}",
        "    if mode() or type(data) is not float:",
        f"        return op.record(data, {operands})",
        "    out = new(Value)",
        "    out.data = data",
        "    out.grad = zero",
        f"    out._operands = {operands}",
        "    out._maker = op",
        "    out._seq = tick()",
        "    return out",
    ]
    namespace: dict[str, Any] = {h: emit.SCALAR_NAMES[h] for h in helpers}
    namespace.update(
        op=op,
        Value=Value,
        Constant=Constant,
        as_float=as_float,
        mode=modes.get,
        new=_new,
        tick=tick,
        zero=ZERO,
    )
    made: Callable[..., Any] = emit.define("\n".join(lines), name, namespace)[name]
    return made


def _constant_lines(name: str, where: str) -> list[str]:
    """`engine.constant(name)` written inline (a call less per operation with a number)."""
    return [
        "        c = new(Constant)",
        f"        c.data = {name} if type({name}) is float else as_float({name}, {where})",
        "        c.grad = zero",
        "        c._operands = ()",
        "        c._maker = None",
        "        c._seq = 0",
        f"        {name} = c",
    ]


# --- the backward: one generated step per op ----------------------------------------------


def fast_pass(order: list[Value]) -> None:
    """The float backward loop with each op's generated step (`float_step`)."""
    if modes.get() & ANOMALY:  # checked gradients: the reference loop checks them
        reference_pass(order)
        return
    for node in order:
        node._maker.float_step(node)  # type: ignore[union-attr]


def float_step(op: Op) -> Callable[[Value], None]:
    """The function `fast_pass` calls for a node `op` made (built once per op).

    A built-in op's traced rules written into one function (`inlined_step`);
    another op with per-argument rules gets a step calling its float-specialised
    rules with their results checked; the rest (variadic rules) `chain_rule`.
    """
    if op.float_kernel is not None:
        return op.float_kernel
    if op in ops.BUILTINS and op.vjps is not None and op.nargs in (1, 2):
        inlined = inlined_step(op)
        if inlined is not None:
            return inlined
    rules = getattr(op, "float_vjps", None) or op.vjps
    if rules is None or op.nargs not in (1, 2):
        return chain_rule
    return _checked_step(op, rules)


def _checked_step(op: Op, rules: Sequence[Callable[..., Any]]) -> Callable[[Value], None]:
    """A user op's step: each rule called on floats, its result checked as the reference does."""

    def step(node: Value) -> None:
        args = node._operands
        g, ans = node.grad, node.data
        xs = [a.data for a in args]
        for i, (rule, a) in enumerate(zip(rules, args)):
            if type(a) is not Constant:  # a constant's rule is not called, as in the reference
                d = rule(g, ans, *xs)
                a.grad += d if type(d) is float else op.as_gradient(i, d)

    return step


def inlined_step(op: Op) -> Callable[[Value], None] | None:
    """A built-in op's float step with its rules written into it (`v0.grad += g * x1` for mul).

    Exactly the rules' results: the same traced expressions `op.float_vjps`
    computes. None if they do not trace. A constant operand's `.grad`
    receives its share too (nothing reads it), which saves a test per node.
    """
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
    name = f"{op.name}_step"
    lines = [
        f"def {name}(node{''.join(f', {h}={h}' for h in helpers)}):",
        f"    {', '.join(vs)}, = node._operands",
        "    g = node.grad",
        "    ans = node.data",
        *[f"    {x} = {v}.data" for x, v in zip(xs, vs)],
        *[f"    {line}" for line in em.lines],
        *[f"    {v}.grad += {text}" for v, text in zip(vs, texts)],
    ]
    namespace: dict[str, Any] = {h: emit.SCALAR_NAMES[h] for h in helpers}
    made: Callable[[Value], None] = emit.define("\n".join(lines), name, namespace)[name]
    return made


# --- neurons: a layer recorded at once, and its backward kernel -------------------------


class NeuronValue(Value):
    """A neuron's output recorded by `neurons`, which keeps its weighted sum `_z`."""

    __slots__ = ("_z",)

    _z: float


def neurons(
    rows: Sequence[tuple[Sequence[Value], Value]], xs: Sequence[Any], activation: str | None
) -> list[Value]:
    """`autograd.neuron.neurons`, faster: the inputs read once, each weighted sum added in C.

    Each node is the one the op's own call would record (same operands, same
    data); it also keeps its weighted sum for the backward kernel. A sum that
    is not finite, or a mode (`no_grad`, `detect_anomaly`), takes the op's call.
    """
    op = ops.NEURONS[activation]
    act = ops.NEURON_ACTIVATIONS[activation]
    xv = tuple([x if isinstance(x, Value) else constant(x, "neuron input") for x in xs])
    if modes.get():
        return [op(*ws, b, *xv) for ws, b in rows]
    xd = [x.data for x in xv]
    forward = act.float_forward if act is not None else None
    outs: list[Value] = []
    for ws, b in rows:
        try:
            # = ops.dot's forward (its sum starts from the first product; -0.0 + p is p)
            z = builtins.sum(map(mul, [w.data for w in ws], xd), -0.0) + b.data
        except AttributeError:  # a weight that is not a Value: the op's call converts it
            outs.append(op(*ws, b, *xv))
            continue
        if z - z != 0.0 or len(ws) != len(xd):  # not finite, or a size mismatch
            outs.append(op(*ws, b, *xv))
            continue
        out = _new(NeuronValue)
        out.data = z if forward is None else forward(z)
        out.grad = ZERO
        out._z = z
        out._operands = (*ws, b, *xv)
        out._maker = op
        out._seq = tick()
        outs.append(out)
    return outs


def neuron_kernel(act: Op | None) -> Callable[[Value], None]:
    """A neuron node's float backward step: the neuron rule of ops.py in one loop.

    It adds the shares straight into the operands' `.grad` (in the rule's
    order: w, b, x) and skips a node whose activation passes 0 (a dead relu).
    Skipping is exact because `neurons` records a node with `_z` only when its
    sum is finite (every operand is then finite and each share a zero), and
    because inside a pass no running gradient is -0.0 (`backprop` starts every
    node from +0.0, and no sum of floats reaches -0.0 from there), so adding a
    zero changes nothing. A node without `_z` takes `chain_rule`.
    """
    rules = None if act is None else (getattr(act, "float_vjps", None) or act.vjps)
    slope = (lambda g, ans, z: g) if rules is None else rules[0]

    def step(node: Value) -> None:
        try:
            z = node._z  # type: ignore[attr-defined]
        except AttributeError:  # recorded by the op's own call (a sum that was not finite)
            chain_rule(node)
            return
        gz = slope(node.grad, node.data, z)
        if not gz:  # every share is 0: nothing to add
            return
        operands = node._operands
        n = len(operands) // 2
        xs = operands[n + 1 :]
        for w, x in zip(operands, xs):  # zip stops after the n weights
            w.grad += gz * x.data
        operands[n].grad += gz
        for w, x in zip(operands, xs):
            x.grad += gz * w.data

    return step


# --- installing and removing them --------------------------------------------------------

_CHECKED = ("div", "pow", "exp", "log", "sqrt", "sin", "cos")  # forwards with domain errors
_lock = threading.Lock()
_fast: list[tuple[Any, str, Any]] = []  # (object, attribute, fast value) once installed
_saved: list[tuple[Any, str, Any]] = []  # (object, attribute, reference value)
_active = False


def _plan() -> list[tuple[Any, str, Any]]:
    """Every attribute the fast paths replace, with its fast value."""
    for op in ops.BUILTINS:
        trace.specialize(op, forward=op.name not in _CHECKED)
    for act_name, op in ops.NEURONS.items():
        op.float_kernel = neuron_kernel(ops.NEURON_ACTIVATIONS[act_name])
    plan: list[tuple[Any, str, Any]] = [
        (engine, "float_pass", fast_pass),
        (opdef, "float_step_factory", float_step),
        (neuron, "neurons", neurons),
    ]
    table = {
        "__add__": entry(ops.add),
        "__radd__": entry(ops.add, swap=True),
        "__sub__": entry(ops.sub),
        "__rsub__": entry(ops.sub, swap=True),
        "__mul__": entry(ops.mul),
        "__rmul__": entry(ops.mul, swap=True),
        "__truediv__": entry(ops.div),
        "__rtruediv__": entry(ops.div, swap=True),
        "__pow__": entry(ops.pow),
        "__rpow__": entry(ops.pow, swap=True),
        "__neg__": entry(ops.neg),
        "__abs__": entry(ops.abs),
        "relu": entry(ops.relu),
        "tanh": entry(ops.tanh),
        "sigmoid": entry(ops.sigmoid),
    }
    plan += [(Value, name, fn) for name, fn in table.items() if fn is not None]
    # The traced forwards are fast paths too: the reference calls each op's own forward.
    for op in ops.BUILTINS:
        if op.float_forward is not op.forward:
            plan.append((op, "float_forward", op.float_forward))
            op.float_forward = op.forward
    return plan


def build() -> None:
    """Generate the fast paths without installing them (idempotent).

    Ops gain `float_vjps` (and the neuron ops a `float_kernel`), which only the
    fast paths read: the reference engine runs as before.
    """
    with _lock:
        if not _fast:
            plan = _plan()
            _saved[:] = [(obj, name, obj.__dict__[name]) for obj, name, _ in plan]
            _fast[:] = plan


def install() -> None:
    """Put the fast paths in place over the reference engine (idempotent)."""
    global _active
    build()
    with _lock:
        if _active:
            return
        for obj, name, value in _fast:
            setattr(obj, name, value)
        _active = True


def installed() -> bool:
    """Whether the fast paths are in place."""
    return _active


@contextmanager
def reference() -> Iterator[None]:
    """Run the reference engine alone inside the block (for tests: not thread-safe).

    Graphs recorded inside may be differentiated outside and the other way
    round: both engines record the same nodes.
    """
    global _active
    was = _active
    with _lock:
        for obj, name, value in _saved:
            setattr(obj, name, value)
        _active = False
    try:
        yield
    finally:
        if was:
            with _lock:
                for obj, name, value in _fast:
                    setattr(obj, name, value)
                _active = True
