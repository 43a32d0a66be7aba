"""Compilation: a recorded graph turned into generated straight-line Python, on floats or numpy.

`compile(output, inputs)` walks the graph `output` was built from once and
writes it out as Python source: one local variable per node, then the
backward pass in reverse. The code of each node is not written by hand here:
the op's forward and derivative rules (`autograd/ops.py`, or a user's
`@custom_op`) are traced with the symbolic tracer of `autograd/trace.py`, and
the expressions they compute are emitted as float code (`where` becomes a
conditional expression, `exp` is `math.exp`) or as numpy code (`np.where`,
`np.exp`). The source is compiled once with Python's own `compile`; afterwards
a call creates no Value objects and walks no graph, which is where the speed
comes from::

    x = [Value(0.0, label="x0"), Value(0.0, label="x1")]
    loss = model(x)                       # trace once, with any input values
    prog = compile(loss, x)               # x become the program's arguments
    prog(0.5, -1.2)                       # forward: the output as a float
    prog.backward(0.5, -1.2)              # forward + backward: adds into each p.grad
    print(prog.source)                    # the generated code, for reading

Trace semantics (the same as `torch.jit.trace`): the program is the graph that
was recorded, not the Python code that recorded it. Python control flow is
frozen at trace time: an `if` on a Value's data, a loop whose length depended
on data, `max()` over Values, all took one path while tracing, and the program
always takes that path. Numbers that entered the graph as constants (`x * 2.0`,
a label converted to a float) stay those numbers. What changes from call to
call is the inputs, passed as arguments, and the parameters -- every other leaf
of the graph, usually a model's weights -- whose `.data` is read live at every
call, so an optimizer can update them between calls. Branches inside an op
(relu's `where(x <= 0.0, ...)`) belong to the op and are evaluated afresh every time.

`prog.backward(...)` adds d(output)/d(parameter) into each parameter's `.grad`,
exactly as the eager `output.backward()` would (the inputs' Values are not
touched: they are arguments, not part of the state). Called with equal-length
1-D numpy arrays instead of floats, the same program evaluates the whole batch
in one call from a second generated variant written with numpy functions: it
returns the array of per-example outputs, and `backward` adds the *sum* over
examples of the per-example gradients.

Custom ops: one written like the built-ins (`where`, `eq`, the primitives of
`autograd.trace`, arithmetic operators, numpy ufuncs) is traced and inlined
like them, in both variants. One that the tracer cannot follow (a Python `if`
on the value, `math.*`, `float(x)`, `==`) takes the slow path: the float
program calls its forward or rule itself, one example at a time, and the
numpy variant is refused (`prog.batchable` is False; a call with arrays
raises a `TypeError` naming the op and why), since calling a Python function
per example is what the float program already does. Errors match eager: a
domain error (log of a negative number, division by zero) raises the op's own
message, naming the example of the batch in numpy mode. `detect_anomaly()`
does not apply to compiled programs.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from autograd import emit, engine, ops
from autograd import trace as _trace
from autograd.emit import Expr, atom, binary, call, constant
from autograd.engine import ManualRule, Value, as_float, is_constant, operands, topological_order
from autograd.opdef import Op, relabel
from autograd.trace import NotTraceable, Sym

__all__ = ["Program", "compile"]

# Exceptions a forward rule raises for a bad value: the generated code catches
# these only to replay the step the eager way and raise the op's own message.
_DOMAIN_ERRORS = (ValueError, ArithmeticError)

# Names the generated code may use besides the emitters' helpers, bound at load time.
_RUNTIME_NAMES = ("ERRORS", "as_float", "dispatch", "diagnose")

# Stands for the default arguments in a signature until the source knows them.
_BOUND = "__bound__"

#: Helpers of the generated code: the tracer's float functions, and pow's own forward
#: (which raises pow's errors where Python's ** would not: a negative base's root).
_HELPERS: dict[str, Any] = {**emit.SCALAR_NAMES, "pow_fwd": ops.pow.forward}


# --- traced ops -----------------------------------------------------------------------


@dataclass
class _Plan:
    """One op traced for one pattern of operands: the expressions the code writers emit.

    The operands are symbols `a0, a1, ...` where the node has a Value and the
    constant itself elsewhere; the rules also see `g` and `ans`. A function
    that did not trace has None here and the reason in `why_*`: the float
    program calls that function itself.
    """

    forward: Any = None
    traced_forward: bool = False
    why_forward: str = ""
    rules: list[Any] = field(default_factory=list)  # per operand: a Sym or a float
    traced_rules: list[bool] = field(default_factory=list)
    why_rules: list[str] = field(default_factory=list)
    variadic_rule: bool = False  # the op's rule is `vjp_all`: one call for every operand


class _Plans:
    """Plans by (op, operand pattern), so that each op is traced once per pattern."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Any, ...], _Plan] = {}

    def get(self, op: Op | ManualRule, args: Sequence[Any]) -> _Plan:
        # a hand-built rule is refused when the program is traced, before any plan
        assert isinstance(op, Op), op
        pattern = tuple(None if isinstance(a, Value) else repr(a) for a in args)
        key = (id(op), pattern)
        plan = self.cache.get(key)
        if plan is None:
            plan = self.cache[key] = _make_plan(op, args)
        return plan


def _make_plan(op: Op, args: Sequence[Any]) -> _Plan:
    syms = [Sym("var", name=f"a{k}") if isinstance(a, Value) else a for k, a in enumerate(args)]
    plan = _Plan()
    try:
        plan.forward = _trace.trace(op.forward, syms)
        plan.traced_forward = True
    except NotTraceable as e:
        plan.why_forward = str(e)
    rule_args = [Sym("var", name="g"), Sym("var", name="ans"), *syms]
    n = len(args)
    if op.vjp_all is not None:
        plan.variadic_rule = True
        try:
            plan.rules = _trace.trace_all(op.vjp_all, rule_args, n)
            plan.traced_rules = [True] * n
            plan.why_rules = [""] * n
        except NotTraceable as e:
            plan.rules = [None] * n
            plan.traced_rules = [False] * n
            plan.why_rules = [str(e)] * n
    elif op.vjps is not None:
        for rule, a in zip(op.vjps, args):
            if not isinstance(a, Value):  # a constant operand gets no gradient
                plan.rules.append(0.0)
                plan.traced_rules.append(True)
                plan.why_rules.append("")
                continue
            try:
                plan.rules.append(_trace.trace(rule, rule_args))
                plan.traced_rules.append(True)
                plan.why_rules.append("")
            except NotTraceable as e:
                plan.rules.append(None)
                plan.traced_rules.append(False)
                plan.why_rules.append(str(e))
    return plan


# --- the graph -------------------------------------------------------------------------


# --- the trace -----------------------------------------------------------------


