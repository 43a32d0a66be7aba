"""The functional API: `grad`, `value_and_grad` and `hessian` turn functions into derivatives.

They work on plain floats and nest: called with Values (inside another
`grad`) they record their backward pass, so `grad(grad(f))` is the second
derivative and `grad(grad(grad(f)))` the third.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from autograd.engine import Value, _backprop, as_float, topological_order

Argnums = int | Sequence[int]


def _argnums(argnums: Argnums, nargs: int, who: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError(f"{who}: argnums is empty; name at least one argument")
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"{who}: argnums {argnums!r} out of range for {nargs} argument(s)")
    return tuple(i % nargs for i in nums)


def _prepare(args: tuple[Any, ...], nums: tuple[int, ...]) -> tuple[list[Any], list[Value], bool]:
    """Make the differentiated arguments Values; nested when any already is one.

    Other plain-number arguments become constant Values too, so `f` may call
    Value methods on any of its arguments.
    """
    nested = any(isinstance(a, Value) for a in args)
    inputs = [Value(a) if isinstance(a, (int, float)) else a for a in args]
    wrt = []
    for i in nums:
        a = args[i]
        v = a if isinstance(a, Value) else Value(as_float(a, f"argument {i}"))
        inputs[i] = v
        wrt.append(v)
    return inputs, wrt, nested


def _gradients(out: Any, wrt: list[Value], create_graph: bool, who: str) -> list[Any]:
    """d(out)/d(each of wrt), leaving every `.grad` in the graph untouched."""
    if not isinstance(out, Value):
        as_float(out, f"{who}: the function's result")
        return [0.0] * len(wrt)
    order = topological_order(out)
    grads = _backprop(order, out, 1.0, create_graph, wrt)
    assert grads is not None
    present = set(order)
    return [g if v in present else 0.0 for g, v in zip(grads, wrt)]


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

    def value_and_grad_f(*args: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "value_and_grad")
        inputs, wrt, nested = _prepare(args, nums)
        out = f(*inputs)
        grads = _gradients(out, wrt, nested, "value_and_grad")
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
    vg = value_and_grad(f, argnums)

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

    def hessian_f(*args: Any) -> list[list[Any]]:
        nums = _argnums(range(len(args)) if argnums is None else argnums, len(args), "hessian")
        inputs, wrt, nested = _prepare(args, nums)
        first = _gradients(f(*inputs), wrt, True, "hessian")
        return [_gradients(g, wrt, nested, "hessian") for g in first]

    hessian_f.__name__ = f"hessian_{getattr(f, '__name__', 'f')}"
    return hessian_f
