// The playground page: draws the frames the tapegrad server (nn/serve.py) sends, or the
// frames a replay (tapegrad train --html) embeds in #tg-replay. It computes nothing: every
// number shown is one the engine computed in Python. One state object (S), one render
// function per view, each drawing only what the current frame holds.

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const REPLAY_EL = document.getElementById("tg-replay");
const REPLAY = REPLAY_EL ? JSON.parse(REPLAY_EL.textContent) : null;
const POLL_MS = 100;
const POSITIVE = "#2563eb"; // as nn.draw_network: blue w > 0, red w < 0, grey otherwise
const NEGATIVE = "#dc2626";
const ZERO = "#9ca3af";
const MIN_WIDTH = 0.3;
const MAX_WIDTH = 5.0;
// Class colours: strong for points, light for the boundary cells.
const STRONG = ["#ea580c", "#2563eb", "#059669", "#9333ea", "#db2777", "#ca8a04", "#0891b2", "#4b5563"];
const LIGHT = [
  [253, 186, 116], [147, 197, 253], [110, 231, 183], [216, 180, 254],
  [249, 168, 212], [253, 224, 71], [103, 232, 249], [209, 213, 219],
];
const NO_STATE = { step: 0, loss: null, accuracy: null, lr: null, running: false, diverged: null, error: null };
const STORED = ["dataset", "samples", "noise", "classes", "seed", "hidden", "activation",
  "loss", "optimizer", "momentum", "lr", "batch_size"]; // the options kept in the URL

const S = {
  run: null, // the run id the server gave
  state: { ...NO_STATE },
  frame: null, // the latest frame
  points: null, // the training points (a frame may send null: unchanged)
  error: null, // the message of the last refused request, until one succeeds
  csv: null, // the text of the CSV uploaded last (not kept in the URL)
  example: null, // the example the user clicked (the explain view's)
  options: {}, // the options the user set, as sent (kept in the URL)
  sent: 0, // requests numbered in the order they were sent...
  applied: 0, // ...and the latest one whose reply is shown: older replies are dropped
  polling: false,
  queue: Promise.resolve(), // actions (configure, play, pause, step) run one after another
  drawn: null, // the frame the views show
  net: null, // the network SVG built for one shape: {key, edges, units}
  explained: "", // the explain view's current address
  busy: 0, // actions in flight: no poll is sent meanwhile, so none can overtake one
  hovered: null, // the edge or neuron under the mouse: {el, event}
  replayAt: 0,
  replayTimer: null,
};

// --- numbers -------------------------------------------------------------------------------

function finite(x) {
  return typeof x === "number" && Number.isFinite(x);
}

// A number for reading (4 significant digits); a dash for a missing or non-finite one.
function fmt(x, digits = 4) {
  if (!finite(x)) return "\u2014";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1).replace(/\.?0+e/, "e");
  return String(Number(x.toPrecision(digits)));
}

// The exact float as a string that parses back to the same double (shortest round trip,
// like Python's repr), for data attributes that tests compare with the engine's floats.
function exact(x) {
  return typeof x === "number" ? String(x) : "null";
}

function percent(x) {
  return finite(x) ? (100 * x).toFixed(1) + "%" : "\u2014";
}

function last(list) {
  return list && list.length ? list[list.length - 1] : null;
}

// --- talking to the server ------------------------------------------------------------------

async function request(method, path, body) {
  const seq = ++S.sent;
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const reply = await fetch(path, init);
    const data = await reply.json();
    return { seq, ok: reply.ok, status: reply.status, data };
  } catch (err) {
    const why = err && err.message ? err.message : String(err);
    return { seq, ok: false, status: 0, data: { error: `the server did not answer (${why}); is tapegrad serve still running?` } };
  }
}

// Show a reply unless a request sent after it has been shown already.
function apply(reply) {
  if (reply.seq < S.applied) return;
  S.applied = reply.seq;
  const data = reply.data || {};
  if (data.state) S.state = data.state;
  if (data.frame) {
    S.frame = data.frame;
    if (data.frame.points) S.points = data.frame.points;
  }
}

function action(fn) {
  const run = async () => {
    S.busy += 1;
    try {
      return await fn();
    } finally {
      S.busy -= 1;
    }
  };
  const next = S.queue.then(run, run);
  S.queue = next.catch(() => undefined);
  return next;
}

