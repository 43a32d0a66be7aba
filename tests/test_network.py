"""Tests for nn.draw_network: the DOT source it writes, and what Graphviz makes of it."""

from __future__ import annotations

import itertools
import math
import random
import re
import shutil
from pathlib import Path

import graphviz
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import Value
from autograd.testing import finite_floats
from autograd.viz import GraphvizNotFoundError
from nn import MLP, Layer, Module, Neuron, draw_network

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz 'dot' not installed (sudo apt-get install graphviz); `make test` installs it",
)
BLUE, RED, GREY = "#2563eb", "#dc2626", "#9ca3af"

_ID = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"\t{_ID} \[(.*)\]\n")
_EDGE = re.compile(rf"\t+{_ID} -> {_ID} \[(.*)\]\n")
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')
_STRUCTURE = re.compile(r"\tsubgraph column\d+ \{\n|\t\trank=same\n|\t\}\n")


def unquote(text: str) -> str:
    """A DOT attribute value as the text it stands for (``\\n`` a line break)."""
    if not text.startswith('"'):
        return text
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], text[1:-1])


def attributes(text: str) -> dict[str, str]:
    return {key: unquote(value) for key, value in _ATTR.findall(text)}


class Drawing:
    """A draw_network result taken apart: nodes, weight edges, and the other edges."""

    def __init__(self, g: graphviz.Digraph) -> None:
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: dict[tuple[str, str], dict[str, str]] = {}  # solid edges: one per weight
        self.dashed: list[tuple[str, str]] = []  # edges standing for hidden weights
        self.invisible: list[tuple[str, str]] = []  # the order within a column
        for line in g.body:
            if edge := _EDGE.fullmatch(line):
                attrs, pair = attributes(edge[3]), (edge[1], edge[2])
                if attrs.get("style") == "invis":
                    self.invisible.append(pair)
                elif attrs.get("style") == "dashed" and "tooltip" not in attrs:
                    self.dashed.append(pair)
                else:
                    assert pair not in self.edges, f"two edges {pair}"
                    self.edges[pair] = attrs
            elif node := _NODE.fullmatch(line):
                assert node[1] not in self.nodes, f"node {node[1]} defined twice"
                self.nodes[node[1]] = attributes(node[2])
            else:
                assert _STRUCTURE.fullmatch(line), f"unexpected DOT line {line!r}"

    def tooltip_number(self, key: tuple[str, str] | str, name: str) -> float:
        """The number after ``<name> =`` or ``<name>`` in a tooltip, parsed back to a float."""
        tip = (self.edges[key] if isinstance(key, tuple) else self.nodes[key])["tooltip"]
        pattern = rf"(?:^|\n|, ){re.escape(name)}(?: \([^)]*\))? (?:= )?(\S+?)(?:,|\n|$)"
        found = re.search(pattern, tip)
        assert found is not None, f"no {name!r} in tooltip {tip!r}"
        return float(found[1])


def weights(model: MLP) -> dict[tuple[str, str], Value]:
    """Every weight of the model keyed by the (tail, head) edge it should be drawn as."""
    found = {}
    for i, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for k, w in enumerate(neuron.w):
                tail = f"x{k}" if i == 0 else f"l{i - 1}.n{k}"
                found[tail, f"l{i}.n{j}"] = w
    return found


def neuron_ids(model: MLP) -> dict[str, Neuron]:
    return {
        f"l{i}.n{j}": n for i, layer in enumerate(model.layers) for j, n in enumerate(layer.neurons)
    }


def trained_example(seed: int = 0, sizes: tuple[int, ...] = (4, 3, 1)) -> tuple[MLP, list[float]]:
    """A tanh MLP (no dead units, so every gradient is non-zero) after one backward pass."""
    model = MLP(2, list(sizes), activation="tanh", rng=random.Random(seed))
    x = [0.7, -1.3]
    out = model(x)
    assert isinstance(out, Value)
    ((out - 0.25) ** 2).backward()
    return model, x


shapes = st.tuples(st.integers(1, 4), st.lists(st.integers(1, 5), min_size=1, max_size=3))


