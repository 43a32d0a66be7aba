"""Python source from traced symbols: expressions with their precedence, emitter, generated code.

The tracer (`autograd/trace.py`) turns an op's rule into a tree of symbols;
this module writes such trees out as Python source on floats or on numpy
arrays, for the eager engine's fast paths and for `autograd.compiler`.

Source is built as expressions with their precedence (`Expr`), never by
pasting text next to an operator: `g + a if c else b` is `(g + a) if c else b`
to Python, so an emitted `a if c else b` put after `g + ` must be
parenthesised, and `binary`, `call` and `Expr.at` do that. Every generated
function goes through `define`, which registers its source with `linecache`
(as `dataclasses` does for the methods it writes), so tracebacks, pdb and
`inspect.getsource` show the generated lines.
"""

from __future__ import annotations

import builtins
import itertools
import linecache
import math
import sys
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autograd.trace import Sym, fpow, np_fsum, trace, trace_all

__all__ = [
    "ADDITIVE",
    "AND",
    "ATOM",
    "BITAND",
    "COMPARISON",
    "CONDITIONAL",
    "MAX_DEPTH",
    "MULTIPLICATIVE",
    "NOT",
    "OR",
    "POWER",
    "SCALAR_NAMES",
    "UNARY",
    "Emitter",
    "Expr",
    "atom",
    "binary",
    "call",
    "constant",
    "define",
    "emit",
    "function",
    "literal",
]

# --- expressions with their precedence ------------------------------------------------

# Python's operator precedence, lowest first (the levels of the language reference).
CONDITIONAL = 1  # a if c else b
OR = 2
AND = 3
NOT = 4
COMPARISON = 5  # < <= > >= == !=
BITAND = 8
ADDITIVE = 10  # + -
MULTIPLICATIVE = 11  # * / @
UNARY = 12  # -x
POWER = 13  # x ** y
ATOM = 14  # a name, a number, a call, a subscript, a parenthesised form


@dataclass(frozen=True)
class Expr:
    """The source text of an expression and the precedence of its outermost operator.

    Put it inside a larger expression with `at(level)` (or `binary`, `call`),
    which parenthesises the text when its operator binds more loosely than the
    place it goes; `.text` alone is fit only where any expression is (the right
    side of an assignment, a call's argument, a `return`).
    """

    text: str
    prec: int = ATOM

    def at(self, level: int) -> str:
        """The text for a place that needs at least precedence `level`."""
        return self.text if self.prec >= level else f"({self.text})"

    def fill(self, names: Mapping[str, str]) -> Expr:
        """A template's placeholders (`{g}`, `{a0}`) filled in with names: the same precedence.

        Every name must be an atom (a local's name, `p0.data`), which is what
        keeps the precedence of the template the precedence of the result.
        """
        return Expr(self.text.format_map(names), self.prec)


def atom(text: str) -> Expr:
    """A name, attribute, subscript or call (`g3`, `p0.data`, `d4[1]`): binds tightest."""
    return Expr(text, ATOM)


def constant(c: float) -> Expr:
    """A float constant as an expression (negative ones parenthesised, see `literal`)."""
    return Expr(literal(c), ATOM)


#: The binary operators `binary` writes, by precedence; all are left-associative.
_LEFT_ASSOCIATIVE = {
    "+": ADDITIVE,
    "-": ADDITIVE,
    "*": MULTIPLICATIVE,
    "/": MULTIPLICATIVE,
    "@": MULTIPLICATIVE,
}


def binary(left: Expr, op: str, right: Expr) -> Expr:
    """`left op right` with the operands parenthesised as they need.

    The operators are left-associative, so a right operand of the same level
    is parenthesised too: `g + (a - b)` is not `g + a - b` in floating point.
    """
    prec = _LEFT_ASSOCIATIVE[op]
    return Expr(f"{left.at(prec)} {op} {right.at(prec + 1)}", prec)


def call(fn: str, *args: Expr) -> Expr:
    """`fn(arg, ...)`: an atom, whatever its arguments are."""
    return Expr(f"{fn}({', '.join(a.at(CONDITIONAL) for a in args)})", ATOM)


