"""End to end in Debian's headless Chromium (Playwright): the dashboard loads a replayed inventory, shows
the right coverage and asset count, search filters the table, and hostile names stay inert text."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PCAPS, Inventory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("ui")
    inv = Inventory(f"sqlite:///{d}/ui.db")
    inv.replay(*(PCAPS / f for f in ("modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap", "hostile_names.pcap")))
    yield from serve(inv)


def serve(inv: Inventory) -> Iterator[str]:
    port = free_port()
    exe = Path(sys.executable).with_name("otscope")
    proc = subprocess.Popen([str(exe), "serve", "--db", inv.url, "--port", str(port)], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dashboard(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server + "/")
        page.wait_for_selector("body[data-loaded='1']", timeout=15000)
        assert page.text_content("[data-testid=coverage-value]") == "80.0%"      # 8 of 10 devices
        assert page.text_content("[data-testid=asset-total]") == "10"
        assert page.text_content("[data-testid=verdict]") == "FAIL"
        assert page.text_content("[data-testid=asset-count]") == "(13 of 13)"
        assert page.text_content("[data-testid=traffic-share]") == "100.0%"
        assert page.locator("[data-testid=components] li").count() == 3            # the gateway's units
        # the map legend lists the protocols the registry gives colours to (GET /api/v1/protocols), in its order
        from otscope.dissectors import registry
        legend = [t.split()[-1] for t in page.locator("#legend span").all_text_contents()]
        assert legend == [p for s in registry.specs() for p, _ in s.colours] and "modbus" in legend
        page.fill("[data-testid=search]", "Siemens")
        assert page.locator("#assets tbody tr").count() == 2
        page.fill("[data-testid=search]", "")
        # the protocol filter offers every protocol the registry declares, and filters the table and the map
        options = page.eval_on_selector_all("[data-testid=protocol-filter] option", "os => os.map(o => o.value)")
        assert options == [""] + [c["name"] for c in registry.catalogue()]
        page.select_option("[data-testid=protocol-filter]", "enip")
        assert page.locator("#assets tbody tr").count() == 3                   # two PLCs and their client
        assert {c.split()[0] for c in page.locator("#map line title").all_text_contents()} == {"enip"}
        page.select_option("[data-testid=protocol-filter]", "")
        assert page.locator("#assets tbody tr").count() == 13
        page.fill("[data-testid=search]", "Siemens")
        page.fill("[data-testid=search]", "script")
        cells = page.locator("#assets tbody td", has_text="<script>alert(1)</script>")
        assert cells.count() == 1                                  # shown as text ...
        # ... and nothing was injected: the only scripts are the page's own files
        assert page.eval_on_selector_all("script", "ss => ss.map(s => s.getAttribute('src'))") == \
            ["/static/app.js", "/static/events.js"]
        assert page.locator("svg[onload], img[onerror]").count() == 0
        page.fill("[data-testid=search]", "")
        page.click("#assets th[data-key=vendor]")
        first = page.locator("#assets tbody tr").first.locator("td").nth(4).text_content()
        assert first is not None
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert dialogs == []
        browser.close()


def test_dashboard_without_ot_bytes_says_not_applicable(tmp_path: Path) -> None:
    """0 OT bytes: the traffic KPI reads "not applicable", never "0.0%" (issue 12)."""
    from playwright.sync_api import sync_playwright

    from otscope.collector.service import ingest
    from otscope.contract import Batch, BindingObs, Evidence

    inv = Inventory(f"sqlite:///{tmp_path}/empty.db")
    ingest(inv.factory, Batch("t", "b1", bindings=[BindingObs(0, "10.0.0.1", "02:00:00:00:00:01", "high", "arp",
                                                             Evidence("x.pcap", 1, 1.0), 1.0, 1.0)]))
    for base in serve(inv):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(base + "/")
            page.wait_for_selector("body[data-loaded='1']", timeout=15000)
            assert page.text_content("[data-testid=traffic-share]") == "not applicable (no OT bytes seen)"
            browser.close()
