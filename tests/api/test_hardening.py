"""Issue 22, "The collector's inputs": no input gives a 500, a validated batch never breaks later reads, security
headers on every response (errors too), Host checked, /docs without a CDN, tokens listed/revoked/expiring."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otscope.api.app import SECURITY_HEADERS, create_app
from otscope.api.security import Scope, create_token
from otscope.api.settings import Settings
from otscope.contract import Batch, CommObs, Evidence, FactObs, Subject, TrafficObs
from tests.api.conftest import auth
from tests.conftest import PCAPS, Inventory

LOCAL = "http://127.0.0.1:8080"


@pytest.fixture
def secured(tmp_path: Path):
    inv = Inventory(f"sqlite:///{tmp_path}/h.db")
    inv.replay(PCAPS / "modbus_plant.pcap")
    with inv.factory() as s, s.begin():
        toks = {sc.name.lower(): create_token(s, sc, sc.name) for sc in Scope}
    with TestClient(create_app(Settings(db_url=inv.url, require_auth=True)), base_url=LOCAL,
                    raise_server_exceptions=False) as c:
        yield c, toks


def _headers_present(r) -> None:
    for k in SECURITY_HEADERS:
        assert k.lower() in {h.lower() for h in r.headers}, (k, r.status_code)


def test_security_headers_on_errors_too(secured) -> None:
    c, toks = secured
    for r in (c.get("/api/v1/assets"),                                  # 401
              c.get("/api/v1/assets", headers=auth(toks["read"]) | {"x": "y"}),
              c.get("/nope", headers=auth(toks["read"])),              # 404
              c.get("/api/v1/assets?limit=-5", headers=auth(toks["read"])),   # 422
              c.post("/api/v1/ingest", content=b"{", headers=auth(toks["write"]))):
        _headers_present(r)


def test_500_carries_headers_and_no_trace(tmp_path: Path, monkeypatch) -> None:
    from otscope.collector import queries

    inv = Inventory(f"sqlite:///{tmp_path}/e.db")

    def boom(*_a, **_k):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(queries, "coverage", boom)
    with TestClient(create_app(Settings(db_url=inv.url)), base_url=LOCAL, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/coverage")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert "secret" not in r.text
    _headers_present(r)


def test_head_root_answers(local_client: TestClient) -> None:
    r = local_client.head("/")
    assert r.status_code == 200 and r.text == ""
    _headers_present(r)


def test_dns_rebinding_host_refused(local_client: TestClient) -> None:
    assert local_client.get("/api/v1/assets").status_code == 200          # Host 127.0.0.1:8080
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example"):
        r = local_client.get("/api/v1/assets", headers={"Host": host})
        assert r.status_code == 421, host
        _headers_present(r)
    for host in ("localhost:8080", "[::1]:8080", "127.0.0.2"):
        assert local_client.get("/api/v1/assets", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_setting(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/a.db")
    app = create_app(Settings(db_url=inv.url, require_auth=True, host="0.0.0.0", allowed_hosts=["otscope.plant"]))
    with TestClient(app, base_url="http://otscope.plant", raise_server_exceptions=False) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"Host": "other.example"}).status_code == 421


def test_docs_need_no_cdn(local_client: TestClient) -> None:
    r = local_client.get("/docs")
    assert r.status_code == 200
    assert "cdn" not in r.text.lower() and "//" not in r.text.replace("http://", "").split("<body>")[0]
    assert '<script src="/static/docs.js">' in r.text
    js = local_client.get("/static/docs.js").text
    assert "innerHTML" not in js and "/openapi.json" in js
    assert local_client.get("/openapi.json").json()["paths"]


def _batch(**kw) -> Batch:
    ev = Evidence("sensor:edge", None, 1_700_000_000.0)
    return Batch(sensor="edge", batch_id=kw.pop("batch_id", "x1"),
                 facts=[FactObs(Subject(0, "10.9.0.1"), "vendor", "Acme", "modbus", "FC43", ev, 1_700_000_000.0,
                                1_700_000_000.0)], **kw)


def test_hostile_ingest_gives_422_naming_the_field(secured) -> None:
    c, toks = secured
    h = auth(toks["write"]) | {"Content-Type": "application/json"}
    cases = {
        "first_seen": lambda d: d["facts"][0].update(first_seen=1e12),
        "port": lambda d: d.update(comms=[{**json.loads(_comm()), "port": 10 ** 20}]),
        "mac": lambda d: d["facts"][0]["subject"].update(mac="not-hex-at-all"),
        "packets": lambda d: d.update(comms=[{**json.loads(_comm()), "packets": 2 ** 63}]),
    }
    for name, mutate in cases.items():
        d = json.loads(_batch(batch_id=f"bad-{name}").to_json())
        mutate(d)
        r = c.post("/api/v1/ingest", content=json.dumps(d), headers=h)
        assert r.status_code == 422 and name in r.json()["detail"], (name, r.text)
    deep = "[" * 200_000 + "]" * 200_000
    r = c.post("/api/v1/ingest", content=deep, headers=h)
    assert r.status_code == 422
    nan = _batch(batch_id="nan").to_json().replace("1700000000.0", "NaN", 1)
    assert c.post("/api/v1/ingest", content=nan, headers=h).status_code == 422


def _comm() -> str:
    c = CommObs(Subject(0, "10.9.0.2"), Subject(0, "10.9.0.1"), "tcp", 502, "modbus", 1, 60, 1_700_000_000.0,
                1_700_000_000.0)
    from dataclasses import asdict
    return json.dumps(asdict(c))


def test_huge_valid_totals_never_break_reads(secured) -> None:
    """The largest counts the contract accepts, many times over, keep /coverage, /assets and exports working."""
    c, toks = secured
    h = auth(toks["write"]) | {"Content-Type": "application/json"}
    big = 1 << 48
    for i in range(40):
        b = _batch(batch_id=f"big-{i}", traffic=[TrafficObs(f"modbus-{i % 3}", big, big, big)],
                   comms=[CommObs(Subject(0, "10.9.0.2"), Subject(0, "10.9.0.1"), "tcp", 502, "modbus", big, big,
                                  4_102_444_000.0, 4_102_444_000.0)])
        assert c.post("/api/v1/ingest", content=b.to_json(), headers=h).status_code == 200
    r = auth(toks["read"])
    for path in ("/api/v1/coverage", "/api/v1/assets", "/api/v1/communications", "/api/v1/export/assets.csv",
                 "/api/v1/export/assets.json", "/api/v1/assets?q=acme"):
        assert c.get(path, headers=r).status_code == 200, path


def test_register_csv_errors_name_the_line(secured) -> None:
    c, toks = secured
    h = auth(toks["write"]) | {"Content-Type": "text/csv"}
    r = c.post("/api/v1/register", content=b'name,ip\nok,10.0.0.1\nbad,"10.0.0.2\nx,10.0.0.3\n', headers=h)
    assert r.status_code == 422 and "line 3" in r.json()["detail"] and "not closed" in r.json()["detail"]
    r = c.post("/api/v1/register", content=b"name,ip\nok,10.0.0.1\n" + b"x" * 200_000 + b",10.0.0.2\n", headers=h)
    assert r.status_code == 422 and "line 3" in r.json()["detail"]


def test_tokens_list_revoke_expire(secured) -> None:
    c, toks = secured
    admin = auth(toks["admin"])
    assert c.get("/api/v1/tokens", headers=auth(toks["read"])).status_code == 403
    listed = c.get("/api/v1/tokens", headers=admin).json()
    assert {t["scope"] for t in listed} == {"read", "write", "admin"}
    assert all("token" not in t and "hash" not in json.dumps(t) for t in listed)
    made = c.post("/api/v1/tokens", json={"scope": "read", "name": "short", "expires_in_days": 1}, headers=admin)
    assert made.status_code == 201 and made.json()["state"] == "active" and made.json()["expires_at"]
    tok, tid = made.json()["token"], made.json()["id"]
    assert c.get("/api/v1/assets", headers=auth(tok)).status_code == 200
    gone = c.delete(f"/api/v1/tokens/{tid}", headers=admin)
    assert gone.status_code == 200 and gone.json()["state"] == "revoked"
    assert c.get("/api/v1/assets", headers=auth(tok)).status_code == 401
    assert c.delete("/api/v1/tokens/999999", headers=admin).status_code == 404
    bad = c.post("/api/v1/tokens", json={"scope": "root"}, headers=admin)
    assert bad.status_code == 422


def test_expired_token_refused(tmp_path: Path) -> None:
    from otscope.api.security import scope_of
    from otscope.collector.models import ApiToken

    inv = Inventory(f"sqlite:///{tmp_path}/t.db")
    with inv.factory() as s, s.begin():
        tok = create_token(s, Scope.READ, "soon", lifetime_s=60)
    with inv.factory() as s:
        assert scope_of(s, tok) is Scope.READ
        row = s.query(ApiToken).one()
        row.expires_at = time.time() - 1
        s.commit()
        assert scope_of(s, tok) is None


def test_saturated_totals_sum_without_overflow(tmp_path: Path) -> None:
    """Running totals saturate below 2^62; two saturated rows summed in /coverage must not overflow."""
    from otscope.collector.models import TrafficStat
    from otscope.collector.repository import plus
    from otscope.contract import MAX_TOTAL

    assert plus(MAX_TOTAL - 1, 1 << 48) == MAX_TOTAL
    inv = Inventory(f"sqlite:///{tmp_path}/s.db")
    with inv.factory() as s, s.begin():
        for p in ("modbus", "s7comm", "enip"):
            s.add(TrafficStat(sensor="x", protocol=p, packets=MAX_TOTAL, bytes_seen=MAX_TOTAL, bytes_decoded=MAX_TOTAL))
    with TestClient(create_app(Settings(db_url=inv.url)), base_url=LOCAL, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/coverage")
    assert r.status_code == 200 and r.json()["traffic"]["share"] == 1.0
