"""`replay --workers N` shards conversations over processes; the inventory must be the one a single worker
builds (same assets, facts, communications, coverage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otscope.collector.queries import communications, coverage
from tests.conftest import PCAPS, Inventory
from tests.support.detach import detachments, dissector_errors
from tests.support.truth import CAPTURES

SHARED_GEN = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "make_mixed_pcap.py"


def canonical(inv: Inventory) -> dict:
    assets = inv.assets()
    name = {a["id"]: (tuple(a["ips"]), tuple(a["macs"]), a["component"] or "") for a in assets}
    for a in assets:
        a["parent"] = name.get(a["parent"])
        a["children"] = sorted(name[c] for c in a["children"])
        del a["id"]
        a["facts"] = sorted((f["field"], f["value"], f["protocol"], f["component"] or "", f["evidence"],
                             f["first_seen"], f["last_seen"])
                            for f in a["facts"])
    with inv.factory() as s:
        comms = sorted((tuple(c["client_ips"]), tuple(c["server_ips"]), c["protocol"], c["port"], c["packets"],
                        c["bytes"], c["first_seen"], c["last_seen"], tuple(sorted(c["profile"].items())))
                       for c in communications(s))
        cov = coverage(s)
    for g in cov["gaps"]:
        g["asset"] = name[g["asset"]]
    cov["gaps"].sort(key=repr)
    for c in cov["components"]:                     # modules and units: named by their parent, not by row id
        c["asset"], c["parent"] = name[c["asset"]], name[c["parent"]]
    cov["components"].sort(key=repr)
    return {"assets": sorted(assets, key=repr), "comms": comms, "coverage": cov}


def files() -> list[Path]:
    shared = [p for p in sorted(CAPTURES.rglob("*")) if p.is_file() and p.stat().st_size > 5000] \
        if CAPTURES.is_dir() else []
    return sorted(PCAPS.glob("*.pcap")) + shared


@pytest.mark.parametrize("path", files(), ids=lambda p: p.name)
def test_two_workers_build_the_same_inventory(path: Path, make_inventory) -> None:
    one, two = make_inventory("one"), make_inventory("two")
    (r1,) = one.replay(path)
    (r2,) = two.replay(path, workers=2)
    assert (r1.error, r1.packets, r1.flows, r1.span_duplicates) == (r2.error, r2.packets, r2.flows,
                                                                    r2.span_duplicates)
    assert canonical(one) == canonical(two)
    assert dissector_errors(one.batches) == {} and dissector_errors(two.batches) == {}


@pytest.mark.skipif(not SHARED_GEN.exists(), reason="../shared/bench is not beside the project")
def test_workers_on_the_reference_workload(tmp_path: Path, make_inventory) -> None:
    out = tmp_path / "mixed.pcap"
    subprocess.run([sys.executable, str(SHARED_GEN), "-n", "60000", "-o", str(out), "-q"], check=True, timeout=300)
    one, two, three = make_inventory("one"), make_inventory("two"), make_inventory("three")
    one.replay(out)
    two.replay(out, workers=2)
    three.replay(out, workers=3)
    assert canonical(one) == canonical(two) == canonical(three)
    assert one.batches and detachments(one.batches + two.batches + three.batches) == {}   # valid traffic


def test_same_file_with_other_worker_count_is_not_applied_twice(make_inventory) -> None:
    inv = make_inventory("again")
    inv.replay(PCAPS / "modbus_plant.pcap")
    before = canonical(inv)
    inv.replay(PCAPS / "modbus_plant.pcap", workers=2)
    assert canonical(inv) == before