function runPath(what) {
  return `/api/runs/${encodeURIComponent(S.run)}${what ? "/" + what : ""}`;
}

async function doConfigure(options, revive = true) {
  const body = { ...options };
  const reply = S.run === null
    ? await request("POST", "/api/runs", body)
    : await request("POST", runPath("configure"), body);
  if (!reply.ok && reply.status === 404 && S.run !== null && revive) {
    if (!(await restart())) return false;
    const note = S.error;
    const ok = await doConfigure(options, false);
    if (ok) S.error = note;
    return ok;
  }
  if (reply.ok) {
    if (reply.data.run) S.run = reply.data.run;
    S.error = null;
    for (const [k, v] of Object.entries(options)) {
      if (k === "example") S.example = v;
      else if (k === "csv") S.csv = v;
      else if (STORED.includes(k)) S.options[k] = v;
    }
    showOptions(options);
    storeInUrl();
  } else {
    S.error = reply.data.error || `request refused (HTTP ${reply.status})`;
  }
  apply(reply);
  return reply.ok;
}

async function doSimple(what, revive = true) {
  if (S.run === null) await doConfigure({});
  if (S.run === null) return false;
  const reply = await request("POST", runPath(what), {});
  if (!reply.ok && reply.status === 404 && revive) {
    if (!(await restart())) return false;
    const note = S.error;
    const ok = await doSimple(what, false);
    if (ok) S.error = note;
    return ok;
  }
  if (reply.ok) S.error = null;
  else S.error = reply.data.error || `request refused (HTTP ${reply.status})`;
  apply(reply);
  return reply.ok;
}

// The server forgets a run left alone for 10 minutes: start a new one with the same options.
async function restart() {
  const options = { ...S.options };
  if (S.csv !== null && options.dataset === "csv") options.csv = S.csv;
  S.run = null;
  const ok = await doConfigure(options, false);
  if (ok) S.error = "the server had forgotten this run (left alone for 10 minutes): a new run started with the same options";
  return ok;
}

function settle() {
  render();
  if (S.state.running) startPolling();
  else refreshExplain();
  return publicState();
}

function startPolling() {
  if (S.polling) return;
  S.polling = true;
  setTimeout(poll, POLL_MS);
}

async function poll() {
  if (!S.state.running || S.run === null) {
    S.polling = false;
    return;
  }
  if (S.busy > 0) {
    setTimeout(poll, POLL_MS); // an action's reply comes first
    return;
  }
  const reply = await request("GET", runPath(""));
  if (!reply.ok) S.error = reply.data.error || `request refused (HTTP ${reply.status})`;
  apply(reply);
  render();
  if (reply.ok && S.state.running) {
    setTimeout(poll, POLL_MS);
  } else {
    S.polling = false;
    if (!S.state.running) refreshExplain();
  }
}

function publicState() {
  const s = S.state;
  return {
    step: s.step, loss: s.loss, accuracy: s.accuracy, lr: s.lr, running: s.running,
    diverged: s.diverged, error: S.error !== null ? S.error : s.error,
  };
}

// --- the live API (window.tapegrad) ---------------------------------------------------------

const live = {
  configure(options) {
    return action(async () => {
      await doConfigure(options && typeof options === "object" ? options : {});
      return settle();
    });
  },
  play() {
    return action(async () => {
      await doSimple("play");
      return settle();
    });
  },
  pause() {
    return action(async () => {
      await doSimple("pause");
      return settle();
    });
  },
  stepOnce() {
    return action(async () => {
      if (S.state.running) await doSimple("pause");
      await doSimple("step");
      return settle();
    });
  },
  state: publicState,
};

// --- the replay API -------------------------------------------------------------------------

function replayState(frame) {
  const h = frame.history || { loss: [], accuracy: [], lr: [] };
  return {
    step: frame.step, loss: last(h.loss), accuracy: last(h.accuracy), lr: last(h.lr),
    running: S.replayTimer !== null, diverged: null, error: null,
  };
}

function replayShow(i) {
  const frames = REPLAY.frames;
  const k = Math.max(0, Math.min(frames.length - 1, Math.trunc(Number(i)) || 0));
  S.replayAt = k;
  S.frame = frames[k];
  if (S.frame.points) S.points = S.frame.points;
  S.state = replayState(S.frame);
  $("tg-slider").value = String(k);
  $("tg-replay-pos").textContent = `frame ${k + 1} of ${frames.length}, step ${S.frame.step}`;
  render();
  return k;
}

