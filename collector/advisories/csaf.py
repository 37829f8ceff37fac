"""CSAF 2.0 advisories (OASIS CSAF v2.0, https://docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html) read offline.

What is read (section numbers of the standard):
* 3.2.1 ``document``: ``tracking.id`` (the key, never the file name), ``tracking.version`` (the revision),
  ``title``, ``publisher.name``, ``tracking.initial_release_date`` / ``current_release_date``;
* 3.2.2 ``product_tree``: ``branches`` (3.1.2: vendor, product_family, product_name, product_version,
  product_version_range, ... each leaf a ``product``), ``full_product_names`` (3.1.3.4), ``relationships``
  (3.2.2.4: a product installed on / part of another gets its own id); ``product_identification_helper``
  (3.1.3.3): ``cpe``, ``model_numbers``, ``skus``;
* 3.2.3 ``vulnerabilities``: ``cve``, ``title``, ``product_status`` (3.2.3.9: ``known_affected``,
  ``first_affected``, ``last_affected``, ``fixed``, ``first_fixed``, ``known_not_affected``, ``under_investigation``
  recommended), ``scores`` (3.2.3.11: ``cvss_v3.baseScore`` / ``baseSeverity`` per product), ``remediations``
  (3.2.3.12: category, details, product_ids, url).

Bounds: a file over ``MAX_BYTES``, deeper branches than ``MAX_DEPTH``, more than ``MAX_PRODUCTS`` products or
``MAX_VULNS`` vulnerabilities, a missing tracking id, a product status naming a product the tree does not define:
the whole document is refused (``AdvisoryError``), never half-read. Strings are cut to ``MAX_STR``.

Schema: where the ``csaf`` package (PyPI ``csaf``, MIT) is installed, its copy of the CSAF 2.0 JSON schema (and the
CVSS schemas it references) validates each document with ``jsonschema`` (draft 2020-12), offline (a local
``referencing`` registry: no network). Without it, the structural checks above still run (``schema_checked``
False in the result).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

MAX_BYTES = 16 << 20           # CISA's largest ICS advisory is ~2 MB (ICSA-22-167-14: 386 products)
MAX_DEPTH = 16                 # branches nesting (CISA uses 3)
MAX_PRODUCTS = 20_000
MAX_VULNS = 2_000
MAX_STR = 512
MAX_ZIP_MEMBERS = 50_000
STATUS_FIELDS = ("known_affected", "first_affected", "last_affected", "fixed", "first_fixed", "known_not_affected",
                 "recommended", "under_investigation")
AFFECTED = ("known_affected", "first_affected", "last_affected")
FIXED = ("fixed", "first_fixed")


class AdvisoryError(ValueError):
    """A document that is not imported, with the reason (the file is named by the caller)."""


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str                      # the full product name
    vendor: str | None             # the vendor branch
    family: str | None             # a product_family branch
    product_name: str | None       # the product_name branch (the name without the version)
    version: str | None            # product_version (a version) or product_version_range (a range) text
    version_is_range: bool
    model_numbers: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    cpe: str | None = None


@dataclass(frozen=True, slots=True)
class Remediation:
    category: str
    details: str
    product_ids: tuple[str, ...]
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Vulnerability:
    cve: str | None
    title: str | None
    status: dict[str, tuple[str, ...]]          # product_status field -> product ids
    score: float | None                          # the highest CVSS v3 base score given
    severity: str | None                         # its baseSeverity (CRITICAL, HIGH, MEDIUM, LOW, NONE)
    vector: str | None
    product_scores: dict[str, float] = field(default_factory=dict)
    remediations: tuple[Remediation, ...] = ()


@dataclass(frozen=True, slots=True)
class Advisory:
    tracking_id: str
    revision: str
    title: str
    publisher: str
    initial_release: str | None
    current_release: str | None
    products: dict[str, Product]
    vulnerabilities: tuple[Vulnerability, ...]
    source: str = ""
    sha256: str = ""
    schema_checked: bool = False


def _s(v: Any, limit: int = MAX_STR) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise AdvisoryError(f"expected a string, got {type(v).__name__}")
    return v[:limit]


def _obj(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise AdvisoryError(f"{what}: expected an object")
    return v


def _list(v: Any, what: str, limit: int) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise AdvisoryError(f"{what}: expected an array")
    if len(v) > limit:
        raise AdvisoryError(f"{what}: more than {limit} entries")
    return v


def _helper(p: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    h = p.get("product_identification_helper")
    if h is None:
        return (), (), None
    h = _obj(h, "product_identification_helper")
    models = tuple(str(_s(x, 128)) for x in _list(h.get("model_numbers"), "model_numbers", 1000))
    skus = tuple(str(_s(x, 128)) for x in _list(h.get("skus"), "skus", 1000))
    return models, skus, _s(h.get("cpe"), 256)


def _product(p: Any, ctx: dict[str, str | None]) -> Product:
    p = _obj(p, "product")
    pid = _s(p.get("product_id"), 128)
    name = _s(p.get("name"))
    if not pid or name is None:
        raise AdvisoryError("a product without product_id or name")
    models, skus, cpe = _helper(p)
    return Product(pid, name, ctx.get("vendor"), ctx.get("product_family"), ctx.get("product_name"),
                   ctx.get("product_version_range") or ctx.get("product_version"),
                   ctx.get("product_version_range") is not None, models, skus, cpe)


def _walk(branches: list[Any], ctx: dict[str, str | None], depth: int, out: dict[str, Product]) -> None:
    if depth > MAX_DEPTH:
        raise AdvisoryError(f"product_tree branches nested deeper than {MAX_DEPTH}")
    for b in branches:
        b = _obj(b, "branch")
        cat, name = _s(b.get("category"), 64), _s(b.get("name"))
        if not cat or name is None:
            raise AdvisoryError("a branch without category or name")
        here = dict(ctx)
        here[cat] = name
        if "product" in b:
            prod = _product(b["product"], here)
            out[prod.product_id] = prod
            if len(out) > MAX_PRODUCTS:
                raise AdvisoryError(f"more than {MAX_PRODUCTS} products")
        _walk(_list(b.get("branches"), "branches", MAX_PRODUCTS), here, depth + 1, out)


def _tree(tree: dict[str, Any]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    _walk(_list(tree.get("branches"), "branches", MAX_PRODUCTS), {}, 0, out)
    for p in _list(tree.get("full_product_names"), "full_product_names", MAX_PRODUCTS):
        prod = _product(p, {})
        out.setdefault(prod.product_id, prod)
    for r in _list(tree.get("relationships"), "relationships", MAX_PRODUCTS):
        r = _obj(r, "relationship")
        fpn = _obj(r.get("full_product_name"), "relationship.full_product_name")
        ref = out.get(str(_s(r.get("product_reference"), 128)))
        base = _product(fpn, {})
        if ref is not None:        # the component's identity (vendor, version, model numbers) applies
            base = Product(base.product_id, base.name, ref.vendor, ref.family, ref.product_name, ref.version,
                           ref.version_is_range, ref.model_numbers or base.model_numbers, ref.skus or base.skus,
                           ref.cpe or base.cpe)
        out.setdefault(base.product_id, base)
    if len(out) > MAX_PRODUCTS:
        raise AdvisoryError(f"more than {MAX_PRODUCTS} products")
    return out


def _score(v: dict[str, Any], known: dict[str, Product]) -> tuple[float | None, str | None, str | None,
                                                                    dict[str, float]]:
    best: tuple[float | None, str | None, str | None] = (None, None, None)
    per: dict[str, float] = {}
    for s in _list(v.get("scores"), "scores", 1000):
        s = _obj(s, "score")
        c = s.get("cvss_v3")
        if not isinstance(c, dict):
            continue
        base = c.get("baseScore")
        if not isinstance(base, (int, float)) or isinstance(base, bool) or not 0 <= base <= 10:
            raise AdvisoryError("cvss_v3.baseScore is not a number in 0..10")
        for pid in _list(s.get("products"), "score.products", MAX_PRODUCTS):
            if isinstance(pid, str):
                per[pid] = max(per.get(pid, 0.0), float(base))
        if best[0] is None or base > best[0]:
            best = (float(base), _s(c.get("baseSeverity"), 16), _s(c.get("vectorString"), 256))
    return best[0], best[1], best[2], per


def _vuln(v: Any, known: dict[str, Product]) -> Vulnerability:
    v = _obj(v, "vulnerability")
    status: dict[str, tuple[str, ...]] = {}
    ps = v.get("product_status")
    if ps is not None:
        ps = _obj(ps, "product_status")
        for k in STATUS_FIELDS:
            ids = tuple(str(_s(x, 128)) for x in _list(ps.get(k), f"product_status.{k}", MAX_PRODUCTS))
            missing = [i for i in ids if i not in known]
            if missing:
                raise AdvisoryError(f"product_status.{k} names {missing[0]!r}, not in the product_tree")
            if ids:
                status[k] = ids
    rem = []
    for r in _list(v.get("remediations"), "remediations", 1000):
        r = _obj(r, "remediation")
        rem.append(Remediation(str(_s(r.get("category"), 64) or ""), str(_s(r.get("details"), 2048) or ""),
                               tuple(str(_s(x, 128)) for x in _list(r.get("product_ids"), "product_ids",
                                                                    MAX_PRODUCTS)),
                               _s(r.get("url"), 512)))
    score, sev, vec, per = _score(v, known)
    cve = _s(v.get("cve"), 32)
    return Vulnerability(cve, _s(v.get("title")), status, score, sev.upper() if sev else None, vec, per,
                         tuple(rem))


@lru_cache(maxsize=1)
def _validator() -> Any:
    """A jsonschema validator over the csaf package's copy of the CSAF 2.0 schema, or None when not installed."""
    try:
        import csaf as csaf_pkg
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012, DRAFT4  # noqa: F401
    except ImportError:
        return None
    root = Path(csaf_pkg.__file__).parent / "csaf" / "v20" / "schema"
    main = root / "csaf.json"
    if not main.is_file():
        return None
    reg = Registry()
    for path in (root / "referenced").glob("*.json"):
        doc = json.loads(path.read_text("utf-8"))
        rid = str(doc.get("$id") or doc.get("id") or "").split("?")[0]
        if rid:
            try:
                res = Resource.from_contents(doc)
            except Exception:          # a schema without $schema (CVSS v2 is draft 4)
                res = Resource.from_contents(doc, default_specification=DRAFT4)
            reg = reg.with_resource(rid, res)
    schema = json.loads(main.read_text("utf-8"))
    return Draft202012Validator(schema, registry=reg)


