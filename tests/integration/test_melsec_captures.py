"""MELSEC over the real public capture in ../shared/pcaps-extra (ITI/ICS-Security-Tools MELSEC
melsoft_UDP_clean_1.pcap) with its tshark-derived truth. What is on the wire is not SLMP: GX Works3 and two FX5U
CPUs exchange the MELSOFT datagram on udp/5560, as broadcasts to 255.255.255.255 (each direction its own flow),
plus 4-byte discovery datagrams. tshark 4.0 has no dissector for it (the truth labels by port and finds the CPU
model by pattern); otscope labels it ``melsoft`` and reads the model from the answer to command 01 21 only. Every
host, label (tshark's melsec-* = our melsoft-*), role and model is found, nothing else, each in the truth's frame;
the model's bytes are checked against the raw payload tshark prints. Skips cleanly when absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_pipeline
from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

LABELS = {"melsec-client": "melsoft-client", "melsec-server": "melsoft-server"}
ROLES = {"PLC/controller": {"plc"}, "HMI/SCADA/EWS": {"hmi-scada", "engineering-workstation"}}


def melsec_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json")
                  if "melsec" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_melsec_file() -> None:
    assert len(melsec_truths()) == 1


@pytest.mark.parametrize("truth_path", melsec_truths(), ids=lambda p: p.name)
def test_every_host_label_role_and_model_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    for h in truth["hosts"]:
        labels = {LABELS[p] for p in h["protocols"] if p in LABELS}
        (a,) = [a for a in assets if h["ip"] in a["ips"]]
        if h["mac_confidence"] in ("high", "medium"):
            assert h["mac"] in a["macs"]
        assert labels == {p for p in a["protocols"] if p.startswith(("melsec", "melsoft"))}, a["protocols"]
        assert a["role"] in ROLES[h["role_guess"]], a["role"]
        fam = family(a, assets)
        models = set(h["identity_summary"].get("model_names", []))
        assert values(fam, "product") == models
        assert values(fam, "vendor") == ({"Mitsubishi Electric"} if models else set())
        assert values(fam, "melsec_cpu_code") == ({"0x4a29"} if models else set())
        assert not values(fam, "firmware") and not values(fam, "serial")
    assert {ip for a in assets for ip in a["ips"]} >= {h["ip"] for h in truth["hosts"]}
    assert not [a for a in assets if "255.255.255.255" in a["ips"]]


def test_models_come_from_the_truths_frames_and_their_bytes() -> None:
    (truth_path,) = melsec_truths()
    truth = json.loads(truth_path.read_text())
    _p, batch = run_pipeline(capture(truth_path))
    first: dict[str, int] = {}
    for f in batch.facts:
        if f.field == "product":
            first[f.subject.ip] = min(first.get(f.subject.ip, 1 << 30), f.evidence.frame or 0)
    assert first == {m["host"]: m["frame"] for m in truth["identity_messages"]}
    assert not [a for a in batch.anomalies if a.protocol in ("melsec", "melsoft")]
    if shutil.which("tshark"):
        for ip, frame in first.items():
            out = subprocess.run(["tshark", "-n", "-r", str(capture(truth_path)), "-Y", f"frame.number == {frame}",
                                  "-T", "fields", "-e", "ip.src", "-e", "udp.srcport", "-e", "udp.payload"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout.split()
            payload = bytes.fromhex(out[2])
            assert out[:2] == [ip, "5560"] and payload[:2] == b"\xd7\x01"
            assert payload[21 + 32:21 + 50] == b"FX5U-32MT/ES\0\0\0\0\x29\x4a"


FIRST = EXTRA.parent / "pcaps" / "captures" / "ITI-ICS-Security-Tools" / "MELSEC" / "melsoft_UDP_clean_2.pcap"


@pytest.mark.skipif(not FIRST.is_file(), reason="shared/pcaps not present")
def test_the_first_corpus_melsoft_capture(inventory) -> None:
    """Its truth (first-corpus schema) knows no MELSEC: the FX5U (Mitsubishi MAC prefix) answers the same MELSOFT
    command 01 21 with its model, GX Works3's host asks; nothing else is claimed."""
    inventory.replay(FIRST)
    (plc,) = inventory.by_ip("192.168.3.250")
    (ews,) = inventory.by_ip("192.168.3.101")
    assert plc["role"] == "plc" and plc["protocols"] == ["melsoft-server"]
    assert values([plc], "product") == {"FX5U-32MT/ES"} and values([plc], "mac_vendor") == {
        "Mitsubishi Electric Corporation"}
    assert ews["protocols"] == ["melsoft-client"] and not values([ews], "product")
