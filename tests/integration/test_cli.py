"""The command line as a user runs it: exit codes, one-line errors, idempotent replay, output contracts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_pcap
from tests.support.frames import TcpSession, arp

MB_REQ = bytes.fromhex("000100000006010300000002")
MB_RSP = bytes.fromhex("00010000000701030400010002")
DEVID_REQ = bytes.fromhex("000b00000005012b0e0100")
DEVID_RSP = bytes.fromhex("000b0000001a012b0e0181000003000441636d6501035a31300205" "76312e3234")


def otscope(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("otscope")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, check=check,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    s = TcpSession("10.0.0.20", "10.0.0.10", 40000, 502).handshake()
    s.to_server(MB_REQ)
    s.to_client(MB_RSP)
    s.to_server(DEVID_REQ)
    s.to_client(DEVID_RSP)
    return write_pcap(tmp_path / "sample.pcap", [arp("10.0.0.10", "00:1b:1b:00:00:01")] + s.frames)


def counts(db: Path) -> dict[str, object]:
    con = sqlite3.connect(db)
    try:
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("assets", "addresses", "facts", "communications", "traffic", "anomalies")} | {
            "packets": con.execute("select sum(packets), sum(bytes) from communications").fetchone(),
            "traffic_bytes": con.execute("select sum(bytes_seen), sum(bytes_decoded) from traffic").fetchone()}
    finally:
        con.close()


def test_replay_twice_doubles_nothing(tmp_path: Path, sample: Path) -> None:
    db = tmp_path / "inv.db"
    r1 = otscope("replay", str(sample), "--db", f"sqlite:///{db}")
    assert r1.returncode == 0, r1.stderr
    assert "packets/s" in r1.stdout and "assets in inventory" in r1.stdout
    first = counts(db)
    r2 = otscope("replay", str(sample), "--db", f"sqlite:///{db}")
    assert r2.returncode == 0
    assert counts(db) == first


def test_assets_json_contract(tmp_path: Path, sample: Path) -> None:
    db = f"sqlite:///{tmp_path}/inv.db"
    otscope("replay", str(sample), "--db", db, check=True)
    out = json.loads(otscope("assets", "--db", db, "--format", "json", check=True).stdout)
    assert out["count"] == len(out["data"]) == 2
    plc = next(a for a in out["data"] if "10.0.0.10" in a["ips"])
    for key in ("id", "ips", "macs", "vlans", "role", "vendor", "product", "order_number", "firmware", "serial",
                "name", "protocols", "first_seen", "last_seen", "facts", "parent"):
        assert key in plc
    assert plc["role"] == "plc" and plc["vendor"] == "Acme" and plc["firmware"] == "v1.24"
    assert plc["macs"] == ["00:1b:1b:00:00:01"] and "modbus-server" in plc["protocols"]
    fw = next(f for f in plc["facts"] if f["field"] == "firmware")
    assert set(fw) >= {"field", "value", "protocol", "evidence", "first_seen", "last_seen"}
    assert fw["evidence"] == "sample.pcap#frame 7" and fw["protocol"] == "modbus"
    hmi = next(a for a in out["data"] if "10.0.0.20" in a["ips"])
    assert hmi["role"] == "hmi-scada"


def test_coverage_json_contract(tmp_path: Path, sample: Path) -> None:
    db = f"sqlite:///{tmp_path}/inv.db"
    otscope("replay", str(sample), "--db", db, check=True)
    cov = json.loads(otscope("coverage", "--db", db, "--format", "json", check=True).stdout)
    assert cov["target"] == 0.95 and cov["assets_total"] == 2 and cov["assets_identified"] == 1
    assert cov["asset_coverage"] == 0.5 and cov["fields"] == {"vendor": 0.5, "product": 0.5, "firmware": 0.5}
    assert cov["traffic"]["target"] == 0.8 and cov["traffic"]["share"] == 1.0
    (gap,) = cov["gaps"]
    # an HMI (Modbus client) is a PC by the KPI's classes (issue 16): identified by OS + name, none seen here
    assert gap["ips"] == ["10.0.0.20"] and "no OS/name seen" in gap["reason"] and gap["missing"] == ["os", "name"]
    assert gap["asset_class"] == "pcs"
    assert [(k["asset_class"], k["assets"], k["identified"]) for k in cov["classes"]] == [
        ("controllers", 1, 1), ("pcs", 1, 0), ("network", 0, 0)]


def test_truncated_file_one_line_error_keeps_what_was_read(tmp_path: Path, sample: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(sample.read_bytes()[:-30])
    db = tmp_path / "inv.db"
    r = otscope("replay", str(cut), "--db", f"sqlite:///{db}")
    assert r.returncode == 1
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "cut.pcap" in err[0] and "byte offset" in err[0]
    assert "Traceback" not in r.stderr
    assert counts(db)["assets"] == 2                                   # frames before the fault are kept


@pytest.mark.parametrize("content", [b"", b"hello world, not a capture", None])
def test_bad_inputs_are_clear_errors(tmp_path: Path, content: bytes | None) -> None:
    p = tmp_path / "bad.pcap"
    if content is not None:
        p.write_bytes(content)
    r = otscope("replay", str(p), "--db", f"sqlite:///{tmp_path}/inv.db")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "bad.pcap" in r.stderr


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    from otscope.agent.cli import csv_cell

    assert csv_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert csv_cell("+1") == "'+1" and csv_cell("@x") == "'@x" and csv_cell("-2") == "'-2"
    assert csv_cell(["a", "b"]) == "a b" and csv_cell(None) == ""


def test_table_output_runs(tmp_path: Path, sample: Path) -> None:
    db = f"sqlite:///{tmp_path}/inv.db"
    otscope("replay", str(sample), "--db", db, check=True)
    assert "Acme" in otscope("assets", "--db", db, check=True).stdout
    assert "asset coverage" in otscope("coverage", "--db", db, check=True).stdout
    assert otscope("assets", "--db", db, "--format", "csv", check=True).stdout.startswith("id,parent,ips")


def test_same_vendor_and_serial_links_two_addresses(tmp_path: Path, inventory) -> None:
    """A device that moved (or was seen under two IPs with no trustworthy MAC) is one asset once its CIP
    identity (vendor + serial number) matches."""
    from tests.support.frames import udp
    from tests.unit.test_enip import list_identity_reply

    frames = [udp("10.5.0.120", "10.9.0.1", 44818, 50000, list_identity_reply(ip=bytes([10, 5, 0, 120])), ttl=61,
                  smac="00:00:5e:00:01:01", dmac="00:0c:29:00:00:02", ipid=1),
              udp("10.5.0.125", "10.9.0.1", 44818, 50001, list_identity_reply(ip=bytes([10, 5, 0, 125])), ttl=61,
                  smac="00:00:5e:00:01:01", dmac="00:0c:29:00:00:02", ipid=2)]
    inventory.replay(write_pcap(tmp_path / "moved.pcap", frames))
    owners = [a for a in inventory.assets() if a["parent"] is None and {"10.5.0.120", "10.5.0.125"} & set(a["ips"])]
    assert len(owners) == 1 and set(owners[0]["ips"]) >= {"10.5.0.120", "10.5.0.125"}
    assert owners[0]["serial"] == "0x00524d8e"


@pytest.mark.parametrize("choice, modbus_facts", [("modbus", True), ("enip,s7comm", False), ("none", False)])
def test_dissectors_option_chooses_what_runs(tmp_path: Path, sample: Path, choice: str, modbus_facts: bool) -> None:
    """The choice reaches the worker process (it imports the dissectors itself, after the fork)."""
    db = tmp_path / f"{choice.replace(',', '_')}.db"
    r = otscope("replay", str(sample), "--db", f"sqlite:///{db}", "--dissectors", choice)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db)
    try:
        vendors = {v for (v,) in con.execute("select value from facts where field = 'vendor' and protocol = 'modbus'")}
        protos = {p for (p,) in con.execute("select protocol from communications")}
    finally:
        con.close()
    assert (vendors == {"Acme"}) is modbus_facts
    assert ("modbus" in protos) is modbus_facts
    assert protos <= {"modbus", "tcp/502"}


def test_unknown_dissector_is_a_usage_error(tmp_path: Path, sample: Path) -> None:
    r = otscope("replay", str(sample), "--db", f"sqlite:///{tmp_path}/x.db", "--dissectors", "modbus,nosuchproto")
    assert r.returncode == 2
    assert "unknown dissector(s) ['nosuchproto']" in r.stderr and "modbus" in r.stderr
    assert not (tmp_path / "x.db").exists()


def test_auto_workers_by_file_size() -> None:
    from otscope.agent.cli import AUTO_WORKERS_FROM, auto_workers

    assert auto_workers(0, 2) == 1
    assert auto_workers(AUTO_WORKERS_FROM - 1, 2) == 1
    assert auto_workers(AUTO_WORKERS_FROM, 2) == 2
    assert auto_workers(10 * AUTO_WORKERS_FROM, 64) == 8


def test_replay_cap_option_configures_the_dissectors(tmp_path: Path) -> None:
    """--cap NAME=VALUE reaches the dissectors in the workers; hitting it is an anomaly of the cap's name."""
    s = TcpSession("10.0.0.20", "10.0.0.10", 40000, 502).handshake()
    for tid in range(1, 5):                                     # four requests still waiting for an answer
        s.to_server(bytes.fromhex(f"{tid:04x}00000006010300000001"))
    pcap = write_pcap(tmp_path / "pending.pcap", s.frames)
    kinds = {}
    for name, extra in (("default", []), ("capped", ["--cap", "pending_transactions=2"])):
        db = tmp_path / f"{name}.db"
        r = otscope("replay", str(pcap), "--db", f"sqlite:///{db}", *extra)
        assert r.returncode == 0, r.stderr
        con = sqlite3.connect(db)
        kinds[name] = sorted(k for (k,) in con.execute("select kind from anomalies"))
        con.close()
    assert kinds == {"default": [], "capped": ["pending-transactions-cap"]}
    bad = otscope("replay", str(pcap), "--cap", "no_such_cap=3")
    assert bad.returncode == 2 and "unknown cap" in bad.stderr
    assert otscope("replay", str(pcap), "--cap", "pending_requests=x").returncode == 2


