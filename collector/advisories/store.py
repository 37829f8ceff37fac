"""Advisories in the inventory: import, matching into ``vulnerability_matches``, CPE names into ``asset_cpes``, and
the read side for the CLI and the API. Repository functions: they never commit (the caller's
``uow.unit_of_work`` owns the transaction, so an import and its matches are applied together or not at all).

Import (``import_sources``): each document is parsed whole first (csaf.parse: schema, bounds); a broken one is
reported by its file and skipped, having written nothing. The key is ``document.tracking.id`` + ``tracking.version``:
the same key again is ``unchanged`` (idempotent re-import), a newer revision of a tracking id becomes the ``latest``
one, the only one matched.

Matching (``refresh``): every asset with a vendor against the latest revisions (match.Catalog); rows are inserted,
updated or deleted so the table equals the matcher's answer, keeping when each match was first seen. The pairs
(asset, advisory) that became *affected* are returned: the import raises an ``advisory-match`` event for each.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, true, update
from sqlalchemy.orm import Session

from otscope.collector.advisories import cpe as cpe_rules
from otscope.collector.advisories import csaf, match
from otscope.collector.advisories.versions import parse_version
from otscope.collector.models import Advisory, Asset, AssetCpe, Fact, VulnerabilityMatch

EXTRA_FIELDS = ("model", "hardware_version")       # facts the matcher reads besides the asset columns


class Outcome(str, Enum):
    IMPORTED = "imported"
    NEWER = "imported (newer revision)"
    OLDER = "imported (older revision, not matched)"
    UNCHANGED = "unchanged"
    CONFLICT = "skipped"          # same tracking id + revision already imported with other content
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FileResult:
    source: str
    outcome: Outcome
    tracking_id: str | None = None
    revision: str | None = None
    message: str = ""


@dataclass(slots=True)
class ImportReport:
    files: list[FileResult] = field(default_factory=list)
    newly_affected: list[NewlyAffected] = field(default_factory=list)
    matches: int = 0
    events: list[Any] = field(default_factory=list)          # the advisory-match events made (events.NewEvent)
    unchecked: int = 0                                         # documents read without the CSAF schema

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome is Outcome.ERROR]


def _rev_key(revision: str, current: str | None) -> tuple:
    v = parse_version(revision)
    return (v.key() if v else ((-1,), ()), current or "")


def add_advisory(s: Session, adv: csaf.Advisory, source: str, now: float) -> FileResult:
    """Store one parsed advisory (idempotent on tracking id + revision)."""
    same = s.scalar(select(Advisory).where(Advisory.tracking_id == adv.tracking_id,
                                           Advisory.revision == adv.revision))
    if same is not None:
        if same.sha256 == adv.sha256 or not adv.sha256:
            return FileResult(source, Outcome.UNCHANGED, adv.tracking_id, adv.revision, "already imported")
        return FileResult(source, Outcome.CONFLICT, adv.tracking_id, adv.revision,
                          f"{adv.tracking_id} revision {adv.revision} was imported from other content "
                          f"({same.source[-80:]}); kept that one")
    others = list(s.scalars(select(Advisory).where(Advisory.tracking_id == adv.tracking_id)))
    mine = _rev_key(adv.revision, adv.current_release)
    newest = all(_rev_key(o.revision, o.current_release) < mine for o in others)
    if newest:
        for o in others:
            o.latest = False
    cves = sorted({v.cve for v in adv.vulnerabilities if v.cve})
    s.add(Advisory(tracking_id=adv.tracking_id, revision=adv.revision, title=adv.title[:512],
                   publisher=adv.publisher[:256], initial_release=adv.initial_release,
                   current_release=adv.current_release, source=source[-512:], sha256=adv.sha256,
                   schema_checked=adv.schema_checked, latest=newest, products=len(adv.products), cves=cves[:2000],
                   body=csaf.to_json(adv), imported_at=now))
    s.flush()
    outcome = (Outcome.NEWER if others else Outcome.IMPORTED) if newest else Outcome.OLDER
    return FileResult(source, outcome, adv.tracking_id, adv.revision,
                      f"{len(adv.products)} products, {len(adv.vulnerabilities)} vulnerabilities")


def import_sources(s: Session, paths: Sequence[str], *, validate: bool = True, now: float | None = None,
                   events: bool = True) -> ImportReport:
    """Read, store and match; the caller commits. Broken documents are reported and skipped."""
    now = time.time() if now is None else now
    rep = ImportReport()
    for src in csaf.sources(list(paths)):
        if src.data is None:
            rep.files.append(FileResult(src.name, Outcome.ERROR, message=src.error or "unreadable"))
            continue
        try:
            adv = csaf.parse(src.data, src.name, validate=validate)
        except csaf.AdvisoryError as exc:
            rep.files.append(FileResult(src.name, Outcome.ERROR, message=str(exc)[:300]))
            continue
        rep.unchecked += not adv.schema_checked
        rep.files.append(add_advisory(s, adv, src.name, now))
    if any(f.outcome in (Outcome.IMPORTED, Outcome.NEWER) for f in rep.files):
        rep.newly_affected = refresh(s, now)
        if events and rep.newly_affected:
            rep.events = raise_events(s, rep.newly_affected, now)
    rep.matches = s.scalar(select(func.count(VulnerabilityMatch.id))) or 0
    return rep


# --- matching ----------------------------------------------------------------------------------------------

def catalog(s: Session) -> tuple[match.Catalog, dict[str, int]]:
    """The latest revision of every advisory, analysed; and each tracking id's row id."""
    cat = match.Catalog()
    ids: dict[str, int] = {}
    for row in s.scalars(select(Advisory).where(Advisory.latest.is_(True)).order_by(Advisory.tracking_id)):
        cat.add(csaf.from_json(row.tracking_id, row.revision, row.title, row.publisher, row.body, row.source))
        ids[row.tracking_id] = row.id
    return cat, ids


