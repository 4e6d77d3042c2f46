// aegpu viz: the page. Plain JavaScript, no dependencies. It reads
// /api/state once, then follows /events (Server-Sent Events, one JSON frame
// per message) and posts the controls to /api/control.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const MAX_CLIENT_POINTS = 4000;

const app = {
  state: null, // /api/state
  gen: -1,
  loss: [], // {step, train, val?}
  frames: 0,
  status: null,
  sample: null,
  scatter: null,
  hist: null,
  vae: null,
  layersKey: "",
  settingsShown: "",
  dirty: new Set(), // settings changed on the page and not yet applied by Reset
};

// ---------- drawing helpers ----------

// canvas2d sizes a canvas to its CSS box at the device's pixel ratio and
// returns its context (drawing in CSS pixels) with its width and height.
function canvas2d(cv) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(cv.clientWidth, 10), h = Math.max(cv.clientHeight, 10);
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
  }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";
  g.textBaseline = "middle";
  return { g, w, h };
}

function fmt(v, digits) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits === undefined ? 2 : digits);
  const d = digits === undefined ? 4 : digits;
  if (a >= Math.pow(10, d)) return String(Math.round(v));
  const s = v.toPrecision(d);
  return s.includes(".") && !s.includes("e") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

// fmtAxis formats an axis label short and whole: two significant digits,
// and a power of ten (1.1e-3) below 0.01 and from 1e5 on.
function fmtAxis(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 0.01 || a >= 1e5) return v.toExponential(1).replace(".0e", "e").replace("e+", "e");
  return String(Number(v.toPrecision(2)));
}

// labeller places text on a canvas so that no two labels overlap and none
// runs over the canvas's edges: place draws a label and returns true, or
// leaves it out and returns false when it does not fit. Place the labels
// that matter most first.
function labeller(g, w, h) {
  const boxes = [];
  const gap = 4; // the least room between two labels on a line
  return {
    // box is the ink box of text drawn at (x, y) with the given alignment
    // (and the canvas's middle baseline).
    box(text, x, y, align) {
      g.textAlign = align;
      const m = g.measureText(text);
      return [x - m.actualBoundingBoxLeft, y - m.actualBoundingBoxAscent, x + m.actualBoundingBoxRight, y + m.actualBoundingBoxDescent];
    },
    place(text, x, y, align) {
      const b = this.box(text, x, y, align);
      if (b[0] < 0 || b[1] < 0 || b[2] > w || b[3] > h) return false;
      for (const o of boxes) {
        if (b[0] < o[2] + gap && o[0] < b[2] + gap && b[1] < o[3] + 1 && o[1] < b[3] + 1) return false;
      }
      g.fillText(text, x, y);
      boxes.push(b);
      return true;
    },
  };
}

// sig is a short signature of a vector, so that tests (and people) can see
// that a panel changed.
function sig(v) {
  let h = 0;
  for (let i = 0; i < v.length; i++) {
    const q = Math.round((v[i] || 0) * 1000);
    h = (Math.imul(h, 31) + q) | 0;
  }
  return v.length + ":" + (h >>> 0).toString(16);
}

function isImage() {
  return imageShape() !== null;
}

function imageShape() {
  const s = app.state && app.state.data.image_shape;
  return s && s.length === 2 ? s : null;
}

