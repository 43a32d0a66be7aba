"""tapegrad's nn: modules, losses, optimizers, data sets and the training loop.

    from nn import MLP, SGD, data, fit, schedules
    X, y = data.make_moons(100, noise=0.1)
    model = MLP(2, [16, 16, 1])
    history = fit(model, X, y, loss="hinge", l2=1e-4, steps=100,
                  optimizer=SGD(model.parameters(), lr=1.0),
                  schedule=schedules.LinearDecay(1.0, 0.1, 100))

Gradient descent, one step: forward, loss, backward, then W_new = W_old - lr * dL/dW.
"""

try:  # first: a foreign `autograd` is named before anything fails on it (README "Import names")
    from autograd import _clash
except ImportError as exc:  # HIPS autograd, say, with none of tapegrad's files in its folder
    if exc.name != "autograd":
        raise
    raise ImportError(
        f"tapegrad's `nn` needs tapegrad's `autograd`, not {exc.path}; install tapegrad "
        "in its own virtual environment: pip install --force-reinstall tapegrad"
    ) from None
_clash.require("autograd")

from nn import data, losses, optim, schedules
from nn.layers import MLP, Layer, Neuron
from nn.module import ModelFileError, Module, StateDictError, load, read_meta
from nn.network import draw_network
from nn.optim import SGD, Adam, AdamW, Optimizer
from nn.train import DivergenceError, History, accuracy, fit

__all__ = [
    "MLP",
    "SGD",
    "Adam",
    "AdamW",
    "DivergenceError",
    "History",
    "Layer",
    "ModelFileError",
    "Module",
    "Neuron",
    "Optimizer",
    "StateDictError",
    "accuracy",
    "data",
    "draw_network",
    "fit",
    "load",
    "losses",
    "optim",
    "read_meta",
    "schedules",
]
