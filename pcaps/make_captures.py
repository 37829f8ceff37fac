#!/usr/bin/env python3
"""Make otscope's own captures from real protocol stacks in network namespaces.

Topology (../shared/docs/protocol-libs.md section 5): every simulated device and client runs in its own
network namespace, joined by veth pairs to a bridge in a switch namespace that floods every frame (a hub:
ageing time 0), so a capture port in a separate namespace sees every frame once, as a SPAN port would.
Addresses are in 198.18.0.0/24 (RFC 2544), which exists only inside these namespaces. Nothing runs or
broadcasts in the root namespace; everything is torn down afterwards, also on failure.

    sudo .venv/bin/python pcaps/make_captures.py [--out pcaps/] [--only modbus,s7,enip,hostile,grid]

Peers: pymodbus 3.x servers (one process per device) and client, python-snap7's server with SZL answers in
the real record layout and its client as PG and OP, cpppo's EtherNet/IP server (test-only, GPL) queried
by pycomm3; for the substation: opendnp3 (dnp3-python), c104, libiec61850 (pyiec61850-ng: MMS and GOOSE) and
pyPMU (peers/grid_peers.py, peers/mms_peer.py). Captured with tcpdump.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
if str(HERE.parent) not in sys.path:                # run as a script: the repository's tests/support
    sys.path.insert(0, str(HERE.parent))
from tests.support.netns import Tcpdump, stop, wait_listening  # noqa: E402  (shared with the tests)

PY = sys.executable
NET = "198.18.0"

MODBUS_DEVICES = {
    "plc-a": ("10", {"VendorName": "Schneider Electric", "ProductCode": "BMX P34 2020", "MajorMinorRevision": "v3.20",
                     "VendorUrl": "http://www.schneider-electric.com", "ProductName": "Modicon M340",
                     "ModelName": "BMX P34 2020", "UserApplicationName": "PumpStation-7", "0x80": "serial=SN-0042"},
              "all"),
    "plc-b": ("11", {"VendorName": "WAGO", "ProductCode": "750-8212", "MajorMinorRevision": "03.10.08",
                     "VendorUrl": "http://www.wago.com", "ProductName": "PFC200 G2", "ModelName": "750-8212",
                     "UserApplicationName": "Boiler-2"}, "all"),
    "gw": ("12", {"VendorName": "Moxa", "ProductCode": "MB3180", "MajorMinorRevision": "v2.2",
                  "ProductName": "MGate MB3180", "ModelName": "MB3180"}, "255,1,2,3"),
}
HOSTILE_DEVICE = ("13", {"VendorName": "<script>alert(1)</script>", "ProductCode": "=cmd|' /C calc'!A0",
                         "MajorMinorRevision": "v1<img src=x onerror=alert(2)>",
                         "ProductName": "\"><svg onload=alert(3)>", "ModelName": "@SUM(1+1)",
                         "UserApplicationName": "'; DROP TABLE assets; --"}, "all")
S7_DEVICES = {
    "s7-a": ("20", {"as_name": "PLC_SITE_A", "module_name": "CPU 1516-3 PN/DP", "serial": "S V-L9AB12342019",
                    "module_type": "CPU 1516-3 PN/DP", "order_number": "6ES7 516-3AN01-0AB0", "firmware": [2, 8, 3],
                    "plant_id": "LINE-1"}, 0, 1),
    "s7-b": ("21", {"as_name": "PRESS_CTRL", "module_name": "CPU 315-2 PN/DP", "serial": "S C-H7U398452011",
                    "module_type": "CPU 315-2 PN/DP", "order_number": "6ES7 315-2EH14-0AB0", "firmware": [3, 2, 6]},
             0, 2),
}
ENIP_DEVICES = {
    "enip-a": ("30", {"Vendor Number": 1, "Device Type": 14, "Product Code Number": 166, "Product Revision": 2848,
                      "Status Word": 12640, "Serial Number": 3735928559,
                      "Product Name": "1756-L83E/B ControlLogix5583E", "State": 3}),
    "enip-b": ("31", {"Vendor Number": 1, "Device Type": 14, "Product Code Number": 153, "Product Revision": 2849,
                      "Status Word": 12384, "Serial Number": 12648430,
                      "Product Name": "1769-L33ER/A CompactLogix5333ER", "State": 3}),
}
HMI, EWS = "50", "60"
# the substation scenario (grid_peers.py, mms_peer.py): device -> (octet, what it runs)
GRID = {"rtu-dnp3": "40", "rtu-104": "41", "ied": "42", "pmu": "43"}
DNP3_MASTER_ADDR, DNP3_OUTSTATION_ADDR = 2, 10
IEC104_CA = 47
PMU_IDCODE = 7734


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


@dataclass
class Topology:
    """Namespaces on a hub with a capture port; removed on exit."""

    prefix: str = field(default_factory=lambda: f"ots{os.getpid() % 10000}")
    hosts: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def up(self, span_in_root: bool = False) -> None:
        sw = self.ns("sw")
        sh("ip", "netns", "add", sw)
        sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge", "ageing_time", "0")
        sh("ip", "-n", sw, "link", "set", "br0", "up")
        if span_in_root:
            # the sensor's end of the mirror port in the root namespace: no address, IPv6 off (this interface
            # only), so the host itself never speaks on it
            self.span = f"{self.prefix}sp"[:15]
            sh("ip", "link", "add", self.span, "type", "veth", "peer", "name", "p-span", "netns", sw)
            sh("ip", "-n", sw, "link", "set", "p-span", "master", "br0")
            sh("ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.p-span.disable_ipv6=1")
            sh("ip", "-n", sw, "link", "set", "p-span", "up")
            sh("sysctl", "-qw", f"net.ipv6.conf.{self.span}.disable_ipv6=1")
            sh("ip", "link", "set", self.span, "up")
            return
        cap = self.ns("cap")
        sh("ip", "netns", "add", cap)
        sh("ip", "link", "add", "cap0", "netns", cap, "type", "veth", "peer", "name", "p-cap", "netns", sw)
        sh("ip", "-n", sw, "link", "set", "p-cap", "master", "br0")
        sh("ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.p-cap.disable_ipv6=1")
        sh("ip", "-n", sw, "link", "set", "p-cap", "up")
        sh("ip", "netns", "exec", cap, "sysctl", "-qw", "net.ipv6.conf.cap0.disable_ipv6=1")
        sh("ip", "-n", cap, "link", "set", "cap0", "up")

    def host(self, name: str, octet: str) -> str:
        n, sw = self.ns(name), self.ns("sw")
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
        port = f"p-{name}"[:15]
        sh("ip", "link", "add", "eth0", "netns", n, "type", "veth", "peer", "name", port, "netns", sw)
        sh("ip", "-n", sw, "link", "set", port, "master", "br0")
        sh("ip", "netns", "exec", sw, "sysctl", "-qw", f"net.ipv6.conf.{port}.disable_ipv6=1")
        sh("ip", "-n", sw, "link", "set", port, "up")
        sh("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1")
        # a fixed, locally administered MAC per host: the same device keeps its MAC across captures
        sh("ip", "-n", n, "link", "set", "eth0", "address", f"02:00:c6:12:00:{int(octet):02x}")
        sh("ip", "-n", n, "addr", "add", f"{NET}.{octet}/24", "dev", "eth0")
        sh("ip", "-n", n, "link", "set", "eth0", "up")
        sh("ip", "-n", n, "route", "add", "default", "dev", "eth0")
        self.hosts[name] = f"{NET}.{octet}"
        return n

    def spawn(self, name: str, *cmd: str, **kw) -> subprocess.Popen:
        # its own process group: down() ends the peer and every process it started (pyPMU forks one per client)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(name), *cmd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def run(self, name: str, *cmd: str, timeout: float = 60) -> None:
        r = subprocess.run(["ip", "netns", "exec", self.ns(name), *cmd], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} in {name} failed: {r.stderr.strip()[-500:]}")

    def wait_listen(self, name: str, port: int, udp: bool = False, timeout: float = 30) -> None:
        wait_listening(self.ns(name), udp=(port,) if udp else (), tcp=() if udp else (port,), limit=timeout)

    def down(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)          # what the peer started and left behind
        names = sh("ip", "netns", "list", check=False).stdout.split()
        for n in names:
            if n.startswith(self.prefix + "-"):
                sh("ip", "netns", "del", n, check=False)
        if getattr(self, "span", None):
            sh("ip", "link", "del", self.span, check=False)


@contextlib.contextmanager
def topology(span_in_root: bool = False) -> Iterator[Topology]:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tcpdump"):
        raise RuntimeError("making captures needs root, iproute2 and tcpdump")
    t = Topology()
    try:
        t.up(span_in_root)
        yield t
    finally:
        t.down()


@contextlib.contextmanager
def capture(t: Topology, out: Path) -> Iterator[None]:
    """tcpdump on the capture port, as a child we start and reap ourselves; when the block ends it is finished
    (every packet the kernel gave it written, then stopped and waited for) before anyone reads ``out``."""
    dump = Tcpdump(out, "cap0", "not ip6 and not icmp6", ns=t.ns("cap"), extra=("-s", "0"))
    try:
        yield
        dump.finish()
    finally:
        stop(dump.proc)


def modbus(t: Topology, out: Path, devices: dict) -> None:
    for name, (octet, ident, units) in devices.items():
        t.host(name, octet)
        t.spawn(name, PY, str(PEERS / "modbus_server.py"), f"{NET}.{octet}", "502", json.dumps(ident), units, "90")
    t.host("hmi", HMI)
    for name in devices:
        t.wait_listen(name, 502)
    with capture(t, out):
        for octet, _ident, units in devices.values():
            t.run("hmi", PY, str(PEERS / "modbus_client.py"), f"{NET}.{HMI}", f"{NET}.{octet}", "502",
                  "1" if units == "all" else units, "6")


def s7(t: Topology, out: Path) -> None:
    for name, (octet, ident, _rack, _slot) in S7_DEVICES.items():
        t.host(name, octet)
        t.spawn(name, PY, str(PEERS / "s7_server.py"), f"{NET}.{octet}", "102", json.dumps(ident), "90")
    t.host("hmi", HMI)
    t.host("ews", EWS)
    for name in S7_DEVICES:
        t.wait_listen(name, 102)
    with capture(t, out):
        for _name, (octet, _ident, rack, slot) in S7_DEVICES.items():
            t.run("ews", PY, str(PEERS / "s7_client.py"), f"{NET}.{octet}", "102", str(rack), str(slot), "1", "3")
            t.run("hmi", PY, str(PEERS / "s7_client.py"), f"{NET}.{octet}", "102", str(rack), str(slot), "2", "8")


def enip_server(t: Topology, name: str, tmp: Path) -> None:
    """cpppo's EtherNet/IP server with this device's identity (ENIP_DEVICES) in its own namespace."""
    octet, ident = ENIP_DEVICES[name]
    t.host(name, octet)
    cfg = tmp / f"{name}.cfg"
    lines = ["[Identity]"] + [f"{k} = {v}" for k, v in ident.items()]
    lines += ["[TCPIP]", f'Interface Configuration = {{"ip_address": "{NET}.{octet}", "network_mask": '
                          f'"255.255.255.0"}}', f"Host Name = {name}"]
    cfg.write_text("\n".join(lines) + "\n")
    # cpppo reads cpppo.cfg from the CWD too: run it from an empty directory, with -c explicitly
    t.spawn(name, PY, "-m", "cpppo.server.enip", "--address", "0.0.0.0:44818", "-c", str(cfg), "SCADA=INT[100]",
            cwd=str(tmp))


def enip(t: Topology, out: Path, tmp: Path) -> None:
    for name in ENIP_DEVICES:
        enip_server(t, name, tmp)
    t.host("ews", EWS)
    for name in ENIP_DEVICES:
        t.wait_listen(name, 44818)
        t.wait_listen(name, 44818, udp=True)
    with capture(t, out):
        names = list(ENIP_DEVICES)
        for i, name in enumerate(names):
            octet = ENIP_DEVICES[name][0]
            args = [f"{NET}.{octet}"] + ([f"{NET}.255"] if i == len(names) - 1 else [])
            t.run("ews", PY, str(PEERS / "enip_client.py"), *args, timeout=60)


def grid(t: Topology, out: Path) -> None:
    """A substation: a DNP3 outstation (opendnp3), an IEC 60870-5-104 RTU (c104), an IEC 61850 IED with MMS
    (libiec61850: Identify, logical devices) publishing GOOSE, a PMU (pyPMU, C37.118); the SCADA host at .50 is
    the DNP3 master, the 104 controlling station, the MMS client and the PDC."""
    gp, mms = str(PEERS / "grid_peers.py"), str(PEERS / "mms_peer.py")
    ip = {name: f"{NET}.{octet}" for name, octet in GRID.items()}
    for name, octet in GRID.items():
        t.host(name, octet)
    t.host("scada", HMI)
    t.spawn("rtu-dnp3", PY, gp, "dnp3-outstation", ip["rtu-dnp3"], str(DNP3_MASTER_ADDR), str(DNP3_OUTSTATION_ADDR),
            "40")
    t.spawn("rtu-104", PY, gp, "iec104-server", ip["rtu-104"], str(IEC104_CA), "40")
    t.spawn("ied", PY, mms, "server", ip["ied"], "40")
    t.spawn("pmu", PY, gp, "pmu", ip["pmu"], str(PMU_IDCODE), "40")
    for name, port in (("rtu-dnp3", 20000), ("rtu-104", 2404), ("ied", 102), ("pmu", 4712)):
        t.wait_listen(name, port)
    with capture(t, out):
        t.run("scada", PY, gp, "dnp3-master", f"{NET}.{HMI}", ip["rtu-dnp3"], str(DNP3_MASTER_ADDR),
              str(DNP3_OUTSTATION_ADDR), timeout=30)
        t.run("scada", PY, gp, "iec104-client", ip["rtu-104"], str(IEC104_CA), timeout=30)
        t.run("scada", PY, mms, "client", ip["ied"], timeout=30)
        t.run("ied", PY, gp, "goose", "eth0", timeout=30)
        t.run("scada", PY, gp, "pdc", ip["pmu"], str(PMU_IDCODE), timeout=30)


SCENARIOS = ("modbus", "s7", "enip", "hostile", "grid")


def make(out_dir: Path, only: tuple[str, ...] = SCENARIOS) -> list[Path]:
    made = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for scenario in only:
        target = out_dir / {"modbus": "modbus_plant.pcap", "s7": "s7_plant.pcap", "enip": "enip_plant.pcap",
                            "hostile": "hostile_names.pcap", "grid": "substation.pcap"}[scenario]
        with tempfile.TemporaryDirectory() as tmpd, topology() as t:
            tmp = Path(tmpd)
            cap = tmp / "capture.pcap"
            if scenario == "modbus":
                modbus(t, cap, MODBUS_DEVICES)
            elif scenario == "hostile":
                modbus(t, cap, {"plc-x": HOSTILE_DEVICE})
            elif scenario == "s7":
                s7(t, cap)
            elif scenario == "grid":
                grid(t, cap)
            else:
                enip(t, cap, tmp)
            shutil.copyfile(cap, target)
        made.append(target)
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--only", default=",".join(SCENARIOS))
    args = ap.parse_args()
    for p in make(Path(args.out), tuple(args.only.split(","))):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
