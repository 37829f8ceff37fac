"""Real peers in network namespaces (prefix ``osn``), captured on the server's end of a veth pair, replayed:

* pysnmp 7.1.30: a v2c agent with a SCALANCE-like system group and a manager that gets and walks ``system``:
  the agent's sysDescr family (Siemens, product, order number, firmware), sysObjectID enterprise 4329 resolved
  through the IANA registry, sysName, sysLocation; the manager is only a client;
* dnsmasq (server) with busybox udhcpc and ISC dhclient (clients) sending a vendor class and a host name: the
  names, the vendor classes, the parameter request lists and the fingerprint rules they match.

Skipped when root, iproute2, tcpdump or a peer is missing; bounded (seconds); the namespaces are removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair, in_ns, sh

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

AGENT_IP, MANAGER_IP = "10.161.0.10", "10.161.0.20"
DESCR = "Siemens, SIMATIC NET, SCALANCE X204-2, 6GK5 204-2BB10-2AA3, HW: Version 7, FW: Version V5.2.6"
AGENT = f"""
import asyncio
from pysnmp.entity import engine, config
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.carrier.asyncio.dgram import udp
eng = engine.SnmpEngine()
config.add_transport(eng, udp.DOMAIN_NAME, udp.UdpTransport().open_server_mode(("{AGENT_IP}", 161)))
config.add_v1_system(eng, "area", "public")
config.add_vacm_user(eng, 2, "area", "noAuthNoPriv", (1, 3, 6), (1, 3, 6))
ctx = context.SnmpContext(eng)
mib = ctx.get_mib_instrum().get_mib_builder()
descr, name, oid, loc = mib.import_symbols("__SNMPv2-MIB", "sysDescr", "sysName", "sysObjectID", "sysLocation")
descr.syntax = descr.syntax.clone({DESCR!r})
name.syntax = name.syntax.clone("scalance-sw-07")
oid.syntax = oid.syntax.clone((1, 3, 6, 1, 4, 1, 4329, 6, 1, 2))
loc.syntax = loc.syntax.clone("Hall 3, cabinet 12")
for r in (cmdrsp.GetCommandResponder, cmdrsp.NextCommandResponder, cmdrsp.BulkCommandResponder):
    r(eng, ctx)
eng.transport_dispatcher.job_started(1)
async def stop_later():
    await asyncio.sleep(7)
    eng.transport_dispatcher.close_dispatcher()
eng.transport_dispatcher.loop.run_until_complete(stop_later())
"""
MANAGER = f"""
import asyncio
from pysnmp.hlapi.v3arch.asyncio import (SnmpEngine, CommunityData, UdpTransportTarget, ContextData, ObjectType,
                                         ObjectIdentity, get_cmd, walk_cmd)
async def main():
    eng = SnmpEngine()
    auth = CommunityData("public", mpModel=1)
    tgt = await UdpTransportTarget.create(("{AGENT_IP}", 161), timeout=2, retries=1)
    await get_cmd(eng, auth, tgt, ContextData(), ObjectType(ObjectIdentity("1.3.6.1.2.1.1.1.0")))
    async for _ in walk_cmd(eng, auth, tgt, ContextData(), ObjectType(ObjectIdentity("1.3.6.1.2.1.1")),
                            lexicographicMode=False):
        pass
    eng.close_dispatcher()
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def snmp_capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("pysnmp")
    out = tmp_path_factory.mktemp("snmp") / "pysnmp.pcap"
    ns = NsPair("osnm", AGENT_IP, MANAGER_IP)
    try:
        ns.open()
        ns.capture(out, "udp port 161")
        ns.serve(AGENT, 15, udp=(161,))
        ns.client(MANAGER, 15)
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def _vals(a: dict, field: str, protocol: str | None = None) -> set[str]:
    return {f["value"] for f in a["facts"] if f["field"] == field and (protocol is None or f["protocol"] == protocol)}


