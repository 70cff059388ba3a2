// Discovery on the web page: keep unknown probes, group them into proposals, accept / merge / reject.
// Uses app.js's helpers ($, api, apiKey, show, placeholder, refresh*). DOM APIs only (no innerHTML).
"use strict";

function writeKey() {
  return $("write-key").value.trim() || apiKey();
}

function jsonPost(path, body, method = "POST") {
  return api(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) }, writeKey());
}

// Kept unknowns' thumbnails need the write key (app.js's thumbnail() sends the read key).
async function unknownThumb(url, name) {
  if (!url) return placeholder(name);
  try {
    const blob = await (await api(url, {}, writeKey())).blob();
    const img = document.createElement("img");
    img.className = "thumb";
    img.alt = name;
    img.src = URL.createObjectURL(blob);
    return img;
  } catch (_) {
    return placeholder(name);
  }
}

async function refreshPool() {
  try {
    const pool = await (await api("/v1/discover/pool", {}, writeKey())).json();
    const age = pool.max_age_days === null ? "no age limit" : `${pool.max_age_days} days`;
    $("discover-status").textContent =
      `${pool.enabled ? "keeping" : "not keeping"} unknown probes · ${pool.count} kept · at most ${pool.max_items}, ${age}`;
    $("discover-enable").textContent = pool.enabled ? "Stop keeping unknowns" : "Keep unknowns";
    $("discover-enable").dataset.enabled = String(pool.enabled);
  } catch (err) {
    $("discover-status").textContent = err.message;
  }
}

async function toggleKeeping() {
  show($("discover-error"), "");
  const enabled = $("discover-enable").dataset.enabled !== "true";
  try {
    await jsonPost("/v1/discover/pool", { enabled }, "PUT");
    await refreshPool();
  } catch (err) {
    show($("discover-error"), err.message);
  }
}

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

async function review(proposal, action, li) {
  show($("discover-error"), "");
  const name = li.querySelector(".proposal-name").value.trim();
  const buttons = li.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });  // one review per click: a double click sends one request
  try {
    const path = `/v1/discover/proposals/${encodeURIComponent(proposal.id)}/${action}`;
    const body = await (await jsonPost(path, action === "reject" ? {} : { identity: name })).json();
    const done = action === "reject" ? "rejected" : `${body.action} as "${body.identity}" (${body.item_ids.length} items)`;
    show($("discover-result"), `Proposal ${proposal.id} ${done}.`);
    li.remove();
    thumbCache.clear();
    await Promise.all([refreshPool(), refreshStatus(), refreshIdentities()]);
  } catch (err) {
    show($("discover-error"), err.message);
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function renderProposal(p) {
  const li = document.createElement("li");
  li.className = "proposal";
  li.dataset.proposal = p.id;
  const sheet = document.createElement("div");
  sheet.className = "sheet";
  for (let i = 0; i < p.unknown_ids.length; i++) {
    sheet.appendChild(await unknownThumb(p.thumbnails[i], `unknown ${p.unknown_ids[i]}`));
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  const nearest = p.nearest_identity === null ? "no enrolled identity"
    : `nearest: ${p.nearest_identity} (${p.nearest_score.toFixed(3)})`;
  meta.textContent = `#${p.rank} · ${p.size} items · cohesion ${p.cohesion.toFixed(3)} · ${nearest}`;
  const name = document.createElement("input");
  name.className = "proposal-name";
  name.placeholder = "name (new identity, or existing one to merge into)";
  if (p.nearest_identity !== null) name.dataset.nearest = p.nearest_identity;
  const actions = document.createElement("div");
  actions.className = "row";
  actions.append(
    name,
    button("Accept", "accept", () => review(p, "accept", li)),
    button("Merge", "merge", () => review(p, "merge", li)),
    button("Reject", "reject", () => review(p, "reject", li)),
  );
  li.append(meta, sheet, actions);
  return li;
}

async function findProposals() {
  show($("discover-error"), "");
  show($("discover-result"), "");
  const list = $("proposals");
  try {
    const body = await (await jsonPost("/v1/discover", {})).json();
    list.replaceChildren();
    for (const p of body.proposals) list.appendChild(await renderProposal(p));
    list.dataset.loaded = String(body.proposals.length);
    if (!body.proposals.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = `no proposals from ${body.pool_size} kept unknown(s)`;
      list.appendChild(li);
    }
  } catch (err) {
    show($("discover-error"), err.message);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("discover-enable").addEventListener("click", toggleKeeping);
  $("discover-run").addEventListener("click", findProposals);
  $("discover-refresh").addEventListener("click", refreshPool);
});