@given(shapes, st.integers(0, 2**32 - 1))
def test_one_node_per_input_and_neuron_and_one_edge_per_weight(
    shape: tuple[int, list[int]], seed: int
) -> None:
    nin, nouts = shape
    model = MLP(nin, nouts, rng=random.Random(seed))
    d = Drawing(draw_network(model))
    inputs = {f"x{i}" for i in range(nin)}
    assert set(d.nodes) == inputs | set(neuron_ids(model))
    assert set(d.edges) == set(weights(model))
    assert len(d.edges) == sum(a * b for a, b in itertools.pairwise([nin, *nouts]))
    assert not d.dashed
    for (tail, head), w in weights(model).items():
        assert d.tooltip_number((tail, head), f"weight {head}.w{tail[1:].split('n')[-1]}") == w.data
    for name, neuron in neuron_ids(model).items():
        assert d.nodes[name]["shape"] == "circle"
        assert d.nodes[name]["label"].splitlines()[:2] == [neuron.act, f"b {neuron.b.data:.4g}"]
        assert d.tooltip_number(name, "bias b") == neuron.b.data
    # The output layer has the double border, nothing else has.
    last = len(nouts) - 1
    doubled = {name for name, attrs in d.nodes.items() if attrs.get("peripheries") == "2"}
    assert doubled == {f"l{last}.n{j}" for j in range(nouts[-1])}


@given(st.lists(finite_floats(-3.0, 3.0) | st.just(0.0), min_size=2, max_size=12))
def test_colour_follows_the_sign_and_width_grows_with_the_magnitude(ws: list[float]) -> None:
    model = MLP(len(ws), [1])
    for w, value in zip(model.layers[0].neurons[0].w, ws, strict=True):
        w.data = value
    d = Drawing(draw_network(model))
    drawn = [(ws[i], d.edges[f"x{i}", "l0.n0"]) for i in range(len(ws))]
    for w, attrs in drawn:
        assert attrs["color"] == (BLUE if w > 0 else RED if w < 0 else GREY)
        assert 0.3 <= float(attrs["penwidth"]) <= 5.0
        assert "style" not in attrs
    by_size = sorted(drawn, key=lambda pair: abs(pair[0]))
    widths = [float(attrs["penwidth"]) for _, attrs in by_size]
    assert widths == sorted(widths)  # thicker for a larger |w|
    for (a, wa), (b, wb) in itertools.pairwise(by_size):
        if abs(b) - abs(a) > 0.01 * max(abs(w) for w in ws):  # clearly larger than rounding
            assert float(wb["penwidth"]) > float(wa["penwidth"])
    largest = max(abs(w) for w in ws)
    for w, attrs in drawn:
        if largest > 0 and abs(w) == largest:
            assert float(attrs["penwidth"]) == 5.0
        if w == 0.0:
            assert float(attrs["penwidth"]) == 0.3


def test_dense_drawings_use_thinner_pens_and_bad_weights_are_grey_and_dashed() -> None:
    model = MLP(2, [16, 16, 1], rng=random.Random(1))
    widths = [float(a["penwidth"]) for a in Drawing(draw_network(model)).edges.values()]
    assert max(widths) == 2.5 and min(widths) >= 0.3  # 304 edges: the widest is halved
    neuron = Neuron(3)
    neuron.w[0].data, neuron.w[1].data, neuron.w[2].data = math.nan, math.inf, -0.5
    d = Drawing(draw_network(neuron))
    for tail in ("x0", "x1"):
        assert d.edges[tail, "l0.n0"]["color"] == GREY
        assert d.edges[tail, "l0.n0"]["style"] == "dashed"
    assert d.edges["x2", "l0.n0"]["color"] == RED
    assert float(d.edges["x2", "l0.n0"]["penwidth"]) == 5.0  # the largest finite |w|
    assert math.isnan(d.tooltip_number(("x0", "l0.n0"), "weight l0.n0.w0"))


def test_after_backward_every_gradient_is_shown_as_the_engine_holds_it() -> None:
    model, _ = trained_example()
    assert all(p.grad != 0.0 for p in model.parameters())
    d = Drawing(draw_network(model))
    assert len(d.edges) == 2 * 4 + 4 * 3 + 3  # 23 edges: small enough to label
    for edge, w in weights(model).items():
        assert d.tooltip_number(edge, "grad") == w.grad  # full precision: repr
        label = d.edges[edge]["label"].splitlines()
        assert label == [f"w {w.data:.4g}", f"∇ {w.grad:.4g}"]
        assert float(label[1][2:]) == pytest.approx(w.grad, rel=1e-3)  # as printed
    for name, neuron in neuron_ids(model).items():
        assert d.tooltip_number(name, "grad") == neuron.b.grad
        assert f"∇b {neuron.b.grad:.4g}" in d.nodes[name]["label"].splitlines()


