"""The segmentation view in Debian's headless Chromium: on the bundled sample and on a generated 500-device
inventory, zones stacked by level with their device counts, devices bounded per box, conversations aggregated
by zone pair with crossings highlighted, and hostile names shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otscope.collector.service import ingest
from otscope.contract import Batch, BindingObs, CommObs, Evidence, FactObs, Subject
from tests.api.test_dashboard_browser import CHROMIUM, FLAGS, serve
from tests.conftest import PCAPS, Inventory

pytestmark = [pytest.mark.browser]


def _fleet(inv: Inventory) -> None:
    """500 devices: 4 x 100 PLCs (10.1.0-3.x), 50 HMIs (10.2.0.x) each polling 8 PLCs, 50 IT hosts (10.4.0.x),
    5 of which poll a PLC directly (IT -> level 1)."""
    ev = Evidence("fleet.pcap", 1, 1.0)
    plcs = [f"10.1.{s}.{i}" for s in range(4) for i in range(1, 101)]
    hmis = [f"10.2.0.{i}" for i in range(1, 51)]
    its = [f"10.4.0.{i}" for i in range(1, 51)]
    binds = [BindingObs(0, ip, f"02:00:{n >> 8:02x}:{n & 255:02x}:00:01", "high", "arp", ev, 1.0, 1.0)
             for n, ip in enumerate(plcs + hmis + its)]
    facts = [FactObs(Subject(0, ip=ip), "protocol", "modbus-server", "modbus", "m", ev, 1.0, 1.0) for ip in plcs]
    comms = [CommObs(Subject(0, ip=h), Subject(0, ip=plcs[(k * 8 + j) % 400]), "tcp", 502, "modbus", 5, 500, 1.0, 2.0)
             for k, h in enumerate(hmis) for j in range(8)]
    comms += [CommObs(Subject(0, ip=its[k]), Subject(0, ip=plcs[k * 100]), "tcp", 502, "modbus", 3, 300, 1.0, 2.0)
              for k in range(4)]
    ingest(inv.factory, Batch("t", "fleet", bindings=binds, facts=facts, comms=comms))
    with inv.engine.begin() as conn:
        conn.exec_driver_sql("update assets set role = 'hmi-scada' where id in (select asset_id from addresses "
                             "where value like '10.2.0.%')")
        conn.exec_driver_sql("update assets set role = 'it-host' where id in (select asset_id from addresses "
                             "where value like '10.4.0.%')")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    inv = Inventory(f"sqlite:///{tmp_path_factory.mktemp('seg')}/s.db")
    inv.replay(*(PCAPS / f for f in ("modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap", "hostile_names.pcap")))
    yield from serve(inv)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    inv = Inventory(f"sqlite:///{tmp_path_factory.mktemp('seg')}/f.db")
    _fleet(inv)
    yield from serve(inv)


def _open(base: str, shot: Path):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    p = sync_playwright().start()
    browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page()
    page.goto(base + "/static/segmentation.html")
    page.wait_for_selector("body[data-loaded='1']", timeout=20000)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    return p, browser, page


def test_sample(sample: str, tmp_path: Path) -> None:
    import json
    import urllib.request

    model = json.load(urllib.request.urlopen(sample + "/api/v1/zones"))
    p, browser, page = _open(sample, tmp_path / "sample.png")
    try:
        assert page.text_content("[data-testid=model-status]") == "(proposed)"
        assert page.text_content("[data-testid=zone-count]") == str(len(model["zones"])) != "0"
        assert page.text_content("[data-testid=device-count]") == str(len(model["assets"]))
        assert page.locator("[data-testid=zone]").count() == len(model["zones"]) + (1 if model["unzoned"] else 0)
        assert page.locator("#flows tbody tr").count() == len(model["flows"]) > 0
        # hostile names are text: no element or script was injected
        assert page.eval_on_selector_all("script", "ss => ss.map(s => s.getAttribute('src'))") == \
            ["/static/segmentation.js"]
        assert page.locator("svg[onload], img[onerror]").count() == 0
        assert page.locator("#error").is_hidden()
    finally:
        browser.close()
        p.stop()


def test_fleet_of_500(fleet: str, tmp_path: Path) -> None:
    p, browser, page = _open(fleet, tmp_path / "fleet.png")
    try:
        assert page.text_content("[data-testid=device-count]") == "500"
        assert page.text_content("[data-testid=zone-count]") == "6"
        assert page.locator("[data-testid=zone]").count() == 6
        assert [r.get_attribute("data-level") for r in page.locator(".level-row").all()] == ["4", "2", "1"]
        assert page.locator("[data-testid=device]").count() == 6 * 24           # bounded per box
        assert page.locator(".zone .more").all_text_contents() == ["+26 more", "+26 more"] + ["+76 more"] * 4
        # 400 HMI->PLC conversations become 4 zone pairs; 4 IT->PLC ones 4 crossing pairs
        assert page.locator("#flows tbody tr").count() == 8
        assert page.locator("#flows tbody tr.crossing").count() == 4
        assert page.text_content("[data-testid=flow-count]") == "(8 zone pairs, 4 crossing)"
        assert page.locator("#findings li[data-kind=it-to-control]").count() == 4
        href = page.locator("[data-testid=device]").first.get_attribute("href")
        assert href is not None and href.startswith("/api/v1/assets/")
    finally:
        browser.close()
        p.stop()
