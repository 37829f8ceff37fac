"""GET /api/v1/vulnerabilities and /api/v1/advisories, vulnerabilities on the asset list, detail and exports (issue
18), on SQLite and PostgreSQL, with an advisory of our own for the bundled plant (and the real CISA corpus when
../shared/advisories is there)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otscope.collector.advisories import store
from otscope.collector.uow import unit_of_work
from tests.api.conftest import auth
from tests.conftest import Inventory
from tests.unit.test_advisory_csaf import doc, raw, vuln

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"

PLANT = doc([("M1", "Modicon M340 CPU (part numbers BMXP34*)", "product_version_range", "< SV3.51", None),
             ("M2", "<script>alert('csaf')</script>", "product_version", "vers:all/*", None)],
            [vuln("CVE-2026-1000", ["M1"], score=9.8), vuln("CVE-2026-1001", ["M2"], score=4.0)],
            tid="TEST-PLANT-1", vendor="Schneider Electric Software, LLC")


@pytest.fixture(scope="module")
def imported(inventory: Inventory, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    folder = tmp_path_factory.mktemp("csaf")
    (folder / "plant.json").write_bytes(raw(PLANT))
    paths = [str(folder)] + ([str(REAL)] if REAL.is_dir() else [])
    with inventory.factory() as s, unit_of_work(s):
        rep = store.import_sources(s, paths)
    assert not rep.errors
    return inventory


def m340_id(client: TestClient, h: dict[str, str]) -> int:
    assets = client.get("/api/v1/assets", params={"limit": 1000}, headers=h).json()["data"]
    return next(a["id"] for a in assets if a["product"] == "Modicon M340")


@pytest.mark.parametrize("path", ["/api/v1/vulnerabilities", "/api/v1/advisories"])
def test_auth(imported: Inventory, client: TestClient, tokens: dict[str, str], path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=auth(tokens["read"])).status_code == 200


def test_list_filters_and_paging(imported: Inventory, client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["read"])
    everything = client.get("/api/v1/vulnerabilities", params={"limit": 1000}, headers=h).json()
    assert everything["count"] == len(everything["data"]) > 0
    mine = client.get("/api/v1/vulnerabilities", params={"advisory": "TEST-PLANT-1"}, headers=h).json()
    assert [(v["cve"], v["status"], v["confidence"], v["severity"]) for v in mine["data"]] == \
        [("CVE-2026-1000", "affected", "family", "critical")]          # the "<script>" entry names no product
    aid = m340_id(client, h)
    by_asset = client.get("/api/v1/vulnerabilities", params={"asset": aid, "limit": 1000}, headers=h).json()
    assert {v["asset_id"] for v in by_asset["data"]} == {aid} and by_asset["count"] >= 1
    crit = client.get("/api/v1/vulnerabilities", params={"severity": "critical", "limit": 1000}, headers=h).json()
    assert crit["count"] >= 1 and {v["severity"] for v in crit["data"]} == {"critical"}
    one = client.get("/api/v1/vulnerabilities", params={"cve": "CVE-2026-1000"}, headers=h).json()
    assert one["count"] == 1 and one["data"][0]["evidence"][0].startswith("vendor ")
    page = client.get("/api/v1/vulnerabilities", params={"limit": 1, "offset": 1}, headers=h).json()
    assert page["count"] == everything["count"] and page["data"] == everything["data"][1:2]
    for bad in ({"severity": "huge"}, {"cve": "CVE-x"}, {"status": "maybe"}, {"limit": 0}, {"advisory": "a b"},
                {"asset": 0}):
        r = client.get("/api/v1/vulnerabilities", params=bad, headers=h)
        assert r.status_code == 422 and "detail" in r.json(), bad
    advs = client.get("/api/v1/advisories", headers=h).json()
    assert "TEST-PLANT-1" in {a["tracking_id"] for a in advs["data"]}


def test_asset_list_detail_and_exports(imported: Inventory, client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["read"])
    aid = m340_id(client, h)
    vulnerable = client.get("/api/v1/assets", params={"vulnerable": "true", "limit": 1000}, headers=h).json()
    assert aid in {a["id"] for a in vulnerable["data"]}
    assert all(a["vulns"] and a["vulns"]["affected"] for a in vulnerable["data"])
    clean = client.get("/api/v1/assets", params={"vulnerable": "false", "limit": 1000}, headers=h).json()
    assert aid not in {a["id"] for a in clean["data"]} and clean["count"] + vulnerable["count"] == \
        client.get("/api/v1/assets", headers=h).json()["count"]
    detail = client.get(f"/api/v1/assets/{aid}", headers=h).json()
    assert "TEST-PLANT-1" in {v["advisory"] for v in detail["vulnerabilities"]}
    assert "TEST-PLANT-1" in detail["vulns"]["affected"] and detail["vulns"]["max_score"] >= 9.8
    assert {(c["part"], c["cpe"]) for c in detail["cpes"]} >= {
        ("h", "cpe:2.3:h:schneider-electric:modicon_m340:-:*:*:*:*:*:*:*"),
        ("o", "cpe:2.3:o:schneider-electric:modicon_m340_firmware:3.20:*:*:*:*:*:*:*")}
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/export/assets.csv", headers=h).text)))
    m340 = next(r for r in rows if r["id"] == str(aid))
    assert "TEST-PLANT-1" in m340["advisories_affected"].split() and m340["max_severity"] == "critical"
    js = json.loads(client.get("/api/v1/export/assets.json", headers=h).text)
    assert "TEST-PLANT-1" in next(a for a in js["data"] if a["id"] == aid)["vulns"]["affected"]


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/advisories is not beside the project")
def test_real_corpus_on_the_plant(imported: Inventory, client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["read"])
    aid = m340_id(client, h)
    got = client.get("/api/v1/vulnerabilities", params={"asset": aid, "status": "affected", "limit": 1000},
                     headers=h).json()
    assert {v["advisory"] for v in got["data"]} == {"ICSA-18-086-01", "ICSA-19-136-01", "ICSA-21-005-01",
                                                    "ICSA-21-194-02", "ICSA-23-201-01", "TEST-PLANT-1"}