// bars draws v as vertical bars on a zero line; marks (optional) are drawn
// as ticks over the bars (the input over the reconstruction).
function bars(cv, v, opt) {
  const { g, w, h } = canvas2d(cv);
  opt = opt || {};
  let lo = opt.lo !== undefined ? opt.lo : 0, hi = opt.hi !== undefined ? opt.hi : 0;
  const all = opt.marks ? v.concat(opt.marks) : v;
  for (const x of all) { if (x < lo) lo = x; if (x > hi) hi = x; }
  if (hi - lo < 1e-9) hi = lo + 1;
  // The value axis is as wide as its widest label.
  const ticks = [lo, (lo + hi) / 2, hi].map((t) => [t, fmtAxis(t)]);
  g.textAlign = "right";
  const tw = Math.max(...ticks.map(([, s]) => g.measureText(s).width));
  const padL = Math.ceil(tw) + 8, padR = 6, padT = 8, padB = opt.labels === false ? 6 : 20;
  const pw = w - padL - padR, ph = h - padT - padB;
  const y = (x) => padT + ph * (hi - x) / (hi - lo);
  const L = labeller(g, w, h);
  g.strokeStyle = "#dde1e6"; g.fillStyle = "#6b7480"; g.lineWidth = 1;
  for (const [t, s] of ticks) {
    g.beginPath(); g.moveTo(padL, y(t)); g.lineTo(w - padR, y(t)); g.stroke();
    L.place(s, padL - 4, y(t), "right");
  }
  const n = v.length, bw = pw / n, gap = n > 40 ? 0 : Math.min(3, bw * 0.2);
  g.fillStyle = opt.color || "#2f6fde";
  const y0 = y(Math.min(Math.max(0, lo), hi));
  for (let i = 0; i < n; i++) {
    const yy = y(v[i]);
    g.fillRect(padL + i * bw + gap / 2, Math.min(yy, y0), Math.max(bw - gap, 0.5), Math.max(Math.abs(y0 - yy), 0.5));
  }
  if (opt.marks) {
    g.strokeStyle = "#1d2430"; g.lineWidth = 2;
    for (let i = 0; i < n; i++) {
      const yy = y(opt.marks[i]);
      g.beginPath(); g.moveTo(padL + i * bw + 1, yy); g.lineTo(padL + (i + 1) * bw - 1, yy); g.stroke();
    }
  }
  if (opt.labels !== false) {
    // Label every k-th bar, k = 1, 2, 5, 10, 20, … as the room allows.
    const pre = opt.prefix || "";
    g.fillStyle = "#6b7480"; g.textAlign = "center";
    const need = g.measureText(pre + (n - 1)).width + 6;
    let k = 1;
    for (let e = 1; bw > 0 && k * bw < need && k < n; e *= 10) k = [1, 2, 5].map((m) => m * e).find((c) => c * bw >= need) || 10 * e;
    for (let i = 0; i < n; i += k) L.place(pre + i, padL + (i + 0.5) * bw, h - 7, "center");
    cv.dataset.labelEvery = String(k);
  }
}

// grey draws v (H×W, values in [lo, hi]) as an image into the box (x, y, s×s)
// or, without a box, filling the canvas.
function image(g, v, H, W, x, y, sw, sh, colour, lo, hi) {
  const off = document.createElement("canvas");
  off.width = W; off.height = H;
  const og = off.getContext("2d");
  const im = og.createImageData(W, H);
  lo = lo === undefined ? 0 : lo; hi = hi === undefined ? 1 : hi;
  const span = hi - lo || 1;
  for (let i = 0; i < H * W; i++) {
    const t = Math.min(Math.max((v[i] - lo) / span, 0), 1);
    let r, gg, b;
    if (colour === "heat") { r = 255; gg = Math.round(255 * (1 - t)); b = Math.round(255 * (1 - t)); }
    else { r = gg = b = Math.round(255 * t); }
    im.data[4 * i] = r; im.data[4 * i + 1] = gg; im.data[4 * i + 2] = b; im.data[4 * i + 3] = 255;
  }
  og.putImageData(im, 0, 0);
  g.imageSmoothingEnabled = false;
  g.drawImage(off, x, y, sw, sh);
}

function imagePanel(cv, v, colour, lo, hi, caption) {
  const { g, w, h } = canvas2d(cv);
  const [H, W] = app.state.data.image_shape;
  const s = Math.min((w - 4) / W, (h - (caption ? 16 : 4)) / H);
  image(g, v, H, W, (w - s * W) / 2, 2, s * W, s * H, colour, lo, hi);
  if (caption) { g.fillStyle = "#6b7480"; g.textAlign = "center"; g.fillText(caption, w / 2, h - 7); }
}

// strip draws a vector as one row of coloured cells (for VAE grids of
// non-image data).
function strip(g, v, x, y, w, h) {
  const n = v.length, cw = w / n;
  for (let i = 0; i < n; i++) {
    const t = Math.min(Math.max(v[i], 0), 1);
    const c = Math.round(255 * (1 - t));
    g.fillStyle = `rgb(${c},${Math.round(c * 0.9 + 20)},255)`;
    g.fillRect(x + i * cw, y, cw + 0.5, h);
  }
  g.strokeStyle = "#dde1e6"; g.strokeRect(x, y, w, h);
}

