// Segmentation view (issue 20): zones as boxes stacked by Purdue level, devices inside (bounded per zone),
// conversations aggregated between zones (GET /api/v1/zones flows), crossings highlighted, findings listed.
// Every wire or user string goes in with textContent: nothing from the data is ever parsed as HTML.
"use strict";

const MAX_DEVICES_PER_ZONE = 24;     // devices drawn in a box; the rest is counted ("+N more")
const MAX_FLOWS = 300;               // zone pairs listed (largest by bytes first)

function token() { return localStorage.getItem("otscope-token") || ""; }

async function get(path) {
  const headers = token() ? { "Authorization": "Bearer " + token() } : {};
  const r = await fetch(path, { headers });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

const LEVEL_TITLES = { 5: "enterprise (IT)", 4: "site business (IT)", 3: "site operations", 2: "supervisory control",
                       1: "basic control", 0: "process" };

function drawZones(model) {
  const byZone = new Map();
  for (const a of model.assets) {
    if (!byZone.has(a.zone)) byZone.set(a.zone, []);
    byZone.get(a.zone).push(a);
  }
  const rows = new Map();
  const zones = model.zones.slice();
  if (model.unzoned) zones.push({ name: "unzoned", level: null, status: "unzoned", cidrs: [], vlans: [], evidence: [] });
  for (const z of zones) {
    const key = z.level === null || z.level === undefined ? "?" : String(z.level);
    if (!rows.has(key)) rows.set(key, []);
    rows.get(key).push(z);
  }
  const root = document.getElementById("levels");
  root.replaceChildren();
  for (const key of ["5", "4", "3", "2", "1", "0", "?"]) {
    if (!rows.has(key)) continue;
    const row = el("div", null, "level-row");
    row.dataset.level = key;
    row.appendChild(el("h3", key === "?" ? "level unknown" : "level " + key + ": " + LEVEL_TITLES[key]));
    for (const z of rows.get(key)) {
      const box = el("div", null, "zone " + (z.status || ""));
      box.dataset.zone = z.name;
      box.setAttribute("data-testid", "zone");
      const members = byZone.get(z.name) || [];
      box.appendChild(el("h4", z.name + " (" + members.length + ")"));
      const where = (z.cidrs || []).concat((z.vlans || []).map(v => "VLAN " + v)).join(", ");
      if (where) box.appendChild(el("div", where, "where"));
      if (z.evidence && z.evidence.length) box.title = z.evidence.join("\n");
      const list = el("div", null, "devices");
      for (const a of members.slice(0, MAX_DEVICES_PER_ZONE)) {
        const link = el("a", a.label);
        link.href = "/api/v1/assets/" + encodeURIComponent(a.asset);
        link.title = a.role + ", level " + (a.level === null ? "?" : a.level) + " (" + a.source + ")";
        link.setAttribute("data-testid", "device");
        list.appendChild(link);
      }
      box.appendChild(list);
      if (members.length > MAX_DEVICES_PER_ZONE) {
        box.appendChild(el("div", "+" + (members.length - MAX_DEVICES_PER_ZONE) + " more", "more"));
      }
      row.appendChild(box);
    }
    root.appendChild(row);
  }
}

function drawFlows(flows) {
  const body = document.querySelector("#flows tbody");
  body.replaceChildren();
  const sorted = flows.slice().sort((a, b) => (b.crossing - a.crossing) || (b.bytes - a.bytes)).slice(0, MAX_FLOWS);
  for (const f of sorted) {
    const tr = el("tr", null, f.crossing ? "crossing" : "");
    const lv = (f.from_level === null ? "?" : f.from_level) + " -> " + (f.to_level === null ? "?" : f.to_level);
    for (const v of [f.from, f.to, f.protocol, f.conversations, f.packets, f.bytes, lv + (f.crossing ? " crossing" : "")]) {
      tr.appendChild(el("td", v));
    }
    body.appendChild(tr);
  }
  document.getElementById("flow-count").textContent =
    "(" + flows.length + " zone pairs, " + flows.filter(f => f.crossing).length + " crossing)";
}

function drawFindings(found) {
  const ul = document.getElementById("findings");
  ul.replaceChildren();
  for (const f of found.data.slice(0, 500)) {
    const li = el("li", f.kind + " (" + f.severity + "): " + f.summary);
    li.dataset.kind = f.kind;
    li.title = f.evidence.join("\n");
    ul.appendChild(li);
  }
  document.getElementById("finding-count").textContent = "(" + found.count + ")";
}

async function load() {
  try {
    const [model, found] = await Promise.all([get("/api/v1/zones"), get("/api/v1/findings")]);
    document.getElementById("model-status").textContent = "(" + model.status + ")";
    document.getElementById("zone-count").textContent = String(model.zones.length);
    document.getElementById("device-count").textContent = String(model.assets.length);
    document.getElementById("unzoned").textContent = String(model.unzoned);
    drawZones(model);
    drawFlows(model.flows);
    drawFindings(found);
  } catch (e) {
    const p = document.getElementById("error");
    p.textContent = String(e.message || e);
    p.hidden = false;
  }
  document.body.dataset.loaded = "1";
}

load();
