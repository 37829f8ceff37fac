"""The HTTP API on SQLite and PostgreSQL: contracts, filters, auth on every route, hostile strings."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import auth

READ_ROUTES = ["/api/v1/assets", "/api/v1/assets/1", "/api/v1/communications", "/api/v1/coverage",
               "/api/v1/register/reconciliation", "/api/v1/export/assets.csv", "/api/v1/export/assets.json",
               "/api/v1/anomalies", "/api/v1/sensors", "/api/v1/protocols"]
WRITE_ROUTES = [("/api/v1/register", "text/csv", b"ip\n10.0.0.1\n"),
                ("/api/v1/ingest", "application/json", b"{}")]


def test_healthz_needs_no_token(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("path", READ_ROUTES)
def test_read_routes_auth(client: TestClient, tokens: dict[str, str], path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers=auth("ots_not-a-token")).status_code == 401
    for scope in ("read", "write", "admin"):
        assert client.get(path, headers=auth(tokens[scope])).status_code == 200, scope


@pytest.mark.parametrize("path,ctype,body", WRITE_ROUTES)
def test_write_routes_auth(client: TestClient, tokens: dict[str, str], path: str, ctype: str, body: bytes) -> None:
    h = {"Content-Type": ctype}
    assert client.post(path, content=body, headers=h).status_code == 401
    r = client.post(path, content=body, headers=h | auth(tokens["read"]))
    assert r.status_code == 403 and "scope" in r.json()["detail"]
    assert client.post(path, content=body, headers=h | auth(tokens["write"])).status_code in (200, 422)


def test_local_read_only_use_without_tokens(local_client: TestClient) -> None:
    assert local_client.get("/api/v1/assets").status_code == 200
    r = local_client.post("/api/v1/register", content=b"ip\n10.0.0.1\n", headers={"Content-Type": "text/csv"})
    assert r.status_code == 401


def test_assets_list_and_filters(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["read"])
    all_ = client.get("/api/v1/assets?limit=1000", headers=h).json()
    assert all_["count"] == len(all_["data"]) == 13                   # one asset per device (issue 12)
    plcs = client.get("/api/v1/assets?role=plc", headers=h).json()
    assert plcs["count"] >= 8 and all(a["role"] == "plc" for a in plcs["data"])
    siemens = client.get("/api/v1/assets?vendor=siemens", headers=h).json()
    assert {a["name"] for a in siemens["data"]} == {"PLC_SITE_A", "PRESS_CTRL"}
    s7 = client.get("/api/v1/assets?protocol=s7comm-server", headers=h).json()
    assert s7["count"] == 2
    ident = client.get("/api/v1/assets?identified=false", headers=h).json()
    assert {tuple(a["ips"]) for a in ident["data"]} == {("198.18.0.50",), ("198.18.0.60",)}
    sub = client.get("/api/v1/assets?subnet=198.18.0.0/28", headers=h).json()
    assert sub["count"] == 4 and all(ip.startswith("198.18.0.1") for a in sub["data"] for ip in a["ips"])
    assert client.get("/api/v1/assets?vlan=0", headers=h).json()["count"] == 10
    text = client.get("/api/v1/assets?q=ControlLogix", headers=h).json()
    assert text["count"] == 1                      # the controller, its routed slot-0 identity folded into it
    logix = client.get(f"/api/v1/assets/{text['data'][0]['id']}", headers=h).json()
    assert {(f["field"], f["value"]) for f in logix["facts"] if f["field"] == "slot"} == {("slot", "0")}
    assert logix["children"] == [] and logix["role_evidence"]
    page = client.get("/api/v1/assets?limit=5&offset=5", headers=h).json()
    assert page["count"] == 13 and [a["id"] for a in page["data"]] == [a["id"] for a in all_["data"][5:10]]
    past = client.get("/api/v1/assets?limit=5&offset=40", headers=h).json()      # past the end: total still told
    assert past["count"] == 13 and past["data"] == []
    assert client.get("/api/v1/assets?q=%25%27%20OR%201%3D1--", headers=h).json()["count"] == 0


def test_asset_detail_has_provenance_children_and_comms(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["read"])
    gw = client.get("/api/v1/assets?role=gateway", headers=h).json()["data"][0]
    d = client.get(f"/api/v1/assets/{gw['id']}", headers=h).json()
    assert len(d["children"]) == 3 and d["communications"]
    fw = [f for f in d["facts"] if f["field"] == "firmware"][0]
    assert fw["evidence"].startswith("modbus_plant.pcap#frame ") and fw["protocol"] == "modbus"
    kid = client.get(f"/api/v1/assets/{d['children'][0]}", headers=h).json()
    assert kid["parent"] == gw["id"] and kid["component"] == "unit:1"


@pytest.mark.parametrize("bad", ["/api/v1/assets/0", "/api/v1/assets/abc", "/api/v1/assets?limit=0",
                                 "/api/v1/assets?limit=100000", "/api/v1/assets?subnet=not-a-net",
                                 "/api/v1/assets?vlan=99999", "/api/v1/assets?role=admin",
                                 "/api/v1/coverage?target=2"])
def test_invalid_requests_are_clear_json_errors(client: TestClient, tokens: dict[str, str], bad: str) -> None:
    r = client.get(bad, headers=auth(tokens["read"]))
    assert r.status_code in (404, 422)
    assert "detail" in r.json() and "Traceback" not in r.text


def test_unknown_asset_404(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.get("/api/v1/assets/99999", headers=auth(tokens["read"]))
    assert r.status_code == 404 and r.json() == {"detail": "no such asset"}


def test_coverage(client: TestClient, tokens: dict[str, str]) -> None:
    c = client.get("/api/v1/coverage", headers=auth(tokens["read"])).json()
    # devices only: the gateway's three units are its components, not assets of their own
    assert (c["assets_total"], c["assets_identified"], c["target"], c["pass"]) == (10, 8, 0.95, False)
    assert sorted(m["component"] for m in c["components"]) == ["unit:1", "unit:2", "unit:3"]
    assert c["traffic"]["share"] == 1.0 and c["traffic"]["target"] == 0.8 and c["traffic"]["status"] == "pass"
    assert {g["ips"][0] for g in c["gaps"]} == {"198.18.0.50", "198.18.0.60"}
    assert all(g["reason"] and g["action"] for g in c["gaps"])
    assert c["by_subnet"] and c["by_vlan"][0]["vlan"] == 0
    c2 = client.get("/api/v1/coverage?target=0.8", headers=auth(tokens["read"])).json()
    assert c2["target"] == 0.8 and c2["pass"] is True


def test_communications(client: TestClient, tokens: dict[str, str]) -> None:
    c = client.get("/api/v1/communications", headers=auth(tokens["read"])).json()
    assert c["count"] == len(c["data"]) > 0
    assert "198.18.0.0/24" in c["subnets"] and c["vlans"] == [0]
    assert c["it_ot"]["declared"] is False and "no IT/OT address ranges declared" in c["it_ot"]["note"]
    modbus = [x for x in c["data"] if x["protocol"] == "modbus"]
    assert modbus and all(x["port"] == 502 for x in modbus)
    assert any(x["profile"].get("write") for x in modbus)


def test_register_reconciliation(client: TestClient, tokens: dict[str, str]) -> None:
    reg = ("name,ip,mac,vendor,model,firmware,location\n"
           "M340,198.18.0.10,,Schneider Electric,Modicon M340,v3.10,Pump house\n"      # firmware differs
           "S7-1516,198.18.0.20,,Siemens,6ES7 516-3AN01-0AB0,V2.8.3,Line 1\n"
           "Spare PLC,198.18.0.99,,ABB,AC500,2.1,Store\n"                              # never seen
           "broken,not-an-ip,,,,,\n")
    r = client.post("/api/v1/register", content=reg.encode(), headers={"Content-Type": "text/csv"}
                    | auth(tokens["write"]))
    assert r.status_code == 200 and r.json()["imported"] == 3 and len(r.json()["rejected"]) == 1
    rec = client.get("/api/v1/register/reconciliation", headers=auth(tokens["read"])).json()
    assert len(rec["matched"]) == 2
    assert [m["ip"] for m in rec["missing"]] == ["198.18.0.99"]
    assert [(m["field"], m["expected"], m["observed"]) for m in rec["mismatches"]] == [("firmware", "v3.10", "v3.20")]
    assert len(rec["shadow"]) >= 8


def test_hostile_strings_in_exports(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["read"])
    text = client.get("/api/v1/export/assets.csv", headers=h).text
    rows = list(csv.DictReader(io.StringIO(text)))
    hostile = next(r for r in rows if r["ips"] == "198.18.0.13")
    assert hostile["vendor"] == "<script>alert(1)</script>"           # kept as text: CSV is not HTML
    assert all(not v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    assert json.loads(client.get("/api/v1/export/assets.json", headers=h).text)["count"] == 13
    page = client.get("/", headers=h)
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<script>alert" not in page.text


def test_ingest_idempotent_and_versioned(client: TestClient, tokens: dict[str, str]) -> None:
    from otscope.contract import Batch, Evidence, FactObs, Subject

    b = Batch(sensor="edge-1", batch_id="b-42", facts=[FactObs(Subject(0, "198.18.0.77"), "vendor", "Acme", "modbus",
                                                               "FC43", Evidence("sensor:edge-1", None, 1.0), 1.0, 2.0)])
    h = {"Content-Type": "application/json"} | auth(tokens["write"])
    assert client.post("/api/v1/ingest", content=b.to_json(), headers=h).json()["status"] == "applied"
    assert client.post("/api/v1/ingest", content=b.to_json(), headers=h).json()["status"] == "duplicate"
    bad = json.loads(b.to_json()) | {"schema": 7}
    r = client.post("/api/v1/ingest", content=json.dumps(bad), headers=h)
    assert r.status_code == 422 and "unsupported schema version 7" in r.json()["detail"]
    big = b"{" + b" " * (17 * 1024 * 1024) + b"}"
    assert client.post("/api/v1/ingest", content=big, headers=h).status_code == 413


def test_it_ot_crossings_when_ranges_are_declared(inventory, tokens: dict[str, str]) -> None:
    import ipaddress

    from otscope.api.app import create_app
    from otscope.api.settings import Settings

    settings = Settings(db_url=inventory.url, require_auth=True,
                        it_ranges=[ipaddress.ip_network("198.18.0.48/28")],       # the HMI (.50) and EWS (.60)
                        ot_ranges=[ipaddress.ip_network("198.18.0.0/27")])        # the controllers
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/communications", headers=auth(tokens["read"])).json()
    assert r["it_ot"]["declared"] is True
    pairs = {(x["client_ip"], x["server_ip"], x["direction"]) for x in r["it_ot"]["crossings"]}
    assert ("198.18.0.50", "198.18.0.10", "it->ot") in pairs
    assert all(d == "it->ot" for _c, _s, d in pairs)


def test_protocols_come_from_the_registry(client: TestClient, tokens: dict[str, str]) -> None:
    """The dashboard's protocol colours (api/static/app.js) come from here, and here from the registry."""
    from otscope.dissectors import registry

    got = client.get("/api/v1/protocols", headers=auth(tokens["read"])).json()
    assert [p["name"] for p in got] == [p for s in registry.specs() for p in s.protocols]
    colours = {p["name"]: p["colour"] for p in got if p["colour"]}
    assert colours == {p: c for s in registry.specs() for p, c in s.colours} and len(colours) >= 6
    ot = {p["name"] for p in got if p["ot"]}
    assert all(p.startswith(tuple(ot)) for p in ("modbus-server", "enip-io", "cotp-client")) and "lldp" not in ot
