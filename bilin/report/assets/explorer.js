// The eigenvector explorer. For class c: logit_c(x) = sum_k lambda_k (u_k . x)^2, exactly.
// Top-k logits come from the page's top components; "all d" from the model's weights:
// h = E x, logits = H ((L h) * (R h)). Everything is computed here in float64.
// The input x is the drawn or test image plus alpha times a class's adversarial mask (docs/science.md
// section 9: pinv of its top eigenvectors times |lambda|, unit norm), read from the weights alone.
"use strict";
(function () {
  const raw = JSON.parse(document.getElementById("explorer-data").textContent);

  function halfToFloat(h) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    if (exp === 0) return sign * Math.pow(2, -14) * (frac / 1024);
    if (exp === 31) return frac ? NaN : sign * Infinity;
    return sign * Math.pow(2, exp - 15) * (1 + frac / 1024);
  }
  function decode(a) {
    const bin = atob(a.b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const buf = bytes.buffer;
    if (a.dtype === "f2") {
      const h = new Uint16Array(buf), out = new Float64Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]);
      return out;
    }
    const view = { f4: Float32Array, i4: Int32Array, u1: Uint8Array }[a.dtype];
    return Float64Array.from(new view(buf));
  }

  const C = raw.classes.length, [H, W] = raw.shape, I = H * W;
  const D = raw.values.shape[1], K = raw.topValues.shape[1], Dh = raw.embed.shape[0];  // D = Dh + 1 with biases
  const values = decode(raw.values), topValues = decode(raw.topValues), topRank = decode(raw.topRank);
  const topVectors = decode(raw.topVectors), E = decode(raw.embed), L = decode(raw.left);
  const R = decode(raw.right), Hd = decode(raw.head);
  // a model with biases: each kept vector's constant coordinate (u_k·[x; 1]) and the biases themselves
  const biased = "topConstants" in raw, zeros = (n) => new Float64Array(n);
  const topConstants = biased ? decode(raw.topConstants) : zeros(C * K);
  const bL = biased ? decode(raw.leftBias) : zeros(Dh), bR = biased ? decode(raw.rightBias) : zeros(Dh);
  const bU = biased ? decode(raw.headBias) : zeros(C);
  const images = decode(raw.images), labels = decode(raw.labels), indices = decode(raw.indices);
  const masks = "masks" in raw ? decode(raw.masks) : null;  // (C, I) unit norm; none for a model with biases
  const BLUE_RED = raw.colours.diverging, BLUE = raw.colours.positive, RED = raw.colours.negative;

  // base: the drawn or test image; x = base + alpha * masks[maskClass], what the model sees (not clamped)
  const state = { base: new Float64Array(I), x: new Float64Array(I), maskClass: -1, alpha: 0,
                  cls: 0, k: K + 1, shown: 0, proj: new Float64Array(C * K) };
  function compose() {
    const o = state.maskClass * I, on = masks !== null && state.maskClass >= 0;
    for (let i = 0; i < I; i++) state.x[i] = state.base[i] + (on ? state.alpha * masks[o + i] : 0);
  }

  function matvec(M, rows, cols, v) {
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      const o = r * cols;
      for (let c = 0; c < cols; c++) s += M[o + c] * v[c];
      out[r] = s;
    }
    return out;
  }
  function logitsFull() {
    const h = matvec(E, Dh, I, state.x), l = matvec(L, Dh, Dh, h), r = matvec(R, Dh, Dh, h);
    for (let i = 0; i < Dh; i++) l[i] = (l[i] + bL[i]) * (r[i] + bR[i]);
    return Array.from(matvec(Hd, C, Dh, l), (z, c) => z + bU[c]);
  }
  function project() {
    for (let c = 0; c < C; c++)
      for (let j = 0; j < K; j++) {
        let s = topConstants[c * K + j];
        const o = (c * K + j) * I;
        for (let i = 0; i < I; i++) s += topVectors[o + i] * state.x[i];
        state.proj[c * K + j] = s;
      }
  }
  function contributions(c) {
    const out = [];
    for (let j = 0; j < K; j++) out.push(topValues[c * K + j] * state.proj[c * K + j] ** 2);
    return out;
  }
  function logitsTop(k) {
    if (k > K) return logitsFull();
    const out = [];
    for (let c = 0; c < C; c++) out.push(contributions(c).slice(0, k).reduce((a, b) => a + b, 0));
    return out;
  }

  // -- drawing ---------------------------------------------------------------------------
  const canvas = document.getElementById("canvas"), ctx2d = canvas.getContext("2d");
  // a soft pen about as wide as an MNIST stroke: full ink within ~0.8 px of its path, fading by 2.5 px
  const SIGMA = 1.0, REACH = 2.5, INK = 1.4;
  function paintAt(px, py) {
    for (let i = Math.max(0, Math.floor(py - REACH)); i <= Math.min(H - 1, Math.ceil(py + REACH)); i++)
      for (let j = Math.max(0, Math.floor(px - REACH)); j <= Math.min(W - 1, Math.ceil(px + REACH)); j++) {
        const d2 = (i - py) ** 2 + (j - px) ** 2;
        const ink = Math.min(1, INK * Math.exp(-d2 / (2 * SIGMA * SIGMA)));
        if (d2 <= REACH * REACH) state.base[i * W + j] = Math.max(state.base[i * W + j], ink);
      }
  }
  function stroke(from, to) {
    const n = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) / 0.2));
    for (let s = 0; s <= n; s++) paintAt(from[0] + ((to[0] - from[0]) * s) / n, from[1] + ((to[1] - from[1]) * s) / n);
  }
  function pixelOf(event) {
    const box = canvas.getBoundingClientRect(), left = box.left + canvas.clientLeft, top = box.top + canvas.clientTop;
    return [((event.clientX - left) / canvas.clientWidth) * W - 0.5, ((event.clientY - top) / canvas.clientHeight) * H - 0.5];
  }
  let last = null;
  canvas.addEventListener("pointerdown", (e) => {
    const picker = document.getElementById("picker");
    if (picker.value !== "") state.base.fill(0);  // a test image is shown: the drawing starts blank, not on top of it
    picker.value = "";
    last = pixelOf(e);
    stroke(last, last);
    changed();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (last === null) return;
    const here = pixelOf(e);
    stroke(last, here);
    last = here;
    changed();
  });
  window.addEventListener("pointerup", () => { last = null; });
  document.getElementById("clear").addEventListener("click", () => {
    state.base.fill(0);
    document.getElementById("picker").value = "";
    changed();
  });

  // -- views -----------------------------------------------------------------------------
  const fmt = (v) => v.toFixed(4);
  function cell(text, className, value) {
    const td = document.createElement("td");
    td.textContent = String(text);
    if (className) td.className = className;
    if (value !== undefined) td.dataset.value = String(value);
    return td;
  }
  function drawCanvas() {
    const img = ctx2d.createImageData(W, H);
    for (let i = 0; i < I; i++) {
      const g = Math.round(Math.min(1, Math.max(0, state.x[i])) * 255);
      img.data.set([g, g, g, 255], 4 * i);
    }
    ctx2d.putImageData(img, 0, 0);
  }
  function drawLogits() {
    const top = logitsTop(state.k), full = logitsFull();
    const argmax = (v) => v.indexOf(Math.max(...v));
    const bestTop = argmax(top), bestFull = argmax(full);  // each column's own prediction, in bold
    const body = document.querySelector("#logits-table tbody");
    body.replaceChildren();  // class names come from model.json: text only, never parsed as HTML
    raw.classes.forEach((name, c) => {
      const tr = document.createElement("tr");
      tr.append(
        cell(name),
        cell(fmt(top[c]), c === bestTop ? "top-k predicted" : "top-k", top[c]),
        cell(fmt(full[c]), c === bestFull ? "full predicted" : "full", full[c]),
      );
      body.appendChild(tr);
    });
    const kLabel = state.k > K ? `all ${D}` : `top ${state.k}`;
    document.getElementById("topk-head").textContent = kLabel;
    Plotly.react("logits", [
      { type: "bar", x: raw.classes, y: top, name: `${kLabel} component${state.k === 1 ? "" : "s"}`, marker: { color: "#67a9cf" } },
      { type: "scatter", mode: "markers", x: raw.classes, y: full, name: "full (the weights)",
        marker: { color: "#222", symbol: "line-ew-open", size: 18, line: { width: 2 } } },
    ], { margin: { t: 10, l: 50, r: 10, b: 40 }, yaxis: { title: { text: "logit" } }, showlegend: true,
         xaxis: { type: "category", title: { text: "class" } },
         legend: { orientation: "h", y: 1.12 } }, { displayModeBar: false });
    const parts = contributions(state.cls);
    Plotly.react("contrib", [{
      type: "bar", x: parts.map((_, j) => `#${topRank[state.cls * K + j] + 1}`), y: parts,
      marker: { color: parts.map((_, j) => (topValues[state.cls * K + j] >= 0 ? BLUE : RED)) },
      hovertemplate: "component %{x}<br>λ(u·x)² = %{y:.4f}<extra></extra>",
    }], { margin: { t: 10, l: 50, r: 10, b: 70 }, xaxis: { title: { text: "component (rank in spectrum)" }, type: "category" },
          yaxis: { title: { text: "λ (u·x)²" } } }, { displayModeBar: false });
    document.getElementById("contrib-title").textContent =
      `Contributions λ_k (u_k·x)² to class ${raw.classes[state.cls]} (top ${K} by |λ|)`;
  }
  function drawSpectrum() {
    const c = state.cls, kept = new Map();
    for (let j = 0; j < K; j++) kept.set(topRank[c * K + j], j);
    const ranks = Array.from({ length: D }, (_, r) => r + 1), y = ranks.map((r) => values[c * D + r - 1]);
    const keptRanks = [...kept.keys()].sort((a, b) => a - b);
    Plotly.react("spectrum", [
      { type: "scatter", mode: "markers", x: ranks, y, name: "not on this page", marker: { color: "#bbb", size: 4 },
        hoverinfo: "skip" },
      { type: "scatter", mode: "markers", x: keptRanks.map((r) => r + 1), y: keptRanks.map((r) => values[c * D + r]),
        customdata: keptRanks.map((r) => kept.get(r)), name: `top ${K} by |λ|: click one`,
        marker: { size: 8, color: keptRanks.map((r) => (values[c * D + r] >= 0 ? BLUE : RED)) },
        hovertemplate: "rank %{x}<br>λ = %{y:.4f}<extra></extra>" },
    ], { margin: { t: 10, l: 55, r: 10, b: 40 }, hovermode: "closest", xaxis: { title: { text: "rank (descending eigenvalue)" } },
         yaxis: { title: { text: "eigenvalue λ" } }, legend: { orientation: "h", y: 1.15 } }, { displayModeBar: false });
    document.getElementById("spectrum-title").textContent = `Spectrum of class ${raw.classes[c]}`;
  }
  function drawVector() {
    const c = state.cls, j = state.shown, o = (c * K + j) * I;
    const u = topVectors.slice(o, o + I), peak = Math.max(...u.map(Math.abs)) || 1;
    const z = Array.from({ length: H }, (_, i) => Array.from(u.slice(i * W, (i + 1) * W)));
    Plotly.react("vector", [{ type: "heatmap", z, zmin: -peak, zmax: peak, colorscale: BLUE_RED,
      hovertemplate: "row %{y}, col %{x}: %{z:.4f}<extra></extra>" }],
      { margin: { t: 10, l: 30, r: 10, b: 30 }, yaxis: { autorange: "reversed", scaleanchor: "x", constrain: "domain" },
        xaxis: { constrain: "domain" } }, { displayModeBar: false });
    const lam = topValues[c * K + j];
    document.getElementById("vector-title").textContent =
      `Eigenvector #${topRank[c * K + j] + 1} of class ${raw.classes[c]}, λ = ${lam.toFixed(4)} (blue +, red −)`;
  }
  function changed() {
    compose();
    project();
    drawCanvas();
    drawLogits();
  }

  // -- controls --------------------------------------------------------------------------
  const slider = document.getElementById("topk");
  slider.max = K + 1;
  slider.value = state.k;
  function setK(k) {
    state.k = Math.max(1, Math.min(K + 1, k));
    slider.value = state.k;
    document.getElementById("topk-label").textContent = state.k > K ? `all ${D} (the model's weights)` : `top ${state.k} of ${D}`;
    drawLogits();
  }
  slider.addEventListener("input", () => setK(Number(slider.value)));
  function select(c) {
    state.cls = c;
    state.shown = 0;
    document.querySelectorAll("#classes button").forEach((b, i) => b.classList.toggle("on", i === c));
    drawSpectrum();
    drawVector();
    drawLogits();
  }
  function show(j) {
    state.shown = j;
    drawVector();
  }
  raw.classes.forEach((name, c) => {
    const b = document.createElement("button");
    b.textContent = name;
    b.addEventListener("click", () => select(c));
    document.getElementById("classes").appendChild(b);
  });
  const picker = document.getElementById("picker");
  picker.add(new Option("(your drawing)", ""));
  for (let n = 0; n < labels.length; n++) picker.add(new Option(`${raw.classes[labels[n]]}: test image ${indices[n]}`, String(n)));
  picker.addEventListener("change", () => {
    if (picker.value === "") return;
    const n = Number(picker.value);
    for (let i = 0; i < I; i++) state.base[i] = images[n * I + i] / 255;
    changed();
  });
  const maskClass = document.getElementById("mask-class"), alphaSlider = document.getElementById("alpha");
  maskClass.add(new Option("(no mask)", "-1"));
  raw.classes.forEach((name, c) => maskClass.add(new Option(name, String(c))));
  function setMask(c, alpha) {
    state.maskClass = masks === null ? -1 : c;
    state.alpha = alpha;
    maskClass.value = String(state.maskClass);
    alphaSlider.value = String(alpha);
    document.getElementById("alpha-label").textContent = alpha.toFixed(1);
    changed();
  }
  maskClass.addEventListener("change", () => setMask(Number(maskClass.value), state.alpha));
  alphaSlider.addEventListener("input", () => setMask(state.maskClass, Number(alphaSlider.value)));
  maskClass.disabled = alphaSlider.disabled = masks === null;
  document.getElementById("mask-hint").textContent = masks === null
    ? "No mask: with biases the logit is a form in [x; 1], and the mask's formula assumes none."
    : `Mask of class c: pinv of its top ${raw.maskComponents} eigenvectors × |λ|, unit norm (the weights alone). ` +
      "The model sees image + α·mask, unclamped; the canvas shows it cut to [0, 1].";

  document.getElementById("title").textContent = `${raw.name}: eigenvector explorer`;
  document.getElementById("about").textContent =
    `${raw.dataset} bilinear MLP, d = ${Dh}. ` +
    (biased
      ? `For class c, logit_c(x) = Σ_k λ_k (u_k·[x; 1])² exactly: its biases fold into the input's constant 1, ` +
        `so there are d + 1 components; each image shows u_k's pixels, its last coordinate (the weight of the 1) is not drawn. `
      : `For class c, logit_c(x) = Σ_k λ_k (u_k·x)² exactly (no biases). `) +
    `This page holds the top ${K} components of each class by |λ| (float16) and the model's weights (float16), ` +
    `so the top-k logits and the full logits (slider at "all ${D}") are computed here as you draw. ` +
    `Each eigenvector is oriented so that its class's test images project positively on average (mean u·x > 0); ` +
    `blue is positive, red negative.`;

  select(0);
  setK(K + 1);
  setMask(-1, 0);
  picker.value = "0";  // start from the first test image; drawing replaces it
  picker.dispatchEvent(new Event("change"));
  document.getElementById("spectrum").on("plotly_click", (ev) => {
    const p = ev.points.find((q) => q.customdata !== undefined);
    if (p) show(p.customdata);
  });
  window.explorer = { state, K, D, classes: raw.classes, logitsFull, logitsTop, select, show, setK, setMask,
    vector: (c, j) => Array.from(topVectors.slice((c * K + j) * I, (c * K + j + 1) * I)) };
})();