def schema_errors(doc: Any, limit: int = 3) -> list[str] | None:
    """The first schema errors of a document (path: message), [] when it is valid, None when no schema is
    installed."""
    v = _validator()
    if v is None:
        return None
    out = []
    for e in v.iter_errors(doc):
        where = "/" + "/".join(str(p) for p in e.absolute_path)
        out.append(f"{where}: {e.message[:160]}")
        if len(out) >= limit:
            break
    return out


def parse(data: bytes, source: str = "", *, validate: bool = True) -> Advisory:
    """One CSAF 2.0 document from its bytes; AdvisoryError when it is not one (the whole document is refused)."""
    if len(data) > MAX_BYTES:
        raise AdvisoryError(f"larger than {MAX_BYTES >> 20} MiB")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdvisoryError(f"not JSON: {str(exc)[:120]}") from None
    except RecursionError:
        raise AdvisoryError("JSON nested too deeply") from None
    doc = _obj(doc, "document root")
    d = _obj(doc.get("document"), "document")
    ver = d.get("csaf_version")
    if ver != "2.0":
        raise AdvisoryError(f"csaf_version {str(ver)[:16]!r} is not 2.0")
    checked = False
    if validate:
        errs = schema_errors(doc)
        if errs:
            raise AdvisoryError("CSAF 2.0 schema: " + "; ".join(errs))
        checked = errs is not None
    tr = _obj(d.get("tracking"), "document.tracking")
    tid = _s(tr.get("id"), 128)
    if not tid or not tid.strip():
        raise AdvisoryError("document.tracking.id is missing")
    rev = _s(tr.get("version"), 32) or "0"
    pub = _obj(d.get("publisher") or {}, "document.publisher")
    products = _tree(_obj(doc.get("product_tree") or {}, "product_tree"))
    vulns = tuple(_vuln(v, products) for v in _list(doc.get("vulnerabilities"), "vulnerabilities", MAX_VULNS))
    return Advisory(tid.strip(), rev, str(_s(d.get("title")) or ""), str(_s(pub.get("name"), 256) or ""),
                    _s(tr.get("initial_release_date"), 40), _s(tr.get("current_release_date"), 40), products, vulns,
                    source, hashlib.sha256(data).hexdigest(), checked)


