"""Neuron, Layer and MLP: micrograd's building blocks, one graph node per weighted sum."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from autograd import Value, ops
from nn.module import Module, Scalar

__all__ = ["ACTIVATIONS", "INITS", "MLP", "Layer", "Neuron"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "linear")
"""Activation names a Neuron accepts (``leaky_relu`` uses slope 0.01)."""

INITS = ("uniform", "xavier", "he")
"""Weight initialisations: micrograd's U(-1, 1), Glorot/Xavier uniform, He/Kaiming uniform."""

LEAKY_SLOPE = 0.01
"""Slope of ``leaky_relu`` for negative inputs (PyTorch's default)."""

_NEURON_NAMES = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "leaky_relu": "LeakyReLU",
    "linear": "Linear",
}


def _check_choice(kind: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose from {', '.join(choices)}")


def _check_size(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be an int, got {type(n).__name__} {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return n


def _init_bound(init: str, fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform distribution the weights are drawn from."""
    if init == "xavier":
        return math.sqrt(6.0 / (fan_in + fan_out))  # keeps activation variance ~ constant
    if init == "he":
        return math.sqrt(6.0 / fan_in)  # Kaiming uniform with ReLU's gain sqrt(2)
    return 1.0  # micrograd: random.uniform(-1, 1)


class Neuron(Module):
    """One unit: ``activation(w . x + b)``, recorded as one dot node plus the activation.

    Args:
        nin: Number of inputs.
        nonlin: Apply the activation (``False`` makes the neuron linear, as in
            micrograd's output layer).
        activation: One of :data:`ACTIVATIONS`.
        init: One of :data:`INITS`.
        fan_out: Width of the layer this neuron sits in (only Xavier uses it).
        rng: Random stream for the weights; ``None`` draws from the global
            ``random`` module exactly as micrograd does.

    Attributes:
        w: The ``nin`` weights (Values).
        b: The bias (a Value, 0 at creation).
    """

    def __init__(
        self,
        nin: int,
        nonlin: bool = True,
        activation: str = "relu",
        *,
        init: str = "uniform",
        fan_out: int = 1,
        rng: random.Random | None = None,
    ) -> None:
        _check_size("nin", nin)
        _check_size("fan_out", fan_out)
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("init", init, INITS)
        bound = _init_bound(init, nin, fan_out)
        uniform: Callable[[float, float], float] = (
            rng.uniform if rng is not None else random.uniform
        )
        self.w = [Value(uniform(-bound, bound), label=f"w{i}") for i in range(nin)]
        self.b = Value(0.0, label="b")
        self.nonlin = nonlin
        self.activation = activation
        self.init = init
        self.fan_out = fan_out

    def relabel(self, prefix: str) -> None:
        """Name the parameters ``<prefix>w0, <prefix>w1, ..., <prefix>b`` (for drawings)."""
        for i, w in enumerate(self.w):
            w.label = f"{prefix}w{i}"
        self.b.label = f"{prefix}b"

    @property
    def act(self) -> str:
        """The activation actually applied (``linear`` when ``nonlin`` is false)."""
        return self.activation if self.nonlin else "linear"

    def __call__(self, x: Sequence[Scalar]) -> Value:
        """The neuron's output for one input vector (floats or Values)."""
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} takes {len(self.w)} inputs, got {len(x)}")
        # w . x + b as a single node: the bias is one more weight on a constant input 1.
        out: Value = ops.dot([*self.w, self.b], [*x, 1.0])
        act = self.act
        if act == "relu":
            out = ops.relu(out)
        elif act == "tanh":
            out = ops.tanh(out)
        elif act == "sigmoid":
            out = ops.sigmoid(out)
        elif act == "leaky_relu":
            out = ops.leaky_relu(out, LEAKY_SLOPE)
        return out

    def config(self) -> dict[str, Any]:
        """Arguments that rebuild this neuron's shape and settings."""
        return {
            "nin": len(self.w),
            "nonlin": self.nonlin,
            "activation": self.activation,
            "init": self.init,
            "fan_out": self.fan_out,
        }

    def __repr__(self) -> str:
        return f"{_NEURON_NAMES[self.act]}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same inputs.

    Args:
        nin: Number of inputs.
        nout: Number of neurons (outputs).
        nonlin: Apply the activation.
        activation: One of :data:`ACTIVATIONS`.
        init: One of :data:`INITS`.
        rng: Random stream for the weights (default: the global ``random``).

    Attributes:
        neurons: The neurons, in order.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        *,
        nonlin: bool = True,
        activation: str = "relu",
        init: str = "uniform",
        rng: random.Random | None = None,
    ) -> None:
        _check_size("nout", nout)
        self.neurons = [
            Neuron(nin, nonlin, activation, init=init, fan_out=nout, rng=rng) for _ in range(nout)
        ]
        for j, neuron in enumerate(self.neurons):
            neuron.relabel(f"n{j}.")

    def outputs(self, x: Sequence[Scalar]) -> list[Value]:
        """Every neuron's output, always as a list."""
        return [n(x) for n in self.neurons]

    def __call__(self, x: Sequence[Scalar]) -> Value | list[Value]:
        """The outputs for one input vector; a single Value when ``nout == 1`` (micrograd)."""
        out = self.outputs(x)
        return out[0] if len(out) == 1 else out

    def config(self) -> dict[str, Any]:
        """Arguments that rebuild this layer."""
        first = self.neurons[0]
        return {
            "nin": len(first.w),
            "nout": len(self.neurons),
            "nonlin": first.nonlin,
            "activation": first.activation,
            "init": first.init,
        }

    def __repr__(self) -> str:
        c = self.config()
        return f"Layer({c['nin']}, {c['nout']}, activation={self.neurons[0].act!r})"


class MLP(Module):
    """Multilayer perceptron: hidden layers with an activation, then a linear layer.

    After ``random.seed(1337)``, ``MLP(2, [16, 16, 1])`` holds exactly the
    weights of micrograd's ``MLP(2, [16, 16, 1])``: the same draws in the same
    order (layer by layer, neuron by neuron, weight by weight; biases 0).

    Args:
        nin: Number of inputs.
        nouts: Width of each layer; the last one is the output layer.
        activation: Activation of the hidden layers, one of :data:`ACTIVATIONS`.
        init: One of :data:`INITS`.
        rng: Random stream for the weights (default: the global ``random``).

    Attributes:
        layers: The layers, input side first.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        *,
        init: str = "uniform",
        rng: random.Random | None = None,
    ) -> None:
        _check_size("nin", nin)
        if isinstance(nouts, str | bytes) or not isinstance(nouts, Sequence) or not nouts:
            raise ValueError(f"nouts must be a non-empty list of layer sizes, got {nouts!r}")
        for n in nouts:
            _check_size("each layer size", n)
        sizes = [nin, *nouts]
        self.layers = [
            Layer(
                sizes[i],
                sizes[i + 1],
                nonlin=i != len(nouts) - 1,
                activation=activation,
                init=init,
                rng=rng,
            )
            for i in range(len(nouts))
        ]
        for i, layer in enumerate(self.layers):
            for j, neuron in enumerate(layer.neurons):
                neuron.relabel(f"l{i}.n{j}.")
        self.activation = activation
        self.init = init

    def __call__(self, x: Sequence[Scalar]) -> Value | list[Value]:
        """The network's output for one input vector: a Value if it has one output."""
        h: Sequence[Scalar] = x
        out: list[Value] = []
        for layer in self.layers:
            out = layer.outputs(h)
            h = out
        return out[0] if len(out) == 1 else out

    def config(self) -> dict[str, Any]:
        """Arguments that rebuild this network."""
        return {
            "nin": len(self.layers[0].neurons[0].w),
            "nouts": [len(layer.neurons) for layer in self.layers],
            "activation": self.activation,
            "init": self.init,
        }

    def __repr__(self) -> str:
        c = self.config()
        extra = "" if self.init == "uniform" else f", init={self.init!r}"
        return f"MLP({c['nin']}, {c['nouts']}, activation={c['activation']!r}{extra})"
