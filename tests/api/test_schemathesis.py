"""Schemathesis against the served OpenAPI schema: no request, however odd, gets a server error."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from otscope.api.app import create_app
from otscope.api.security import Scope, create_token
from otscope.api.settings import Settings
from tests.conftest import PCAPS, Inventory

_tmp = Path(__import__("tempfile").mkdtemp(prefix="otscope-st-"))
_inv = Inventory(f"sqlite:///{_tmp}/st.db")
_inv.replay(PCAPS / "modbus_plant.pcap", PCAPS / "hostile_names.pcap")
with _inv.factory() as _s, _s.begin():
    TOKEN = create_token(_s, Scope.ADMIN, "schemathesis")
APP = create_app(Settings(db_url=_inv.url, require_auth=True))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=[not_a_server_error])


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_unauthenticated_fuzz_gets_401_not_500(headers: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    with TestClient(APP, raise_server_exceptions=False) as c:
        for path in ("/api/v1/assets", "/api/v1/coverage", "/api/v1/communications"):
            assert c.get(path, headers=headers).status_code == 401
