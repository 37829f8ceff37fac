"""End to end with real peers: devices and clients in network namespaces on a hub, a mirror port into the
root namespace, the live sensor capturing there and shipping to a collector on loopback (SQLite and
PostgreSQL), with pymodbus, python-snap7 and cpppo peers. The collector is killed mid-run and restarted: every device appears once with its identity,
and no observation is lost (the conversations' packet counts equal those of a tcpdump capture of the same
port). The sensor never transmits on the port. Everything is torn down afterwards, also on failure."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Inventory
from tests.support import pg
from tests.support.netns import Tcpdump, stop, wait_capturing

sys.path.insert(0, str(ROOT / "pcaps"))
import make_captures as mc  # noqa: E402

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]
OTSCOPE = str(Path(sys.executable).with_name("otscope"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int) -> subprocess.Popen:
    p = subprocess.Popen([OTSCOPE, "serve", "--db", url, "--port", str(port)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("collector did not start")


@pytest.fixture(params=["sqlite", "postgres"])
def collector_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/central.db"
        return
    why = pg.ensure_server()
    if why:
        pytest.fail(why) if os.environ.get("CI") else pytest.skip(why)
    with pg.temp_database() as url:
        yield url


def test_live_sensor_with_collector_outage(collector_url: str, tmp_path: Path) -> None:
    token = subprocess.run([OTSCOPE, "token", "create", "--scope", "write", "--db", collector_url],
                           capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    with mc.topology(span_in_root=True) as t:
        for name in ("plc-a", "plc-b"):
            octet, ident, units = mc.MODBUS_DEVICES[name]
            t.host(name, octet)
            t.spawn(name, mc.PY, str(mc.PEERS / "modbus_server.py"), f"{mc.NET}.{octet}", "502", json.dumps(ident),
                    units, "120")
        octet, s7ident, rack, slot = mc.S7_DEVICES["s7-a"]
        t.host("s7-a", octet)
        t.spawn("s7-a", mc.PY, str(mc.PEERS / "s7_server.py"), f"{mc.NET}.{octet}", "102", json.dumps(s7ident), "120")
        mc.enip_server(t, "enip-a", tmp_path)
        t.host("hmi", mc.HMI)
        for name, p in (("plc-a", 502), ("plc-b", 502), ("s7-a", 102), ("enip-a", 44818)):
            t.wait_listen(name, p)
        central = serve(collector_url, port)
        dump = Tcpdump(tmp_path / "span.pcap", t.span)
        out = Tcpdump(tmp_path / "sent.pcap", t.span, extra=("-Q", "out"))   # anything the host transmits
        sensor = subprocess.Popen([OTSCOPE, "sensor", "-i", t.span, "--collector", f"http://127.0.0.1:{port}",
                                   "--token", token, "--spool", str(tmp_path / "spool"), "--flush", "0.5",
                                   "--sensor", "edge-1", "--duration", "90"], stderr=subprocess.PIPE, text=True)
        try:
            wait_capturing(sensor, t.span)                              # its socket is on the port
            t.run("hmi", mc.PY, str(mc.PEERS / "modbus_client.py"), f"{mc.NET}.{mc.HMI}", f"{mc.NET}.10", "502", "1",
                  "10")
            central.kill()                                              # the collector dies mid-run ...
            central.wait()
            t.run("hmi", mc.PY, str(mc.PEERS / "modbus_client.py"), f"{mc.NET}.{mc.HMI}", f"{mc.NET}.11", "502", "1",
                  "10")
            t.run("hmi", mc.PY, str(mc.PEERS / "s7_client.py"), f"{mc.NET}.{octet}", "102", str(rack), str(slot),
                  "1", "4")
            t.run("hmi", mc.PY, str(mc.PEERS / "enip_client.py"), f"{mc.NET}.{mc.ENIP_DEVICES['enip-a'][0]}")
            time.sleep(2.0)                                             # ... batches pile up in the spool
            central = serve(collector_url, port)                        # ... and comes back
            time.sleep(2.0)
        finally:
            sensor.send_signal(signal.SIGTERM)
            _, err = sensor.communicate(timeout=60)
            try:
                dump.finish()                                           # every packet written before it is read
                out.finish()
            finally:
                stop(dump.proc)
                stop(out.proc)
                central.terminate()
                central.wait(timeout=20)
        assert sensor.returncode == 0, err
        summary = json.loads(err.strip().splitlines()[-1])
        assert summary["spool_pending"] == 0 and summary["kernel_drops"] == 0
        assert "collector unavailable" in err                            # the outage really happened

    live = Inventory(collector_url)
    ref = Inventory(f"sqlite:///{tmp_path}/ref.db")
    ref.replay(tmp_path / "span.pcap")
    by_ip = {ip: a for a in live.assets() for ip in a["ips"] if a["parent"] is None}
    assert sum(1 for a in live.assets() if f"{mc.NET}.10" in a["ips"]) == 1
    for octet_, ident in ((mc.MODBUS_DEVICES["plc-a"][0], mc.MODBUS_DEVICES["plc-a"][1]),
                          (mc.MODBUS_DEVICES["plc-b"][0], mc.MODBUS_DEVICES["plc-b"][1])):
        a = by_ip[f"{mc.NET}.{octet_}"]
        assert (a["vendor"], a["product"], a["firmware"], a["role"]) == (
            ident["VendorName"], ident["ProductName"], ident["MajorMinorRevision"], "plc")
    s7 = by_ip[f"{mc.NET}.{octet}"]
    assert (s7["order_number"], s7["serial"], s7["name"]) == (s7ident["order_number"], s7ident["serial"],
                                                               s7ident["as_name"])
    enip_octet, enip_ident = mc.ENIP_DEVICES["enip-a"]
    e = by_ip[f"{mc.NET}.{enip_octet}"]
    assert (e["product"], e["serial"]) == (enip_ident["Product Name"], f"0x{enip_ident['Serial Number']:08x}")
    # nothing lost, nothing doubled: the same conversations with the same packet counts as the capture
    from otscope.collector.queries import communications

    def convs(inv: Inventory) -> dict:
        with inv.factory() as s:
            return {(tuple(c["client_ips"]), tuple(c["server_ips"]), c["protocol"], c["port"]): c["packets"]
                    for c in communications(s) if c["port"] in (502, 102, 44818)}

    assert convs(live) == convs(ref) and convs(ref)
    # passive: the host transmitted nothing on the monitored port
    from otscope.agent.pcapio import read_chunks

    assert sum(ch.count for ch in read_chunks(str(tmp_path / "sent.pcap"))) == 0
