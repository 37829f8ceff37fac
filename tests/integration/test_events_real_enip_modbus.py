"""Events from real EtherNet/IP and Modbus stacks (issue 17), across a veth pair between two network namespaces
(the test's own, prefix ev + PID: tests/support/netns.py), captured by tcpdump in the server's namespace (stopped
and waited for before the file is read), replayed through the product.

- pycomm3 sends the cpppo server a CIP Reset on the Identity object and Set_Attribute_Single writes to its TCP/IP
  Interface object (host name) and its Identity object (product name). cpppo 5.2.5 implements none of these: it
  answers the Sets with CIP status 0x08 (service not supported) and drops the session on the Reset (its log:
  "EtherNet/IP CIP error"). The requests are on the wire all the same, so each is one event, with the frame
  tshark shows for the request and pycomm3's address; the reads cpppo does answer (Get_Attribute_Single of the
  host name and the product name) raise nothing.
- pymodbus: an HMI polls and writes during the learning capture; in the second capture it writes again (nothing is
  raised) and a second client writes: one write-from-new-client event, for that client only."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from otscope.agent.replay import Overlap, checked_sink, replay_file
from otscope.collector import events
from tests.conftest import Inventory
from tests.support.netns import NsPair, sh

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

CIP_SERVER, CIP_CLIENT = "10.77.18.1", "10.77.18.2"
MB_SERVER, MB_HMI, MB_OTHER = "10.77.19.1", "10.77.19.2", "10.77.19.3"

CPPPO_CFG = """
[Identity]
Vendor Number       = 1
Device Type         = 14
Product Code Number = 166
Product Name        = 1756-L83E/B ControlLogix5583E
[TCPIP]
Interface Configuration = {{"ip_address": "{ip}", "network_mask": "255.255.255.0"}}
Host Name           = plc-line-3
"""

CPPPO = """
import runpy, sys
sys.argv = ["enip", "--address", "{ip}:44818", "-c", "{cfg}", "SCADA=INT[10]"]
runpy.run_module("cpppo.server.enip", run_name="__main__")
"""

PYCOMM3 = """
import time
from pycomm3 import CIPDriver, ClassCode, Services
steps = [
    ("read host name", dict(service=Services.get_attribute_single, class_code=ClassCode.tcp_ip_interface,
                            instance=1, attribute=6)),
    ("set host name", dict(service=Services.set_attribute_single, class_code=ClassCode.tcp_ip_interface,
                           instance=1, attribute=6, request_data=b"\\x05\\x00plc-9\\x00")),
    ("read product name", dict(service=Services.get_attribute_single, class_code=ClassCode.identity_object,
                               instance=1, attribute=7)),
    ("set product name", dict(service=Services.set_attribute_single, class_code=ClassCode.identity_object,
                              instance=1, attribute=7, request_data=b"\\x03abc")),
    ("reset", dict(service=Services.reset, class_code=ClassCode.identity_object, instance=1)),
]
for name, kw in steps:
    try:
        with CIPDriver("{ip}") as d:          # one session each: cpppo ends the session on a refused Reset
            r = d.generic_message(connected=False, **kw)
            print(name, "->", r.value, "|", r.error, flush=True)
    except Exception as exc:
        print(name, "-> failed:", type(exc).__name__, str(exc)[:80], flush=True)
    time.sleep(0.3)
"""

PYMODBUS_SERVER = """
import asyncio, logging
logging.disable(logging.WARNING)
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer
async def main():
    dev = ModbusDeviceContext(hr=ModbusSequentialDataBlock(1, list(range(100))))
    srv = ModbusTcpServer(ModbusServerContext(devices=dev, single=True), address=("{ip}", 502))
    await srv.serve_forever()
asyncio.run(main())
"""

PYMODBUS_CLIENT = """
import logging, time
logging.disable(logging.WARNING)
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient("{server}", port=502, source_address=("{source}", 0), timeout=3)
assert c.connect(), "no connection"
for i in range({polls}):
    c.read_holding_registers(0, count=10, device_id=1)
for i in range({writes}):
    c.write_register(5, 4000 + i, device_id=1)
    time.sleep(0.05)
