// The page of `sd serve`: a form over the OpenAI-style routes, live progress from their
// server-sent events, an init image with a mask painted on it for img2img and inpainting, and a
// gallery of the pictures with the parameters each PNG carries. No libraries, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const SAMPLERS = ["euler_a", "euler", "heun", "dpm2", "dpm++2s_a", "dpm++2m", "dpm++2mv2", "ipndm", "ipndm_v", "lcm", "ddim_trailing"];
const SCHEDULERS = ["", "discrete", "karras", "exponential", "ays", "gits", "simple", "sgm_uniform", "lcm"];

const page = {
  key: localStorage.getItem("sd-api-key") || "",
  running: null, // {controller, jobId}
  init: null, // {file, width, height}
  masked: false,
  progressEvents: 0,
};

function headers(extra = {}) {
  return page.key ? { ...extra, Authorization: `Bearer ${page.key}` } : extra;
}

// A 401 shows the key field; the key is kept in this browser only.
async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (response.status === 401) {
    $("key-label").hidden = false;
    throw new Error("this server needs an API key: enter it above");
  }
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error ? `${body.error.message}${body.error.param ? ` (${body.error.param})` : ""}` : JSON.stringify(body);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function fillSelect(select, values, labels = {}) {
  select.replaceChildren(...values.map((v) => new Option(labels[v] || v || "the sampler's", v)));
}

async function loadModels() {
  try {
    const response = await api("/v1/models");
    if (!response.ok) throw new Error(await errorText(response));
    const models = (await response.json()).data;
    fillSelect($("model"), models.map((m) => m.id));
    const preferred = models.find((m) => m.default) || models[0];
    if (preferred) $("model").value = preferred.id;
  } catch (error) {
    showError(error.message);
  }
}

async function refreshState() {
  try {
    const health = await (await fetch("/health")).json();
    $("server-state").textContent = `${health.running} running, ${health.queued} queued`;
  } catch {
    $("server-state").textContent = "server unreachable";
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// MARK: init image and mask

async function setInitImage(file) {
  const bitmap = await createImageBitmap(file);
  const init = $("init-canvas"), mask = $("mask-canvas");
  for (const canvas of [init, mask]) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  init.getContext("2d").drawImage(bitmap, 0, 0);
  mask.getContext("2d").clearRect(0, 0, mask.width, mask.height);
  page.init = { file, width: bitmap.width, height: bitmap.height };
  page.masked = false;
  // The server resizes the picture to the asked size: start from its own, in multiples of 8.
  $("width").value = Math.max(64, Math.floor(bitmap.width / 8) * 8);
  $("height").value = Math.max(64, Math.floor(bitmap.height / 8) * 8);
  $("canvas-box").hidden = false;
  $("mask-hint").hidden = false;
}

function removeInitImage() {
  page.init = null;
  page.masked = false;
  $("init-file").value = "";
  $("canvas-box").hidden = true;
  $("mask-hint").hidden = true;
}

function paintMask() {
  const canvas = $("mask-canvas");
  const context = canvas.getContext("2d");
  let last = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * canvas.width) / box.width, y: ((event.clientY - box.top) * canvas.height) / box.height };
  };
  const stroke = (from, to) => {
    const box = canvas.getBoundingClientRect();
    context.strokeStyle = "#fff";
    context.lineCap = "round";
    context.lineWidth = (Number($("brush").value) * canvas.width) / box.width;
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x, to.y);
    context.stroke();
    page.masked = true;
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    stroke(last, next);
    last = next;
  });
  const end = () => { last = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
}

// The mask as the server reads it: white = repaint, black = keep.
function maskBlob() {
  const mask = $("mask-canvas");
  const out = document.createElement("canvas");
  out.width = mask.width;
  out.height = mask.height;
  const context = out.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, out.width, out.height);
  context.drawImage(mask, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

// MARK: generation

function settings() {
  const seed = Number($("seed").value);
  return {
    model: $("model").value,
    prompt: $("prompt").value,
    negative_prompt: $("negative").value,
    size: `${$("width").value}x${$("height").value}`,
    steps: Number($("steps").value),
    cfg_scale: Number($("cfg").value),
    sample_method: $("sampler").value,
    scheduler: $("scheduler").value,
    seed: Number.isFinite(seed) ? seed : -1,
    n: Number($("n").value),
    strength: page.init ? Number($("strength").value) : undefined,
  };
}

async function request(s) {
  const common = { ...s, response_format: "b64_json", stream: true, preview: true };
  if (!common.scheduler) delete common.scheduler;
  if (!page.init) {
    delete common.strength;
    return { path: "/v1/images/generations", body: JSON.stringify(common), type: "application/json" };
  }
  const form = new FormData();
  for (const [key, value] of Object.entries(common)) if (value !== undefined) form.append(key, String(value));
  form.append("image", page.init.file, page.init.file.name || "image.png");
  if (page.masked) form.append("mask", await maskBlob(), "mask.png");
  return { path: "/v1/images/edits", body: form };
}

async function generate(event) {
  event.preventDefault();
  if (page.running) return;
  showError("");
  const s = settings();
  const controller = new AbortController();
  page.running = { controller, jobId: null };
  setRunning(true);
  try {
    const r = await request(s);
    const response = await api(r.path, {
      method: "POST", body: r.body, signal: controller.signal, headers: r.type ? { "Content-Type": r.type } : {},
    });
    if (!response.ok) throw new Error(await errorText(response));
    await readEvents(response, s);
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message);
    else $("progress-text").textContent = "cancelled";
  } finally {
    page.running = null;
    setRunning(false);
    refreshState();
  }
}

