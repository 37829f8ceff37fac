"""Zones and findings over HTTP: read scope to look, admin scope to change, 422 on bad input; the CLI's zones
load/accept and findings on the same kind of inventory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otscope.api.app import create_app
from otscope.api.security import Scope, create_token
from otscope.api.settings import Settings
from otscope.collector.service import ingest
from otscope.contract import Batch, BindingObs, CommObs, Evidence, FactObs, Subject
from tests.conftest import Inventory


def _batch(bid: str) -> Batch:
    """A PLC (Modbus server) at 10.0.1.10 written by an IT host at 10.0.4.7: an IT -> level 1 crossing."""
    ev = Evidence("z.pcap", 1, 1.0)
    binds = [BindingObs(0, "10.0.1.10", "02:00:00:00:01:10", "high", "arp", ev, 1.0, 1.0),
             BindingObs(0, "10.0.4.7", "02:00:00:00:04:07", "high", "arp", ev, 1.0, 1.0)]
    plc, it = Subject(0, ip="10.0.1.10"), Subject(0, ip="10.0.4.7")
    facts = [FactObs(plc, "protocol", "modbus-server", "modbus", "m", ev, 1.0, 1.0),
             FactObs(it, "protocol", "smb-client", "smb", "m", ev, 1.0, 1.0)]
    comms = [CommObs(it, plc, "tcp", 502, "modbus", 10, 900, 1.0, 2.0)]
    return Batch("t", bid, bindings=binds, facts=facts, comms=comms)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    inv = Inventory(f"sqlite:///{tmp_path_factory.mktemp('zones')}/z.db")
    ingest(inv.factory, _batch("b1"))
    with inv.factory() as s, s.begin():
        tokens = {sc.name.lower(): create_token(s, sc, f"t-{sc.name}") for sc in Scope}
    with TestClient(create_app(Settings(db_url=inv.url, require_auth=True)), raise_server_exceptions=False) as c:
        yield c, tokens, inv.url
    inv.engine.dispose()


def h(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


DECL = {"site": "P", "zones": [{"name": "cell", "level": 1, "cidrs": ["10.0.1.0/24"]},
                               {"name": "office", "level": 4, "cidrs": ["10.0.4.0/24"]}]}


def test_proposed_then_declared_and_findings(setup) -> None:  # type: ignore[no-untyped-def]
    c, tok, _url = setup
    z = c.get("/api/v1/zones", headers=h(tok["read"])).json()
    assert z["status"] == "proposed" and {x["name"]: x["level"] for x in z["zones"]}["10.0.1.0/24"] == 1
    assert c.put("/api/v1/zones", json=DECL, headers=h(tok["write"])).status_code == 403
    assert c.put("/api/v1/zones", json=DECL).status_code == 401
    r = c.put("/api/v1/zones", json=DECL, headers=h(tok["admin"]))
    assert r.status_code == 200 and r.json() == {"zones": 2, "status": "declared"}
    z = c.get("/api/v1/zones", headers=h(tok["read"])).json()
    assert z["status"] == "declared" and [x["assets"] for x in z["zones"]] == [1, 1]
    assert [(f["from"], f["to"], f["crossing"]) for f in z["flows"]] == [("office", "cell", True)]
    f = c.get("/api/v1/findings", headers=h(tok["read"])).json()
    assert f["count"] == 1 and f["data"][0]["kind"] == "it-to-control" and f["data"][0]["zones"] == ["office", "cell"]
    assert c.get("/api/v1/findings?zone=nowhere", headers=h(tok["read"])).json()["count"] == 0
    assert c.post("/api/v1/zones/accept", headers=h(tok["admin"])).status_code == 409   # a model is declared
    plc = next(a for a in z["assets"] if a["zone"] == "cell")["asset"]
    r = c.put(f"/api/v1/assets/{plc}/zone", json={"level": 4, "reason": "lab"}, headers=h(tok["admin"]))
    assert r.status_code == 200 and (r.json()["level"], r.json()["source"]) == (4, "override")
    assert c.get("/api/v1/findings", headers=h(tok["read"])).json()["count"] == 0      # both level 4 now
    assert c.put(f"/api/v1/assets/{plc}/zone", json={}, headers=h(tok["admin"])).status_code == 200   # cleared
    assert c.get("/api/v1/findings", headers=h(tok["read"])).json()["count"] == 1


@pytest.mark.parametrize("body", [{"zones": []}, {"zones": [{"name": "a", "level": 9, "vlans": [2]}]},
                                  {"zones": [{"name": "a", "level": 1, "cidrs": ["not-a-net"]}]}, ["x"]])
def test_bad_model_is_422(setup, body) -> None:  # type: ignore[no-untyped-def]
    c, tok, _url = setup
    assert c.put("/api/v1/zones", json=body, headers=h(tok["admin"])).status_code == 422


@pytest.mark.parametrize("path, body", [("/api/v1/assets/1/zone", {"level": 7}),
                                        ("/api/v1/assets/1/zone", {"zone": "<b>"}),
                                        ("/api/v1/assets/1/zone", {"colour": 1}),
                                        ("/api/v1/assets/0/zone", {"level": 1})])
def test_bad_override_is_422(setup, path: str, body: dict) -> None:  # type: ignore[no-untyped-def]
    c, tok, _url = setup
    assert c.put(path, json=body, headers=h(tok["admin"])).status_code == 422
    assert c.put("/api/v1/assets/999999/zone", json={"level": 1}, headers=h(tok["admin"])).status_code == 404
    assert c.get("/api/v1/findings?kind=bogus", headers=h(tok["read"])).status_code == 422


def test_finding_is_raised_as_one_event(tmp_path: Path) -> None:
    from otscope.collector import events, zones

    inv = Inventory(f"sqlite:///{tmp_path}/e.db")
    with inv.factory() as s, s.begin():
        zones.replace(s, zones.parse_model(DECL))
    ingest(inv.factory, _batch("b1"))
    ingest(inv.factory, _batch("b2"))                   # seen again: the same event, not a second one
    with inv.factory() as s:
        rows, n = events.list_events(s, events.EventFilter(kind="segmentation-finding"))
    assert n == 1 and rows[0].detail.startswith("it-to-control:") and len(rows[0].evidence) == 1


def test_cli(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/c.db")
    ingest(inv.factory, _batch("b1"))
    exe = str(Path(sys.executable).with_name("otscope"))
    run = lambda *a: subprocess.run([exe, *a, "--db", inv.url], capture_output=True, text=True)  # noqa: E731
    out = json.loads(run("zones", "--format", "json").stdout)
    assert out["status"] == "proposed"
    assert run("zones", "accept").returncode == 0
    assert json.loads(run("zones", "--format", "json").stdout)["status"] == "accepted"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[zones]]\nname = "a"\nlevel = 8\nvlans = [3]\n')
    r = run("zones", "load", str(bad))
    assert r.returncode == 2 and "level must be" in r.stderr and "Traceback" not in r.stderr
    good = tmp_path / "z.toml"
    good.write_text('site = "P"\n[[zones]]\nname = "cell"\nlevel = 1\ncidrs = ["10.0.1.0/24"]\n'
                    '[[zones]]\nname = "office"\nlevel = 4\ncidrs = ["10.0.4.0/24"]\n')
    assert run("zones", "load", str(good)).returncode == 0
    f = json.loads(run("findings", "--format", "json").stdout)
    assert f["count"] == 1 and f["data"][0]["kind"] == "it-to-control"
    assert run("findings", "--kind", "bogus").returncode == 2