c.close()
print("done", flush=True)
"""


def _wait_listen(ns: NsPair, port: int, secs: float = 15) -> None:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if f":{port} " in sh("ip", "netns", "exec", ns.srv, "ss", "-lntH", check=False).stdout:
            return
        time.sleep(0.2)
    pytest.skip(f"the server did not listen on {port}")


def _stop_capture(ns: NsPair) -> None:
    """Stop tcpdump and wait for it (NsPair.finish_capture): the file is complete only then."""
    ns.finish_capture()


def _first(path: Path, flt: str) -> int | None:
    if shutil.which("tshark") is None:
        return None
    r = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split(), (flt, r.stderr[-300:])     # a filter that matches nothing fails
    return int(r.stdout.split()[0])


def _events(inv: Inventory, source: str) -> list[dict]:
    with inv.factory() as s:
        rows, _n = events.list_events(s)
        names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
        return [events.as_dict(r, names) for r in rows if any(source in e for e in r.evidence)]


# --- cpppo + pycomm3 ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cip_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    pytest.importorskip("cpppo")
    pytest.importorskip("pycomm3")
    d = tmp_path_factory.mktemp("cip")
    cfg = d / "identity.cfg"
    cfg.write_text(CPPPO_CFG.format(ip=CIP_SERVER))
    out = d / "pycomm3_cpppo.pcap"
    ns = NsPair("ev", CIP_SERVER, CIP_CLIENT).open()
    try:
        ns.serve(textwrap.dedent(CPPPO).format(ip=CIP_SERVER, cfg=cfg), secs=40)
        _wait_listen(ns, 44818)
        ns.capture(out, "tcp port 44818")
        res = ns.client(textwrap.dedent(PYCOMM3).format(ip=CIP_SERVER), secs=25)
        time.sleep(0.5)
        _stop_capture(ns)
    finally:
        ns.close()
    if not out.exists() or out.stat().st_size < 200:
        pytest.skip("the EtherNet/IP peers produced no capture")
    return out, res.stdout + res.stderr


def test_cip_reset_and_configuration_writes_are_events_with_their_client(cip_capture: tuple[Path, str],
                                                                         tmp_path: Path) -> None:
    cap, log = cip_capture
    # what cpppo answered (the docstring's account of it)
    assert "read host name -> b'\\n\\x00plc-line-3'" in log, log
    assert "set host name -> b'' | Service not supported" in log, log
    inv = Inventory(f"sqlite:///{tmp_path}/cip.db")
    replay_file(str(cap), checked_sink(inv.factory))
    got = [e for e in _events(inv, cap.name) if e["kind"] not in ("new-asset", "new-conversation")]
    by = {(e["kind"], e["detail"]): e for e in got}
    assert sorted(by) == [("config-write", "TCP/IP interface"), ("config-write", "identity"),
                          ("plc-start", "reset")], got
    checks = {("config-write", "TCP/IP interface"): "cip.sc == 0x10 && cip.class == 0xf5",
              ("config-write", "identity"): "cip.sc == 0x10 && cip.class == 0x01",
              ("plc-start", "reset"): "cip.sc == 0x05 && cip.class == 0x01"}
    for key, flt in checks.items():
        e = by[key]
        assert (e["asset"], e["client"], e["count"]) == (CIP_SERVER, CIP_CLIENT, 1), e
        want = _first(cap, flt)
        if want is not None:
            assert e["evidence"] == [f"{cap.name}#frame {want}"], (key, e["evidence"], want)
    assert by[("plc-start", "reset")]["technique"] == "T0816"
    assert by[("config-write", "TCP/IP interface")]["technique"] == "T0836"
    before = _events(inv, cap.name)
    try:
        replay_file(str(cap), checked_sink(inv.factory))       # the same capture again: refused or a duplicate
    except Overlap:
        pass
    assert _events(inv, cap.name) == before


# --- pymodbus: a second client writes -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def modbus_captures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("pymodbus")
    d = tmp_path_factory.mktemp("mb")
    learn, later = d / "hmi_learning.pcap", d / "second_writer.pcap"
    ns = NsPair("ev", MB_SERVER, MB_HMI).open()
    try:
        sh("ip", "-n", ns.cli, "addr", "add", f"{MB_OTHER}/24", "dev", ns.vc)
        ns.serve(textwrap.dedent(PYMODBUS_SERVER).format(ip=MB_SERVER), secs=60)
        _wait_listen(ns, 502)
        ns.capture(learn, "tcp port 502")
        r = ns.client(textwrap.dedent(PYMODBUS_CLIENT).format(server=MB_SERVER, source=MB_HMI, polls=5, writes=3))
        assert "done" in r.stdout, r.stdout + r.stderr
        time.sleep(0.5)
        _stop_capture(ns)
        ns.capture(later, "tcp port 502")
        for source, writes in ((MB_HMI, 2), (MB_OTHER, 4)):
            r = ns.client(textwrap.dedent(PYMODBUS_CLIENT).format(server=MB_SERVER, source=source, polls=2,
                                                                  writes=writes))
            assert "done" in r.stdout, r.stdout + r.stderr
        time.sleep(0.5)
        _stop_capture(ns)
    finally:
        ns.close()
    for f in (learn, later):
        if not f.exists() or f.stat().st_size < 200:
            pytest.skip("the Modbus peers produced no capture")
    return learn, later


def test_writes_from_a_second_client_after_learning(modbus_captures: tuple[Path, Path], tmp_path: Path) -> None:
    learn, later = modbus_captures
    inv = Inventory(f"sqlite:///{tmp_path}/mb.db")
    replay_file(str(learn), checked_sink(inv.factory))            # the learning period: the HMI polls and writes
    first = _events(inv, learn.name)
    assert first and all(e["learning"] for e in first) and {e["kind"] for e in first} <= events.LEARNED
    replay_file(str(later), checked_sink(inv.factory))
    got = _events(inv, later.name)
    writers = [e for e in got if e["kind"] == "write-from-new-client"]
    assert len(writers) == 1, got
    w = writers[0]
    assert (w["asset"], w["client"], w["protocol"]) == (MB_SERVER, MB_OTHER, "modbus") and not w["learning"]
    assert w["count"] == 4 and w["technique"] == "T0855"
    assert w["evidence"][0].startswith(f"{later.name}@")           # a conversation's time: it has no one frame
    # the HMI that wrote during learning raises nothing; the new client is new, its conversation too
    assert not [e for e in got if MB_HMI in (e["client"] or "") or MB_HMI == e["asset"]]
    assert {e["kind"] for e in got} == {"write-from-new-client", "new-asset", "new-conversation"}
    assert all(e["client"] == MB_OTHER or e["asset"] == MB_OTHER for e in got)
