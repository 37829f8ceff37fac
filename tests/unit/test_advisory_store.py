"""Advisories in the inventory database: import (idempotent, newer revisions, broken files skipped whole), the
derived matches and CPE names, advisory-match events, the 0005 migration (collector/advisories/store.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from otscope.collector import events
from otscope.collector.advisories import store
from otscope.collector.db import init_schema, make_engine, session_factory
from otscope.collector.models import Advisory, Asset, AssetCpe, Event, Fact, VulnerabilityMatch
from otscope.collector.uow import unit_of_work
from tests.unit.test_advisory_csaf import BASE, doc, raw, vuln

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"


@pytest.fixture()
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/adv.db")
    init_schema(engine)
    s = session_factory(engine)()
    with unit_of_work(s):
        s.add_all([
            Asset(id=1, vendor="Siemens", product="CPU 315-2 PN/DP", order_number="6ES7 315-2EH14-0AB0",
                  firmware="V3.2.7", first_seen=1.0, last_seen=2.0, role="plc"),
            Asset(id=2, vendor="Siemens", product="CPU 1214C", order_number="6ES7214-1HE30-0XB0", firmware=None,
                  first_seen=1.0, last_seen=2.0, role="plc"),
            Asset(id=3, vendor=None, product=None, first_seen=1.0, last_seen=2.0, role="unknown"),
            Asset(id=4, vendor="Moxa", product="MGate", first_seen=1.0, last_seen=2.0, role="gateway"),
        ])
        s.flush()
        s.add(Fact(asset_id=4, field="model", value="MB3180", protocol="modbus", message="m", evidence="e#frame 1",
                   sensor="s", first_seen=1.0, last_seen=2.0))
    yield s
    s.close()
    engine.dispose()


def write(tmp_path: Path, name: str, d: dict) -> str:  # type: ignore[type-arg]
    p = tmp_path / name
    p.write_bytes(raw(d))
    return str(p)


def test_import_match_events_and_idempotence(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path, "good.json", BASE)
    broken = copy.deepcopy(BASE)
    broken["document"]["tracking"]["id"] = "TEST-BROKEN"
    broken["vulnerabilities"][0]["product_status"]["known_affected"].append("P404")
    bad = write(tmp_path, "bad.json", broken)
    with unit_of_work(session):
        rep = store.import_sources(session, [good, bad], now=100.0)
    assert [(Path(f.source).name, f.outcome) for f in rep.files] == [("good.json", store.Outcome.IMPORTED),
                                                                      ("bad.json", store.Outcome.ERROR)]
    assert "P404" in rep.errors[0].message
    assert session.scalar(select(func.count(Advisory.id))) == 1          # nothing of the broken one
    rows, n = store.list_matches(session)
    got = sorted((r.asset_id, r.tracking_id, r.cve, r.status, r.confidence) for r in rows)
    assert got == [(1, "TEST-2026-0001", "CVE-2026-0001", "affected", "exact"),
                   (2, "TEST-2026-0001", "CVE-2026-0002", "possible", "family")]       # firmware unknown
    assert [(p.asset_id, p.tracking_id, p.cves) for p in rep.newly_affected] == \
        [(1, "TEST-2026-0001", ("CVE-2026-0001",))]
    ev = session.scalars(select(Event).where(Event.kind == "advisory-match")).all()
    assert [(e.asset_id, e.detail, e.severity, e.learning) for e in ev] == [(1, "TEST-2026-0001", "high", False)]
    assert "good.json" in ev[0].evidence[0] and "CVE-2026-0001" in ev[0].message
    cpes = {(c.asset_id, c.part, c.rule) for c in session.scalars(select(AssetCpe))}
    assert (1, "h", "siemens-order") in cpes and (4, "h", "vendor-model") in cpes
    assert not any(c[0] == 3 for c in cpes)                                 # no vendor: no CPE name

    with unit_of_work(session):                                           # the same file again changes nothing
        again = store.import_sources(session, [good], now=200.0)
    assert [f.outcome for f in again.files] == [store.Outcome.UNCHANGED] and again.newly_affected == []
    assert store.list_matches(session)[1] == n
    assert session.scalar(select(func.count(Event.id)).where(Event.kind == "advisory-match")) == 1

    other = copy.deepcopy(BASE)
    other["document"]["title"] = "changed content, same tracking id and revision"
    with unit_of_work(session):
        conflict = store.import_sources(session, [write(tmp_path, "same-key.json", other)], now=250.0)
    assert [f.outcome for f in conflict.files] == [store.Outcome.CONFLICT]


def test_newer_revision_is_the_one_matched(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session):
        store.import_sources(session, [write(tmp_path, "r1.json", BASE)], now=100.0)
    r2 = doc([("P1", "SIMATIC S7-300 CPU 315-2 PN/DP", "product_version_range", "vers:all/<V3.2.5",
               ["6ES7315-2EH14-0AB0"])], [vuln("CVE-2026-0001", ["P1"])], version="2")
    with unit_of_work(session):
        rep = store.import_sources(session, [write(tmp_path, "r2.json", r2)], now=150.0)
    assert [f.outcome for f in rep.files] == [store.Outcome.NEWER]
    latest = {(a.revision, a.latest) for a in session.scalars(select(Advisory))}
    assert latest == {("1", False), ("2", True)}
    assert store.list_matches(session)[1] == 0       # revision 2: V3.2.7 is not < V3.2.5; the S7-1200 entry is gone
    with unit_of_work(session):                      # an older revision imported later is kept but not matched
        rep = store.import_sources(session, [write(tmp_path, "r1-again.json", BASE)], now=160.0)
    assert [f.outcome for f in rep.files] == [store.Outcome.UNCHANGED]


def test_refresh_follows_the_inventory(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session):
        store.import_sources(session, [write(tmp_path, "a.json", BASE)], now=100.0)
    first = {r.id: r.first_matched for r in store.list_matches(session)[0]}
    with unit_of_work(session):
        session.get(Asset, 1).firmware = "V3.2.19"                   # patched
        session.get(Asset, 2).firmware = "V4.2.0"                    # firmware now known
        store.refresh(session, now=300.0)
    got = {(r.asset_id, r.cve, r.status) for r in store.list_matches(session)[0]}
    assert got == {(2, "CVE-2026-0002", "affected")}
    assert all(r.first_matched in first.values() for r in store.list_matches(session)[0])   # kept


def test_filters_and_summaries(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session):
        store.import_sources(session, [write(tmp_path, "a.json", BASE)], now=100.0)
    assert store.list_matches(session, store.VulnFilter(severity="high"))[1] == 1
    assert store.list_matches(session, store.VulnFilter(cve="CVE-2026-0002"))[1] == 1
    assert store.list_matches(session, store.VulnFilter(asset_id=1, status="possible"))[1] == 0
    assert store.list_matches(session, store.VulnFilter(advisory="NOPE"))[1] == 0
    summ = store.summaries(session)
    assert summ[1]["affected"] == ["TEST-2026-0001"] and summ[2]["possible"] == ["TEST-2026-0001"]
    assert summ[1]["max_score"] == 7.5 and 3 not in summ
    d = store.as_dict(store.list_matches(session, store.VulnFilter(asset_id=1))[0][0], {1: "plc"})
    assert set(d) >= {"asset_id", "asset", "advisory", "cve", "severity", "score", "status", "confidence",
                      "product", "version_range", "reason", "evidence", "remediation"}
    json.dumps(d)


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/advisories is not beside the project")
def test_real_corpus_imports_whole(session) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session):
        rep = store.import_sources(session, [str(REAL)], now=100.0)
    assert len(rep.files) == 78 and not rep.errors
    assert all(a.schema_checked for a in session.scalars(select(Advisory)))
    ids = {r.tracking_id for r in store.list_matches(session, store.VulnFilter(asset_id=1, status="affected"))[0]}
    assert "ICSA-20-042-05" in ids and len(ids) == 10
    moxa = store.list_matches(session, store.VulnFilter(asset_id=4))[0]    # MB3180 from the model fact, no firmware
    assert {(r.tracking_id, r.status) for r in moxa} == {("ICSA-21-357-01", "possible"),
                                                         ("ICSA-20-056-01", "possible")}


def test_migration_0005_up_and_down(tmp_path: Path) -> None:
    from alembic import command

    from otscope.collector.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        assert "advisories" not in inspect(conn).get_table_names()
        command.upgrade(alembic_config(conn), "0005")
        assert {"advisories", "vulnerability_matches", "asset_cpes"} <= set(inspect(conn).get_table_names())
        command.downgrade(alembic_config(conn), "0004")
        assert not {"advisories", "vulnerability_matches", "asset_cpes"} & set(inspect(conn).get_table_names())
    engine.dispose()


def test_event_kind_is_declared() -> None:
    assert "advisory-match" in events.KINDS and "advisory-match" in events.ONCE