def _name_of(v: Value) -> str:
    return f"'{v.label}'" if v.label else repr(v)


class _Graph:
    """The recorded graph, checked and annotated once: what the code writers read."""

    def __init__(self, outputs: list[Value], inputs: list[Value], single: bool) -> None:
        self.single = single  # one output Value, not a list of them
        self.plans = _Plans()
        order: list[Value] = []
        seen: set[Value] = set()
        for out in outputs:
            for node in topological_order(out):
                if node not in seen:
                    seen.add(node)
                    order.append(node)
        # The engine numbers nodes in the order they were recorded (`_seq`; leaves and
        # constants 0) and its backward visits them newest first: in that order the
        # program adds the same contributions in the same sequence, bit for bit.
        order.sort(key=_recorded)
        # Gradients flow only through nodes made by ops: a leaf (no `_maker`) ends the walk.
        live: set[Value] = set(outputs)
        for node in reversed(order):
            if node in live and node._maker is not None:
                live.update(node._prev)
        # A number an op received may be stored as a `Constant`: the node's
        # `_args` show it as the number it is, and the code writes it as a literal.
        self.nodes = [n for n in order if n in live and not is_constant(n)]
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.outputs = [self.index[o] for o in outputs]
        self.outputs_values = outputs
        self.inputs = self._check_inputs(inputs)
        self.input_pos = {i: k for k, i in enumerate(self.inputs)}
        for node in self.nodes:
            op = node._maker
            if isinstance(op, ManualRule):
                raise ValueError(
                    f"cannot compile: {_name_of(node)} (op {node._op!r}) was built by hand, "
                    "micrograd style, with children and an assigned or missing _backward; "
                    "a program can replay only ops made with @custom_op"
                )
            if op is not None and op.vjps is None and op.vjp_all is None:
                raise ValueError(
                    f"cannot compile: op '{op.name}' has no derivative rule, so a program "
                    f"cannot replay its backward pass; define one with @{op.name}.defvjp"
                )
        self.params = [
            i for i, n in enumerate(self.nodes) if n._maker is None and i not in self.input_pos
        ]
        self.param_pos = {i: k for k, i in enumerate(self.params)}
        # needs[i]: a parameter lies below node i, so its gradient must be computed.
        # batched[i]: node i depends on an input, so in numpy mode it is an array.
        self.needs: list[bool] = []
        self.batched: list[bool] = []
        for i, node in enumerate(self.nodes):
            if node._maker is None:
                self.needs.append(i not in self.input_pos)
                self.batched.append(i in self.input_pos)
            else:
                kids = [self.index[c] for c in node._prev]
                self.needs.append(any(self.needs[k] for k in kids))
                self.batched.append(any(self.batched[k] for k in kids))

    def _check_inputs(self, inputs: list[Value]) -> list[int]:
        positions: list[int] = []
        taken: set[int] = set()
        for k, v in enumerate(inputs):
            if not isinstance(v, Value):
                raise TypeError(
                    f"compile: inputs must be leaf Values, got {type(v).__name__} at position {k}"
                )
            if v._maker is not None:
                raise ValueError(
                    f"compile: input {k} ({_name_of(v)}) is computed by op '{v._maker.name}', "
                    "not a leaf; inputs must be leaf Values that the graph was built from"
                )
            if v not in self.index:
                raise ValueError(
                    f"compile: input {k} ({_name_of(v)}) is not a leaf of the output's graph; "
                    "the output does not depend on it"
                )
            i = self.index[v]
            if i in taken:
                raise ValueError(f"compile: input {k} ({_name_of(v)}) is listed twice")
            taken.add(i)
            positions.append(i)
        return positions

    def args(self, i: int) -> tuple[Any, ...]:
        node = self.nodes[i]
        return operands(node)


# --- layers: a numpy batch computes dot products that share inputs as one product ------


@dataclass
class _Layer:
    """Dot-product nodes over the same inputs: one matrix product in a numpy batch.

    Each member is `dot(w, x)` with the same x (array nodes, then constants)
    and its own weights (parameters or constants); a neural network layer.
    """

    id: int
    members: list[int]  # node indices, in the order of the graph
    inputs: list[Value]  # the shared array operands
    constants: list[float]  # the shared constant operands (a bias's 1.0)
    weights: list[list[Any]] = field(default_factory=list)  # per member, per input
    extra_weights: list[list[Any]] = field(default_factory=list)  # per member, per constant
    # Fused with its activation (the same elementwise op on each member, nothing else
    # reading the members) and the next layer (whose inputs are exactly those
    # activations): the activation runs on the whole matrix Z, its result H is the next
    # layer's X, and backward takes the next layer's G @ W as the activations' gradients.
    acts: list[int] = field(default_factory=list)
    act_position: int = 0  # where the member is among the activation op's operands
    # A neuron node (autograd.neuron) carries its activation inside: H = inner(Z),
    # and the members' values are H's columns.
    inner: Op | None = None
    next: _Layer | None = None
    source: _Layer | None = None


def _layers(t: _Graph) -> dict[int, _Layer]:
    """The graph's layers (two or more dot nodes sharing their array operands), by member."""
    dot = ops.OPS["dot"]
    neurons = _neuron_ops()
    found: dict[tuple[Any, ...], _Layer] = {}
    for i, node in enumerate(t.nodes):
        op = node._maker
        if op is None or not t.batched[i] or (op is not dot and op not in neurons):
            continue
        args = t.args(i)
        n = len(args) // 2
        extra: list[tuple[Any, float]] = []  # (weight, constant input) pairs
        if op is dot:
            for ws, xs in ((args[:n], args[n:]), (args[n:], args[:n])):
                if all(_is_weight(t, w) for w in ws) and all(_is_input(t, x) for x in xs):
                    break
            else:
                continue
        else:  # a neuron: w0..wn-1, b, x0..xn-1, and b * 1.0 is the bias
            ws, xs = args[:n], args[n + 1 :]
            if not (all(map(partial(_is_weight, t), [*ws, args[n]]))):
                continue
            if not all(_is_input(t, x) for x in xs):
                continue
            extra = [(args[n], 1.0)]
        inputs = [x for x in xs if isinstance(x, Value)]
        key: tuple[Any, ...] = (id(op) if op is not dot else 0,)
        key += tuple(id(x) if isinstance(x, Value) else ("c", repr(x)) for x in xs)
        layer = found.get(key)
        if layer is None:
            constants = [float(x) for x in xs if not isinstance(x, Value)]
            constants += [c for _, c in extra]
            inner = neurons.get(op) if op is not dot else None
            layer = found[key] = _Layer(len(found), [], inputs, constants, inner=inner)
        layer.members.append(i)
        layer.weights.append([w for w, x in zip(ws, xs) if isinstance(x, Value)])
        layer.extra_weights.append(
            [w for w, x in zip(ws, xs) if not isinstance(x, Value)] + [w for w, _ in extra]
        )
    layers = list(found.values())
    _fuse(t, layers)
    groups: dict[int, _Layer] = {}
    # a lone dot node is a layer only when it takes a fused layer's activations (an
    # MLP's output neuron): elsewhere its sum of products is as quick elementwise
    kept = list(layers)
    while True:
        keep = [lay for lay in kept if len(lay.members) > 1 or lay.source is not None]
        for lay in kept:
            if lay not in keep and lay.next is not None:  # unlink what was dropped
                lay.next.source = None
                lay.next = None
        if len(keep) == len(kept):
            break
        kept = keep
    for k, layer in enumerate(kept):
        layer.id = k
        groups.update((m, layer) for m in layer.members)
    return groups


