"""Neuron, Layer and MLP: micrograd's building blocks, one graph node per weighted sum."""

from __future__ import annotations

import inspect
import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from autograd import Value, ops
from autograd import neuron as _neuron
from nn.io import shown
from nn.module import Module, Scalar

__all__ = ["ACTIVATIONS", "INITS", "MLP", "Layer", "Neuron", "input_size"]

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


# --- argument checks, shared by the constructors and by nn.load's config check ---------


def _check_choice(kind: str, value: object, choices: Sequence[str]) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"{kind} must be a string, one of {', '.join(choices)}; "
            f"got {type(value).__name__} {shown(value)}"
        )
    if value not in choices:
        raise ValueError(f"unknown {kind} {shown(value)}; choose from {', '.join(choices)}")


def _check_size(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be an int, got {type(n).__name__} {shown(n)}")
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {shown(n)}")
    return n


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {shown(value)}")


def _check_rng(rng: object) -> None:
    if rng is not None and not isinstance(rng, random.Random):
        raise TypeError(
            f"rng must be a random.Random or None, got {type(rng).__name__} {shown(rng)}"
        )


def _check_neuron(
    nin: object, nonlin: object, activation: object, init: object, fan_out: object, rng: object
) -> None:
    _check_size("nin", nin)
    _check_flag("nonlin", nonlin)
    _check_choice("activation", activation, ACTIVATIONS)
    _check_choice("init", init, INITS)
    _check_size("fan_out", fan_out)
    _check_rng(rng)


def _check_nouts(nouts: object) -> list[int]:
    if isinstance(nouts, str | bytes) or not isinstance(nouts, Sequence):
        raise TypeError(
            "nouts must be a non-empty list of layer sizes (ints), "
            f"got {type(nouts).__name__} {shown(nouts)}"
        )
    if not nouts:
        raise ValueError("nouts must be a non-empty list of layer sizes, got []")
    return [_check_size(f"nouts[{i}]", n) for i, n in enumerate(nouts)]


def _config_arguments(
    cls: type[Module], config: Mapping[str, object], fields: Sequence[str]
) -> dict[str, Any]:
    """``config`` as ``cls.__init__``'s arguments, defaults filled in; only ``fields`` allowed."""
    for key in config:
        if key not in fields:
            raise ValueError(
                f"{cls.__name__} has no config field {shown(key)} (its fields: {', '.join(fields)})"
            )
    args: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if name in config:
            args[name] = config[name]
        elif parameter.default is inspect.Parameter.empty:
            raise ValueError(f"{cls.__name__} config field {name!r} is missing")
        else:
            args[name] = parameter.default
    return args


def _neuron_names(prefix: str, nin: int) -> Iterator[str]:
    for i in range(nin):
        yield f"{prefix}w.{i}"
    yield f"{prefix}b"


def _layer_names(prefix: str, nin: int, nout: int) -> Iterator[str]:
    for j in range(nout):
        yield from _neuron_names(f"{prefix}neurons.{j}.", nin)


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
        _check_neuron(nin, nonlin, activation, init, fan_out, rng)
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

    @classmethod
    def _expected_parameters(cls, config: Mapping[str, object]) -> tuple[int, Iterator[str]]:
        args = _config_arguments(cls, config, _NEURON_FIELDS)
        _check_neuron(**args)
        return args["nin"] + 1, _neuron_names("", args["nin"])

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
        return _outputs([self], x)[0]

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


def _outputs(neurons: Sequence[Neuron], x: Sequence[Scalar]) -> list[Value]:
    """The outputs of neurons sharing one activation (the first one's), on one input vector.

    relu, tanh, sigmoid and linear neurons are one graph node each, sum, bias
    and activation together (`autograd.neuron`); a leaky relu is a dot node
    (the bias as a weight on a constant 1) and its activation node.
    """
    act = neurons[0].act
    if act != "leaky_relu":
        key = None if act == "linear" else act
        return _neuron.neurons([(n.w, n.b) for n in neurons], x, key)
    return [ops.leaky_relu(ops.dot([*n.w, n.b], [*x, 1.0]), LEAKY_SLOPE) for n in neurons]


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
        _check_layer(nin, nout, nonlin, activation, init, rng)
        self.neurons = [
            Neuron(nin, nonlin, activation, init=init, fan_out=nout, rng=rng) for _ in range(nout)
        ]
        for j, neuron in enumerate(self.neurons):
            neuron.relabel(f"n{j}.")

    @classmethod
    def _expected_parameters(cls, config: Mapping[str, object]) -> tuple[int, Iterator[str]]:
        args = _config_arguments(cls, config, _LAYER_FIELDS)
        _check_layer(**args)
        nin, nout = args["nin"], args["nout"]
        return nout * (nin + 1), _layer_names("", nin, nout)

    def outputs(self, x: Sequence[Scalar]) -> list[Value]:
        """Every neuron's output, always as a list."""
        neurons = self.neurons
        if len(x) != len(neurons[0].w):
            return [n(x) for n in neurons]  # each neuron raises the size error
        return _outputs(neurons, x)

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
        sizes = [nin, *_check_mlp(nin, nouts, activation, init, rng)]
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

    @classmethod
    def _expected_parameters(cls, config: Mapping[str, object]) -> tuple[int, Iterator[str]]:
        args = _config_arguments(cls, config, _MLP_FIELDS)
        sizes = [args["nin"], *_check_mlp(**args)]
        pairs = list(itertools.pairwise(sizes))
        count = sum(nout * (nin + 1) for nin, nout in pairs)
        names = (
            name
            for i, (nin, nout) in enumerate(pairs)
            for name in _layer_names(f"layers.{i}.", nin, nout)
        )
        return count, names

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


def _check_layer(
    nin: object, nout: object, nonlin: object, activation: object, init: object, rng: object
) -> None:
    _check_neuron(nin, nonlin, activation, init, _check_size("nout", nout), rng)


def _check_mlp(
    nin: object, nouts: object, activation: object, init: object, rng: object
) -> list[int]:
    """The layer sizes, once every argument of ``MLP(...)`` is checked."""
    _check_size("nin", nin)
    sizes = _check_nouts(nouts)
    _check_neuron(nin, True, activation, init, 1, rng)
    return sizes


# What each class's config() records: the only fields a model file may set (never rng).
_NEURON_FIELDS = ("nin", "nonlin", "activation", "init", "fan_out")
_LAYER_FIELDS = ("nin", "nout", "nonlin", "activation", "init")
_MLP_FIELDS = ("nin", "nouts", "activation", "init")


def input_size(model: Module) -> int | None:
    """How many features a Neuron, Layer or MLP takes (None for another Module)."""
    if isinstance(model, MLP):
        return len(model.layers[0].neurons[0].w)
    if isinstance(model, Layer):
        return len(model.neurons[0].w)
    if isinstance(model, Neuron):
        return len(model.w)
    return None