def literal(c: float) -> str:
    """Python source for a float constant, parenthesised when negative so it binds tightly."""
    if math.isnan(c):
        return "nan"
    if math.isinf(c):
        return "inf" if c > 0 else "(-inf)"
    text = repr(float(c))
    return f"({text})" if text.startswith("-") else text


# --- the emitter ----------------------------------------------------------------------

_INFIX = {
    "add": (" + ", ADDITIVE),
    "sub": (" - ", ADDITIVE),
    "mul": (" * ", MULTIPLICATIVE),
    "div": (" / ", MULTIPLICATIVE),
    "lt": (" < ", COMPARISON),
    "le": (" <= ", COMPARISON),
    "gt": (" > ", COMPARISON),
    "ge": (" >= ", COMPARISON),
    "eq": (" == ", COMPARISON),
    "ne": (" != ", COMPARISON),
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
    "inf": math.inf,
    "nan": math.nan,
}

#: How deep one expression may nest before a part goes into a local of its own
#: (Python's compiler recurses on nesting; a sum of thousands of terms would overflow it).
MAX_DEPTH = 32

# (text, precedence, nesting depth) of an emitted symbol
_Part = tuple[str, int, int]


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
        self._done: dict[int, _Part] = {}
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

    def expression(self, s: Any) -> Expr:
        """The canonical symbol s (counted first) as an expression, with shared parts as locals."""
        text, prec, _ = self._emit(s)
        return Expr(text, prec)

    def expr(self, s: Any, at: int = CONDITIONAL) -> str:
        """Source text of the canonical symbol s for a place of precedence `at`.

        The default fits where any expression does (an assignment's right side);
        next to an operator, pass its level (`at=ADDITIVE + 1` after `g + `), or
        use `expression` and `binary`.
        """
        return self.expression(s).at(at)

    def known(self, s: Any, text: str) -> None:
        """From now on, write the canonical symbol s as `text` (a local that holds its value)."""
        if isinstance(s, Sym) and s.kind != "var":
            self._done[id(s)] = (text, ATOM, 0)

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

    def _emit(self, s: Any) -> _Part:
        """(text, precedence, nesting depth) of s."""
        if not isinstance(s, Sym):
            text = literal(s)
            if text in ("inf", "nan", "(-inf)"):
                self.used.add(text.strip("(-)"))
            return text, ATOM, 0
        if s.kind == "var":
            return self.names[s.name], ATOM, 0
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
                text, prec, depth = name, ATOM, 0
            self._done[id(node)] = (text, prec, depth)
        return self._done[id(s)]

    def _emit_done(self, a: Any) -> _Part:
        if not isinstance(a, Sym) or a.kind == "var":
            return self._emit(a)
        return self._done[id(a)]

    def _node(self, s: Sym, parts: list[_Part]) -> _Part:
        k = s.kind
        depth = 1 + max((p[2] for p in parts), default=0)

        def at(i: int, level: int) -> str:
            text, prec, _ = parts[i]
            return text if prec >= level else f"({text})"

        if k in _INFIX:
            op, prec = _INFIX[k]
            if prec == COMPARISON:  # never chain comparisons: a < b < c means something else
                return f"{at(0, BITAND)}{op}{at(1, BITAND)}", COMPARISON, depth
            return f"{at(0, prec)}{op}{at(1, prec + 1)}", prec, depth
        if k == "neg":
            return f"-{at(0, UNARY)}", UNARY, depth
        if k in _CALLS:
            name = f"np.{k}" if self.numpy else k
            self.used.add("np" if self.numpy else k)
            return f"{name}({parts[0][0]})", ATOM, depth
        if k == "pow":
            return self._pow(s, parts, depth)
        if k == "fsum":
            terms = ", ".join(p[0] for p in parts)
            if self.numpy:
                self.used.add("np_fsum")
                return f"np_fsum({terms})", ATOM, depth
            self.used.add("fsum")
            return f"fsum(({terms},))", ATOM, depth
        if k == "where":
            if self.numpy:
                self.used.add("np")
                return f"np.where({parts[0][0]}, {parts[1][0]}, {parts[2][0]})", ATOM, depth
            return f"{at(1, OR)} if {at(0, OR)} else {at(2, CONDITIONAL)}", CONDITIONAL, depth
        if k in ("and", "or"):
            if self.numpy:
                self.used.add("np")
                return f"np.logical_{k}({parts[0][0]}, {parts[1][0]})", ATOM, depth
            prec = AND if k == "and" else OR
            return f"{at(0, prec)} {k} {at(1, prec + 1)}", prec, depth
        if k == "not":
            if self.numpy:
                self.used.add("np")
                return f"np.logical_not({parts[0][0]})", ATOM, depth
            return f"not {at(0, NOT)}", NOT, depth
        raise ValueError(f"cannot emit a symbol of kind {k!r}")  # pragma: no cover

    def _pow(self, s: Sym, parts: list[_Part], depth: int) -> _Part:
        x, y = s.args
        if self.numpy:
            self.used.add("np")
            return f"np.power({parts[0][0]}, {parts[1][0]})", ATOM, depth
        if self.strict:
            # Python's ** is the op itself for an integer exponent (never complex; it
            # raises where the op does) and for a positive constant base.
            if (not isinstance(y, Sym) and float(y).is_integer()) or (
                not isinstance(x, Sym) and x > 0.0
            ):
                a = parts[0][0] if parts[0][1] >= ATOM else f"({parts[0][0]})"
                b = parts[1][0] if parts[1][1] >= ATOM else f"({parts[1][0]})"
                return f"{a} ** {b}", POWER, depth
            self.used.add("pow_fwd")
            return f"pow_fwd({parts[0][0]}, {parts[1][0]})", ATOM, depth
        self.used.add("fpow")
        return f"fpow({parts[0][0]}, {parts[1][0]})", ATOM, depth