def test_pysnmp_agent_system_group(snmp_capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/s.db")
    inv.replay(snmp_capture)
    (agent,) = inv.by_ip(AGENT_IP)
    (manager,) = inv.by_ip(MANAGER_IP)
    assert "snmp-server" in agent["protocols"] and "snmp-client" in manager["protocols"]
    assert _vals(agent, "snmp_sys_descr") == {DESCR}
    assert _vals(agent, "name") == {"scalance-sw-07"} and _vals(agent, "snmp_location") == {"Hall 3, cabinet 12"}
    assert _vals(agent, "snmp_sys_object_id") == {"1.3.6.1.4.1.4329.6.1.2"}
    assert _vals(agent, "snmp_enterprise") == {"4329"}
    assert _vals(agent, "vendor") == {"Siemens", "Siemens AG"}             # sysDescr family + IANA registry
    assert _vals(agent, "product") == {"SCALANCE X204-2"} and _vals(agent, "firmware") == {"V5.2.6"}
    assert _vals(agent, "order_number") == {"6GK5 204-2BB10-2AA3"}
    assert _vals(agent, "snmp_default_community") == {"public"}
    assert not [f for f in manager["facts"] if f["protocol"] == "snmp" and f["field"] not in ("protocol", "snmp_version")]
    assert manager["role"] not in ("hmi-scada", "engineering-workstation")
    assert agent["role"] not in ("plc", "hmi-scada")


def test_pysnmp_exchange_is_decoded_without_anomaly(snmp_capture: Path) -> None:
    _p, batch = run_pipeline(snmp_capture)
    assert not [a for a in batch.anomalies if a.protocol == "snmp"]
    assert any(c.protocol == "snmp" and c.port == 161 for c in batch.comms)


# -- DHCP ------------------------------------------------------------------------------------------------------

SERVER_IP = "198.18.61.1"
# no request statement: dhclient asks for its compiled-in default list (ISC dhclient clparse.c)
DHCLIENT_CONF = 'send vendor-class-identifier "Rockwell 1756-EN2T";\nsend host-name "hmi-panel-3";\n'


@pytest.fixture(scope="module")
def dhcp_capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not (shutil.which("dnsmasq") and shutil.which("busybox") and shutil.which("dhclient")):
        pytest.skip("dnsmasq, busybox or dhclient missing (scripts/setup.sh installs them)")
    work = tmp_path_factory.mktemp("dhcp")
    out = work / "dhcp.pcap"
    ns = NsPair("osnd", SERVER_IP, None)                  # the DHCP client starts without an address
    try:
        ns.open()
        ns.capture(out, "udp port 67 or udp port 68")
        ns.serve(None, 30, udp=(67,), argv=("dnsmasq", "--no-daemon", "--port=0", f"--interface={ns.vs}",
                                            "--bind-interfaces", "--dhcp-range=198.18.61.100,198.18.61.150,12h",
                                            f"--dhcp-leasefile={work}/leases", f"--pid-file={work}/dnsmasq.pid"))
        ns.client(None, 15, argv=("busybox", "udhcpc", "-i", ns.vc, "-n", "-q", "-t", "4", "-T", "1",
                                  "-V", "Siemens SIMATIC", "-x", "hostname:plc-line-3", "-s", "/bin/true"))
        (work / "dhclient.conf").write_text(DHCLIENT_CONF)
        sh("ip", "-n", ns.cli, "addr", "flush", "dev", ns.vc, check=False)
        ns.procs.append(subprocess.Popen(
            in_ns(ns.cli, "timeout", "15", "dhclient", "-d", "-1", "-v", "-cf", str(work / "dhclient.conf"),
                  "-lf", str(work / "dhclient.leases"), "-pf", str(work / "dhclient.pid"), "-sf", "/bin/true",
                  ns.vc), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        leases = work / "dhclient.leases"
        end = time.monotonic() + 12
        while time.monotonic() < end and "lease" not in (leases.read_text() if leases.exists() else ""):
            time.sleep(0.1)
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_dhcp_clients_names_vendor_classes_and_fingerprints(dhcp_capture: Path) -> None:
    _p, batch = run_pipeline(dhcp_capture)
    by_mac: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for f in batch.facts:
        if f.subject.mac:
            by_mac.setdefault(f.subject.mac, {}).setdefault(f.field, set()).add((f.value, f.protocol))
    clients = {mac: fs for mac, fs in by_mac.items() if ("dhcp-client", "dhcp") in fs.get("protocol", set())}
    assert clients
    (fs,) = clients.values()                               # one veth: both clients have its MAC
    assert {("plc-line-3", "dhcp"), ("hmi-panel-3", "dhcp")} <= fs["name"]
    assert {("Siemens SIMATIC", "dhcp"), ("Rockwell 1756-EN2T", "dhcp")} <= fs["dhcp_vendor_class"]
    guesses = {v for v, _ in fs["dhcp_client_guess"]}
    assert "busybox udhcpc" in guesses and "ISC dhclient" in guesses, fs["dhcp_fingerprint"]
    assert {("1,3,6,12,15,28,42", "dhcp"), ("1,28,2,3,15,6,12", "dhcp")} <= fs["dhcp_fingerprint"]   # measured
    assert fs["os_family"] == {("linux", "dhcp-fingerprint")}
    assert not [a for a in batch.anomalies if a.protocol.startswith("dhcp")]
