"""The op machinery: `Op` and `@custom_op`, how a function of floats becomes a differentiable op.

Built-in ops (`autograd/ops.py`) and users' own ops are made here the same
way. An `Op` checks its arguments, runs the forward rule on floats and, when
an operand is a Value, records one graph node; the backward loop in
`autograd/engine.py` later calls the op's derivative rules.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

from autograd.engine import (
    _ANOMALY,
    _NO_GRAD,
    Rule,
    Value,
    _describe,
    _mode,
    _tick,
    as_float,
    constant,
)

__all__ = ["Interval", "ManualRule", "Op", "custom_op"]


Interval = tuple[float, float]


class Op:
    """A differentiable operation: a forward rule on floats plus one VJP rule per argument.

    Made by `@custom_op`. Called with plain numbers it returns a float; called
    with at least one Value it records one graph node whose `_op` is the op's
    symbol. Rules have the signature `rule(g, ans, *args)` and return
    `g * d(op)/d(arg)`; they are written with differentiable operations so the
    same body serves floats and Values (which is what makes higher order work).

    Attributes:
        name: the function's name.
        symbol: what `_op` shows in graphs and tapes (`'+'` for add).
        forward: the plain-float function.
        nargs: number of arguments, or -1 for a variadic op.
        domain: open interval where the op is defined.
        kinks: points where the op or its first two derivatives are not smooth.
    """

    def __init__(
        self,
        forward: Callable[..., Any],
        *,
        name: str | None = None,
        symbol: str | None = None,
        domain: Interval = (-math.inf, math.inf),
        kinks: Iterable[float] = (),
    ) -> None:
        if not callable(forward):
            raise TypeError(f"custom_op needs a function, got {type(forward).__name__}")
        self.forward = forward
        self.name: str = name or str(getattr(forward, "__name__", "op"))
        self.symbol: str = symbol or self.name
        self.nargs = _arity(forward)
        self.defaults = _numeric_defaults(forward, self.name) if self.nargs > 0 else ()
        self.domain = _interval(domain, self.name)
        self.kinks = _points(kinks, self.name)
        self.vjps: tuple[Rule, ...] | None = None
        self.vjp_all: Rule | None = None
        # What a call on Values runs: the forward itself, or the same function written
        # out as straight float code when autograd.trace.specialize can trace it.
        self.float_forward: Callable[..., Any] = forward
        # A measured fast path for a whole node's float backward step, if an op has one
        # (autograd/neuron.py): it replaces the generic step that calls the rules.
        self.float_kernel: Callable[[Value], None] | None = None
        # What the float backward loop calls for this op's nodes: built on first use
        # (after every rule and specialisation is attached), rebuilt when rules change.
        self._step: Callable[[Value], None] = self._first_step
        self.__doc__ = forward.__doc__
        self.__wrapped__ = forward

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    # An op is a definition, like a function: copies share it, and pickling
    # stores where to find it (so a copied graph still holds the built-in ops).
    def __copy__(self) -> Op:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Op:
        return self

    def __reduce__(self) -> tuple[Callable[[str, str], Op], tuple[str, str]]:
        module = getattr(self.forward, "__module__", None)
        qualname = getattr(self.forward, "__qualname__", "")
        try:
            found = _lookup_op(module, qualname) if module and "<" not in qualname else None
        except (ImportError, pickle.UnpicklingError):
            found = None
        if found is not self:
            raise pickle.PicklingError(
                f"cannot pickle op '{self.name}': it is not defined at the top level of a "
                f"module (looked for {module}.{qualname}); define it with @custom_op at "
                "module level so it can be found by name"
            )
        return _lookup_op, (str(module), str(qualname))

    def defvjp(self, *rules: Rule) -> Rule:
        """Attach the derivative: one rule per argument, `rule(g, ans, *args) -> g * dop/darg`.

        Usable as a decorator for a one-argument op (returns the rule).
        """
        _check_is_op(self)
        if self.nargs < 0:
            raise TypeError(
                f"op '{self.name}' takes a variable number of arguments; use defvjp_all"
            )
        if len(rules) != self.nargs:
            raise TypeError(
                f"op '{self.name}' takes {self.nargs} argument(s), so defvjp needs "
                f"{self.nargs} rule(s), got {len(rules)}"
            )
        for rule in rules:
            _check_rule_arity(self, rule, 2 + self.nargs)
        self.vjps = tuple(rules)
        self.vjp_all = None
        self._step = self._first_step
        return rules[0]

    def defvjp_all(self, rule: Rule) -> Rule:
        """Attach one rule `rule(g, ans, *args)` returning the gradients of all arguments.

        The form for variadic ops such as `sum` and `dot`.
        """
        _check_is_op(self)
        if self.nargs >= 0:
            _check_rule_arity(self, rule, 2 + self.nargs)
        self.vjp_all = rule
        self.vjps = None
        self._step = self._first_step
        return rule

    # A Value among the operands gives a Value (a node); numbers alone give a float;
    # arrays and the compiler's symbols (autograd.trace) give what their interpreter makes.
    @overload
    def __call__(self, x: Value, /, *args: Value | float) -> Value: ...

    @overload
    def __call__(self, x: float, y: Value, /, *args: Value | float) -> Value: ...

    @overload
    def __call__(self, *args: float) -> float: ...

    @overload
    def __call__(self, *args: Any) -> Any: ...

    def __call__(self, *args: Any) -> Any:
        if len(args) == 2 and self.nargs == 2:
            return self._binary(*args)
        if len(args) == 1 and self.nargs == 1:
            return self._unary(args[0])
        found = _operands(args, self.name)
        if found is None:
            return self._numbers(args)
        if self.nargs >= 0 and len(found) != self.nargs:
            return self._fill(args, len(found))
        try:
            data = self.forward(*[a.data for a in found])
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise _relabel(e, found) from None
        return self._record(data, found)

    # Value's operators call these two directly: one and two operands are most nodes.
    def _binary(self, x: Any, y: Any) -> Any:
        """The op on two operands; a number beside a Value becomes a constant."""
        if not isinstance(x, Value):
            if not isinstance(y, Value):
                return self._numbers((x, y))
            x = constant(x, f"operand of {self.name}")
        elif not isinstance(y, Value):
            y = constant(y, f"operand of {self.name}")
        try:
            data = self.float_forward(x.data, y.data)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise _relabel(e, (x, y)) from None
        if type(data) is not float or _mode.get():
            return self._record(data, (x, y))
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out._operands = (x, y)
        out._fn = self
        out._n = _tick()
        return out

    def _unary(self, x: Any) -> Any:
        """The op on one operand."""
        if not isinstance(x, Value):
            return self._numbers((x,))
        try:
            data = self.float_forward(x.data)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise _relabel(e, (x,)) from None
        if type(data) is not float or _mode.get():
            return self._record(data, (x,))
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out._operands = (x,)
        out._fn = self
        out._n = _tick()
        return out

    def _record(self, data: Any, operands: tuple[Value, ...]) -> Value:
        """The general end of a call: check the result, honour the modes, make the node."""
        if type(data) is not float:
            data = _result(self, data)
        mode = _mode.get()
        if mode & _ANOMALY and not math.isfinite(data):
            raise FloatingPointError(
                f"op '{self.name}' produced {data!r} from inputs {_describe(operands)}"
            )
        if mode & _NO_GRAD:  # a new leaf: logged like Value(...) for the functional API
            return Value(data)
        out = _new(Value)
        out.data = data
        out.grad = 0.0
        out._operands = operands
        out._fn = self
        out._n = _tick()
        return out

    def _numbers(self, args: tuple[Any, ...]) -> Any:
        """The op on plain numbers (a float), or on arrays/symbols (autograd.trace decides)."""
        try:
            xs = [a if type(a) is float else as_float(a, f"operand of {self.name}") for a in args]
        except TypeError:
            from autograd import trace  # numpy arrays and the compiler's symbols

            return trace.apply_foreign(self, args)
        if self.nargs >= 0 and len(xs) != self.nargs:
            return self._fill(args, len(xs))
        data = self.forward(*xs)
        if type(data) is not float:
            data = _result(self, data)
        if _mode.get() & _ANOMALY and not math.isfinite(data):
            raise FloatingPointError(f"op '{self.name}' produced {data!r} from inputs {args!r}")
        return data

    def _fill(self, args: tuple[Any, ...], given: int) -> Any:
        """Call again with the forward's defaults for missing trailing arguments, or refuse."""
        missing = self.nargs - given
        if 0 < missing <= len(self.defaults):
            return self(*args, *self.defaults[len(self.defaults) - missing :])
        least = self.nargs - len(self.defaults)
        takes = f"{least} to {self.nargs}" if least < self.nargs else f"{self.nargs}"
        raise TypeError(f"op '{self.name}' takes {takes} argument(s), got {given}")

    def _first_step(self, node: Value) -> None:
        """Build this op's float backward step (see engine.float_step), keep it, run it."""
        from autograd.engine import float_step

        step = self._step = float_step(self)
        step(node)