def test_before_backward_labels_leave_the_gradient_out_but_tooltips_keep_it() -> None:
    model = MLP(2, [3, 1], rng=random.Random(4))
    d = Drawing(draw_network(model))
    assert all("∇" not in attrs["label"] for attrs in [*d.nodes.values(), *d.edges.values()])
    assert all(d.tooltip_number(edge, "grad") == 0.0 for edge in d.edges)
    forced = Drawing(draw_network(model, show_grad=True))
    assert all(attrs["label"].endswith("∇ 0") for attrs in forced.edges.values())
    trained, _ = trained_example()
    hidden = Drawing(draw_network(trained, show_grad=False))
    assert all("∇" not in attrs["label"] for attrs in hidden.edges.values())
    assert all(hidden.tooltip_number(e, "grad") == w.grad for e, w in weights(trained).items())


def test_a_gradient_that_is_a_value_shows_its_data() -> None:
    model, x = trained_example()
    model.zero_grad()
    out = model(x)
    assert isinstance(out, Value)
    (out * out).backward(create_graph=True)
    w = model.layers[1].neurons[2].w[3]
    assert isinstance(w.grad, Value)
    d = Drawing(draw_network(model))
    assert d.tooltip_number(("l0.n3", "l1.n2"), "grad") == w.grad.data


@given(st.integers(0, 2**32 - 1), st.lists(finite_floats(-3.0, 3.0), min_size=2, max_size=2))
def test_with_x_each_neuron_shows_the_models_own_output(seed: int, x: list[float]) -> None:
    model = MLP(2, [5, 4, 2], activation="tanh", rng=random.Random(seed))
    d = Drawing(draw_network(model, x))
    h: list[float | Value] = list(x)
    for i, layer in enumerate(model.layers):
        outs = layer.outputs(h)
        for j, out in enumerate(outs):
            name = f"l{i}.n{j}"
            assert d.tooltip_number(name, "out") == out.data
            assert d.nodes[name]["label"].splitlines()[-1] == f"out {out.data:.4g}"
            fill = "#dbeafe" if out.data > 0 else "#fee2e2" if out.data < 0 else "white"
            assert d.nodes[name]["fillcolor"] == fill
        h = list(outs)
    final = model(x)
    assert isinstance(final, list)
    assert [d.tooltip_number(f"l2.n{j}", "out") for j in range(2)] == [v.data for v in final]
    for i, value in enumerate(x):
        assert d.nodes[f"x{i}"]["label"] == f"x{i}\n{value:.4g}"
        assert d.tooltip_number(f"x{i}", f"input x{i}") == value


def test_with_x_the_values_match_pytorch() -> None:
    torch = pytest.importorskip("torch")
    model = MLP(3, [4, 4, 1], rng=random.Random(7))
    x = [0.3, -0.8, 1.9]
    d = Drawing(draw_network(model, x))
    h = torch.tensor(x, dtype=torch.float64)
    for i, layer in enumerate(model.layers):
        weight = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
        bias = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64)
        z = weight @ h + bias
        h = torch.relu(z) if i < len(model.layers) - 1 else z
        for j in range(len(layer.neurons)):
            assert d.tooltip_number(f"l{i}.n{j}", "w · x + b") == pytest.approx(
                float(z[j]), abs=1e-12
            )
            assert d.tooltip_number(f"l{i}.n{j}", "out") == pytest.approx(float(h[j]), abs=1e-12)


def test_drawing_with_x_leaves_the_gradients_alone_and_accepts_values() -> None:
    model, x = trained_example()
    before = [p.grad for p in model.parameters()]
    first = draw_network(model, x)
    assert [p.grad for p in model.parameters()] == before
    assert draw_network(model, [Value(v) for v in x]).source == first.source
    assert draw_network(model, tuple(x)).source == first.source == draw_network(model, x).source


