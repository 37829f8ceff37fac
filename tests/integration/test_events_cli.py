"""`otscope events` and `otscope events ack` on a replayed inventory (the real S7 block download capture after the
bundled plant's learning file): JSON shape {data, count}, filters, bad input refused, ack puts it in the baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PCAPS

S7_DOWNLOAD = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps" / "captures" / \
    "ITI-ICS-Security-Tools" / "s7" / "s7comm_downloading_block_db1.pcap"
EXE = [sys.executable, "-m", "otscope.agent.cli"]


def otscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(not S7_DOWNLOAD.exists(), reason="shared capture absent")
def test_events_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    r = otscope("replay", "--db", db, str(PCAPS / "modbus_plant.pcap"), str(S7_DOWNLOAD))
    assert r.returncode == 0, r.stderr
    out = json.loads(otscope("events", "--db", db, "--format", "json").stdout)
    assert set(out) == {"data", "count"} and out["count"] == len(out["data"]) > 0
    dl = json.loads(otscope("events", "--db", db, "--kind", "program-download", "--format", "json").stdout)
    (e,) = dl["data"]
    assert (e["asset"], e["client"], e["evidence"][0]) == ("192.168.1.40", "192.168.1.10",
                                                           f"{S7_DOWNLOAD.name}#frame 43")
    alerts = json.loads(otscope("events", "--db", db, "--alerts", "--format", "json").stdout)
    assert all(not x["learning"] for x in alerts["data"]) and alerts["count"] < out["count"]
    since = json.loads(otscope("events", "--db", db, "--since", "2014-08-20T10:00:03Z", "--format", "json").stdout)
    assert e["id"] in [x["id"] for x in since["data"]]
    table = otscope("events", "--db", db)
    assert table.returncode == 0 and "program-download" in table.stdout and "T0843" in table.stdout
    for bad in (["--kind", "nope"], ["--since", "yesterday"], ["--severity", "huge"]):
        r = otscope("events", "--db", db, *bad)
        assert r.returncode == 2 and "otscope:" in r.stderr
    r = otscope("events", "ack", str(e["id"]), "--db", db, "--by", "alice")
    assert r.returncode == 0 and "acknowledged" in r.stdout
    acked = json.loads(otscope("events", "--db", db, "--kind", "program-download", "--format", "json").stdout)
    assert acked["data"][0]["acknowledged"] is True
    assert otscope("events", "ack", "999999", "--db", db).returncode == 1


def test_syslog_ca_flag_is_checked(tmp_path: Path) -> None:
    """--syslog-ca names a readable PEM file and goes with a tls:// receiver; otherwise a clear error, exit 2."""
    db = f"sqlite:///{tmp_path}/ca.db"
    r = otscope("serve", "--db", db, "--syslog", "tls://127.0.0.1:6514", "--syslog-ca", str(tmp_path / "none.pem"))
    assert r.returncode == 2 and "--syslog-ca" in r.stderr and "no such file" in r.stderr
    assert "Traceback" not in r.stderr
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    r = otscope("serve", "--db", db, "--syslog", "tcp://127.0.0.1:601", "--syslog-ca", str(ca))
    assert r.returncode == 2 and "needs a tls:// --syslog URL" in r.stderr and "Traceback" not in r.stderr
