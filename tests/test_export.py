"""nn.export: the MLP handed to PyTorch and ONNX runs to the same numbers, and comes back."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd.testing import finite_floats
from nn import MLP, export
from nn.layers import ACTIVATIONS

torch = pytest.importorskip("torch")

TOL = 1e-12


@st.composite
def mlps(draw: Any) -> MLP:
    """A random architecture with any activation and seeded weights."""
    nin = draw(st.integers(1, 4))
    nouts = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    activation = draw(st.sampled_from(ACTIVATIONS))
    seed = draw(st.integers(0, 2**32 - 1))
    model = MLP(nin, nouts, activation, rng=random.Random(seed))
    for p in model.parameters():  # biases too: they start at 0, which would hide a swap
        p.data += draw(finite_floats(-1.0, 1.0))
    return model


def _inputs(draw: Any, nin: int) -> list[list[float]]:
    rows = draw(st.integers(1, 6))
    return [[draw(finite_floats(-3.0, 3.0)) for _ in range(nin)] for _ in range(rows)]


def _outputs(model: MLP, xs: list[list[float]]) -> list[list[float]]:
    """tapegrad's own forward pass, one output list per example."""
    rows = []
    for x in xs:
        out = model(x)
        rows.append([v.data for v in out] if isinstance(out, list) else [out.data])
    return rows


def _close(a: list[list[float]], b: list[list[float]]) -> bool:
    return len(a) == len(b) and all(
        len(r) == len(s) and all(abs(u - v) <= TOL * max(1.0, abs(u)) for u, v in zip(r, s))
        for r, s in zip(a, b)
    )


def _nin(model: MLP) -> int:
    return len(model.layers[0].neurons[0].w)


@given(data=st.data(), model=mlps())
def test_to_torch_gives_the_same_outputs(data: st.DataObject, model: MLP) -> None:
    inputs = _inputs(data.draw, _nin(model))
    seq = export.to_torch(model)
    got = seq(torch.tensor(inputs, dtype=torch.float64)).tolist()
    assert _close(got, _outputs(model, inputs))


@given(model=mlps())
def test_to_torch_layout_is_linear_out_in_float64(model: MLP) -> None:
    seq = export.to_torch(model)
    linears = [m for m in seq if isinstance(m, torch.nn.Linear)]
    assert len(linears) == len(model.layers)
    for lin, layer in zip(linears, model.layers):
        assert lin.weight.dtype == lin.bias.dtype == torch.float64
        assert lin.weight.shape == (len(layer.neurons), len(layer.neurons[0].w))  # (out, in)
        for j, neuron in enumerate(layer.neurons):
            assert lin.weight[j].tolist() == [w.data for w in neuron.w]
            assert lin.bias[j].item() == neuron.b.data
    assert isinstance(seq[-1], torch.nn.Linear)  # the output layer stays linear
    acts = [type(m).__name__ for m in seq if not isinstance(m, torch.nn.Linear)]
    want = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU"}
    assert (
        acts == [want[model.activation]] * (len(model.layers) - 1)
        if model.activation in want
        else acts == []
    )


@given(data=st.data(), model=mlps())
def test_from_torch_round_trip_keeps_every_number(data: st.DataObject, model: MLP) -> None:
    back = export.from_torch(export.to_torch(model))
    # One layer has no hidden activation to read back: from_torch says relu, the default.
    activation = model.activation if len(model.layers) > 1 else "relu"
    assert back.config() == {**model.config(), "init": "uniform", "activation": activation}
    assert back.state_dict() == model.state_dict()
    inputs = _inputs(data.draw, _nin(model))
    assert _outputs(back, inputs) == _outputs(model, inputs)


def test_from_torch_reads_a_network_built_in_torch() -> None:
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2, bias=False)
    )  # float32, as torch builds it
    model = export.from_torch(seq)
    assert model.config()["nouts"] == [4, 2] and model.activation == "tanh"
    x = [[0.5, -1.0, 2.0]]
    want = seq.double()(torch.tensor(x, dtype=torch.float64)).tolist()
    assert _close(_outputs(model, x), want)
    assert [n.b.data for n in model.layers[1].neurons] == [0.0, 0.0]


