"""The functional API: `grad`, `value_and_grad` and `hessian` turn functions into derivatives.

They work on plain floats and nest: called with Values (inside another
`grad`) they record their backward pass, so `grad(grad(f))` is the second
derivative and `grad(grad(grad(f)))` the third.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autograd.engine import (
    Value,
    as_float,
    backprop,
    enable_grad,
    is_constant,
    is_grad_enabled,
    leaf_log,
    topological_order,
)
from autograd.ops import identity

Argnums = int | Sequence[int]


def _argnums(argnums: object, nargs: int, who: str) -> tuple[int, ...]:
    """Check `argnums` and make every position non-negative (repeats are kept)."""
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        nums: tuple[object, ...] = (argnums,)
    elif isinstance(argnums, (tuple, list, range)):
        nums = tuple(argnums)
    else:
        raise TypeError(
            f"{who}: argnums must be an int or a tuple of ints, got "
            f"{type(argnums).__name__} {argnums!r}"
        )
    if not nums:
        raise ValueError(f"{who}: argnums is empty; name at least one argument")
    out = []
    for i in nums:
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"{who}: argnums must hold ints, got {type(i).__name__} {i!r}")
        if not -nargs <= i < nargs:
            raise ValueError(f"{who}: argnums {argnums!r} out of range for {nargs} argument(s)")
        out.append(i % nargs)
    return tuple(out)


class _Application:
    """One application of a transform: its own input Values, and what else `f` reached.

    A transform must record its backward pass (and return Values) when its
    result depends on Values from outside it: those of an enclosing `grad`
    (nesting) and those the function closes over (a gradient penalty built
    from a model's weights). Each `Value(...)` leaf made while a transform
    runs is logged (`engine.leaf_log`); a leaf the result depends on that was
    not made during this transform belongs to an outer computation.
    """

    def __init__(self) -> None:
        self.recording = is_grad_enabled()  # outside the transform
        log = leaf_log.get()
        self.token = None
        if log is None:
            log = []
            self.token = leaf_log.set(log)
        self.log = log
        self.start = len(log)

    def close(self) -> None:
        if self.token is not None:
            leaf_log.reset(self.token)

    def depends_on_outer(self, order: list[Value]) -> bool:
        if not self.recording:
            return False
        own = {id(v) for v in self.log[self.start :]}
        return any(n._maker is None and not is_constant(n) and id(n) not in own for n in order)


def _prepare(args: tuple[Any, ...], nums: tuple[int, ...]) -> tuple[list[Any], list[Value]]:
    """The arguments `f` is called with, and the Values to differentiate with respect to.

    Each differentiated argument becomes a fresh Value: a new leaf for a number,
    a new node on top of it for a Value (so an inner `grad` differentiates with
    respect to its own argument, never the outer variable it was given). An
    argument named twice in `argnums` is one Value, reported twice. Other float
    arguments become constant Values (f may call their methods); ints, bools
    and everything else reach `f` unchanged.
    """
    # Floats become constant Values, so f may call Value methods on them; ints and bools
    # (indices, flags) stay as they are, so `if flag:` and `k == 0` mean what they say.
    inputs = [Value(a) if isinstance(a, float) else a for a in args]
    for i in dict.fromkeys(nums):
        a = args[i]
        inputs[i] = identity(a) if isinstance(a, Value) else Value(as_float(a, f"argument {i}"))
    return inputs, [inputs[i] for i in nums]


def _gradients(out: Any, wrt: list[Value], create_graph: bool, who: str) -> list[Any]:
    """d(out)/d(each of wrt), leaving every `.grad` in the graph untouched."""
    if not isinstance(out, Value):
        as_float(out, f"{who}: the function's result")
        return [0.0] * len(wrt)
    order = topological_order(out)
    grads = backprop(out, 1.0, create_graph=create_graph, wrt=wrt)
    assert grads is not None
    present = set(order)
    return [g if v in present else 0.0 for g, v in zip(grads, wrt)]


def _evaluate(
    f: Callable[..., Any], args: tuple[Any, ...], nums: tuple[int, ...], who: str
) -> tuple[Any, list[Value], bool, _Application]:
    """Run `f` on prepared arguments: (its result, the wrt Values, whether it is nested)."""
    application = _Application()
    try:
        with enable_grad():  # a transform records f even inside no_grad(), as torch.func does
            inputs, wrt = _prepare(args, nums)
            out = f(*inputs)
        nested = isinstance(out, Value) and application.depends_on_outer(topological_order(out))
    except BaseException:
        application.close()
        raise
    return out, wrt, nested, application


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., tuple[Any, Any]]:
    """Return a function computing both `f(*args)` and its gradient.

    Args:
        f: a function of numbers returning one number (a Value or a float).
        argnums: the positional argument to differentiate with respect to,
            or a tuple of them (then the gradient is a tuple).

    Returns:
        `fn(*args) -> (value, gradient)`. With float arguments both are floats;
        with Value arguments (nesting) both are Values carrying their graph.
    """

    return _value_and_grad(f, argnums, "value_and_grad")


def _value_and_grad(
    f: Callable[..., Any], argnums: Argnums, who: str
) -> Callable[..., tuple[Any, Any]]:
    _argnums(argnums, 1 << 62, who)  # a bad argnums fails here, not at the call

    def value_and_grad_f(*args: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), who)
        out, wrt, nested, application = _evaluate(f, args, nums, who)
        try:
            grads = _gradients(out, wrt, nested, who)
        finally:
            application.close()
        value = out if nested or not isinstance(out, Value) else out.data
        result = grads[0] if isinstance(argnums, int) else tuple(grads)
        return value, result

    value_and_grad_f.__name__ = f"value_and_grad_{getattr(f, '__name__', 'f')}"
    value_and_grad_f.__doc__ = f"Value and gradient of {getattr(f, '__name__', 'f')}."
    return value_and_grad_f


def grad(f: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """Return a function computing the derivative of scalar `f`.

    `grad(f)(x)` is df/dx at x; `grad(f, argnums=(0, 1))(x, y)` is the tuple
    (df/dx, df/dy); `grad(grad(f))(x)` is the second derivative.
    """
    vg = _value_and_grad(f, argnums, "grad")

    def grad_f(*args: Any) -> Any:
        return vg(*args)[1]

    grad_f.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    grad_f.__doc__ = f"Derivative of {getattr(f, '__name__', 'f')}."
    return grad_f


def hessian(
    f: Callable[..., Any], argnums: Argnums | None = None
) -> Callable[..., list[list[Any]]]:
    """Return a function computing the matrix of second derivatives of scalar `f`.

    `hessian(f)(x, y)` is `[[f_xx, f_xy], [f_yx, f_yy]]` (a list of lists),
    taken with respect to every positional argument unless `argnums` says which.
    """

    if argnums is not None:
        _argnums(argnums, 1 << 62, "hessian")

    def hessian_f(*args: Any) -> list[list[Any]]:
        nums = _argnums(range(len(args)) if argnums is None else argnums, len(args), "hessian")
        out, wrt, nested, application = _evaluate(f, args, nums, "hessian")
        try:
            first = _gradients(out, wrt, True, "hessian")
            return [_gradients(g, wrt, nested, "hessian") for g in first]
        finally:
            application.close()

    hessian_f.__name__ = f"hessian_{getattr(f, '__name__', 'f')}"
    return hessian_f