def identities(s: Session, asset_ids: Iterable[int] | None = None) -> dict[int, match.Identity]:
    """What the matcher reads of each asset with a vendor: the asset's columns plus its model / hardware facts."""
    q = select(Asset.id, Asset.vendor, Asset.product, Asset.order_number, Asset.firmware, Asset.serial) \
        .where(Asset.vendor.is_not(None), Asset.merged_into.is_(None))
    if asset_ids is not None:
        q = q.where(Asset.id.in_(list(asset_ids)))
    rows = s.execute(q).all()
    extra: dict[int, dict[str, str]] = {}
    ids = [r[0] for r in rows]
    for i in range(0, len(ids), 900):
        for aid, fld, val in s.execute(select(Fact.asset_id, Fact.field, Fact.value).where(
                Fact.asset_id.in_(ids[i:i + 900]), Fact.field.in_(EXTRA_FIELDS)).order_by(Fact.id)):
            extra.setdefault(aid, {}).setdefault(fld, val)
    return {aid: match.Identity(vendor, product, order, fw, extra.get(aid, {}).get("model"), serial,
                                extra.get(aid, {}).get("hardware_version"))
            for aid, vendor, product, order, fw, serial in rows}


def _row_values(m: match.Match, advisory_id: int) -> dict[str, Any]:
    return {"advisory_id": advisory_id, "title": m.title[:512], "severity": m.severity, "score": m.score,
            "status": m.status.value, "confidence": m.confidence.value, "product_id": m.product_id[:128],
            "product": m.product[:512], "version_range": (m.version_range or None) and m.version_range[:256],
            "reason": m.reason[:512], "evidence": [e[:300] for e in m.evidence[:12]],
            "remediation": m.remediation[:512] if m.remediation else None}


@dataclass(frozen=True, slots=True)
class NewlyAffected:
    """An (asset, advisory) pair a refresh made affected, with what its event says."""

    asset_id: int
    tracking_id: str
    title: str
    cves: tuple[str, ...]
    score: float | None
    severity: str | None
    confidence: str
    product: str
    source: str


_COMPARED = ("advisory_id", "title", "severity", "score", "status", "confidence", "product_id", "product",
             "version_range", "reason", "evidence", "remediation")


