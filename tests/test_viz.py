"""Tests for autograd.viz: what draw_dot puts in the DOT source, and what Graphviz makes of it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import graphviz
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd import custom_op, ops
from autograd.engine import Value, topological_order
from autograd.viz import GraphvizNotFoundError, draw_dot, largest_gradient_path, node_names

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz 'dot' not installed (sudo apt-get install graphviz); `make test` installs it",
)
_ID = r'"((?:[^"\\]|\\.)*)"'
_EDGE = re.compile(rf"\t{_ID} -> {_ID}(?: \[(.*)\])?\n")
_NODE = re.compile(rf"\t{_ID} \[(.*)\]\n")


def parse(g: graphviz.Digraph) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The drawing's nodes (id -> attribute text) and edges (tail, head, attribute text)."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in g.body:
        if edge := _EDGE.fullmatch(line):
            edges.append((edge[1], edge[2], edge[3] or ""))
        else:
            node = _NODE.fullmatch(line)
            assert node is not None, f"unexpected DOT line {line!r}"
            assert node[1] not in nodes, f"node id {node[1]} defined twice"
            nodes[node[1]] = node[2]
    return nodes, edges


def reachable(roots: list[Value]) -> list[Value]:
    """Every Value behind the roots, found without the code under test."""
    seen: dict[Value, None] = dict.fromkeys(roots)
    stack = list(roots)
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen[child] = None
                stack.append(child)
    return list(seen)


def expected_counts(roots: list[Value]) -> tuple[int, int]:
    """(nodes, edges) of a full drawing: a node per Value and per op, operand and result edges."""
    values = reachable(roots)
    ops = sum(1 for v in values if v._op)
    return len(values) + ops, sum(len(v._prev) for v in values) + ops


def neuron() -> tuple[Value, list[Value]]:
    """micrograd's worked example: o = tanh(x1*w1 + x2*w2 + b), after backward."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    n = x1w1 + x2w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o, [x1, x2, w1, w2, b]


def test_source_shows_every_label_value_grad_and_op() -> None:
    o, _ = neuron()
    source = draw_dot(o).source
    names = node_names(topological_order(o))
    assert len(names) == 10
    for v, name in names.items():
        assert f"{{ {name} | data {v.data:.4g} | grad {v.grad:.4g} }}" in source
    for op in ("*", "+", "tanh"):
        assert f'[label="{op}" shape=ellipse' in source
    assert "grad 0.5" in source  # do/dn = 1 - tanh(n)^2 = 0.5 in micrograd's example
    assert "grad -1.5" in source  # do/dx1 = w1 * 0.5


def test_one_node_per_value_and_per_op_and_edges_through_the_ops() -> None:
    x = Value(3.0, label="x")
    y = x * x  # the same operand twice: two edges
    z = (y * 2 + x).tanh() * x  # a constant operand is written into its op's label
    nodes, edges = parse(draw_dot(z))
    assert (len(nodes), len(edges)) == expected_counts([z]) == (11, 13)
    assert '[label="* 2" shape=ellipse' in draw_dot(z).source
    assert edges.count(("x", "v1/op", "")) == 2
    assert ("v1/op", "v1", "") in edges


def test_show_grad_false_leaves_the_grad_out() -> None:
    o, _ = neuron()
    assert "grad" in draw_dot(o).source
    assert "grad" not in draw_dot(o, show_grad=False).source


def test_gradient_that_is_a_value_shows_its_data() -> None:
    x = Value(1.5, label="x")
    y = x * x
    x.grad = Value(1 / 3)  # what backward(create_graph=True) leaves behind
    y.grad = 2 / 3
    source = draw_dot(y).source
    assert "{ x | data 1.5 | grad 0.3333 }" in source  # 4 significant digits
    assert "{ v1 | data 2.25 | grad 0.6667 }" in source


def test_leaves_root_and_highlight_are_styled_apart() -> None:
    o, leaves = neuron()
    nodes, edges = parse(draw_dot(o, highlight=[o, o._prev[0]]))
    blue, amber, red = "#dbeafe", "#fde68a", "#dc2626"
    for leaf in leaves:
        assert blue in nodes[leaf.label] and red not in nodes[leaf.label]
    assert amber in nodes["o"] and "peripheries=2" in nodes["o"] and red in nodes["o"]
    assert red in nodes["n"] and blue not in nodes["n"] and amber not in nodes["n"]
    assert not any(c in nodes["x1*w1"] for c in (blue, amber, red))  # plain intermediate
    assert red in nodes["o/op"] and red in nodes["n/op"]  # the op that made a red Value
    red_edges = {(tail, head) for tail, head, attrs in edges if red in attrs}
    assert red_edges == {("n", "o/op"), ("o/op", "o"), ("n/op", "n")}


