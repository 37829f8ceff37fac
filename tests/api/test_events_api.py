"""GET /api/v1/events and POST /api/v1/events/{id}/ack: filters, paging, {data, count}, 422s, scopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otscope.api.app import create_app
from otscope.api.security import Scope, create_token
from otscope.api.settings import Settings
from otscope.collector.service import ingest
from tests.conftest import Inventory
from tests.unit.test_events import T0, _stop, _steady


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    inv = Inventory(f"sqlite:///{tmp_path_factory.mktemp('ev')}/ev.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))                       # learning: 2 new assets, 1 conversation
    ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    ingest(inv.factory, _stop("file:3:ccc", "replay", 43, T0 + 5000, "c.pcap"))
    with inv.factory() as s, s.begin():
        tokens = {sc.name.lower(): create_token(s, sc, f"t-{sc.name}") for sc in Scope}
    app = create_app(Settings(db_url=inv.url, require_auth=True))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, tokens
    inv.engine.dispose()


def h(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_list_and_filters(setup) -> None:  # type: ignore[no-untyped-def]
    c, tok = setup
    r = c.get("/api/v1/events", headers=h(tok["read"]))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "count"} and body["count"] == len(body["data"]) >= 5
    stops = c.get("/api/v1/events?kind=plc-stop", headers=h(tok["read"])).json()
    assert stops["count"] == 2 and {e["evidence"][0] for e in stops["data"]} == {"b.pcap#frame 42", "c.pcap#frame 43"}
    e = stops["data"][0]
    assert e["technique"] == "T0858" and e["client"] == "10.0.0.9" and e["asset"] == "10.0.0.1"
    assert c.get(f"/api/v1/events?asset={e['asset_id']}&severity=high", headers=h(tok["read"])).json()["count"] == 2
    assert c.get(f"/api/v1/events?since={T0 + 1000}", headers=h(tok["read"])).json()["count"] == 1
    assert c.get("/api/v1/events?since=2023-11-14T22:30:00Z&kind=plc-stop", headers=h(tok["read"])).json()["count"] == 1
    page = c.get("/api/v1/events?limit=1&offset=1", headers=h(tok["read"])).json()
    assert len(page["data"]) == 1 and page["count"] == body["count"] and page["data"][0]["id"] == body["data"][1]["id"]
    learned = c.get("/api/v1/events?learning=true", headers=h(tok["read"])).json()
    assert learned["count"] == 3 and all(x["learning"] for x in learned["data"])


@pytest.mark.parametrize("query", ["kind=bogus", "severity=extreme", "since=yesterday", "since=1e20", "limit=0",
                                   "limit=5000", "offset=-1", "asset=0", "asset=abc", "learning=maybe"])
def test_bad_input_is_422(setup, query: str) -> None:  # type: ignore[no-untyped-def]
    c, tok = setup
    r = c.get(f"/api/v1/events?{query}", headers=h(tok["read"]))
    assert r.status_code == 422, r.text


def test_scopes(setup) -> None:  # type: ignore[no-untyped-def]
    c, tok = setup
    assert c.get("/api/v1/events").status_code == 401
    assert c.get("/api/v1/events", headers=h("nope")).status_code == 401
    eid = c.get("/api/v1/events?kind=plc-stop", headers=h(tok["read"])).json()["data"][0]["id"]
    assert c.post(f"/api/v1/events/{eid}/ack").status_code == 401
    assert c.post(f"/api/v1/events/{eid}/ack", headers=h(tok["read"])).status_code == 403
    r = c.post(f"/api/v1/events/{eid}/ack", headers=h(tok["write"]))
    assert r.status_code == 200 and r.json()["acknowledged"] is True and r.json()["id"] == eid
    assert c.post("/api/v1/events/999999/ack", headers=h(tok["write"])).status_code == 404
    assert c.post("/api/v1/events/0/ack", headers=h(tok["write"])).status_code == 422
    acked = c.get("/api/v1/events?acknowledged=true", headers=h(tok["read"])).json()
    assert [e["id"] for e in acked["data"]] == [eid]
