// otscope dashboard. Every string from the wire is hostile: it is only ever put into the page with
// textContent / setAttribute on SVG text, never as HTML.
"use strict";

const API = "/api/v1";
const ROLE_COLORS = { "plc": "#3b6ea5", "hmi-scada": "#8e44ad", "engineering-workstation": "#d35400",
  "io-device": "#16a085", "gateway": "#2c3e50", "network-device": "#7f8c8d", "it-host": "#95a5a6",
  "unknown": "#bdc3c7" };
// protocol -> colour, from the protocols the registered dissector packages declare (GET /api/v1/protocols)
let PROTO_COLORS = {};
// the protocol filter's choices: every protocol the registry declares, with the labels its assets carry
let PROTOCOLS = [];
let comms = [];

let assets = [];
let vulns = [];          // GET /api/v1/vulnerabilities: one row per asset, advisory and CVE
let sortKey = "id";
let sortDesc = false;

function token() { return localStorage.getItem("otscope-token") || ""; }

async function get(path) {
  const headers = token() ? { "Authorization": "Bearer " + token() } : {};
  const r = await fetch(API + path, { headers });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).detail || msg; } catch (e) { /* keep the status line */ }
    throw new Error(msg);
  }
  return r.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function pct(x) { return (100 * x).toFixed(1) + "%"; }

function showError(err) {
  const box = document.getElementById("error");
  box.textContent = "Cannot load the inventory: " + err.message;
  box.hidden = false;
}

function arcPoint(share) {
  const a = Math.PI * (1 - Math.max(0, Math.min(1, share)));
  return [100 + 80 * Math.cos(a), 100 - 80 * Math.sin(a)];
}

function renderCoverage(c) {
  document.getElementById("coverage-value").textContent = pct(c.asset_coverage);
  document.getElementById("identified").textContent = c.assets_identified;
  document.getElementById("asset-total").textContent = c.assets_total;
  document.getElementById("target").textContent = pct(c.target);
  const verdict = document.getElementById("verdict");
  verdict.textContent = c.pass ? "PASS" : "FAIL";
  verdict.className = c.pass ? "pass" : "fail";
  const [x, y] = arcPoint(c.asset_coverage);
  const arc = document.getElementById("gauge-arc");
  arc.setAttribute("d", `M20 100 A80 80 0 0 1 ${x.toFixed(1)} ${y.toFixed(1)}`);
  arc.setAttribute("class", "gauge-fg" + (c.pass ? " pass" : ""));
  const [tx, ty] = arcPoint(c.target);
  const t = document.getElementById("gauge-target");
  t.setAttribute("x1", tx); t.setAttribute("y1", ty);
  t.setAttribute("x2", 100 + (tx - 100) * 1.2); t.setAttribute("y2", 100 + (ty - 100) * 1.2);
  document.getElementById("gauge-text").textContent = pct(c.asset_coverage);
  const bars = document.getElementById("field-bars");
  bars.replaceChildren();
  for (const [name, share] of Object.entries(c.fields)) {
    const row = el("div", null, "bar");
    row.append(el("span", name));
    const track = el("div", null, "track");
    const fill = el("div", null, "fill");
    fill.style.width = pct(share);
    track.append(fill);
    row.append(track, el("span", pct(share)));
    bars.append(row);
  }
  // no OT bytes: the traffic KPI does not apply (it is not 0 % and not a failure)
  document.getElementById("traffic-share").textContent =
    c.traffic.share === null ? "not applicable (no OT bytes seen)" : pct(c.traffic.share);
  document.getElementById("traffic-target").textContent = pct(c.traffic.target);
  // one line per asset class, each judged by its own definition of "identified" (title attribute)
  const classes = document.getElementById("classes");
  classes.replaceChildren();
  for (const k of c.classes || []) {
    const li = el("li", `${k.title}: ${pct(k.coverage)} identified (${k.identified} / ${k.assets})`);
    li.title = k.definition;
    li.dataset.assetClass = k.asset_class;
    classes.append(li);
  }
  // passive and active identification side by side: how the OT devices' identities were obtained
  const idn = c.identification;
  if (idn) {
    document.getElementById("identification").textContent =
      `Identity from listening: ${idn.passive}, from otscope identify: ${idn.active}, both: ${idn.both}, ` +
      `none: ${idn.none} OT devices`;
  }
  const gaps = document.getElementById("gaps");
  gaps.replaceChildren();
  for (const g of c.gaps) {
    const li = el("li");
    li.append(el("strong", `#${g.asset} ${g.ips.join(" ") || "(layer 2)"} ${g.role}`));
    li.append(el("div", `${g.reason}`, "why"));
    li.append(el("div", `\u2192 ${g.action}`));
    if (g.identity_method && g.identity_method !== "none") li.append(el("div", `identity so far: ${g.identity_method}`));
    gaps.append(li);
  }
  if (!c.gaps.length) gaps.append(el("li", "none: every OT asset is identified"));
  const comps = document.getElementById("components");
  comps.replaceChildren();
  for (const m of c.components) {
    const what = [m.vendor, m.product, m.firmware].filter(Boolean).join(" ") || "no identity";
    comps.append(el("li", `${m.component || "-"} of #${m.parent} (${m.role}): ${what}`));
  }
  if (!c.components.length) comps.append(el("li", "none"));
}

