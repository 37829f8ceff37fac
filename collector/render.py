"""The inventory as files: CSV (spreadsheet-safe) and JSON, next to the queries that produce the rows
(collector/queries.py list_assets). The CLI (agent/cli.py) and the API export (api/routes/export.py) use these."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

CSV_COLUMNS = ["id", "parent", "ips", "macs", "vlans", "role", "vendor", "product", "order_number", "firmware",
               "serial", "name", "mac_vendor", "protocols", "identified", "first_seen", "last_seen"]


def csv_cell(value: Any) -> str:
    """A cell for spreadsheets: lists joined; a leading = + - @ (formula injection) neutralised."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


# with advisories imported (issue 18): the advisories each asset is affected by / possibly affected by, the worst
# CVSS v3 base score and its severity (collector/advisories/store.py attach: the asset's ``vulns``)
VULN_COLUMNS = ["advisories_affected", "advisories_possible", "max_cvss", "max_severity"]


def _vuln_cells(a: dict[str, Any]) -> dict[str, Any]:
    v = a.get("vulns") or {}
    return {"advisories_affected": v.get("affected") or [], "advisories_possible": v.get("possible") or [],
            "max_cvss": v.get("max_score"), "max_severity": v.get("max_severity")}


def assets_csv(data: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    cols = columns or CSV_COLUMNS
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for a in data:
        row = {**a, **_vuln_cells(a)} if any(c in VULN_COLUMNS for c in cols) else a
        w.writerow([csv_cell(row.get(c)) for c in cols])
    return buf.getvalue()


def assets_json(data: list[dict[str, Any]], indent: int | None = None) -> str:
    """``{"data": [...], "count": n}`` with sorted keys (stable output for diffs)."""
    return json.dumps({"data": data, "count": len(data)}, indent=indent, sort_keys=True)