def _fuse(t: _Graph, layers: list[_Layer]) -> None:
    """Link each layer to its activation and the next layer where the graph allows it."""
    readers: dict[int, list[int]] = {}
    for o in t.outputs:
        readers.setdefault(o, []).append(-1)
    for i, node in enumerate(t.nodes):
        if node._maker is not None:
            for a in t.args(i):
                if isinstance(a, Value):
                    readers.setdefault(t.index[a], []).append(i)
    by_inputs = {tuple(t.index[x] for x in lay.inputs): lay for lay in layers}
    for layer in layers:
        outs = list(layer.members)  # the nodes whose values are the columns of H
        shape: tuple[Any, ...] | None = None
        if layer.inner is None:
            outs = _activations(t, layer, readers)
            if not outs:
                continue
            a = outs[0]
            args = t.args(a)
            position = next(k for k, x in enumerate(args) if isinstance(x, Value))
            shape = (position,)
        nxt = by_inputs.get(tuple(outs))
        if nxt is None or nxt is layer:
            continue
        # each output is read once by every node of the next layer, and by nothing else
        if all(sorted(readers.get(o, [])) == sorted(nxt.members) for o in outs):
            if layer.inner is None:
                layer.acts = outs
                layer.act_position = shape[0] if shape else 0
            layer.next = nxt
            nxt.source = layer


def _activations(t: _Graph, layer: _Layer, readers: dict[int, list[int]]) -> list[int]:
    """The nodes applying one elementwise op to each member (and all a member feeds), or []."""
    acts: list[int] = []
    shape: tuple[Any, ...] | None = None
    for m in layer.members:
        r = readers.get(m, [])
        if len(r) != 1 or r[0] < 0:
            return []
        a = r[0]
        op = t.nodes[a]._maker
        args = t.args(a)
        values = [k for k, x in enumerate(args) if isinstance(x, Value)]
        if op is None or len(values) != 1 or t.index[args[values[0]]] != m:
            return []
        plan = t.plans.get(op, args)
        if not plan.traced_forward or not plan.traced_rules[values[0]]:
            return []
        here = (id(op), values[0], tuple(repr(x) for x in args if not isinstance(x, Value)))
        if shape not in (None, here):
            return []
        shape = here
        acts.append(a)
    return acts


def _recorded(v: Value) -> int:
    """A node's place in the order of recording (0 for a leaf, and where no number is kept)."""
    return int(getattr(v, "_seq", 0))


def _neuron_ops() -> dict[Any, Op | None]:
    """The neuron ops (one node per neuron, autograd.ops.NEURONS), each with its activation."""
    return {op: ops.NEURON_ACTIVATIONS[key] for key, op in ops.NEURONS.items()}


def _is_weight(t: _Graph, w: Any) -> bool:
    """A parameter leaf or a constant: shared by every example, read at each call."""
    if not isinstance(w, Value):
        return True
    i = t.index[w]
    return i in t.param_pos


def _is_input(t: _Graph, x: Any) -> bool:
    """An array node (it depends on an input), or a constant."""
    return not isinstance(x, Value) or t.batched[t.index[x]]


# --- the code writer -------------------------------------------------------------


