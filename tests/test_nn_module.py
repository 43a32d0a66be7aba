"""Tests of nn.Module, Neuron, Layer, MLP: parameters, micrograd compatibility, save/load."""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import Value
from autograd.engine import operands
from autograd.testing import finite_floats
from nn import MLP, Layer, ModelFileError, Module, Neuron
from nn.layers import ACTIVATIONS, INITS
from nn.module import FORMAT_VERSION, StateDictError


def _relu(z: float) -> float:
    return z if z > 0 else 0.0


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


ACT = {
    "relu": _relu,
    "tanh": math.tanh,
    "sigmoid": _sigmoid,
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    "linear": lambda z: z,
}


# --- micrograd compatibility ---------------------------------------------------------


def test_mlp_after_seed_1337_holds_micrograds_weights() -> None:
    micrograd_nn = pytest.importorskip("micrograd.nn")
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    random.seed(1337)
    theirs = micrograd_nn.MLP(2, [16, 16, 1])
    mine, ref = ours.parameters(), theirs.parameters()
    assert len(mine) == len(ref) == 337
    assert [p.data for p in mine] == [q.data for q in ref]
    random.seed(1337)  # and both consumed the same number of draws
    MLP(2, [16, 16, 1])
    after_ours = random.random()
    random.seed(1337)
    micrograd_nn.MLP(2, [16, 16, 1])
    assert after_ours == random.random()


def test_forward_and_gradients_match_micrograd() -> None:
    micrograd_nn = pytest.importorskip("micrograd.nn")
    from micrograd.engine import Value as MicroValue

    random.seed(7)
    ours = MLP(3, [4, 4, 1])
    random.seed(7)
    theirs = micrograd_nn.MLP(3, [4, 4, 1])
    x = [0.3, -1.2, 0.8]
    out = ours(x)
    ref = theirs([MicroValue(v) for v in x])
    assert isinstance(out, Value)
    assert out.data == pytest.approx(ref.data, abs=1e-12)
    (out * out).backward()
    (ref * ref).backward()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert p.grad == pytest.approx(q.grad, abs=1e-12)


def test_micrograd_attribute_names_and_layer_unwrapping() -> None:
    model = MLP(2, [3, 1], rng=random.Random(0))
    assert [len(layer.neurons) for layer in model.layers] == [3, 1]
    neuron = model.layers[0].neurons[0]
    assert len(neuron.w) == 2
    assert isinstance(neuron.b, Value)
    assert neuron.b.data == 0.0
    assert all(-1 <= w.data <= 1 for w in neuron.w)
    assert [n.nonlin for layer in model.layers for n in layer.neurons] == [True] * 3 + [False]
    assert isinstance(Layer(2, 1, rng=random.Random(0))([1.0, 2.0]), Value)
    outs = Layer(2, 3, rng=random.Random(0))([1.0, 2.0])
    assert isinstance(outs, list)
    assert len(outs) == 3
    multi = MLP(2, [3, 2], rng=random.Random(0))([1.0, 2.0])
    assert isinstance(multi, list)
    assert len(multi) == 2


def test_rng_gives_reproducible_weights_without_touching_global_random() -> None:
    random.seed(99)
    state = random.getstate()
    a = MLP(2, [5, 1], rng=random.Random(3))
    assert random.getstate() == state
    b = MLP(2, [5, 1], rng=random.Random(3))
    assert a.state_dict() == b.state_dict()
    random.seed(3)
    c = MLP(2, [5, 1])
    assert a.state_dict() == c.state_dict()  # Random(s) is the stream random.seed(s) gives


# --- neurons -----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_neuron_computes_activation_of_w_dot_x_plus_b(activation: str) -> None:
    n = Neuron(3, activation=activation, rng=random.Random(1))
    n.b.data = 0.25
    x = [0.5, -2.0, 1.5]
    z = sum(w.data * xi for w, xi in zip(n.w, x)) + 0.25
    assert n(x).data == pytest.approx(ACT[activation](z), abs=1e-15)
    linear = Neuron(3, nonlin=False, activation=activation, rng=random.Random(1))
    assert linear(x).data == pytest.approx(z - 0.25, abs=1e-15)


def test_a_neuron_is_one_node_with_its_weights_bias_and_inputs() -> None:
    n = Neuron(5, rng=random.Random(0))
    x = [Value(float(i)) for i in range(5)]
    out = n(x)
    assert out._op == "relu(w·x+b)"
    assert out._prev == (*n.w, n.b, *x)
    # plain numbers become constants: left out of _prev, kept as numbers in _args
    out = n([1.0] * 5)
    assert out._prev == (*n.w, n.b)
    assert operands(out) == (*n.w, n.b, *[1.0] * 5)


