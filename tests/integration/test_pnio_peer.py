"""A real PROFINET IO-controller library (profinet-py 0.6.6, pure Python, DCE/RPC over UDP) against a minimal
IO-device responder, in two network namespaces joined by a veth pair, captured on the device's end, replayed.

No PROFINET IO *device* stack runs on this machine (p-net needs its own build and a raw-socket port; the PyPI
device SDKs are commercial or mocks), so the device end is the test's own responder: it answers each request
from a new ephemeral port, as real devices do, with blocks from tests/support/pnio_frames.py. What the test
proves is otscope on an independent controller implementation's requests (its Read Implicit of I&M0, its
Connect with ARBlockReq/IOCRBlockReq/ExpectedSubmoduleBlockReq/AlarmCRBlockReq) and on the two-flow exchange
(request to udp/34964, answer from the device's other port). Skipped when profinet-py, root, iproute2 or
tcpdump is missing; bounded (seconds) and the namespaces are removed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair

pytest.importorskip("profinet")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

ROOT = Path(__file__).resolve().parents[2]
DEV_IP, CTL_IP = "10.149.0.10", "10.149.0.20"
DEV_MAC, CTL_MAC = "02:00:00:14:90:10", "02:00:00:14:90:20"
DEVICE = f"""
import socket, struct, sys, time, uuid
sys.path.insert(0, {str(ROOT)!r})
from tests.support import pnio_frames as F
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(({DEV_IP!r}, 34964))
end = time.time() + 8
while time.time() < end:
    s.settimeout(max(0.1, end - time.time()))
    try:
        data, peer = s.recvfrom(8192)
    except OSError:
        break
    if len(data) < 80 or data[1] != 0:
        continue
    little = data[4] >> 4 == 1
    e = "<" if little else ">"
    u = (lambda b: uuid.UUID(bytes_le=b)) if little else (lambda b: uuid.UUID(bytes=b))
    obj, iface, act = u(data[8:24]), u(data[24:40]), u(data[40:56])
    seq, = struct.unpack_from(e + "I", data, 64)
    opnum, = struct.unpack_from(e + "H", data, 68)
    if opnum == 0:
        body = F.connect_response(b"pn-dev-1", module_diff=False)
    elif opnum in (2, 5):
        slot, subslot, _pad, index = struct.unpack_from(">HHHH", data, 128)
        rec = F.im0(order=b"6ES7 155-6AU01-0BN0", serial=b"SVPL1234567", hw=5, sw=("V", 4, 1, 2)) \\
            if index == 0xAFF0 else b""
        body = F.read_response(index=index, data=rec, slot=slot, subslot=subslot)
    else:
        body = F.ndr_response(b"")
    out = F.rpc(2, opnum, body, interface=iface, obj=obj, activity=act, seq=seq, little=little, flags1=0x0A)
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)      # a device answers from another, ephemeral port
    r.bind(({DEV_IP!r}, 0))
    r.sendto(out, peer)
    r.close()
"""
CONTROLLER = f"""
import types
from profinet import rpc
info = types.SimpleNamespace(ip={DEV_IP!r}, name="pn-dev-1", mac={DEV_MAC!r}, vendor_high=0x00, vendor_low=0x2A,
                             device_high=0x03, device_low=0x13)
con = rpc.RPCCon(info, timeout=1.0)
setup = rpc.IOCRSetup(slots=[rpc.IOSlot(0, 1, module_ident=0x1, submodule_ident=0x1),
                             rpc.IOSlot(1, 1, input_length=2, output_length=2, module_ident=0x32, submodule_ident=0x1)])
mac = bytes.fromhex({CTL_MAC.replace(":", "")!r})
for step in (lambda: con.read_implicit(0, 0, 1, 0xAFF0), lambda: con.connect(mac, iocr_setup=setup)):
    try:
        step()
        print("ok")
    except Exception as exc:  # the responder is minimal: what the controller sent is what the test looks at
        print("failed", type(exc).__name__, exc)
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("pnio") / "pnio.pcap"
    ns = NsPair("opn", DEV_IP, CTL_IP, server_mac=DEV_MAC, client_mac=CTL_MAC)
    log = {}
    try:
        ns.open()
        ns.capture(out, "udp or ether proto 0x8892")
        ns.serve(DEVICE, 12, udp=(34964,), cwd=ROOT)
        res = ns.client(CONTROLLER, 12, cwd="/")
        log["controller"] = res.stdout + res.stderr
        ns.finish_capture()
        yield out, log
    finally:
        ns.close()


def test_the_controller_spoke(capture) -> None:  # type: ignore[no-untyped-def]
    path, log = capture
    assert path.stat().st_size > 24, log
    assert log["controller"].splitlines()[0] == "ok", log          # the implicit I&M0 read was answered


def test_controller_device_and_identity(capture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, log = capture
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(path)
    (dev,) = [a for a in inv.by_ip(DEV_IP) if a["parent"] is None]
    (ctl,) = [a for a in inv.by_ip(CTL_IP) if a["parent"] is None]
    assert "pnio-cm-server" in dev["protocols"] and "pnio-cm-client" in ctl["protocols"]
    assert dev["role"] == "io-device", dev["role_evidence"]
    assert ctl["role"] == "plc", (ctl["role_evidence"], log)        # it sent the Connect request
    assert dev["order_number"] == "6ES7 155-6AU01-0BN0" and dev["serial"] == "SVPL1234567"
    assert dev["firmware"] == "V4.1.2" and dev["vendor"] == "Siemens"
    assert ctl["name"], ctl                          # profinet-py's CMInitiatorStationName (checked with tshark below)


def test_connect_request_of_the_real_controller(capture) -> None:  # type: ignore[no-untyped-def]
    path, _log = capture
    _p, b = run_pipeline(path)
    facts = {(f.subject.ip, f.subject.component, f.field, f.value) for f in b.facts}
    assert (CTL_IP, None, "pnio_cm_mac", CTL_MAC) in facts
    assert (CTL_IP, None, "role_hint", "plc") in facts and (DEV_IP, None, "role_hint", "io-device") in facts
    assert (DEV_IP, None, "pnio_vendor_id", "0x002a") in facts and (DEV_IP, None, "pnio_device_id", "0x0313") in facts
    assert any(ip == DEV_IP and comp and comp.startswith("slot:") for ip, comp, _f, _v in facts)
    comms = {(c.port, c.protocol) for c in b.comms}
    assert (34964, "pnio") in comms and any(p != 34964 and proto == "pnio" for p, proto in comms), comms
    assert not [a for a in b.anomalies if a.protocol == "pnio"]
    if shutil.which("tshark"):                      # what tshark decodes of the Connect, we report
        out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", "pn_io.opnum == 0 && dcerpc.pkt_type == 0",
                              "-T", "fields", "-e", "pn_io.cminitiator_station_name", "-e",
                              "pn_io.cminitiator_mac_add"], capture_output=True, text=True, timeout=60).stdout
        station, mac = out.splitlines()[0].split("\t")
        assert (CTL_IP, None, "name", station) in facts and mac.split(",")[0] == CTL_MAC