class _Writer:
    """Writes the source of one program variant: plain floats, or numpy arrays."""

    def __init__(self, trace: _Graph, vector: bool) -> None:
        self.t = trace
        self.vector = vector
        self.helpers: dict[str, Any] = {}
        self._by_id: dict[int, str] = {}
        self._templates: dict[tuple[Any, ...], Any] = {}
        self.groups: dict[int, _Layer] = _layers(trace) if vector else {}
        # activations computed on a whole layer's matrix, and read only as a matrix
        self.fused_acts: set[int] = {
            a for layer in self.groups.values() if layer.next is not None for a in layer.acts
        }
        self._e_ready: set[int] = set()  # layers whose next layer wrote E = G @ W
        # weight matrices whose gradients backward adds in one loop, and those loops
        self._bulk_names: dict[tuple[int, str], str] = {}
        self._bulk: list[str] = []
        self._uses: dict[int, int] = {}  # how often each parameter is a layer's weight
        for layer in {id(lay): lay for lay in self.groups.values()}.values():
            for ws in (*layer.weights, *layer.extra_weights):
                for w in ws:
                    if isinstance(w, Value):
                        k = trace.index[w]
                        self._uses[k] = self._uses.get(k, 0) + 1
        # parameters only a layer's matrix reads: no local of their own
        self.layer_only: set[int] = set()
        if self.groups:
            used = {trace.index[a] for a in trace.outputs_values}
            for i, node in enumerate(trace.nodes):
                if node._maker is not None and i not in self.groups:
                    used.update(trace.index[a] for a in trace.args(i) if isinstance(a, Value))
            for layer in self.groups.values():
                for ws in (*layer.weights, *layer.extra_weights):
                    self.layer_only.update(
                        trace.index[w]
                        for w in ws
                        if isinstance(w, Value) and trace.index[w] not in used
                    )

    # names -----------------------------------------------------------------

    def val(self, i: int) -> str:
        k = self.t.input_pos.get(i)
        return f"x{k}" if k is not None else f"v{i}"

    def ref(self, a: Any) -> str:
        return self.val(self.t.index[a]) if isinstance(a, Value) else emit.literal(a)

    def bind(self, obj: Any, stem: str) -> str:
        """A local name in the generated code for a Python object (a custom op's function)."""
        key = id(obj)
        if key not in self._by_id:
            # f_, then ASCII letters, digits and _, ending in _<number>: never a keyword,
            # a helper or a local of the generated code (v3, g3, x0, p0, t3_0).
            name = f"f_{re.sub(r'[^0-9A-Za-z_]', '_', stem)}_{len(self._by_id)}"
            self._by_id[key] = name
            self.helpers[name] = obj
        return self._by_id[key]

    def vec(self, i: int) -> bool:
        """Whether node i holds an array: numpy mode and it depends on an input."""
        return self.vector and self.t.batched[i]

    def _names(self, i: int, args: Sequence[Any]) -> dict[str, str]:
        names = {f"a{k}": self.ref(a) for k, a in enumerate(args) if isinstance(a, Value)}
        names["g"] = f"g{i}"
        names["ans"] = f"v{i}"
        return names

    def _batched_names(self, i: int, args: Sequence[Any]) -> set[str]:
        if not self.vector:
            return set()
        t = self.t
        out = {
            f"a{k}" for k, a in enumerate(args) if isinstance(a, Value) and t.batched[t.index[a]]
        }
        if t.batched[i]:
            out |= {"g", "ans"}
        return out

    def _emitter(self, i: int, args: Sequence[Any], strict: bool) -> emit.Emitter:
        """An emitter writing placeholders (`{a0}`, `{g}`, `{T}`): its text is a template.

        A template is written once per op, operand pattern and batch layout, and
        filled in for each node of that kind (`_fill`): compile time stays linear.
        The placeholders stand for names, so a filled-in expression keeps the
        template's precedence (`Expr.fill`).
        """
        names = {f"a{k}": f"{{a{k}}}" for k, a in enumerate(args) if isinstance(a, Value)}
        names["g"], names["ans"] = "{g}", "{ans}"
        return emit.Emitter(
            names,
            "{T}",
            numpy=self.vec(i),
            strict=strict,
            batched=self._batched_names(i, args),
        )

    def _fill(self, i: int, args: Sequence[Any], strict: bool) -> dict[str, str]:
        """The names a template of node i's code is filled in with."""
        names = self._names(i, args)
        names["T"] = f"t{i}_"  # the forward's locals (the backward function computes them too)
        names["U"] = f"u{i}_"  # the contributions' own
        return names

    # one node ---------------------------------------------------------------

    def forward(self, i: int) -> list[str]:
        """The statements computing node i into its local."""
        t = self.t
        node = t.nodes[i]
        # Labels go into comments: anything but printable characters becomes a space.
        label = "".join(c if c.isprintable() else " " for c in node.label)
        comment = f"  # {label}" if label.strip() else ""
        if node._maker is None:
            if i in t.input_pos or i in self.layer_only:
                return []
            return [f"v{i} = p{t.param_pos[i]}.data{comment}"]
        op = node._maker
        args = t.args(i)
        layer = self.groups.get(i)
        if layer is not None:
            return self._layer_forward(layer, i, comment)
        if i in self.fused_acts:  # computed with its layer, as a column of H
            return []
        plan = t.plans.get(op, args)
        name = f"v{i}"
        name_t = "{ans}"
        if not plan.traced_forward:  # the slow path: the op's own function on floats
            assert not self.vec(i), "the numpy variant refuses ops that do not trace"
            fn = self.bind(op.forward, op.name)
            refs = ", ".join(self.ref(a) for a in args)
            return [
                f"{name} = {fn}({refs}){comment}",
                f"if type({name}) is not float:",
                f"    {name} = as_float({name}, {f'result of op {op.name}'!r})",
            ]
        key = ("forward", id(plan), self.vec(i), frozenset(self._batched_names(i, args)))
        template = self._templates.get(key)
        if template is None:
            em = self._emitter(i, args, strict=True)
            root = em.canon(plan.forward)
            em.count(root)
            expr = em.expression(root)
            if self.vec(i) and not em.is_batched(root):
                expr = call("np.full", atom("n"), expr)
            template = self._templates[key] = [*em.lines, f"{name_t} = {expr.text}"]
        fill = self._fill(i, args, strict=True)
        lines = [line.format_map(fill) for line in template]
        lines[-1] += comment
        return lines

    def grads(self, i: int) -> tuple[list[str], list[tuple[int, Expr]]]:
        """Statements to run first, and node i's contributions to its operands' gradients.

        A contribution from an array node to an operand that is not an array (a
        parameter, in numpy mode) is already summed over the examples.
        """
        t = self.t
        node = t.nodes[i]
        op = node._maker
        assert op is not None
        args = t.args(i)
        plan = t.plans.get(op, args)
        wanted = [k for k, a in enumerate(args) if isinstance(a, Value) and t.needs[t.index[a]]]
        pre: list[str] = []
        out: list[tuple[int, Expr]] = []
        slow = [k for k in wanted if not plan.traced_rules[k]]
        if slow:
            assert not self.vec(i), "the numpy variant refuses ops that do not trace"
            call_args = ", ".join([f"g{i}", f"v{i}", *[self.ref(a) for a in args]])
            if plan.variadic_rule:
                assert op.vjp_all is not None
                rule = self.bind(op.vjp_all, f"{op.name}_vjp")
                pre.append(f"d{i} = tuple({rule}({call_args}))")
                return pre, [(k, atom(f"d{i}[{k}]")) for k in wanted]
            assert op.vjps is not None
            for k in slow:
                rule = self.bind(op.vjps[k], f"{op.name}_vjp{k}")
                out.append((k, atom(f"{rule}({call_args})")))
            wanted = [k for k in wanted if plan.traced_rules[k]]
        layout = tuple(self.vec(t.index[args[k]]) for k in wanted)
        batched = frozenset(self._batched_names(i, args))
        key = ("grads", id(plan), self.vec(i), batched, tuple(wanted), layout)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._grads_template(i, args, plan, wanted, layout)
        lines, texts = template
        fill = self._fill(i, args, strict=False)
        out += [(k, expr.fill(fill)) for k, expr in zip(wanted, texts)]
        return [*pre, *[line.format_map(fill) for line in lines]], out

    def _grads_template(
        self, i: int, args: Sequence[Any], plan: _Plan, wanted: list[int], layout: tuple[bool, ...]
    ) -> tuple[list[str], list[Expr]]:
        """The code of node i's traced contributions, as templates (see `_emitter`).

        A part of a rule that the forward already computed into a local (a
        neuron's weighted sum, which its rule recomputes for the activation's
        slope) is read from that local, and the forward's whole expression is
        the node's own value `{ans}`: the same emitter writes the forward first.
        """
        em = self._emitter(i, args, strict=True)
        start = 0
        if plan.traced_forward:
            root = em.canon(plan.forward)
            em.count(root)
            em.expr(root)
            em.known(root, "{ans}")
            start = len(em.lines)
        em.strict = False
        em.temp = "{U}"
        shapes: list[tuple[str, Any]] = []  # (how it is summed, the symbol to write)
        for k, target_vec in zip(wanted, layout):
            c = em.canon(plan.rules[k])
            how, root = "as is", c
            if self.vec(i) and not target_vec:
                how, root = self._reduction(em, c)
            elif self.vec(i) and not em.is_batched(c):
                how = "full"
            shapes.append((how, root))
        for _, root in shapes:
            em.count(root)
        exprs = []
        for how, root in shapes:
            expr = em.expression(root)
            if how == "g":
                expr = atom("{g}.sum()")
            elif how == "g @":
                expr = binary(atom("{g}"), "@", expr)
            elif how == "g sum *":
                expr = binary(atom("{g}.sum()"), "*", expr)
            elif how == "sum":
                expr = call("np.sum", expr)
            elif how == "n *":
                expr = binary(atom("n"), "*", expr)
            elif how == "full":
                expr = call("np.full", atom("n"), expr)
            exprs.append(expr)
        return em.lines[start:], exprs

    @staticmethod
    def _reduction(em: emit.Emitter, c: Any) -> tuple[str, Any]:
        """How a contribution from an array node is summed over the examples, and what to write.

        `g` sums to `g.sum()`, `g * x` to the dot product `g @ x` (or `g.sum() * x`
        for a shared x); anything else is written whole and summed.
        """
        if isinstance(c, Sym):
            if c.kind == "var" and c.name == "g":
                return "g", c
            if c.kind == "mul":
                x, y = c.args
                for a, b in ((x, y), (y, x)):
                    if isinstance(a, Sym) and a.kind == "var" and a.name == "g":
                        return ("g @" if em.is_batched(b) else "g sum *"), b
            if em.is_batched(c):
                return "sum", c
        return "n *", c

    # layers: dot products sharing their inputs, as matrix products ---------------

    def _weight(self, w: Any) -> Expr:
        """A weight of a layer in the generated code: its parameter's live value, or a number."""
        if isinstance(w, Value):
            return atom(f"p{self.t.param_pos[self.t.index[w]]}.data")
        return constant(w)

    def _layer_forward(self, layer: _Layer, i: int, comment: str) -> list[str]:
        lines: list[str] = []
        L = f"L{layer.id}"
        j = layer.members.index(i)
        if j == 0:  # the whole layer: X (examples x inputs) @ W.T (inputs x nodes) + B
            if layer.source is not None:
                lines.append(f"X{L} = HL{layer.source.id}")
            else:
                cols = ", ".join(self.ref(x) for x in layer.inputs)
                lines.append(f"X{L} = np.stack(({cols},), axis=1)")
            lines.append(f"W{L} = {self._matrix(layer.weights, f'W{L}')}")
            z = binary(atom(f"X{L}"), "@", atom(f"W{L}.T"))
            if layer.constants:
                if len(layer.constants) == 1 and layer.constants[0] == 1.0:
                    lines.append(f"B{L} = {self._matrix(layer.extra_weights, f'B{L}')}[:, 0]")
                else:
                    terms = [
                        functools.reduce(
                            lambda a, b: binary(a, "+", b),
                            [
                                binary(self._weight(w), "*", constant(c))
                                for w, c in zip(ws, layer.constants)
                            ],
                        ).text
                        for ws in layer.extra_weights
                    ]
                    lines.append(f"B{L} = np.array(({', '.join(terms)},))")
                z = binary(z, "+", atom(f"B{L}"))
            lines.append(f"Z{L} = {z.text}")
            if layer.inner is not None or layer.next is not None:
                lines += self._activation(layer, forward=True)
        if layer.next is not None:  # H goes to the next layer whole: no columns
            return lines
        column = "H" if layer.inner is not None else "Z"
        return [*lines, f"v{i} = {column}{L}[:, {j}]{comment}"]

    def _activation(self, layer: _Layer, forward: bool, g: str = "") -> list[str]:
        """The layer's activation on matrices: H from Z, or the gradient G from g's matrix."""
        t = self.t
        L = f"L{layer.id}"
        if layer.inner is not None:
            op: Op | None = layer.inner
            args: Sequence[Any] = (t.nodes[layer.members[0]],)  # one array operand
        else:
            maker = t.nodes[layer.acts[0]]._maker
            assert isinstance(maker, Op)
            op, args = maker, t.args(layer.acts[0])
        assert op is not None
        plan = t.plans.get(op, args)
        k = layer.act_position
        names = {f"a{k}": f"Z{L}", "ans": f"H{L}", "g": g}
        em = emit.Emitter(
            names,
            f"h{layer.id}_" if forward else f"r{layer.id}_",
            numpy=True,
            strict=forward,
            batched=set(names),
        )
        root = em.canon(plan.forward if forward else plan.rules[k])
        em.count(root)
        expr = em.expression(root)
        return [*em.lines, f"{'H' if forward else 'G'}{L} = {expr.text}"]

    def _matrix(self, rows: list[list[Any]], stem: str) -> str:
        """Source of the matrix of a layer's weights, read live from the parameters."""
        flat = [w for ws in rows for w in ws]
        if all(isinstance(w, Value) for w in flat):
            values = self.bind(tuple(flat), stem)
            t = self.t
            if all(t.index[w] in self.layer_only and self._uses[t.index[w]] == 1 for w in flat):
                # read by this matrix only: backward adds the gradients in one loop
                self._bulk_names[(int(stem[2:]), stem[0])] = values
            return f"np.array([w.data for w in {values}]).reshape({len(rows)}, {len(rows[0])})"
        body = ", ".join(
            "(" + "".join(f"{self._weight(w).text}, " for w in ws) + ")" for ws in rows
        )
        return f"np.array(({body},))"

    def _layer_backward(
        self, layer: _Layer, assigned: set[int]
    ) -> tuple[list[str], list[tuple[int, Expr]]]:
        """Statements, then (node, contribution) pairs: the layer's backward as matrix products.

        With G the examples' gradients of the layer's nodes, the weights get the
        sums over examples G.T @ X and the inputs G @ W.
        """
        t = self.t
        L = f"L{layer.id}"
        lines: list[str] = []
        if layer.next is not None:  # fused: the next layer's E is the gradient of H
            assert layer.next is not None
            g = f"EL{layer.next.id}"
            assigned = assigned | set(layer.members)
        else:
            gs = ", ".join(f"g{m}" if m in assigned else "np.zeros(n)" for m in layer.members)
            lines.append(f"O{L} = np.stack(({gs},), axis=1)")
            g = f"O{L}"
        if layer.inner is not None or layer.next is not None:
            lines += self._activation(layer, forward=False, g=g)  # through the activation
        else:
            lines.append(f"G{L} = {g}")
        out: list[tuple[int, Expr]] = []
        bulk = self._bulk_names.get((layer.id, "W"))
        if bulk is not None:  # each weight's gradient is one entry: added in one loop
            lines.append(f"D{L} = (G{L}.T @ X{L}).ravel().tolist()")
            self._bulk.append(f"for w, d in zip({bulk}, D{L}):")
            self._bulk.append("    w.grad += d")
        elif any(isinstance(w, Value) for ws in layer.weights for w in ws):
            lines.append(f"D{L} = (G{L}.T @ X{L}).tolist()")
            for j, ws in enumerate(layer.weights):
                out += [
                    (t.index[w], atom(f"D{L}[{j}][{k}]"))
                    for k, w in enumerate(ws)
                    if isinstance(w, Value)
                ]
        bulk = self._bulk_names.get((layer.id, "B"))
        if bulk is not None:  # the biases likewise
            lines.append(f"S{L} = G{L}.sum(axis=0).tolist()")
            self._bulk.append(f"for b, d in zip({bulk}, S{L}):")
            self._bulk.append("    b.grad += d")
        elif any(isinstance(w, Value) for ws in layer.extra_weights for w in ws):
            lines.append(f"S{L} = G{L}.sum(axis=0).tolist()")
            for j, ws in enumerate(layer.extra_weights):
                for w, c in zip(ws, layer.constants):
                    if isinstance(w, Value):
                        share = atom(f"S{L}[{j}]")
                        out.append(
                            (t.index[w], share if c == 1.0 else binary(share, "*", constant(c)))
                        )
        wanted = [k for k, x in enumerate(layer.inputs) if t.needs[t.index[x]]]
        if wanted:
            lines.append(f"E{L} = G{L} @ W{L}")
            if layer.source is not None:  # the source layer reads E as a whole
                self._e_ready.add(layer.source.id)
            else:
                out += [(t.index[layer.inputs[k]], atom(f"E{L}[:, {k}]")) for k in wanted]
        return lines, out

    # whole functions ----------------------------------------------------------

    def forward_body(self) -> list[str]:
        lines: list[str] = []
        for i in range(len(self.t.nodes)):
            lines += self.forward(i)
        return lines

    def backward_body(self) -> list[str]:
        t = self.t
        lines: list[str] = []
        assigned: set[int] = set()

        def add(target: int, expr: Expr) -> None:
            # `g + a if c else b` would be `(g + a) if c else b`: the sum is built with
            # the contribution's precedence, never pasted (issue 19).
            if target in assigned:
                lines.append(f"g{target} = {binary(atom(f'g{target}'), '+', expr).text}")
            else:
                assigned.add(target)
                lines.append(f"g{target} = {expr.text}")

        for k, o in enumerate(t.outputs):
            if t.needs[o]:
                add(o, atom(f"s{k}"))
        for i in reversed(range(len(t.nodes))):
            if i in self.fused_acts:
                continue  # its layer applies the activation's rule to the whole matrix
            layer = self.groups.get(i)
            if layer is not None:  # one matrix product for the whole layer, at its first node
                fused_in = layer.next is not None and layer.id in self._e_ready
                if i == layer.members[0] and (
                    fused_in or any(m in assigned for m in layer.members)
                ):
                    pre, flows = self._layer_backward(layer, assigned)
                    lines += pre
                    for target, expr in flows:
                        add(target, expr)
                continue
            if t.nodes[i]._maker is None or not t.needs[i] or i not in assigned:
                continue
            pre, contributions = self.grads(i)
            lines += pre
            args = t.args(i)
            for k, expr in contributions:
                add(t.index[args[k]], expr)
        for k, i in enumerate(t.params):
            if i in assigned:
                d = call("float", atom(f"g{i}")) if self.vector else atom(f"g{i}")
                lines.append(f"p{k}.grad += {d.text}")
        return lines + self._bulk

    def source(self) -> str:
        """The module text: `build(P, H)` returns the forward and backward functions."""
        t = self.t
        xs = [f"x{k}" for k in range(len(t.inputs))]
        ss = [f"s{k}" for k in range(len(t.outputs))]
        outs = [self.val(o) for o in t.outputs]
        ret = outs[0] if t.single else _tuple(outs)
        fwd = self.forward_body()
        bwd = self.backward_body()
        if self.vector:
            sig_f = ", ".join(["n", *xs, _BOUND])
            sig_b = ", ".join(["n", *xs, *ss, _BOUND])
            f_lines = [f"def forward({sig_f}):", *_indent(fwd), f"    return {ret}"]
            b_lines = [f"def backward({sig_b}):", *_indent(fwd)]
            if bwd:
                b_lines += ['    with np.errstate(all="ignore"):', *_indent(bwd, 2)]
            b_lines.append(f"    return {ret}")
        else:
            f_lines = self._scalar_function("forward", xs, [], fwd, ret)
            b_lines = self._scalar_function("backward", xs, ss, fwd, ret, bwd)
        body = [*f_lines, "", *b_lines]
        head = ["def build(P, H):"]
        names = [f"p{k}" for k in range(len(t.params))]
        if names:
            head.append(f"    {', '.join(names) if len(names) > 1 else _tuple(names)} = P")
        text = "\n".join(body)
        # a parameter the code never names (a layer reads it through its matrix) is no
        # default argument: a call copies every default into its frame
        named = set(re.findall(r"(?<![\w.])p\d+(?=\.)", text))
        names = [p for p in names if p in named]
        known = {*_HELPERS, *_RUNTIME_NAMES, *self.helpers, "np"}
        # Every identifier not after a dot, in one pass. A name found only in a
        # comment binds a helper that goes unused: harmless.
        used = sorted(known.intersection(re.findall(r"(?<![\w.])[A-Za-z_]\w*", text)))
        head += [f"    {name} = H[{name!r}]" for name in used]
        helpers = {name: _HELPERS[name] for name in used if name in _HELPERS}
        if "np" in used:
            helpers["np"] = _numpy()
        helpers.update(self.helpers)
        self.helpers = helpers
        # Parameters and helpers reach the two functions as default arguments: read as
        # fast locals, and quick to compile even for many thousands of parameters
        # (closure cells made Python's compiler slow down quadratically).
        bound = ", ".join(f"{name}={name}" for name in [*names, *used])
        text = text.replace(f", {_BOUND})", f", {bound})" if bound else ")")
        text = text.replace(f"({_BOUND})", f"({bound})")
        return "\n".join(
            [*head, "", *_indent(text.split("\n")), "", "    return forward, backward", ""]
        )

    def _scalar_function(
        self,
        name: str,
        xs: list[str],
        ss: list[str],
        fwd: list[str],
        ret: str,
        bwd: Sequence[str] = (),
    ) -> list[str]:
        params = [*xs, *ss]
        lines = [f"def {name}({', '.join([*params, _BOUND])}):"]
        if params:
            test = " or ".join(f"type({p}) is not float" for p in params)
            lines += [
                f"    if {test}:",
                f"        return dispatch({name == 'backward'}, {_tuple(xs)}, {_tuple(ss)})",
            ]
        if fwd:
            lines += [
                "    try:",
                *_indent(fwd, 2),
                "    except ERRORS:",
                f"        diagnose({_tuple(xs)})",
                "        raise",
            ]
        lines += [*_indent(bwd), f"    return {ret}"]
        return lines