function replayStop() {
  if (S.replayTimer !== null) clearInterval(S.replayTimer);
  S.replayTimer = null;
  $("tg-replay-play").textContent = "\u25B6 play";
  S.state = replayState(S.frame);
}

function replayPlay() {
  if (S.replayTimer !== null) return;
  if (S.replayAt >= REPLAY.frames.length - 1) replayShow(0);
  S.replayTimer = setInterval(() => {
    if (S.replayAt >= REPLAY.frames.length - 1) replayStop();
    else replayShow(S.replayAt + 1);
  }, POLL_MS);
  $("tg-replay-play").textContent = "\u275A\u275A pause";
  S.state = replayState(S.frame);
}

const replay = {
  configure() {
    S.error = "this is a replay: its options are fixed; run tapegrad serve to train live";
    render();
    return Promise.resolve(publicState());
  },
  play() {
    replayPlay();
    return Promise.resolve(publicState());
  },
  pause() {
    replayStop();
    return Promise.resolve(publicState());
  },
  stepOnce() {
    replayStop();
    replayShow(S.replayAt + 1);
    return Promise.resolve(publicState());
  },
  state: publicState,
  replay: { frames: () => REPLAY.frames.length, show: replayShow },
};

// --- views ----------------------------------------------------------------------------------

function render() {
  renderReadout();
  renderBanner();
  renderError();
  renderButtons();
  if (S.frame !== S.drawn) {
    S.drawn = S.frame;
    if (S.frame) {
      renderBoundary(S.frame);
      renderCurves(S.frame);
      renderNetwork(S.frame);
      renderUpdate(S.frame);
    }
  }
}

function renderReadout() {
  const s = S.state;
  $("tg-stepno").textContent = String(s.step);
  $("tg-loss").textContent = fmt(s.loss);
  $("tg-acc").textContent = percent(s.accuracy);
  $("tg-lr").textContent = fmt(s.lr);
  $("tg-stepno").dataset.tgStep = String(s.step);
  if (!REPLAY) $("opt-lr").placeholder = finite(s.lr) ? String(s.lr) : "default";
  else $("tg-lr-label").textContent = "lr";
}

function renderBanner() {
  const d = S.state.diverged;
  const banner = $("tg-banner");
  if (!d) {
    banner.hidden = true;
    banner.textContent = "";
    return;
  }
  const message = String(d.message || "");
  const text = /diverged at step/.test(message) ? message : `diverged at step ${d.step}: ${message}`;
  banner.textContent = text + "  (the run stopped; lower the learning rate or change any option to start again)";
  banner.hidden = false;
}

function renderError() {
  const e = publicState().error;
  const line = $("tg-error");
  line.hidden = !e;
  line.textContent = e || "";
}

function renderButtons() {
  if (REPLAY) return;
  const s = S.state;
  $("tg-play").disabled = s.running || !!s.diverged || S.run === null;
  $("tg-play").classList.toggle("tg-on", s.running);
  $("tg-pause").disabled = !s.running;
  $("tg-step").disabled = !!s.diverged || S.run === null;
  const link = $("tg-download");
  if (S.run !== null) link.href = runPath("model.json");
}

