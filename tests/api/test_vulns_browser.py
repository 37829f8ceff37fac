"""The dashboard's vulnerabilities (issue 18) in Debian's headless Chromium (Playwright): the bundled plant with an
advisory of ours (a hostile product name among its entries) and, when ../shared/advisories is there, the real CISA
corpus: the asset table's advisories column and filter, the vulnerabilities card and its filters, hostile strings
inert text, an advisory-match event in the timeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otscope.collector.advisories import store
from otscope.collector.uow import unit_of_work
from tests.api.test_dashboard_browser import CHROMIUM, FLAGS, serve
from tests.conftest import PCAPS, Inventory
from tests.unit.test_advisory_csaf import doc, raw, vuln

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"
HOSTILE = "Modicon M340 <img src=x onerror=alert(7)>"


def test_vulnerabilities_on_the_dashboard(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    inv = Inventory(f"sqlite:///{tmp_path}/v.db")
    inv.replay(*(PCAPS / f for f in ("modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap", "hostile_names.pcap")))
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "plant.json").write_bytes(raw(doc(
        [("H1", HOSTILE, "product_version_range", "< 3.51", None)], [vuln("CVE-2026-2000", ["H1"], score=9.1)],
        tid="TEST-UI-1", vendor="Schneider Electric")))
    with inv.factory() as s, unit_of_work(s):
        rep = store.import_sources(s, [str(tmp_path / "own")] + ([str(REAL)] if REAL.is_dir() else []))
    assert not rep.errors
    with inv.factory() as s:
        rows, total = store.list_matches(s)
        affected_assets = {r.asset_id for r in rows if r.status == "affected"}
        m340 = next(r.asset_id for r in rows if r.tracking_id == "TEST-UI-1")
    for base in serve(inv):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base + "/")
            page.wait_for_selector("body[data-loaded='1']", timeout=15000)
            assert page.text_content("[data-testid=vuln-count]") == f"({total} of {total})"
            assert page.locator("#vulns tbody tr").count() == total
            # the asset table: an advisories column and a filter on it
            cell = page.locator(f"#assets tbody tr[data-id='{m340}'] td.vulns")
            assert (cell.text_content() or "").startswith(str(1 + (5 if REAL.is_dir() else 0)) + " critical")
            assert "TEST-UI-1" in (cell.get_attribute("title") or "")
            page.select_option("[data-testid=vuln-filter]", "affected")
            assert page.locator("#assets tbody tr").count() == len(affected_assets)
            page.select_option("[data-testid=vuln-filter]", "none")
            assert page.locator(f"#assets tbody tr[data-id='{m340}']").count() == 0
            page.select_option("[data-testid=vuln-filter]", "")
            assert page.text_content("[data-testid=asset-count]") == "(13 of 13)"
            # the card's filters
            page.select_option("[data-testid=vuln-severity]", "critical")
            crit = page.locator("#vulns tbody tr")
            assert crit.count() >= 1 and all(t == "critical" for t in
                                             page.locator("#vulns tbody tr td:nth-child(4)").all_text_contents())
            page.select_option("[data-testid=vuln-severity]", "")
            page.select_option("[data-testid=vuln-status]", "possible")
            assert all(t == "possible" for t in page.locator("#vulns tbody tr td:nth-child(6)").all_text_contents())
            page.select_option("[data-testid=vuln-status]", "")
            # the hostile product entry: text, never markup
            assert page.locator("#vulns td", has_text=HOSTILE).count() == 1
            assert page.locator("#vulns img, #assets img").count() == 0 and dialogs == []
            # the import raised an advisory-match event for the M340
            page.select_option("[data-testid=event-kind]", "advisory-match")
            expect(page.locator("#events tbody tr").first).to_contain_text("advisory-match", timeout=10000)
            assert page.locator("#events tbody tr", has_text="TEST-UI-1").count() == 1
            page.screenshot(path=str(tmp_path / "vulns.png"), full_page=True)
            browser.close()
