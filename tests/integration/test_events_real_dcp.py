"""Events from a real PROFINET DCP requester (issue 17): profinet-py's DCP client (profinet.dcp, the engineering
side of a commissioning tool) in one network namespace writes the name of station of, sets the IP address of,
flashes the LED of and resets to factory the other end of a veth pair (the test's own namespaces, prefix ev + PID:
tests/support/netns.py). tcpdump captures in the target's namespace (stopped and waited for before the file is
read); the capture replays through the product. Nothing answers the Sets (no PROFINET device stack runs there):
the requests are on the wire all the same, and the client's timeouts keep it short.

Expected: the name write and the factory reset are config-write events of the target, with the tool's MAC as
the client and the frame tshark shows for each request; the IP Set is an ip-change (the target was known with
its address from ARP); the Signal (flash the LED) raises nothing; a second replay adds nothing."""

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

TARGET_IP, TOOL_IP, NEW_IP = "10.77.20.1", "10.77.20.2", "10.77.20.50"

TOOL = """
import logging, socket, time
logging.disable(logging.WARNING)
from profinet import dcp
from profinet.util import ethernet_socket, get_mac
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:    # a datagram: the ARP exchange binds the target
    u.sendto(b"x", ("{target_ip}", 9))
time.sleep(0.3)
sock = ethernet_socket("{dev}", 0x8892)
src = get_mac("{dev}")
for name, call in (
        ("name", lambda: dcp.set_param(sock, src, "{target}", "name", "plc-line-9", timeout_sec=1)),
        ("ip", lambda: dcp.set_ip(sock, src, "{target}", "{new_ip}", "255.255.255.0", "0.0.0.0", timeout_sec=1)),
        ("signal", lambda: dcp.signal_device(sock, src, "{target}", timeout_sec=1)),
        ("reset", lambda: dcp.reset_to_factory(sock, src, "{target}", timeout_sec=1))):
    try:
        print(name, call(), flush=True)
    except Exception as exc:          # no device answers: a timeout, the request was sent
        print(name, "failed", type(exc).__name__, exc, flush=True)
"""


def _mac(ns: str, dev: str) -> str:
    out = sh("ip", "-n", ns, "-o", "link", "show", dev).stdout
    return out.split("link/ether ", 1)[1].split()[0]


@pytest.fixture(scope="module")
def dcp_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, str]:
    pytest.importorskip("profinet")
    d = tmp_path_factory.mktemp("dcp")
    out = d / "dcp_set.pcap"
    ns = NsPair("ev", TARGET_IP, TOOL_IP).open()
    try:
        target, tool = _mac(ns.srv, ns.vs), _mac(ns.cli, ns.vc)
        ns.capture(out, "ether proto 0x8892 or arp")
        res = ns.client(textwrap.dedent(TOOL).format(dev=ns.vc, target=target, target_ip=TARGET_IP, new_ip=NEW_IP),
                        secs=30)
        ns.finish_capture()                      # tcpdump: stopped and waited for before the file is read
    finally:
        ns.close()
    if not out.exists() or out.stat().st_size < 100:
        pytest.skip("the DCP requester produced no capture")
    return out, target, tool, res.stdout + res.stderr


def _first(path: Path, flt: str) -> int | None:
    if shutil.which("tshark") is None:
        return None
    r = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split(), (flt, r.stderr[-300:])     # a filter that matches nothing fails
    return int(r.stdout.split()[0])


def _events(inv: Inventory) -> list[dict]:
    with inv.factory() as s:
        rows, _n = events.list_events(s)
        names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
        return [events.as_dict(r, names) for r in rows]


def test_dcp_set_name_ip_and_factory_reset_are_events_signal_is_not(dcp_capture: tuple[Path, str, str, str],
                                                                   tmp_path: Path) -> None:
    cap, target, tool, log = dcp_capture
    assert all(step in log for step in ("name", "ip", "signal", "reset")), log
    inv = Inventory(f"sqlite:///{tmp_path}/dcp.db")
    replay_file(str(cap), checked_sink(inv.factory))
    got = [e for e in _events(inv) if e["kind"] not in ("new-asset", "new-conversation")]
    by = {(e["kind"], e["detail"]): e for e in got}
    assert sorted(by) == [("config-write", "DCP Set name of station"), ("config-write", "DCP Set reset to factory"),
                          ("ip-change", f"{target}: {TARGET_IP} -> {NEW_IP}")], got
    checks = {("config-write", "DCP Set name of station"): "pn_dcp.suboption_device_nameofstation",
              ("config-write", "DCP Set reset to factory"): "pn_dcp.service_id == 4 && pn_dcp.option == 5 && "
                                                            "pn_dcp.suboption_control == 6",
              ("ip-change", f"{target}: {TARGET_IP} -> {NEW_IP}"): "pn_dcp.suboption_ip_ip == " + NEW_IP}
    for key, flt in checks.items():
        e = by[key]
        want = _first(cap, flt)
        if want is not None:
            assert e["evidence"][0] == f"{cap.name}#frame {want}", (key, e["evidence"], want)
    for key in (("config-write", "DCP Set name of station"), ("config-write", "DCP Set reset to factory")):
        e = by[key]
        assert e["asset"].endswith(f"({TARGET_IP})") or e["asset"] in (TARGET_IP, target), e
        assert e["client"] in (tool, TOOL_IP) or e["client"].endswith(f"({TOOL_IP})"), e
        assert (e["count"], e["technique"], e["learning"]) == (1, "T0836", False)
    before = _events(inv)
    try:
        replay_file(str(cap), checked_sink(inv.factory))
    except Overlap:
        pass
    assert _events(inv) == before
