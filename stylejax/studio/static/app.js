// stylejax studio: the page. Plain JavaScript, no build step, nothing from the internet.
// It talks to the HTTP API only (see README "Studio"); the token, when the server has one,
// travels as a cookie set when the page was first opened with ?token=.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  content: null, // {blob, name}
  styles: [], // [{blob, name}]
  mask: null, // {blob, name}: spatial control, region k of the mask takes style k
  watching: null, // job id whose events are open
  source: null, // its EventSource
  records: [], // loss records of the watched job (member 0)
  budget: 0,
  sweep: null, // {axis, values, ids, cells, next}
  previews: [], // versions of the preview that finished loading (read by the browser test)
};
window.studio = state;

// --- small helpers ------------------------------------------------------------------------------

function fmt(x, digits = 3) {
  if (x === null || x === undefined || !isFinite(x)) return "–";
  if (x !== 0 && (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-2)) return x.toExponential(digits - 1);
  return (+x.toPrecision(digits)).toString();
}
function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
function message(text) { $("message").textContent = text || ""; }
async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// --- pickers ------------------------------------------------------------------------------------

function showContent() {
  $("content-thumb").src = URL.createObjectURL(state.content.blob);
  $("content-name").textContent = state.content.name;
}
function showStyles() {
  const box = $("style-thumbs");
  box.replaceChildren(...state.styles.map((s) => {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(s.blob);
    img.alt = "";
    return img;
  }));
  $("style-name").textContent = state.styles.map((s) => s.name).join(", ");
}
const MASK_HINT = $("mask-name").textContent; // shown while there is no mask
function showMask() {
  const on = state.mask !== null;
  const url = on ? URL.createObjectURL(state.mask.blob) : "";
  for (const id of ["mask-thumb", "mask-over"]) { // the mask, and the mask over the content
    $(id).hidden = !on;
    if (on) $(id).src = url;
  }
  $("mask-clear").hidden = !on;
  $("mask-name").textContent = on ? state.mask.name : MASK_HINT;
}
function picker(dropId, inputId, take) {
  const drop = $(dropId), input = $(inputId);
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => { if (input.files.length) take([...input.files]); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const files = [...e.dataTransfer.files].filter((f) => f.type.startsWith("image/"));
    if (files.length) take(files);
    else message("drop image files (PNG, JPEG, ...)");
  });
}
async function loadSamples() {
  const get = async (name) => ({ blob: await (await fetch(`/samples/${name}`)).blob(), name });
  const [content, style] = await Promise.all([get("content.jpg"), get("style.jpg")]);
  if (!state.content) { state.content = content; showContent(); }
  if (!state.styles.length) { state.styles = [style]; showStyles(); }
}

// --- settings -----------------------------------------------------------------------------------

// The server's defaults (GET /api/defaults: the library's, or its --preset): the controls
// start at them, and a setting nobody touched is sent as exactly that value (the pyramid: not
// sent, so that the library's automatic rule applies).
const defaults = { options: null, pyramid: { from: 512, start: 128 }, touched: new Set() };

