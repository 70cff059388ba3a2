// lookalike web page: plain JS, no build step. Talks to the /v1 API with the key typed above.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "lookalike.apiKey";
let modelKind = null; // "image", "text" or "vector", from /v1/health

function apiKey() {
  return $("api-key").value.trim();
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
    list.innerHTML = "<li class='muted'>enter a key to list identities</li>";
    return;
  }
  try {
    const body = await (await api("/v1/identities")).json();
    list.innerHTML = "";
    if (!body.identities.length) list.innerHTML = "<li class='muted'>none yet</li>";
    for (const ident of body.identities) {
      const li = document.createElement("li");
      li.appendChild(await thumbElement(ident.thumbnail, ident.identity));
      const label = document.createElement("span");
      label.textContent = `${ident.identity} (${ident.items})`;
      li.appendChild(label);
      list.appendChild(li);
    }
  } catch (err) {
    list.innerHTML = "";
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = err.message;
    list.appendChild(li);
  }
}

async function identify(file) {
  show($("identify-error"), "");
  $("result").hidden = true;
  const preview = $("probe-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  $("drop-text").innerHTML = `${file.name} &mdash; drop another or <label for="probe-file" class="link">pick one</label>`;
  const form = new FormData();
  form.append("images", file);
  form.append("k", $("k").value || "5");
  try {
    const body = await (await api("/v1/identify", { method: "POST", body: form })).json();
    await renderResult(body.results[0]);
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
    await renderResult(reply.results[0]);
  } catch (err) {
    show($("identify-error"), err.message);
  }
}

async function renderResult(result) {
  const verdict = $("verdict");
  const known = result.decision === "known";
  verdict.className = `verdict ${known ? "known" : "unknown"}`;
  verdict.dataset.decision = result.decision;
  const threshold = result.threshold === null ? "uncalibrated" : `threshold ${result.threshold.toFixed(3)}`;
  verdict.textContent = known
    ? `Known: ${result.identity} (score ${result.score.toFixed(3)}, ${threshold})`
    : `Unknown${result.score === null ? " (empty gallery)" : ` (best score ${result.score.toFixed(3)}, ${threshold})`}`;
  const list = $("matches");
  list.innerHTML = "";
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
    show($("enroll-result"), `Enrolled ${body.item_ids.length} ${what} as "${body.identity}"; the gallery now holds ${body.gallery_size} items.`);
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
