"""Primitives for floats, Values, numpy arrays and symbols; the symbolic tracer and its emitters.

Every op's forward and derivative rules in `autograd/ops.py` are written once,
branch-free, with the primitives here (`exp`, `log`, `where`, `eq`, ...) and
Python's operators. The same function body then runs under four interpreters:

- plain floats: the eager forward and backward passes (`where` picks one of
  two already computed numbers);
- Values: `backward(create_graph=True)`, where a primitive records the op
  of the same name (`exp(v)` is `ops.exp(v)`), so higher orders come for free;
- numpy arrays: elementwise (`where` is `np.where`);
- symbols (`Sym`): called with symbols, a rule returns the expression it
  computes, which `autograd.compiler` writes out as straight Python source on
  floats (`where` becomes a conditional expression) or on numpy arrays.

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
    "emit",
    "eq",
    "exp",
    "fpow",
    "fsum",
    "function",
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


# --- emitting Python source ----------------------------------------------------------

# Python's operator precedence, lowest first (the levels of the language reference).
_COND, _OR, _AND, _NOT, _CMP, _BITAND, _SUM, _PROD, _UNARY, _POW, _ATOM = (
    1,
    2,
    3,
    4,
    5,
    8,
    10,
    11,
    12,
    13,
    14,
)

_INFIX = {
    "add": (" + ", _SUM),
    "sub": (" - ", _SUM),
    "mul": (" * ", _PROD),
    "div": (" / ", _PROD),
    "lt": (" < ", _CMP),
    "le": (" <= ", _CMP),
    "gt": (" > ", _CMP),
    "ge": (" >= ", _CMP),
    "eq": (" == ", _CMP),
    "ne": (" != ", _CMP),
}

_CALLS = {"exp", "log", "log1p", "sqrt", "sin", "cos", "tanh", "abs"}

#: Names the scalar source may use, and what they are bound to.
SCALAR_NAMES: dict[str, Any] = {
    "exp": math.exp,
    "log": math.log,
    "log1p": math.log1p,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "abs": builtins.abs,
    "fsum": math.fsum,
    "np_fsum": np_fsum,
    "fpow": fpow,
    "inf": _INF,
    "nan": math.nan,
}

#: How deep one expression may nest before a part goes into a local of its own
#: (Python's compiler recurses on nesting; a sum of thousands of terms would overflow it).
MAX_DEPTH = 32


def literal(c: float) -> str:
    """Python source for a float constant, parenthesised when negative so it binds tightly."""
    if math.isnan(c):
        return "nan"
    if math.isinf(c):
        return "inf" if c > 0 else "(-inf)"
    text = repr(float(c))
    return f"({text})" if text.startswith("-") else text


class Emitter:
    """Writes symbols out as Python source: on floats (`numpy=False`) or on numpy arrays.

    `names` maps a 'var' symbol's name to the source text standing for it.
    Shared sub-expressions (structurally equal ones too) get a local of their
    own, named from `temp` and a counter, in `lines`.

    Args:
        names: source text of each variable.
        temp: the prefix of this emitter's locals.
        numpy: write numpy functions (`np.exp`, `np.where`) instead of `math`.
        strict: write a forward pass (`pow` as `pow_fwd`, which raises the
            op's errors) rather than a derivative (`fpow`, total).
        batched: for numpy: the variables that hold arrays.
    """

    def __init__(
        self,
        names: dict[str, str],
        temp: str,
        *,
        numpy: bool = False,
        strict: bool = False,
        batched: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.names = names
        self.temp = temp
        self.numpy = numpy
        self.strict = strict
        self.batched = batched
        self.lines: list[str] = []
        self.used: set[str] = set()  # helper names the source refers to
        self._canon: dict[tuple[Any, ...], Sym] = {}
        self._key: dict[int, tuple[Any, ...]] = {}
        self._uses: dict[int, int] = {}
        self._done: dict[int, tuple[str, int, int]] = {}
        self._keep: list[Any] = []  # symbols whose ids are keys above stay alive

    # canonical form: structurally equal symbols become one --------------------

    def canon(self, s: Any) -> Any:
        """s with every sub-expression replaced by its first structurally equal one."""
        if not isinstance(s, Sym):
            return s
        stack: list[tuple[Sym, bool]] = [(s, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in self._key:
                continue
            if node.kind == "var":
                key: tuple[Any, ...] = ("var", node.name)
            else:
                if not ready:
                    stack.append((node, True))
                    stack.extend((a, False) for a in node.args if isinstance(a, Sym))
                    continue
                key = (
                    node.kind,
                    *[
                        ("s", id(self._canon[self._key[id(a)]]))
                        if isinstance(a, Sym)
                        else ("c", repr(a))
                        for a in node.args
                    ],
                )
            self._keep.append(node)
            self._key[id(node)] = key
            if key not in self._canon:
                args = tuple(
                    self._canon[self._key[id(a)]] if isinstance(a, Sym) else a for a in node.args
                )
                node_c = Sym(node.kind, args, node.name) if node.kind != "var" else node
                self._keep.append(node_c)
                self._canon[key] = node_c
                self._key[id(node_c)] = key
        return self._canon[self._key[id(s)]]

    def count(self, s: Any) -> None:
        """Count the uses of each node below the canonical symbol s (call once per root)."""
        if not isinstance(s, Sym):
            return
        stack = [s]
        while stack:
            node = stack.pop()
            n = self._uses.get(id(node), 0)
            self._uses[id(node)] = n + 1
            if n == 0:
                stack.extend(a for a in node.args if isinstance(a, Sym))

    # emission -------------------------------------------------------------------

    def expr(self, s: Any) -> str:
        """Source text for the canonical symbol s (counted first), with shared parts as locals."""
        return self._emit(s)[0]

    def known(self, s: Any, text: str) -> None:
        """From now on, write the canonical symbol s as `text` (a local that holds its value)."""
        if isinstance(s, Sym) and s.kind != "var":
            self._done[id(s)] = (text, _ATOM, 0)

    def is_batched(self, s: Any) -> bool:
        """Whether s depends on a batched variable (it is an array in numpy mode)."""
        if not isinstance(s, Sym):
            return False
        stack, seen = [s], set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.kind == "var" and node.name in self.batched:
                return True
            stack.extend(a for a in node.args if isinstance(a, Sym))
        return False

    def _emit(self, s: Any) -> tuple[str, int, int]:
        """(text, precedence, nesting depth) of s."""
        if not isinstance(s, Sym):
            text = literal(s)
            if text in ("inf", "nan", "(-inf)"):
                self.used.add(text.strip("(-)"))
            return text, _ATOM, 0
        if s.kind == "var":
            return self.names[s.name], _ATOM, 0
        done = self._done.get(id(s))
        if done is not None:
            return done
        # children first, iteratively (deep chains of sums must not recurse)
        stack = [(s, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in self._done:
                continue
            kids = [a for a in node.args if isinstance(a, Sym) and a.kind != "var"]
            if not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in kids if id(a) not in self._done)
                continue
            text, prec, depth = self._node(node, [self._emit_done(a) for a in node.args])
            if self._uses.get(id(node), 1) > 1 or depth >= MAX_DEPTH:
                name = f"{self.temp}{len(self.lines)}"
                self.lines.append(f"{name} = {text}")
                text, prec, depth = name, _ATOM, 0
            self._done[id(node)] = (text, prec, depth)
        return self._done[id(s)]

    def _emit_done(self, a: Any) -> tuple[str, int, int]:
        if not isinstance(a, Sym) or a.kind == "var":
            return self._emit(a)
        return self._done[id(a)]

    def _node(self, s: Sym, parts: list[tuple[str, int, int]]) -> tuple[str, int, int]:
        k = s.kind
        depth = 1 + max((p[2] for p in parts), default=0)

        def at(i: int, level: int) -> str:
            text, prec, _ = parts[i]
            return text if prec >= level else f"({text})"

        if k in _INFIX:
            op, prec = _INFIX[k]
            if prec == _CMP:  # never chain comparisons: a < b < c means something else
                return f"{at(0, _BITAND)}{op}{at(1, _BITAND)}", _CMP, depth
            return f"{at(0, prec)}{op}{at(1, prec + 1)}", prec, depth
        if k == "neg":
            return f"-{at(0, _UNARY)}", _UNARY, depth
        if k in _CALLS:
            name = f"np.{k}" if self.numpy else k
            self.used.add("np" if self.numpy else k)
            return f"{name}({parts[0][0]})", _ATOM, depth
        if k == "pow":
            return self._pow(s, parts, depth)
        if k == "fsum":
            terms = ", ".join(p[0] for p in parts)
            if self.numpy:
                self.used.add("np_fsum")
                return f"np_fsum({terms})", _ATOM, depth
            self.used.add("fsum")
            return f"fsum(({terms},))", _ATOM, depth
        if k == "where":
            if self.numpy:
                self.used.add("np")
                return f"np.where({parts[0][0]}, {parts[1][0]}, {parts[2][0]})", _ATOM, depth
            return f"{at(1, _OR)} if {at(0, _OR)} else {at(2, _COND)}", _COND, depth
        if k in ("and", "or"):
            if self.numpy:
                self.used.add("np")
                return f"np.logical_{k}({parts[0][0]}, {parts[1][0]})", _ATOM, depth
            prec = _AND if k == "and" else _OR
            return f"{at(0, prec)} {k} {at(1, prec + 1)}", prec, depth
        if k == "not":
            if self.numpy:
                self.used.add("np")
                return f"np.logical_not({parts[0][0]})", _ATOM, depth
            return f"not {at(0, _NOT)}", _NOT, depth
        raise ValueError(f"cannot emit a symbol of kind {k!r}")  # pragma: no cover

    def _pow(self, s: Sym, parts: list[tuple[str, int, int]], depth: int) -> tuple[str, int, int]:
        x, y = s.args
        if self.numpy:
            self.used.add("np")
            return f"np.power({parts[0][0]}, {parts[1][0]})", _ATOM, depth
        if self.strict:
            # Python's ** is the op itself for an integer exponent (never complex; it
            # raises where the op does) and for a positive constant base.
            if (not isinstance(y, Sym) and float(y).is_integer()) or (
                not isinstance(x, Sym) and x > 0.0
            ):
                a = parts[0][0] if parts[0][1] >= _ATOM else f"({parts[0][0]})"
                b = parts[1][0] if parts[1][1] >= _ATOM else f"({parts[1][0]})"
                return f"{a} ** {b}", _POW, depth
            self.used.add("pow_fwd")
            return f"pow_fwd({parts[0][0]}, {parts[1][0]})", _ATOM, depth
        self.used.add("fpow")
        return f"fpow({parts[0][0]}, {parts[1][0]})", _ATOM, depth


def emit(
    roots: Sequence[Any], names: dict[str, str], temp: str, **kw: Any
) -> tuple[Emitter, list[str]]:
    """Source text of each root symbol (or constant), with an `Emitter`'s locals in `.lines`."""
    em = Emitter(names, temp, **kw)
    canon = [em.canon(r) for r in roots]
    for c in canon:
        em.count(c)
    return em, [em.expr(c) for c in canon]


# --- straight float functions for the eager engine -------------------------------------


def function(
    fn: Callable[..., Any],
    n: int,
    *,
    rule: bool = False,
    variadic: bool = False,
    numpy: bool = False,
    strict: bool | None = None,
    name: str = "traced",
) -> Callable[..., Any]:
    """fn traced with n symbolic operands and written out as a Python function.

    For a forward (`rule=False`) the function takes `x0, ..., x{n-1}`; for a
    derivative rule it takes `g, ans, x0, ...` like the rule itself, and a
    `variadic` rule (a `vjp_all`) returns a tuple of the n gradients. With
    `numpy=True` the code calls numpy (`np.where`, `np.exp`) and takes arrays.
    `strict` (default: for a forward) writes pow as the op's own forward,
    which raises pow's errors, instead of the total IEEE pow.

    Raises:
        NotTraceable: fn cannot be traced.
    """
    xs = [f"x{k}" for k in range(n)]
    params = ["g", "ans", *xs] if rule else xs
    syms = [Sym("var", name=p) for p in params]
    roots = trace_all(fn, syms, n) if variadic else [trace(fn, syms)]
    em, texts = emit(
        roots,
        {p: p for p in params},
        "t_",
        numpy=numpy,
        strict=not rule if strict is None else strict,
    )
    result = f"({', '.join(texts)},)" if variadic else texts[0]
    return _define(name, params, em, result)


def _define(name: str, params: list[str], em: Emitter, result: str) -> Callable[..., Any]:
    names = dict(SCALAR_NAMES)
    if "pow_fwd" in em.used:
        names["pow_fwd"] = sys.modules["autograd.ops"].pow.forward
    if "np" in em.used:
        names["np"] = _np()
    helpers = sorted(em.used)
    fname = _ident(name)
    lines = [f"def {fname}({', '.join(params)}{''.join(f', {h}={h}' for h in helpers)}):"]
    lines += [f"    {line}" for line in em.lines]
    lines.append(f"    return {result}")
    namespace: dict[str, Any] = {h: names[h] for h in helpers}
    exec(builtins.compile("\n".join(lines), f"<tapegrad {fname}>", "exec"), namespace)
    made: Callable[..., Any] = namespace[fname]
    return made


def specialize(op: Any, forward: bool = False) -> None:
    """Attach `op.float_vjps` (and with `forward=True`, `op.float_forward`) when they trace.

    See the module docstring. `forward=True` is for an op whose forward has no
    domain check (the written-out code would raise Python's own errors, not
    the op's). Leaves the op as it is for functions that do not trace.
    """
    n = op.nargs
    if n < 0 or op.vjps is None:
        return
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


def _ident(name: str) -> str:
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return text if text and not text[0].isdigit() else f"_{text}"
