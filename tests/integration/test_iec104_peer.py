"""A real IEC 60870-5-104 stack (c104 2.2.1, lib60870) in two network namespaces joined by a veth pair, captured
on the controlled station's end, replayed: the controlled station (server, CA 47) is an RTU/IED with its station
component ``ca:47``, the controlling station an HMI/SCADA, the profile names what the client sent. Skipped when
c104, root, iproute2 or tcpdump is missing; bounded (seconds) and the namespaces are removed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair

c104 = pytest.importorskip("c104")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

SERVER_IP, CLIENT_IP, CA = "10.104.0.10", "10.104.0.20", 47
SERVER = f"""
import time, c104
srv = c104.Server(ip="{SERVER_IP}", port=2404)
st = srv.add_station(common_address={CA})
p = st.add_point(io_address=11, type=c104.Type.M_ME_NC_1, report_ms=500); p.value = 230.5
st.add_point(io_address=12, type=c104.Type.M_SP_NA_1)
st.add_point(io_address=21, type=c104.Type.C_SC_NA_1)
srv.start(); time.sleep(8); srv.stop()
"""
CLIENT = f"""
import time, c104
cl = c104.Client(tick_rate_ms=100, command_timeout_ms=2000)
con = cl.add_connection(ip="{SERVER_IP}", port=2404, init=c104.Init.ALL)
st = con.add_station(common_address={CA})
m = st.add_point(io_address=11, type=c104.Type.M_ME_NC_1)
c = st.add_point(io_address=21, type=c104.Type.C_SC_NA_1)
cl.start()
end = time.time() + 4
while con.state != c104.ConnectionState.OPEN and time.time() < end:
    time.sleep(0.1)
con.interrogation(common_address={CA}, cause=c104.Cot.ACTIVATION, qualifier=c104.Qoi.STATION)
con.clock_sync(common_address={CA})
c.value = True; c.transmit(cause=c104.Cot.ACTIVATION)
time.sleep(1.5); cl.stop()
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("iec104") / "c104.pcap"
    ns = NsPair("otsp2", SERVER_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(out, "tcp port 2404")
        ns.serve(SERVER, 15, tcp=(2404,))
        ns.client(CLIENT, 15)
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_controlled_and_controlling_station(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (srv,) = [a for a in inv.by_ip(SERVER_IP) if a["parent"] is None]
    (cli,) = [a for a in inv.by_ip(CLIENT_IP) if a["parent"] is None]
    assert srv["role"] == "rtu-ied" and "iec104-server" in srv["protocols"]
    assert cli["role"] == "hmi-scada" and "iec104-client" in cli["protocols"]
    kids = [a for a in inv.assets() if a["parent"] == srv["id"]]
    assert [k["component"] for k in kids] == [f"ca:{CA}"]           # CA 65535 (Init.ALL's global address) is not
    assert not any(f["field"] == "iec104_common_address" for f in cli["facts"])


def test_profile_and_state(capture: Path) -> None:
    pipe, batch = run_pipeline(capture)
    ca = [f for f in batch.facts if f.field == "iec104_common_address"]
    assert {f.value for f in ca} == {str(CA)} and all(f.subject.ip == SERVER_IP for f in ca)
    hints = {(f.subject.ip, f.value) for f in batch.facts if f.field == "role_hint"}
    assert hints == {(SERVER_IP, "rtu-ied"), (CLIENT_IP, "hmi-scada")}
    assert not [a for a in batch.anomalies if a.protocol == "iec104"]
    (comm,) = [c for c in batch.comms if c.protocol == "iec104"]
    assert (comm.client.ip, comm.server.ip, comm.port) == (CLIENT_IP, SERVER_IP, 2404)
    prof = comm.profile
    assert prof["startdt act"] >= 1 and prof["startdt con"] >= 1            # the U-frame state machine
    for name in ("C_IC_NA_1", "C_CS_NA_1", "C_SC_NA_1", "M_ME_NC_1", "interrogation", "clock-sync", "command"):
        assert prof.get(name, 0) >= 1, (name, prof)
    out = subprocess.run(["tshark", "-n", "-r", str(capture), "-Y", "iec60870_asdu", "-T", "fields",
                          "-e", "iec60870_asdu.typeid"], capture_output=True, text=True, timeout=60).stdout \
        if shutil.which("tshark") else ""
    if out:                                       # what tshark decodes, the profile names (C_IC, C_CS, C_SC ...)
        ids = {int(t) for line in out.split() for t in line.split(",")}
        assert {100, 103, 45} <= ids
