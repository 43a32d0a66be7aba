"""Hand-over to PyTorch and ONNX: an MLP as a torch Sequential or an ONNX graph, and back.

    from nn import MLP, export
    model = MLP(2, [16, 16, 1])
    seq = export.to_torch(model)            # Linear(2, 16), ReLU(), ..., Linear(16, 1)
    same = export.from_torch(seq)           # an MLP with the same numbers
    export.to_onnx(model, "model.onnx")     # Gemm + Relu nodes, float64, for onnxruntime

Everything is float64, so the three agree with tapegrad to about 1e-15. torch
and onnx are optional: ``pip install 'tapegrad[torch]'`` / ``'tapegrad[onnx]'``.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

from nn.io import shown, write_atomically
from nn.layers import LEAKY_SLOPE, MLP

__all__ = ["FORMATS", "ONNX_OPSET", "export_file", "from_torch", "to_onnx", "to_torch"]

ONNX_OPSET = 17
"""The ONNX opset :func:`to_onnx` writes (onnxruntime runs all its ops in float64 at 17)."""

FORMATS = {"torch": "model.pt", "onnx": "model.onnx"}
"""What :func:`export_file` writes for each format, beside ``model.json``."""

# tapegrad activation -> torch.nn class, and ONNX op (leaky_relu is Mul + Max there).
_TORCH_ACTIVATIONS = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "leaky_relu": "LeakyReLU",
}
_ONNX_ACTIVATIONS = {
    "relu": "Relu",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
}


def _need(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise an ImportError that names the extra to install."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the `{module}` package, which is not installed; "
            f"install it with: pip install 'tapegrad[{extra}]'"
        ) from exc


def _check_mlp(model: object, what: str) -> MLP:
    if not isinstance(model, MLP):
        raise TypeError(
            f"{what} exports an nn.MLP, got {type(model).__name__} {shown(model)}; "
            "wrap other modules' layers in an MLP or export them by hand"
        )
    return model


def _layers(model: MLP) -> list[tuple[list[list[float]], list[float], str]]:
    """Each layer as (weights (out, in), biases (out,), the activation it applies)."""
    out = []
    for layer in model.layers:
        acts = {n.act for n in layer.neurons}
        if len(acts) != 1:  # never for an MLP built by its constructor; a hand-edited one
            raise ValueError(f"a layer's neurons apply different activations {sorted(acts)}")
        weights = [[w.data for w in n.w] for n in layer.neurons]
        out.append((weights, [n.b.data for n in layer.neurons], acts.pop()))
    return out


def to_torch(model: MLP) -> Any:
    """The MLP as a ``torch.nn.Sequential`` of ``Linear`` layers and activations, in float64.

    Each tapegrad layer becomes ``Linear(nin, nout)`` whose ``weight[j, i]`` is
    neuron ``j``'s weight ``w[i]`` and ``bias[j]`` its ``b``, followed by the
    layer's activation (``ReLU``, ``Tanh``, ``Sigmoid``, ``LeakyReLU(0.01)``;
    none after the linear output layer). The outputs equal the model's to
    rounding (1e-12); the result has shape ``(batch, nout)`` where the MLP
    returns one Value for one output.

    Args:
        model: The network to copy (its current parameter values).

    Returns:
        A new Sequential holding copies of the numbers: training one does not
        change the other.

    Raises:
        ImportError: PyTorch is missing (``pip install 'tapegrad[torch]'``).
        TypeError: ``model`` is not an :class:`nn.MLP`.
    """
    _check_mlp(model, "to_torch")
    torch = _need("torch", "torch", "nn.export.to_torch")
    modules: list[Any] = []
    for weights, biases, act in _layers(model):
        linear = torch.nn.Linear(len(weights[0]), len(weights), dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(weights, dtype=torch.float64))
            linear.bias.copy_(torch.tensor(biases, dtype=torch.float64))
        modules.append(linear)
        if act == "leaky_relu":
            modules.append(torch.nn.LeakyReLU(LEAKY_SLOPE))
        elif act != "linear":
            modules.append(getattr(torch.nn, _TORCH_ACTIVATIONS[act])())
    return torch.nn.Sequential(*modules)


def _activation_name(module: Any, torch: Any, index: int) -> str:
    """The tapegrad name of a torch activation module, or a ValueError naming it."""
    for act, cls_name in _TORCH_ACTIVATIONS.items():
        if type(module) is getattr(torch.nn, cls_name):
            if act == "leaky_relu" and module.negative_slope != LEAKY_SLOPE:
                raise ValueError(
                    f"layer {index} is LeakyReLU(negative_slope={module.negative_slope}); "
                    f"tapegrad's leaky_relu has slope {LEAKY_SLOPE} only"
                )
            return act
    supported = ", ".join(["Linear", *_TORCH_ACTIVATIONS.values()])
    raise ValueError(
        f"layer {index} is {type(module).__name__}, which an MLP cannot hold; "
        f"from_torch takes a Sequential of {supported} (LeakyReLU with slope {LEAKY_SLOPE})"
    )


def from_torch(seq: Any) -> MLP:
    """An :class:`nn.MLP` with the numbers of a ``torch.nn.Sequential``.

    The Sequential must look like what :func:`to_torch` makes: ``Linear``
    layers, each hidden one followed by the same activation (or all by none),
    the last one by none. A ``Linear`` without bias gets biases 0.

    Args:
        seq: The torch network (any float dtype; the values are read as float64).

    Returns:
        A new MLP (weights copied into Values; the global ``random`` is not used).

    Raises:
        ImportError: PyTorch is missing.
        TypeError: ``seq`` is not a ``torch.nn.Sequential``.
        ValueError: A layer an MLP cannot hold (a Conv2d, Dropout, a second
            activation in a row, an activation after the output layer, mixed
            activations, sizes that do not chain), named by its index.
    """
    torch = _need("torch", "torch", "nn.export.from_torch")
    if not isinstance(seq, torch.nn.Sequential):
        raise TypeError(f"from_torch takes a torch.nn.Sequential, got {type(seq).__name__}")
    linears: list[Any] = []
    acts: list[str] = []  # the activation after each Linear ("linear" for none)
    for index, module in enumerate(seq):
        if isinstance(module, torch.nn.Linear):
            if linears and module.in_features != linears[-1].out_features:
                raise ValueError(
                    f"layer {index} is Linear({module.in_features}, {module.out_features}) "
                    f"but the layer before it gives {linears[-1].out_features} outputs"
                )
            linears.append(module)
            acts.append("linear")
            continue
        act = _activation_name(module, torch, index)
        if not linears or acts[-1] != "linear":
            raise ValueError(
                f"layer {index} ({type(module).__name__}) must follow a Linear layer, "
                "one activation per Linear"
            )
        acts[-1] = act
    if not linears:
        raise ValueError("from_torch needs at least one Linear layer, the Sequential has none")
    if acts[-1] != "linear":
        raise ValueError(
            f"the last Linear is followed by {acts[-1]}, but an MLP's output layer is linear; "
            "drop the final activation (apply it to the MLP's output yourself)"
        )
    hidden = set(acts[:-1]) or {"relu"}
    if len(hidden) != 1:
        raise ValueError(
            f"the hidden layers use different activations {sorted(hidden)}; "
            "an MLP has one activation for all of them"
        )
    nin = linears[0].in_features
    model = MLP(nin, [lin.out_features for lin in linears], hidden.pop(), rng=random.Random(0))
    state = {}
    for i, lin in enumerate(linears):
        weight = lin.weight.detach().to(torch.float64).tolist()
        bias = (
            lin.bias.detach().to(torch.float64).tolist()
            if lin.bias is not None
            else [0.0] * lin.out_features
        )
        for j, row in enumerate(weight):
            for k, w in enumerate(row):
                state[f"layers.{i}.neurons.{j}.w.{k}"] = w
            state[f"layers.{i}.neurons.{j}.b"] = bias[j]
    model.load_state_dict(state)
    return model


def to_onnx(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write the MLP as an ONNX model: one ``Gemm`` per layer plus its activation, float64.

    The activations are ``Relu``, ``Tanh``, ``Sigmoid``; ``leaky_relu`` is
    ``Max(z, Mul(z, 0.01))`` with the slope a float64 constant, because
    ``LeakyRelu``'s ``alpha`` attribute is float32 and would be off by 2e-10.

    The graph takes ``x`` of shape ``(batch, nin)`` and gives ``y`` of shape
    ``(batch, nout)``, both ``double``; opset :data:`ONNX_OPSET`. onnxruntime
    runs it to the model's outputs (1e-12). The file is checked with
    ``onnx.checker`` and written atomically: an old file stays whole on error.

    Args:
        model: The network to write.
        path: The ``.onnx`` file (its folder must exist).

    Raises:
        ImportError: The ``onnx`` package is missing (``pip install 'tapegrad[onnx]'``).
        TypeError: ``model`` is not an :class:`nn.MLP`.
        nn.ModelFileError: The file cannot be written.
    """
    _check_mlp(model, "to_onnx")
    onnx = _need("onnx", "onnx", "nn.export.to_onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    layers = _layers(model)
    nodes, weights = [], []
    h = "x"
    for i, (w, b, act) in enumerate(layers):
        weights += [
            numpy_helper.from_array(np.array(w, dtype=np.float64), f"W{i}"),
            numpy_helper.from_array(np.array(b, dtype=np.float64), f"b{i}"),
        ]
        last = i == len(layers) - 1
        out = "y" if last and act == "linear" else f"z{i}"
        nodes.append(helper.make_node("Gemm", [h, f"W{i}", f"b{i}"], [out], transB=1))
        if act == "linear":
            h = out
            continue
        h = "y" if last else f"a{i}"
        if act == "leaky_relu":
            # max(z, slope*z), not LeakyRelu: an ONNX float attribute is float32, so
            # alpha=0.01 would be 0.00999999978; the slope as a double tensor is exact.
            nodes += [
                helper.make_node("Mul", [out, "leaky_slope"], [f"s{i}"]),
                helper.make_node("Max", [out, f"s{i}"], [h]),
            ]
        else:
            nodes.append(helper.make_node(_ONNX_ACTIVATIONS[act], [out], [h]))
    if any(act == "leaky_relu" for _, _, act in layers):
        weights.append(numpy_helper.from_array(np.array(LEAKY_SLOPE), "leaky_slope"))
    nin, nout = len(layers[0][0][0]), len(layers[-1][0])
    graph = helper.make_graph(
        nodes,
        "tapegrad_mlp",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", nin])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["batch", nout])],
        weights,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="tapegrad",
        doc_string=repr(model),
    )
    onnx.checker.check_model(proto, full_check=True)
    write_atomically(path, proto.SerializeToString())


def export_file(model: MLP, fmt: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``model`` into ``out_dir`` as ``model.pt`` (``fmt="torch"``) or ``model.onnx``.

    ``model.pt`` holds the :func:`to_torch` Sequential (``torch.save`` of the
    module; read it with ``torch.load(path, weights_only=False)``). Both files
    are written atomically. This is what ``tapegrad train --export`` calls.

    Args:
        model: The trained network.
        fmt: One of :data:`FORMATS` (``"torch"`` or ``"onnx"``).
        out_dir: An existing folder (``model.json``'s).

    Returns:
        The path written.

    Raises:
        ValueError: ``fmt`` is not a known format.
        ImportError: The extra for ``fmt`` is missing.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {shown(fmt)}; choose from {', '.join(FORMATS)}")
    path = Path(out_dir) / FORMATS[fmt]
    if fmt == "onnx":
        to_onnx(model, path)
        return path
    seq = to_torch(model)
    torch = _need("torch", "torch", "nn.export.export_file")
    buffer = io.BytesIO()
    torch.save(seq, buffer)
    write_atomically(path, buffer.getvalue())
    return path
