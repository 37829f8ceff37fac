"""POST /api/v1/identify and its job status (issue 19): admin scope, only inside the server's configured ranges,
a dry run returns the plan, a job runs in the background with the same engine and can be stopped."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otscope.api.app import create_app
from otscope.api.security import Scope, create_token
from otscope.api.settings import Settings
from otscope.collector.db import init_schema, make_engine, session_factory
from otscope.collector.service import ingest
from otscope.contract import Batch, CommObs, Evidence, FactObs, Subject

T = 1_700_000_000.0


@pytest.fixture
def silent() -> Iterator[int]:
    """A listener on loopback that accepts connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def api(tmp_path: Path, silent: int, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/api.db"
    engine = make_engine(url)
    init_schema(engine)
    factory = session_factory(engine)
    ev = Evidence("seen.pcap", 1, T)
    facts = [FactObs(Subject(0, ip=ip), "protocol", "modbus-server", "modbus", "seen", ev, T, T)
             for ip in ("127.0.0.1", "127.0.0.2")]
    comms = [CommObs(Subject(0, ip="127.0.0.9"), Subject(0, ip="127.0.0.1"), "tcp", silent, "modbus", 1, 60, T, T)]
    ingest(factory, Batch(sensor="seed", batch_id="seed", facts=facts, comms=comms))
    with factory() as s, s.begin():
        tokens = {sc.name.lower(): create_token(s, sc, f"ops-{sc.name.lower()}") for sc in Scope}
    monkeypatch.setenv("OTSCOPE_IDENTIFY_AUDIT", str(tmp_path / "audit.jsonl"))
    with TestClient(create_app(Settings(db_url=url, require_auth=True)), raise_server_exceptions=False) as c:
        yield c, tokens, tmp_path
    engine.dispose()


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BODY = {"gaps": True, "allow": ["127.0.0.0/30"], "dry_run": True}


def test_admin_scope_and_server_ranges_are_required(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    c, tokens, _tmp = api
    assert c.post("/api/v1/identify", json=BODY).status_code == 401
    for weak in ("read", "write"):
        assert c.post("/api/v1/identify", json=BODY, headers=h(tokens[weak])).status_code == 403
    r = c.post("/api/v1/identify", json=BODY, headers=h(tokens["admin"]))
    assert r.status_code == 403 and "not enabled" in r.json()["detail"]
    monkeypatch.setenv("OTSCOPE_IDENTIFY_ALLOW", "127.0.0.0/8")
    r = c.post("/api/v1/identify", json={**BODY, "allow": ["10.0.0.0/8"]}, headers=h(tokens["admin"]))
    assert r.status_code == 422 and "outside" in r.json()["detail"]
    r = c.post("/api/v1/identify", json={**BODY, "allow": []}, headers=h(tokens["admin"]))
    assert r.status_code == 422
    r = c.post("/api/v1/identify", json={**BODY, "rate": 500}, headers=h(tokens["admin"]))
    assert r.status_code == 422
    r = c.post("/api/v1/identify", json={**BODY, "interface": "span0"}, headers=h(tokens["admin"]))
    assert r.status_code == 422 and "no such interface" in r.json()["detail"]
    assert c.get("/api/v1/identify/nope", headers=h(tokens["admin"])).status_code == 404
    assert c.get("/api/v1/identify/nope", headers=h(tokens["read"])).status_code == 403


def test_dry_run_returns_the_plan(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    c, tokens, tmp = api
    monkeypatch.setenv("OTSCOPE_IDENTIFY_ALLOW", "127.0.0.0/8")
    r = c.post("/api/v1/identify", json=BODY, headers=h(tokens["admin"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["job"] is None and out["state"] == "planned" and out["operator"] == "ops-admin"
    steps = out["plan"]["steps"]
    assert {s["target"] for s in steps} == {"127.0.0.1", "127.0.0.2"}
    assert {s["kind"] for s in steps} == {"fc43-device-id", "fc17-server-id"} and all(s["why"] for s in steps)
    assert not (tmp / "audit.jsonl").exists()


def test_a_job_runs_in_the_background_and_stops(api, silent: int, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    c, tokens, tmp = api
    monkeypatch.setenv("OTSCOPE_IDENTIFY_ALLOW", "127.0.0.0/8")
    body = {"targets": ["127.0.0.1"], "allow": ["127.0.0.1/32"], "rate": 20, "timeout": 0.5}
    r = c.post("/api/v1/identify", json=body, headers=h(tokens["admin"]))
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.json()["state"] == "running"
    again = c.post("/api/v1/identify", json=body, headers=h(tokens["admin"]))
    assert again.status_code == 409                                # one job at a time
    time.sleep(0.8)
    assert c.post(f"/api/v1/identify/{job}/stop", headers=h(tokens["admin"])).status_code == 200
    end = time.monotonic() + 15
    while time.monotonic() < end:
        st = c.get(f"/api/v1/identify/{job}", headers=h(tokens["admin"])).json()
        if st["state"] != "running":
            break
        time.sleep(0.1)
    assert st["state"] == "stopped" and st["result"]["stopped"] == "stop requested"
    outcomes = [s["outcome"] for t in st["result"]["targets"] for s in t["steps"]]
    assert "skipped" in outcomes and set(outcomes) <= {"no answer", "skipped"}
    lines = (tmp / "audit.jsonl").read_text().splitlines()
    assert any('"event": "request"' in x and '"operator": "ops-admin"' in x for x in lines)