def test_from_torch_leaves_the_global_random_alone() -> None:
    random.seed(5)
    expected = random.random()
    random.seed(5)
    export.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3)))
    assert random.random() == expected


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (lambda: [torch.nn.Linear(2, 3), torch.nn.Dropout()], "layer 1 is Dropout"),
        (lambda: [torch.nn.Linear(2, 3), torch.nn.GELU(), torch.nn.Linear(3, 1)], "GELU"),
        (lambda: [torch.nn.ReLU(), torch.nn.Linear(2, 1)], "must follow a Linear"),
        (
            lambda: [torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Tanh()],
            "layer 2 \\(Tanh\\) must follow a Linear",
        ),
        (lambda: [torch.nn.Linear(2, 3), torch.nn.Sigmoid()], "output layer is linear"),
        (lambda: [torch.nn.Linear(2, 3), torch.nn.Linear(4, 1)], "gives 3 outputs"),
        (
            lambda: [
                torch.nn.Linear(2, 3),
                torch.nn.ReLU(),
                torch.nn.Linear(3, 3),
                torch.nn.Tanh(),
                torch.nn.Linear(3, 1),
            ],
            "different activations",
        ),
        (
            lambda: [torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.2), torch.nn.Linear(3, 1)],
            "slope 0.01 only",
        ),
        (lambda: [], "at least one Linear"),
    ],
)
def test_from_torch_refuses_what_an_mlp_cannot_hold(layers: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        export.from_torch(torch.nn.Sequential(*layers()))


def test_from_torch_takes_a_sequential_only() -> None:
    with pytest.raises(TypeError, match=r"torch\.nn\.Sequential, got Linear"):
        export.from_torch(torch.nn.Linear(2, 1))


@pytest.mark.parametrize("function", [export.to_torch, lambda m: export.to_onnx(m, "x.onnx")])
def test_exports_take_an_mlp_only(function: Any) -> None:
    with pytest.raises(TypeError, match=r"exports an nn\.MLP, got Layer"):
        function(MLP(2, [3]).layers[0])


# --- ONNX ----------------------------------------------------------------------------


@given(data=st.data(), model=mlps())
def test_to_onnx_runs_in_onnxruntime_to_the_same_outputs(
    data: st.DataObject, model: MLP, tmp_path_factory: pytest.TempPathFactory
) -> None:
    np = pytest.importorskip("numpy")
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export.to_onnx(model, path)
    inputs = _inputs(data.draw, _nin(model))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": np.array(inputs, dtype=np.float64)})
    assert got.dtype == np.float64
    assert _close(got.tolist(), _outputs(model, inputs))


def test_to_onnx_graph_is_gemm_plus_activations(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    export.to_onnx(MLP(2, [4, 3, 1], "tanh", rng=random.Random(0)), tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Tanh", "Gemm", "Tanh", "Gemm"]
    assert proto.opset_import[0].version == export.ONNX_OPSET
    x, y = proto.graph.input[0].type.tensor_type, proto.graph.output[0].type.tensor_type
    assert x.elem_type == y.elem_type == onnx.TensorProto.DOUBLE
    assert [d.dim_value for d in x.shape.dim][1:] == [2]
    assert [d.dim_value for d in y.shape.dim][1:] == [1]


def test_to_onnx_failure_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx = pytest.importorskip("onnx")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")

    def broken(*args: object, **kwargs: object) -> None:
        raise onnx.checker.ValidationError("boom")

    monkeypatch.setattr(onnx.checker, "check_model", broken)
    with pytest.raises(onnx.checker.ValidationError):
        export.to_onnx(MLP(2, [1]), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


# --- the files tapegrad train --export writes ---------------------------------------


def test_export_file_torch_loads_back_with_the_same_outputs(tmp_path: Path) -> None:
    model = MLP(2, [5, 1], "sigmoid", rng=random.Random(3))
    path = export.export_file(model, "torch", tmp_path)
    assert path == tmp_path / "model.pt"
    seq = torch.load(path, weights_only=False)
    x = [[0.25, -0.75]]
    assert _close(seq(torch.tensor(x, dtype=torch.float64)).tolist(), _outputs(model, x))


def test_export_file_onnx_and_unknown_format(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    assert export.export_file(MLP(2, [1]), "onnx", tmp_path) == tmp_path / "model.onnx"
    assert (tmp_path / "model.onnx").stat().st_size > 0
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose from torch, onnx"):
        export.export_file(MLP(2, [1]), "tflite", tmp_path)


# --- without the extras -------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("torch", "torch", lambda tmp: export.to_torch(MLP(2, [1]))),
        ("torch", "torch", lambda tmp: export.from_torch(object())),
        ("onnx", "onnx", lambda tmp: export.to_onnx(MLP(2, [1]), tmp / "m.onnx")),
    ],
)
def test_missing_extra_is_named(
    module: str, extra: str, call: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=rf"pip install 'tapegrad\[{extra}\]'"):
        call(tmp_path)
    assert not (tmp_path / "m.onnx").exists()