function styleWeight() {
  if (defaults.options && !defaults.touched.has("style-weight")) return defaults.options.style_weight;
  return Number(Math.pow(10, +$("style-weight").value).toPrecision(2));
}
function pyramidStart() { return Math.min(+$("size").value, defaults.pyramid.start); }
function pyramidByDefault() {
  const size = +$("size").value, minSize = defaults.options ? defaults.options.min_size : null;
  return minSize === null ? size >= defaults.pyramid.from : minSize < size;
}
async function loadDefaults() {
  const served = await api("/api/defaults");
  defaults.options = served.options;
  defaults.pyramid = served.pyramid;
  $("preset-note").textContent = served.preset ? `preset ${served.preset}` : "";
  const o = served.options;
  const values = {
    size: o.size, evaluations: o.evaluations, seed: o.seed, "save-every": o.save_every,
    "style-weight": Math.log10(o.style_weight), "content-layer": o.content_layer,
    init: o.init, "preserve-colors": o.preserve_colors || "",
  };
  for (const [id, value] of Object.entries(values)) {
    if (!defaults.touched.has(id)) $(id).value = value;
  }
  updateOutputs();
}
function updateOutputs() {
  if (!defaults.touched.has("pyramid")) $("pyramid").checked = pyramidByDefault();
  $("size-out").textContent = `${$("size").value} px`;
  $("style-weight-out").textContent = styleWeight().toExponential(1).replace("e+", "e");
  $("pyramid-note").textContent = $("pyramid").checked
    ? `from ${pyramidStart()} px` : "coarse to fine";
  $("controls").querySelector(".sweep").classList.toggle("on", $("sweep").checked);
}
function options() {
  const o = {
    size: +$("size").value,
    evaluations: +$("evaluations").value,
    style_weight: styleWeight(),
    content_layer: $("content-layer").value,
    init: $("init").value,
    seed: +$("seed").value,
    save_every: Math.min(+$("save-every").value, +$("evaluations").value),
  };
  // Untouched, the library decides (a pyramid from 512 px on); unchecked means one scale.
  if (defaults.touched.has("pyramid")) o.min_size = $("pyramid").checked ? pyramidStart() : o.size;
  if ($("preserve-colors").value) o.preserve_colors = $("preserve-colors").value;
  return o;
}
function sweepValues() {
  const axis = $("sweep-axis").value;
  const words = $("sweep-values").value.split(/[\s,]+/).filter(Boolean);
  if (!words.length) throw new Error("give the sweep some values, separated by spaces");
  if (axis === "content_layer") return words;
  const numbers = words.map(Number);
  const bad = words.find((w, i) => !isFinite(numbers[i]));
  if (bad !== undefined) throw new Error(`sweep value ${bad} is not a number`);
  return axis === "seed" ? numbers.map(Math.round) : numbers;
}

// --- jobs ---------------------------------------------------------------------------------------

async function submit(opts) {
  const form = new FormData();
  form.append("content", state.content.blob, state.content.name);
  for (const s of state.styles) form.append("style", s.blob, s.name);
  if (state.mask) form.append("mask", state.mask.blob, state.mask.name);
  form.append("options", JSON.stringify(opts));
  return (await api("/api/jobs", { method: "POST", body: form })).id;
}
async function start(event) {
  event.preventDefault();
  message("");
  if (!state.content || !state.styles.length) { message("pick a content and a style image"); return; }
  $("start").disabled = true;
  try {
    const base = options();
    if ($("sweep").checked) {
      const axis = $("sweep-axis").value, values = sweepValues();
      const ids = [];
      for (const value of values) ids.push(await submit({ ...base, [axis]: value }));
      makeSheet(axis, values, ids);
      watch(ids[0]);
      loadGallery();
setInterval(loadGallery, 5000);
    } else {
      state.sweep = null;
      $("sheet-wrap").hidden = true;
      watch(await submit(base));
      loadGallery();
setInterval(loadGallery, 5000);
    }
    $("stop").disabled = false;
  } catch (error) {
    message(error.message);
  } finally {
    $("start").disabled = false;
  }
}
async function stop() {
  const ids = state.sweep ? state.sweep.ids : [state.watching];
  $("stop").disabled = true;
  for (const id of ids) {
    if (id) await api(`/api/jobs/${id}`, { method: "DELETE" }).catch((e) => message(e.message));
  }
}

// Follows one job's events; a sweep follows its jobs one after the other (one connection).
function watch(id) {
  if (state.source) state.source.close();
  state.watching = id;
  state.records = [];
  state.previewVersion = -1;
  for (const a of ["dl-png", "dl-gif", "dl-log"]) $(a).classList.add("disabled");
  const source = new EventSource(`/api/jobs/${id}/events`);
  state.source = source;
  source.addEventListener("progress", (e) => show(id, JSON.parse(e.data), false));
  source.addEventListener("end", (e) => {
    source.close();
    if (state.source === source) state.source = null;
    show(id, JSON.parse(e.data), true);
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) message("lost the connection to the server");
  };
}

