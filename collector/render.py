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


def assets_csv(data: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for a in data:
        w.writerow([csv_cell(a.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def assets_json(data: list[dict[str, Any]], indent: int | None = None) -> str:
    """``{"data": [...], "count": n}`` with sorted keys (stable output for diffs)."""
    return json.dumps({"data": data, "count": len(data)}, indent=indent, sort_keys=True)
