"""Compilation: a recorded graph turned into generated straight-line Python, on floats or numpy.

`compile(output, inputs)` walks the graph `output` was built from once and
writes it out as Python source: one local variable per node and one statement
per op, built-in ops inlined as float expressions (`v7 = v3 * v5`,
`v8 = tanh(v7)`, relu as a conditional, a dot product as a sum of products),
then the backward pass written the same way in reverse (`g3 = g7 * v5`). The
source is compiled once with Python's own `compile`; afterwards a call creates
no Value objects and walks no graph, which is where the speed comes from::

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
(relu's `x > 0`) belong to the op and are evaluated afresh every time.

`prog.backward(...)` adds d(output)/d(parameter) into each parameter's `.grad`,
exactly as the eager `output.backward()` would (the inputs' Values are not
touched: they are arguments, not part of the state). Called with equal-length
1-D numpy arrays instead of floats, the same program evaluates the whole batch
in one call from a second generated variant written with numpy functions: it
returns the array of per-example outputs, and `backward` adds the *sum* over
examples of the per-example gradients.

Built-in ops are inlined from the table of templates below, whose math mirrors
the rules in `autograd/ops.py` (the op table stays the single source of truth
for eager differentiation; a test checks every template against it). Ops made
with `@custom_op` are called as functions: their forward rule and derivative
rules on floats, or on whole arrays in numpy mode. The numpy variant is built
on the first call with arrays (or `prog.numpy_source`, or `prog.batchable`),
and building it runs every custom op on a batch of its traced values and
nearby ones, against its results on floats: an op whose forward or rules do
not work elementwise on arrays (`math.*`, an `if` on the value, a reduction
over the batch) makes it raise a `TypeError` naming the op, and the program
stays usable with floats, one example at a time. Errors match eager: a domain error (log of a
negative number, division by zero) raises the op's own message, naming the
example of the batch in numpy mode. `detect_anomaly()` does not apply to
compiled programs.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import itertools
import linecache
import math
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from autograd import engine, ops
from autograd.engine import Value, as_float, topological_order
from autograd.opdef import ManualRule, Op, _relabel

__all__ = ["Program", "compile"]

# Exceptions a forward rule raises for a bad value: the generated code catches
# these only to replay the step the eager way and raise the op's own message.
_DOMAIN_ERRORS = (ValueError, ArithmeticError)

# A variadic op's sum is written in lines of this many terms, because a single
# expression of thousands of terms nests too deeply for Python's compiler.
_TERMS_PER_LINE = 32

# Names the generated code may use besides the templates' helpers, bound at load time.
_RUNTIME_NAMES = ("ERRORS", "as_float", "dispatch", "diagnose")
_NUMPY_NAMES = ("np", "np_sigmoid", "np_softplus", "np_logsumexp", "np_softmaxes")

# Stands for the default arguments in a signature until the source knows them.
_BOUND = "__bound__"

_SUM = ops.OPS["sum"]
_DOT = ops.OPS["dot"]
_LSE = ops.OPS["logsumexp"]
# logsumexp's derivative, met in graphs that backward(create_graph=True) recorded
_SOFTMAX = ops._softmax


# --- the templates: how each built-in op reads as Python ------------------------


@dataclass(frozen=True)
class Template:
    """How one built-in op is written out: its forward expression and per-argument gradients.

    Placeholders: `{0}`, `{1}` the operands, `{g}` the gradient arriving at the
    node, `{ans}` the node's own value. Scalar forms use the helpers bound from
    `math` (`tanh`, `exp`, ...); numpy forms call `np.*` and work elementwise.

    Attributes:
        forward: the forward expression on floats.
        grads: per argument, `g * d(op)/d(arg)` on floats (the op's VJP rule).
        np_forward: the forward expression on arrays (default: `forward`).
        np_grads: the gradients on arrays (default: `grads`).
    """

    forward: str
    grads: tuple[str, ...]
    np_forward: str | None = None
    np_grads: tuple[str, ...] | None = None


#: Built-in ops written inline. The variadic `sum`, `dot` and `logsumexp` are written by
#: `_Writer` itself, and so is `pow` with a constant exponent (`_Writer._pow_forward`).
TEMPLATES: dict[Op, Template] = {
    ops.add: Template("{0} + {1}", ("{g}", "{g}")),
    ops.sub: Template("{0} - {1}", ("{g}", "-{g}")),
    ops.mul: Template("{0} * {1}", ("{g} * {1}", "{g} * {0}")),
    ops.div: Template("{0} / {1}", ("{g} / {1}", "-{g} * {ans} / {1}")),
    ops.neg: Template("-{0}", ("-{g}",)),
    ops.pow: Template(
        "pow({0}, {1})",
        ("pow_dx({g}, {ans}, {0}, {1})", "pow_dy({g}, {ans}, {0}, {1})"),
        np_forward="{0} ** {1}",
        np_grads=(
            "np.where({1} == 0.0, {g} * 0.0, np.where(({0} == 0.0) & ({1} < 1.0), {g} * inf,"
            " {g} * {1} * {0} ** ({1} - 1.0)))",
            "np.where({0} > 0.0, {g} * {ans} * np.log({0}), np.where({0} == 0.0, {g} * 0.0,"
            " {g} * nan))",
        ),
    ),
    ops.abs: Template(
        "abs({0})",
        ("({g} if {0} > 0.0 else (-{g} if {0} < 0.0 else {g} * 0.0))",),
        np_forward="np.abs({0})",
        np_grads=("np.where({0} > 0.0, {g}, np.where({0} < 0.0, -{g}, {g} * 0.0))",),
    ),
    ops.exp: Template("exp({0})", ("{g} * {ans}",), np_forward="np.exp({0})"),
    ops.log: Template("log({0})", ("{g} / {0}",), np_forward="np.log({0})"),
    ops.sqrt: Template(
        "sqrt({0})",
        ("({g} / (2.0 * {ans}) if {ans} != 0.0 else {g} * inf)",),
        np_forward="np.sqrt({0})",
        np_grads=("np.where({ans} != 0.0, {g} / (2.0 * {ans}), {g} * inf)",),
    ),
    ops.sin: Template(
        "sin({0})", ("{g} * cos({0})",), np_forward="np.sin({0})", np_grads=("{g} * np.cos({0})",)
    ),
    ops.cos: Template(
        "cos({0})", ("-{g} * sin({0})",), np_forward="np.cos({0})", np_grads=("-{g} * np.sin({0})",)
    ),
    ops.tanh: Template("tanh({0})", ("{g} * (1.0 - {ans} * {ans})",), np_forward="np.tanh({0})"),
    ops.sigmoid: Template(
        "sigmoid({0})", ("{g} * {ans} * (1.0 - {ans})",), np_forward="np_sigmoid({0})"
    ),
    ops.relu: Template(  # tested as x <= 0, so that NaN passes through as in the op
        "(0.0 if {0} <= 0.0 else {0})",
        ("({g} * 0.0 if {0} <= 0.0 else {g})",),
        np_forward="np.where({0} <= 0.0, 0.0, {0})",
        np_grads=("np.where({0} <= 0.0, {g} * 0.0, {g})",),
    ),
    ops.leaky_relu: Template(
        "({0} if {0} > 0.0 else {1} * {0})",
        ("({g} if {0} > 0.0 else {g} * {1})", "({g} * 0.0 if {0} > 0.0 else {g} * {0})"),
        np_forward="np.where({0} > 0.0, {0}, {1} * {0})",
        np_grads=(
            "np.where({0} > 0.0, {g}, {g} * {1})",
            "np.where({0} > 0.0, {g} * 0.0, {g} * {0})",
        ),
    ),
    ops.softplus: Template(
        "softplus({0})",
        ("{g} * sigmoid({0})",),
        np_forward="np_softplus({0})",
        np_grads=("{g} * np_sigmoid({0})",),
    ),
}


def _rule(op: Op, i: int) -> Callable[..., Any]:
    assert op.vjps is not None  # the built-in ops all have per-argument rules
    return op.vjps[i]


#: Functions the scalar templates call, bound as locals of the generated code.
_SCALAR_HELPERS: dict[str, Any] = {
    "abs": builtins.abs,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "sigmoid": ops.sigmoid.forward,
    "softplus": ops.softplus.forward,
    "pow": ops.pow.forward,
    "pow_dx": _rule(ops.pow, 0),
    "pow_dy": _rule(ops.pow, 1),
    "logsumexp": _LSE.forward,
    "softmaxes": lambda *xs: ops._softmax_floats(xs),
    "inf": math.inf,
    "nan": math.nan,
}


def _numpy_helpers(np: Any) -> dict[str, Any]:
    """The functions numpy templates call besides `np.*`: sigmoid and softplus, computed stably."""

    def np_sigmoid(x: Any) -> Any:
        # The eager formulas, branch by branch: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below,
        # where e^-|x| is exactly the exponential each branch needs (and never overflows).
        e = np.exp(-np.abs(x))
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    def np_softplus(x: Any) -> Any:
        return np.where(x > 0.0, x, 0.0) + np.log1p(np.exp(-np.abs(x)))

    def np_logsumexp(*xs: Any) -> Any:
        m = functools.reduce(np.maximum, xs)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf m: replaced
            total = builtins.sum(np.exp(x - m) for x in xs)
            return np.where(np.isinf(m), m, m + np.log(total))

    def np_softmaxes(*xs: Any) -> list[Any]:
        # ops._softmax_floats on arrays: shares of e^(x - max); where the max is
        # infinite, e^(x - lse) with lse that same infinity (PyTorch's NaN/0 pattern).
        m = functools.reduce(np.maximum, xs)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            es = [np.exp(x - m) for x in xs]
            total = builtins.sum(es)
            return [np.where(np.isinf(m), e, e / total) for e in es]

    return {
        "np": np,
        "np_sigmoid": np_sigmoid,
        "np_softplus": np_softplus,
        "np_logsumexp": np_logsumexp,
        "np_softmaxes": np_softmaxes,
    }


# Gradient templates of the form `g` or `g * {k}`: for a parameter in numpy mode
# the sum over examples of such a product is one dot product (`g @ x`).
_PRODUCT = re.compile(r"\{g\}(?: \* \{(\d)\})?")


def _product_factor(template: str) -> int | None:
    """-1 if the template is just `{g}`, k if it is `{g} * {k}`, else None."""
    m = _PRODUCT.fullmatch(template)
    if m is None:
        return None
    return -1 if m.group(1) is None else int(m.group(1))


def _literal(c: float) -> str:
    """Python source for a float constant, parenthesised when negative so it binds tightly."""
    if math.isnan(c):
        return "nan"
    if math.isinf(c):
        return "inf" if c > 0 else "(-inf)"
    text = repr(c)
    return f"({text})" if text.startswith("-") else text


# --- the trace -----------------------------------------------------------------


def _name_of(v: Value) -> str:
    return f"'{v.label}'" if v.label else repr(v)


class _Trace:
    """The recorded graph, checked and annotated once: what the code writers read."""

    def __init__(self, outputs: list[Value], inputs: list[Value], single: bool) -> None:
        self.single = single  # one output Value, not a list of them
        order: list[Value] = []
        seen: set[Value] = set()
        for out in outputs:
            for node in topological_order(out):
                if node not in seen:
                    seen.add(node)
                    order.append(node)
        # Gradients flow only through nodes made by ops: a leaf (no `_fn`) ends the walk.
        live: set[Value] = set(outputs)
        for node in reversed(order):
            if node in live and node._fn is not None:
                live.update(node._prev)
        self.nodes = [n for n in order if n in live]
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.outputs = [self.index[o] for o in outputs]
        self.inputs = self._check_inputs(inputs)
        self.input_pos = {i: k for k, i in enumerate(self.inputs)}
        for node in self.nodes:
            op = node._fn
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
            i for i, n in enumerate(self.nodes) if n._fn is None and i not in self.input_pos
        ]
        self.param_pos = {i: k for k, i in enumerate(self.params)}
        # needs[i]: a parameter lies below node i, so its gradient must be computed.
        # batched[i]: node i depends on an input, so in numpy mode it is an array.
        self.needs: list[bool] = []
        self.batched: list[bool] = []
        for i, node in enumerate(self.nodes):
            if node._fn is None:
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
            if v._fn is not None:
                raise ValueError(
                    f"compile: input {k} ({_name_of(v)}) is computed by op '{v._fn.name}', "
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
        return node._args if node._args is not None else node._prev


# --- the code writer -------------------------------------------------------------

# A gradient contribution: (operand position, expression, product factor), where
# the factor is -1 for `g`, k for `g * operand k`, None for anything else.
_Contribution = tuple[int, str, int | None]


class _Writer:
    """Writes the source of one program variant: plain floats, or numpy arrays."""

    def __init__(self, trace: _Trace, vector: bool) -> None:
        self.t = trace
        self.vector = vector
        self.helpers: dict[str, Any] = {}
        self._by_id: dict[int, str] = {}

    # names -----------------------------------------------------------------

    def val(self, i: int) -> str:
        k = self.t.input_pos.get(i)
        return f"x{k}" if k is not None else f"v{i}"

    def ref(self, a: Any) -> str:
        return self.val(self.t.index[a]) if isinstance(a, Value) else _literal(a)

    def bind(self, obj: Any, stem: str) -> str:
        """A local name in the generated code for a Python object (a custom op's function)."""
        key = id(obj)
        if key not in self._by_id:
            # ASCII letters, digits and _, ending in _<number>: never a keyword, a
            # template helper or a local of the generated code (v3, g3, x0, p0).
            name = f"{re.sub(r'[^0-9A-Za-z_]', '_', stem)}_{len(self._by_id)}"
            if name[0].isdigit():
                name = "_" + name
            self._by_id[key] = name
            self.helpers[name] = obj
        return self._by_id[key]

    def vec(self, i: int) -> bool:
        """Whether node i holds an array: numpy mode and it depends on an input."""
        return self.vector and self.t.batched[i]

    # one node ---------------------------------------------------------------

    def forward(self, i: int) -> list[str]:
        """The statements computing node i into its local."""
        t = self.t
        node = t.nodes[i]
        # Labels go into comments: anything but printable characters becomes a space.
        label = "".join(c if c.isprintable() else " " for c in node.label)
        comment = f"  # {label}" if label.strip() else ""
        if node._fn is None:
            if i in t.input_pos:
                return []
            return [f"v{i} = p{t.param_pos[i]}.data{comment}"]
        op = node._fn
        args = t.args(i)
        refs = [self.ref(a) for a in args]
        name = f"v{i}"
        if op is _SUM or op is _DOT:
            return self._variadic(name, op, args, refs)
        if op is _LSE:
            fn = "np_logsumexp" if self.vec(i) else "logsumexp"
            return [f"{name} = {fn}({', '.join(refs)}){comment}"]
        if op is _SOFTMAX:
            fn = "np_softmaxes" if self.vec(i) else "softmaxes"
            return [f"{name} = {fn}({', '.join(refs)})[0]{comment}"]
        if op in TEMPLATES:
            tpl = TEMPLATES[op]
            text = tpl.np_forward if self.vec(i) and tpl.np_forward else tpl.forward
            if op is ops.pow and not self.vec(i):
                text = self._pow_forward(args)
            return [f"{name} = {text.format(*refs)}{comment}"]
        if self.vec(i):
            call = self.bind(_Vectorized(op.forward, op.name), f"vec_{op.name}")
            return [f"{name} = {call}(n, {', '.join(refs)})"]
        fn = self.bind(op.forward, op.name)
        return [
            f"{name} = {fn}({', '.join(refs)}){comment}",
            f"if type({name}) is not float:",
            f"    {name} = as_float({name}, {f'result of op {op.name}'!r})",
        ]

    def _variadic(self, name: str, op: Op, args: Sequence[Any], refs: list[str]) -> list[str]:
        if op is _SUM:
            terms = refs
        else:
            n = len(args) // 2
            terms = [self._product(args[k], refs[k], args[n + k], refs[n + k]) for k in range(n)]
        lines = []
        for start in range(0, len(terms), _TERMS_PER_LINE):
            chunk = terms[start : start + _TERMS_PER_LINE]
            head = [name] if start else []
            lines.append(f"{name} = {' + '.join(head + chunk)}")
        return lines

    @staticmethod
    def _product(w: Any, wref: str, x: Any, xref: str) -> str:
        # w * 1.0 is w exactly, which spares a multiplication for every bias.
        if not isinstance(x, Value) and x == 1.0:
            return wref
        if not isinstance(w, Value) and w == 1.0:
            return xref
        return f"{wref} * {xref}"

    @staticmethod
    def _pow_forward(args: Sequence[Any]) -> str:
        x, y = args
        # With an integer exponent (x ** 2.0) or a positive constant base, Python's
        # own ** can never turn complex, so it is safe inline; otherwise the op checks.
        if not isinstance(y, Value) and float(y).is_integer():
            return "{0} ** {1}"
        if not isinstance(x, Value) and x > 0.0:
            return "{0} ** {1}"
        return "pow({0}, {1})"

    def grads(self, i: int) -> tuple[list[str], list[_Contribution]]:
        """Statements to run first, and node i's contributions to its operands' gradients."""
        t = self.t
        node = t.nodes[i]
        op = node._fn
        assert op is not None
        args = t.args(i)
        refs = [self.ref(a) for a in args]
        g, ans = f"g{i}", f"v{i}"
        wanted = [k for k, a in enumerate(args) if isinstance(a, Value) and t.needs[t.index[a]]]
        out: list[_Contribution] = []
        if op is _SUM:
            return [], [(k, g, -1) for k in wanted]
        if op is _DOT:
            n = len(args) // 2
            for k in wanted:
                other = k + n if k < n else k - n
                a = args[other]
                if not isinstance(a, Value) and a == 1.0:
                    out.append((k, g, -1))
                else:
                    out.append((k, f"{g} * {refs[other]}", other))
            return [], out
        if op is _LSE:  # d/dxk = softmax(x)_k, all shares computed in one pass
            fn = "np_softmaxes" if self.vec(i) else "softmaxes"
            pre = [f"d{i} = {fn}({', '.join(refs)})"]
            return pre, [(k, f"{g} * d{i}[{k}]", None) for k in wanted]
        if op is _SOFTMAX:  # ops._softmax_vjp: d/dx0 = s0 (s1 + ... + sn), d/dxj = -s0 sj
            if len(args) == 1:
                return [], [(k, f"{g} * 0.0", None) for k in wanted]
            fn = "np_softmaxes" if self.vec(i) else "softmaxes"
            pre = [f"d{i} = {fn}({', '.join(refs)})"]
            rest = " + ".join(f"d{i}[{j}]" for j in range(1, len(args)))
            return pre, [
                (k, f"{g} * {ans} * ({rest})" if k == 0 else f"-({g} * {ans}) * d{i}[{k}]", None)
                for k in wanted
            ]
        if op in TEMPLATES:
            tpl = TEMPLATES[op]
            texts = tpl.np_grads if self.vec(i) and tpl.np_grads else tpl.grads
            for k in wanted:
                text = texts[k]
                if op is ops.pow and k == 0 and not self.vec(i):
                    text = self._pow_dx(args[1]) or text
                factor = _product_factor(text)
                out.append((k, text.format(*refs, g=g, ans=ans), factor))
            return [], out
        call_args = ", ".join([g, ans, *refs])
        vec = self.vec(i)
        if op.vjp_all is not None:
            if vec:
                rule = self.bind(_Vectorized(op.vjp_all, op.name, len(args)), f"vec_{op.name}_vjp")
                call_args = f"n, {call_args}"
            else:
                rule = self.bind(op.vjp_all, f"{op.name}_vjp")
            pre = [f"d{i} = {'' if vec else 'tuple'}({rule}({call_args}))"]
            return pre, [(k, f"d{i}[{k}]", None) for k in wanted]
        assert op.vjps is not None
        for k in wanted:
            rule = self.bind(op.vjps[k], f"{op.name}_vjp{k}")
            if vec:
                rule = self.bind(_Vectorized(op.vjps[k], op.name), f"vec_{op.name}_vjp{k}")
                out.append((k, f"{rule}(n, {call_args})", None))
            else:
                out.append((k, f"{rule}({call_args})", None))
        return [], out

    @staticmethod
    def _pow_dx(y: Any) -> str | None:
        """d/dx x^y inline for a constant exponent y, with the rule's branches resolved."""
        if isinstance(y, Value):
            return None
        if y == 0.0:
            return "{g} * 0.0"
        if y >= 1.0:  # the rule's x == 0 branch needs y < 1
            return f"{{g}} * {{1}} * {{0}} ** {_literal(y - 1.0)}"
        return None

    def reduce(self, i: int, contribution: _Contribution) -> str:
        """A contribution from array node i to a scalar operand, summed over the examples."""
        _, expr, factor = contribution
        g = f"g{i}"
        if factor == -1:
            return f"{g}.sum()"
        if factor is not None:
            a = self.t.args(i)[factor]
            other = self.ref(a)
            if isinstance(a, Value) and self.t.batched[self.t.index[a]]:
                return f"{g} @ {other}"
            return f"{g}.sum() * {other}"
        return f"np.sum({expr})"

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

        def add(target: int, expr: str) -> None:
            if target in assigned:
                lines.append(f"g{target} = g{target} + {expr}")
            else:
                assigned.add(target)
                lines.append(f"g{target} = {expr}")

        for k, o in enumerate(t.outputs):
            if t.needs[o]:
                add(o, f"s{k}")
        for i in reversed(range(len(t.nodes))):
            if t.nodes[i]._fn is None or not t.needs[i] or i not in assigned:
                continue
            pre, contributions = self.grads(i)
            lines += pre
            args = t.args(i)
            for c in contributions:
                target = t.index[args[c[0]]]
                expr = c[1]
                if self.vec(i) and not self.vec(target):
                    expr = self.reduce(i, c)
                add(target, expr)
        for k, i in enumerate(t.params):
            if i in assigned:
                d = f"float(g{i})" if self.vector else f"g{i}"
                lines.append(f"p{k}.grad += {d}")
        return lines

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
        known = {*_SCALAR_HELPERS, *_RUNTIME_NAMES, *self.helpers}
        if self.vector:
            known.update(_NUMPY_NAMES)
        # Every identifier not after a dot, in one pass. A name found only in a
        # comment binds a helper that goes unused: harmless.
        used = sorted(known.intersection(re.findall(r"(?<![\w.])[A-Za-z_]\w*", text)))
        head += [f"    {name} = H[{name!r}]" for name in used]
        helpers = {name: _SCALAR_HELPERS[name] for name in used if name in _SCALAR_HELPERS}
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


_counter = itertools.count()


def _load(
    owner: object, source: str, helpers: dict[str, Any], params: list[Value]
) -> tuple[Any, Any]:
    """Compile the generated module once and build its two functions."""
    filename = f"<tapegrad program {next(_counter)}>"
    # Registered with linecache so tracebacks through generated code show its
    # lines, for as long as the program that owns the code lives.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(owner, linecache.cache.pop, filename, None)
    code = builtins.compile(source, filename, "exec")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    functions: tuple[Any, Any] = namespace["build"](params, helpers)
    return functions


class _Vectorized:
    """A custom op's function called with arrays: its result as float64 arrays of n values.

    `Program._why_not_batchable` has tried the function on arrays before any
    program calls it; a 0-d result (a rule returning a constant) is repeated.
    """

    def __init__(self, fn: Callable[..., Any], name: str, parts: int = 0) -> None:
        self.fn = fn
        self.name = name
        self.parts = parts  # 0: one result; k: k results (a vjp_all rule)

    def __call__(self, n: int, *args: Any) -> Any:
        np = _numpy()
        try:
            out = self.fn(*args)
        except TypeError as e:  # values the check before did not meet
            raise TypeError(f"op '{self.name}' failed on numpy arrays: {e}") from e
        if not self.parts:
            return _batch_of(np, out, n, self.name)
        return [None if p is None else _batch_of(np, p, n, self.name) for p in out]


def _batch_of(np: Any, value: Any, n: int, name: str) -> Any:
    a = np.asarray(value, dtype=np.float64)
    if a.shape == ():
        return np.full(n, float(a))
    if a.shape != (n,):
        raise TypeError(f"op '{name}' returned shape {a.shape} for a batch of {n} examples")
    return a


def _part(rule: Callable[..., Any], k: int) -> Callable[..., Any]:
    """The k-th result of a `vjp_all` rule, as a function of the rule's arguments."""

    def part(*args: Any) -> Any:
        return list(rule(*args))[k]

    return part


def _moved(row: list[Any], batched: list[bool], domain: tuple[float, float]) -> list[Any]:
    """`row` with each batched value moved by about an eighth, staying inside `domain`."""
    lo, hi = domain
    out = list(row)
    for j, b in enumerate(batched):
        if b:
            x = float(row[j])
            step = 0.125 * (abs(x) + 1.0)
            up, down = x + step, x - step
            out[j] = up if lo < up < hi else down if lo < down < hi else x
    return out


def _try(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    """fn(*args), or the exception it raised."""
    try:
        return fn(*args)
    except Exception as e:
        return e


def _batch_problem(
    np: Any, fn: Callable[..., Any], rows: list[list[Any]], batched: list[bool]
) -> str | None:
    """What goes wrong when `fn` gets the rows as one batch instead of one by one, if anything.

    `batched[j]` says whether argument j varies by example (an array) or is shared.
    """
    arrays = [
        np.array([r[j] for r in rows], dtype=np.float64) if b else rows[0][j]
        for j, b in enumerate(batched)
    ]
    with np.errstate(all="ignore"):  # a probe: numpy's warnings would only confuse
        expected = [_try(fn, r) for r in rows]
        got = _try(fn, arrays)
        if isinstance(got, BaseException):
            if all(type(e) is type(got) for e in expected):
                return None  # it fails on floats the same way: eager stops there too
            return f"raised {type(got).__name__}: {got}"
        try:
            a = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return f"returned {type(got).__name__}, not numbers"
        if a.shape not in ((), (len(rows),)):
            return f"returned shape {a.shape} for a batch of {len(rows)}"
        a = np.broadcast_to(a, (len(rows),))
        for k, e in enumerate(expected):
            if isinstance(e, BaseException):
                continue  # this example fails on floats: nothing to compare
            try:
                ok = np.allclose(a[k], float(e), rtol=1e-9, atol=1e-12, equal_nan=True)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                values = [v if isinstance(v, BaseException) else float(v) for v in expected]
                return f"gave {a.tolist()} for a batch but {values} example by example"
    return None


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
        self._trace = _Trace(outputs, inputs, single)
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
        ops_count = sum(n._fn is not None for n in t.nodes)
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
            np = _numpy()
            self._batch_error = self._why_not_batchable(np)
            if self._batch_error is not None:
                raise TypeError(self._batch_error)
            writer = _Writer(self._trace, vector=True)
            source = writer.source()
            helpers = self._runtime_helpers(writer.helpers)
            helpers.update(_numpy_helpers(np))
            self._numpy_fns = _load(self, source, helpers, self._params)
            self._numpy_source = source
        return self._numpy_fns

    def _why_not_batchable(self, np: Any) -> str | None:
        """Try every custom op of the batch part on arrays, against its results on floats.

        Each forward rule, and each derivative rule the program will call, gets a
        batch of two examples: the values the op saw while tracing, and those
        values moved a little (inside the op's domain). It must return an array
        of the two float results (or a constant, where that is what they are).
        """
        t = self._trace
        for i, node in enumerate(t.nodes):
            op = node._fn
            if (
                op is None
                or not t.batched[i]
                or op in TEMPLATES
                or op in (_SUM, _DOT, _LSE, _SOFTMAX)
            ):
                continue
            args = t.args(i)
            batched = [isinstance(a, Value) and t.batched[t.index[a]] for a in args]
            row = [a.data if isinstance(a, Value) else a for a in args]
            rows = [row, _moved(row, batched, op.domain)]
            checks: list[tuple[str, Callable[..., Any], list[list[Any]], list[bool]]] = [
                ("forward", op.forward, rows, batched)
            ]
            wanted = [k for k, a in enumerate(args) if isinstance(a, Value) and t.needs[t.index[a]]]
            if wanted:  # the rules see (g, ans, *args), g and ans per example
                with np.errstate(all="ignore"):
                    answers = [_try(op.forward, r) for r in rows]
                rule_rows = [[1.0, ans, *r] for ans, r in zip(answers, rows)]
                if isinstance(answers[1], BaseException):
                    rule_rows[1] = rule_rows[0]
                rule_batched = [True, True, *batched]
                if op.vjp_all is not None:
                    checks += [
                        ("derivative rule", _part(op.vjp_all, k), rule_rows, rule_batched)
                        for k in wanted
                    ]
                elif op.vjps is not None:
                    checks += [
                        (f"derivative rule {k}", op.vjps[k], rule_rows, rule_batched)
                        for k in wanted
                    ]
            for what, fn, fn_rows, fn_batched in checks:
                problem = _batch_problem(np, fn, fn_rows, fn_batched)
                if problem:
                    return (
                        f"op '{op.name}' cannot run on numpy arrays: its {what} {problem}. A "
                        "numpy batch needs custom ops whose forward and derivative rules take "
                        "arrays elementwise (numpy functions and operators, not math.* or an "
                        "`if` on the value); call the program with floats, one example at a time"
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
            op = node._fn
            if op is None:
                k = t.input_pos.get(i)
                vals.append(inputs[k] if k is not None else node.data)
                continue
            args = t.args(i)
            xs = [vals[t.index[a]] if isinstance(a, Value) else a for a in args]
            try:
                vals.append(op.forward(*xs))
            except (ValueError, ZeroDivisionError, OverflowError) as e:
                raise _relabel(e, [a for a in args if isinstance(a, Value)]) from None


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