def emit(
    roots: Sequence[Any], names: dict[str, str], temp: str, **kw: Any
) -> tuple[Emitter, list[str]]:
    """Source text of each root symbol (or constant), with an `Emitter`'s locals in `.lines`.

    Each text is fit for a statement's right side (`x = ...`, `x += ...`,
    `return ...`); put it next to an operator only through `Emitter.expression`.
    """
    em = Emitter(names, temp, **kw)
    canon = [em.canon(r) for r in roots]
    for c in canon:
        em.count(c)
    return em, [em.expr(c) for c in canon]


# --- generated functions ---------------------------------------------------------------

_serial = itertools.count()


def define(
    source: str, name: str, namespace: dict[str, Any], *, owner: object = None
) -> dict[str, Any]:
    """Run generated source in `namespace`, its lines registered with `linecache`.

    The code gets a filename of its own, `<tapegrad-generated NAME #N>`, and
    its source goes into `linecache.cache` without an mtime (so
    `linecache.checkcache` keeps it): tracebacks, pdb and `inspect.getsource`
    show the generated lines, as they do for the methods `dataclasses` writes.
    The entry stays for as long as `owner` lives (a compiled program), or for
    good without one (the code generated once per op).

    Returns:
        `namespace`, holding what the source defined.
    """
    filename = f"<tapegrad-generated {name} #{next(_serial)}>"
    lines = source.splitlines(True)
    if lines and not lines[-1].endswith("\n"):  # as linecache stores a file's lines
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)
    if owner is not None:
        weakref.finalize(owner, linecache.cache.pop, filename, None)
    exec(builtins.compile(source, filename, "exec"), namespace)
    return namespace


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
    return _function(name, params, em, result)


def _function(name: str, params: list[str], em: Emitter, result: str) -> Callable[..., Any]:
    """`def name(params): <em.lines>; return result`, defined with the helpers it uses."""
    names = dict(SCALAR_NAMES)
    if "pow_fwd" in em.used:
        names["pow_fwd"] = sys.modules["autograd.ops"].pow.forward
    if "np" in em.used:
        import numpy  # lazily: `import autograd` stays without numpy

        names["np"] = numpy
    helpers = sorted(em.used)
    fname = _identifier(name)
    lines = [f"def {fname}({', '.join(params)}{''.join(f', {h}={h}' for h in helpers)}):"]
    lines += [f"    {line}" for line in em.lines]
    lines.append(f"    return {result}")
    namespace: dict[str, Any] = {h: names[h] for h in helpers}
    define("\n".join(lines), fname, namespace)
    made: Callable[..., Any] = namespace[fname]
    return made


def _identifier(name: str) -> str:
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return text if text and not text[0].isdigit() else f"_{text}"
