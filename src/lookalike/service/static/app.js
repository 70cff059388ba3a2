// lookalike web page: plain JS, no build step. Talks to the /v1 API with the key typed above.
// Data (names, file names, messages) only ever reaches the page through textContent and DOM nodes, never as
// HTML: the page keeps an API key in localStorage, and the Content-Security-Policy forbids inline script.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "lookalike.apiKey";
let modelKind = null; // "image", "text" or "vector", from /v1/health

function apiKey() {
  return $("api-key").value.trim();
}

// A <li class="muted"> holding text (for "none yet" and errors in lists).
function mutedItem(text) {
  const li = document.createElement("li");
  li.className = "muted";
  li.textContent = text;
  return li;
}

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

// Fetch with the key; any non-2xx becomes an Error carrying the service's one error shape.
async function api(path, options = {}, key = apiKey()) {
  const headers = Object.assign({}, options.headers || {});
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) message = `${body.error.message} (${body.error.status} ${body.error.type})`;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// Thumbnails need the key too, so they are fetched and shown as blob URLs.
const thumbCache = new Map();
async function thumbnail(url) {
  if (!url) return null;
  if (!thumbCache.has(url)) {
    thumbCache.set(url, api(url).then((r) => r.blob()).then((b) => URL.createObjectURL(b)).catch(() => null));
  }
  return thumbCache.get(url);
}

function placeholder(name) {
  const div = document.createElement("div");
  div.className = "thumb placeholder";
  div.textContent = (name || "?").slice(0, 1).toUpperCase();
  return div;
}

async function thumbElement(url, name) {
  const src = await thumbnail(url);
  if (!src) return placeholder(name);
  const img = document.createElement("img");
  img.className = "thumb";
  img.alt = name;
  img.src = src;
  return img;
}

async function refreshStatus() {
  try {
    const health = await (await fetch("/v1/health")).json();
    $("status").textContent = `${health.gallery_items} items · ${health.model_kind} model · v${health.version}`;
    if (health.model_kind !== modelKind) useModelKind(health.model_kind);
    $("status").className = "status up";
  } catch (err) {
    $("status").textContent = "server not answering";
    $("status").className = "status down";
  }
}

async function refreshIdentities() {
  const list = $("identities");
  if (!apiKey()) {
    list.replaceChildren(mutedItem("enter a key to list identities"));
    return;
  }
  try {
    const body = await (await api("/v1/identities")).json();
    list.replaceChildren();
    if (!body.identities.length) list.replaceChildren(mutedItem("none yet"));
    for (const ident of body.identities) {
      const li = document.createElement("li");
      li.appendChild(await thumbElement(ident.thumbnail, ident.identity));
      const label = document.createElement("span");
      label.textContent = `${ident.identity} (${ident.items})`;
      li.appendChild(label);
      list.appendChild(li);
    }
  } catch (err) {
    list.replaceChildren(mutedItem(err.message));
  }
}

