"""IEEE C37.118 on the real captures (ITI C37.118_*.pcap in ../shared/pcaps-extra, wrapup.pcapng in ../shared/pcaps;
skipped when absent): every host, label, role, station name and IDCODE their tshark truth lists is found, each
from the frame that carried it, nothing else is named; and a differential test against tshark's synphasor."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from otscope.agent import pipeline as pipeline_mod
from otscope.dissectors.synphasor import dissector as synphasor_mod
from tests.conftest import Inventory, run_pipeline
from tests.support.truth import CAPTURES, SHARED, load

EXTRA = SHARED.parent / "pcaps-extra"
C37 = "ITI-ICS-Security-Tools/pcaps/C37.118"
FILES = [(EXTRA / "captures" / C37 / n, EXTRA / "truth" / C37 / f"{n}.json")
         for n in ("C37.118_1PMU_TCP.pcap", "C37.118_1PMU_UDP.pcap", "C37.118_4in1PMU_TCP.pcap")]
FILES.append((CAPTURES / "ITI-ICS-Security-Tools/s7/S7Comm/wrapup.pcapng",
              SHARED / "truth/ITI-ICS-Security-Tools/s7/S7Comm/wrapup.pcapng.json"))
PRESENT = [f for f in FILES if f[0].exists() and f[1].exists()]
ROLES = {"field device/RTU/IED/server": "rtu-ied", "HMI/SCADA/EWS": "hmi-scada"}
pytestmark = pytest.mark.skipif(not PRESENT, reason="no C37.118 capture beside the project")


def ours(label: str) -> str:
    """tshark's truth calls the protocol c37.118; otscope labels it synphasor (tshark's dissector name)."""
    return label.replace("c37.118", "synphasor")


@pytest.mark.parametrize("capture,truth", PRESENT, ids=lambda p: p.name)
def test_truth_hosts_labels_roles_names_and_idcodes(capture: Path, truth: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/c.db")
    inv.replay(capture)
    assets = inv.assets()
    checked = 0
    for h in load(truth)["hosts"]:
        c37 = [p for p in h["protocols"] if p.startswith("c37.118")]
        if not c37:
            continue
        found = inv.by_ip(h["ip"])
        assert found, h["ip"]
        labels = {p for a in found for p in a["protocols"]}
        assert {ours(p) for p in c37} <= labels, (h["ip"], labels)
        assert {a["role"] for a in found} == {ROLES[h["role_guess"]]}, h["ip"]
        family = found + [a for a in assets if a.get("parent") in {x["id"] for x in found}]
        names = {f["value"] for a in family for f in a["facts"] if f["field"] == "name"}
        idcodes = {f["value"] for a in family for f in a["facts"] if f["field"] == "synphasor_idcode"}
        ident = h.get("identity") or {}
        # the truth's superset: wrapup.pcapng's CFG-2 names "Reporting1" (tshark -V shows it, its truth does not
        # list it); that every reported name is on the wire is the differential test's job
        assert {r["station_name"] for r in ident.get("c37118_station", [])} <= names, h["ip"]
        assert {r["idcode"] for r in ident.get("c37118_idcode", [])} <= idcodes, h["ip"]
        checked += 1
    assert checked >= 2


@pytest.mark.parametrize("capture,truth", PRESENT, ids=lambda p: p.name)
def test_station_names_come_from_their_own_frames(capture: Path, truth: Path) -> None:
    _, b = run_pipeline(capture)
    first: dict[tuple, int] = {}
    for f in b.facts:
        if f.protocol == "synphasor" and f.field == "name":
            first.setdefault((f.subject.ip, f.value), f.evidence.frame)
    for h in load(truth)["hosts"]:
        for rec in (h.get("identity") or {}).get("c37118_station", []):
            assert first[(h["ip"], rec["station_name"])] == rec["frame"]
    assert not any(f.field in ("vendor", "product", "firmware", "serial", "model") for f in b.facts
                   if f.protocol == "synphasor")


class Tracing(synphasor_mod.SynphasorDissector):
    """Records every frame with a valid CHK: (type, stream IDCODE); config frames add their stations and rate."""

    trace: list[tuple] = []

    def _frame(self, raw, side, ts, frame):               # type: ignore[no-untyped-def]
        from otscope.dissectors.synphasor.grammar import crc_ok, parse_config, parse_header
        if crc_ok(raw):
            h = parse_header(raw)
            Tracing.trace.append(("frame", int(h.type), h.idcode))
            if h.type in (2, 3):
                c = parse_config(raw)
                Tracing.trace.append(("config", tuple(p.station for p in c.pmus), c.num_pmu, c.data_rate))
        return super()._frame(raw, side, ts, frame)


class TracingUdp(Tracing, synphasor_mod.SynphasorUdpDissector):
    pass


@pytest.mark.tshark
@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
@pytest.mark.parametrize("capture,truth", PRESENT, ids=lambda p: p.name)
def test_frames_and_configs_agree_with_tshark(capture: Path, truth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline_mod, "tcp_dissector_for", lambda s, c=-1: Tracing if 4712 in (s, c) else None)
    monkeypatch.setattr(pipeline_mod, "udp_dissector_for", lambda s, c=-1: TracingUdp if 4713 in (s, c) else None)
    Tracing.trace = []
    run_pipeline(capture)
    cmd = ["tshark", "-n", "-r", str(capture), "-Y", "synphasor && !tcp.analysis.retransmission", "-T", "fields",
           "-E", "aggregator=|", "-e", "synphasor.frtype", "-e", "synphasor.idcode_stream_source",
           "-e", "synphasor.station_name", "-e", "synphasor.conf.numpmu", "-e", "synphasor.rate_of_transmission",
           "-e", "synphasor.checksum.status"]
    out = subprocess.run(cmd, capture_output=True, timeout=120).stdout.decode()
    theirs: Counter[tuple] = Counter()
    for line in out.splitlines():
        types, ids, names, nums, rates, status = (line.split("\t") + [""] * 6)[:6]
        for i, t in enumerate(types.split("|")):
            idc = ids.split("|")[i]
            theirs[("frame", int(t, 0), int(idc))] += 1
        if nums and int(types.split("|")[0], 0) in (2, 3):
            theirs[("config", int(nums), int(rates))] += 1
    mine = Counter(t if t[0] == "frame" else ("config", t[2], t[3]) for t in Tracing.trace)
    assert mine == theirs
    assert theirs
    # tshark 4.0 shows a CFG-1/2 station name only as tree text: 'Station #1: "Blue PMU        "'
    verbose = subprocess.run(["tshark", "-n", "-r", str(capture), "-V", "-Y",
                              "(synphasor.frtype == 2 || synphasor.frtype == 3) && !tcp.analysis.retransmission"],
                             capture_output=True, timeout=120).stdout.decode("latin-1")
    stations = [m.strip() for m in re.findall(r'Station #\d+: "(.*)"', verbose)]
    assert [n for t in Tracing.trace if t[0] == "config" for n in t[1]] == stations and stations


def test_coverage_gap_reason_is_the_specs_gap_note(tmp_path: Path) -> None:
    from otscope.collector.queries import coverage
    from otscope.dissectors.synphasor import SPEC

    capture, truth = PRESENT[0]
    inv = Inventory(f"sqlite:///{tmp_path}/g.db")
    inv.replay(capture)
    pmus = [h["ip"] for h in load(truth)["hosts"] if any(p.endswith("-server") for p in h["protocols"])]
    with inv.factory() as s:
        gaps = {ip: g["reason"] for g in coverage(s)["gaps"] for ip in g["ips"]}
    assert pmus and all(gaps[ip] == SPEC.gap_note for ip in pmus)