def _indent(lines: Sequence[str], depth: int = 1) -> list[str]:
    pad = "    " * depth
    return [pad + line if line else line for line in lines]


def _tuple(names: Sequence[str]) -> str:
    """Source of a tuple display: `()`, `(a,)`, `(a, b)`."""
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


def _load(
    owner: object, source: str, helpers: dict[str, Any], params: list[Value]
) -> tuple[Any, Any]:
    """Compile the generated module once and build its two functions.

    Its source is registered with linecache (tracebacks through generated code
    show its lines) for as long as the program that owns the code lives.
    """
    namespace = emit.define(source, "program", {}, owner=owner)
    functions: tuple[Any, Any] = namespace["build"](params, helpers)
    return functions


def _real_array(np: Any, x: Any, what: str) -> Any:
    """`x` as an array of float64, refusing complex numbers (whose imaginary part would be lost)."""
    a = np.asarray(x)
    if a.dtype.kind == "c" or (a.dtype.kind == "O" and any(isinstance(v, complex) for v in a.flat)):
        raise TypeError(f"{what}: batches are arrays of real numbers, got {a.dtype}")
    return a.astype(np.float64, copy=False)


def _numpy() -> Any:
    import numpy  # lazily: `import autograd` stays instant

    return numpy


# --- the program -------------------------------------------------------------------