// The decision boundary: the engine's predicted class on the grid, the points on top.
function renderBoundary(frame) {
  const canvas = $("tg-boundary");
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const b = frame.boundary;
  if (!b || !b.cls || !b.x0 || !b.x1) return;
  const n = b.cls.length;
  const [x0min, x0max] = b.x0;
  const [x1min, x1max] = b.x1;
  // One pixel per grid cell, then scaled up without smoothing: each cell is one flat colour.
  const cells = new ImageData(n, n);
  for (let r = 0; r < n; r++) {
    const row = b.cls[r];
    for (let c = 0; c < n; c++) {
      const k = row[c];
      const at = 4 * ((n - 1 - r) * n + c); // row 0 = lowest x1, drawn at the bottom
      const score = b.score && b.score[r] ? b.score[r][c] : null;
      const [red, green, blue] = typeof k === "number" ? LIGHT[k % LIGHT.length] : [243, 244, 246];
      // Binary runs: paler near the boundary (|score| small), as TF Playground shades it.
      const alpha = finite(score) ? 0.3 + 0.6 * Math.min(1, Math.abs(score)) : 0.75;
      // Blend over white here, so the image is opaque and scaling cannot seam it.
      cells.data[at] = Math.round(255 + (red - 255) * alpha);
      cells.data[at + 1] = Math.round(255 + (green - 255) * alpha);
      cells.data[at + 2] = Math.round(255 + (blue - 255) * alpha);
      cells.data[at + 3] = 255;
    }
  }
  const grid = document.createElement("canvas");
  grid.width = n;
  grid.height = n;
  grid.getContext("2d").putImageData(cells, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(grid, 0, 0, W, H);
  const pts = S.points;
  renderClasses(pts);
  if (!pts || !pts.x) return;
  const sx = (v) => ((v - x0min) / (x0max - x0min)) * W;
  const sy = (v) => H - ((v - x1min) / (x1max - x1min)) * H;
  for (let i = 0; i < pts.x.length; i++) {
    const [a, c] = pts.x[i];
    if (!finite(a) || !finite(c)) continue;
    const label = pts.y[i];
    ctx.beginPath();
    ctx.arc(sx(a), sy(c), i === S.example ? 6 : 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = STRONG[(label < 0 ? 0 : label) % STRONG.length];
    ctx.fill();
    ctx.lineWidth = i === S.example ? 2.5 : 1;
    ctx.strokeStyle = i === S.example ? "#111827" : "#ffffff";
    ctx.stroke();
  }
}

// The class colours, named as the data names its classes (a CSV's own names).
function renderClasses(pts) {
  const box = $("tg-classes");
  box.replaceChildren();
  if (!pts) return;
  const count = pts.classes || 0;
  for (let k = 0; k < count; k++) {
    const key = document.createElement("span");
    key.className = "tg-class";
    key.style.background = STRONG[k % STRONG.length];
    const name = pts.labels && pts.labels[k] !== undefined ? String(pts.labels[k]) : String(k);
    box.append(key, document.createTextNode(`class ${name}`));
  }
}

function nearestPoint(event) {
  const frame = S.frame;
  const pts = S.points;
  if (!frame || !frame.boundary || !pts || !pts.x) return null;
  const canvas = $("tg-boundary");
  const rect = canvas.getBoundingClientRect();
  const px = ((event.clientX - rect.left) / rect.width) * canvas.width;
  const py = ((event.clientY - rect.top) / rect.height) * canvas.height;
  const [x0min, x0max] = frame.boundary.x0;
  const [x1min, x1max] = frame.boundary.x1;
  let best = null;
  let bestD = 12 * 12;
  pts.x.forEach(([a, c], i) => {
    const dx = ((a - x0min) / (x0max - x0min)) * canvas.width - px;
    const dy = canvas.height - ((c - x1min) / (x1max - x1min)) * canvas.height - py;
    if (dx * dx + dy * dy < bestD) {
      bestD = dx * dx + dy * dy;
      best = i;
    }
  });
  return best;
}

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

// Loss (log scale optional) and accuracy over the steps so far; dashed lines where lr changed.
function renderCurves(frame) {
  const box = $("tg-curves");
  box.replaceChildren();
  const h = frame.history || { loss: [], accuracy: [], lr: [] };
  const W = 360;
  const H = 220;
  const L = 44;
  const R = 36;
  const T = 10;
  const B = 24;
  svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#e5e7eb" }, box);
  const count = (h.loss || []).length;
  const label = (x, y, text, anchor) => {
    const t = svg("text", { x, y, "font-size": 10, fill: "#6b7280", "text-anchor": anchor || "start" }, box);
    t.textContent = text;
  };
  label(L, H - 8, "step 0", "start");
  label(W - R, H - 8, `step ${frame.step}`, "end");
  label(W - R + 4, T + 8, "100%");
  label(W - R + 4, H - B, "0%");
  if (count === 0) {
    label((L + W - R) / 2, H / 2, "no step yet", "middle");
    return;
  }
  // x is the step each point was recorded at (a long run's curves are thinned evenly).
  const steps = h.step && h.step.length === count ? h.step : h.loss.map((_, i) => i + 1);
  const span = Math.max(1, frame.step, last(steps) || 0);
  const xAt = (i) => L + (steps[i] / span) * (W - L - R);
  const log = $("tg-logscale").checked;
  const shown = (v) => finite(v) && (!log || v > 0);
  const ys = h.loss.filter(shown).map((v) => (log ? Math.log10(v) : v));
  if (ys.length) {
    let lo = Math.min(...ys);
    let hi = Math.max(...ys);
    if (!log) lo = Math.min(lo, 0);
    if (hi - lo < 1e-12) {
      hi += 0.5;
      lo -= 0.5;
    }
    const yAt = (v) => T + (1 - ((log ? Math.log10(v) : v) - lo) / (hi - lo)) * (H - T - B);
    line(box, h.loss.map((v, i) => (shown(v) ? [xAt(i), yAt(v)] : null)), "#111827", 1.6);
    const top = log ? 10 ** hi : hi;
    const bottom = log ? 10 ** lo : lo;
    label(L - 4, T + 8, fmt(top, 3), "end");
    label(L - 4, H - B, fmt(bottom, 3), "end");
  }
  const accAt = (v) => T + (1 - v) * (H - T - B);
  line(box, (h.accuracy || []).map((v, i) => (finite(v) ? [xAt(i), accAt(v)] : null)), "#059669", 1.4);
  const d = S.state.diverged || frame.diverged;
  if (d && finite(d.step)) {
    const x = L + (Math.min(span, d.step + 1) / span) * (W - L - R); // fit counts steps from 0
    svg("line", { x1: x, x2: x, y1: T, y2: H - B, stroke: NEGATIVE, "stroke-dasharray": "4 2" }, box);
    label(x - 3, T + 30, `diverged at step ${d.step}`, "end");
  }
  const rates = h.lr || [];
  const top = Math.max(0, ...rates.filter(finite));
  if (top > 0 && new Set(rates).size > 1) {
    // The rate itself, from 0 (bottom) to its largest value (top), when it changed at all.
    line(box, rates.map((v, i) => (finite(v) ? [xAt(i), T + (1 - v / top) * (H - T - B)] : null)), "#a78bfa", 1);
  }
  for (let i = 2; i < rates.length; i++) {
    // A jump after a flat stretch: someone changed lr (a schedule's every-step drift is not marked).
    if (rates[i] === rates[i - 1] || rates[i - 1] !== rates[i - 2] || !finite(rates[i])) continue;
    const x = xAt(i);
    svg("line", { x1: x, x2: x, y1: T, y2: H - B, stroke: "#7c3aed", "stroke-dasharray": "3 3" }, box);
    label(x + 3, T + (H - T - B) / 2, `lr ${fmt(rates[i], 3)}`); // between the two curves
  }
}

// A polyline broken where values are missing.
function line(box, pts, colour, width) {
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      svg("polyline", {
        points: run.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(" "),
        fill: "none", stroke: colour, "stroke-width": width, "stroke-linejoin": "round",
      }, box);
    } else if (run.length === 1) {
      svg("circle", { cx: run[0][0].toFixed(2), cy: run[0][1].toFixed(2), r: 2, fill: colour }, box);
    }
    run = [];
  };
  for (const p of pts) {
    if (p === null) flush();
    else run.push(p);
  }
  flush();
}