// an asset's advisories (a.vulns from the API): "3 critical 9.8" affected, "2 possible", or nothing
function vulnCell(a) {
  const v = a.vulns;
  if (!v) return "";
  const parts = [];
  if (v.affected.length) {
    parts.push(`${v.affected.length}` + (v.max_severity ? ` ${v.max_severity}` : "") +
      (v.max_score !== null && v.max_score !== undefined ? ` ${Number(v.max_score).toFixed(1)}` : ""));
  }
  if (v.possible.length) parts.push(`${v.possible.length} possible`);
  return parts.join(", ");
}

function vulnState(a) {
  if (a.vulns && a.vulns.affected.length) return "affected";
  if (a.vulns && a.vulns.possible.length) return "possible";
  return "none";
}

function cell(a, key) {
  if (key === "vulns") return vulnCell(a);
  const v = key === "product" ? (a.product || a.order_number) : a[key];
  if (Array.isArray(v)) return v.join(" ");
  return v === null || v === undefined ? "" : String(v);
}

function chosenProtocol() {
  const name = document.getElementById("protocol-filter").value;
  return PROTOCOLS.find(p => p.name === name) || null;
}

function speaks(a, p) {
  return !p || a.protocols.some(l => l === p.name || p.labels.includes(l));
}

function fillProtocolFilter() {
  const sel = document.getElementById("protocol-filter");
  const keep = sel.value;
  sel.replaceChildren(el("option", "all protocols"));
  sel.firstChild.value = "";
  for (const p of PROTOCOLS) {
    const o = el("option", `${p.name} (${p.title})`);
    o.value = p.name;
    sel.append(o);
  }
  sel.value = PROTOCOLS.some(p => p.name === keep) ? keep : "";
}

function renderAssets() {
  const q = document.getElementById("search").value.trim().toLowerCase();
  const proto = chosenProtocol();
  const state = document.getElementById("vuln-filter").value;
  const rows = assets.filter(a => speaks(a, proto) && (!state || vulnState(a) === state) &&
    (!q || ["ips", "macs", "role", "vendor", "product", "firmware",
    "serial", "name", "protocols", "order_number"].some(k => cell(a, k).toLowerCase().includes(q))));
  rows.sort((x, y) => {
    const a = cell(x, sortKey), b = cell(y, sortKey);
    const n = sortKey === "id" ? x.id - y.id : a.localeCompare(b, undefined, { numeric: true });
    return sortDesc ? -n : n;
  });
  const body = document.querySelector("#assets tbody");
  body.replaceChildren();
  for (const a of rows) {
    const tr = el("tr");
    tr.dataset.id = a.id;
    for (const k of ["id", "ips", "macs", "role", "vendor", "product", "firmware", "serial", "name", "protocols"]) {
      tr.append(el("td", k === "id" && a.parent ? `${a.id} (in ${a.parent})` : cell(a, k)));
    }
    const vc = el("td", vulnCell(a), "vulns " + vulnState(a));
    if (a.vulns) vc.title = [...a.vulns.affected, ...a.vulns.possible.map(x => x + " (possible)")].join("\n");
    tr.append(vc);
    body.append(tr);
  }
  document.getElementById("asset-count").textContent = `(${rows.length} of ${assets.length})`;
  for (const th of document.querySelectorAll("#assets th")) {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
    th.classList.toggle("desc", th.dataset.key === sortKey && sortDesc);
  }
}

function renderVulns() {
  const sev = document.getElementById("vuln-severity").value;
  const status = document.getElementById("vuln-status").value;
  const rows = vulns.filter(v => (!sev || v.severity === sev) && (!status || v.status === status));
  const body = document.querySelector("#vulns tbody");
  body.replaceChildren();
  for (const v of rows) {
    const tr = el("tr", null, "sev-" + (v.severity || "none") + " " + v.status);
    tr.dataset.advisory = v.advisory;
    tr.dataset.asset = v.asset_id;
    for (const text of [`${v.asset_id} ${v.asset || ""}`, v.advisory, v.cve || "", v.severity || "",
      v.score === null || v.score === undefined ? "" : Number(v.score).toFixed(1), v.status, v.confidence,
      v.product, v.reason]) {
      tr.append(el("td", text));
    }
    tr.title = (v.evidence || []).join("\n");
    body.append(tr);
  }
  document.getElementById("vuln-count").textContent = `(${rows.length} of ${vulns.length})`;
}