// ---------- panels ----------

function drawNetwork(st) {
  const svg = $("network");
  const layers = st.layers, vae = st.settings.variant === "vae";
  const key = layers.join(",") + vae;
  if (key === app.layersKey) return;
  app.layersKey = key;
  const enc = layers, dec = layers.slice(0, -1).reverse();
  const cols = enc.concat(dec); // widths left to right
  const latentIdx = enc.length - 1;
  const W = svg.clientWidth || 900, H = 150;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const ns = "http://www.w3.org/2000/svg";
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  const maxW = Math.max(...cols);
  const xs = cols.map((_, i) => 40 + i * (W - 80) / Math.max(cols.length - 1, 1));
  const hOf = (n) => 18 + 92 * Math.log(1 + n) / Math.log(1 + maxW);
  const colour = (i) => (i < latentIdx ? "#4e9a6b" : i === latentIdx ? "#8a55c7" : "#2f8fb8");
  // Connections between consecutive layers (a fan between their boxes).
  for (let i = 0; i + 1 < cols.length; i++) {
    const h1 = hOf(cols[i]), h2 = hOf(cols[i + 1]), cy = 70;
    el("path", {
      d: `M${xs[i] + 10},${cy - h1 / 2} L${xs[i + 1] - 10},${cy - h2 / 2} L${xs[i + 1] - 10},${cy + h2 / 2} L${xs[i] + 10},${cy + h1 / 2} Z`,
      fill: colour(i < latentIdx ? i : i + 1), opacity: 0.12,
    });
  }
  cols.forEach((n, i) => {
    const h = hOf(n), cy = 70;
    if (n <= 16) {
      const step = h / n;
      for (let k = 0; k < n; k++) el("circle", { cx: xs[i], cy: cy - h / 2 + step * (k + 0.5), r: Math.min(5, step * 0.38), fill: colour(i) });
    } else {
      el("rect", { x: xs[i] - 9, y: cy - h / 2, width: 18, height: h, rx: 3, fill: colour(i) });
    }
    el("text", { x: xs[i], y: 136, "text-anchor": "middle", "font-size": 12, fill: "#1d2430" }, String(n));
  });
  el("text", { x: xs[latentIdx], y: 10, "text-anchor": "middle", "font-size": 11, fill: "#8a55c7" }, vae ? "z = μ + σ·ε" : "latent");
  el("text", { x: xs[0], y: 10, "text-anchor": "middle", "font-size": 11, fill: "#6b7480" }, "input");
  el("text", { x: xs[xs.length - 1], y: 10, "text-anchor": "middle", "font-size": 11, fill: "#6b7480" }, "output");
  const arch = cols.join(" → ");
  $("arch-text").textContent = `${arch} · ${st.params.toLocaleString()} parameters · ${st.hidden} hidden, ${st.latent_act} latent, ${st.output} output`;
  $("enc-desc").textContent = `compresses ${layers[0]}D input to ${layers[layers.length - 1]}D latent representation, capturing essential features`;
}

function drawSample(s) {
  const idx = String(s.index);
  const label = s.label !== undefined ? ` · label ${s.label}` : "";
  $("input-meta").textContent = `row ${s.index}${label}`;
  $("code-meta").textContent = `${s.code.length}-D` + (app.status && app.status.settings.variant === "vae" ? " (μ)" : "");
  $("recon-meta").textContent = `MSE ${fmt(s.row_error, 3)}`;
  let maxErr = 0;
  for (const e of s.error) maxErr = Math.max(maxErr, e);
  $("err-meta").textContent = `max ${fmt(maxErr, 3)}`;
  if (isImage()) {
    imagePanel($("cv-input"), s.input, "grey", 0, 1);
    imagePanel($("cv-recon"), s.recon, "grey", 0, 1);
    imagePanel($("cv-error"), s.error, "heat", 0, maxErr || 1);
  } else {
    let lo = 0, hi = 1;
    for (const x of s.input.concat(s.recon)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    bars($("cv-input"), s.input, { lo, hi, color: "#4e9a6b", prefix: "x" });
    bars($("cv-recon"), s.recon, { lo, hi, color: "#2f8fb8", marks: s.input, prefix: "x̂" });
    bars($("cv-error"), s.error, { color: "#d8453b", labels: false });
  }
  bars($("cv-code"), s.code, { color: "#8a55c7", prefix: "z" });
  for (const [id, v] of [["panel-input", s.input], ["panel-code", s.code], ["panel-recon", s.recon]]) {
    const p = $(id);
    p.dataset.sig = sig(v);
    p.dataset.sample = idx;
  }
  if (document.activeElement !== $("sample")) $("sample").value = s.index;
}

function niceTicks(lo, hi, n) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const step0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || mag * 10;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
  return out;
}