function show(id, job, ended) {
  if (id !== state.watching) return;
  if (job.records_from === 0) state.records = [];
  state.records.push(...job.records);
  state.budget = job.budget;
  const position = job.status === "queued" && job.position ? ` (#${job.position} in queue)` : "";
  $("status").textContent = job.status + position;
  $("evals").textContent = `${job.evaluations} / ${job.budget}`;
  $("loss").textContent = fmt(job.loss ? job.loss.total : null);
  $("rate").textContent = job.rate ? `${fmt(job.rate)} /s` : "–";
  $("eta").textContent = job.status === "running" ? duration(job.eta) : "–";
  drawCurve();
  const hasImage = job.evaluations > 0 || job.status === "finished";
  if (hasImage) refreshPreview(id, job.version);
  if (state.sweep) updateCell(id, job, hasImage);
  if (ended) {
    if (job.error) message(`${job.status}: ${job.error}`);
    if (job.evaluations > 0) {
      for (const [a, file] of [["dl-png", "result.png"], ["dl-gif", "result.gif"],
        ["dl-log", "log.json"]]) {
        $(a).href = `/api/jobs/${id}/${file}`;
        $(a).classList.remove("disabled");
      }
    } else {
      $("dl-log").href = `/api/jobs/${id}/log.json`;
      $("dl-log").classList.remove("disabled");
    }
    loadGallery();
setInterval(loadGallery, 5000);
    const next = state.sweep && state.sweep.ids[state.sweep.ids.indexOf(id) + 1];
    if (next) watch(next);
    else $("stop").disabled = true;
  }
}

// Loads the newest preview, one request at a time: versions that arrive meanwhile are skipped.
function refreshPreview(id, version) {
  state.wantedPreview = { id, version };
  const img = $("preview");
  if (img.dataset.loading === "1") return;
  img.dataset.loading = "1";
  img.onload = img.onerror = (e) => {
    img.dataset.loading = "0";
    if (e.type === "load") {
      img.dataset.version = String(version);
      state.previews.push(`${id}:${version}`);
    }
    const wanted = state.wantedPreview;
    if (wanted && (wanted.id !== id || wanted.version !== version)) {
      refreshPreview(wanted.id, wanted.version);
    }
  };
  img.src = `/api/jobs/${id}/image?v=${version}`;
}

// --- the loss curve (log scale, total loss against evaluations) ---------------------------------

function drawCurve() {
  const canvas = $("curve");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const points = state.records.filter((r) => r.total > 0 && isFinite(r.total));
  ctx.fillStyle = "#6b6b6b";
  ctx.font = "11px system-ui, sans-serif";
  if (points.length < 2) {
    ctx.fillText("loss curve", 8, 16);
    return;
  }
  const logs = points.map((r) => Math.log10(r.total));
  let lo = Math.min(...logs), hi = Math.max(...logs);
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const xMax = Math.max(state.budget, points[points.length - 1].evaluations, 1);
  const left = 44, right = 8, top = 8, bottom = 18;
  const x = (e) => left + ((width - left - right) * e) / xMax;
  const y = (l) => top + ((height - top - bottom) * (hi - l)) / (hi - lo);
  ctx.strokeStyle = "#ddd8cf";
  ctx.lineWidth = 1;
  const powers = [];
  for (let p = Math.ceil(lo); p <= Math.floor(hi); p++) powers.push(p);
  for (const p of powers) {
    ctx.beginPath(); ctx.moveTo(left, y(p)); ctx.lineTo(width - right, y(p)); ctx.stroke();
    ctx.fillText(`1e${p}`, 4, y(p) + 4);
  }
  if (powers.length < 2) { // a narrow range: label its ends too, where no decade's label is
    const clear = (middle) => powers.every((p) => Math.abs(y(p) - middle) >= 12);
    if (clear(top + 4)) ctx.fillText(fmt(Math.pow(10, hi), 2), 4, top + 8);
    if (clear(height - bottom - 4)) ctx.fillText(fmt(Math.pow(10, lo), 2), 4, height - bottom);
  }
  ctx.fillText(`${xMax} evals`, width - right - 56, height - 4);
  ctx.fillText("0", left, height - 4);
  ctx.strokeStyle = "#2d5b8a";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach((r, i) => {
    const px = x(r.evaluations), py = y(logs[i]);
    if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
  });
  ctx.stroke();
}

// --- sweep: a contact sheet filled cell by cell --------------------------------------------------

