"""Which advisory applies to which device: pure functions, every step with its evidence.

Steps, for an asset (vendor, product / model, order number, firmware, serial) and one advisory product entry:

1. **vendor**: the entry's vendor string names the asset's vendor (``cpe.vendor_keys``: ``Schneider Electric
   Software, LLC`` and ``Schneider Electric `` are one vendor; ``Phoenix Broadband`` and Baxter's "Phoenix" are
   not Phoenix Contact). No vendor in common: no relation at all.
2. **product**, with a confidence:
   * ``exact``: a model / order / catalog number of the entry (``model_numbers``, ``skus``, or written in its name)
     is the asset's (Siemens order numbers compared without spaces; Rockwell series letters must agree when both
     give one), or the entry's CPE is one of the asset's, or the entry's product name is the asset's product name
     (when that name is not a family's);
   * ``family``: the entry names a product family (``SIMATIC S7-300 CPU family``, ``ControlLogix 5560
     controllers``, ``Modicon M340 CPU (part numbers BMXP34*)``) the asset is in, and names no concrete model;
     a generation in the name (``family version 4``, ``family < V4.x``, ``V4.x``, ``V6 and below``, ``V7``) must
     hold for the asset's firmware;
   * ``vendor-only``: same vendor, nothing more: kept as evidence, **never reported as a match**.
3. **version**: the entry's ``product_version_range`` / ``product_version`` against the asset's firmware
   (``versions.evaluate``); unknown firmware -> "possibly affected, firmware unknown", never affected.
4. **status** per vulnerability (CSAF 3.2.3.9): the entry must be in ``known_affected`` (or first/last_affected);
   an entry of the asset in ``fixed`` / ``known_not_affected`` whose version holds clears it. Where an exact
   entry of the asset is listed as affected for a vulnerability, family entries are not used for it (the specific
   entry decides: a patched CPU 315-2 is not affected because an S7-300 family line says "all versions").

One ``Match`` per (advisory, CVE): ``affected`` or ``possible`` (firmware unknown, or a range or condition that
cannot be checked), with the confidence and the evidence of the entry that decided it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from otscope.collector.advisories import cpe as cpe_rules
from otscope.collector.advisories.csaf import AFFECTED, FIXED, Advisory, Product, Vulnerability
from otscope.collector.advisories.versions import Evaluation, Verdict, VersionRange, parse_range, parse_version, \
    evaluate


class Confidence(str, Enum):
    EXACT = "exact"
    FAMILY = "family"
    VENDOR_ONLY = "vendor-only"


class Status(str, Enum):
    AFFECTED = "affected"
    POSSIBLE = "possible"          # firmware unknown, or the range / a condition cannot be checked


SEVERITIES = ("none", "low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Identity:
    """What the inventory knows of a device (collector asset columns and facts)."""

    vendor: str | None
    product: str | None = None
    order_number: str | None = None
    firmware: str | None = None
    model: str | None = None
    serial: str | None = None
    hardware_version: str | None = None
    family: str | None = None          # a product family stated elsewhere (a register, an operator): "S7-300"


@dataclass(frozen=True, slots=True)
class Prepared:
    identity: Identity
    vendors: frozenset[str]
    vendor: str | None
    models: tuple[cpe_rules.Model, ...]
    families: tuple[cpe_rules.FamilyHit, ...]
    names: frozenset[str]
    cpes: frozenset[str]
    fw_label: int | None

    @property
    def family_ids(self) -> frozenset[str]:
        return frozenset(h.family for h in self.families)


def _name_key(text: str) -> str:
    t = re.sub(r"\([^)]*\)", " ", text.replace("\xa0", " ")).lower()
    t = re.sub(r"\b(series|controllers?|simatic|sysmac|melsec|modicon|ver(?:sion)?s?)\b", " ", t)
    return re.sub(r"[^a-z0-9]+", " ", t).strip()


def wago_fw_label(firmware: str | None) -> int | None:
    """WAGO's FW label of a PFC firmware version: written in brackets (``03.10.08(22)`` = FW22), else by WAGO's
    numbering of the 03.MM releases, 03.00 = FW12 ... 03.10 = FW22 (the README's 03.10.08 = FW22)."""
    v = parse_version(firmware) if firmware else None
    if v is None:
        return None
    if v.label is not None:
        return v.label
    rel = v.release
    if len(rel) >= 2 and rel[0] == 3 and rel[1] is not None and 0 <= rel[1] <= 10:
        return rel[1] + 12
    return None


def prepare(identity: Identity) -> Prepared:
    vendors = cpe_rules.vendor_keys(identity.vendor)
    vendor = sorted(vendors)[0] if vendors else None
    models: list[cpe_rules.Model] = []
    fams: list[cpe_rules.FamilyHit] = []
    names: set[str] = set()
    if vendor:
        models = cpe_rules.asset_models(vendor, identity.order_number, identity.product, identity.model)
        fams = cpe_rules.asset_families(vendor, models, identity.product, identity.model)
        if identity.family:
            known = {h.family for h in fams}
            fams += [h for h in cpe_rules.asset_families(vendor, [], identity.family, None) if h.family not in known]
        names = {k for k in (_name_key(t) for t in (identity.product, identity.model) if t) if k}
    cpes = frozenset(c.cpe for c in cpe_rules.cpe_names(identity.vendor, identity.product, identity.order_number,
                                                          identity.model, identity.firmware,
                                                          identity.hardware_version))
    return Prepared(identity, vendors, vendor, tuple(models), tuple(fams), frozenset(names), cpes,
                    wago_fw_label(identity.firmware) if vendor == "wago" else None)


# --- advisory entries ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Generation:
    """A firmware generation a family entry's name restricts itself to (``CPU family version 4``)."""

    op: str          # "=", "<", "<="
    major: int
    text: str

    def holds(self, major: int) -> bool:
        return major == self.major if self.op == "=" else major < self.major if self.op == "<" else \
            major <= self.major


_GENERATIONS = (
    (re.compile(r"\bV(\d{1,2}) and below\b", re.I), "<="),
    (re.compile(r"<\s*V(\d{1,2})\.x\b", re.I), "<"),
    (re.compile(r"\bfamily version (\d{1,2})\b", re.I), "="),
    (re.compile(r"(?<![<\w.])V(\d{1,2})\.x\b", re.I), "="),
    (re.compile(r"\bV(\d{1,2})\b(?= CPU family)", re.I), "="),
)


def generation(name: str) -> Generation | None:
    for rx, op in _GENERATIONS:
        m = rx.search(name)
        if m:
            return Generation(op, int(m.group(1)), m.group(0))
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One product of an advisory, analysed once."""

    product: Product
    vendors: frozenset[str]
    models: tuple[cpe_rules.Model, ...]          # concrete model numbers
    prefixes: tuple[str, ...]                    # wildcard model numbers: BMXP34*, 750-82xx
    families: frozenset[str]
    name_key: str
    range: VersionRange
    generation: Generation | None

    @property
    def is_family(self) -> bool:
        return not self.models and bool(self.families)


def analyse(p: Product) -> Entry:
    vendors = cpe_rules.vendor_keys(p.vendor)
    name = p.product_name or p.name
    models: list[cpe_rules.Model] = []
    for v in sorted(vendors):
        for text in (*p.model_numbers, *p.skus):
            found = cpe_rules.models_in(v, text)
            models += found or [cpe_rules.Model(cpe_rules.norm(text), prefix=bool(re.search(r"\*|xx|x$", text, re.I)))]
        models += cpe_rules.models_in(v, name)
    concrete = tuple(dict.fromkeys(m for m in models if not m.prefix))
    prefixes = tuple(dict.fromkeys(m.key.rstrip("X*").replace("XX", "") for m in models if m.prefix))
    fams = cpe_rules.families_named(vendors, name)
    return Entry(p, vendors, concrete, prefixes, fams, _name_key(name) if not fams else "",
                 parse_range(p.version), generation(name) if fams else None)


@dataclass(frozen=True, slots=True)
class Relation:
    confidence: Confidence
    evidence: tuple[str, ...]


def relate(a: Prepared, e: Entry) -> Relation | None:
    """Step 1 and 2: None when the vendors differ."""
    common = a.vendors & e.vendors
    if not common:
        return None
    p = e.product
    ev = [f"vendor {(p.vendor or '').strip()[:60]!r} is {a.identity.vendor!r} ({', '.join(sorted(common))})"]
    for m in e.models:
        for am in a.models:
            if m.matches(am):
                series = f" series {'/'.join(sorted(m.series))}" if m.series else ""
                ev.append(f"model number {m.key}{series} = asset {am.key}"
                          + (f"/{'/'.join(sorted(am.series))}" if am.series else ""))
                return Relation(Confidence.EXACT, tuple(ev))
    if p.cpe and p.cpe.lower() in a.cpes:
        ev.append(f"CPE {p.cpe} is the asset's")
        return Relation(Confidence.EXACT, tuple(ev))
    if e.name_key and e.name_key in a.names:
        ev.append(f"product name {(p.product_name or p.name)[:80]!r} = asset product")
        return Relation(Confidence.EXACT, tuple(ev))
    if e.is_family:
        fams = e.families & a.family_ids
        if fams:
            concrete = [m.key for m in a.models if not m.prefix]
            if e.prefixes and concrete and not any(c.startswith(px) for c in concrete for px in e.prefixes):
                return Relation(Confidence.VENDOR_ONLY, tuple(ev + [
                    f"family entry limited to part numbers {', '.join(e.prefixes)}*: not {concrete[0]}"]))
            hits = [h for h in a.families if h.family in fams]
            ev.append(f"family {(p.product_name or p.name)[:80]!r}: {hits[0].evidence} (rule {hits[0].rule})")
            return Relation(Confidence.FAMILY, tuple(ev))
    return Relation(Confidence.VENDOR_ONLY, tuple(ev + ["no model number, product name or family in common"]))


def version_step(a: Prepared, e: Entry, rel: Relation) -> Evaluation:
    """Step 3, with a family entry's generation first."""
    if rel.confidence is Confidence.FAMILY and e.generation is not None:
        v = parse_version(a.identity.firmware) if a.identity.firmware else None
        if v is None or v.release[0] is None:
            return Evaluation(Verdict.FIRMWARE_UNKNOWN, f"firmware unknown (entry limited to {e.generation.text})")
        if not e.generation.holds(v.release[0]):
            return Evaluation(Verdict.NOT_AFFECTED, f"firmware {a.identity.firmware} is not {e.generation.text}")
    return evaluate(e.range, a.identity.firmware, serial=a.identity.serial, fw_label=a.fw_label)


# --- results -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Match:
    tracking_id: str
    revision: str
    title: str
    cve: str | None
    severity: str | None             # from CVSS v3 baseSeverity, lower case
    score: float | None
    status: Status
    confidence: Confidence
    product_id: str
    product: str
    version_range: str | None
    reason: str
    evidence: tuple[str, ...]
    remediation: str | None = None


@dataclass(frozen=True, slots=True)
class Considered:
    """One entry weighed for an asset (``explain``): vendor-only ones included."""

    product_id: str
    product: str
    confidence: Confidence
    verdict: Verdict
    evidence: tuple[str, ...]


def _severity(v: Vulnerability, pid: str) -> tuple[str | None, float | None]:
    score = v.product_scores.get(pid, v.score)
    sev = (v.severity or "").lower() or None
    if score is not None and sev is None:
        sev = "critical" if score >= 9 else "high" if score >= 7 else "medium" if score >= 4 else \
            "low" if score > 0 else "none"
    return (sev if sev in SEVERITIES else None), score


_RANK = {(Status.AFFECTED, Confidence.EXACT): 0, (Status.AFFECTED, Confidence.FAMILY): 1,
         (Status.POSSIBLE, Confidence.EXACT): 2, (Status.POSSIBLE, Confidence.FAMILY): 3}


@dataclass(slots=True)
class _Weighed:
    entry: Entry
    rel: Relation
    ev: Evaluation


@dataclass(frozen=True, slots=True)
class _VulnIndex:
    """A vulnerability's product status as sets, and its vendor fixes by product (made once per advisory)."""

    vuln: Vulnerability
    affected: frozenset[str]
    cleared: frozenset[str]
    fixes: dict[str, str]


def _index(adv: Advisory) -> tuple[_VulnIndex, ...]:
    out = []
    for v in adv.vulnerabilities:
        fixes: dict[str, str] = {}
        for r in v.remediations:
            if r.category == "vendor_fix":
                for pid in r.product_ids:
                    fixes.setdefault(pid, r.details[:300])
        out.append(_VulnIndex(v, frozenset(p for k in AFFECTED for p in v.status.get(k, ())),
                              frozenset(p for k in (*FIXED, "known_not_affected") for p in v.status.get(k, ())),
                              fixes))
    return tuple(out)


def match_entries(adv: Advisory, a: Prepared, weighed: list[_Weighed],
                  index: tuple[_VulnIndex, ...] | None = None) -> list[Match]:
    """Step 4 over the entries of one advisory already related to the asset."""
    by_id = {w.entry.product.product_id: w for w in weighed if w.rel.confidence is not Confidence.VENDOR_ONLY}
    out: list[Match] = []
    for vi in index if index is not None else _index(adv):
        v, affected, cleared = vi.vuln, vi.affected, vi.cleared
        listed = [w for p, w in by_id.items() if p in affected or p in cleared]
        if not listed:
            continue
        if any(w.rel.confidence is Confidence.EXACT and w.entry.product.product_id in affected for w in listed):
            listed = [w for w in listed if w.rel.confidence is Confidence.EXACT]
        clear = [w for w in listed if w.entry.product.product_id in cleared and w.ev.verdict is Verdict.AFFECTED]
        if clear:
            continue             # the asset's version is listed as fixed / not affected for this CVE
        best: tuple[int, _Weighed, Status] | None = None
        for w in listed:
            if w.entry.product.product_id not in affected or w.ev.verdict is Verdict.NOT_AFFECTED:
                continue
            st = Status.AFFECTED if w.ev.verdict is Verdict.AFFECTED else Status.POSSIBLE
            rank = _RANK[(st, w.rel.confidence)]
            if best is None or rank < best[0] or (rank == best[0] and w.entry.product.product_id <
                                                   best[1].entry.product.product_id):
                best = (rank, w, st)
        if best is None:
            continue
        _, w, st = best
        pid = w.entry.product.product_id
        sev, score = _severity(v, pid)
        reason = w.ev.reason if st is Status.AFFECTED else (
            "possibly affected, firmware unknown" if w.ev.verdict is Verdict.FIRMWARE_UNKNOWN
            else f"possibly affected: {w.ev.reason}")
        out.append(Match(adv.tracking_id, adv.revision, adv.title, v.cve, sev, score, st, w.rel.confidence, pid,
                         w.entry.product.name, w.entry.product.version, reason[:300],
                         w.rel.evidence + (f"version: {w.ev.reason}"[:300],
                                           f"product_status lists {pid} for {v.cve or 'the vulnerability'}"),
                         vi.fixes.get(pid)))
    return out


class Catalog:
    """Advisories analysed once and indexed by vendor + model number / family / product name, so an asset is
    weighed only against the entries that can relate to it (10,000 assets x 1,000 advisories: bench.py)."""

    def __init__(self, advisories: Iterable[Advisory] = ()) -> None:
        self.advisories: dict[str, Advisory] = {}
        self.entries: dict[str, list[Entry]] = {}
        self.index: dict[str, tuple[_VulnIndex, ...]] = {}
        self._by_model: dict[tuple[str, str], list[tuple[str, Entry]]] = defaultdict(list)
        self._by_family: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
        self._by_name: dict[tuple[str, str], list[tuple[str, Entry]]] = defaultdict(list)
        self._by_cpe: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
        self._by_vendor: dict[str, set[str]] = defaultdict(set)
        for adv in advisories:
            self.add(adv)

    def add(self, adv: Advisory) -> None:
        key = adv.tracking_id
        if key in self.advisories:
            raise ValueError(f"{key} is in the catalog already")
        self.advisories[key] = adv
        entries = [analyse(p) for p in adv.products.values()]
        self.entries[key] = entries
        self.index[key] = _index(adv)
        for e in entries:
            for v in e.vendors:
                self._by_vendor[v].add(key)
                for m in e.models:
                    self._by_model[(v, m.key)].append((key, e))
                if e.name_key:
                    self._by_name[(v, e.name_key)].append((key, e))
            for f in e.families:
                self._by_family[f].append((key, e))
            if e.product.cpe:
                self._by_cpe[e.product.cpe.lower()].append((key, e))

    def candidates(self, a: Prepared) -> dict[str, list[Entry]]:
        found: dict[str, dict[str, Entry]] = defaultdict(dict)
        for v in a.vendors:
            for m in a.models:
                for key, e in self._by_model.get((v, m.key), ()):
                    found[key][e.product.product_id] = e
            for n in a.names:
                for key, e in self._by_name.get((v, n), ()):
                    found[key][e.product.product_id] = e
        for f in a.family_ids:
            for key, e in self._by_family.get(f, ()):
                found[key][e.product.product_id] = e
        for c in a.cpes:
            for key, e in self._by_cpe.get(c, ()):
                found[key][e.product.product_id] = e
        return {k: list(v.values()) for k, v in found.items()}

    def match(self, identity: Identity | Prepared) -> list[Match]:
        a = identity if isinstance(identity, Prepared) else prepare(identity)
        out: list[Match] = []
        for key, entries in sorted(self.candidates(a).items()):
            weighed = []
            for e in entries:
                rel = relate(a, e)
                if rel is None or rel.confidence is Confidence.VENDOR_ONLY:
                    continue
                weighed.append(_Weighed(e, rel, version_step(a, e, rel)))
            if weighed:
                out += match_entries(self.advisories[key], a, weighed, self.index[key])
        return out

    def explain(self, identity: Identity, tracking_id: str) -> list[Considered]:
        """Every entry of one advisory weighed for the asset, vendor-only relations included (never matches)."""
        a = prepare(identity)
        out = []
        for e in self.entries.get(tracking_id, []):
            rel = relate(a, e)
            if rel is None:
                continue
            ev = version_step(a, e, rel) if rel.confidence is not Confidence.VENDOR_ONLY else \
                Evaluation(Verdict.UNDECIDED, "not weighed: vendor only")
            out.append(Considered(e.product.product_id, e.product.name, rel.confidence, ev.verdict,
                                  rel.evidence + (ev.reason,)))
        return out


def match(identity: Identity, advisories: Iterable[Advisory]) -> list[Match]:
    """Convenience: the matches of one asset against some advisories."""
    return Catalog(advisories).match(identity)


@dataclass(frozen=True, slots=True)
class Summary:
    """Per advisory: the strongest status for one asset (what the README's expected lists are about)."""

    tracking_id: str
    status: Status
    confidence: Confidence
    cves: tuple[str, ...] = field(default=())


def by_advisory(matches: Iterable[Match]) -> dict[str, Summary]:
    out: dict[str, Summary] = {}
    for m in matches:
        cur = out.get(m.tracking_id)
        cves = tuple(sorted(set((cur.cves if cur else ()) + ((m.cve,) if m.cve else ()))))
        if cur is None or _RANK[(m.status, m.confidence)] < _RANK[(cur.status, cur.confidence)]:
            out[m.tracking_id] = Summary(m.tracking_id, m.status, m.confidence, cves)
        else:
            out[m.tracking_id] = Summary(cur.tracking_id, cur.status, cur.confidence, cves)
    return out
