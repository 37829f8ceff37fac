"""Several sensors ingesting at once into one inventory (PostgreSQL and SQLite): the result is the one a
sequential ingest gives; no update is lost, no asset doubled (merges are serialised per batch)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from otscope.agent.replay import replay_file
from otscope.collector.service import ingest
from tests.conftest import PCAPS, Inventory
from tests.integration.test_workers import canonical
from tests.support import pg

FILES = ["modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap", "hostile_names.pcap"]


def batches() -> list:
    out = []
    for sensor in ("edge-a", "edge-b", "edge-c"):
        for f in FILES:
            replay_file(str(PCAPS / f), out.append, sensor=sensor)
    return out


def concurrent(inv: Inventory, items: list, threads: int = 4) -> None:
    errors: list[BaseException] = []

    def work(part: list) -> None:
        try:
            for b in part:
                ingest(inv.factory, b)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(items[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=300)
    assert not errors, errors


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_equals_sequential(backend: str, tmp_path: Path) -> None:
    items = batches()
    seq = Inventory(f"sqlite:///{tmp_path}/seq.db")
    for b in items:
        ingest(seq.factory, b)
    if backend == "sqlite":
        concurrent(conc := Inventory(f"sqlite:///{tmp_path}/conc.db"), items)
        assert canonical(conc) == canonical(seq)
        return
    why = pg.ensure_server()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    with pg.temp_database() as url:
        conc = Inventory(url)
        concurrent(conc, items)
        assert canonical(conc) == canonical(seq)
        conc.engine.dispose()
