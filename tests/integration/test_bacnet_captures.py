"""BACnet/IP over the real public captures in ../shared/pcaps-extra (cisagov icsnpp-bacnet bacnet_services,
bacnet_segmented_data, bacnet_error_reject_abort; ntop nDPI bacnet.pcap) with their tshark-derived truth: every
BACnet host, label, role and identity value (bacnet_i_am, bacnet_device_properties) the truth lists is found,
routed devices as components of their router; nothing is reported that is not in its frame; a tshark
differential of I-Am instance / vendor id and the ACKs' device properties (skips cleanly when absent)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

# tshark's role guesses -> ours: a BACnet device that routes (SNET in its messages) or acts as BBMD is a gateway
ROLES = {"building controller": {"building-controller", "gateway"},
         "building controller (also acts as client)": {"building-controller", "gateway"},
         "HMI/SCADA/EWS": {"hmi-scada", "engineering-workstation"}, "other/unknown": {"unknown"}}
PROPS = {"vendor-name": "bacnet_vendor_name", "model-name": "bacnet_model_name",
         "firmware-revision": "bacnet_firmware_revision", "object-name": "bacnet_object_name",
         "application-software-version": "bacnet_application_software_version", "vendor-identifier": None}


def bacnet_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json") if "bacnet" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def llc_frames(path: Path) -> set[int]:
    """Frame numbers of 802.3 length frames (BACnet/Ethernet, clause 7: LLC, not BACnet/IP) in a classic pcap."""
    data = path.read_bytes()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        return set()
    out, pos, n = set(), 24, 0
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        n += 1
        frame = data[pos + 16:pos + 16 + incl]
        if len(frame) >= 14 and struct.unpack_from(">H", frame, 12)[0] < 0x600:
            out.add(n)
        pos += 16 + incl
    return out


def in_frame(path: Path, frame: int, instance: str) -> bool:
    """tshark decodes this device instance in this frame (without tshark: the frame is taken on trust)."""
    if TSHARK is None:
        return True
    rows = tshark(path, f"frame.number == {frame}", "bacapp.instance_number")
    return any(instance in r[0].split("|") for r in rows)


def test_the_corpus_has_the_bacnet_files() -> None:
    assert len(bacnet_truths()) == 4


@pytest.mark.parametrize("truth_path", bacnet_truths(), ids=lambda p: p.name)
def test_every_bacnet_host_label_role_and_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    llc = llc_frames(capture(truth_path))
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    llc_only: list[dict] = []
    for h in truth["hosts"]:
        found = [a for a in assets if h["ip"] in a["ips"] and a.get("parent") is None]
        assert len(found) == 1, h["ip"]
        a = found[0]
        if h["mac"]:
            assert h["mac"] in a["macs"]
        # tshark's labels first heard in BACnet/Ethernet frames (LLC) where we differ on purpose: the router's
        # routed Who-Is (SNET 1) is its component's, a TimeSynchronization makes no client (label bacnet)
        want = {p for p in h["protocols"] if p != "bacnet" and h["protocol_first_frame"][p] not in llc}
        assert want <= set(a["protocols"]), (h["ip"], want, a["protocols"])
        assert set(a["protocols"]) & {"bacnet", "bacnet-client", "bacnet-server"}
        assert a["role"] in ROLES[h["role_guess"]], (h["ip"], a["role"])
        fam = family(a, assets)
        for kind in ("bacnet_i_am", "bacnet_i_am_routed"):
            for rec in h["identity"].get(kind, []):
                inst = rec["device_instance"]
                holders = [x for x in fam if inst in values([x], "bacnet_instance")]
                if not holders and rec["frame"] in llc:
                    llc_only.append(rec)    # heard over BACnet/Ethernet (LLC) only, not BACnet/IP: not ours
                    continue
                assert holders, (h["ip"], kind, rec)
                assert any(str(rec["vendor_id"]) in values([x], "bacnet_vendor_id") and
                           rec["vendor_name_from_id"] in values([x], "vendor") for x in holders), rec
                if kind == "bacnet_i_am_routed":
                    net, _, addr = rec["routed_source"].removeprefix("net ").partition(" addr ")
                    mac = addr.replace(":", "") if ":" in addr else f"{int(addr):02x}"
                    assert any(x.get("component") == f"bacnet:{net}:{mac}" for x in holders), rec
        for kind in ("bacnet_device_properties", "bacnet_device_properties_routed"):
            for rec in h["identity"].get(kind, []):
                for prop, field in PROPS.items():
                    if prop in rec and field:
                        assert rec[prop] in values(fam, field), (prop, rec)
        s = h["identity_summary"]
        assert set(s.get("vendors", [])) <= values(fam, "vendor")
        assert set(s.get("model_names", [])) <= values(fam, "product")
        assert set(s.get("firmware_versions", [])) <= values(fam, "firmware") | \
            values(fam, "bacnet_application_software_version")
        # nothing beyond the truth: identity values reported are the ones tshark decoded
        assert values(fam, "product") <= set(s.get("model_names", []))
        assert values(fam, "firmware") <= set(s.get("firmware_versions", []))
        assert values(fam, "vendor") <= set(s.get("vendors", []))
        assert not llc_only, llc_only          # BACnet/Ethernet frames decoded too (ethernet.py)
        for f in (f for x in fam for f in x["facts"] if f["field"] == "bacnet_instance"):
            if f"bacnet-device:{f['value']}" not in s.get("addresses", []):
                # the truth lists I-Am instances only: another (an I-Have's device) must be in its frame
                assert f["message"] != "BACnet i-am", f
                frame = int(f["evidence"].rsplit("frame ", 1)[1])
                assert in_frame(capture(truth_path), frame, f["value"]), f


def test_the_router_carries_its_mstp_devices_as_components(inventory) -> None:
    (truth_path,) = [p for p in bacnet_truths() if p.name == "bacnet_services.pcap.json"]
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    (router,) = [a for a in inventory.by_ip("192.168.0.24") if a.get("parent") is None]
    kids = {a["component"]: a for a in assets if a.get("parent") == router["id"]}
    assert router["role"] == "gateway" and len([c for c in kids if c.startswith("bacnet:3:")]) >= 30
    dev29 = kids["bacnet:3:1d"]
    assert dev29["role"] == "building-controller"
    assert {"SYSC MLX"} == values([dev29], "product") and "2.62" in values([dev29], "firmware")
    assert "bacnet-server" in dev29["protocols"]
    # the engineering client restarted and muted device 108 behind the router
    acts = values([kids["bacnet:3:6c"]], "control_action")
    assert {"reinitialize-device coldstart", "reinitialize-device warmstart",
            "device-communication-control disable", "device-communication-control enable"} <= acts
    (client,) = inventory.by_ip("192.168.0.50")
    assert client["role"] in ("building-controller", "engineering-workstation")
    prof = {k: v for b in inventory.batches for c in b.comms if c.protocol == "bacnet" for k, v in c.profile.items()}
    assert prof["read-property"] > 3000 and prof["write-property"] == 9 and prof["writes"] == 9
    assert prof["reinitialize-device"] == 4 and prof["device-communication-control"] == 4
    assert prof["atomic-read-file"] == 64 and prof["atomic-write-file"] == 63


def test_the_public_captures_give_no_bacnet_anomaly(inventory) -> None:
    for p in bacnet_truths():
        inventory.replay(capture(p))
    bad = [(a.kind, a.count) for b in inventory.batches for a in b.anomalies if a.protocol == "bacnet"]
    assert bad == []


TSHARK = shutil.which("tshark")


def tshark(path: Path, filt: str, *fields: str) -> list[list[str]]:
    out = subprocess.run([TSHARK, "-r", str(path), "-Y", filt, "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=a", "-E", "aggregator=|", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [(ln.split("\t") + [""] * len(fields))[:len(fields)] for ln in out.splitlines()]


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", bacnet_truths(), ids=lambda p: p.name)
def test_tshark_differential_i_am(truth_path: Path, inventory) -> None:
    """Per sender (IP, routed SNET/SADR): tshark's I-Am bacapp.instance_number and bacapp.vendor_identifier ==
    our bacnet_instance / bacnet_vendor_id of that device (BACnet/IP frames: bvlc)."""
    rows = tshark(capture(truth_path), "bvlc && bacapp.unconfirmed_service == 0", "ip.src", "bacnet.snet",
                  "bacnet.sadr_mstp", "bacnet.sadr_eth", "bacapp.instance_number", "bacapp.vendor_identifier")
    want: dict[tuple[str, str | None], set[tuple[str, str]]] = {}
    for ip, snet, mstp, eth, inst, vendor in rows:
        comp = None
        if snet:
            mac = f"{int(mstp):02x}" if mstp else eth.replace(":", "")
            comp = f"bacnet:{snet}:{mac}"
        want.setdefault((ip, comp), set()).add((inst, vendor))
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    assert want
    for (ip, comp), pairs in want.items():
        (top,) = [a for a in inventory.by_ip(ip) if a.get("parent") is None]
        (dev,) = [a for a in family(top, assets) if a.get("component") == comp] if comp else [top]
        assert {i for i, _v in pairs} <= values([dev], "bacnet_instance"), (ip, comp)
        assert {v for _i, v in pairs} <= values([dev], "bacnet_vendor_id"), (ip, comp)


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_differential_device_properties(inventory) -> None:
    """ReadProperty-ACKs on the device object: bacapp.property_identifier and the string value tshark prints
    (-V text only: the value has no field name) == our bacnet_* property facts."""
    (truth_path,) = [p for p in bacnet_truths() if p.name == "bacnet_services.pcap.json"]
    path = capture(truth_path)
    out = subprocess.run([TSHARK, "-r", str(path), "-Y", "bvlc && bacapp.type == 3 && bacapp.confirmed_service == 12"
                          " && bacapp.objectType == 8", "-V", "-O", "bacapp"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    import re
    names = {77: "bacnet_object_name", 121: "bacnet_vendor_name", 70: "bacnet_model_name",
             44: "bacnet_firmware_revision", 12: "bacnet_application_software_version", 58: "bacnet_location"}
    want: dict[str, set[str]] = {}
    prop = None
    for line in out.splitlines():
        m = re.search(r"Property Identifier: [\w-]+ \((\d+)\)", line)
        if m:
            prop = int(m.group(1))
        m = re.search(r"[\w-]+: (?:UTF-8|ISO 8859-1|UCS-2) '(.*)'$", line)
        if m and prop in names:
            want.setdefault(names[prop], set()).add(m.group(1))
    assert want.get("bacnet_model_name") == {"SYSC MLX"}
    inventory.replay(path)
    assets = inventory.assets()
    (router,) = [a for a in inventory.by_ip("192.168.0.24") if a.get("parent") is None]
    fam = family(router, assets)
    for field, vs in want.items():
        assert values(fam, field) == vs, (field, values(fam, field), vs)


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_vendor_table_is_tsharks() -> None:
    """vendors.tsv is Wireshark's BACnetVendorIdentifiers (packet-bacapp.c) as this tshark ships it."""
    from otscope.dissectors.bacnet.constants import _vendors

    out = subprocess.run([TSHARK, "-G", "values"], capture_output=True, text=True, timeout=120, check=True).stdout
    theirs = {int(c[2]): c[3] for c in (ln.split("\t") for ln in out.splitlines())
              if len(c) >= 4 and c[0] == "V" and c[1] == "bacapp.vendor_identifier"}
    assert len(theirs) > 1000 and _vendors() == theirs
