// The API reference, built from /openapi.json with DOM nodes and textContent only (no CDN, no HTML strings).
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function schemaName(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.type === "array") return schemaName(s.items) + "[]";
  if (s.anyOf) return s.anyOf.map(schemaName).join(" | ");
  return s.type || "";
}

function operation(path, method, op) {
  const sec = el("section", null, "op");
  sec.appendChild(el("h3", method.toUpperCase() + " " + path));
  if (op.summary) sec.appendChild(el("p", op.summary));
  if (op.description) sec.appendChild(el("p", op.description, "muted"));
  const params = op.parameters || [];
  if (params.length) {
    const t = el("table");
    const head = el("tr");
    ["parameter", "in", "type", "required"].forEach((h) => head.appendChild(el("th", h)));
    t.appendChild(head);
    params.forEach((p) => {
      const r = el("tr");
      [p.name, p.in, schemaName(p.schema), p.required ? "yes" : "no"].forEach((v) => r.appendChild(el("td", v)));
      t.appendChild(r);
    });
    sec.appendChild(t);
  }
  const ok = (op.responses || {})["200"] || (op.responses || {})["201"];
  const media = ok && ok.content && ok.content["application/json"];
  if (media) sec.appendChild(el("p", "returns " + schemaName(media.schema), "muted"));
  return sec;
}

fetch("/openapi.json").then((r) => {
  if (!r.ok) throw new Error("HTTP " + r.status);
  return r.json();
}).then((spec) => {
  const main = document.getElementById("docs");
  main.textContent = "";
  main.appendChild(el("p", (spec.info && spec.info.title) + " " + (spec.info && spec.info.version)));
  Object.keys(spec.paths || {}).sort().forEach((path) => {
    const item = spec.paths[path];
    Object.keys(item).forEach((method) => main.appendChild(operation(path, method, item[method])));
  });
}).catch((e) => {
  document.getElementById("docs-status").textContent = "could not load /openapi.json: " + e.message;
});