function makeSheet(axis, values, ids) {
  const cells = ids.map((id, i) => {
    const figure = document.createElement("figure");
    figure.className = "cell";
    figure.dataset.job = id;
    const img = document.createElement("img");
    img.alt = `${axis} = ${values[i]}`;
    const caption = document.createElement("figcaption");
    const label = document.createElement("span");
    label.textContent = axis === "style_weight"
      ? (+values[i]).toExponential(0).replace("e+", "e") : values[i];
    const status = document.createElement("span");
    status.textContent = "queued";
    caption.append(label, status);
    figure.append(img, caption);
    figure.addEventListener("click", () => watch(id));
    return figure;
  });
  state.sweep = { axis, values, ids, cells };
  $("sheet").replaceChildren(...cells);
  $("sheet-axis").textContent = `vary ${axis.replace("_", " ")}`;
  $("sheet-wrap").hidden = false;
}
function updateCell(id, job, hasImage) {
  const cell = state.sweep.cells[state.sweep.ids.indexOf(id)];
  if (!cell) return;
  cell.classList.toggle("running", job.status === "running");
  cell.querySelector("figcaption span:last-child").textContent =
    job.status === "running" ? `${job.evaluations}/${job.budget}` : job.status;
  const img = cell.querySelector("img");
  if (hasImage && (job.status !== "running" || img.dataset.loading !== "1")) {
    img.dataset.loading = "1";
    img.onload = img.onerror = () => { img.dataset.loading = "0"; };
    img.src = `/api/jobs/${id}/image?v=${job.version}`;
  }
}

// --- gallery of this server's finished jobs ------------------------------------------------------

async function loadGallery() {
  let jobs;
  try {
    jobs = (await api("/api/jobs")).jobs;
  } catch (error) {
    $("server").textContent = `server unreachable: ${error.message}`;
    return;
  }
  const running = jobs.filter((j) => j.status === "running").length;
  const queued = jobs.filter((j) => j.status === "queued").length;
  const all = jobs.length === 1 ? "1 job" : `${jobs.length} jobs`;
  $("server").textContent = `${running} running, ${queued} queued, ${all} in all`;
  const done = jobs.filter((j) => j.status !== "queued" && j.status !== "running"
    && j.evaluations > 0);
  const gallery = $("gallery");
  if (!done.length) return;
  gallery.replaceChildren(...done.map((job) => {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = `/api/jobs/${job.id}/image`;
    img.alt = `job ${job.id}`;
    const caption = document.createElement("figcaption");
    const when = new Date(job.created * 1000).toLocaleTimeString();
    const weight = job.options.style_weight;
    caption.textContent = `${when} · ${job.status}` + (weight ? ` · sw ${fmt(+weight, 2)}` : "");
    figure.append(img, caption);
    figure.addEventListener("click", () => { state.sweep = null; watch(job.id); });
    return figure;
  }));
}

// --- start ----------------------------------------------------------------------------------------

picker("content-drop", "content-file", (files) => {
  state.content = { blob: files[0], name: files[0].name };
  showContent();
});
picker("style-drop", "style-file", (files) => {
  state.styles = files.map((f) => ({ blob: f, name: f.name }));
  showStyles();
});
picker("mask-drop", "mask-file", (files) => {
  state.mask = { blob: files[0], name: files[0].name };
  showMask();
});
$("mask-clear").addEventListener("click", (e) => {
  e.stopPropagation(); // not a click on the drop zone, which would open the file chooser
  state.mask = null;
  $("mask-file").value = "";
  showMask();
});
// Before updateOutputs, which keeps untouched settings at their defaults.
for (const control of $("controls").querySelectorAll(".options input, .options select")) {
  const mark = () => defaults.touched.add(control.id);
  control.addEventListener("input", mark);
  control.addEventListener("change", mark);
}
for (const id of ["size", "style-weight", "pyramid", "sweep"]) {
  $(id).addEventListener("input", updateOutputs);
}
$("controls").addEventListener("submit", start);
$("stop").addEventListener("click", stop);
window.addEventListener("resize", drawCurve);
updateOutputs();
drawCurve();
loadDefaults().catch((error) => message(`cannot load the server's defaults: ${error.message}`));
loadSamples().catch((error) => message(`cannot load the sample images: ${error.message}`));
loadGallery();
setInterval(loadGallery, 5000);
