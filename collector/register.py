"""The expected-asset register (an upload from the plant's documentation) and its reconciliation with what
was seen on the wire: matched, expected but never seen, seen but not in the register (shadow devices), and
field mismatches (e.g. the register's firmware differs from the wire's)."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from otscope.collector import merge
from otscope.collector.models import Address, Asset, Fact, RegisterEntry
from otscope.contract import clip
from otscope.dissectors.base import Role

COLUMNS = ("name", "ip", "mac", "vendor", "model", "firmware", "location")
MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")
MAX_ROWS = 50_000


class RegisterError(ValueError):
    pass


def parse_csv(data: bytes) -> tuple[list[dict[str, str | None]], list[str]]:
    """Rows and per-row rejections; the header must name at least ip or mac. CSV the csv module cannot read
    (a stray carriage return, an unterminated quote, ...) is a RegisterError, never a server error."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RegisterError("the register must be UTF-8 CSV") from None
    # strict: an unclosed quote is an error, not a field that swallows the rest of the file
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise RegisterError(f"line 1: {_csv_problem(exc)}") from None
    if not fieldnames:
        raise RegisterError("empty register")
    header = {h.strip().lower() for h in fieldnames if h}
    if not header & {"ip", "mac"}:
        raise RegisterError(f"the register needs an ip or mac column (columns: {', '.join(COLUMNS)})")
    rows, rejected = [], []
    for n, raw in _rows(reader):
        if n > MAX_ROWS + 1:
            raise RegisterError(f"more than {MAX_ROWS} rows")
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        out: dict[str, str | None] = {c: (clip(row[c]) if row.get(c) else None) for c in COLUMNS}
        if out["ip"]:
            try:
                out["ip"] = str(ipaddress.ip_address(out["ip"]))
            except ValueError:
                rejected.append(f"line {n}: invalid ip")
                continue
        if out["mac"]:
            mac = out["mac"].lower().replace("-", ":")
            if not MAC.match(mac):
                rejected.append(f"line {n}: invalid mac")
                continue
            out["mac"] = mac
        if not out["ip"] and not out["mac"]:
            rejected.append(f"line {n}: neither ip nor mac")
            continue
        rows.append(out)
    return rows, rejected


def _csv_problem(exc: csv.Error) -> str:
    msg = str(exc)
    if "field larger than field limit" in msg:
        return f"a field is longer than {csv.field_size_limit()} characters"
    if "unexpected end of data" in msg or "EOF" in msg:
        return "a quoted field is not closed"
    return msg[:200]


def _rows(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str]]]:  # type: ignore[type-arg]
    """(line number, row); a CSV syntax error becomes a RegisterError naming the line where it was found."""
    start = reader.line_num + 1                   # the line the next record starts on
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RegisterError(f"line {start}: {_csv_problem(exc)}") from None
        yield reader.line_num, raw
        start = reader.line_num + 1


def replace(s: Session, rows: list[dict[str, str | None]]) -> int:
    s.execute(delete(RegisterEntry))
    s.add_all(RegisterEntry(**r) for r in rows)
    return len(rows)


def _norm(v: str | None) -> str:
    return re.sub(r"[^a-z0-9.]", "", (v or "").lower()).lstrip("v")


def reconcile(s: Session) -> dict[str, Any]:
    owners: dict[tuple[str, str], int] = {}
    for aid, kind, value in s.execute(select(Address.asset_id, Address.kind, Address.value)
                                      .order_by(Address.last_seen)):
        owners[(kind, value)] = aid                      # the latest holder wins
    assets = {a.id: a for a in s.scalars(select(Asset).where(Asset.parent_id.is_(None)))}
    models: dict[int, set[str]] = {}
    protos: dict[int, list[str]] = {}
    for aid, field, value in s.execute(select(Fact.asset_id, Fact.field, Fact.value).where(
            Fact.field.in_(("product", "model", "product_code", "order_number", "protocol")))):
        if field == "protocol":
            protos.setdefault(aid, []).append(value)
        else:
            models.setdefault(aid, set()).add(_norm(value))
    matched, missing, mismatches, seen_ids = [], [], [], set()
    for r in s.scalars(select(RegisterEntry).order_by(RegisterEntry.id)):
        aid = owners.get(("mac", r.mac or "")) or owners.get(("ip", r.ip or ""))
        if aid is None or aid not in assets:
            missing.append(_row(r))
            continue
        seen_ids.add(aid)
        matched.append({"register_id": r.id, "asset": aid})
        a = assets[aid]
        if r.vendor and a.vendor and _norm(r.vendor) not in _norm(a.vendor) and _norm(a.vendor) not in _norm(r.vendor):
            mismatches.append(_mm(r.id, aid, "vendor", r.vendor, a.vendor))
        if r.firmware and a.firmware and _norm(r.firmware) != _norm(a.firmware):
            mismatches.append(_mm(r.id, aid, "firmware", r.firmware, a.firmware))
        if r.model and models.get(aid) and _norm(r.model) not in models[aid]:
            mismatches.append(_mm(r.id, aid, "model", r.model, a.product or a.order_number or ""))
    shadow = []
    for aid, a in assets.items():
        summ = merge.Summary(vendor=a.vendor, product=a.product, firmware=a.firmware, role=Role(a.role),
                             protocols=sorted(protos.get(aid, [])))
        if aid not in seen_ids and merge.is_ot(summ):
            shadow.append(aid)
    return {"matched": matched, "missing": missing, "shadow": shadow, "mismatches": mismatches}


def _row(r: RegisterEntry) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "ip": r.ip, "mac": r.mac, "vendor": r.vendor, "model": r.model,
            "firmware": r.firmware, "location": r.location}


def _mm(rid: int, aid: int, field: str, expected: str, observed: str) -> dict[str, Any]:
    return {"register_id": rid, "asset": aid, "field": field, "expected": expected, "observed": observed}
