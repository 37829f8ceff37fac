"""Differential tests of the layer-2/3 identity dissectors (LLDP, CDP, DHCP/BOOTP, PROFINET DCP) against
tshark's dissectors on real captures: every value tshark decodes is a fact on the sender's (or the DHCP
client's) MAC, and the fact's evidence frame is one where tshark saw that value."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from otscope.dissectors.base import text, usable_ip
from tests.conftest import Inventory
from tests.integration.test_tshark_diff import tshark
from tests.support.truth import CAPTURES

EXTRA = CAPTURES.parents[1] / "pcaps-extra" / "captures"

pytestmark = [pytest.mark.tshark, pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")]

Facts = dict[str, dict[tuple[str, str], set[int]]]     # mac -> (field, value) -> evidence frames


def present(*paths: Path) -> list[Path]:
    return [p for p in paths if p.exists()]


def facts_by_mac(path: Path, tmp_path: Path) -> Facts:
    inv = Inventory(f"sqlite:///{tmp_path}/l2.db")
    inv.replay(path)
    out: Facts = defaultdict(lambda: defaultdict(set))
    for a in inv.assets():
        for f in a["facts"]:
            m = re.search(r"#frame (\d+)$", f["evidence"] or "")
            for mac in a["macs"]:
                out[mac][(f["field"], f["value"])].add(int(m.group(1)) if m else -1)
    return out


def expect(ours: Facts, mac: str, field: str, value: str, frames: set[int]) -> None:
    got = ours.get(mac, {}).get((field, value))
    assert got is not None, f"{field}={value!r} missing on {mac}"
    assert got & frames, f"{field}={value!r} on {mac}: evidence {got}, tshark saw it in {sorted(frames)[:5]}"


def seen(rows: list[list[str]], key: int, value: int) -> dict[tuple[str, str], set[int]]:
    """(key column, value column) -> frames, from rows whose first column is the frame number."""
    out: dict[tuple[str, str], set[int]] = defaultdict(set)
    for row in rows:
        if len(row) > max(key, value) and row[value]:
            for v in row[value].split("\x1e"):
                out[(row[key].split("\x1e")[0], v)].add(int(row[0]))
    return out


LLDP = present(CAPTURES / "zeek/lldp.pcap",
               CAPTURES / "qut-infosec-2017QUT_S7comm/20161215180642.ChangeUpperThreshold.hmi.pcap",
               CAPTURES / "ITI-ICS-Security-Tools/s7/S7Comm/wrapup.pcapng",
               CAPTURES / "ITI-ICS-Security-Tools/openics/EIP-ChangeTimeAttempt.pcap")


@pytest.mark.parametrize("path", LLDP, ids=lambda p: p.name)
def test_lldp_agrees_with_tshark(path: Path, tmp_path: Path) -> None:
    ours = facts_by_mac(path, tmp_path)
    rows = tshark(path, "lldp", "frame.number", "eth.src", "lldp.tlv.system.name", "lldp.tlv.system.desc",
                  "lldp.chassis.id.mac", "lldp.mgn.addr.ip4")
    assert rows
    for col, fieldname in ((2, "name"), (3, "description"), (4, "chassis_mac")):
        for (mac, value), frames in seen(rows, 1, col).items():
            expect(ours, mac, fieldname, text(value.encode("latin-1"), 255), frames)
    for (mac, ip), frames in seen(rows, 1, 5).items():
        if usable_ip(ip):
            expect(ours, mac, "management_ip", ip, frames)
        else:                                             # 0.0.0.0 from an unconfigured switch: never a fact
            assert ("management_ip", ip) not in ours.get(mac, {})


CDP = present(CAPTURES / "ITI-ICS-Security-Tools/openics/EIP-ChangeTimeAttempt.pcap",
              CAPTURES / "ITI-ICS-Security-Tools/openics/EIP-RemoteModeChangeAttempt.pcap")


@pytest.mark.parametrize("path", CDP, ids=lambda p: p.name)
def test_cdp_agrees_with_tshark(path: Path, tmp_path: Path) -> None:
    ours = facts_by_mac(path, tmp_path)
    rows = tshark(path, "cdp", "frame.number", "eth.src", "cdp.deviceid", "cdp.platform", "cdp.software_version",
                  "cdp.nrgyz.ip_address", "cdp.capabilities")
    assert rows
    for row in rows:
        frame, mac, dev, platform, software, ips, caps = int(row[0]), *row[1:7]
        expect(ours, mac, "name", dev, {frame})
        expect(ours, mac, "product", platform, {frame})
        # tshark gives each line of the software version apart (\x1e); the first line is the IOS banner
        first = software.split("\x1e")[0]
        assert any(v.startswith(first) for f, v in ours[mac] if f == "description")
        version = re.search(r"Version ([^,]+),", first)
        assert first
        if first.startswith("Cisco IOS Software") and version:
            expect(ours, mac, "firmware", version.group(1), {frame})
            expect(ours, mac, "vendor", "Cisco", {frame})
        for ip in {i for i in ips.split("\x1e") if i}:
            expect(ours, mac, "management_ip", ip, {frame})
        if int(caps, 16) & 0x0F:                          # router / bridges / switch bits
            expect(ours, mac, "role_hint", "network-device", {frame})


DHCP = present(CAPTURES / "zeek/dhcp/dhcp.pcap",
               EXTRA / "markofu-pcaps/HoneyNet/0210/suspicious-time.pcap",
               EXTRA / "OISF-suricata-verify/tests/dhcp-eve-extended/input.pcap",
               EXTRA / "OISF-suricata-verify/tests/output-eve-ftp-data/input.pcap",
               EXTRA / "zeek-zeek/testing/btest/Traces/dhcp/dhcp_inform.pcap")


@pytest.mark.parametrize("path", DHCP, ids=lambda p: p.parent.name + "/" + p.name)
def test_dhcp_agrees_with_tshark(path: Path, tmp_path: Path) -> None:
    ours = facts_by_mac(path, tmp_path)
    rows = tshark(path, "dhcp", "frame.number", "dhcp.hw.mac_addr", "dhcp.option.hostname", "dhcp.fqdn.name",
                  "dhcp.option.vendor_class_id", "dhcp.type", "dhcp.option.dhcp", "dhcp.ip.your")
    assert rows
    for (mac, name), frames in (seen(rows, 1, 2) | seen(rows, 1, 3)).items():
        expect(ours, mac, "name", text(name.encode("latin-1"), 255), frames)
    clients = [r for r in rows if r[5] == "1"]
    for (mac, vclass), frames in seen(clients, 1, 4).items():
        expect(ours, mac, "dhcp_vendor_class", vclass, frames)
    granted = {(r[1].split("\x1e")[0], r[7]) for r in rows if r[5] == "2" and r[6] in ("5", "") and r[7] != "0.0.0.0"}
    if granted:                                            # ACK or plain BOOTREPLY: yiaddr bound to chaddr
        inv = Inventory(f"sqlite:///{tmp_path}/bind.db")
        inv.replay(path)
        for mac, yiaddr in granted:
            assert any(mac in a["macs"] for a in inv.by_ip(yiaddr)), f"{yiaddr} not bound to {mac}"


DCP = present(CAPTURES / "ITI-ICS-Security-Tools/profinet/PROFINET-RT-DCP/ChangeIPUsingDCP.pcap",
              CAPTURES / "ITI-ICS-Security-Tools/profinet/PROFINET-RT-DCP/PROFINET-RT.pcap")


@pytest.mark.parametrize("path", DCP, ids=lambda p: p.name)
def test_pn_dcp_agrees_with_tshark(path: Path, tmp_path: Path) -> None:
    ours = facts_by_mac(path, tmp_path)
    rows = tshark(path, "pn_dcp", "frame.number", "eth.src", "pn_dcp.service_type",
                  "pn_dcp.suboption_device_devicevendorvalue", "pn_dcp.suboption_device_nameofstation",
                  "pn_dcp.suboption_vendor_id", "pn_dcp.suboption_device_id")
    assert rows
    for frame_s, mac, stype, station_type, name, vendor_id, device_id in ((r + [""] * 7)[:7] for r in rows):
        frame = int(frame_s)
        if stype != "1":                                   # requests: filters and Set targets, not identity
            for fieldname in ("product", "vendor"):
                assert not any(f == fieldname and frame in fr for (f, _), fr in ours.get(mac, {}).items())
            continue
        if station_type:
            expect(ours, mac, "pn_station_type", station_type, {frame})
            expect(ours, mac, "product", station_type, {frame})
        if name:
            expect(ours, mac, "name", name, {frame})
        if vendor_id:
            expect(ours, mac, "pn_vendor_id", f"0x{int(vendor_id, 0):04x}", {frame})
            expect(ours, mac, "pn_device_id", f"0x{int(device_id, 0):04x}", {frame})
            if int(vendor_id, 0) == 0x002A:
                expect(ours, mac, "vendor", "Siemens", {frame})