// Server-sent events over the POST's body (EventSource only does GET).
async function readEvents(response, s) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name && data) handleEvent(name, JSON.parse(data), s);
    }
  }
}

function handleEvent(name, data, s) {
  const text = $("progress-text");
  switch (name) {
    case "queued":
      page.running.jobId = data.id;
      text.textContent = data.position > 0 ? `waiting (position ${data.position})` : "starting";
      break;
    case "started":
      text.textContent = "started";
      break;
    case "progress": {
      page.progressEvents += 1;
      $("status").dataset.progressEvents = String(page.progressEvents);
      // Picture and step count from 1.
      const done = (data.image - 1) * data.steps + data.step;
      $("progress").value = done / (data.images * data.steps);
      text.textContent = `picture ${data.image}/${data.images}, step ${data.step}/${data.steps}, ${data.eta_seconds.toFixed(1)} s left`;
      if (data.preview) {
        $("preview").src = `data:image/png;base64,${data.preview}`;
        $("preview").hidden = false;
      }
      break;
    }
    case "completed":
      $("progress").value = 1;
      text.textContent = `done: ${data.data.length} picture${data.data.length === 1 ? "" : "s"}`;
      for (const item of data.data) addCard(item, s);
      break;
    case "error":
      showError(data.error ? data.error.message : "the generation failed");
      text.textContent = "failed";
      break;
  }
}

async function cancel() {
  const running = page.running;
  if (!running) return;
  if (running.jobId) {
    try { await api(`/v1/images/jobs/${running.jobId}/cancel`, { method: "POST" }); } catch { /* the abort below ends it too */ }
  }
  running.controller.abort();
}

function setRunning(running) {
  $("generate").disabled = running;
  $("cancel").disabled = !running;
  if (running) {
    $("progress").value = 0;
    $("progress-text").textContent = "sending";
    $("preview").hidden = true;
  }
}

// MARK: gallery

// The A1111 parameters text of a PNG (its tEXt chunk "parameters"), or null.
function pngParameters(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "tEXt") {
      const zero = data.indexOf(0);
      const key = String.fromCharCode(...data.subarray(0, zero));
      if (key === "parameters") return new TextDecoder("latin1").decode(data.subarray(zero + 1));
    }
    if (type === "IDAT" || type === "IEND") break;
    at += 12 + length;
  }
  return null;
}

function addCard(item, s) {
  const card = $("card").content.firstElementChild.cloneNode(true);
  const source = `data:image/png;base64,${item.b64_json}`;
  card.querySelector("img").src = source;
  card.querySelector("img").alt = item.prompt || s.prompt;
  card.querySelector(".params").textContent = pngParameters(item.b64_json) || `${s.prompt}\nSeed: ${item.seed}`;
  const link = card.querySelector(".download");
  link.href = source;
  link.download = `sd-${item.seed}.png`;
  card.querySelector(".reuse").addEventListener("click", () => reuse({ ...s, seed: item.seed }));
  $("gallery").prepend(card);
}

function reuse(s) {
  $("model").value = s.model;
  $("prompt").value = s.prompt;
  $("negative").value = s.negative_prompt;
  const [width, height] = s.size.split("x");
  $("width").value = width;
  $("height").value = height;
  $("steps").value = s.steps;
  $("cfg").value = s.cfg_scale;
  $("sampler").value = s.sample_method;
  $("scheduler").value = s.scheduler;
  $("seed").value = s.seed;
  $("n").value = 1;
}

// MARK: start

fillSelect($("sampler"), SAMPLERS);
fillSelect($("scheduler"), SCHEDULERS);
$("api-key").value = page.key;
$("api-key").addEventListener("change", () => {
  page.key = $("api-key").value.trim();
  localStorage.setItem("sd-api-key", page.key);
  loadModels();
});
$("form").addEventListener("submit", generate);
$("cancel").addEventListener("click", cancel);
$("init-file").addEventListener("change", () => { const f = $("init-file").files[0]; if (f) setInitImage(f).catch((e) => showError(e.message)); });
$("remove-init").addEventListener("click", removeInitImage);
$("clear-mask").addEventListener("click", () => {
  const mask = $("mask-canvas");
  mask.getContext("2d").clearRect(0, 0, mask.width, mask.height);
  page.masked = false;
});
paintMask();
loadModels();
refreshState();
setInterval(refreshState, 5000);