class Program:
    """A graph compiled to straight-line Python: call it for the output, `backward` for gradients.

    Made by `compile(output, inputs)`. Calls take one number per input (or
    equal-length 1-D numpy arrays, for a batch).

    Attributes:
        inputs: the leaf Values that became the arguments, in order.
        parameters: every other leaf of the graph: read live (`.data`) at each
            call; `backward` adds into their `.grad`.
        outputs: the traced output Value(s).
        source: the generated Python source of the float program.
    """

    def __init__(self, outputs: list[Value], inputs: list[Value], single: bool) -> None:
        self._trace = _Graph(outputs, inputs, single)
        t = self._trace
        self.inputs: tuple[Value, ...] = tuple(inputs)
        self._params = [t.nodes[i] for i in t.params]
        self.parameters: tuple[Value, ...] = tuple(self._params)
        self.outputs: tuple[Value, ...] = tuple(outputs)
        self._single = single
        writer = _Writer(t, vector=False)
        self.source: str = writer.source()
        helpers = self._runtime_helpers(writer.helpers)
        self._forward, self._backward = _load(self, self.source, helpers, self._params)
        self._epoch = -1  # the first backward checks for gradients left as Values
        self._numpy_source: str | None = None
        self._batch_error: str | None = None  # why the numpy variant cannot be built
        self._numpy_fns: tuple[Any, Any] | None = None

    def _runtime_helpers(self, helpers: dict[str, Any]) -> dict[str, Any]:
        helpers = dict(helpers)
        helpers.update(
            ERRORS=_DOMAIN_ERRORS,
            as_float=as_float,
            dispatch=self._dispatch,
            diagnose=self._diagnose,
        )
        return helpers

    def __repr__(self) -> str:
        t = self._trace
        ops_count = sum(n._maker is not None for n in t.nodes)
        outs = "1 output" if self._single else f"{len(t.outputs)} outputs"
        return (
            f"<compiled program: {len(t.inputs)} inputs, {len(t.params)} parameters, "
            f"{ops_count} ops, {outs}>"
        )

    def __call__(self, *inputs: Any) -> Any:
        """Run forward: the output as a float (a tuple for several outputs).

        Args:
            *inputs: one float per input, or equal-length 1-D numpy arrays for a
                batch (floats among them are shared by every example).

        Returns:
            The output; with arrays, the array of per-example outputs.
        """
        if len(inputs) != len(self.inputs):
            raise self._arity_error(inputs)
        return self._forward(*inputs)

    def backward(self, *inputs: Any, gradient: Any = 1.0) -> Any:
        """Run forward and backward: return the output, add d(output)/dp into each `p.grad`.

        Exactly what the eager `output.backward(gradient)` adds, computed
        without building a graph. With numpy arrays as inputs, each parameter
        gets the sum over the examples of the per-example gradients.

        Args:
            *inputs: as for calling the program.
            gradient: the seed d(loss)/d(output), 1.0 by default; for several
                outputs, one number per output (or one for all). In numpy mode
                it may be an array of per-example seeds.

        Returns:
            The output, as calling the program returns it.
        """
        if len(inputs) != len(self.inputs):
            raise self._arity_error(inputs)
        with engine.backward_lock:  # one pass at a time, as eager backward passes run
            if self._epoch != engine.graph_grads_epoch:
                self._float_grads()
            for p in self._params:
                if p.grad is None:  # PyTorch's "no gradient yet" counts as 0, as in eager
                    p.grad = 0.0
            if self._single:
                return self._backward(*inputs, gradient)
            return self._backward(*inputs, *self._seeds(gradient))

    def _float_grads(self) -> None:
        """Gradients left as Values by `backward(create_graph=True)` become their floats.

        A plain eager backward replaces such a gradient with its value plus the
        new gradient, a float, and never extends its graph; so does the program.
        """
        self._epoch = engine.graph_grads_epoch
        for p in self._params:
            if isinstance(p.grad, Value):
                p.grad = p.grad.data

    def _seeds(self, gradient: Any) -> tuple[Any, ...]:
        k = len(self.outputs)
        if isinstance(gradient, (list, tuple)):
            if len(gradient) != k:
                raise ValueError(f"gradient needs one seed per output ({k}), got {len(gradient)}")
            return tuple(gradient)
        return (gradient,) * k

    def _arity_error(self, inputs: tuple[Any, ...]) -> TypeError:
        names = ", ".join(_name_of(v) for v in self.inputs) or "none"
        return TypeError(
            f"the program takes {len(self.inputs)} input value(s) ({names}), got {len(inputs)}"
        )

    @property
    def numpy_source(self) -> str:
        """The generated source of the numpy (batch) variant."""
        self._numpy_functions()
        assert self._numpy_source is not None
        return self._numpy_source

    @property
    def batchable(self) -> bool:
        """Whether the program runs on numpy arrays: False if a custom op does not take them."""
        if self._numpy_fns is None and self._batch_error is None:
            with contextlib.suppress(TypeError):  # the reason is kept in _batch_error
                self._numpy_functions()
        return self._batch_error is None

    def _numpy_functions(self) -> tuple[Any, Any]:
        if self._batch_error is not None:
            raise TypeError(self._batch_error)
        if self._numpy_fns is None:
            self._batch_error = self._why_not_batchable()
            if self._batch_error is not None:
                raise TypeError(self._batch_error)
            writer = _Writer(self._trace, vector=True)
            source = writer.source()
            helpers = self._runtime_helpers(writer.helpers)
            self._numpy_fns = _load(self, source, helpers, self._params)
            self._numpy_source = source
        return self._numpy_fns

    def _why_not_batchable(self) -> str | None:
        """Why the numpy variant cannot be written: an op of the batch part that did not trace."""
        t = self._trace
        for i, node in enumerate(t.nodes):
            op = node._maker
            if op is None or not t.batched[i]:
                continue
            args = t.args(i)
            plan = t.plans.get(op, args)
            problem = ""
            if not plan.traced_forward:
                problem = f"its forward could not be traced ({plan.why_forward})"
            else:
                for k, a in enumerate(args):
                    if isinstance(a, Value) and t.needs[t.index[a]] and not plan.traced_rules[k]:
                        which = "derivative rule" if plan.variadic_rule else f"derivative rule {k}"
                        problem = f"its {which} could not be traced ({plan.why_rules[k]})"
                        break
            if problem:
                return (
                    f"op '{op.name}' cannot run on numpy arrays: {problem}. A numpy batch "
                    "needs custom ops that the tracer can follow, written like the built-in "
                    "ones; call the program with floats, one example at a time"
                )
        return None

    # the slow paths: conversions, batches, errors ---------------------------------

    def _dispatch(self, grad: bool, inputs: tuple[Any, ...], seeds: tuple[Any, ...]) -> Any:
        """Called by the generated code when an argument is not a plain float."""
        xs: list[Any] = []
        batch = False
        for k, x in enumerate(inputs):
            if isinstance(x, Value):
                raise TypeError(
                    f"input {k} ({_name_of(self.inputs[k])}) got a Value; pass numbers "
                    "(its .data) or numpy arrays"
                )
            if getattr(x, "ndim", 0):
                batch = True
                xs.append(x)
            else:
                xs.append(as_float(x, f"input {k} of the program"))
        ss: list[Any] = []
        for s in seeds:
            s = s.data if isinstance(s, Value) else s
            if getattr(s, "ndim", 0):
                if not batch:
                    raise TypeError("an array of gradients needs numpy arrays as inputs")
                ss.append(s)
            else:
                ss.append(as_float(s, "gradient"))
        if batch:
            return self._run_batch(grad, xs, ss)
        return self._backward(*xs, *ss) if grad else self._forward(*xs)

    def _run_batch(self, grad: bool, xs: list[Any], seeds: list[Any]) -> Any:
        np = _numpy()
        t = self._trace
        n: int | None = None
        arrays: list[Any] = []
        for k, x in enumerate(xs):
            if isinstance(x, float):
                arrays.append(x)
                continue
            a = _real_array(np, x, f"input {k}")
            if a.ndim != 1:
                raise ValueError(f"input {k}: batches are 1-D arrays, got shape {a.shape}")
            if n is not None and len(a) != n:
                raise ValueError(
                    f"input arrays must have equal lengths: input {k} has {len(a)}, not {n}"
                )
            n = len(a)
            arrays.append(a)
        assert n is not None
        arrays = [np.full(n, a) if isinstance(a, float) else a for a in arrays]
        for k, s in enumerate(seeds):
            if isinstance(s, float):
                seeds[k] = np.full(n, s) if t.batched[t.outputs[k]] else s * n
            else:
                s = _real_array(np, s, "gradient")
                if s.shape != (n,):
                    raise ValueError(f"gradient: expected shape ({n},), got {s.shape}")
                seeds[k] = s if t.batched[t.outputs[k]] else float(s.sum())
        forward, backward = self._numpy_functions()

        def run() -> Any:
            return backward(n, *arrays, *seeds) if grad else forward(n, *arrays)

        try:
            with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
                result = run()
        except _DOMAIN_ERRORS as e:
            # Find the example whose eager forward fails and raise its own error. If none
            # does, numpy was stricter than Python floats (x * y overflowing to inf is
            # no error in Python): run again with numpy's warnings off.
            self._diagnose_batch(arrays, n)
            if not isinstance(e, FloatingPointError):
                raise
            with np.errstate(all="ignore"):
                result = run()
        outs = [result] if self._single else list(result)
        outs = [
            np.asarray(v, dtype=np.float64) if t.batched[o] else np.full(n, float(v))
            for v, o in zip(outs, t.outputs)
        ]
        return outs[0] if self._single else tuple(outs)

    def _diagnose_batch(self, arrays: list[Any], n: int) -> None:
        columns = [a.tolist() for a in arrays]
        for e, row in enumerate(zip(*columns)):
            try:
                self._diagnose(tuple(row))
            except _DOMAIN_ERRORS as err:
                raise type(err)(f"{err} (example {e} of the batch)") from None

    def _diagnose(self, inputs: tuple[float, ...]) -> None:
        """Replay the forward pass op by op, raising the first op's error as eager would."""
        t = self._trace
        vals: list[Any] = []
        for i, node in enumerate(t.nodes):
            op = node._maker
            if op is None:
                k = t.input_pos.get(i)
                vals.append(inputs[k] if k is not None else node.data)
                continue
            args = t.args(i)
            xs = [vals[t.index[a]] if isinstance(a, Value) else a for a in args]
            try:
                vals.append(op.forward(*xs))
            except (ValueError, ZeroDivisionError, OverflowError) as e:
                raise relabel(e, [a for a in args if isinstance(a, Value)]) from None