def entry(op: Op, swap: bool = False) -> Callable[..., Any]:
    """The function Value's operators call for `op`: its forward written into it when possible.

    For a one- or two-operand built-in whose forward traces and needs no domain
    check (`float_forward` is the traced one), the forward expression is
    written into the entry itself (`data = x0 * x1` for mul): the measured fast
    path of recording, one call per operation instead of three. Otherwise the
    op's own `_binary` / `_unary`. With `swap` the entry takes its two operands
    in the other order (for reflected operators: `2.0 * v` calls `v.__rmul__(2.0)`).
    """
    generic: Callable[..., Any] = op._unary
    if op.nargs == 2:
        generic = (lambda y, x: op._binary(x, y)) if swap else op._binary
    if op.nargs not in (1, 2) or op.float_forward is op.forward:
        return generic
    from autograd import emit, trace

    n = op.nargs
    xs = [f"x{k}" for k in range(n)]
    try:
        root = trace.trace(op.forward, [trace.Sym("var", name=x) for x in xs])
        em, (text,) = emit.emit([root], {x: x for x in xs}, "t_", numpy=False, strict=True)
    except trace.NotTraceable:
        return generic
    helpers = sorted(em.used)
    if any(h not in emit.SCALAR_NAMES for h in helpers):
        return generic
    names = ["x", "y"][:n]
    params = names[::-1] if swap else names
    where = repr(f"operand of {op.name}")
    if n == 2:
        check = [
            "    if not isinstance(x, Value):",
            "        if not isinstance(y, Value):",
            "            return op._numbers((x, y))",
            *_constant_lines("x", where),
            "    elif not isinstance(y, Value):",
            *_constant_lines("y", where),
        ]
    else:
        check = ["    if not isinstance(x, Value):", "        return op._numbers((x,))"]
    operands = f"({', '.join(names)},)"
    lines = [
        f"def {op.name}_entry({', '.join(params)}, *, op=op, Value=Value, as_float=as_float,"
        f" mode=mode, new=new, tick=tick{''.join(f', {h}={h}' for h in helpers)}):",
        *check,
        *[f"    {x} = {v}.data" for x, v in zip(xs, names)],
        *[f"    {line}" for line in em.lines],
        f"    data = {text}",
        "    if mode() or type(data) is not float:",
        f"        return op._record(data, {operands})",
        "    out = new(Value)",
        "    out.data = data",
        "    out.grad = 0.0",
        f"    out._operands = {operands}",
        "    out._fn = op",
        "    out._n = tick()",
        "    return out",
    ]
    namespace: dict[str, Any] = {h: emit.SCALAR_NAMES[h] for h in helpers}
    namespace.update(op=op, Value=Value, as_float=as_float, mode=_mode.get, new=_new, tick=_tick)
    source = "\n".join(lines)
    emit.define(source, f"{op.name}_entry", namespace)
    made: Callable[..., Any] = namespace[f"{op.name}_entry"]
    return made