async function identify(file) {
  show($("identify-error"), "");
  $("result").hidden = true;
  const preview = $("probe-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const pick = document.createElement("label");
  pick.htmlFor = "probe-file";
  pick.className = "link";
  pick.textContent = "pick one";
  $("drop-text").replaceChildren(`${file.name} \u2014 drop another or `, pick);
  const form = new FormData();
  form.append("images", file);
  form.append("k", $("k").value || "5");
  try {
    const body = await (await api("/v1/identify", { method: "POST", body: form })).json();
    await renderResults(body.results);
  } catch (err) {
    show($("identify-error"), err.message);
  }
}

// A text model's gallery: identify typed text and enroll lines of text instead of image files.
function useModelKind(kind) {
  modelKind = kind;
  const text = kind === "text";
  $("drop").hidden = text;
  $("text-probe").hidden = !text;
  for (const id of ["enroll-files", "enroll-files-label"]) $(id).hidden = text;
  for (const id of ["enroll-texts", "enroll-texts-label"]) $(id).hidden = !text;
  $("enroll-files").required = !text;
  $("enroll-texts").required = text;
}

async function identifyText(event) {
  event.preventDefault();
  show($("identify-error"), "");
  $("result").hidden = true;
  const body = { texts: [$("probe-text").value], k: Number($("k").value || "5") };
  try {
    const headers = { "Content-Type": "application/json" };
    const reply = await (await api("/v1/identify", { method: "POST", body: JSON.stringify(body), headers })).json();
    await renderResults(reply.results);
  } catch (err) {
    show($("identify-error"), err.message);
  }
}

function verdictText(result) {
  const threshold = result.threshold === null ? "uncalibrated" : `threshold ${result.threshold.toFixed(3)}`;
  return result.decision === "known"
    ? `Known: ${result.identity} (score ${result.score.toFixed(3)}, ${threshold})`
    : `Unknown${result.score === null ? " (empty gallery)" : ` (best score ${result.score.toFixed(3)}, ${threshold})`}`;
}

// Face models answer one result per face with its box: draw the boxes over the preview, list every face, and
// show the matches of the first (largest) face below. Other models answer one result per image.
async function renderResults(results) {
  const faces = results.filter((r) => Array.isArray(r.box));
  await drawBoxes(faces);
  const list = $("faces");
  list.replaceChildren();
  list.hidden = faces.length === 0;
  faces.forEach((face, i) => {
    const li = document.createElement("li");
    li.className = `face ${face.decision}`;
    li.dataset.decision = face.decision;
    const where = face.detected === false ? "whole image" : `box ${face.box.join(", ")}`;
    const best = face.matches.map((m) => `${m.identity} ${m.score.toFixed(3)}`).join(", ");
    li.textContent = `Face ${i + 1} (${where}): ${verdictText(face)}${best ? ` — ${best}` : ""}`;
    list.appendChild(li);
  });
  if (results.length) await renderResult(results[0]);
  else {
    $("verdict").className = "verdict unknown";
    $("verdict").textContent = "No face found";
    $("matches").replaceChildren();
    $("result").hidden = false;
  }
}

async function drawBoxes(faces) {
  const layer = $("boxes");
  layer.replaceChildren();
  const img = $("probe-preview");
  if (!faces.length) return;
  try { await img.decode(); } catch (_) { return; }
  if (!img.naturalWidth) return;
  const sx = img.clientWidth / img.naturalWidth;
  const sy = img.clientHeight / img.naturalHeight;
  faces.forEach((face, i) => {
    const [left, top, right, bottom] = face.box;
    const box = document.createElement("div");
    box.className = `face-box ${face.decision}`;
    box.style.left = `${img.offsetLeft + left * sx}px`;
    box.style.top = `${img.offsetTop + top * sy}px`;
    box.style.width = `${(right - left) * sx}px`;
    box.style.height = `${(bottom - top) * sy}px`;
    const tag = document.createElement("span");
    tag.className = "face-tag";
    tag.textContent = `${i + 1} ${face.identity === null ? "unknown" : face.identity}`;
    box.appendChild(tag);
    layer.appendChild(box);
  });
}

async function renderResult(result) {
  const verdict = $("verdict");
  const decision = ["known", "unknown", "uncalibrated"].includes(result.decision) ? result.decision : "unknown";
  verdict.className = `verdict ${decision}`;
  verdict.dataset.decision = decision;
  const threshold = result.threshold === null ? "" : `, threshold ${result.threshold.toFixed(3)}`;
  if (decision === "known") {
    verdict.textContent = `Known: ${result.identity} (score ${result.score.toFixed(3)}${threshold})`;
  } else if (decision === "uncalibrated") {
    verdict.textContent = "Uncalibrated: no known/unknown verdict until the gallery is calibrated " +
      `(lookalike calibrate). Nearest: ${result.matches[0].identity} (score ${result.score.toFixed(3)})`;
  } else {
    verdict.textContent = result.score === null
      ? "Unknown (empty gallery)"
      : `Unknown (best score ${result.score.toFixed(3)}${threshold})`;
  }
  const list = $("matches");
  list.replaceChildren();
  for (const m of result.matches) {
    const li = document.createElement("li");
    li.className = "match";
    li.dataset.identity = m.identity;
    li.appendChild(await thumbElement(m.thumbnail, m.identity));
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = m.identity;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = m.score.toFixed(3);
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.setProperty("--w", `${Math.max(0, Math.min(1, m.score)) * 100}%`); // similarity, clipped to [0, 1]
    li.append(name, bar, score);
    list.appendChild(li);
  }
  $("result").hidden = false;
}

async function enroll(event) {
  event.preventDefault();
  show($("enroll-error"), "");
  show($("enroll-result"), "");
  const identity = $("enroll-identity").value.trim();
  let request;
  if (modelKind === "text") {
    const texts = $("enroll-texts").value.split("\n").map((t) => t.trim()).filter((t) => t);
    const headers = { "Content-Type": "application/json" };
    request = { method: "POST", body: JSON.stringify({ identity, texts }), headers };
  } else {
    const form = new FormData();
    form.append("identity", identity);
    for (const f of $("enroll-files").files) form.append("images", f);
    request = { method: "POST", body: form };
  }
  const key = $("write-key").value.trim() || apiKey();
  $("enroll-submit").disabled = true;
  try {
    const body = await (await api("/v1/enroll", request, key)).json();
    const what = modelKind === "text" ? "text(s)" : "image(s)";
    const several = (body.faces || []).filter((f) => f.faces_in_image > 1).length;
    const note = several ? ` ${several} image(s) showed several faces; the largest face of each was enrolled.` : "";
    show($("enroll-result"), `Enrolled ${body.item_ids.length} ${what} as "${body.identity}"; the gallery now holds ${body.gallery_size} items.${note}`);
    $("enroll-form").reset();
    thumbCache.clear();
    await Promise.all([refreshStatus(), refreshIdentities()]);
  } catch (err) {
    show($("enroll-error"), err.message);
  } finally {
    $("enroll-submit").disabled = false;
  }
}

function setUpDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) identify(e.dataTransfer.files[0]);
  });
  drop.addEventListener("click", (e) => { if (e.target === drop) $("probe-file").click(); });
  $("probe-file").addEventListener("change", (e) => { if (e.target.files.length) identify(e.target.files[0]); });
}

window.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = localStorage.getItem(KEY_STORE) || "";
  $("api-key").addEventListener("change", () => {
    localStorage.setItem(KEY_STORE, apiKey());
    thumbCache.clear();
    refreshIdentities();
  });
  $("enroll-form").addEventListener("submit", enroll);
  $("text-probe").addEventListener("submit", identifyText);
  setUpDrop();
  refreshStatus();
  refreshIdentities();
});
