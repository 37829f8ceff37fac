"""Beckhoff ADS/AMS over the real public captures in ../shared/pcaps-extra (ITI ICS-Security-Tools beckoff/:
a Windows engineering PC discovering a TwinCAT 2.11 CX on udp/48899 and reading its state on tcp/48898) with
their tshark-derived truth: every ADS host, label, role and AMS NetId is found; the values the truth does not
list (the UDP discovery answer, which tshark shows as data) are shown in their frame's bytes; a tshark
differential of the ams fields. Skips cleanly when the captures or tshark are absent."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.integration.ads_tshark import TSHARK, tshark_ads
from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

LABELS = {"ads-client": "ads-client", "ads-server": "ads-server"}      # tshark's labels are ours
ROLES = {"PLC/controller": {"plc"}, "HMI/SCADA/EWS": {"hmi-scada", "engineering-workstation"}}
# identity otscope reads from the UDP discovery answer (frame bytes checked below), beyond the truth
DISCOVERY = {"name": "CX_0D7560", "os": "Windows CE 6.0", "ads_twincat_version": "2.11.2228",
             "vendor": "Beckhoff Automation"}


def ads_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json") if "ads" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_two_ads_files() -> None:
    assert len(ads_truths()) == 2


@pytest.mark.parametrize("truth_path", ads_truths(), ids=lambda p: p.name)
def test_every_ads_host_label_role_and_netid_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    seen = 0
    for h in truth["hosts"]:
        labels = [LABELS[p] for p in h["protocols"] if p in LABELS]
        if not labels:
            continue
        seen += 1
        (a,) = [a for a in assets if h["ip"] in a["ips"]]
        assert h["mac"] in a["macs"]
        assert set(labels) <= set(a["protocols"]), (labels, a["protocols"])
        assert a["role"] in ROLES[h["role_guess"]], (h["ip"], a["role"])
        fam = family(a, assets)
        want = {x.removeprefix("ams:") for x in h["identity_summary"].get("addresses", [])}
        assert want and want == values(fam, "ads_netid"), (want, values(fam, "ads_netid"))
        s = h["identity_summary"]
        for field, key in (("product", "model_names"), ("firmware", "firmware_versions"), ("serial", "serial_numbers")):
            assert values(fam, field) == set(s.get(key, [])), field        # nothing beyond the truth
        if "ads-server" in labels:
            assert {f: values(fam, f) for f in DISCOVERY} == {f: {v} for f, v in DISCOVERY.items()}
            assert values(fam, "cpu_state") == {"RUN"}
        else:
            assert not any(values(fam, f) for f in DISCOVERY)
    assert seen == 2
    comms = [c for b in inventory.batches for c in b.comms if c.protocol == "ads"]
    for conv in truth["conversations"]:
        if conv["protocol"] == "ads":
            assert any((c.client.ip, c.server.ip, c.port, c.transport) == (conv["client"], conv["server"],
                                                                             conv["server_port"], "tcp") for c in comms)
    assert {c.transport for c in comms} == {"tcp", "udp"}
    assert not [x for b in inventory.batches for x in b.anomalies if x.protocol == "ads"]


def _frame_payloads(pcap: Path) -> dict[int, bytes]:
    from scapy.layers.inet import UDP
    from scapy.utils import PcapNgReader
    out = {}
    with PcapNgReader(str(pcap)) as r:
        for i, pkt in enumerate(r, 1):
            if UDP in pkt:
                out[i] = bytes(pkt[UDP].payload)
    return out


@pytest.mark.parametrize("truth_path", ads_truths(), ids=lambda p: p.name)
def test_values_beyond_the_truth_are_in_their_frame(truth_path: Path, inventory) -> None:
    """The discovery answer's values: each fact's frame is a UDP 48899 datagram holding those bytes."""
    pcap = capture(truth_path)
    inventory.replay(pcap)
    payloads = _frame_payloads(pcap)
    facts = [f for b in inventory.batches for f in b.facts if f.field in DISCOVERY and f.protocol == "ads"]
    assert {f.field for f in facts} == set(DISCOVERY)
    for f in facts:
        raw = payloads[f.evidence.frame]
        assert raw[:4] == bytes.fromhex("03661471") and struct.unpack_from("<I", raw, 8)[0] == 0x80000001
        if f.field == "name":
            assert b"\x05\x00\x0a\x00" + f.value.encode() + b"\x00" in raw
        elif f.field in ("ads_twincat_version", "vendor"):
            assert b"\x03\x00\x04\x00\x02\x0b" + struct.pack("<H", 2228) in raw
        else:                                          # OSVERSIONINFO: size 276, 6.0, platform 3 (Windows CE)
            assert struct.pack("<5I", 276, 6, 0, 0, 3) in raw


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", ads_truths(), ids=lambda p: p.name)
def test_tshark_differential(truth_path: Path, inventory) -> None:
    want = tshark_ads(capture(truth_path))
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    assert want and any(w["cpu_state"] for w in want.values())
    for ip, w in want.items():
        fam = [x for a in inventory.by_ip(ip) for x in family(a, assets)]
        for k, vs in w.items():
            got = values(fam, k)
            assert got == vs if k != "protocol" else vs <= got, (ip, k, got, vs)
