"""IEC 60870-5-104 on the real capture of ../shared/pcaps-extra (nDPI IEC104.pcap; skipped when absent): every host,
label, role and common address its tshark truth lists is found, each common address from the frame tshark read
it in, no other station is invented; and a differential test against tshark's iec60870_104/iec60870_asdu."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from otscope.agent import pipeline as pipeline_mod
from otscope.dissectors.iec104.dissector import Iec104Dissector
from tests.conftest import Inventory, run_pipeline
from tests.support.truth import SHARED, load

EXTRA = SHARED.parent / "pcaps-extra"
CAPTURE = EXTRA / "captures/ntop-nDPI/tests/cfgs/default/pcap/IEC104.pcap"
TRUTH = EXTRA / "truth/ntop-nDPI/tests/cfgs/default/pcap/IEC104.pcap.json"
pytestmark = pytest.mark.skipif(not CAPTURE.exists(), reason="shared/pcaps-extra IEC104.pcap not present")


def test_truth_hosts_labels_roles_and_common_addresses(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/i.db")
    inv.replay(CAPTURE)
    assets = inv.assets()
    truth = load(TRUTH)
    for h in truth["hosts"]:
        found = inv.by_ip(h["ip"])
        assert found, h["ip"]
        labels = {p for a in found for p in a["protocols"]}
        for p in h["protocols"]:
            assert p in labels, (h["ip"], p)
        if h["role_guess"].startswith("field device/RTU/IED"):
            assert {a["role"] for a in found} == {"rtu-ied"}, h["ip"]
        family = found + [a for a in assets if a.get("parent") in {x["id"] for x in found}]
        cas = {f["value"] for a in family for f in a["facts"] if f["field"] == "iec104_common_address"}
        want = {rec["common_address"] for rec in h["identity"].get("iec104_common_address", [])}
        assert cas == want, h["ip"]          # every station tshark saw, none it did not


def test_common_addresses_come_from_their_own_frames() -> None:
    _, b = run_pipeline(CAPTURE)
    first = {}
    for f in b.facts:
        if f.field == "iec104_common_address":
            first.setdefault((f.subject.ip, f.value), f.evidence.frame)
            assert f.subject.component == f"ca:{f.value}"
    truth = load(TRUTH)
    for h in truth["hosts"]:
        for rec in h["identity"].get("iec104_common_address", []):
            assert first[(h["ip"], rec["common_address"])] == rec["frame"]
    assert not any(f.field in ("vendor", "product", "firmware", "serial", "model") for f in b.facts
                   if f.protocol == "iec104")


class TracingIec104(Iec104Dissector):
    """Records every framed APDU's (format, type id, common address); the type id / CA are None outside I frames."""

    trace: list[tuple[str, int | None, int | None]] = []

    def _profile(self, apdu, side, ts, frame):          # type: ignore[no-untyped-def]
        a = apdu.asdu
        TracingIec104.trace.append((apdu.format.name, a.type_id if a else None, a.common_address if a else None))
        return super()._profile(apdu, side, ts, frame)


@pytest.mark.tshark
@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
def test_apdus_agree_with_tshark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline_mod, "tcp_dissector_for", lambda s, c=-1: TracingIec104 if 2404 in (s, c) else None)
    TracingIec104.trace = []
    run_pipeline(CAPTURE)
    cmd = ["tshark", "-n", "-r", str(CAPTURE), "-Y", "iec60870_104", "-T", "fields", "-E", "aggregator=|",
           "-e", "iec60870_104.type", "-e", "iec60870_asdu.typeid", "-e", "iec60870_asdu.addr"]
    out = subprocess.run(cmd, capture_output=True, timeout=60).stdout.decode()
    theirs: Counter[tuple] = Counter()
    names = {"0": "I", "1": "S", "3": "U"}
    for line in out.splitlines():
        types, tids, cas = (line.split("\t") + ["", ""])[:3]
        tids_l, cas_l = [t for t in tids.split("|") if t], [c for c in cas.split("|") if c]
        for t in types.split("|"):
            if names[str(int(t, 0))] == "I":
                theirs[("I", int(tids_l.pop(0)), int(cas_l.pop(0)))] += 1
            else:
                theirs[(names[str(int(t, 0))], None, None)] += 1
    assert Counter(TracingIec104.trace) == theirs
    assert theirs                              # the capture has APDUs: the comparison is not vacuous


def test_coverage_gap_reason_is_the_specs_gap_note(tmp_path: Path) -> None:
    """The controlled stations carry no vendor/firmware: the coverage report says so (SPEC.gap_note), and points
    to the register, instead of the generic 'no identity exchange observed'."""
    from otscope.collector.queries import coverage
    from otscope.dissectors.iec104 import SPEC

    inv = Inventory(f"sqlite:///{tmp_path}/g.db")
    inv.replay(CAPTURE)
    with inv.factory() as s:
        gaps = {ip: g["reason"] for g in coverage(s)["gaps"] for ip in g["ips"]}
    assert gaps["10.175.211.1"] == SPEC.gap_note and gaps["10.175.211.3"] == SPEC.gap_note
