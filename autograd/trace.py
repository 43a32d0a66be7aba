"""Primitives for floats, Values, numpy arrays and symbols; the symbolic tracer.

Every op's forward and derivative rules in `autograd/ops.py` are written once,
branch-free, with the primitives here (`exp`, `log`, `where`, `eq`, ...) and
Python's operators. The same function body then runs under four interpreters:

- plain floats: the eager forward and backward passes (`where` picks one of
  two already computed numbers);
- Values: `backward(create_graph=True)`, where a primitive records the op
  of the same name (`exp(v)` is `ops.exp(v)`), so higher orders come for free;
- numpy arrays: elementwise (`where` is `np.where`);
- symbols (`Sym`): called with symbols, a rule returns the expression it
  computes, which `autograd/emit.py` writes out as straight Python source on
  floats (`where` becomes a conditional expression) or on numpy arrays, for
  `autograd.compiler` and the engine's fast paths.

A function that cannot be traced (a Python `if` on a value, `math.*`,
`float(x)`, `==` on a symbol) raises `NotTraceable` while tracing; the
compiler then calls that function itself, example by example.

For the eager engine, `specialize(op)` attaches to an op:

- `op.float_vjps`: a tuple with one function per argument, same signature as
  the rules (`f(g, ans, *xs)`), taking and returning floats: each op's traced
  rule emitted as straight Python (conditional expressions, `math` functions,
  no helper calls for `where`). Only for ops with per-argument rules whose
  every rule traces; exactly equal to calling the rule with floats.
- `op.float_forward`: the traced forward as straight Python on floats, for
  ops whose forward needs no domain check (`relu`, `sigmoid`, `tanh`, ...).

The built-in ops get both when `autograd.ops` loads. A function whose trace
fails simply gets no attribute, and the engine keeps calling the rule itself.
"""

from __future__ import annotations

import builtins
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from typing import Any

from autograd import engine
from autograd.engine import Value

__all__ = [
    "NotTraceable",
    "Sym",
    "apply_foreign",
    "cos",
    "eq",
    "exp",
    "fpow",
    "fsum",
    "lift",
    "log",
    "log1p",
    "ne",
    "pow",
    "sin",
    "specialize",
    "sqrt",
    "tanh",
    "trace",
    "where",
]

_INF = math.inf


class NotTraceable(Exception):
    """Raised while tracing: the function converted a symbol to a bool or a number.

    An internal signal, not an error for users: the compiler catches it and
    calls the function itself on floats, one example at a time.
    """


# --- symbols ----------------------------------------------------------------------


def _const(x: Any) -> Any:
    """A Sym, or the operand as a float constant; None for anything else."""
    if isinstance(x, Sym):
        return x
    if type(x) is float:
        return x
    if isinstance(x, (int, float, numbers.Real)):  # bool, int, np.float64
        return float(x)
    return None


def _refuse(what: str) -> NotTraceable:
    return NotTraceable(
        f"it applies {what} to its operand: a Python branch or a float-only function "
        "(write it with autograd.trace.where, eq, ne and the ops)"
    )