function drawLoss() {
  const cv = $("loss-chart");
  const { g, w, h } = canvas2d(cv);
  const pts = app.loss;
  const vals = pts.filter((p) => p.val !== undefined && p.val !== null && p.val > 0);
  const trains = pts.filter((p) => p.train !== null && p.train > 0);
  cv.dataset.points = String(trains.length);
  cv.dataset.valPoints = String(vals.length);
  g.fillStyle = "#6b7480";
  if (trains.length === 0) {
    g.textAlign = "center";
    g.fillText("press Start: the loss curves appear here", w / 2, h / 2);
    return;
  }
  const s1 = Math.max(pts[pts.length - 1].step, 1);
  // A fast run does most of its descent in its first steps: the step axis
  // turns logarithmic when the points span two decades.
  const first = Math.max(pts[0].step, 1), xlog = s1 / first >= 100;
  const s0 = xlog ? first : 0;
  let lo = Infinity, hi = -Infinity;
  for (const p of trains) { lo = Math.min(lo, p.train); hi = Math.max(hi, p.train); }
  for (const p of vals) { lo = Math.min(lo, p.val); hi = Math.max(hi, p.val); }
  let l0 = Math.log10(lo), l1 = Math.log10(hi);
  if (l1 - l0 < 0.3) { const m = (l0 + l1) / 2; l0 = m - 0.15; l1 = m + 0.15; }
  const yt = [];
  for (let e = Math.floor(l0); e <= Math.ceil(l1); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, e), lv = Math.log10(v);
      if (lv >= l0 && lv <= l1) yt.push([v, fmtAxis(v)]);
    }
  }
  g.textAlign = "right";
  const padL = Math.max(30, Math.ceil(Math.max(0, ...yt.map(([, s]) => g.measureText(s).width))) + 8);
  const padR = 8, padT = 8, padB = 32; // two rows: the step ticks, the axis title
  const pw = w - padL - padR, ph = h - padT - padB;
  const L = labeller(g, w, h);
  const X = xlog
    ? (s) => padL + pw * (Math.log10(Math.max(s, s0)) - Math.log10(s0)) / (Math.log10(s1) - Math.log10(s0))
    : (s) => padL + pw * (s - s0) / (s1 - s0);
  const Y = (v) => padT + ph * (l1 - Math.log10(v)) / (l1 - l0);
  // The axis title has a row of its own under the ticks; a tick that would
  // run into another label or over an edge is left out.
  L.place(xlog ? "step (log)" : "step", w - padR, h - 7, "right");
  g.strokeStyle = "#dde1e6"; g.lineWidth = 1;
  for (const [v, s] of yt) {
    g.beginPath(); g.moveTo(padL, Y(v)); g.lineTo(w - padR, Y(v)); g.stroke();
    L.place(s, padL - 4, Y(v), "right");
  }
  const xt = xlog
    ? [...Array(Math.floor(Math.log10(s1)) + 1).keys()].map((e) => Math.pow(10, e)).filter((t) => t >= s0)
    : niceTicks(s0, s1, 5);
  for (const t of xt) L.place(t >= 1e4 ? t.toExponential(0).replace("+", "") : String(Math.round(t)), X(t), h - 21, "center");
  // The best validation loss so far: a dashed line at its step, a ring on
  // the curve.
  const st = app.status;
  cv.dataset.bestStep = "0";
  if (st && st.best_step > 0 && st.best_val > 0 && st.best_step >= s0 && st.best_step <= s1) {
    const bx = X(st.best_step), by = Y(Math.min(Math.max(st.best_val, Math.pow(10, l0)), Math.pow(10, l1)));
    g.strokeStyle = "#2e8b57"; g.lineWidth = 1.2; g.setLineDash([4, 3]);
    g.beginPath(); g.moveTo(bx, padT); g.lineTo(bx, padT + ph); g.stroke(); g.setLineDash([]);
    g.lineWidth = 2; g.beginPath(); g.arc(bx, by, 4.5, 0, 2 * Math.PI); g.stroke();
    cv.dataset.bestStep = String(st.best_step);
    cv.dataset.bestX = String(bx);
  }
  const line = (arr, key, colour) => {
    g.strokeStyle = colour; g.lineWidth = 1.6; g.beginPath();
    arr.forEach((p, i) => (i ? g.lineTo(X(p.step), Y(p[key])) : g.moveTo(X(p.step), Y(p[key]))));
    g.stroke();
  };
  line(trains, "train", "#2f6fde");
  if (vals.length) {
    line(vals, "val", "#e8772e");
    g.fillStyle = "#e8772e";
    const last = vals[vals.length - 1];
    g.beginPath(); g.arc(X(last.step), Y(last.val), 2.5, 0, 2 * Math.PI); g.fill();
  }
}

