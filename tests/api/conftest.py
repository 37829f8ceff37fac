from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otscope.api.app import create_app
from otscope.api.security import Scope, create_token
from otscope.api.settings import Settings
from tests.conftest import PCAPS, Inventory
from tests.support import pg

FILES = ["modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap", "hostile_names.pcap"]


def _backends() -> list[str]:
    return ["sqlite", "postgres"]


@pytest.fixture(scope="module", params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api')}/api.db"
        return
    why = pg.ensure_server()
    if why is not None:
        if os.environ.get("CI") or os.environ.get("OTSCOPE_REQUIRE_PG"):
            pytest.fail(why)
        pytest.skip(why)
    with pg.temp_database() as url:
        yield url


@pytest.fixture(scope="module")
def inventory(db_url: str) -> Inventory:
    inv = Inventory(db_url)
    assert all(r.error is None for r in inv.replay(*(PCAPS / f for f in FILES)))
    return inv


@pytest.fixture(scope="module")
def tokens(inventory: Inventory) -> dict[str, str]:
    with inventory.factory() as s, s.begin():
        return {sc.name.lower(): create_token(s, sc, f"test-{sc.name}") for sc in Scope}


@pytest.fixture(scope="module")
def client(inventory: Inventory, tokens: dict[str, str]) -> Iterator[TestClient]:
    app = create_app(Settings(db_url=inventory.url, require_auth=True))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    inventory.engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def local_client(tmp_path: Path) -> Iterator[TestClient]:
    """Bound to loopback, no tokens: local read-only use."""
    inv = Inventory(f"sqlite:///{tmp_path}/local.db")
    inv.replay(PCAPS / "modbus_plant.pcap")
    # a loopback Host: bound to loopback with open reads, other Host names are refused (DNS rebinding)
    with TestClient(create_app(Settings(db_url=inv.url)), base_url="http://127.0.0.1:8080",
                    raise_server_exceptions=False) as c:
        yield c