@dataclass(frozen=True, slots=True)
class Source:
    """One document to read: where it is (``file`` or ``archive.zip!member``) and its bytes, or why not."""

    name: str
    data: bytes | None
    error: str | None = None


def sources(paths: list[str]) -> Iterator[Source]:
    """Every ``.json`` file named, in the folders named (recursively, sorted) and in ``.zip`` archives."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(x for x in path.rglob("*") if x.is_file() and x.suffix.lower() in (".json", ".zip")):
                yield from _one(f)
        elif path.exists():
            yield from _one(path)
        else:
            yield Source(p, None, "no such file or folder")


def _one(path: Path) -> Iterator[Source]:
    if path.suffix.lower() == ".zip":
        yield from _zip(path)
        return
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            yield Source(str(path), None, f"larger than {MAX_BYTES >> 20} MiB")
            return
        yield Source(str(path), path.read_bytes())
    except OSError as exc:
        yield Source(str(path), None, f"cannot read: {exc.strerror or exc}")


def _zip(path: Path) -> Iterator[Source]:
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not i.is_dir() and i.filename.lower().endswith(".json")]
            if len(infos) > MAX_ZIP_MEMBERS:
                yield Source(str(path), None, f"more than {MAX_ZIP_MEMBERS} members")
                return
            for i in sorted(infos, key=lambda i: i.filename):
                name = f"{path}!{i.filename[:256]}"
                if i.file_size > MAX_BYTES:
                    yield Source(name, None, f"larger than {MAX_BYTES >> 20} MiB")
                    continue
                try:
                    with z.open(i) as f:
                        data = f.read(MAX_BYTES + 1)       # never trust the declared size (zip bombs)
                except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
                    yield Source(name, None, f"cannot read: {str(exc)[:120]}")
                    continue
                if len(data) > MAX_BYTES:
                    yield Source(name, None, f"larger than {MAX_BYTES >> 20} MiB")
                    continue
                yield Source(name, data)
    except (zipfile.BadZipFile, OSError) as exc:
        yield Source(str(path), None, f"not a readable zip: {str(exc)[:120]}")


def to_json(a: Advisory) -> dict[str, Any]:
    """The parsed advisory as plain JSON (stored, so matching runs again without the file)."""
    return {
        "products": [[p.product_id, p.name, p.vendor, p.family, p.product_name, p.version, p.version_is_range,
                      list(p.model_numbers), list(p.skus), p.cpe] for p in a.products.values()],
        "vulnerabilities": [{"cve": v.cve, "title": v.title, "status": {k: list(x) for k, x in v.status.items()},
                             "score": v.score, "severity": v.severity, "vector": v.vector,
                             "product_scores": v.product_scores,
                             "remediations": [[r.category, r.details, list(r.product_ids), r.url]
                                              for r in v.remediations]} for v in a.vulnerabilities],
    }


def from_json(tracking_id: str, revision: str, title: str, publisher: str, body: dict[str, Any],
              source: str = "") -> Advisory:
    prods = {p[0]: Product(p[0], p[1], p[2], p[3], p[4], p[5], bool(p[6]), tuple(p[7]), tuple(p[8]), p[9])
             for p in body.get("products", [])}
    vulns = tuple(Vulnerability(v["cve"], v["title"], {k: tuple(x) for k, x in v["status"].items()}, v["score"],
                                v["severity"], v["vector"], dict(v.get("product_scores") or {}),
                                tuple(Remediation(r[0], r[1], tuple(r[2]), r[3]) for r in v["remediations"]))
                  for v in body.get("vulnerabilities", []))
    return Advisory(tracking_id, revision, title, publisher, None, None, prods, vulns, source)