def test_largest_gradient_path_follows_the_biggest_gradient_to_a_leaf() -> None:
    o, (x1, *_) = neuron()
    path = largest_gradient_path(o)
    # Ties (every addend of n has grad 0.5) go to the first operand; then |1.5| for x1 beats
    # |1.0| for w1.
    assert [v.label for v in path] == ["o", "n", "", "x1*w1", "x1"]
    assert path[0] is o and path[-1] is x1 and not path[-1]._prev


def test_two_drawings_are_identical_and_use_the_tape_names() -> None:
    o, _ = neuron()
    u = o * o + 1  # unlabelled Values get the tape's v<i> names
    first, second = draw_dot(u), draw_dot(u)
    assert first.source == second.source
    nodes, _ = parse(first)
    names = node_names(topological_order(u))
    assert {name for name in names.values()} <= set(nodes)
    assert "v10" in nodes and "v11" in nodes


def test_values_sharing_a_label_get_distinct_ids() -> None:
    a, b = Value(1.0, label="w"), Value(2.0, label="w")
    c = a * b
    nodes, edges = parse(draw_dot(c))
    names = node_names(topological_order(c))
    assert len(nodes) == 4 and names[a] != names[b]
    assert {tail for tail, head, _ in edges if head == f"{names[c]}/op"} == {names[a], names[b]}


def test_labels_that_look_like_generated_ids_do_not_clash() -> None:
    a, b = Value(1.0, label="more"), Value(2.0, label="y/op")
    y = a * b
    y.label = "y"
    z = y.tanh()
    nodes, edges = parse(draw_dot(z))
    assert (len(nodes), len(edges)) == expected_counts([z]) == (6, 5)
    assert nodes["y/op"].startswith('label="{ y/op |')  # the Value keeps its name
    nodes, edges = parse(draw_dot(z, max_nodes=3))  # z, y and a: b is hidden
    (summary,) = [node for node, attrs in nodes.items() if "more node" in attrs]
    assert summary != "more" and nodes[summary].startswith('label="… 1 more node"')
    assert nodes["more"].startswith('label="{ more |')


def test_a_micrograd_style_graph_built_by_hand_draws() -> None:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = Value(a.data * b.data, (a, b), "*", label="c")
    d = Value(c.data**2, (c,), "**2", label="d")
    e = Value(max(d.data, 0.0), (d,), "relu", label="e")
    e.grad, d.grad = 1.0, 1.0
    nodes, edges = parse(draw_dot(e))
    assert (len(nodes), len(edges)) == expected_counts([e]) == (8, 7)
    assert nodes["d/op"].startswith('label="**2"') and nodes["e/op"].startswith('label="relu"')
    assert "{ c | data -6 | grad 0 }" in nodes["c"]


def test_several_roots_draw_one_graph() -> None:
    x, w = Value(0.5, label="x"), Value(2.0, label="w")
    outs = [(x * w).tanh(), x * w * 3, x + 1]
    nodes, edges = parse(draw_dot(outs))
    assert (len(nodes), len(edges)) == expected_counts(outs)
    marked = [node for node, attrs in nodes.items() if "peripheries=2" in attrs]
    assert len(marked) == 3
    # The first root's part of the drawing is named exactly as format_tape(outs[0]) names it.
    first = node_names(topological_order(outs[0]))
    assert set(first.values()) <= set(nodes) and first[outs[0]] in marked


def test_drawing_after_create_graph_shows_the_gradients_data() -> None:
    x = Value(1.5, label="x")
    y = (x * x).tanh()
    y.backward(create_graph=True)
    assert isinstance(x.grad, Value)
    assert f"{{ x | data 1.5 | grad {x.grad.data:.4g} }}" in draw_dot(y).source
    nodes, edges = parse(draw_dot(x.grad, max_nodes=None))  # the gradient's own graph
    assert (len(nodes), len(edges)) == expected_counts([x.grad])


def test_a_layer_of_neurons_with_n_ary_and_custom_ops_draws() -> None:
    @custom_op
    def softsign(x: float) -> float:
        return x / (1 + abs(x))

    @softsign.defvjp
    def softsign_vjp(g: Any, ans: Any, x: Any) -> Any:
        return g / (1 + abs(x)) ** 2

    xs = [Value(1.0, label="x0"), Value(-2.0, label="x1")]
    ws = [[Value(0.5), Value(-0.25)], [Value(0.1), Value(0.2)]]
    outs = [softsign(ops.dot(w, xs).relu()) for w in ws]  # a layer's outputs for one example
    loss = ops.sum(outs)
    loss.backward()
    nodes, edges = parse(draw_dot(outs))
    assert (len(nodes), len(edges)) == expected_counts(outs) == (18, 18)
    ops_drawn = sorted(attrs.split('"')[1] for attrs in nodes.values() if "ellipse" in attrs)
    assert sorted(ops_drawn) == sorted(["Σ w·x (2 terms)"] * 2 + ["relu"] * 2 + ["softsign"] * 2)
    assert 'label="Σ (2 terms)"' in draw_dot(loss).source