function drawScatter() {
  const sc = app.scatter, cv = $("scatter");
  const { g, w, h } = canvas2d(cv);
  const rows = app.state.shown_rows, labels = app.state.shown_labels;
  cv.dataset.expected = String(rows.length);
  if (!sc) { cv.dataset.points = "0"; return; }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < sc.x.length; i++) {
    if (sc.x[i] === null || sc.y[i] === null) continue;
    x0 = Math.min(x0, sc.x[i]); x1 = Math.max(x1, sc.x[i]); y0 = Math.min(y0, sc.y[i]); y1 = Math.max(y1, sc.y[i]);
  }
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const pad = 12;
  const X = (v) => pad + (w - 2 * pad) * (v - x0) / (x1 - x0);
  const Y = (v) => h - pad - (h - 2 * pad) * (v - y0) / (y1 - y0);
  app.scatterXY = [];
  let drawn = 0;
  g.globalAlpha = 0.75;
  const sel = app.sample ? app.sample.index : -1;
  let selXY = null;
  for (let i = 0; i < sc.x.length; i++) {
    if (sc.x[i] === null || sc.y[i] === null) continue;
    const px = X(sc.x[i]), py = Y(sc.y[i]);
    g.fillStyle = labels ? PALETTE[labels[i] % PALETTE.length] : "#2f6fde";
    g.beginPath(); g.arc(px, py, 2.6, 0, 2 * Math.PI); g.fill();
    app.scatterXY.push([px, py, rows[i]]);
    if (rows[i] === sel) selXY = [px, py];
    drawn++;
  }
  g.globalAlpha = 1;
  if (selXY) {
    g.strokeStyle = "#1d2430"; g.lineWidth = 2;
    g.beginPath(); g.arc(selXY[0], selXY[1], 6, 0, 2 * Math.PI); g.stroke();
  }
  cv.dataset.points = String(drawn);
  const axes = { latent: "the 2-D latent code", pca: "PCA of the latent code", "latent-error": "x: 1-D code, y: error" }[sc.axes] || sc.axes;
  let meta = `${drawn} samples · ${axes}`;
  if (sc.explained) meta += ` (${sc.explained.map((v) => Math.round(v * 100) + "%").join(" + ")} of the variance)`;
  $("scatter-meta").textContent = meta;
}

function drawLegend() {
  const box = $("scatter-legend");
  box.textContent = "";
  const k = app.state.data.classes;
  if (!k) return;
  for (let c = 0; c < Math.min(k, PALETTE.length); c++) {
    const s = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = PALETTE[c];
    s.appendChild(dot);
    s.appendChild(document.createTextNode(app.state.data.source.startsWith("toy") ? `factor ${c + 1}` : `label ${c}`));
    box.appendChild(s);
  }
}