def refresh(s: Session, now: float | None = None, asset_ids: Iterable[int] | None = None) -> list[NewlyAffected]:
    """Make ``vulnerability_matches`` and ``asset_cpes`` what the matcher says now (Core statements in bulk: a
    10,000-asset inventory against 1,000 advisories is hundreds of thousands of rows); the (asset, advisory) pairs
    that became affected."""
    now = time.time() if now is None else now
    cat, adv_ids = catalog(s)
    sources = dict(s.execute(select(Advisory.id, Advisory.source).where(Advisory.latest.is_(True))).all())
    idents = identities(s, asset_ids)
    want: dict[tuple[int, str, str], dict[str, Any]] = {}
    cpes: dict[tuple[int, str], tuple[str, str]] = {}
    for aid, ident in idents.items():
        prepared = match.prepare(ident)
        for m in cat.match(prepared):
            want[(aid, m.tracking_id, m.cve or "")] = _row_values(m, adv_ids[m.tracking_id])
        for c in cpe_rules.cpe_names(ident.vendor, ident.product, ident.order_number, ident.model, ident.firmware,
                                     ident.hardware_version):
            cpes[(aid, c.cpe[:512])] = (c.part.value, c.rule[:64])
    t = VulnerabilityMatch.__table__
    scope = t.c.asset_id.in_(list(idents)) if asset_ids is not None else true()
    cols = [t.c.id, t.c.asset_id, t.c.tracking_id, t.c.cve, *(t.c[k] for k in _COMPARED)]
    have: dict[tuple[int, str, str], tuple[int, dict[str, Any]]] = {}
    for row in s.execute(select(*cols).where(scope)):
        have[(row[1], row[2], row[3])] = (row[0], dict(zip(_COMPARED, row[4:])))
    before = {(k[0], k[1]) for k, (_i, v) in have.items() if v["status"] == match.Status.AFFECTED.value}
    gone = [i for k, (i, _v) in have.items() if k not in want]
    changed = [{"_id": i, **want[k], "updated": now} for k, (i, v) in have.items()
               if k in want and any(want[k][c] != v[c] for c in _COMPARED)]
    new = [{"asset_id": k[0], "tracking_id": k[1], "cve": k[2], "first_matched": now, "updated": now, **v}
           for k, v in want.items() if k not in have]
    conn = s.connection()
    for i in range(0, len(gone), 900):
        conn.execute(delete(t).where(t.c.id.in_(gone[i:i + 900])))
    if changed:
        conn.execute(update(t).where(t.c.id == bindparam("_id")).values(
            {c: bindparam(c) for c in (*_COMPARED, "updated")}), changed)
    for i in range(0, len(new), 5000):
        conn.execute(insert(t), new[i:i + 5000])
    ct = AssetCpe.__table__
    cscope = ct.c.asset_id.in_(list(idents)) if asset_ids is not None else true()
    have_c = {(a, c): (i, p, r) for i, a, c, p, r in s.execute(select(ct.c.id, ct.c.asset_id, ct.c.cpe, ct.c.part,
                                                                      ct.c.rule).where(cscope))}
    gone_c = [v[0] for k, v in have_c.items() if k not in cpes or (v[1], v[2]) != cpes[k]]
    for i in range(0, len(gone_c), 900):
        conn.execute(delete(ct).where(ct.c.id.in_(gone_c[i:i + 900])))
    new_c = [{"asset_id": k[0], "cpe": k[1], "part": p, "rule": r} for k, (p, r) in cpes.items()
             if k not in have_c or (have_c[k][1], have_c[k][2]) != (p, r)]
    for i in range(0, len(new_c), 5000):
        conn.execute(insert(ct), new_c[i:i + 5000])
    after: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for k, v in want.items():
        if v["status"] == match.Status.AFFECTED.value and (k[0], k[1]) not in before:
            after.setdefault((k[0], k[1]), []).append({**v, "cve": k[2]})
    out = []
    for (aid, tid), rows in sorted(after.items()):
        worst = max(rows, key=lambda r: (r["score"] or 0.0))
        out.append(NewlyAffected(aid, tid, worst["title"], tuple(sorted({r["cve"] for r in rows if r["cve"]})),
                                 worst["score"], worst["severity"], worst["confidence"], worst["product"],
                                 sources.get(worst["advisory_id"], tid)))
    return out


def _event_severity(sev: str | None) -> str:
    return {"critical": "high", "high": "high", "medium": "medium"}.get(sev or "", "low")


def raise_events(s: Session, pairs: Sequence[NewlyAffected], now: float) -> list:  # type: ignore[type-arg]
    """One ``advisory-match`` event per (asset, advisory) that became affected (collector/events.py)."""
    from otscope.collector import events

    occs = []
    for p in pairs:
        cves = ", ".join(p.cves[:5]) + (" ..." if len(p.cves) > 5 else "")
        msg = (f"{p.tracking_id} {p.title[:120]}: affected ({p.confidence}) by {cves or 'a vulnerability'}; "
               f"CVSS {p.score if p.score is not None else '-'}; {p.product[:100]}")
        occs.append(events.Occurrence(kind="advisory-match", asset_id=p.asset_id, client_id=None, protocol="csaf",
                                      detail=p.tracking_id[:256], message=msg[:512], evidence=p.source[-512:],
                                      sensor="advisories", first_seen=now, last_seen=now, once=True,
                                      severity=_event_severity(p.severity)))
    return events.record(s, occs, [False] * len(occs), now=now)


# --- read side ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VulnFilter:
    asset_id: int | None = None
    advisory: str | None = None          # tracking id
    cve: str | None = None
    severity: str | None = None
    status: str | None = None
    confidence: str | None = None


