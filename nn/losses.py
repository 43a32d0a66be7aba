"""Loss functions (mse, hinge, binary_cross_entropy, cross_entropy) and the l2 penalty.

Each takes one example (a score and its target) or a list of them, in which case
it returns the mean over the list, like PyTorch's functional losses with the
default ``reduction='mean'``. Inputs may be Values (the result is a Value to call
``backward()`` on) or plain numbers (the result is a float).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

from autograd import Value, ops

__all__ = [
    "LOSSES",
    "LOSS_ALIASES",
    "binary_cross_entropy",
    "cross_entropy",
    "example_loss",
    "hinge",
    "l2",
    "mse",
]

Scalar = Value | float


def _data(x: Scalar) -> float:
    return x.data if isinstance(x, Value) else float(x)


def _is_batch(x: object) -> bool:
    return isinstance(x, list | tuple)


def _pairs(name: str, preds: Any, targets: Any) -> None:
    """Check that a batch of predictions and its targets line up."""
    if not _is_batch(targets):
        raise ValueError(f"{name}: predictions are a list, so targets must be a list too")
    if len(preds) != len(targets):
        raise ValueError(f"{name}: {len(preds)} predictions but {len(targets)} targets")
    if not preds:
        raise ValueError(f"{name}: got an empty batch")


def _mean(terms: Sequence[Scalar]) -> Any:
    return ops.sum(terms) / len(terms)


@overload
def mse(preds: Value | Sequence[Value], targets: Scalar | Sequence[Scalar]) -> Value: ...
@overload
def mse(preds: float | Sequence[float], targets: float | Sequence[float]) -> float: ...
def mse(preds: Any, targets: Any) -> Any:
    """Squared error ``(pred - target)^2``; mean squared error over a list.

    Args:
        preds: One prediction or a list of them.
        targets: The target(s), same shape as ``preds``.

    Returns:
        The loss (a Value if any prediction is a Value).
    """
    if _is_batch(preds):
        _pairs("mse", preds, targets)
        diffs = [p - t for p, t in zip(preds, targets, strict=True)]
        return ops.dot(diffs, diffs) / len(diffs)  # sum of squares as one node
    diff = preds - targets
    return diff * diff


def _check_sign_label(label: Scalar) -> float:
    value = _data(label)
    if value not in (-1.0, 1.0):
        raise ValueError(f"hinge: labels must be -1 or +1, got {value!r} (map class 0 to -1)")
    return value


@overload
def hinge(scores: Value | Sequence[Value], labels: float | Sequence[float]) -> Value: ...
@overload
def hinge(scores: float | Sequence[float], labels: float | Sequence[float]) -> float: ...
def hinge(scores: Any, labels: Any) -> Any:
    """Max-margin (SVM) loss ``max(0, 1 - label * score)``; mean over a list.

    This is micrograd's demo loss: zero once every example is on the right
    side of the boundary with margin 1.

    Args:
        scores: One raw score or a list of them.
        labels: Class label(s), each -1 or +1.

    Returns:
        The loss (a Value if any score is a Value).

    Raises:
        ValueError: A label other than -1 or +1.
    """
    if _is_batch(scores):
        _pairs("hinge", scores, labels)
        return _mean(
            [ops.relu(1.0 - _check_sign_label(y) * s) for s, y in zip(scores, labels, strict=True)]
        )
    return ops.relu(1.0 - _check_sign_label(labels) * scores)


def _check_probability(target: Scalar) -> Scalar:
    if not 0.0 <= _data(target) <= 1.0:
        raise ValueError(f"binary_cross_entropy: targets must be in [0, 1], got {target!r}")
    return target


@overload
def binary_cross_entropy(
    logit: Value | Sequence[Value], target: Scalar | Sequence[Scalar]
) -> Value: ...
@overload
def binary_cross_entropy(
    logit: float | Sequence[float], target: float | Sequence[float]
) -> float: ...
def binary_cross_entropy(logit: Any, target: Any) -> Any:
    """Cross-entropy of ``sigmoid(logit)`` against a target in [0, 1]; mean over a list.

    Computed from the logit as ``softplus(logit) - logit * target`` (PyTorch's
    ``binary_cross_entropy_with_logits``), which never overflows: it stays exact
    for logits in the hundreds, where ``log(sigmoid(x))`` would give ``log(0)``.
    The gradient is ``sigmoid(logit) - target``.

    Args:
        logit: One raw score or a list of them.
        target: Probability of class 1 for each (usually 0 or 1).

    Returns:
        The loss (a Value if any logit is a Value).
    """
    if _is_batch(logit):
        _pairs("binary_cross_entropy", logit, target)
        return _mean(
            [
                ops.softplus(x) - x * _check_probability(t)
                for x, t in zip(logit, target, strict=True)
            ]
        )
    return ops.softplus(logit) - logit * _check_probability(target)


def _cross_entropy_one(logits: Sequence[Scalar], target: int) -> Any:
    if not _is_batch(logits) or not logits:
        raise ValueError("cross_entropy: logits must be a non-empty list of scores")
    if isinstance(target, bool) or not isinstance(target, int):
        raise ValueError(f"cross_entropy: target must be a class index (int), got {target!r}")
    if not 0 <= target < len(logits):
        raise ValueError(
            f"cross_entropy: target index {target} is out of range for {len(logits)} classes"
        )
    # logsumexp(z) - z_t = logsumexp(z - z_t): subtracting z_t first keeps the
    # differences exact at any magnitude, where logsumexp(z) - z_t rounds the
    # sum to the ulp of z (0.125 at 1e15, whole units at 1e16) before subtracting.
    # The op then shifts by the largest difference inside, so no exp overflows, and
    # d/dz_t comes out as -(sum of the other classes' softmax), never 1 - s_t.
    # (z_t - z_t is an exact 0 that keeps the graph when there is a single class.)
    zt = logits[target]
    return ops.logsumexp([z - zt for z in logits])


@overload
def cross_entropy(
    logits: Sequence[Value] | Sequence[Sequence[Value]], target_index: int | Sequence[int]
) -> Value: ...
@overload
def cross_entropy(
    logits: Sequence[float] | Sequence[Sequence[float]], target_index: int | Sequence[int]
) -> float: ...
def cross_entropy(logits: Any, target_index: Any) -> Any:
    """Softmax cross-entropy ``logsumexp(logits) - logits[target]``; mean over a batch.

    Computed as ``logsumexp(logits - logits[target])``, which matches PyTorch's
    ``F.cross_entropy`` in value and gradient for logits of any finite magnitude.

    Args:
        logits: One example's list of class scores, or a list of such lists.
        target_index: The correct class of the example (or of each example).

    Returns:
        The loss (a Value if any logit is a Value).

    Raises:
        ValueError: A target index out of range, or an empty list of logits.
    """
    if _is_batch(logits) and logits and _is_batch(logits[0]):
        _pairs("cross_entropy", logits, target_index)
        return _mean([_cross_entropy_one(x, t) for x, t in zip(logits, target_index, strict=True)])
    return _cross_entropy_one(logits, target_index)


@overload
def l2(params: Iterable[Value]) -> Value: ...
@overload
def l2(params: Iterable[float]) -> float: ...
def l2(params: Iterable[Any]) -> Any:
    """Sum of squares ``sum(p^2)``, the weight penalty (micrograd's demo adds 1e-4 times it).

    Args:
        params: The parameters, e.g. ``model.parameters()``.

    Returns:
        The penalty as one graph node (0.0 for no parameters).
    """
    ps = list(params)
    return ops.dot(ps, ps)


LOSSES: dict[str, Callable[[Any, Any], Any]] = {
    "hinge": hinge,
    "mse": mse,
    "binary_cross_entropy": binary_cross_entropy,
    "cross_entropy": cross_entropy,
}
"""The losses by name (the names ``nn.fit`` and ``tapegrad train --loss`` accept)."""


LOSS_ALIASES = {"bce": "binary_cross_entropy"}
"""Short names the CLI and ``nn.fit`` also accept."""


def example_loss(output: Any, label: int | float, loss: str) -> Any:
    """One example's loss for a class label, as ``nn.fit`` trains with it (without the l2 term).

    The label becomes the target the loss wants, as ``fit`` turns its ``y``
    into targets: -1/+1 for ``hinge`` and ``mse`` and 0/1 for
    ``binary_cross_entropy`` (a label > 0 is class 1), the class index for
    ``cross_entropy``.

    Args:
        output: The model's output for the example: one score (a Value or a
            number), or for ``cross_entropy`` the list of class scores.
        label: The example's class label (0/1 or -1/+1, or an index).
        loss: A loss name: ``hinge``, ``mse``, ``binary_cross_entropy``
            (``bce``) or ``cross_entropy``.

    Returns:
        The loss (a Value if the output holds Values, else a float).

    Raises:
        ValueError: An unknown loss name, or an output that does not fit the loss
            (a list for a single-score loss, one score for ``cross_entropy``).
    """
    name = LOSS_ALIASES.get(loss, loss)
    if name not in LOSSES:
        choices = ", ".join([*LOSSES, *LOSS_ALIASES])
        raise ValueError(f"unknown loss {loss!r}; choose from {choices}")
    if name == "cross_entropy":
        if not _is_batch(output):
            raise ValueError(
                "example_loss: cross_entropy needs the list of class scores, got one score"
            )
        return cross_entropy(list(output), int(label))
    if _is_batch(output):
        raise ValueError(
            f"example_loss: {name} needs one score, got a list of {len(output)}; "
            "use cross_entropy for a list of class scores"
        )
    if name == "binary_cross_entropy":
        return binary_cross_entropy(output, 1.0 if label > 0 else 0.0)
    target = 1.0 if label > 0 else -1.0
    return hinge(output, target) if name == "hinge" else mse(output, target)
