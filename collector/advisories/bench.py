"""Benchmark (issue 18): import 1,000 CSAF advisories and match them against 10,000 assets.

    python -m otscope.collector.advisories.bench [--advisories 1000] [--assets 10000] [--source DIR] [--db URL]

The advisories are synthetic, made from the shapes of the real ones (``--source``, default ../shared/advisories/csaf
beside the project; without it, a built-in template in CISA's layout): each copy gets its own tracking id, and its
Siemens / Rockwell / WAGO model numbers are varied, so the catalogue grows like a real feed instead of repeating 78
documents. The assets are synthetic too: vendors, order numbers and product names drawn from those advisories'
products (so exact, family and vendor-only relations all occur) and from vendors no advisory names, firmware
random (10% unknown). Prints: the time to read + validate, to store, to match (in memory and the database refresh),
and the matches found.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"


def _template() -> list[dict[str, Any]]:
    """One advisory in CISA's layout (vendor > product_name > product_version_range), for when no source is given."""
    def prod(pid: str, name: str, rng: str, model: str | None) -> dict[str, Any]:
        p: dict[str, Any] = {"product_id": pid, "name": f"{name} {rng}"}
        if model:
            p["product_identification_helper"] = {"model_numbers": [model]}
        return {"category": "product_name", "name": name,
                "branches": [{"category": "product_version_range", "name": rng, "product": p}]}

    return [{
        "document": {"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "template",
                     "publisher": {"category": "coordinator", "name": "bench", "namespace": "https://example.invalid"},
                     "tracking": {"id": "T-0", "status": "final", "version": "1",
                                  "initial_release_date": "2024-01-01T00:00:00.000Z",
                                  "current_release_date": "2024-01-01T00:00:00.000Z",
                                  "revision_history": [{"date": "2024-01-01T00:00:00.000Z", "number": "1",
                                                        "summary": "bench"}]}},
        "product_tree": {"branches": [{"category": "vendor", "name": "Siemens", "branches": [
            prod("P1", "SIMATIC S7-300 CPU 315-2 PN/DP (6ES7315-2EH14-0AB0)", "vers:all/<V3.2.19",
                 "6ES7315-2EH14-0AB0"),
            prod("P2", "SIMATIC S7-1200 CPU family (incl. SIPLUS variants)", "< V4.5.0", None),
            prod("P3", "SIMATIC S7-1500 CPU family (incl. related ET200 CPUs and SIPLUS variants)", "< V2.9.2",
                 None)]}]},
        "vulnerabilities": [{"cve": "CVE-2024-0001", "product_status": {"known_affected": ["P1", "P2", "P3"]},
                             "scores": [{"products": ["P1", "P2", "P3"],
                                         "cvss_v3": {"version": "3.1", "baseScore": 7.5, "baseSeverity": "HIGH",
                                                     "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}}]}],
    }]


_SIEMENS = re.compile(r"(6[A-Z]{2}\d\s?\d{3}-\d[A-Z]{2})(\d{2})(-\d[A-Z]{2}\d)")
_ROCKWELL = re.compile(r"\b(17\d\d-[A-Z]+)(\d)")
_WAGO = re.compile(r"\b(750-8)(\d{3})")


def _vary(text: str, k: int) -> str:
    """Copy k of a model number: Siemens version digits, Rockwell catalog digit, WAGO suffix shifted by k."""
    if k == 0:
        return text
    text = _SIEMENS.sub(lambda m: f"{m.group(1)}{(int(m.group(2)) + k) % 100:02d}{m.group(3)}", text)
    text = _ROCKWELL.sub(lambda m: f"{m.group(1)}{(int(m.group(2)) + k) % 10}", text)
    return _WAGO.sub(lambda m: f"{m.group(1)}{(int(m.group(2)) + k) % 1000:03d}", text)


def _walk(branches: list[dict[str, Any]], k: int) -> None:
    for b in branches:
        if b.get("category") == "product_name":
            b["name"] = _vary(b["name"], k)
        p = b.get("product")
        if p:
            p["name"] = _vary(p["name"], k)
            h = p.get("product_identification_helper") or {}
            if "model_numbers" in h:
                h["model_numbers"] = [_vary(m, k) for m in h["model_numbers"]]
        _walk(b.get("branches") or [], k)


def synth_advisories(n: int, source: Path | None) -> list[bytes]:
    bases = [json.loads(p.read_bytes()) for p in sorted(source.glob("*.json"))] if source and source.is_dir() \
        else _template()
    out = []
    for i in range(n):
        d = copy.deepcopy(bases[i % len(bases)])
        k = i // len(bases)                          # copy 0 of each document is the real one
        d["document"]["tracking"]["id"] = f"SYN-{i:05d}"
        _walk(d["product_tree"].get("branches") or [], k)
        out.append(json.dumps(d).encode())
    return out


def synth_assets(n: int, docs: list[bytes], seed: int = 18) -> list[dict[str, Any]]:
    """Assets whose identities come from the advisories' products (and 20% from vendors no advisory names)."""
    rnd = random.Random(seed)
    pool: list[tuple[str, str, str | None]] = []
    for raw in docs[:200]:
        d = json.loads(raw)
        for v in d["product_tree"].get("branches") or []:
            for p in v.get("branches") or []:
                name = p.get("name") or ""
                models = []
                for leaf in p.get("branches") or []:
                    h = (leaf.get("product") or {}).get("product_identification_helper") or {}
                    models += h.get("model_numbers") or []
                pool.append((v.get("name") or "", re.sub(r"\s*\(6[A-Z]{2}.*\)$", "", name)[:120],
                             models[0] if models else None))
    pool = pool or [("Siemens", "CPU 315-2 PN/DP", "6ES7315-2EH14-0AB0")]
    out = []
    for i in range(n):
        if rnd.random() < 0.2:
            vendor, product, order = f"Other Vendor {i % 50}", f"Device {i % 300}", None
        else:
            vendor, product, order = rnd.choice(pool)
        fw = None if rnd.random() < 0.1 else \
            f"V{rnd.randint(1, 5)}.{rnd.randint(0, 12)}.{rnd.randint(0, 30)}"
        out.append({"id": i + 1, "vendor": vendor.strip() or None, "product": product or None, "order_number": order,
                    "firmware": fw, "role": "plc", "identified": True, "sent": True, "first_seen": 1.0,
                    "last_seen": 2.0})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--advisories", type=int, default=1000)
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    args = ap.parse_args(argv)

    from sqlalchemy import func, insert, select

    from otscope.collector.advisories import csaf, match, store
    from otscope.collector.db import init_schema, make_engine, session_factory
    from otscope.collector.models import Asset, VulnerabilityMatch
    from otscope.collector.uow import unit_of_work

    t = time.perf_counter()
    docs = synth_advisories(args.advisories, args.source if args.source.is_dir() else None)
    assets = synth_assets(args.assets, docs)
    gen = time.perf_counter() - t
    tmp = Path(tempfile.mkdtemp(prefix="otscope-bench-adv-"))
    folder = tmp / "csaf"
    folder.mkdir()
    for i, raw in enumerate(docs):
        (folder / f"syn-{i:05d}.json").write_bytes(raw)
    size = sum(len(d) for d in docs)

    t = time.perf_counter()
    parsed = [csaf.parse(d, validate=True) for d in docs]
    t_validate = time.perf_counter() - t
    t = time.perf_counter()
    for d in docs:
        csaf.parse(d, validate=False)
    t_parse = time.perf_counter() - t
    products = sum(len(a.products) for a in parsed)

    t = time.perf_counter()
    cat = match.Catalog(parsed)
    t_catalog = time.perf_counter() - t
    idents = [match.Identity(a["vendor"], a["product"], a["order_number"], a["firmware"]) for a in assets]
    t = time.perf_counter()
    found = [cat.match(i) for i in idents]
    t_match = time.perf_counter() - t
    n_matches = sum(len(f) for f in found)
    with_match = sum(1 for f in found if f)

    url = args.db or f"sqlite:///{tmp}/bench.db"
    engine = make_engine(url)
    init_schema(engine)
    factory = session_factory(engine)
    with factory() as s, unit_of_work(s):
        s.execute(insert(Asset), assets)
    t = time.perf_counter()
    with factory() as s, unit_of_work(s):
        rep = store.import_sources(s, [str(folder)], validate=True)
    t_import = time.perf_counter() - t
    t = time.perf_counter()
    with factory() as s, unit_of_work(s):
        store.refresh(s)
    t_refresh = time.perf_counter() - t
    t = time.perf_counter()
    with factory() as s:
        rows, total = store.list_matches(s, store.VulnFilter(severity="critical"), limit=100)
        affected = s.scalar(select(func.count(func.distinct(VulnerabilityMatch.asset_id))).where(
            VulnerabilityMatch.status == "affected"))
    t_query = time.perf_counter() - t
    engine.dispose()

    print(f"synthetic data: {len(docs):,} advisories ({size / 1e6:.1f} MB, {products:,} product entries), "
          f"{len(assets):,} assets ({gen:.2f} s to make)")
    print(f"read + CSAF 2.0 schema validation: {t_validate:.2f} s ({1000 * t_validate / len(docs):.1f} ms/advisory); "
          f"read without the schema: {t_parse:.2f} s")
    print(f"catalogue (analyse + index every product entry): {t_catalog:.2f} s")
    print(f"match in memory: {len(assets):,} assets x {len(docs):,} advisories in {t_match:.2f} s "
          f"({1e6 * t_match / len(assets):.0f} us/asset): {n_matches:,} matches (per CVE), "
          f"{with_match:,} assets with at least one")
    print(f"otscope advisories import (read, validate, store, match, diff, events) into {url.split(':')[0]}: "
          f"{t_import:.2f} s; {len(rep.files) - len(rep.errors)}/{len(rep.files)} documents, "
          f"{rep.matches:,} match rows, {len(rep.newly_affected):,} advisory-match events")
    print(f"refresh again (match the whole inventory, nothing changed): {t_refresh:.2f} s")
    print(f"query: critical matches page + affected-asset count ({affected:,}): {1000 * t_query:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
