// otscope dashboard: the events timeline (issue 17). Separate from app.js on purpose. Wire strings are hostile:
// only ever put into the page with textContent, never as HTML.
"use strict";

(function () {
  const API = "/api/v1";
  const KINDS = ["new-asset", "new-conversation", "identity-change", "firmware-change", "ip-change", "mac-change",
    "plc-stop", "plc-start", "program-download", "program-upload", "program-delete", "config-write",
    "write-from-new-client", "time-set", "firmware-update", "protocol-anomaly", "control-action",
    "advisory-match"];

  function token() { return localStorage.getItem("otscope-token") || ""; }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function option(sel, value, label) {
    const o = el("option", label);
    o.value = value;
    sel.appendChild(o);
  }

  async function load() {
    const q = new URLSearchParams({ limit: "500" });
    const kind = document.getElementById("event-kind").value;
    const sev = document.getElementById("event-severity").value;
    const asset = document.getElementById("event-asset").value.trim();
    if (kind) q.set("kind", kind);
    if (sev) q.set("severity", sev);
    if (/^[0-9]+$/.test(asset)) q.set("asset", asset);
    if (!document.getElementById("event-learning").checked) q.set("learning", "false");
    const headers = token() ? { "Authorization": "Bearer " + token() } : {};
    const status = document.getElementById("event-count");
    try {
      const r = await fetch(API + "/events?" + q.toString(), { headers });
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      render(await r.json());
    } catch (err) {
      status.textContent = "(cannot load events: " + err.message + ")";
    }
  }

  function assetCell(id, label) {
    const td = el("td");
    if (id) {
      const a = el("a", label || ("asset " + id));
      a.href = API + "/assets/" + encodeURIComponent(String(id));
      a.dataset.assetId = String(id);
      td.appendChild(a);
    }
    return td;
  }

  function render(page) {
    document.getElementById("event-count").textContent = "(" + page.count + ")";
    const body = document.querySelector("#events tbody");
    body.replaceChildren();
    const rows = page.data.slice().reverse();           // newest first
    for (const e of rows) {
      const tr = el("tr", undefined, "sev-" + e.severity + (e.learning ? " learning" : ""));
      tr.dataset.kind = e.kind;
      tr.appendChild(el("td", e.time.replace("T", " ").slice(0, 19)));
      tr.appendChild(el("td", e.kind));
      tr.appendChild(el("td", e.severity));
      tr.appendChild(assetCell(e.asset_id, e.asset));
      tr.appendChild(assetCell(e.client_id, e.client));
      tr.appendChild(el("td", e.protocol));
      tr.appendChild(el("td", e.detail));
      tr.appendChild(el("td", (e.evidence || []).join(" ")));
      tr.appendChild(el("td", e.technique ? e.technique + " " + (e.technique_name || "") : ""));
      tr.appendChild(el("td", (e.learning ? "learning " : "") + (e.acknowledged ? "acked" : "")));
      body.appendChild(tr);
    }
  }

  function init() {
    const kinds = document.getElementById("event-kind");
    if (!kinds) return;
    option(kinds, "", "all kinds");
    for (const k of KINDS) option(kinds, k, k);
    const sev = document.getElementById("event-severity");
    option(sev, "", "any severity");
    for (const s of ["high", "medium", "low"]) option(sev, s, s);
    for (const id of ["event-kind", "event-severity", "event-learning"]) {
      document.getElementById(id).addEventListener("change", load);
    }
    document.getElementById("event-asset").addEventListener("change", load);
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