// The network, as nn.draw_network draws it: a column of circles per layer, an edge per weight.
function buildNetwork(sizes) {
  const box = $("tg-network");
  box.replaceChildren();
  const W = 560;
  const tallest = Math.max(...sizes);
  const H = Math.max(320, Math.min(900, tallest * 14 + 40));
  box.setAttribute("viewBox", `0 0 ${W} ${H}`);
  box.setAttribute("height", String(H));
  const xs = sizes.map((_, l) => 40 + (l * (W - 80)) / Math.max(1, sizes.length - 1));
  const spacing = (H - 40) / tallest;
  const radius = Math.max(2.5, Math.min(11, spacing * 0.38));
  const yOf = (l, i) => H / 2 + (i - (sizes[l] - 1) / 2) * spacing;
  const visible = svg("g", {}, box);
  const hits = svg("g", {}, box);
  const nodes = svg("g", {}, box);
  const edges = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    for (let j = 0; j < sizes[l + 1]; j++) {
      for (let i = 0; i < sizes[l]; i++) {
        const at = { x1: xs[l], y1: yOf(l, i), x2: xs[l + 1], y2: yOf(l + 1, j) };
        const el = svg("line", { ...at, class: "tg-edge", "data-tg-edge": `${l},${j},${i}` }, visible);
        svg("line", { ...at, class: "tg-hit", "data-k": edges.length }, hits);
        edges.push({ l, j, i, el });
      }
    }
  }
  const units = [];
  sizes.forEach((count, l) => {
    for (let i = 0; i < count; i++) {
      const c = svg("circle", { cx: xs[l], cy: yOf(l, i), r: radius, fill: "#f3f4f6" }, nodes);
      if (l > 0) {
        c.setAttribute("data-tg-neuron", `${l - 1},${i}`);
        c.setAttribute("data-k", String(units.length));
        units.push({ l: l - 1, i, el: c });
      }
    }
    const name = l === 0 ? "inputs" : l === sizes.length - 1 ? "output" : `hidden ${l}`;
    const t = svg("text", { x: xs[l], y: 12, "text-anchor": "middle" }, nodes);
    t.textContent = name;
  });
  S.net = { key: sizes.join(","), edges, units };
}