function drawHist() {
  const hv = app.hist, cv = $("hist");
  const { g, w, h } = canvas2d(cv);
  if (!hv) return;
  cv.dataset.bins = String(hv.counts.length);
  const padL = 34, padR = 8, padT = 14, padB = 20;
  const pw = w - padL - padR, ph = h - padT - padB;
  const maxC = Math.max(1, ...hv.counts);
  const bw = pw / hv.counts.length;
  const binW = (hv.hi - hv.lo) / hv.counts.length;
  hv.counts.forEach((c, i) => {
    const over = hv.lo + (i + 0.5) * binW > hv.threshold;
    g.fillStyle = over ? "#d8453b" : "#2f6fde";
    const bh = ph * c / maxC;
    g.fillRect(padL + i * bw + 0.5, padT + ph - bh, Math.max(bw - 1, 0.5), bh);
  });
  g.strokeStyle = "#dde1e6"; g.beginPath(); g.moveTo(padL, padT + ph); g.lineTo(w - padR, padT + ph); g.stroke();
  const L = labeller(g, w, h);
  if (hv.threshold !== null) {
    const tx = padL + pw * (hv.threshold - hv.lo) / (hv.hi - hv.lo);
    g.strokeStyle = "#1d2430"; g.setLineDash([4, 3]); g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(tx, padT - 4); g.lineTo(tx, padT + ph); g.stroke(); g.setLineDash([]);
    g.fillStyle = "#1d2430";
    const text = `threshold ${fmt(hv.threshold, 3)}`;
    if (!L.place(text, tx + 4, padT - 4, "left")) L.place(text, tx - 4, padT - 4, "right");
  }
  g.fillStyle = "#6b7480";
  L.place(String(maxC), padL - 4, padT, "right");
  for (const t of niceTicks(hv.lo, hv.hi, 4)) L.place(fmtAxis(t), padL + pw * (t - hv.lo) / (hv.hi - hv.lo), h - 8, "center");
  $("hist-meta").textContent = `${hv.rule}: ${hv.above} of ${hv.counts.reduce((a, b) => a + b, 0)} above · mean ${fmt(hv.mean, 3)}`;
}

function drawVAE() {
  const v = app.vae, show = !!v;
  $("vae-samples-card").hidden = !show;
  $("vae-trav-card").hidden = !show;
  if (!show) return;
  const d = app.state.data.cols;
  const img = isImage();
  $("vae-samples").dataset.samples = String(v.n);
  $("vae-trav").dataset.cells = String(v.dims * v.steps);
  // Samples: a grid.
  {
    const { g, w, h } = canvas2d($("vae-samples"));
    const n = v.n, cols = img ? Math.ceil(Math.sqrt(n)) : 2, rows = Math.ceil(n / cols);
    const cw = w / cols, ch = h / rows;
    for (let i = 0; i < n; i++) {
      const r = Math.floor(i / cols), c = i % cols, row = v.samples.slice(i * d, (i + 1) * d);
      if (img) {
        const [H, W] = app.state.data.image_shape, s = Math.min(cw, ch) - 4;
        image(g, row, H, W, c * cw + (cw - s) / 2, r * ch + 2, s, s, "grey", 0, 1);
      } else strip(g, row, c * cw + 4, r * ch + 3, cw - 8, ch - 6);
    }
  }
  // Traversal: one row per latent unit, one column per value.
  {
    const { g, w, h } = canvas2d($("vae-trav"));
    const padL = 30, padT = 14;
    const cw = (w - padL) / v.steps, ch = (h - padT) / v.dims;
    const L = labeller(g, w, h);
    g.fillStyle = "#6b7480";
    for (let s = 0; s < v.steps; s++) L.place(fmt(-v.range + 2 * v.range * s / (v.steps - 1), 2), padL + (s + 0.5) * cw, 7, "center");
    for (let k = 0; k < v.dims; k++) {
      g.fillStyle = "#6b7480"; L.place("z" + k, padL - 6, padT + (k + 0.5) * ch, "right");
      for (let s = 0; s < v.steps; s++) {
        const off = (k * v.steps + s) * d, row = v.traversal.slice(off, off + d);
        if (img) {
          const [H, W] = app.state.data.image_shape, sz = Math.min(cw, ch) - 3;
          image(g, row, H, W, padL + s * cw + (cw - sz) / 2, padT + k * ch + 1, sz, sz, "grey", 0, 1);
        } else strip(g, row, padL + s * cw + 2, padT + k * ch + 2, cw - 4, ch - 4);
      }
    }
    $("trav-meta").textContent = `the selected sample's μ with one unit set to −${v.range}…${v.range}`;
  }
}