def test_record_fields_lie_across_in_every_direction() -> None:
    x = Value(1.0, label="x")
    assert '"{ x | data 1 | grad 0 }"' in draw_dot(x, rankdir="LR").source
    tb = draw_dot(x, rankdir="TB")
    assert '"x | data 1 | grad 0"' in tb.source and "rankdir=TB" in tb.source


def test_bad_arguments_are_reported() -> None:
    x = Value(1.0)
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(x, rankdir="XY")
    with pytest.raises(ValueError, match="max_nodes"):
        draw_dot(x, max_nodes=0)
    with pytest.raises(ValueError, match="at least one Value"):
        draw_dot([])
    with pytest.raises(TypeError, match="float"):
        draw_dot(1.0)  # type: ignore[arg-type]


def binary_tree(depth: int) -> Value:
    """A sum over a complete binary tree: 2**(depth+1) - 1 distinct Values."""
    level = [Value(float(i)) for i in range(2**depth)]
    while len(level) > 1:
        level = [level[i] + level[i + 1] for i in range(0, len(level), 2)]
    return level[0]


def test_summary_keeps_the_levels_nearest_the_root_and_counts_the_rest() -> None:
    root = binary_tree(5)  # 63 Values
    nodes, edges = parse(draw_dot(root, max_nodes=7))  # the top three levels
    values = [node for node, attrs in nodes.items() if attrs.startswith('label="{')]
    assert len(values) == 7 and "v62" in values
    assert nodes["more"] == 'label="… 56 more nodes" shape=box style=dashed'
    dashed = [head for tail, head, attrs in edges if tail == "more"]
    assert len(dashed) == 4 and all(
        attrs == "style=dashed" for tail, _, attrs in edges if tail == "more"
    )
    assert "more" not in parse(draw_dot(root, max_nodes=63))[0]
    assert "more" not in parse(draw_dot(root, max_nodes=None))[0]


def test_a_40000_node_graph_is_summarised_by_default() -> None:
    root = Value(0.0, label="x")
    for _ in range(40_000):
        root = root + 1
    root.label = "y"
    nodes, edges = parse(draw_dot(root))
    assert "y" in nodes and "x" not in nodes
    assert nodes["more"].startswith('label="… 39701 more nodes"')  # 40,001 Values, 300 drawn
    assert [head for tail, head, _ in edges if tail == "more"] == ["v39701/op"]


@given(
    st.lists(
        st.tuples(st.sampled_from("+*t"), st.integers(0, 99), st.integers(0, 99)), max_size=40
    ),
    st.integers(1, 60),
)
def test_random_graphs_count_and_summarise_exactly(
    steps: list[tuple[str, int, int]], limit: int
) -> None:
    values = [Value(0.5, label="a"), Value(-1.5), Value(2.0, label="b")]
    for op, i, j in steps:  # each new Value uses a recent one, so the graph is deep and shared
        x, y = values[-1 - i % 3], values[j % len(values)]
        values.append(x + y if op == "+" else x * y if op == "*" else x.tanh())
    root = values[-1]
    full = draw_dot(root, max_nodes=None)
    nodes, edges = parse(full)
    assert (len(nodes), len(edges)) == expected_counts([root])
    assert draw_dot(root, max_nodes=None).source == full.source

    nodes, edges = parse(draw_dot(root, max_nodes=limit))
    value_of = {name: v for v, name in node_names(topological_order(root)).items()}
    kept = {value_of[node] for node, attrs in nodes.items() if attrs.startswith('label="{')}
    hidden = set(reachable([root])) - kept
    assert root in kept and len(kept) == min(limit, len(kept) + len(hidden))
    assert ("more" in nodes) == bool(hidden)
    if hidden:
        summary = re.match(r'label="… (\d+) more nodes?"', nodes["more"])
        assert summary is not None and int(summary[1]) == len(hidden)
        cut = [v for v in kept if any(child in hidden for child in v._prev)]
        assert len([tail for tail, _, _ in edges if tail == "more"]) == len(cut) > 0
        # Breadth first: no hidden Value is nearer the root than a kept one.
        depth, queue = {root: 0}, deque([root])
        while queue:
            v = queue.popleft()
            for child in v._prev:
                if child not in depth:
                    depth[child] = depth[v] + 1
                    queue.append(child)
        assert max(depth[v] for v in kept) <= min(depth[v] for v in hidden)