function renderNetwork(frame) {
  const net = frame.network;
  if (!net || !net.sizes) return;
  if (!S.net || S.net.key !== net.sizes.join(",")) buildNetwork(net.sizes);
  let biggest = 0;
  for (const layer of net.weights) for (const row of layer) for (const w of row) {
    if (finite(w)) biggest = Math.max(biggest, Math.abs(w));
  }
  const dense = S.net.edges.length > 100 ? 2.5 : MAX_WIDTH;
  const u = frame.update;
  for (const e of S.net.edges) {
    const w = net.weights[e.l][e.j][e.i];
    const g = net.grads ? net.grads[e.l][e.j][e.i] : null;
    const ok = finite(w);
    e.el.setAttribute("stroke", !ok || w === 0 ? ZERO : w > 0 ? POSITIVE : NEGATIVE);
    const width = ok && biggest > 0 ? MIN_WIDTH + ((dense - MIN_WIDTH) * Math.abs(w)) / biggest : 1;
    e.el.setAttribute("stroke-width", width.toFixed(3));
    e.el.classList.toggle("tg-nan", !ok);
    e.el.setAttribute("data-tg-w", exact(w));
    e.el.setAttribute("data-tg-grad", exact(g));
    e.el.classList.toggle("tg-watched", !!u && u.layer === e.l && u.neuron === e.j && u.input === e.i);
  }
  for (const n of S.net.units) {
    const b = net.biases[n.l][n.i];
    const g = net.bias_grads ? net.bias_grads[n.l][n.i] : null;
    n.el.setAttribute("fill", !finite(b) || b === 0 ? "#ffffff" : b > 0 ? "#dbeafe" : "#fee2e2");
    n.el.setAttribute("data-tg-b", exact(b));
    n.el.setAttribute("data-tg-grad", exact(g));
  }
  const tip = $("tg-tooltip");
  if (!tip.hidden && S.hovered) showTip(S.hovered.el, S.hovered.event);
}

function tipText(el) {
  if (el.hasAttribute("data-tg-edge")) {
    const [l, j, i] = el.getAttribute("data-tg-edge").split(",");
    return `layer ${l}, neuron ${j}, input ${i}\nw = ${shownExact(el, "data-tg-w")}\ndL/dw = ${shownExact(el, "data-tg-grad")}`;
  }
  const [l, i] = el.getAttribute("data-tg-neuron").split(",");
  return `layer ${l}, neuron ${i}\nb = ${shownExact(el, "data-tg-b")}\ndL/db = ${shownExact(el, "data-tg-grad")}`;
}

function shownExact(el, name) {
  const v = el.getAttribute(name);
  return v === null || v === "null" ? "\u2014 (not a finite number)" : v;
}

function showTip(el, event) {
  const tip = $("tg-tooltip");
  const panel = tip.parentElement.getBoundingClientRect();
  tip.textContent = tipText(el);
  tip.hidden = false;
  // Beside the pointer, on whichever side keeps the whole tooltip inside the panel.
  const x = event.clientX - panel.left;
  const left = x + 14 + tip.offsetWidth > panel.width ? x - 14 - tip.offsetWidth : x + 14;
  tip.style.left = `${Math.max(0, left)}px`;
  tip.style.top = `${event.clientY - panel.top + 10}px`;
}

