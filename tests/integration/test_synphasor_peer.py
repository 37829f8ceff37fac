"""A real IEEE C37.118 stack (the ``synchrophasor`` package, pyPMU: a PMU and a PDC) in two network namespaces
joined by a veth pair, captured on the PMU's end, replayed: the PMU is an RTU/IED named by its CFG-2 station name
with its IDCODE, data rate and PMU count, the PDC an HMI/SCADA; every frame passes its CRC. Skipped when the
package, root, iproute2 or tcpdump is missing; bounded (seconds) and the namespaces are removed."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Inventory, run_pipeline
from tests.support.netns import NsPair

pytest.importorskip("synchrophasor.pmu")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

PMU_IP, PDC_IP, IDCODE = "10.118.0.10", "10.118.0.20", 7734
# the peers: pcaps/peers/grid_peers.py (pyPMU's PMU and PDC; the PMU stops its per-client children when it ends)
GRID_PEERS = str(ROOT / "pcaps" / "peers" / "grid_peers.py")


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("c37") / "pypmu.pcap"
    ns = NsPair("otsp37", PMU_IP, PDC_IP)
    try:
        ns.open()
        ns.capture(out, "tcp port 4712")
        ns.serve(None, 12, tcp=(4712,), argv=(sys.executable, GRID_PEERS, "pmu", PMU_IP, str(IDCODE), "6"))
        ns.client(None, 10, argv=(sys.executable, GRID_PEERS, "pdc", PMU_IP, str(IDCODE)))
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_pmu_and_pdc(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (pmu,) = [a for a in inv.by_ip(PMU_IP) if a["parent"] is None]
    (pdc,) = [a for a in inv.by_ip(PDC_IP) if a["parent"] is None]
    assert pmu["role"] == "rtu-ied" and "synphasor-server" in pmu["protocols"]
    assert pdc["role"] == "hmi-scada" and "synphasor-client" in pdc["protocols"]
    assert pmu["name"] == "Station A"
    got = {(f["field"], f["value"]) for f in pmu["facts"]}
    assert {("synphasor_idcode", str(IDCODE)), ("synphasor_pmus", "1"), ("synphasor_data_rate", "30")} <= got
    assert not any(f["field"] == "name" for f in pdc["facts"])


def test_frames_profile_and_no_anomaly(capture: Path) -> None:
    _, batch = run_pipeline(capture)
    (comm,) = [c for c in batch.comms if c.protocol == "synphasor"]
    assert (comm.client.ip, comm.server.ip) == (PDC_IP, PMU_IP)
    prof = comm.profile
    assert prof["send hdr"] >= 1 and prof["send cfg2"] >= 1 and prof["data on"] >= 1 and prof["data off"] >= 1
    assert prof["CFG-2"] >= 1 and prof["header"] >= 1 and prof["data"] >= 10
    assert not [a for a in batch.anomalies if a.protocol == "synphasor"]
