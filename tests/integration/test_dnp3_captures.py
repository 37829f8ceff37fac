"""DNP3 on real captures (../shared/pcaps-extra and ../shared/pcaps, skipped when absent) with their tshark
truth, a tshark differential test, and a group 0 outstation built by hand (no library serves group 0:
../shared/docs/protocol-libs-2.md 2c) replayed through the whole product."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from otscope.collector.queries import coverage
from otscope.dissectors.dnp3 import SPEC
from otscope.dissectors.dnp3.constants import FunctionCode, profile_key
from tests.conftest import Inventory, run_pipeline, write_pcap
from tests.support.frames import TcpSession, udp
from tests.support.truth import CAPTURES, SHARED, accepted_roles, load
from tests.unit.test_dnp3 import G0_READ, G0_RESPONSE, READ_CLASS, request, response

EXTRA = SHARED.parent / "pcaps-extra"
CASES = [(EXTRA / "captures" / rel, EXTRA / "truth" / f"{rel}.json") for rel in (
    "ntop-nDPI/tests/cfgs/default/pcap/dnp3.pcap",
    "ITI-ICS-Security-Tools/pcaps/openics/DNP3-Malformed.pcap",
    "ITI-ICS-Security-Tools/pcaps/dnp3/read_and_response.pcap",
    "ITI-ICS-Security-Tools/pcaps/dnp3/dataset_exchange.pcap",
    "ITI-ICS-Security-Tools/pcaps/dnp3/full_exchange.pcap")] + \
    [(CAPTURES / rel, SHARED / "truth" / f"{rel}.json") for rel in (
        "ITI-ICS-Security-Tools/openics/EIP-ViewDeviceStatus.pcap",
        "ITI-ICS-Security-Tools/dnp3/dnp3_test_data_part1.pcap")]
IDS = [c.name for c, _ in CASES]
IDENTITY = ("vendor", "product", "model", "firmware", "serial", "name", "order_number")


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not beside the project")
    return path


def dnp3_facts(asset: dict, field: str) -> set[str]:
    return {f["value"] for f in asset["facts"] if f["protocol"] == "dnp3" and f["field"] == field}


@pytest.mark.parametrize(("capture", "truth"), CASES, ids=IDS)
def test_every_dnp3_host_role_label_and_address_of_the_truth(capture: Path, truth: Path, tmp_path: Path) -> None:
    """Every host the truth lists with a DNP3 label: found, with that label, an accepted role, and exactly the
    link addresses tshark saw it send (no more, where the truth lists them); no identity value (the truth has
    none for these files)."""
    t = load(need(truth))
    inv = Inventory(f"sqlite:///{tmp_path}/inv.db")
    assert all(r.error is None for r in inv.replay(need(capture)))
    assets = inv.assets()
    hosts = [h for h in t["hosts"] if any(p.startswith("dnp3") for p in h["protocols"])]
    assert hosts
    for h in hosts:
        found = [a for a in assets if h["ip"] in a["ips"]]
        assert found, h["ip"]
        a = found[0]
        for p in h["protocols"]:
            assert p in a["protocols"], (h["ip"], p, a["protocols"])
        assert a["role"] in accepted_roles(h), (h["ip"], a["role"], h["role_guess"])
        summary = h.get("identity_summary") or {}
        if "addresses" in summary:             # the pcaps-extra schema; the first corpus's truth has none
            want = {x.removeprefix("dnp3:") for x in summary["addresses"] if x.startswith("dnp3:")}
            assert dnp3_facts(a, "dnp3_address") == want, h["ip"]
    for a in assets:
        for field in IDENTITY:
            assert not dnp3_facts(a, field), (a["ips"], field)
        if "dnp3-server" in a["protocols"]:
            assert a["role"] == "rtu-ied"
    # no label on a host the truth does not give it (an end that never sent a DNP3 frame gets none)
    labelled = {ip for a in assets for ip in a["ips"] if any(p.startswith("dnp3") for p in a["protocols"])}
    assert labelled == {h["ip"] for h in hosts}


def test_outstation_without_group_0_gets_the_gap_note(tmp_path: Path) -> None:
    capture, _ = CASES[4]
    inv = Inventory(f"sqlite:///{tmp_path}/inv.db")
    inv.replay(need(capture))
    with inv.factory() as s:
        text = json.dumps(coverage(s))
    assert SPEC.gap_note in text


def test_group_0_attributes_of_a_real_capture_match_tshark() -> None:
    """dataset_exchange.pcap frame 2: g0 variations 213 and 215 with their 32-bit values (tshark -V: 1 and 3)."""
    capture, _ = CASES[3]
    b = run_pipeline(need(capture))[1]
    got = {(f.subject.ip, f.field, f.value, f.evidence.frame) for f in b.facts if f.field.startswith("dnp3_attr")}
    assert got == {("192.168.77.235", "dnp3_attribute_213", "1", 2), ("192.168.77.235", "dnp3_attribute_215", "3", 2)}


def test_multi_segment_response_is_reassembled() -> None:
    """read_and_response.pcap: the class poll answer spans frames 6 and 8 (transport FIR, then FIN): one
    response, counted in the flow's profile; a transport-layer anomaly would show it was not."""
    capture, _ = CASES[2]
    b = run_pipeline(need(capture))[1]
    comm = next(c for c in b.comms if c.protocol == "dnp3")
    assert comm.profile == {"read": 1, "response": 1}
    assert not [a for a in b.anomalies if a.protocol == "dnp3"]