function hoverTarget(event) {
  const t = event.target;
  if (!S.net || !(t instanceof Element)) return null;
  if (t.classList.contains("tg-hit")) return S.net.edges[Number(t.getAttribute("data-k"))].el;
  if (t.hasAttribute("data-tg-neuron")) return t;
  return null;
}

// The chosen weight's update, with the frame's numbers.
function renderUpdate(frame) {
  const box = $("tg-update");
  box.replaceChildren();
  const u = frame.update;
  const div = (cls, parent) => {
    const d = document.createElement("div");
    if (cls) d.className = cls;
    (parent || box).appendChild(d);
    return d;
  };
  const text = (parent, s) => parent.appendChild(document.createTextNode(s));
  const num = (parent, value, name) => {
    const v = document.createElement("var");
    v.textContent = fmt(value, 6);
    v.setAttribute(`data-tg-${name}`, exact(value));
    v.title = exact(value);
    parent.appendChild(v);
  };
  if (!u) {
    div("tg-where").textContent = "no weight chosen";
    return;
  }
  div("tg-where").textContent = `weight w[${u.layer}][${u.neuron}][${u.input}]: layer ${u.layer}, neuron ${u.neuron}, input ${u.input}${REPLAY ? "" : " (click an edge to follow another)"}`;
  div("tg-formula").textContent = "W_new = W_old \u2212 lr \u00D7 dL/dW";
  if (frame.step === 0 || !finite(u.grad)) {
    div("tg-where").textContent = frame.step === 0
      ? "no step taken yet: press step once"
      : "the last step's numbers are not finite";
    return;
  }
  const f = div("tg-formula");
  num(f, u.w_new, "w-new");
  text(f, " = ");
  num(f, u.w_old, "w-old");
  text(f, " \u2212 ");
  num(f, u.lr, "lr");
  text(f, " \u00D7 ");
  const negative = finite(u.grad) && u.grad < 0;
  if (negative) text(f, "(");
  num(f, u.grad, "grad");
  if (negative) text(f, ")");
  if (u.note || finite(u.delta)) {
    // The optimizer rescales the step: the formula above is plain SGD's; this is what happened.
    f.insertBefore(document.createTextNode("plain SGD would give: "), f.firstChild);
    const moved = div("tg-formula");
    text(moved, "what happened: W_new = W_old + \u0394 = ");
    num(moved, u.w_old, "w-old-again");
    text(moved, " + ");
    const negativeDelta = finite(u.delta) && u.delta < 0;
    if (negativeDelta) text(moved, "(");
    num(moved, u.delta, "delta");
    if (negativeDelta) text(moved, ")");
    text(moved, " = ");
    num(moved, finite(u.w_after) ? u.w_after : null, "w-after");
    if (u.note) div("tg-where").textContent = u.note;
  }
}

function refreshExplain() {
  if (REPLAY || S.run === null || S.state.running) return;
  const query = new URLSearchParams();
  if (S.example !== null) query.set("example", String(S.example));
  query.set("step", String(S.state.step)); // a new address for every step: no stale cache
  const where = `${runPath("explain")}?${query}`;
  if (where === S.explained) return;
  S.explained = where;
  $("tg-explain").src = where;
  const which = S.example !== null ? `example ${S.example}` : "the run's chosen example";
  $("tg-explain-note").textContent = `(${which}, at step ${S.state.step}; updates when paused or stepped)`;
}

// --- the controls ---------------------------------------------------------------------------

function optionValue(el) {
  const raw = el.value.trim();
  if (el.dataset.kind === "int" || el.dataset.kind === "float") {
    if (raw === "") return undefined;
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw; // the server names what is wrong with it
  }
  return raw;
}

// Set the controls to options given through the API (what the user sees is what was sent).
function showOptions(options) {
  for (const [k, v] of Object.entries(options)) {
    const el = document.querySelector(`[data-opt="${k}"]`);
    if (!el || el === document.activeElement) continue;
    if (el.tagName === "SELECT" && !Array.from(el.options).some((o) => o.value === String(v))) continue;
    el.value = v === null || v === undefined ? "" : String(v);
  }
}