def test_a_leaky_relu_neuron_is_a_dot_node_plus_its_activation() -> None:
    n = Neuron(5, activation="leaky_relu", rng=random.Random(0))
    out = n([1.0] * 5)
    assert out._op == "leaky_relu"
    (dot,) = out._prev
    assert dot._op == "dot"
    assert set(dot._prev) == {*n.w, n.b}


def test_neuron_takes_values_and_passes_gradients_to_them() -> None:
    n = Neuron(2, activation="tanh", rng=random.Random(0))
    x = [Value(0.3), Value(-0.4)]
    out = n(x)
    out.backward()
    slope = 1 - out.data**2
    assert x[0].grad == pytest.approx(slope * n.w[0].data)
    assert n.w[1].grad == pytest.approx(slope * -0.4)
    assert n.b.grad == pytest.approx(slope)


def test_neuron_rejects_wrong_input_length_and_bad_options() -> None:
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        Neuron(2, rng=random.Random(0))([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="relu, tanh, sigmoid, leaky_relu, linear"):
        Neuron(2, activation="swish")
    with pytest.raises(ValueError, match="uniform, xavier, he"):
        MLP(2, [3, 1], init="orthogonal")
    with pytest.raises(ValueError, match="non-empty"):
        MLP(2, [])
    with pytest.raises(ValueError, match=">= 1"):
        MLP(2, [0, 1])
    with pytest.raises(TypeError, match="int"):
        MLP(2.5, [1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: MLP(2.5, [3]), TypeError, "nin must be an int, got float 2.5"),
        (lambda: MLP(True, [3]), TypeError, "nin must be an int, got bool True"),
        (lambda: MLP(2, "ab"), TypeError, "nouts must be a non-empty list.*str 'ab'"),
        (lambda: MLP(2, 3), TypeError, "nouts must be a non-empty list.*int 3"),
        (lambda: MLP(2, [3, 1.0]), TypeError, r"nouts\[1\] must be an int, got float"),
        (lambda: MLP(2, [3, -1]), ValueError, r"nouts\[1\] must be >= 1, got -1"),
        (lambda: MLP(2, [3], rng="x"), TypeError, "rng must be a random.Random or None, got str"),
        (lambda: MLP(2, [3], activation=None), TypeError, "activation must be a string"),
        (lambda: Layer(2, 0), ValueError, "nout must be >= 1, got 0"),
        (lambda: Layer(2, 3, init=1), TypeError, "init must be a string.*int 1"),
        (lambda: Layer(2, 3, rng=7), TypeError, "rng must be"),
        (lambda: Neuron(-2), ValueError, "nin must be >= 1, got -2"),
        (lambda: Neuron(2, nonlin="yes"), TypeError, "nonlin must be True or False, got str"),
        (lambda: Neuron(2, activation=["relu"]), TypeError, "activation must be a string"),
        (lambda: Neuron(2, fan_out=0.5), TypeError, "fan_out must be an int"),
    ],
)
def test_constructors_reject_bad_argument_types_and_values(
    build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("init", INITS)
def test_initialisations_stay_within_their_bounds(init: str) -> None:
    layer = Layer(50, 30, init=init, rng=random.Random(0))
    bound = {"uniform": 1.0, "xavier": math.sqrt(6 / 80), "he": math.sqrt(6 / 50)}[init]
    weights = [w.data for n in layer.neurons for w in n.w]
    assert max(abs(w) for w in weights) <= bound
    assert max(abs(w) for w in weights) > 0.9 * bound  # and fill them (1500 draws)


# --- parameter discovery -----------------------------------------------------------------


class Affine(Module):
    def __init__(self) -> None:
        self.scale = Value(2.0)
        self.name = "not a parameter"
        self.inner = Neuron(2, rng=random.Random(0))
        self.pair = (Value(3.0), [Value(4.0), "skip", 5.0])
        self.again = self.scale  # shared: listed once

    def __call__(self, x: Any) -> Value:
        out: Value = self.inner(x) * self.scale
        return out


def test_parameters_are_found_from_attributes_in_definition_order() -> None:
    m = Affine()
    names = [name for name, _ in m.named_parameters()]
    assert names == ["scale", "inner.w.0", "inner.w.1", "inner.b", "pair.0", "pair.1.0"]
    assert m.parameters()[0] is m.scale
    assert [p.data for p in m.parameters()][-2:] == [3.0, 4.0]
    mlp = MLP(2, [3, 1], rng=random.Random(0))
    assert mlp.named_parameters()[0][0] == "layers.0.neurons.0.w.0"
    assert mlp.named_parameters()[-1][0] == "layers.1.neurons.0.b"
    assert len(mlp.parameters()) == 3 * 3 + 4


def test_zero_grad_resets_every_parameter() -> None:
    m = Affine()
    m([1.0, 1.0]).backward()
    assert any(p.grad != 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad == 0 for p in m.parameters())


def test_zero_grad_accepts_none_gradients() -> None:
    m = Affine()
    for p in m.parameters():
        p.grad = None  # PyTorch's optimizer.zero_grad(set_to_none=True) idiom
    m.zero_grad()
    assert all(type(p.grad) is float and p.grad == 0.0 for p in m.parameters())
    m([1.0, 1.0]).backward()
    assert m.scale.grad == pytest.approx(m.inner([1.0, 1.0]).data)


def test_zero_grad_after_create_graph_leaves_floats_and_plain_backward_works() -> None:
    m = Affine()
    m.inner.b.data = 1.0  # relu active, so every gradient is nonzero
    m([1.0, 1.0]).backward(create_graph=True)
    reached = [m.scale, *m.inner.w, m.inner.b]  # pair's Values are not in the graph
    assert all(isinstance(p.grad, Value) for p in reached)
    m.zero_grad()
    assert all(type(p.grad) is float and p.grad == 0.0 for p in m.parameters())
    m([1.0, 1.0]).backward()
    assert type(m.scale.grad) is float
    assert m.scale.grad == pytest.approx(m.inner([1.0, 1.0]).data)


def test_repr() -> None:
    assert repr(MLP(2, [16, 16, 1], rng=random.Random(0))) == (
        "MLP(2, [16, 16, 1], activation='relu')"
    )
    assert repr(Neuron(3, rng=random.Random(0))) == "ReLUNeuron(3)"
    assert repr(Neuron(3, nonlin=False, rng=random.Random(0))) == "LinearNeuron(3)"
    assert repr(Layer(2, 4, activation="tanh", rng=random.Random(0))) == (
        "Layer(2, 4, activation='tanh')"
    )


# --- state dicts ---------------------------------------------------------------------------


def test_state_dict_round_trip_and_mismatch_changes_nothing() -> None:
    a = MLP(2, [3, 1], rng=random.Random(0))
    b = MLP(2, [3, 1], rng=random.Random(1))
    before = b.state_dict()
    bad = dict(a.state_dict())
    bad["layers.1.neurons.0.b"] = math.nan
    with pytest.raises(StateDictError, match="not a finite number"):
        b.load_state_dict(bad)
    bad = dict(a.state_dict())
    bad["layers.0.neurons.2.w.1"] = "0.5"  # type: ignore[assignment]
    with pytest.raises(StateDictError, match="not a number"):
        b.load_state_dict(bad)
    bigger = MLP(2, [4, 1], rng=random.Random(0)).state_dict()
    with pytest.raises(StateDictError, match="4 unexpected"):
        b.load_state_dict(bigger)
    with pytest.raises(StateDictError, match="missing"):
        b.load_state_dict({})
    assert b.state_dict() == before
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()


# --- save / load -------------------------------------------------------------------------------

architectures = st.builds(
    lambda nin, nouts, activation, init, seed: MLP(
        nin, nouts, activation, init=init, rng=random.Random(seed)
    ),
    st.integers(1, 4),
    st.lists(st.integers(1, 5), min_size=1, max_size=3),
    st.sampled_from(ACTIVATIONS),
    st.sampled_from(INITS),
    st.integers(0, 1000),
)


@given(architectures, st.lists(finite_floats(-3, 3), min_size=4, max_size=4))
def test_save_load_round_trip_of_random_architectures(model: MLP, x: list[float]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.json")
        model.save(path, meta={"note": "hi"})
        state = random.getstate()
        loaded = nn.load(path)
        assert random.getstate() == state
        assert os.listdir(folder) == ["m.json"]
    assert isinstance(loaded, MLP)
    assert loaded.config() == model.config()
    assert loaded.state_dict() == model.state_dict()  # bit for bit: JSON keeps repr(float)
    nin = model.config()["nin"]
    out, ref = loaded(x[:nin]), model(x[:nin])
    got = out if isinstance(out, list) else [out]
    want = ref if isinstance(ref, list) else [ref]
    assert [v.data for v in got] == [v.data for v in want]


def test_saved_file_is_plain_json_with_version_class_config_and_parameters(tmp_path: Path) -> None:
    model = MLP(2, [2, 1], rng=random.Random(0))
    path = tmp_path / "m.json"
    model.save(path, meta={"loss": "hinge"})
    doc = json.loads(path.read_text())
    assert doc["format"] == "tapegrad.nn"
    assert doc["version"] == FORMAT_VERSION
    assert doc["class"] == "MLP"
    assert doc["config"] == {"nin": 2, "nouts": [2, 1], "activation": "relu", "init": "uniform"}
    assert doc["parameters"] == model.state_dict()
    assert nn.read_meta(path) == {"loss": "hinge"}


def test_save_refuses_non_finite_parameters(tmp_path: Path) -> None:
    model = MLP(1, [1], rng=random.Random(0))
    model.layers[0].neurons[0].b.data = math.inf
    with pytest.raises(ModelFileError, match="JSON cannot store"):
        model.save(tmp_path / "m.json")
    assert not list(tmp_path.iterdir())


def test_a_failed_save_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.json"
    MLP(2, [2, 1], rng=random.Random(0)).save(path)
    original = path.read_text()

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # as if the process died while writing

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        MLP(2, [2, 1], rng=random.Random(1)).save(path)
    monkeypatch.undo()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(ModelFileError, match="No space left"):
        MLP(2, [2, 1], rng=random.Random(1)).save(path)
    monkeypatch.undo()
    assert path.read_text() == original
    assert os.listdir(tmp_path) == ["m.json"]
    with pytest.raises(ModelFileError, match="cannot write"):
        MLP(2, [2, 1]).save(tmp_path / "no" / "such" / "dir.json")


def _variants(doc: dict[str, Any], text: str) -> dict[str, tuple[str, str]]:
    """Broken versions of a valid model file: name -> (contents, expected message)."""

    def edited(**changes: Any) -> str:
        return json.dumps({**doc, **changes})

    bigger = dict(doc["config"], nouts=[3, 1])
    return {
        "truncated": (text[: len(text) // 2], "not valid JSON.*truncated"),
        "not json": ("hello", "not valid JSON"),
        "empty": ("", "not valid JSON"),
        "not a model": (json.dumps([1, 2]), "not a tapegrad model file"),
        "future version": (edited(version=2), "format version 2 is not supported"),
        "no parameters": (edited(parameters=None), "'parameters'"),
        "mismatched shapes": (edited(config=bigger), "do not match"),
        "nan": (
            json.dumps(doc).replace('"layers.1.neurons.0.b": 0.0', '"layers.1.neurons.0.b": NaN'),
            "non-standard JSON number NaN",
        ),
        "string weight": (
            edited(parameters={**doc["parameters"], "layers.1.neurons.0.b": "x"}),
            "not a number",
        ),
        "unknown class": (edited(**{"class": "Transformer"}), "'Transformer' is not one"),
    }


def test_load_errors_name_the_file_and_the_problem_and_change_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    MLP(2, [2, 1], rng=random.Random(0)).save(good)
    text = good.read_text()
    target = MLP(2, [2, 1], rng=random.Random(5))
    before = target.state_dict()
    for name, (contents, message) in _variants(json.loads(text), text).items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_text(contents)
        with pytest.raises(ModelFileError, match=message) as info:
            nn.load(path)
        assert str(path) in str(info.value), name
        assert isinstance(info.value, ValueError)
        if name not in ("unknown class", "mismatched shapes"):
            with pytest.raises(ModelFileError, match=message):
                target.load_state_dict(path)
        assert target.state_dict() == before, name
    with pytest.raises(ModelFileError, match="no such file"):
        nn.load(tmp_path / "missing.json")
    with pytest.raises(ModelFileError, match="directory"):
        nn.load(tmp_path)
    with pytest.raises(ModelFileError, match="holds a MLP model, not a Neuron"):
        Neuron(2).load_state_dict(good)
    target.load_state_dict(good)
    assert target.state_dict() == MLP(2, [2, 1], rng=random.Random(0)).state_dict()


class NoConfig(Module):
    """A micrograd-style model: its architecture is fixed in __init__, no config()."""

    def __init__(self, activation: str = "relu") -> None:
        self.activation = activation  # not a parameter: the file cannot say which it was
        self.k = Value(1.5)
        self.inner = Neuron(2, rng=random.Random(0))


class WithConfig(NoConfig):
    def config(self) -> dict[str, Any]:
        return {"activation": self.activation}


def test_models_without_config_save_but_load_only_into_an_instance(tmp_path: Path) -> None:
    path = tmp_path / "nc.json"
    saved = NoConfig("tanh")
    saved.k.data = -2.0
    saved.save(path)
    with pytest.raises(ModelFileError, match=r"records no config.*config\(\).*load_state_dict"):
        nn.load(path, classes=(NoConfig,))  # NoConfig() would silently be a relu model
    m = NoConfig("tanh")
    m.load_state_dict(path)
    assert m.state_dict() == saved.state_dict()


def test_a_config_method_makes_your_own_module_loadable_when_named(tmp_path: Path) -> None:
    path = tmp_path / "wc.json"
    saved = WithConfig("tanh")
    saved.inner.w[1].data = 0.25
    saved.save(path)
    with pytest.raises(ModelFileError, match=r"'WithConfig'.*classes=\(WithConfig,\)"):
        nn.load(path)  # imported is not enough: the file may not pick any class
    loaded = nn.load(path, classes=(WithConfig,))
    assert type(loaded) is WithConfig and loaded.activation == "tanh"
    assert loaded.state_dict() == saved.state_dict()