# -- tshark differential ---------------------------------------------------------------------------------------

def _tshark(path: Path, *fields: str) -> list[list[str]]:
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    args = ["tshark", "-n", "-r", str(path), "-Y", "dnp3", "-T", "fields", "-E", "occurrence=a", "-E",
            "aggregator=,"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize(("capture", "truth"), CASES, ids=IDS)
def test_tshark_differential_addresses_and_directions(capture: Path, truth: Path) -> None:
    """(sender IP, dnp3.src) and (sender IP, DIR) as tshark decodes them are exactly otscope's address facts
    and labels."""
    rows = _tshark(need(capture), "ip.src", "dnp3.src", "dnp3.ctl.dir")
    b = run_pipeline(capture)[1]
    ours_addr = {(f.subject.ip, f.value) for f in b.facts if f.field == "dnp3_address"}
    ours_dir = {(f.subject.ip, f.value == "dnp3-client") for f in b.facts if f.field == "protocol"
                and f.protocol == "dnp3"}
    theirs_addr, theirs_dir = set(), set()
    for ip, srcs, dirs in rows:
        for s, d in zip(srcs.split(","), dirs.split(",")):
            if s:
                theirs_addr.add((ip, s))
                theirs_dir.add((ip, d in ("1", "True")))
    assert ours_addr == theirs_addr
    assert ours_dir == theirs_dir


# captures whose every application fragment tshark decodes (the fuzzed and the cut ones it reports malformed)
FUNCTION_CASES = [c for c in CASES if c[0].name in ("read_and_response.pcap", "dataset_exchange.pcap",
                                                    "full_exchange.pcap", "EIP-ViewDeviceStatus.pcap")]


@pytest.mark.parametrize(("capture", "truth"), FUNCTION_CASES, ids=[c.name for c, _ in FUNCTION_CASES])
def test_tshark_differential_function_profile(capture: Path, truth: Path) -> None:
    """The application function codes tshark decodes (one per reassembled fragment) are otscope's profile."""
    rows = _tshark(need(capture), "dnp3.al.func")
    theirs = collections.Counter(profile_key(int(fc)) for (fcs,) in rows for fc in fcs.split(",") if fc)
    b = run_pipeline(capture)[1]
    ours: collections.Counter[str] = collections.Counter()
    for c in b.comms:
        if c.protocol == "dnp3":
            ours.update({k: v for k, v in c.profile.items() if k in {profile_key(int(f)) for f in FunctionCode}})
    assert ours == theirs and ours


# -- a group 0 outstation (hand-made, the library-less peer of protocol-libs-2.md 2c) -----------------------------

def _outstation_capture(path: Path) -> Path:
    """A master polls an outstation and reads g0v254; the outstation answers with its device attributes in three
    transport segments (so reassembly is exercised too), over TCP; and one DNP3/UDP exchange."""
    s = TcpSession("10.20.0.5", "10.20.0.50", 41000, 20000).handshake()
    s.to_server(READ_CLASS)
    s.to_client(response(bytes((0xC0, 0x81, 0, 0))))
    s.to_server(request(G0_READ))
    s.to_client(response(G0_RESPONSE, size=50))
    frames = list(s.frames)
    frames.append(udp("10.20.0.6", "10.20.0.51", 20000, 20000, request(bytes((0xC0, 0x01, 60, 2, 6)), 7, 2)))
    frames.append(udp("10.20.0.51", "10.20.0.6", 20000, 20000, response(bytes((0xC0, 0x81, 0, 0)), 2, 7)))
    return write_pcap(path, frames)


def test_group_0_outstation_identity_through_the_product(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/inv.db")
    assert all(r.error is None for r in inv.replay(_outstation_capture(tmp_path / "g0.pcap")))
    (rtu,) = inv.by_ip("10.20.0.50")
    assert (rtu["vendor"], rtu["product"], rtu["firmware"], rtu["serial"], rtu["name"]) == (
        "Schweitzer Engineering Laboratories", "SEL-3505", "3505-01", "1234567", "feeder-7")
    assert rtu["role"] == "rtu-ied" and rtu["protocols"] == ["dnp3-server"] and rtu["identified"]
    assert dnp3_facts(rtu, "dnp3_hardware_version") == {"R149-V2"}
    (master,) = inv.by_ip("10.20.0.5")
    assert master["role"] == "hmi-scada" and master["protocols"] == ["dnp3-client"]
    (udp_rtu,) = inv.by_ip("10.20.0.51")
    assert udp_rtu["role"] == "rtu-ied" and dnp3_facts(udp_rtu, "dnp3_address") == {"7"}
    with inv.factory() as s:
        assert SPEC.gap_note in json.dumps(coverage(s))          # the UDP outstation has no group 0


def test_group_0_outstation_capture_agrees_with_tshark(tmp_path: Path) -> None:
    path = _outstation_capture(tmp_path / "g0.pcap")
    rows = _tshark(path, "dnp3.al.obj", "dnp3.al.da.value")
    values = {v for _, vals in rows for v in vals.split(",") if v}
    assert {"Schweitzer Engineering Laboratories", "SEL-3505", "R149-V2", "3505-01", "1234567", "feeder-7"} <= values