function storeInUrl() {
  const q = new URLSearchParams();
  for (const k of STORED) if (S.options[k] !== undefined && k !== "csv") q.set(k, String(S.options[k]));
  if (S.options.dataset === "csv") q.delete("dataset"); // the file itself is not in the URL
  const hash = q.toString();
  history.replaceState(null, "", hash ? `#${hash}` : location.pathname + location.search);
}

function optionsFromUrl() {
  const q = new URLSearchParams(location.hash.slice(1));
  const options = {};
  for (const k of STORED) {
    if (!q.has(k)) continue;
    const raw = q.get(k);
    const el = document.querySelector(`[data-opt="${k}"]`);
    const numeric = el && (el.dataset.kind === "int" || el.dataset.kind === "float");
    options[k] = numeric && raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return options;
}

function wireLive() {
  document.querySelectorAll("[data-opt]").forEach((el) => {
    el.addEventListener("change", () => {
      const name = el.dataset.opt;
      if (name === "dataset" && el.value === "csv") {
        $("opt-csv").click(); // the data set changes once a file is read
        return;
      }
      const value = optionValue(el);
      if (value === undefined) return;
      live.configure({ [name]: value });
    });
  });
  $("opt-csv").addEventListener("change", () => {
    const file = $("opt-csv").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      $("opt-dataset").value = "csv";
      live.configure({ dataset: "csv", csv: String(reader.result) });
    };
    reader.onerror = () => {
      S.error = `could not read ${file.name}: ${reader.error ? reader.error.message : "unknown error"}`;
      render();
    };
    reader.readAsText(file);
  });
  $("tg-play").addEventListener("click", () => live.play());
  $("tg-pause").addEventListener("click", () => live.pause());
  $("tg-step").addEventListener("click", () => live.stepOnce());
  $("tg-boundary").addEventListener("click", (event) => {
    const k = nearestPoint(event);
    if (k !== null) live.configure({ example: k });
  });
  $("tg-network").addEventListener("click", (event) => {
    const el = hoverTarget(event);
    if (el && el.hasAttribute("data-tg-edge")) live.configure({ watch: el.getAttribute("data-tg-edge") });
  });
}

function wireCommon() {
  $("tg-logscale").addEventListener("change", () => {
    if (S.frame) renderCurves(S.frame);
  });
  const box = $("tg-network");
  box.addEventListener("mouseover", (event) => {
    const el = hoverTarget(event);
    if (!el) return;
    if (S.hovered) S.hovered.el.classList.remove("tg-hover");
    S.hovered = { el, event };
    el.classList.add("tg-hover");
    showTip(el, event);
  });
  box.addEventListener("mousemove", (event) => {
    if (S.hovered) {
      S.hovered.event = event;
      showTip(S.hovered.el, event);
    }
  });
  box.addEventListener("mouseout", (event) => {
    if (!hoverTarget(event) || !S.hovered) return;
    S.hovered.el.classList.remove("tg-hover");
    S.hovered = null;
    $("tg-tooltip").hidden = true;
  });
}

function startReplay() {
  document.body.classList.add("tg-replay");
  $("tg-controls").hidden = true;
  $("tg-replay-controls").hidden = false;
  $("tg-explain-panel").hidden = true;
  const slider = $("tg-slider");
  const n = REPLAY.frames.length;
  slider.max = String(Math.max(0, n - 1));
  slider.addEventListener("input", () => {
    replayStop();
    replayShow(slider.value);
  });
  $("tg-replay-play").addEventListener("click", () => {
    if (S.replayTimer !== null) replayStop();
    else replayPlay();
    render();
  });
  const list = $("tg-replay-options");
  for (const [k, v] of Object.entries(REPLAY.options || {})) {
    if (k === "csv") continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v === null ? "default" : String(v);
    list.append(dt, dd);
  }
  window.tapegrad = replay;
  if (n > 0) replayShow(n - 1);
}

wireCommon();
if (REPLAY) {
  startReplay();
} else {
  window.tapegrad = live;
  wireLive();
  render();
  const wanted = optionsFromUrl();
  showOptions(wanted);
  live.configure(wanted).then(() => {
    if (Object.keys(wanted).length && S.run === null) return live.configure({}); // a bad URL
    return undefined;
  });
}
