"""Watching backprop happen: `autograd.explain(root)` records a graph's forward and backward pass.

The engine does all the arithmetic. This module walks the graph in the
engine's own order (`topological_order`), asks the engine's own rules for each
node's local derivatives and its contributions `local * upstream`, adds them
up exactly as the backward loop does, and checks the totals against a real
backward pass. The page (`Explanation.html()`) only displays those numbers:
it is one self-contained HTML file, with the graph laid out by Graphviz here
in Python (or by a simple layered layout when `dot` is missing), its script
and styles inline, and no request to any network.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
import subprocess
from importlib import resources
from typing import Any

from autograd.engine import ManualRule, Value, backprop, operands, topological_order
from autograd.opdef import Op
from autograd.viz import closest, node_names, op_label

__all__ = ["Explanation", "explain"]

# Sizes of the drawing, in points (1/72 inch), as Graphviz measures them.
_BOX_W, _BOX_H = 132.0, 54.0
_OP_D = 34.0


def _num(x: float) -> str:
    """A float as a decimal string that parses back to exactly the same float."""
    return repr(float(x))


def _short(x: float) -> str:
    """A float for reading at a glance (the exact digits are in the page's attributes)."""
    return f"{x:.4g}"


class Explanation:
    """The recorded forward and backward pass of one graph, shown as a stepping page.

    Made by :func:`explain`. In Jupyter it displays inline (the interactive page
    in a frame; where JavaScript does not run, a picture of the graph with its
    final data and grad). :meth:`html` returns the page and :meth:`save` writes
    it; the page's JavaScript API is `window.tapegrad` (see DESIGN.md).

    Attributes:
        story: Everything the page shows, as JSON-ready data: the nodes with
            their positions, the forward steps and the backward steps with
            every local derivative and contribution (numbers as exact strings).
    """

    def __init__(self, story: dict[str, Any]) -> None:
        self.story = story

    @property
    def total(self) -> int:
        """Number of steps: one per Value in the forward pass, then one per rule backward."""
        return len(self.story["forward"]) + len(self.story["backward"])

    def html(self) -> str:
        """The page: one self-contained HTML document (inline script and style, no network)."""
        assets = resources.files("autograd") / "assets"
        css = (assets / "explain.css").read_text(encoding="utf-8")
        js = (assets / "explain.js").read_text(encoding="utf-8")
        data = json.dumps(self.story, separators=(",", ":")).replace("</", "<\\/")
        title = html.escape(f"tapegrad: backprop through {self.story['root']}")
        return (
            "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            f"<title>{title}</title>\n"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
            f"<style>\n{css}</style>\n</head>\n<body>\n"
            f"{self._body()}\n"
            f"<script type='application/json' id='tg-story'>{data}</script>\n"
            f"<script>\n{js}</script>\n</body>\n</html>\n"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the page to `path` (replacing the file in one step: never half-written)."""
        target = os.fspath(path)
        tmp = f"{target}.tmp{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(self.html())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _repr_html_(self) -> str:
        # The static picture shows first; where scripts run, the frame's onload swaps in
        # the interactive page (a frame, so several explanations in a notebook stay apart).
        height = int(self.story["height"]) + 460  # header, controls and a two-edge story
        frame = html.escape(self.html(), quote=True)
        return (
            f"<div class='tg-static'>{self._svg()}</div>"
            f'<iframe srcdoc="{frame}" style=\'display:none;width:100%;height:{height}px;'
            "border:0' onload=\"this.style.display='block';"
            "this.previousElementSibling.style.display='none'\"></iframe>"
        )

    def _body(self) -> str:
        t = self.story
        return (
            "<header><h1>Backpropagation, step by step</h1>"
            f"<p>The graph of <code>{html.escape(t['root'])}</code> as tapegrad computed it: "
            "the forward pass gives every Value its data; the backward pass runs each op's "
            "rule from the output back, multiplying the local derivative by the gradient "
            "arriving from above (the chain rule) and adding it into each operand's grad."
            "</p></header>\n"
            "<nav id='tg-controls'>"
            "<button id='tg-reset' title='Reset (Home)'>&#x00AB; reset</button>"
            "<button id='tg-back' title='Back (Left arrow)'>&#x25C0; back</button>"
            "<button id='tg-play' title='Play / pause (Space)'>&#x25B6; play</button>"
            "<button id='tg-step' title='Step (Right arrow)'>step &#x25B6;</button>"
            "<button id='tg-end' title='Jump to the end (End)'>end &#x00BB;</button>"
            "<span id='tg-progress'></span></nav>\n"
            "<section id='tg-explain' aria-live='polite'>"
            "<p>This picture shows the final data and grad of every Value. "
            "Turn on JavaScript to step through the computation.</p></section>\n"
            f"<div id='tg-graph'>{self._svg()}</div>"
        )

    def _svg(self) -> str:
        """The graph with its final numbers: the static picture and the page's drawing."""
        t = self.story
        # A small graph shrinks to fit the window; a big one keeps its size and scrolls.
        fit = "style='max-width:100%;height:auto' " if t["width"] < 2000 else ""
        parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' class='tg-svg' "
            f"width='{t['width']:.0f}' height='{t['height']:.0f}' {fit}"
            f"viewBox='0 0 {t['width']:.1f} {t['height']:.1f}' font-family='monospace'>",
            "<defs><marker id='tg-arrow' viewBox='0 0 10 10' refX='10' refY='5' "
            "markerUnits='userSpaceOnUse' markerWidth='8' markerHeight='8' "
            "orient='auto-start-reverse'>"
            "<path d='M0,0 L10,5 L0,10 z' fill='#888'/></marker></defs>",
        ]
        for k, e in enumerate(t["edges"]):
            parts.append(
                f"<path class='tg-edge' data-tg-edge='{k}' d='{e['path']}' fill='none' "
                "stroke='#999' stroke-width='1.2' marker-end='url(#tg-arrow)'/>"
            )
        for n in t["nodes"]:
            x, y = n["x"], n["y"]
            name = html.escape(n["name"])
            if n["kind"] == "op":
                parts.append(
                    f"<g class='tg-op' data-tg-op='{name}'><title>{html.escape(n['title'])}"
                    f"</title><circle cx='{x:.1f}' cy='{y:.1f}' r='{_OP_D / 2:.1f}'/>"
                    f"<text x='{x:.1f}' y='{y + 4:.1f}' text-anchor='middle'>"
                    f"{html.escape(n['text'])}</text></g>"
                )
            elif n["kind"] == "more":
                parts.append(
                    f"<g class='tg-more'><rect x='{x - _BOX_W / 2:.1f}' y='{y - 14:.1f}' "
                    f"width='{_BOX_W:.0f}' height='28' rx='4'/><text x='{x:.1f}' "
                    f"y='{y + 4:.1f}' text-anchor='middle'>{html.escape(n['text'])}</text></g>"
                )
            else:
                left, top = x - _BOX_W / 2, y - _BOX_H / 2
                role = " tg-root" if n["root"] else (" tg-leaf" if n["leaf"] else "")
                parts.append(
                    f"<g class='tg-value{role}' data-tg-node='{name}'><title>{name}</title>"
                    f"<rect x='{left:.1f}' y='{top:.1f}' width='{_BOX_W:.0f}' "
                    f"height='{_BOX_H:.0f}' rx='5'/>"
                    f"<text class='tg-name' x='{x:.1f}' y='{top + 15:.1f}' "
                    f"text-anchor='middle'>{name}</text>"
                    f"<text class='tg-data' x='{left + 8:.1f}' y='{top + 32:.1f}'>"
                    f"data {n['data_short']}</text>"
                    f"<text class='tg-grad' x='{left + 8:.1f}' y='{top + 47:.1f}'>"
                    f"grad {n['grad_short']}</text></g>"
                )
        for k, e in enumerate(t["edges"]):  # last, so they are drawn over the boxes
            x, y = e["mid"]
            parts.append(
                f"<text class='tg-edge-label' data-tg-edge-label='{k}' x='{x:.1f}' "
                f"y='{y:.1f}'></text>"
            )
        parts.append("</svg>")
        return "".join(parts)


def explain(root: Value, *, max_nodes: int = 300, lr: float | None = None) -> Explanation:
    """Record the forward and backward pass of `root`'s graph, to step through in a page.

    Every number comes from the engine: the data the forward pass computed,
    and for each op, the engine's own rule evaluated at the incoming gradient.
    The gradients are those of a fresh backward pass from `root` with seed 1
    (`dL/dx` for every Value x); the `.grad` fields of the graph are left as
    they were.

    Args:
        root: The output whose computation to explain (a loss, say).
        max_nodes: Show at most this many Values, those nearest the root; the
            rest are summarised in one box (their gradients are still exact).
        lr: A learning rate: the last step then shows each leaf's update
            `W_new = W_old - lr * dL/dW` with its numbers.

    Returns:
        An :class:`Explanation`: `.html()`, `.save(path)`, or display it in Jupyter.

    Example:
        >>> from autograd import Value, explain
        >>> x, w = Value(2.0, label="x"), Value(-0.5, label="w")
        >>> page = explain((x * w).tanh())
        >>> page.total  # 4 Values forward; the seed and 2 rules backward
        7
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain needs a Value, got {type(root).__name__}: {root!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a whole number >= 1, got {max_nodes!r}")
    if lr is not None and not (isinstance(lr, int | float) and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number, got {lr!r}")
    order = topological_order(root)
    names = node_names(order)
    for v in order:
        if isinstance(v._maker, ManualRule):
            raise TypeError(
                f"explain cannot show {names[v]} (op {v._op!r}): its rule was assigned by hand "
                "(micrograd style), so its local derivatives are unknown; use @custom_op"
            )
    shown = set(order) if len(order) <= max_nodes else closest([root], max_nodes)

    # The story of the backward pass is recorded from the engine's own pass: at each
    # node's step, the gradients its rule passes on, added as the engine adds them.
    backward: list[dict[str, Any]] = [
        {"node": names[root], "seed": _num(1.0), "seed_s": _short(1.0), "edges": [], "op": ""}
    ]
    received: dict[Value, int] = dict.fromkeys(order, 0)

    def observe(v: Value, contrib: list[Any]) -> None:
        op = v._maker
        assert isinstance(op, Op)
        upstream = v.grad
        xs = [a.data for a in v._operands]
        local = op.vjp(v, 1.0, v.data, xs, graph=False)
        step: dict[str, Any] = {
            "node": names[v],
            "op": v._op,
            "upstream": _num(upstream),
            "upstream_s": _short(upstream),
            "edges": [],
            "hidden": 0,
        }
        running: dict[Value, float] = {}  # an operand used twice takes its shares in turn
        for i, a in enumerate(v._operands):
            d = contrib[i]
            if d is None or not isinstance(a, Value):  # a constant operand
                continue
            before: float = running.get(a, a.grad)
            after = running[a] = before + d  # what the engine stores: the same float sum
            received[a] += 1
            if a not in shown:
                step["hidden"] += 1
                continue
            step["edges"].append(
                {
                    "to": names[a],
                    "arg": i,
                    "local": _num(local[i]),
                    "contrib": _num(d),
                    "before": _num(before),
                    "after": _num(after),
                    "local_s": _short(local[i]),
                    "contrib_s": _short(d),
                    "before_s": _short(before),
                    "after_s": _short(after),
                    "again": received[a] > 1,
                }
            )
        if v in shown or step["edges"]:  # a hidden op may still feed a drawn Value
            backward.append(step)

    final = backprop(root, 1.0, wrt=order, observe=observe)
    assert final is not None
    grads: dict[Value, float] = dict(zip(order, final))

    story = _layout(root, order, names, shown, grads)
    story["forward"] = [_forward_step(v, names) for v in order if v in shown]
    story["backward"] = backward
    story["root"] = names[root]
    story["updates"] = (
        [
            {
                "node": names[v],
                "old": _num(v.data),
                "grad": _num(grads[v]),
                "new": _num(v.data - lr * grads[v]),
                "old_s": _short(v.data),
                "grad_s": _short(grads[v]),
                "new_s": _short(v.data - lr * grads[v]),
            }
            for v in order
            if v in shown and v._maker is None and not v._prev
        ]
        if lr is not None
        else []
    )
    story["lr"] = None if lr is None else _num(lr)
    return Explanation(story)


def _forward_step(v: Value, names: dict[Value, str]) -> dict[str, Any]:
    if v._maker is None and not v._prev:
        expr = "input"
    else:
        args = operands(v)
        parts = [names[a] if isinstance(a, Value) else _num(a) for a in args]
        if len(parts) == 2 and v._op in ("+", "-", "*", "/", "**"):
            expr = f"{parts[0]} {v._op} {parts[1]}"
        else:
            expr = f"{v._op}({', '.join(parts)})"
    return {"node": names[v], "expr": expr, "data": _num(v.data), "data_s": _short(v.data)}


def _layout(
    root: Value,
    order: list[Value],
    names: dict[Value, str],
    shown: set[Value],
    grads: dict[Value, float],
) -> dict[str, Any]:
    """Positions for Value boxes, op circles and edges (Graphviz `dot` when installed)."""
    kept = [v for v in order if v in shown]
    hidden = len(order) - len(kept)
    ops = [v for v in kept if v._maker is not None]
    ids = {v: f"n{i}" for i, v in enumerate(kept)}
    # Graph edges: operand -> op circle (one per Value operand), op circle -> result box.
    edges: list[tuple[str, str, dict[str, Any]]] = []
    feeds_more = False
    for v in ops:
        args = operands(v)
        for i, a in enumerate(args):
            if isinstance(a, Value):
                if a in shown:
                    edges.append((ids[a], f"o{ids[v]}", {"node": names[v], "arg": i}))
                else:
                    feeds_more = True
        edges.append((f"o{ids[v]}", ids[v], {"node": names[v], "arg": -1}))
    if hidden and feeds_more:
        for v in ops:
            if any(isinstance(a, Value) and a not in shown for a in v._prev):
                edges.insert(0, ("more", f"o{ids[v]}", {"node": names[v], "arg": -2}))
    boxes = [(ids[v], "box") for v in kept] + [(f"o{ids[v]}", "op") for v in ops]
    if hidden:
        boxes.append(("more", "box"))
    pos, paths, width, height = _positions(boxes, [(a, b) for a, b, _ in edges])

    nodes: list[dict[str, Any]] = []
    for v in kept:
        x, y = pos[ids[v]]
        nodes.append(
            {
                "kind": "value",
                "name": names[v],
                "x": x,
                "y": y,
                "leaf": v._maker is None and not v._prev,
                "root": v is root,
                "data": _num(v.data),
                "grad": _num(grads[v]),
                "data_short": _short(v.data),
                "grad_short": _short(grads[v]),
            }
        )
    for v in ops:
        x, y = pos[f"o{ids[v]}"]
        nodes.append(
            {
                "kind": "op",
                "name": names[v],
                "x": x,
                "y": y,
                "text": op_label(v),
                "title": f"{v._maker.name if v._maker else v._op} -> {names[v]}",
            }
        )
    if hidden:
        x, y = pos["more"]
        nodes.append({"kind": "more", "name": "", "x": x, "y": y, "text": f"… {hidden} more"})
    edge_list = []
    for (_, _, meta), (path, mid) in zip(edges, paths):
        edge_list.append({**meta, "path": path, "mid": mid})
    return {"nodes": nodes, "edges": edge_list, "width": width, "height": height}


def _positions(
    boxes: list[tuple[str, str]], edges: list[tuple[str, str]]
) -> tuple[dict[str, tuple[float, float]], list[tuple[str, tuple[float, float]]], float, float]:
    """Node centres and edge paths in SVG points (y down), from dot or a layered fallback."""
    dot = shutil.which("dot")
    if dot is not None:
        try:
            return _dot_positions(dot, boxes, edges)
        except (OSError, subprocess.SubprocessError, ValueError, KeyError):
            pass  # a broken Graphviz: fall back to the simple layout below
    return _layered_positions(boxes, edges)


def _dot_positions(
    dot: str, boxes: list[tuple[str, str]], edges: list[tuple[str, str]]
) -> tuple[dict[str, tuple[float, float]], list[tuple[str, tuple[float, float]]], float, float]:
    lines = ["digraph G {", "rankdir=LR; nodesep=0.3; ranksep=1.1; pad=0.2;"]
    for name, kind in boxes:
        w, h = (_BOX_W, _BOX_H) if kind == "box" else (_OP_D, _OP_D)
        shape = "box" if kind == "box" else "circle"
        lines.append(
            f'"{name}" [shape={shape} fixedsize=true width={w / 72:.3f} height={h / 72:.3f} '
            'label=""];'
        )
    for a, b in edges:
        lines.append(f'"{a}" -> "{b}" [arrowhead=none];')
    lines.append("}")
    out = subprocess.run(
        [dot, "-Tjson0"], input="\n".join(lines), capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise ValueError(out.stderr)
    doc = json.loads(out.stdout)
    x0, y0, x1, y1 = (float(c) for c in doc["bb"].split(","))
    height = y1 - y0

    def flip(x: float, y: float) -> tuple[float, float]:
        return x - x0, height - (y - y0)

    objects = doc.get("objects", [])
    pos = {}
    for obj in objects:
        px, py = (float(c) for c in obj["pos"].split(","))
        pos[obj["name"]] = flip(px, py)
    # dot may list edges in another order: match them to ours by their two ends.
    drawn: dict[tuple[str, str], list[tuple[str, tuple[float, float]]]] = {}
    for e in doc.get("edges", []):
        pts = [flip(*(float(c) for c in p.split(",")[-2:])) for p in e["pos"].split()]
        d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
        for k in range(1, len(pts) - 2, 3):
            (ax, ay), (bx, by), (cx, cy) = pts[k : k + 3]
            d += f" C{ax:.1f},{ay:.1f} {bx:.1f},{by:.1f} {cx:.1f},{cy:.1f}"
        key = (objects[e["tail"]]["name"], objects[e["head"]]["name"])
        label_at = (pts[0][0] + 5, pts[0][1] - 6)  # just after the edge leaves its tail
        drawn.setdefault(key, []).append((d, label_at))
    paths = [drawn[key].pop(0) for key in edges]
    return pos, paths, x1 - x0, height


def _layered_positions(
    boxes: list[tuple[str, str]], edges: list[tuple[str, str]]
) -> tuple[dict[str, tuple[float, float]], list[tuple[str, tuple[float, float]]], float, float]:
    """Columns by longest path from the inputs; straight edges. Used when `dot` is missing."""
    rank = {name: 0 for name, _ in boxes}
    for _ in range(len(boxes)):  # edges come in topological order: few sweeps settle
        changed = False
        for a, b in edges:
            if rank[b] < rank[a] + 1:
                rank[b] = rank[a] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for name, _ in boxes:
        columns.setdefault(rank[name], []).append(name)
    pos = {}
    gap_x, gap_y = _BOX_W * 0.75, _BOX_H + 20
    for r, names in columns.items():
        for k, name in enumerate(names):
            pos[name] = (30 + _BOX_W / 2 + r * gap_x, 20 + _BOX_H / 2 + k * gap_y)
    paths = []
    for a, b in edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        paths.append((f"M{ax:.1f},{ay:.1f} L{bx:.1f},{by:.1f}", ((ax + bx) / 2, (ay + by) / 2)))
    width = max(x for x, _ in pos.values()) + _BOX_W / 2 + 30
    height = max(y for _, y in pos.values()) + _BOX_H / 2 + 20
    return pos, paths, width, height