def _where(f: VulnFilter) -> list:  # type: ignore[type-arg]
    c = []
    if f.asset_id is not None:
        c.append(VulnerabilityMatch.asset_id == f.asset_id)
    if f.advisory is not None:
        c.append(VulnerabilityMatch.tracking_id == f.advisory)
    if f.cve is not None:
        c.append(VulnerabilityMatch.cve == f.cve)
    if f.severity is not None:
        c.append(VulnerabilityMatch.severity == f.severity)
    if f.status is not None:
        c.append(VulnerabilityMatch.status == f.status)
    if f.confidence is not None:
        c.append(VulnerabilityMatch.confidence == f.confidence)
    return c


def list_matches(s: Session, f: VulnFilter = VulnFilter(), limit: int | None = None, offset: int = 0) \
        -> tuple[list[VulnerabilityMatch], int]:
    """Matches by asset, then advisory, then CVE; and how many match the filter in all."""
    conds = _where(f)
    total = s.scalar(select(func.count(VulnerabilityMatch.id)).where(*conds)) or 0
    q = select(VulnerabilityMatch).where(*conds).order_by(VulnerabilityMatch.asset_id, VulnerabilityMatch.tracking_id,
                                                          VulnerabilityMatch.cve).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(s.scalars(q)), total


def as_dict(r: VulnerabilityMatch, names: dict[int, str] | None = None) -> dict[str, Any]:
    """The public shape of a match (API schema, CLI JSON)."""
    return {"asset_id": r.asset_id, "asset": (names or {}).get(r.asset_id), "advisory": r.tracking_id,
            "title": r.title, "cve": r.cve or None, "severity": r.severity, "score": r.score, "status": r.status,
            "confidence": r.confidence, "product_id": r.product_id, "product": r.product,
            "version_range": r.version_range, "reason": r.reason, "evidence": list(r.evidence or []),
            "remediation": r.remediation, "first_matched": r.first_matched}


def summaries(s: Session, asset_ids: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:
    """Per asset: affected / possible advisory ids and the worst CVSS score (asset lists, exports, dashboard)."""
    q = select(VulnerabilityMatch.asset_id, VulnerabilityMatch.tracking_id, VulnerabilityMatch.status,
               VulnerabilityMatch.score, VulnerabilityMatch.severity)
    if asset_ids is not None:
        q = q.where(VulnerabilityMatch.asset_id.in_(list(asset_ids)))
    out: dict[int, dict[str, Any]] = {}
    for aid, tid, status, score, sev in s.execute(q):
        o = out.setdefault(aid, {"affected": set(), "possible": set(), "max_score": None, "max_severity": None})
        o["affected" if status == "affected" else "possible"].add(tid)
        if status == "affected" and score is not None and (o["max_score"] is None or score > o["max_score"]):
            o["max_score"], o["max_severity"] = score, sev
    for o in out.values():
        o["possible"] = sorted(o["possible"] - o["affected"])
        o["affected"] = sorted(o["affected"])
    return out


def version(s: Session) -> tuple[int, int, float]:
    """Changes whenever the matches change (a cache key next to queries.inventory_version)."""
    n, top, upd = s.execute(select(func.count(VulnerabilityMatch.id), func.coalesce(func.max(VulnerabilityMatch.id), 0),
                                   func.coalesce(func.max(VulnerabilityMatch.updated), 0.0))).one()
    return int(n), int(top), float(upd)


def attach(s: Session, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each asset dict gets ``vulns``: its vulnerability summary, or None (API lists and exports)."""
    summ = summaries(s, [a["id"] for a in data]) if data else {}
    for a in data:
        a["vulns"] = summ.get(a["id"])
    return data


def cpes_of(s: Session, asset_id: int) -> list[dict[str, str]]:
    return [{"part": r.part, "cpe": r.cpe, "rule": r.rule} for r in
            s.scalars(select(AssetCpe).where(AssetCpe.asset_id == asset_id).order_by(AssetCpe.part, AssetCpe.cpe))]


def advisories(s: Session) -> list[dict[str, Any]]:
    return [{"tracking_id": r.tracking_id, "revision": r.revision, "title": r.title, "publisher": r.publisher,
             "latest": r.latest, "products": r.products, "cves": list(r.cves or []), "source": r.source,
             "schema_checked": r.schema_checked}
            for r in s.scalars(select(Advisory).order_by(Advisory.tracking_id, Advisory.id))]


def clear(s: Session) -> None:
    s.execute(delete(VulnerabilityMatch))
    s.execute(delete(AssetCpe))
    s.execute(delete(Advisory))