def compile(output: Value | Sequence[Value], inputs: Sequence[Value] = ()) -> Program:
    """Trace `output`'s graph once and compile it into a reusable program.

    Args:
        output: the Value to compute (a loss, a model output), or a list of
            Values for a program with several outputs.
        inputs: leaf Values of the graph that become the program's arguments,
            in order. Every other leaf is a parameter, read live from its
            `.data` at each call.

    Returns:
        The `Program`: `prog(*values)` returns the output, and
        `prog.backward(*values)` also adds the gradients into each parameter's
        `.grad`, as `output.backward()` would.

    Raises:
        TypeError: `output` or an input is not a Value.
        ValueError: an input is not a leaf of the graph (computed by an op, or
            not reached from the output, or listed twice), or the graph holds
            an op with no derivative rule.
    """
    single = isinstance(output, Value)
    if not single and not isinstance(output, (list, tuple)):
        raise TypeError(
            f"compile: the output must be a Value or a list of Values, got {type(output).__name__}"
        )
    given: list[Any] = [output] if single else list(output)  # type: ignore[arg-type]
    if not given:
        raise ValueError("compile needs at least one output Value")
    outputs: list[Value] = []
    for o in given:
        if not isinstance(o, Value):
            raise TypeError(f"compile: the output must be a Value, got {type(o).__name__}")
        outputs.append(o)
    if isinstance(inputs, Value):
        inputs = [inputs]
    return Program(outputs, list(inputs), single)