class Sym:
    """A symbolic value: a node of the expression a traced function computes.

    `kind` is a primitive's name ('add', 'exp', 'where', 'lt', ...) or 'var'
    (a named input, `name`); operands are Syms or float constants. Python's
    arithmetic and comparison operators build new symbols; `==`, `bool()` and
    `float()` raise `NotTraceable` (use `eq`, `ne` and `where`).
    """

    __slots__ = ("args", "kind", "name")

    def __init__(self, kind: str, args: tuple[Any, ...] = (), name: str = "") -> None:
        self.kind = kind
        self.args = args
        self.name = name

    def __repr__(self) -> str:
        if self.kind == "var":
            return f"Sym({self.name})"
        return f"Sym({self.kind}, {', '.join(map(repr, self.args))})"

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        raise _refuse("==")

    def __ne__(self, other: object) -> bool:
        raise _refuse("!=")

    def __bool__(self) -> bool:
        raise _refuse("bool()")

    def __float__(self) -> float:
        raise _refuse("float()")

    def __int__(self) -> int:
        raise _refuse("int()")

    def __index__(self) -> int:
        raise _refuse("an index")

    def __complex__(self) -> complex:
        raise _refuse("complex()")

    def __round__(self, ndigits: Any = None) -> Any:
        raise _refuse("round()")

    def __trunc__(self) -> Any:
        raise _refuse("math.trunc()")

    def __floor__(self) -> Any:
        raise _refuse("math.floor()")

    def __ceil__(self) -> Any:
        raise _refuse("math.ceil()")

    def __add__(self, o: Any) -> Any:
        return _binary("add", self, o)

    def __radd__(self, o: Any) -> Any:
        return _binary("add", o, self)

    def __sub__(self, o: Any) -> Any:
        return _binary("sub", self, o)

    def __rsub__(self, o: Any) -> Any:
        return _binary("sub", o, self)

    def __mul__(self, o: Any) -> Any:
        return _binary("mul", self, o)

    def __rmul__(self, o: Any) -> Any:
        return _binary("mul", o, self)

    def __truediv__(self, o: Any) -> Any:
        return _binary("div", self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return _binary("div", o, self)

    def __pow__(self, o: Any) -> Any:
        return _binary("pow", self, o)

    def __rpow__(self, o: Any) -> Any:
        return _binary("pow", o, self)

    def __neg__(self) -> Sym:
        return Sym("neg", (self,))

    def __pos__(self) -> Sym:
        return self

    def __abs__(self) -> Sym:
        return Sym("abs", (self,))

    def __lt__(self, o: Any) -> Any:
        return _binary("lt", self, o)

    def __le__(self, o: Any) -> Any:
        return _binary("le", self, o)

    def __gt__(self, o: Any) -> Any:
        return _binary("gt", self, o)

    def __ge__(self, o: Any) -> Any:
        return _binary("ge", self, o)

    def __and__(self, o: Any) -> Any:
        return _logical("and", self, o)

    __rand__ = __and__

    def __or__(self, o: Any) -> Any:
        return _logical("or", self, o)

    __ror__ = __or__

    def __invert__(self) -> Sym:
        return Sym("not", (self,))

    # numpy functions called on a symbol (np.exp(s)) come here.
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = _UFUNCS.get(ufunc.__name__)
        if method != "__call__" or kwargs or fn is None:
            raise NotTraceable(f"numpy's {ufunc.__name__} is not a traceable primitive")
        return fn(*inputs)


def _binary(kind: str, a: Any, b: Any) -> Any:
    x, y = _const(a), _const(b)
    if x is None or y is None:
        return NotImplemented
    # x * 1.0 and x / 1.0 are x exactly (NaN, infinities and -0.0 included)
    if kind == "mul":
        if not isinstance(y, Sym) and y == 1.0:
            return x
        if not isinstance(x, Sym) and x == 1.0:
            return y
    elif kind in ("div", "pow") and not isinstance(y, Sym) and y == 1.0:
        return x
    return Sym(kind, (x, y))


def _logical(kind: str, a: Any, b: Any) -> Any:
    if isinstance(b, (bool,)) or (not isinstance(b, Sym) and type(b).__name__ == "bool_"):
        if kind == "and":
            return a if b else False
        return True if b else a
    if not isinstance(b, Sym):
        return NotImplemented
    return Sym(kind, (a, b))


def _sym_unary(kind: str) -> Callable[[Any], Sym]:
    return lambda x: Sym(kind, (x,))


# --- primitives: one function, four interpreters ----------------------------------

_np_module: Any = None


def _np() -> Any:
    global _np_module
    if _np_module is None:
        import numpy  # lazily: `import autograd` stays without numpy

        _np_module = numpy
    return _np_module


def _is_array(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


def _unary(name: str, fmath: Callable[[float], float], op_name: str | None) -> Callable[[Any], Any]:
    def primitive(x: Any) -> Any:
        if type(x) is float:
            return fmath(x)
        if isinstance(x, Sym):
            return Sym(name, (x,))
        if isinstance(x, Value):
            if op_name is None:
                raise TypeError(
                    f"{name} of a Value: {name} is a primitive without its own op; "
                    "write the expression with the ops in autograd.ops"
                )
            return getattr(sys.modules["autograd.ops"], op_name)(x)
        if isinstance(x, numbers.Real) and not _is_array(x):
            return fmath(float(x))
        return getattr(_np(), _NP_NAMES.get(name, name))(x)

    primitive.__name__ = primitive.__qualname__ = name
    primitive.__doc__ = f"{name}(x) of a float, Value, numpy array or traced symbol."
    return primitive


exp = _unary("exp", math.exp, "exp")
log = _unary("log", math.log, "log")
log1p = _unary("log1p", math.log1p, None)
sqrt = _unary("sqrt", math.sqrt, "sqrt")
sin = _unary("sin", math.sin, "sin")
cos = _unary("cos", math.cos, "cos")
tanh = _unary("tanh", math.tanh, "tanh")
fabs = _unary("abs", builtins.abs, "abs")

_NP_NAMES = {"abs": "abs"}


def fpow(x: float, y: float) -> float:
    """x ** y on floats, total as C's (and numpy's) pow: overflow is +-inf, no real result NaN.

    Python's own ** raises OverflowError, raises ZeroDivisionError for a zero
    base to a negative power and returns a complex number for a negative base
    to a fractional one; this returns what IEEE pow gives instead.
    """
    try:
        r = x**y
    except OverflowError:
        odd = x < 0.0 and y % 2.0 == 1.0
        return -_INF if odd else _INF
    except ZeroDivisionError:  # 0 ** y, y < 0: -inf only for -0.0 to an odd integer power
        odd = y % 2.0 == 1.0 and math.copysign(1.0, x) < 0.0
        return -_INF if odd else _INF
    if type(r) is complex:
        return math.nan
    return float(r)


def pow(x: Any, y: Any) -> Any:
    """x ** y of floats, Values, numpy arrays or symbols, as IEEE pow (never raises on floats).

    On Values it records `ops.pow`, except where the float result overflows or
    the operands are outside pow's domain: then the float itself (a constant),
    which is what a derivative rule wants at those points.
    """
    if type(x) is float and type(y) is float:
        return fpow(x, y)
    if isinstance(x, Sym) or isinstance(y, Sym):
        return _binary("pow", x, y)
    if isinstance(x, Value) or isinstance(y, Value):
        try:
            return sys.modules["autograd.ops"].pow(x, y)
        except (ValueError, ZeroDivisionError, OverflowError):
            return fpow(float(_data(x)), float(_data(y)))
    if _is_array(x) or _is_array(y):
        return _np().power(x, y)
    return fpow(float(x), float(y))


def fsum(terms: Sequence[Any]) -> Any:
    """The correctly rounded sum of terms (math.fsum): the same for any order of the terms.

    Floats give math.fsum; numpy arrays one math.fsum per example; symbols a
    node, written as `fsum((a, b, ...))` in float code. Not for Values.
    """
    if all(type(t) is float for t in terms):
        return math.fsum(terms)
    if any(isinstance(t, Sym) for t in terms):
        args = tuple(_const(t) for t in terms)
        if any(a is None for a in args):
            raise NotTraceable("fsum() of traced values needs numbers or traced values")
        return Sym("fsum", args)
    if any(isinstance(t, Value) for t in terms):
        raise TypeError("fsum of Values: add them with autograd.ops.sum")
    if any(_is_array(t) for t in terms):
        return np_fsum(*terms)
    return math.fsum(float(t) for t in terms)


def np_fsum(*terms: Any) -> Any:
    """fsum per example: arrays (and shared floats) in, the array of correctly rounded sums out."""
    np = _np()
    columns = np.broadcast_arrays(*[np.asarray(t, dtype=np.float64) for t in terms])
    rows = np.stack(columns, axis=-1).reshape(-1, len(terms)).tolist()
    return np.array([math.fsum(r) for r in rows], dtype=np.float64).reshape(columns[0].shape)


def where(cond: Any, a: Any, b: Any) -> Any:
    """`a` where `cond` holds, else `b`: a choice of floats or Values, np.where, or a symbol.

    Both branches are computed before the choice (they are arguments), so a
    branch that must not run at some points guards its own operands: write
    `log(where(x > 0.0, x, 1.0))`, not `log(x)`.
    """
    if cond is True:
        return a
    if cond is False:
        return b
    if isinstance(cond, Sym):
        x, y = _const(a), _const(b)
        if x is None or y is None:
            raise NotTraceable("where() of a traced condition needs numbers or traced values")
        return Sym("where", (cond, x, y))
    if _is_array(cond):
        return _np().where(cond, a, b)
    return a if cond else b


def eq(a: Any, b: Any) -> Any:
    """a == b by value: a bool for floats and Values (compared by .data), elementwise on arrays."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        x, y = _const(_data(a)), _const(_data(b))
        return Sym("eq", (x, y))
    return _data(a) == _data(b)


def ne(a: Any, b: Any) -> Any:
    """a != b by value: a bool for floats and Values (compared by .data), elementwise on arrays."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        x, y = _const(_data(a)), _const(_data(b))
        return Sym("ne", (x, y))
    return _data(a) != _data(b)


def lift(op: Any) -> Callable[..., Any]:
    """An op as a function of all four interpreters: the op on Values, its forward otherwise.

    `lift(ops.sigmoid)(x)` records a sigmoid node for a Value x and computes
    the same formula for floats, arrays and symbols (which the op itself
    hands to `apply_foreign`).
    """
    forward = op.forward

    def lifted(*xs: Any) -> Any:
        for x in xs:
            if isinstance(x, Value):
                return op(*xs)
        return forward(*xs)

    lifted.__name__ = lifted.__qualname__ = op.name
    return lifted


def apply_foreign(op: Any, args: Sequence[Any]) -> Any:
    """`op(*args)` where an argument is a traced symbol or a numpy array: the forward's result.

    Called by `Op.__call__` for arguments that are neither Values nor real
    numbers. Any other argument is refused with the TypeError `as_float` raises.
    """
    foreign = False
    for a in args:
        if isinstance(a, (Sym, Value)) or _is_array(a):
            foreign = foreign or not isinstance(a, Value)
        else:
            engine.as_float(a, f"operand of {op.name}")
    if not foreign:  # pragma: no cover - Op.__call__ handles Values and numbers itself
        return op(*args)
    xs = list(args)
    if op.nargs >= 0 and len(xs) < op.nargs:
        missing = op.nargs - len(xs)
        if 0 < missing <= len(op.defaults):
            xs += op.defaults[len(op.defaults) - missing :]
    if any(isinstance(a, Value) for a in xs):
        raise TypeError(
            f"op '{op.name}' got Values together with symbols or numpy arrays; "
            "pass numbers (a Value's .data) or arrays"
        )
    return op.forward(*xs)


_UFUNCS: dict[str, Callable[..., Any]] = {
    "exp": exp,
    "log": log,
    "log1p": log1p,
    "sqrt": sqrt,
    "sin": sin,
    "cos": cos,
    "tanh": tanh,
    "absolute": fabs,
    "fabs": fabs,
    "negative": lambda x: -x,
    "add": lambda x, y: x + y,
    "subtract": lambda x, y: x - y,
    "multiply": lambda x, y: x * y,
    "divide": lambda x, y: x / y,
    "true_divide": lambda x, y: x / y,
    "power": lambda x, y: pow(x, y),
    "less": lambda x, y: x < y,
    "less_equal": lambda x, y: x <= y,
    "greater": lambda x, y: x > y,
    "greater_equal": lambda x, y: x >= y,
    "equal": eq,
    "not_equal": ne,
}


# --- tracing ---------------------------------------------------------------------------


def trace(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    """fn(*args) with symbols among the arguments: the expression it computes.

    Returns a Sym, or a float when the result does not depend on the symbols.
    Raises `NotTraceable` when the function cannot be traced (it branched on a
    symbol, converted one to a number, or returned something else); any other
    exception from the function is raised as `NotTraceable` too, naming it.
    """
    try:
        out = fn(*args)
    except NotTraceable:
        raise
    except Exception as e:
        raise NotTraceable(f"it raised {type(e).__name__}: {e}") from e
    return _result(out)


def _result(out: Any) -> Any:
    if isinstance(out, Sym):
        return out
    c = _const(out)
    if c is None or isinstance(out, Value):
        raise NotTraceable(f"it returned {type(out).__name__}, not a number")
    return c


def trace_all(fn: Callable[..., Any], args: Sequence[Any], n: int) -> list[Any]:
    """A `vjp_all` rule traced: its n results, each a Sym or a float."""
    try:
        out = list(fn(*args))
    except NotTraceable:
        raise
    except Exception as e:
        raise NotTraceable(f"it raised {type(e).__name__}: {e}") from e
    if len(out) != n:
        raise NotTraceable(f"it returned {len(out)} gradients for {n} arguments")
    return [_result(o) for o in out]


# --- straight float functions for the eager engine -------------------------------------


def specialize(op: Any, forward: bool = False) -> None:
    """Attach `op.float_vjps` (and with `forward=True`, `op.float_forward`) when they trace.

    See the module docstring. `forward=True` is for an op whose forward has no
    domain check (the written-out code would raise Python's own errors, not
    the op's). Leaves the op as it is for functions that do not trace.
    """
    n = op.nargs
    if n < 0 or op.vjps is None:
        return
    from autograd.emit import function  # the emitter needs the tracer, not the reverse

    try:
        fns = tuple(
            function(rule, n, rule=True, name=f"{op.name}_vjp{k}") for k, rule in enumerate(op.vjps)
        )
    except NotTraceable:
        return
    op.float_vjps = fns
    if forward:
        try:
            op.float_forward = function(op.forward, n, name=f"{op.name}_forward")
        except NotTraceable:
            return
