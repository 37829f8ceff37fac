"""Golden test: the bundled captures give exactly this inventory (canonical JSON, times masked).

Regenerate after an intended change with:  OTSCOPE_UPDATE_GOLDEN=1 scripts/test.sh tests/golden
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from otscope.collector.queries import coverage
from tests.conftest import PCAPS, Inventory

GOLDEN = Path(__file__).with_name("plant_inventory.json")
FILES = ["modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap", "hostile_names.pcap", "substation.pcap"]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")


def canonical(inv: Inventory) -> dict:
    assets = inv.assets()
    with inv.factory() as s:
        cov = coverage(s)
    text = json.dumps({"assets": assets, "coverage": cov}, sort_keys=True, indent=1)
    return json.loads(TIME.sub("<time>", text))


def test_bundled_captures_match_golden(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/g.db")
    results = inv.replay(*(PCAPS / f for f in FILES))
    assert all(r.error is None for r in results)
    got = canonical(inv)
    if os.environ.get("OTSCOPE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, sort_keys=True, indent=1) + "\n")
    assert got == json.loads(GOLDEN.read_text())
