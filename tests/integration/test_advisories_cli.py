"""`otscope advisories import` and `otscope vulns` on the bundled sample inventory (pcaps/) with the real CISA
advisories of ../shared/advisories: per-file report, idempotent re-import, exit codes, JSON shape {data, count}."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PCAPS

ADVISORIES = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"
EXE = [sys.executable, "-m", "otscope.agent.cli"]


def otscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(not ADVISORIES.is_dir(), reason="../shared/advisories is not beside the project")
def test_import_and_vulns_on_the_sample_inventory(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    assert otscope("replay", "--db", db, *sorted(str(p) for p in PCAPS.glob("*.pcap"))).returncode == 0
    r = otscope("advisories", "import", "--db", db, str(ADVISORIES))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("imported ") == 78 and "78/78 document(s) read" in r.stdout
    out = json.loads(otscope("vulns", "--db", db, "--format", "json").stdout)
    assert set(out) == {"data", "count"} and out["count"] == len(out["data"]) > 0
    by_asset: dict[str, set[str]] = {}
    for v in out["data"]:
        by_asset.setdefault(v["asset"] or "", set()).add(v["advisory"])
        assert v["status"] in ("affected", "possible") and v["confidence"] in ("exact", "family")
    s7 = next(k for k in by_asset if "PRESS_CTRL" in k)                 # CPU 315-2 PN/DP V3.2.6
    assert by_asset[s7] == {"ICSA-17-129-02", "ICSA-18-079-02", "ICSA-19-043-04", "ICSA-19-099-06", "ICSA-19-283-02",
                            "ICSA-20-042-05", "ICSA-20-105-08", "ICSA-20-252-02", "ICSA-22-104-06", "ICSA-22-314-02"}
    assert any("ICSA-21-357-01" in a for a in by_asset.values())        # the MGate MB3180 v2.2
    assert any(a == {"ICSA-23-325-01", "ICSA-20-065-01"} for a in by_asset.values())   # PFC200 G2 03.10.08
    ev = json.loads(otscope("events", "--db", db, "--kind", "advisory-match", "--format", "json").stdout)
    assert ev["count"] > 0 and all(e["protocol"] == "csaf" for e in ev["data"])

    again = otscope("advisories", "import", "--db", db, str(ADVISORIES))       # idempotent
    assert again.returncode == 0 and again.stdout.count("unchanged ") == 78
    assert json.loads(otscope("vulns", "--db", db, "--format", "json").stdout)["count"] == out["count"]
    ev2 = json.loads(otscope("events", "--db", db, "--kind", "advisory-match", "--format", "json").stdout)
    assert ev2["count"] == ev["count"]

    (tmp_path / "broken.json").write_text('{"document": {"csaf_version": "2.0"}}')
    bad = otscope("advisories", "import", "--db", db, str(tmp_path / "broken.json"), str(tmp_path / "none.json"))
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("otscope: 2 document(s) not")
    assert "broken.json" in bad.stderr and "Traceback" not in bad.stderr
    high = json.loads(otscope("vulns", "--db", db, "--severity", "critical", "--format", "json").stdout)
    assert high["count"] > 0 and {v["severity"] for v in high["data"]} == {"critical"}
    assert otscope("vulns", "--db", db, "--severity", "huge").returncode == 2
    table = otscope("vulns", "--db", db)
    assert table.returncode == 0 and "ICSA-20-042-05" in table.stdout


@pytest.mark.skipif(not ADVISORIES.is_dir(), reason="../shared/advisories is not beside the project")
def test_replay_after_import_refreshes_the_matches(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/order.db"
    r = otscope("advisories", "import", "--db", db, str(ADVISORIES / "icsa-21-357-01.json"))
    assert r.returncode == 0 and "0 vulnerability match(es)" in r.stdout          # nothing in the inventory yet
    assert json.loads(otscope("vulns", "--db", db, "--format", "json").stdout)["count"] == 0
    r = otscope("replay", "--db", db, str(PCAPS / "modbus_plant.pcap"))
    assert r.returncode == 0 and "advisories: matches refreshed" in r.stdout
    out = json.loads(otscope("vulns", "--db", db, "--no-refresh", "--format", "json").stdout)
    assert {v["advisory"] for v in out["data"]} == {"ICSA-21-357-01"}                  # the MGate MB3180 v2.2
    assert {v["status"] for v in out["data"]} == {"affected"}
    plain = otscope("replay", "--db", f"sqlite:///{tmp_path}/none.db", str(PCAPS / "modbus_plant.pcap"))
    assert plain.returncode == 0 and "advisories" not in plain.stdout
