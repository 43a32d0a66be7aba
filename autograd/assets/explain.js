// The explain page: steps through the forward and backward pass that Python recorded.
// It computes nothing: every number it shows is a string from the story (tg-story),
// written by autograd/explain.py from the engine's own results. One state (the step
// index), one render function that redraws everything from it.
(function () {
  "use strict";
  const T = JSON.parse(document.getElementById("tg-story").textContent);
  const F = T.forward.length;
  const B = T.backward.length;
  const TOTAL = F + B;
  const NAMES = T.forward.map((s) => s.node);
  const VALUE = new Map(T.nodes.filter((n) => n.kind === "value").map((n) => [n.name, n]));

  const boxes = new Map();
  document.querySelectorAll("[data-tg-node]").forEach((el) => {
    boxes.set(el.getAttribute("data-tg-node"), el);
  });
  const ops = new Map();
  document.querySelectorAll("[data-tg-op]").forEach((el) => {
    ops.set(el.getAttribute("data-tg-op"), el);
  });
  const edgeEls = Array.from(document.querySelectorAll("[data-tg-edge]"));
  const labelEls = Array.from(document.querySelectorAll("[data-tg-edge-label]"));
  const edgeOf = new Map(T.edges.map((e, k) => [e.node + "\u0000" + e.arg, k]));
  const panel = document.getElementById("tg-explain");
  const progress = document.getElementById("tg-progress");
  const playButton = document.getElementById("tg-play");

  let index = 0;
  let timer = null;

  function phase(i) {
    if (i === 0) return "start";
    if (i <= F) return "forward";
    if (i < TOTAL) return "backward";
    return "done";
  }

  // The gradient every Value holds after the first k backward steps (k >= 1).
  function gradsAfter(k) {
    const g = new Map();
    for (const name of NAMES) g.set(name, ["0.0", "0"]);
    const seed = T.backward[0];
    g.set(seed.node, [seed.seed, seed.seed_s]);
    for (let s = 1; s < k; s++) {
      for (const e of T.backward[s].edges) g.set(e.to, [e.after, e.after_s]);
    }
    return g;
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function setText(box, cls, text) {
    const t = box.querySelector(cls);
    if (t) t.textContent = text;
  }

  function render() {
    const p = phase(index);
    const reached = Math.min(index, F);
    const grads = index > F ? gradsAfter(index - F) : null;
    NAMES.forEach((name, k) => {
      const box = boxes.get(name);
      if (!box) return;
      box.classList.remove("tg-current", "tg-target", "tg-again");
      if (k < reached) {
        const step = T.forward[k];
        box.setAttribute("data-tg-data", step.data);
        setText(box, ".tg-data", "data " + step.data_s);
      } else {
        box.removeAttribute("data-tg-data");
        setText(box, ".tg-data", "data \u00b7");
      }
      if (grads) {
        const [exact, short] = grads.get(name);
        box.setAttribute("data-tg-grad", exact);
        setText(box, ".tg-grad", "grad " + short);
      } else {
        box.removeAttribute("data-tg-grad");
        setText(box, ".tg-grad", "grad \u00b7");
      }
    });
    ops.forEach((o) => o.classList.remove("tg-current"));
    edgeEls.forEach((e) => e.classList.remove("tg-flow", "tg-upstream"));
    labelEls.forEach((l) => (l.textContent = ""));
    panel.replaceChildren();

    if (p === "start") {
      panel.append(el("p", "Press step (or the right arrow) to run the forward pass: " +
        "each Value gets its data, inputs first, in the order tapegrad computed them."));
    } else if (p === "forward") {
      const step = T.forward[index - 1];
      const box = boxes.get(step.node);
      if (box) box.classList.add("tg-current");
      const op = ops.get(step.node);
      if (op) op.classList.add("tg-current");
      const k = edgeOf.get(step.node + "\u0000-1");
      if (k !== undefined) edgeEls[k].classList.add("tg-upstream");
      panel.append(el("h2", "Forward pass, step " + index + " of " + F));
      const line = step.expr === "input"
        ? step.node + " is an input: data = " + step.data
        : step.node + " = " + step.expr + " = " + step.data;
      panel.append(el("p", line, "tg-formula"));
    } else {
      const s = T.backward[index - F - 1];
      renderBackward(s, index - F - 1);
    }
    if (p === "done") renderDone();
    progress.textContent = "step " + index + " / " + TOTAL + " \u00b7 " + p;
  }

  function renderBackward(s, k) {
    const box = boxes.get(s.node);
    if (box) box.classList.add("tg-current");
    panel.append(el("h2", "Backward pass, step " + (k + 1) + " of " + B));
    if (k === 0) {
      panel.append(el("p", "Backpropagation starts at the output: d" + s.node + "/d" +
        s.node + " = " + s.seed + ". Every other gradient starts at 0.", "tg-formula"));
      return;
    }
    const op = ops.get(s.node);
    if (op) op.classList.add("tg-current");
    const up = edgeOf.get(s.node + "\u0000-1");
    if (up !== undefined) edgeEls[up].classList.add("tg-upstream");
    panel.append(el("p", "The rule of '" + s.op + "' runs at " + s.node +
      ": upstream gradient d" + T.root + "/d" + s.node + " = " + s.upstream + "."));
    const list = el("ul");
    for (const e of s.edges) {
      const kk = edgeOf.get(s.node + "\u0000" + e.arg);
      if (kk !== undefined) {
        edgeEls[kk].classList.add("tg-flow");
        labelEls[kk].textContent = e.local_s + " \u00d7 " + s.upstream_s + " = " + e.contrib_s;
      }
      const target = boxes.get(e.to);
      if (target) target.classList.add(e.again ? "tg-again" : "tg-target");
      const item = el("li");
      item.append(el("span", "local d" + s.node + "/d" + e.to + " = " + e.local +
        "; local \u00d7 upstream = " + e.local + " \u00d7 " + s.upstream + " = " + e.contrib,
        "tg-formula"));
      item.append(el("br"));
      const acc = e.to + ".grad += " + e.contrib + "   (" + e.before + " \u2192 " + e.after + ")";
      item.append(el("span", acc, e.again ? "tg-formula tg-again-text" : "tg-formula"));
      if (e.again) {
        item.append(el("span", "  " + e.to + " is used more than once: this is its next " +
          "contribution, added to what it already holds.", "tg-note"));
      }
      list.append(item);
    }
    panel.append(list);
    if (s.hidden) {
      panel.append(el("p", "(" + s.hidden + " more contribution(s) go to Values not drawn.)"));
    }
  }

  function renderDone() {
    panel.append(el("h2", "Done"));
    panel.append(el("p", "Every Value now holds d" + T.root + "/dx, the gradient of the " +
      "output with respect to it; for the inputs and parameters this is what " +
      "gradient descent uses."));
    if (T.updates.length) {
      const table = el("table");
      const head = el("tr");
      for (const h of ["W", "W_old", "dL/dW", "W_new = W_old \u2212 " + T.lr + " \u00d7 dL/dW"]) {
        head.append(el("th", h));
      }
      table.append(head);
      for (const u of T.updates) {
        const row = el("tr");
        for (const c of [u.node, u.old, u.grad, u.new]) row.append(el("td", c));
        table.append(row);
      }
      panel.append(table);
    }
  }

  function go(i) {
    index = Math.max(0, Math.min(TOTAL, i));
    render();
  }
  function pause() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    playButton.textContent = "\u25b6 play";
  }
  function play() {
    if (timer !== null) return;
    if (index >= TOTAL) go(0);
    playButton.textContent = "\u275a\u275a pause";
    timer = setInterval(() => {
      if (index >= TOTAL) pause();
      else go(index + 1);
    }, 700);
  }

  const api = {
    total: () => TOTAL,
    step: () => go(index + 1),
    back: () => go(index - 1),
    reset: () => { pause(); go(0); },
    end: () => go(TOTAL),
    play: play,
    pause: pause,
    state: () => ({ phase: phase(index), index: index, total: TOTAL }),
  };
  window.tapegrad = api;

  document.getElementById("tg-step").addEventListener("click", () => { pause(); api.step(); });
  document.getElementById("tg-back").addEventListener("click", () => { pause(); api.back(); });
  document.getElementById("tg-reset").addEventListener("click", api.reset);
  document.getElementById("tg-end").addEventListener("click", () => { pause(); api.end(); });
  playButton.addEventListener("click", () => (timer === null ? play() : pause()));
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowRight") { pause(); api.step(); }
    else if (ev.key === "ArrowLeft") { pause(); api.back(); }
    else if (ev.key === "Home") api.reset();
    else if (ev.key === "End") { pause(); api.end(); }
    else if (ev.key === " ") { timer === null ? play() : pause(); }
    else return;
    ev.preventDefault();
  });
  render();
})();