def test_token_list_revoke_expiry(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/tok.db"
    tok = otscope("token", "create", "--db", db, "--scope", "read", "--name", "ops", "--expires-days", "30",
                  check=True).stdout.strip()
    assert tok.startswith("ots_")
    listed = otscope("token", "list", "--db", db, check=True).stdout
    assert "ops" in listed and "active" in listed and tok not in listed and "never" not in listed
    r = otscope("token", "revoke", "1", "--db", db)
    assert r.returncode == 0 and "revoked" in r.stdout
    assert "revoked" in otscope("token", "list", "--db", db, check=True).stdout
    missing = otscope("token", "revoke", "42", "--db", db)
    assert missing.returncode == 1 and missing.stderr.strip() == "otscope: no token with id 42"


def test_undecodable_link_layers_are_reported_by_name(tmp_path: Path) -> None:
    """A capture nothing decodes is never silently empty: the summary names the link type and the reason."""
    rt = bytes.fromhex("0000080000000000")                                # radiotap v0, 8 bytes, no fields
    protected = bytes.fromhex("0841") + bytes(2) + bytes(18) + bytes(2) + bytes(20)   # 802.11 data, Protected
    wlan = write_pcap(tmp_path / "wlan.pcap", [rt + protected] * 3, linktype=127)
    odd = write_pcap(tmp_path / "user0.pcap", [b"\x01\x02\x03"] * 2, linktype=147)
    r = otscope("replay", str(wlan), str(odd), "--db", f"sqlite:///{tmp_path}/l.db")
    assert r.returncode == 0, r.stderr
    assert "LINKTYPE_IEEE802_11_RADIOTAP (127): wlan-protected (3 frames)" in r.stderr
    assert "LINKTYPE_USER0 (147): unsupported-linktype (2 frames)" in r.stderr