@needs_dot
def test_svg_rendering_draws_every_node_and_edge() -> None:
    o, _ = neuron()
    g = draw_dot(o)
    svg = g.pipe(format="svg").decode()
    assert svg.startswith("<?xml") and "<svg" in svg
    assert (svg.count('class="node"'), svg.count('class="edge"')) == expected_counts([o])
    assert ">grad 0.5<" in svg and ">tanh<" in svg
    assert g._repr_mimebundle_()["image/svg+xml"].lstrip().startswith("<?xml")


@needs_dot
def test_labels_with_dot_syntax_characters_render_verbatim() -> None:
    a = Value(1.0, label='a|b{c}<d>"e"\\')
    b = Value(2.0, label="w")
    svg = draw_dot(a * b, highlight=[a]).pipe(format="svg", encoding="utf-8")
    assert ">a|b{c}&lt;d&gt;&quot;e&quot;\\<" in svg
    assert svg.count('class="node"') == 4


@needs_dot
def test_render_writes_a_file(tmp_path: Path) -> None:
    x = Value(2.0, label="x")
    out = draw_dot(x * x, format="png").render(directory=tmp_path, filename="graph")
    assert Path(out) == tmp_path / "graph.png"
    assert Path(out).read_bytes().startswith(b"\x89PNG")


def test_without_dot_building_works_and_rendering_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere
    assert shutil.which("dot") is None
    o, _ = neuron()
    g = draw_dot(o)
    assert "tanh" in g.source
    for render in (
        lambda: g.pipe(format="svg"),
        lambda: g.render(directory=tmp_path),
        g._repr_mimebundle_,
        lambda: g.copy().view(directory=tmp_path),
    ):
        with pytest.raises(GraphvizNotFoundError) as info:
            render()
        message = str(info.value)
        for hint in (
            "sudo apt-get install graphviz",
            "brew install graphviz",
            "conda install graphviz",
        ):
            assert hint in message
        assert isinstance(info.value.__cause__, graphviz.ExecutableNotFound)
        assert isinstance(info.value, RuntimeError)


def test_importing_autograd_does_not_import_graphviz() -> None:
    code = "import sys, autograd, autograd.viz; print('graphviz' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_repr_is_stable_text_without_an_address() -> None:
    x = Value(1.0)
    g = draw_dot((x * 2).tanh())
    assert repr(g) == repr(draw_dot((x * 2).tanh()))
    assert "0x" not in repr(g)


def test_constant_operands_are_written_where_they_go_in_the_op_label() -> None:
    x = Value(3.0, label="x")
    cases = {
        x**2: "** 2",
        1.0 - x: "1 -",
        x / 4.0: "/ 4",
        ops.leaky_relu(x, 0.1): "leaky_relu(·, 0.1)",
        x * x: "*",  # only Values: the plain op
    }
    for out, label in cases.items():
        assert f'[label="{label}" shape=ellipse' in draw_dot(out).source, label


def op_label_of(out: Value) -> str:
    """The text of the op node that produced `out`, read from draw_dot's source."""
    nodes, _ = parse(draw_dot(out, max_nodes=None))
    (label,) = [a.split('"')[1] for a in nodes.values() if "ellipse" in a]
    return label


@given(n=st.integers(1, 40), data=st.lists(st.floats(-3, 3), min_size=81, max_size=81))
def test_n_ary_ops_say_what_they_add_up(n: int, data: list[float]) -> None:
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(data[:n])]
    ws = [Value(v, label=f"w{i}") for i, v in enumerate(data[n : 2 * n])]
    b = Value(data[80], label="b")
    terms = f"{n} term{'s' if n > 1 else ''}"
    # a neuron: w . x + b is recorded as dot([*w, b], [*x, 1])
    assert op_label_of(ops.dot([*ws, b], [*xs, 1.0])) == f"Σ w·x ({terms}) + b"
    assert op_label_of(ops.dot(ws, xs)) == f"Σ w·x ({terms})"
    assert op_label_of(ops.sum(xs)) == f"Σ ({terms})"
    assert op_label_of(ops.logsumexp(xs)) == f"logsumexp ({terms})"
    assert "·×" not in op_label_of(ops.dot([*ws, b], [*[v.data for v in xs], 1.0]))


def test_dot_and_sum_labels_write_few_constants_out_and_count_many() -> None:
    x = Value(3.0, label="x")
    cases = {
        ops.dot([x, x, x], [0.5, -1.25, 1.0]): "0.5·x - 1.25·x + b",
        ops.dot([x] * 20, [2.0] * 20): "Σ c·x (20 terms)",
        ops.dot([0.5] * 16 + [-0.25], [x] * 16 + [1.0]): "Σ c·x (16 terms) - 0.25",
        ops.dot([x, 2.0], [x, 3.0]): "Σ w·x (1 term) + 6",
        ops.sum([x, x, 2.0]): "Σ (2 terms) + 2",
    }
    for out, label in cases.items():
        assert op_label_of(out) == label, label