// ---------- state ----------

function showStatus(st) {
  app.status = st;
  const el = $("status");
  el.dataset.running = st.running ? "1" : "0";
  el.dataset.step = String(st.step);
  const pill = $("st-state");
  const early = st.stop_reason === "early_stopping";
  pill.className = "pill " + (st.error ? "error" : st.running ? "running" : early ? "early" : "paused");
  pill.textContent = st.error ? "stopped" : st.running ? "training" : early ? "stopped early" : "paused";
  pill.title = st.error || st.stopped || "";
  $("notice").textContent = st.stopped || "";
  showBest(st);
  $("st-step").textContent = st.step.toLocaleString();
  $("st-epoch").textContent = st.epoch.toLocaleString();
  $("st-rate").textContent = st.running ? fmt(st.steps_per_sec, 3) : "–";
  $("st-loss").textContent = fmt(st.loss, 3);
  $("st-val").textContent = fmt(st.val_loss, 3);
  $("start").disabled = st.running;
  $("pause").disabled = !st.running;
  if (st.error && st.error !== app.lastError) showMessage(st.error);
  app.lastError = st.error;
  // The inputs show the model's settings: all of them after a reset (and at
  // load); otherwise those the user has not changed since (changes of the
  // latent size, variant and noise wait for Reset).
  const key = st.gen + "|" + JSON.stringify(st.settings);
  if (key !== app.settingsShown) {
    const newModel = !app.settingsShown.startsWith(st.gen + "|");
    app.settingsShown = key;
    if (newModel) app.dirty.clear();
    const set = st.settings;
    for (const id of ["lr", "latent", "variant", "noise", "patience"]) {
      if (!app.dirty.has(id) && document.activeElement !== $(id)) $(id).value = set[id];
    }
    $("pending").hidden = app.dirty.size === 0;
  }
  $("footer").textContent = `batch ${st.batch} · snapshot ${fmt(st.snapshot_ms, 2)} ms every ≥ ${fmt(st.interval_ms, 3)} ms · ${st.clients} page(s) connected · frames received ${app.frames}`;
  drawNetwork(st);
}

// showBest shows the best validation loss so far, its step and epoch, and
// how many epochs have gone by without a better one.
function showBest(st) {
  const has = st.best_step > 0 && st.best_val !== null;
  $("st-best").textContent = has ? `${fmt(st.best_val, 3)} @ step ${st.best_step.toLocaleString()}` : "–";
  const el = $("best-meta");
  el.dataset.bestStep = String(has ? st.best_step : 0);
  if (!has) {
    el.textContent = st.settings.patience > 0 ? `early stopping after ${st.settings.patience} epochs without a better validation loss` : "";
    return;
  }
  let t = `best validation ${fmt(st.best_val, 4)} at step ${st.best_step.toLocaleString()} (epoch ${st.best_epoch})`;
  if (st.bad_epochs > 0) t += ` · ${st.bad_epochs} epoch${st.bad_epochs === 1 ? "" : "s"} without a better one`;
  if (st.settings.patience > 0) t += ` · patience ${st.settings.patience}`;
  el.textContent = t;
}

function mergeLoss(points, whole) {
  if (whole) app.loss = points.slice();
  else {
    const last = app.loss.length ? app.loss[app.loss.length - 1].step : -1;
    for (const p of points) if (p.step > last) app.loss.push(p);
  }
  if (app.loss.length > MAX_CLIENT_POINTS) app.loss = app.loss.filter((p, i) => i % 2 === 0 || p.val !== undefined || i === app.loss.length - 1);
}

function onFrame(f) {
  app.frames++;
  if (f.status.gen !== app.gen) {
    app.gen = f.status.gen;
    app.loss = [];
  }
  mergeLoss(f.loss || [], f.loss_history);
  showStatus(f.status);
  if (f.sample) { app.sample = f.sample; drawSample(f.sample); }
  if (f.scatter) { app.scatter = f.scatter; drawScatter(); }
  if (f.hist) { app.hist = f.hist; drawHist(); }
  if (f.sample) { app.vae = f.vae || null; drawVAE(); }
  drawLoss();
  document.body.dataset.frames = String(app.frames);
}