def _constant_lines(name: str, where: str) -> list[str]:
    """`engine.constant(name)` written inline (a call less per operation with a number)."""
    return [
        "        c = new(Value)",
        f"        c.data = {name} if type({name}) is float else as_float({name}, {where})",
        "        c.grad = 0.0",
        "        c._operands = ()",
        "        c._fn = None",
        "        c._n = -1",
        f"        {name} = c",
    ]


def _operands(args: tuple[Any, ...], name: str) -> tuple[Value, ...] | None:
    """The operands as Values (numbers beside a Value become constants); None if no Value."""
    if not any(isinstance(a, Value) for a in args):
        return None
    return tuple([a if isinstance(a, Value) else constant(a, f"operand of {name}") for a in args])


_new = object.__new__


def _lookup_op(module: str, qualname: str) -> Op:
    """The op defined at `module.qualname` (how pickled ops are found again)."""
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, Op):
        raise pickle.UnpicklingError(f"{module}.{qualname} is not a tapegrad op")
    return obj


def _interval(domain: object, name: str) -> Interval:
    """Check `custom_op(domain=...)`: an open interval (lo, hi) of numbers, lo < hi."""
    try:
        ends: tuple[Any, ...] = tuple(domain)  # type: ignore[arg-type]
        if len(ends) != 2:
            raise TypeError
        lo, hi = as_float(ends[0], "domain end"), as_float(ends[1], "domain end")
    except (TypeError, ValueError):
        raise TypeError(
            f"custom_op '{name}': domain must be a pair (lo, hi) of numbers (ends may be "
            f"+-inf), got {domain!r}"
        ) from None
    if not lo < hi:
        raise ValueError(f"custom_op '{name}': domain {domain!r} is empty; need lo < hi")
    return (lo, hi)


