"""The dashboard's events timeline in Debian's headless Chromium (Playwright): rows from GET /api/v1/events, the
kind and severity filters, learning rows hidden on request, a link to the asset, hostile details inert text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otscope.collector.service import ingest
from otscope.contract import ActionObs
from tests.api.test_dashboard_browser import CHROMIUM, FLAGS, serve
from tests.conftest import Inventory
from tests.unit.test_events import EWS, PLC, T0, _steady, _stop, batch, ev

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")]


def test_events_timeline(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    inv = Inventory(f"sqlite:///{tmp_path}/ev.db")
    ingest(inv.factory, _steady("file:1:aaa", T0))                         # 3 learning events
    ingest(inv.factory, _stop("file:2:bbb", "replay", 42, T0 + 50, "b.pcap"))
    hostile = "<img src=x onerror=alert(1)>"
    ingest(inv.factory, batch("file:3:ccc", actions=[ActionObs(PLC, EWS, "control_action", hostile, "umas", "m",
                                                               ev(7, T0 + 60), 1, T0 + 60, T0 + 60)]))
    for base in serve(inv):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base + "/")
            page.wait_for_selector("#events tbody tr", timeout=15000)
            total = page.locator("#events tbody tr").count()
            assert page.text_content("[data-testid=event-count]") == f"({total})" and total >= 6
            assert page.locator("#events tbody tr").first.get_attribute("data-kind") == "control-action"  # newest
            page.select_option("[data-testid=event-kind]", "plc-stop")
            expect(page.locator("#events tbody tr")).to_have_count(1, timeout=10000)
            row = page.locator("#events tbody tr").first
            assert "b.pcap#frame 42" in (row.text_content() or "") and "T0858" in (row.text_content() or "")
            href = row.locator("td").nth(3).locator("a").get_attribute("href")
            assert href is not None and href.startswith("/api/v1/assets/")
            page.select_option("[data-testid=event-kind]", "")
            page.uncheck("#event-learning")
            expect(page.locator("#events tbody tr")).to_have_count(total - 3, timeout=10000)
            assert page.locator("#events td", has_text=hostile).count() == 1      # shown as text ...
            assert page.locator("#events img").count() == 0 and dialogs == []     # ... never markup
            browser.close()