def test_a_layer_and_a_neuron_draw_too() -> None:
    layer = Layer(3, 2, activation="sigmoid", rng=random.Random(2))
    d = Drawing(draw_network(layer, [1.0, 2.0, 3.0]))
    assert set(d.nodes) == {"x0", "x1", "x2", "l0.n0", "l0.n1"}
    assert len(d.edges) == 6
    outs = layer.outputs([1.0, 2.0, 3.0])
    assert [d.tooltip_number(f"l0.n{j}", "out") for j in range(2)] == [o.data for o in outs]
    assert d.nodes["l0.n0"]["label"].startswith("sigmoid\n")
    neuron = Neuron(2, nonlin=False, rng=random.Random(3))
    d = Drawing(draw_network(neuron, [0.5, 0.25]))
    assert set(d.nodes) == {"x0", "x1", "l0.n0"} and len(d.edges) == 2
    assert d.tooltip_number("l0.n0", "out") == neuron([0.5, 0.25]).data
    assert d.nodes["l0.n0"]["label"].startswith("linear\n")


def test_wide_layers_are_summarised() -> None:
    model = MLP(40, [30, 30, 5], rng=random.Random(5))
    g = draw_network(model, [0.1] * 40, max_neurons=8)
    d = Drawing(g)
    summaries = {name: a["label"] for name, a in d.nodes.items() if name.startswith("more")}
    assert summaries == {
        "more0": "… 32 more inputs",
        "more1": "… 22 more neurons",
        "more2": "… 22 more neurons",
    }
    assert len(d.nodes) == 8 + 8 + 8 + 5 + 3
    assert len(d.edges) == 8 * 8 + 8 * 8 + 8 * 5  # only weights with both ends drawn
    ws = weights(model)
    assert all(d.tooltip_number(edge, "grad") == ws[edge].grad for edge in d.edges)
    # Dashed edges stand for the hidden weights, into and out of each summary.
    assert ("more0", "l0.n0") in d.dashed and ("x7", "more1") in d.dashed
    assert ("more0", "more1") in d.dashed and ("more1", "more2") in d.dashed
    assert ("more1", "l1.n7") in d.dashed and ("l0.n0", "more2") in d.dashed
    assert ("more2", "l2.n4") in d.dashed and ("l2.n0", "more2") not in d.dashed
    assert len(d.dashed) == 8 + (8 + 1) + 8 + (8 + 1) + 5
    full = Drawing(draw_network(MLP(3, [20, 1], rng=random.Random(0)), max_neurons=None))
    assert len(full.nodes) == 24 and not full.dashed


def test_the_default_draws_the_cli_network_whole_and_a_huge_one_in_brief() -> None:
    random.seed(1337)  # the CLI's default model, as micrograd's demo builds it
    d = Drawing(draw_network(MLP(2, [16, 16, 1])))
    assert len(d.nodes) == 2 + 16 + 16 + 1 and len(d.edges) == 2 * 16 + 16 * 16 + 16
    huge = MLP(784, [128, 10], rng=random.Random(0))
    g = draw_network(huge, [0.5] * 784)
    assert len(g.body) < 1000  # bounded by max_neurons, not by the model
    assert Drawing(g).nodes["more0"]["label"] == "… 768 more inputs"


def test_columns_keep_the_neurons_in_order() -> None:
    model = MLP(2, [3, 2], rng=random.Random(0))
    d = Drawing(draw_network(model))
    assert d.invisible == [("x0", "x1"), ("l0.n0", "l0.n1"), ("l0.n1", "l0.n2"), ("l1.n0", "l1.n1")]


def test_labels_are_automatic_and_can_be_forced() -> None:
    small, big = MLP(2, [4, 4, 1], rng=random.Random(0)), MLP(2, [8, 8, 1], rng=random.Random(0))
    assert all("label" in a for a in Drawing(draw_network(small)).edges.values())  # 28 edges
    assert all("label" not in a for a in Drawing(draw_network(big)).edges.values())  # 88
    assert all("label" in a for a in Drawing(draw_network(big, labels=True)).edges.values())
    assert all("label" not in a for a in Drawing(draw_network(small, labels=False)).edges.values())


def test_two_drawings_are_identical_and_the_repr_is_stable() -> None:
    model, x = trained_example()
    assert draw_network(model, x).source == draw_network(model, x).source
    assert repr(draw_network(model)) == "<Digraph: 10 nodes>"  # 2 inputs and 8 neurons
    g = draw_network(model, rankdir="TB", format="png")
    assert "rankdir=TB" in g.source and g.format == "png"