def _points(kinks: object, name: str) -> tuple[float, ...]:
    """Check `custom_op(kinks=...)`: finite numbers."""
    try:
        points = tuple(as_float(k, "kink") for k in kinks)  # type: ignore[attr-defined]
    except TypeError:
        raise TypeError(
            f"custom_op '{name}': kinks must be a sequence of numbers, got {kinks!r}"
        ) from None
    if not all(math.isfinite(k) for k in points):
        raise ValueError(f"custom_op '{name}': kinks must be finite, got {kinks!r}")
    return points


def _numeric_defaults(fn: Callable[..., Any], name: str) -> tuple[float, ...]:
    """The defaults of the forward's trailing positional parameters (constant operands)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return ()
    defaults = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty:
            try:
                defaults.append(as_float(p.default, "default"))
            except TypeError:
                raise TypeError(
                    f"custom_op '{name}': the default of parameter {p.name!r} is "
                    f"{p.default!r}; every argument of an op is a number, so defaults must be too"
                ) from None
    return tuple(defaults)


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return -1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return -1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _check_is_op(op: object) -> None:
    if not isinstance(op, Op):
        raise TypeError(
            f"defvjp needs an op made by @custom_op; {op!r} is not a custom op "
            "(decorate the forward function with @custom_op first)"
        )


def _check_rule_arity(op: Op, rule: Rule, expected: int) -> None:
    if not callable(rule):
        raise TypeError(f"defvjp for op '{op.name}' needs functions, got {type(rule).__name__}")
    n = _arity(rule)
    if n not in (-1, expected):
        names = ", ".join(["g", "ans", *[f"x{i}" for i in range(expected - 2)]])
        raise TypeError(
            f"derivative rule {getattr(rule, '__name__', rule)!r} for op '{op.name}' takes "
            f"{n} argument(s); expected {expected}: ({names})"
        )


def _result(op: Op, data: Any) -> float:
    try:
        return as_float(data, "result")
    except TypeError:
        raise TypeError(
            f"op '{op.name}' returned {type(data).__name__} {data!r}; "
            "a forward rule must return a real number"
        ) from None


def _relabel(e: Exception, children: Sequence[Value]) -> Exception:
    """Add the operands' labels to a domain error from a forward rule.

    The error keeps its type; one whose class cannot be rebuilt from a message
    (a user's exception with its own constructor) is kept as it is, with the
    labels added as a note.
    """
    labels = [f"Value '{c.label}'" for c in children if c.label]
    if not labels:
        return e
    msg = str(e)
    head, sep, tail = msg.partition(";")
    text = f"{head} ({', '.join(labels)}){sep}{tail}"
    try:
        new = type(e)(text)
    except Exception:
        new = None
    if type(new) is type(e) and str(new) == text:
        new.__dict__.update(e.__dict__)  # a user's exception keeps its attributes
        return new
    if hasattr(e, "add_note"):  # Python 3.11+
        e.add_note(f"operands: {', '.join(labels)}")
    return e


class ManualRule(Op):
    """The derivative of a node built by hand, micrograd style: `out._backward = fn`.

    `fn()` adds `local * out.grad` into the operands' `.grad` fields itself. It
    works on floats, so a backward pass with `create_graph=True` refuses it
    rather than silently missing the second-order terms. `fn` is None for a
    node built with children and no rule yet (backward then says so).
    """

    def __init__(self, fn: Callable[[], None] | None, name: str = "") -> None:
        # No forward rule and no VJP rules: `compile` and `defvjp` see an op without a
        # derivative and refuse it by name; the backward loop calls `run` instead.
        self.fn = fn
        self.forward = _no_forward
        self.symbol = name  # what `_op` shows: the name the node was built with
        self.name = name or "unnamed"
        self.nargs = -1
        self.domain = (-math.inf, math.inf)
        self.kinks = ()
        self.vjps = None
        self.vjp_all = None
        self.defaults = ()
        self.float_kernel = None
        self._step = self.run

    def __repr__(self) -> str:
        return f"<op {self.name} with an assigned _backward>"

    def __reduce__(self) -> Any:
        if self.fn is None:  # a node built by hand and not given a rule yet
            return (ManualRule, (None, self.symbol))
        raise pickle.PicklingError(
            f"cannot pickle op {self.name!r}: its _backward was assigned by hand and refers "
            "to the nodes; define the op with @custom_op"
        )

    def run(self, node: Value) -> None:
        """Call the assigned function (it adds into the operands' `.grad` itself)."""
        if self.fn is None:
            if not node._operands:  # a leaf given an op name: nothing to pass a gradient to
                return
            raise TypeError(
                f"{node!r} (op {node._op!r}) was built with {len(node._prev)} children but "
                "no derivative rule, so backward cannot pass through it: assign "
                "out._backward = fn (micrograd style) or build it from tapegrad's ops"
            )
        self.fn()

    def refuse_graph(self, node: Value) -> None:
        """Raise: a float-only rule cannot be recorded by `backward(create_graph=True)`."""
        if self.fn is None:
            self.run(node)
        raise TypeError(
            f"backward(create_graph=True) cannot differentiate through op {node._op!r}: its "
            "_backward was assigned micrograd-style and works on floats only; define the op "
            "with @custom_op to get higher-order derivatives"
        )


def _no_forward(*xs: float) -> float:
    raise TypeError("an op whose _backward was assigned by hand has no forward rule to call")


@overload
def custom_op(fn: Callable[..., Any]) -> Op: ...


@overload
def custom_op(
    fn: None = None,
    *,
    domain: Interval = ...,
    kinks: Iterable[float] = ...,
    name: str | None = ...,
    symbol: str | None = ...,
) -> Callable[[Callable[..., Any]], Op]: ...


def custom_op(
    fn: Callable[..., Any] | None = None,
    *,
    domain: Interval = (-math.inf, math.inf),
    kinks: Iterable[float] = (),
    name: str | None = None,
    symbol: str | None = None,
) -> Op | Callable[[Callable[..., Any]], Op]:
    """Turn a plain function of floats into a differentiable op.

    Use as `@custom_op` or `@custom_op(domain=(lo, hi), kinks=(k, ...))`, then
    attach the derivative with `@op.defvjp`. See `Op`.

    Args:
        fn: the forward rule, a function of floats returning a float.
        domain: open interval where the op is defined (ends may be +-inf).
        kinks: points where the op or one of its first two derivatives is not smooth.
        name: the op's name (default: the function's name).
        symbol: what graphs show for it (default: the name).
    """
    if fn is None:
        return lambda f: Op(f, name=name, symbol=symbol, domain=domain, kinks=kinks)
    return Op(fn, name=name, symbol=symbol, domain=domain, kinks=kinks)