function showMessage(msg) {
  $("message").textContent = msg || "";
}

async function control(body) {
  showMessage("");
  try {
    const r = await fetch("/api/control", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) { showMessage(j.error || `HTTP ${r.status}`); return null; }
    showStatus(j.status);
    return j.status;
  } catch (e) {
    showMessage("request failed: " + e);
    return null;
  }
}

function num(id) { return Number($(id).value); }

function selectSample(i) {
  const max = app.state.limits.sample_max;
  if (!Number.isInteger(i) || i < 0 || i > max) { showMessage(`sample must be a whole number in 0…${max}`); return; }
  control({ action: "select", sample: i });
}

function wire() {
  $("start").onclick = () => control({ action: "start" });
  $("pause").onclick = () => control({ action: "pause" });
  $("reset").onclick = () => control({ action: "reset", lr: num("lr"), latent: num("latent"), variant: $("variant").value, noise: num("noise"),
    patience: $("patience").value.trim() === "" ? undefined : num("patience") });
  $("lr").onchange = () => control({ action: "set", lr: num("lr") });
  $("patience").onchange = () => {
    if ($("patience").value.trim() === "") { showMessage("patience: enter a number of epochs (0: off)"); return; }
    control({ action: "set", patience: num("patience") });
  };
  for (const id of ["latent", "variant", "noise"]) {
    $(id).onchange = () => {
      app.dirty.add(id);
      $("pending").hidden = false;
    };
  }
  $("sample").onchange = () => selectSample(num("sample"));
  $("prev").onclick = () => selectSample(Math.max(0, (app.sample ? app.sample.index : 0) - 1));
  $("next").onclick = () => selectSample(Math.min(app.state.limits.sample_max, (app.sample ? app.sample.index : 0) + 1));
  $("random").onclick = () => selectSample(Math.floor(Math.random() * (app.state.limits.sample_max + 1)));
  $("scatter").onclick = (ev) => {
    if (!app.scatterXY) return;
    const r = ev.target.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
    let best = null, bd = 100;
    for (const [px, py, row] of app.scatterXY) {
      const d = (px - x) ** 2 + (py - y) ** 2;
      if (d < bd) { bd = d; best = row; }
    }
    if (best !== null) selectSample(best);
  };
  let t = null;
  window.addEventListener("resize", () => {
    clearTimeout(t);
    t = setTimeout(() => { app.layersKey = ""; if (app.status) drawNetwork(app.status); drawLoss(); drawScatter(); drawHist(); if (app.sample) drawSample(app.sample); drawVAE(); }, 100);
  });
}

async function main() {
  wire();
  const r = await fetch("/api/state");
  app.state = await r.json();
  const s = app.state;
  $("backend").textContent = s.backend;
  $("backend").title = s.device_note || s.backend;
  $("source").textContent = `${s.data.source} · ${s.data.rows.toLocaleString()}×${s.data.cols} (${s.data.train_rows} train, ${s.data.val_rows} validation)` + (s.data.model_dir ? ` · from model ${s.data.model_dir}` : "");
  for (const v of s.variants) {
    const o = document.createElement("option");
    o.value = o.textContent = v;
    $("variant").appendChild(o);
  }
  $("latent").max = s.limits.latent_max;
  $("lr").max = s.limits.lr_max;
  $("noise").max = s.limits.noise_max;
  $("patience").max = s.limits.patience_max;
  $("sample").max = s.limits.sample_max;
  document.body.classList.toggle("images", isImage());
  drawLegend();
  if (s.frame) onFrame(s.frame); else showStatus(s.status);
  const es = new EventSource("/events");
  es.onmessage = (ev) => {
    onFrame(JSON.parse(ev.data));
    $("status").dataset.ready = "1";
  };
  // Leaving the page ends the stream at once (also when the browser keeps
  // the page in its back/forward cache).
  window.addEventListener("pagehide", () => es.close());
  es.onerror = () => { $("st-state").textContent = "reconnecting…"; $("st-state").className = "pill error"; };
}

main().catch((e) => showMessage("could not load the state: " + e));