@pytest.mark.parametrize(
    "model",
    [Value(1.0), [Neuron(2)], None, "MLP(2, [3, 1])", Module(), {"layers": []}],
    ids=["Value", "list", "None", "str", "Module", "dict"],
)
def test_anything_but_an_mlp_layer_or_neuron_is_refused(model: object) -> None:
    with pytest.raises(TypeError, match=r"draw_network draws an nn\.MLP, nn\.Layer or nn\.Neuron"):
        draw_network(model)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=type(model).__name__):
        draw_network(model)  # type: ignore[arg-type]


def test_bad_inputs_and_options_are_reported_by_name() -> None:
    model = MLP(2, [3, 1], rng=random.Random(0))
    cases: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"x": [1.0]}, ValueError, "x has 1 entries but the model takes 2 inputs"),
        ({"x": [1.0, 2.0, 3.0]}, ValueError, "x has 3 entries"),
        ({"x": "ab"}, TypeError, "x must be one input vector"),
        ({"x": 1.5}, TypeError, "x must be one input vector"),
        ({"x": [1.0, "2"]}, TypeError, r"x\[1\] must be a number, got str '2'"),
        ({"x": [1.0, None]}, TypeError, r"x\[1\] must be a number, got NoneType"),
        ({"rankdir": "XY"}, ValueError, "rankdir must be 'LR', 'RL', 'TB' or 'BT', got 'XY'"),
        ({"max_neurons": 1}, ValueError, "max_neurons must be at least 2"),
        ({"max_neurons": 2.5}, TypeError, "max_neurons must be an int or None, got float"),
        ({"max_neurons": True}, TypeError, "max_neurons must be an int or None, got bool"),
        ({"show_grad": "yes"}, TypeError, "show_grad must be True, False or None"),
        ({"labels": 1}, TypeError, "labels must be True, False or None"),
    ]
    before = [p.data for p in model.parameters()]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            draw_network(model, **kwargs)  # type: ignore[arg-type]
    assert [p.data for p in model.parameters()] == before


def svg_size(g: graphviz.Digraph) -> tuple[float, float]:
    svg = g.pipe(format="svg", encoding="utf-8")
    found = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert found is not None, svg[:300]
    return float(found[1]), float(found[2])


@needs_dot
@pytest.mark.parametrize(
    ("sizes", "nin", "with_x"),
    [((16, 16, 1), 2, True), ((16, 16, 1), 2, False), ((3, 1), 2, True), ((64, 64, 10), 100, True)],
    ids=["cli-default", "cli-default-no-x", "small", "summarised"],
)
def test_rendered_size_stays_readable(sizes: tuple[int, ...], nin: int, with_x: bool) -> None:
    model = MLP(nin, list(sizes), rng=random.Random(1337))
    x = [0.5 - i / nin for i in range(nin)]
    out = model(x)
    (out if isinstance(out, Value) else out[0]).backward()
    width, height = svg_size(draw_network(model, x if with_x else None))
    assert 100 < width < 3000 and 100 < height < 3000


@needs_dot
def test_svg_draws_every_circle_and_weight_with_its_tooltip() -> None:
    model, x = trained_example()
    g = draw_network(model, x)
    d = Drawing(g)
    svg = g.pipe(format="svg", encoding="utf-8")
    assert svg.count('class="node"') == len(d.nodes) == 10
    assert svg.count('class="edge"') == len(d.edges) == 23  # invisible edges are not drawn
    w = model.layers[0].neurons[1].w[0]
    assert f"weight l0.n1.w0 (x0 → l0.n1) = {w.data!r}\ngrad {w.grad!r}".replace(
        "-", "&#45;"
    ) in svg.replace("&#10;", "\n")


@needs_dot
def test_png_renders(tmp_path: Path) -> None:
    model, x = trained_example()
    path = draw_network(model, x, format="png").render(directory=tmp_path, filename="network")
    assert Path(path).read_bytes().startswith(b"\x89PNG")


def test_without_dot_building_works_and_rendering_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere
    assert shutil.which("dot") is None
    model, x = trained_example()
    g = draw_network(model, x)
    assert len(Drawing(g).edges) == 23
    for render in (
        lambda: g.pipe(format="svg"),
        lambda: g.render(directory=tmp_path),
        g._repr_mimebundle_,
    ):
        with pytest.raises(GraphvizNotFoundError, match="sudo apt-get install graphviz") as info:
            render()
        assert isinstance(info.value.__cause__, graphviz.ExecutableNotFound)
