"""Events from a real S7 stack (issue 17): python-snap7's client stops, hot-starts, sets the clock of and
downloads a data block to python-snap7's server (python-snap7 3.3 downloads every block as the DB its number
names, and Wireshark finds its _DELE PI job malformed, so neither an SDB download nor a delete is tested here),
across a veth pair between two network namespaces (the test's own, prefix oev-); tcpdump captures in the
server's namespace; the capture replays through the product after a learning file, and each action is one
event with the frame tshark shows for its request and the client's address."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from otscope.agent.replay import checked_sink, replay_file
from otscope.collector import events
from tests.conftest import PCAPS, Inventory
from tests.support.netns import NsPair

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]
SERVER_IP, CLIENT_IP, PORT = "10.77.17.1", "10.77.17.2", 102

SERVER = """
import time, logging
from snap7.server import Server
from snap7.type import SrvArea
logging.disable(logging.WARNING)
srv = Server(log=False)
srv.register_area(SrvArea.DB, 1, bytearray(64))
srv.start_to("{ip}", {port})
time.sleep(9)
srv.stop()
"""

CLIENT = """
import time, datetime, logging
import snap7
logging.disable(logging.WARNING)
c = snap7.client.Client()
c.connect("{ip}", 0, 1, {port})
def step(name, f):
    try:
        f()
        print(name, "ok", flush=True)
    except Exception as exc:      # the server may refuse: the request is on the wire all the same
        print(name, "refused", type(exc).__name__, exc, flush=True)
    time.sleep(0.3)
step("state", c.get_cpu_state)
step("stop", c.plc_stop)
step("hot start", c.plc_hot_start)
step("set clock", lambda: c.set_plc_datetime(datetime.datetime(2026, 1, 2, 3, 4, 5)))
blk = bytearray(64)                                  # an MC7 block image: 'pp', ..., block number 1, length 64
blk[0:2], blk[6:8], blk[8:12] = b"pp", (1).to_bytes(2, "big"), (64).to_bytes(4, "big")
step("download DB1", lambda: c.download(blk, 1))     # python-snap7 3.3 names it _0A00001P (a DB, on the wire)
c.disconnect()
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("snap7")
    d = tmp_path_factory.mktemp("s7peer")
    out = d / "snap7_control.pcap"
    ns = NsPair("oev-", SERVER_IP, CLIENT_IP, ipv6=False)
    try:
        ns.open()
        ns.capture(out, f"tcp port {PORT}")
        ns.serve(textwrap.dedent(SERVER).format(ip=SERVER_IP, port=PORT), 12, tcp=(PORT,), log=d / "server.log")
        client = ns.client(textwrap.dedent(CLIENT).format(ip=SERVER_IP, port=PORT), 10)
        (d / "client.log").write_text(client.stdout + client.stderr)
        ns.finish_capture()
    finally:
        ns.close()
    if not out.exists() or out.stat().st_size < 200:
        pytest.skip("the snap7 peers produced no capture")
    return out


def _first(path: Path, flt: str) -> int | None:
    if shutil.which("tshark") is None:
        return None
    r = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", flt, "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, timeout=60)
    return int(r.stdout.split()[0]) if r.stdout.split() else None


def test_stop_start_and_clock_are_events_with_their_client(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/inv.db")
    replay_file(str(PCAPS / "s7_plant.pcap"), checked_sink(inv.factory))        # the learning file
    replay_file(str(capture), checked_sink(inv.factory))
    with inv.factory() as s:
        rows, _n = events.list_events(s)
        names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
        got = [events.as_dict(r, names) for r in rows if capture.name in " ".join(r.evidence)]
    by_kind: dict[str, list[dict]] = {}
    for e in got:
        by_kind.setdefault(e["kind"], []).append(e)
    log = (capture.parent / "client.log").read_text()
    assert "stop" in log, log
    stop, = by_kind["plc-stop"]
    start = [e for e in by_kind.get("plc-start", []) if e["detail"].startswith("PLC start")]
    clock, = by_kind["time-set"]
    download, = by_kind["program-download"]          # Request download, Download block, Download ended: one event
    assert len(start) == 1, by_kind
    for e, n in ((stop, 1), (start[0], 1), (clock, 1), (download, 3)):
        assert (e["asset"], e["client"]) == (SERVER_IP, CLIENT_IP)
        assert not e["learning"] and e["count"] == n, e
    assert stop["technique"] == "T0858" and start[0]["technique"] == "T0858" and download["technique"] == "T0843"
    assert download["detail"] == "block download" and "block DB 1" in download["message"]
    checks = [(stop, "s7comm.param.func == 0x29"), (start[0], "s7comm.param.func == 0x28"),
              (clock, "s7comm.param.userdata.funcgroup == 7 && s7comm.param.userdata.subfunc == 2"),
              (download, "s7comm.param.func == 0x1a")]
    for e, flt in checks:
        want = _first(capture, flt)
        if want is not None:
            assert e["evidence"] == [f"{capture.name}#frame {want}"], (e, flt)
    # the new client is raised (it was not in the learning file), its conversation too
    assert any(e["asset"] == CLIENT_IP for e in by_kind.get("new-asset", []))