function renderMap() {
  const proto = chosenProtocol();
  const shown = comms.filter(c => !proto || c.protocol === proto.name);
  const map = document.getElementById("map");
  map.replaceChildren();
  const byId = new Map(assets.map(a => [a.id, a]));
  const ids = [...new Set(shown.flatMap(c => [c.client, c.server]))].filter(id => byId.has(id));
  const roles = [...new Set(ids.map(id => byId.get(id).role))].sort();
  const pos = new Map();
  // one column per role, nodes spread down the column
  roles.forEach((role, ri) => {
    const col = ids.filter(id => byId.get(id).role === role);
    col.forEach((id, i) => pos.set(id, [60 + ri * (600 / Math.max(1, roles.length - 1)),
      40 + (i + 0.5) * (460 / col.length)]));
    map.append(svg("text", { x: 60 + ri * (600 / Math.max(1, roles.length - 1)), y: 16,
      "text-anchor": "middle", "font-weight": "bold" }, role));
  });
  for (const c of shown) {
    const a = pos.get(c.client), b = pos.get(c.server);
    if (!a || !b) continue;
    const line = svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1],
      stroke: PROTO_COLORS[c.protocol] || "#aab4bf", "stroke-width": 1.5, opacity: 0.8 });
    line.append(svg("title", {}, `${c.protocol} ${c.client_ips.join(" ")} \u2192 ${c.server_ips.join(" ")}:${c.port}`));
    map.append(line);
  }
  for (const id of ids) {
    const a = byId.get(id);
    const [x, y] = pos.get(id);
    const g = svg("g", {});
    g.append(svg("circle", { cx: x, cy: y, r: 7, fill: ROLE_COLORS[a.role] || "#999" }));
    g.append(svg("text", { x: x + 10, y: y + 3 }, (a.ips[0] || a.macs[0] || "#" + a.id) +
      (a.vendor ? " " + a.vendor.slice(0, 24) : "")));
    g.append(svg("title", {}, `${a.role} ${a.vendor || ""} ${a.product || a.order_number || ""}`));
    map.append(g);
  }
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  for (const [p, col] of Object.entries(PROTO_COLORS)) {
    const s = el("span", "\u25AC " + p + "  ");
    s.style.color = col;
    legend.append(s);
  }
}

async function loadAll(path, key) {
  let out = [], offset = 0;
  for (;;) {
    const page = await get(`${path}${path.includes("?") ? "&" : "?"}limit=1000&offset=${offset}`);
    out = out.concat(page.data);
    offset += page.data.length;
    if (!page.data.length || offset >= page.count || offset >= 20000) return out;
  }
}

async function load() {
  document.getElementById("error").hidden = true;
  try {
    const [coverage, list, conv, protocols, matched] = await Promise.all([get("/coverage"), loadAll("/assets"),
      get("/communications?limit=2000"), get("/protocols"), loadAll("/vulnerabilities")]);
    assets = list;
    vulns = matched;
    comms = conv.data;
    PROTOCOLS = protocols;
    PROTO_COLORS = Object.fromEntries(protocols.filter(p => p.colour).map(p => [p.name, p.colour]));
    fillProtocolFilter();
    renderCoverage(coverage);
    renderAssets();
    renderVulns();
    renderMap();
    document.body.dataset.loaded = "1";
  } catch (err) {
    showError(err);
  }
}

document.getElementById("search").addEventListener("input", renderAssets);
document.getElementById("vuln-filter").addEventListener("change", renderAssets);
document.getElementById("vuln-severity").addEventListener("change", renderVulns);
document.getElementById("vuln-status").addEventListener("change", renderVulns);
document.getElementById("protocol-filter").addEventListener("change", () => { renderAssets(); renderMap(); });
document.querySelector("#assets thead").addEventListener("click", ev => {
  const key = ev.target.dataset && ev.target.dataset.key;
  if (!key) return;
  sortDesc = key === sortKey ? !sortDesc : false;
  sortKey = key;
  renderAssets();
});
document.getElementById("token-form").addEventListener("submit", ev => {
  ev.preventDefault();
  localStorage.setItem("otscope-token", document.getElementById("token").value.trim());
  load();
});
load();
