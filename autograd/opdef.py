"""The op machinery: `Op` and `@custom_op`, how a function of floats becomes a differentiable op.

Built-in ops (`autograd/ops.py`) and users' own ops are made here the same
way. An `Op` checks its arguments, runs the forward rule on floats and, when
an operand is a Value, records one graph node; the backward loop in
`autograd/engine.py` later calls the op's derivative rules.
"""

from __future__ import annotations

import decimal
import inspect
import math
import numbers
import pickle
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

from autograd.engine import (
    ANOMALY,
    NO_GRAD,
    ZERO,
    Constant,
    Value,
    as_float,
    chain_rule,
    constant,
    describe,
    modes,
    tick,
)

__all__ = ["Interval", "Op", "Rule", "custom_op", "float_step_factory", "relabel"]

Rule = Callable[..., Any]


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
        # (the neuron kernel, autograd/fastpaths.py): it replaces the step built from the rules.
        self.float_kernel: Callable[[Value], None] | None = None
        # What the fast float backward loop (autograd/fastpaths.py) calls for this op's
        # nodes: built on first use (after every rule is attached), rebuilt when rules change.
        self.float_step: Callable[[Value], None] = self.build_float_step
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
        self.float_step = self.build_float_step
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
        self.float_step = self.build_float_step
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
            raise relabel(e, found) from None
        return self.record(data, found)

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
            raise relabel(e, (x, y)) from None
        if type(data) is not float or modes.get():
            return self.record(data, (x, y))
        out = _new(Value)
        out.data = data
        out.grad = ZERO
        out._operands = (x, y)
        out._maker = self
        out._seq = tick()
        return out

    def _unary(self, x: Any) -> Any:
        """The op on one operand."""
        if not isinstance(x, Value):
            return self._numbers((x,))
        try:
            data = self.float_forward(x.data)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise relabel(e, (x,)) from None
        if type(data) is not float or modes.get():
            return self.record(data, (x,))
        out = _new(Value)
        out.data = data
        out.grad = ZERO
        out._operands = (x,)
        out._maker = self
        out._seq = tick()
        return out

    def record(self, data: Any, operands: tuple[Value | Constant, ...]) -> Value:
        """The general end of a call: check the result, honour the modes, make the node.

        `data` is the forward's result on the operands' data; `operands` are Values.
        """
        if type(data) is not float:
            data = _result(self, data)
        mode = modes.get()
        if mode & ANOMALY and not math.isfinite(data):
            raise FloatingPointError(
                f"op '{self.name}' produced {data!r} from inputs {describe(operands)}"
            )
        if mode & NO_GRAD:  # a new leaf: logged like Value(...) for the functional API
            return Value(data)
        out = _new(Value)
        out.data = data
        out.grad = ZERO
        out._operands = operands
        out._maker = self
        out._seq = tick()
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
        if modes.get() & ANOMALY and not math.isfinite(data):
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

    def build_float_step(self, node: Value) -> None:
        """Build this op's float backward step (`float_step_factory`), keep it, run it."""
        step = self.float_step = float_step_factory(self)
        step(node)

    def vjp(self, node: Value, g: Any, ans: Any, xs: Sequence[Any], *, graph: bool) -> list[Any]:
        """One gradient per operand of `node`: `rule(g, ans, *xs)`, None for a constant.

        On floats (`xs` the operands' data) or on Values (`graph`: `xs` the
        operands themselves, so the rules record a graph). Each result is
        checked: a real number (or a Value when recording), else a TypeError
        naming the rule.
        """
        args = node._operands
        if self.vjp_all is not None:
            raw = self.vjp_all(g, ans, *xs)
            try:
                grads = list(raw)
            except TypeError:
                raise TypeError(
                    f"derivative rule {_rule_name(self.vjp_all)} of op '{self.name}' returned "
                    f"{type(raw).__name__} {raw!r}; it must return one gradient per argument "
                    f"({len(args)}), as a list or tuple"
                ) from None
            if len(grads) != len(args):
                raise TypeError(
                    f"derivative rule {_rule_name(self.vjp_all)} of op '{self.name}' returned "
                    f"{len(grads)} gradient(s) for {len(args)} argument(s); it must return one "
                    "per argument (any value for a constant argument)"
                )
        elif self.vjps is None:
            raise NotImplementedError(
                f"op '{self.name}' has no derivative rule, so backward cannot pass through it; "
                f"define one with @{self.name}.defvjp"
            )
        else:  # a constant operand's rule is not called: a user's may return anything there
            grads = [
                None if type(a) is Constant else rule(g, ans, *xs)
                for rule, a in zip(self.vjps, args)
            ]
        for i, (a, d) in enumerate(zip(args, grads)):
            if type(a) is Constant:
                grads[i] = None  # a constant operand receives nothing
            elif type(d) is not float and not (graph and isinstance(d, Value)):
                grads[i] = self.as_gradient(i, d, graph=graph)
        return grads

    def as_gradient(self, i: int, d: Any, *, graph: bool = False) -> Any:
        """Rule i's result as a gradient: a float (a Value when recording); else a clear error."""
        if isinstance(d, Value):
            return d if graph else d.data
        if isinstance(d, (numbers.Real, decimal.Decimal)) or (
            getattr(getattr(d, "dtype", None), "kind", None) in ("b", "i", "u", "f")
            and getattr(d, "ndim", None) == 0
        ):
            return float(d)
        rule = self.vjp_all if self.vjp_all is not None else self.vjps[i] if self.vjps else None
        raise TypeError(
            f"derivative rule {_rule_name(rule)} of op '{self.name}' returned "
            f"{type(d).__name__} {d!r} for argument {i}; a rule must return a real number"
            + (" or a Value" if graph else "")
        )


def reference_float_step(op: Op) -> Callable[[Value], None]:
    """The float step the reference engine would take: `chain_rule` itself."""
    return chain_rule


#: Builds an op's float backward step on first use. The reference is `chain_rule`;
#: autograd/fastpaths.py installs a factory of generated steps over it.
float_step_factory: Callable[[Op], Callable[[Value], None]] = reference_float_step


def _rule_name(rule: Any) -> str:
    return repr(getattr(rule, "__name__", type(rule).__name__))


def _operands(args: tuple[Any, ...], name: str) -> tuple[Value | Constant, ...] | None:
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


def relabel(e: Exception, children: Sequence[Value | Constant]) -> Exception:
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
