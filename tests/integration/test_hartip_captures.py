"""HART-IP over the real public capture in ../shared/pcaps-extra (ntop nDPI hart_ip.pcap: a UDP session whose
server answers from port 5095, then a TCP session) with its tshark-derived truth: every HART-IP host, label,
role and identity value the truth lists is found, nothing is reported that is not in its frame; a tshark
differential of the command 0/13/20 fields (skips cleanly when tshark or the capture is absent)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

# tshark's labels (hart-ip-client/-server) are ours without the dash
LABELS = {"hart-ip-client": "hartip-client", "hart-ip-server": "hartip-server"}
ROLES = {"field device/RTU/IED/server": {"rtu-ied", "gateway"}, "HMI/SCADA/EWS": {"hmi-scada"}}


def hart_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json") if "hart-ip" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_hartip_file() -> None:
    assert len(hart_truths()) == 1


def fam_values(fam: list[dict], *fields: str) -> set[str]:
    return set().union(*(values(fam, f) for f in fields))


@pytest.mark.parametrize("truth_path", hart_truths(), ids=lambda p: p.name)
def test_every_hartip_host_label_role_and_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    for h in truth["hosts"]:
        labels = [LABELS[p] for p in h["protocols"] if p in LABELS]
        if not labels:
            continue
        found = [a for a in assets if h["ip"] in a["ips"]]
        assert len(found) == 1, h["ip"]
        a = found[0]
        assert h["mac"] in a["macs"]
        assert set(labels) <= set(a["protocols"]), (labels, a["protocols"])
        assert a["role"] in ROLES[h["role_guess"]], a["role"]
        fam = family(a, assets)
        s = h["identity_summary"]
        assert set(s.get("model_names", [])) <= values(fam, "model")
        assert set(s.get("firmware_versions", [])) <= values(fam, "firmware")
        assert set(s.get("serial_numbers", [])) <= values(fam, "serial")
        assert set(s.get("names", [])) <= fam_values(fam, "name", "hart_tag", "hart_long_tag")
        assert set(s.get("descriptions", [])) <= fam_values(fam, "description", "hart_descriptor", "hart_message")
        assert {x.removeprefix("hart:") for x in s.get("addresses", [])} <= values(fam, "hart_address")
        for rec in h["identity"].get("hart_ip_device", []):
            if rec["command"] == "0":
                assert str(rec["manufacturer_id"]) in values(fam, "hart_manufacturer_id")
                assert rec["device_revision"] in values(fam, "hart_device_revision")
                assert rec["universal_revision"] in values(fam, "hart_universal_revision")
        # nothing beyond the truth: identity values reported are the ones tshark decoded
        assert values(fam, "model") <= set(s.get("model_names", []))
        assert values(fam, "serial") <= set(s.get("serial_numbers", []))
        assert values(fam, "firmware") <= set(s.get("firmware_versions", []))
        assert values(fam, "name") <= set(s.get("names", []))
        assert not values(fam, "vendor")          # the manufacturer id stays a number (no confirmed table)


def test_both_sessions_are_decoded_and_one_device_is_no_gateway(inventory) -> None:
    (truth_path,) = hart_truths()
    inventory.replay(capture(truth_path))
    comms = [c for b in inventory.batches for c in b.comms if c.protocol == "hartip"]
    assert {(c.transport, c.port) for c in comms} >= {("tcp", 5094), ("udp", 5095)}
    server = inventory.by_ip("192.168.0.10")[0]
    assert server["role"] == "rtu-ied" and not [a for a in inventory.assets() if a.get("parent") == server["id"]]
    assert not [b.anomalies for b in inventory.batches if any(x.protocol == "hartip" for x in b.anomalies)]


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", hart_truths(), ids=lambda p: p.name)
def test_tshark_differential(truth_path: Path, inventory) -> None:
    """Per answering IP: tshark's hart_ip command 0 / 13 / 20 response fields == our facts."""
    fields = ["ip.src", "hart_ip.message_type", "hart_ip.pt.rsp.expanded_device_type", "hart_ip.pt.rsp.device_id",
              "hart_ip.pt.rsp.software_rev", "hart_ip.pt.rsp.device_rev", "hart_ip.pt.rsp.manufacturer_Id",
              "hart_ip.pt.rsp.tag", "hart_ip.pt.rsp.descriptor"]
    out = subprocess.run([TSHARK, "-r", str(capture(truth_path)), "-Y", "hart_ip.message_type == 1", "-T", "fields",
                          "-E", "separator=\t", "-E", "occurrence=f", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    want: dict[str, dict[str, set[str]]] = {}
    for line in out.splitlines():
        ip, _t, edt, dev_id, sw, dev_rev, man, tag, desc = (line.split("\t") + [""] * 9)[:9]
        w = want.setdefault(ip, {k: set() for k in ("hart_device_type", "hart_device_id", "hart_software_revision",
                                                    "hart_device_revision", "hart_manufacturer_id", "tags",
                                                    "hart_descriptor")})
        for k, v in (("hart_device_type", edt and f"0x{int(edt, 16):04x}"), ("hart_device_id", dev_id.replace(":", "")),
                     ("hart_software_revision", sw), ("hart_device_revision", dev_rev),
                     ("hart_manufacturer_id", man), ("tags", tag), ("hart_descriptor", desc)):
            if v:
                w[k].add(v)
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    assert want and any(w["hart_device_type"] for w in want.values())
    for ip, w in want.items():
        fam = [x for a in inventory.by_ip(ip) for x in family(a, assets)]
        for k, vs in w.items():
            got = fam_values(fam, "hart_tag", "hart_long_tag") if k == "tags" else values(fam, k)
            assert got == vs, (ip, k, got, vs)
