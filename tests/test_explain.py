"""explain(): the recorded story matches the engine, and the page replays it in a real browser."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import headless
import pytest

from autograd import Explanation, Value, explain, ops
from autograd.engine import topological_order
from autograd.viz import node_names


def _neuron() -> Value:
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    o = (n * n + n).tanh()  # n is used twice: its gradient arrives in two parts
    o.label = "o"
    return o


def _engine_grads(root: Value) -> dict[str, float]:
    order = topological_order(root)
    names = node_names(order)
    for v in order:
        v.grad = 0.0
    root.backward()
    return {names[v]: v.grad for v in order}


# --- the trace, in Python ----------------------------------------------------------------


def test_the_trace_adds_up_to_the_engines_gradients_and_leaves_grad_alone() -> None:
    o = _neuron()
    order = topological_order(o)
    for k, v in enumerate(order):
        v.grad = 0.25 * k  # whatever a user had there
    page = explain(o)
    assert [v.grad for v in order] == [0.25 * k for k in range(len(order))]
    expected = _engine_grads(o)
    nodes = {n["name"]: n for n in page.story["nodes"] if n["kind"] == "value"}
    assert {k: float(n["grad"]) for k, n in nodes.items()} == expected
    assert page.total == len(order) + 1 + sum(v._maker is not None for v in order)
    assert [s["node"] for s in page.story["forward"]] == list(node_names(order).values())


def test_each_contribution_is_the_rules_local_derivative_times_upstream() -> None:
    x = Value(0.7, label="x")
    y = x.sin() * x  # d/dx = cos(x) x + sin(x), in two contributions
    page = explain(y)
    steps = {s["node"]: s for s in page.story["backward"][1:]}
    mul = steps[y.label or "v2"]
    assert [e["to"] for e in mul["edges"]] == ["v1", "x"]
    assert float(mul["edges"][1]["local"]) == math.sin(0.7)
    sin_step = steps["v1"]
    (edge,) = sin_step["edges"]
    assert float(edge["local"]) == math.cos(0.7)
    assert float(edge["contrib"]) == 0.7 * math.cos(0.7)
    assert edge["again"] and float(edge["before"]) == math.sin(0.7)
    assert float(edge["after"]) == math.sin(0.7) + 0.7 * math.cos(0.7)


def test_a_big_graph_is_summarised_but_its_gradients_stay_exact() -> None:
    xs = [Value(0.01 * k, label=f"x{k}") for k in range(200)]
    y = ops.sum([x * x for x in xs]).tanh()
    page = explain(y, max_nodes=30)
    values = [n for n in page.story["nodes"] if n["kind"] == "value"]
    assert len(values) == 30
    assert any(n["kind"] == "more" for n in page.story["nodes"])
    expected = _engine_grads(y)
    assert all(float(n["grad"]) == expected[n["name"]] for n in values)


def test_updates_show_the_gradient_descent_step_with_its_numbers() -> None:
    w = Value(0.5, label="w")
    page = explain((w * 3.0 - 1.0) ** 2, lr=0.1)
    (u,) = page.story["updates"]
    assert u["node"] == "w" and float(u["grad"]) == 2 * (1.5 - 1.0) * 3.0
    assert float(u["new"]) == 0.5 - 0.1 * float(u["grad"])


@pytest.mark.parametrize(
    ("root", "kwargs", "error"),
    [
        (1.0, {}, TypeError),
        (Value(1.0), {"max_nodes": 0}, ValueError),
        (Value(1.0), {"max_nodes": True}, ValueError),
        (Value(1.0), {"lr": math.nan}, ValueError),
    ],
)
def test_bad_arguments(root: Any, kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        explain(root, **kwargs)


def test_a_hand_written_rule_is_refused_by_name() -> None:
    a = Value(1.0)
    out = Value(2.0, (a,), "double")
    out._backward = lambda: None
    with pytest.raises(TypeError, match="'double'"):
        explain(out * 2.0)


def test_the_page_is_self_contained_and_the_static_picture_has_the_final_numbers(
    tmp_path: Path,
) -> None:
    o = _neuron()
    page = explain(o)
    text = page.html()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script>" in text and "window.tapegrad" in text
    assert text.count("data-tg-node=") == len(topological_order(o))
    inline = page._repr_html_()
    assert "<iframe srcdoc=" in inline and "data-tg-node=" in inline
    assert "tapegrad.state" not in inline.split("<iframe")[0]  # the static part has no script
    path = tmp_path / "explain.html"
    page.save(path)
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["explain.html"]


def test_without_dot_a_layered_layout_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    page = explain(_neuron())
    assert all(n["x"] > 0 and n["y"] > 0 for n in page.story["nodes"])
    assert len(page.story["edges"]) > 0


# --- the page, in headless Chromium ------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # The network is off: any request that is not to a file would fail to resolve.
    driver = headless.start(window="1300,900", resolver="MAP * ~NOTFOUND")
    yield driver
    driver.quit()


def _open(browser: Any, page: Explanation, tmp_path: Path) -> None:
    path = tmp_path / "explain.html"
    page.save(path)
    browser.get(path.as_uri())
    browser.get_log("browser")  # start from an empty console


def _attrs(browser: Any) -> dict[str, tuple[str | None, str | None]]:
    got: dict[str, tuple[str | None, str | None]] = browser.execute_script(
        "const r = {}; document.querySelectorAll('[data-tg-node]').forEach(e => {"
        "r[e.getAttribute('data-tg-node')] = [e.getAttribute('data-tg-data'),"
        " e.getAttribute('data-tg-grad')]}); return r;"
    )
    return {k: (v[0], v[1]) for k, v in got.items()}


def test_stepping_through_the_page_shows_the_engines_floats_exactly(
    browser: Any, tmp_path: Path
) -> None:
    o = _neuron()
    order = topological_order(o)
    names = node_names(order)
    data = {names[v]: v.data for v in order}
    square = next(v for v in order if v._op == "*" and v._prev[0] is v._prev[1])
    twice = names[square._prev[0]]  # n, used twice (n * n + n)
    page = explain(o)
    grads = _engine_grads(o)
    _open(browser, page, tmp_path)
    api = "return window.tapegrad."
    total = browser.execute_script(api + "total()")
    assert total == page.total
    assert browser.execute_script(api + "state()") == {"phase": "start", "index": 0, "total": total}
    assert all(d is None and g is None for d, g in _attrs(browser).values())

    seen_n: list[float] = []
    history = []
    for i in range(1, total + 1):
        browser.execute_script("window.tapegrad.step()")
        state = browser.execute_script(api + "state()")
        assert state["index"] == i
        shown = _attrs(browser)
        history.append(shown)
        reached = [names[v] for v in order][: min(i, len(order))]
        for name, (d, g) in shown.items():
            if name in reached:
                assert d is not None and float(d) == data[name]
            else:
                assert d is None
            if i > len(order):
                assert g is not None
        if i > len(order):
            seen_n.append(float(shown[twice][1]))
    assert state["phase"] == "done"
    final = _attrs(browser)
    assert {k: float(g) for k, (_, g) in final.items()} == grads
    parts = sorted(set(seen_n) - {0.0}, key=seen_n.index)
    assert len(parts) == 2 and parts[-1] == grads[twice]  # its gradient arrived in two parts

    browser.execute_script("window.tapegrad.back()")
    assert browser.execute_script(api + "state()")["index"] == total - 1
    assert _attrs(browser) == history[-2]
    browser.execute_script("window.tapegrad.reset()")
    assert browser.execute_script(api + "state()")["phase"] == "start"
    assert all(d is None and g is None for d, g in _attrs(browser).values())
    browser.execute_script("window.tapegrad.end()")
    assert _attrs(browser) == final
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(not r.startswith("http") for r in resources)


def test_buttons_and_arrow_keys_drive_the_story(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, explain(_neuron()), tmp_path)
    state = "return window.tapegrad.state()"
    browser.find_element(By.ID, "tg-step").click()
    browser.find_element(By.ID, "tg-step").click()
    assert browser.execute_script(state)["index"] == 2
    browser.find_element(By.ID, "tg-back").click()
    assert browser.execute_script(state)["index"] == 1
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert browser.execute_script(state)["index"] == 3
    body.send_keys(Keys.ARROW_LEFT)
    assert browser.execute_script(state)["index"] == 2
    browser.find_element(By.ID, "tg-end").click()
    assert browser.execute_script(state)["phase"] == "done"
    browser.find_element(By.ID, "tg-reset").click()
    assert browser.execute_script(state)["index"] == 0
    text = browser.find_element(By.ID, "tg-explain").text
    assert "forward pass" in text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_the_trace_in_the_page_is_the_explanations(browser: Any, tmp_path: Path) -> None:
    page = explain(_neuron(), lr=0.05)
    _open(browser, page, tmp_path)
    embedded = browser.execute_script(
        "return JSON.parse(document.getElementById('tg-story').textContent)"
    )
    assert embedded == json.loads(json.dumps(page.story))
    browser.execute_script("window.tapegrad.end()")
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#tg-explain td')).map(e => e.textContent)"
    )
    assert rows[:4] == [page.story["updates"][0][k] for k in ("node", "old", "grad", "new")]


def test_the_executed_notebook_shows_the_page_inline() -> None:
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "02_computation_graph.ipynb"
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    pages = [
        "".join(out["data"]["text/html"])
        for cell in cells
        if cell["cell_type"] == "code" and "explain(" in "".join(cell["source"])
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    assert pages, "notebook 02 has no explain output"
    for html_text in pages:
        assert "<iframe srcdoc=" in html_text and "window.tapegrad" in html_text
        assert "data-tg-node=" in html_text.split("<iframe")[0]  # the static picture too
