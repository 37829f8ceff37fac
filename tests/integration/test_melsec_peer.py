"""A real MC-protocol client (``pymcprotocol`` 0.3.0: 3E binary, then 4E ASCII) against a real MC server (``virtual-plc`` 0.3.0,
profile Q with a real CPU name and code set as protocol-libs-2.md section 7 shows), in two network namespaces,
captured on the server's end, replayed: the server is a PLC whose Read CPU Model answer gives its product and
model code, remote STOP/RUN are control actions, the profile counts the device reads/writes by device. Wireshark
4.0 has no SLMP dissector: the values are checked against the peer's own answer. Skipped without the libraries,
root, iproute2 or tcpdump; bounded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair

pytest.importorskip("pymcprotocol")
pytest.importorskip("virtual_plc")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

SERVER_IP, CLIENT_IP, PORT = "10.97.0.10", "10.97.0.20", 5007
CPU, CODE = "Q03UDVCPU", 0x0366
SERVER = f"""
import dataclasses, time
from virtual_plc import profiles, server
profiles.PROFILES["Q"] = dataclasses.replace(profiles.PROFILES["Q"], cpu_name="{CPU}", cpu_code={CODE})
srv = server.Server(host="{SERVER_IP}", port={PORT}, profile="Q"); srv.start()
time.sleep(18)
"""
CLIENT = f"""
import pymcprotocol
c = pymcprotocol.Type3E(plctype="Q"); c.setaccessopt(commtype="binary"); c.connect("{SERVER_IP}", {PORT})
print(c.read_cputype())
c.batchread_wordunits(headdevice="D0", readsize=4)
c.batchwrite_wordunits(headdevice="D10", values=[1, 2, 3])
c.batchread_bitunits(headdevice="M0", readsize=8)
c.randomread(word_devices=["D0", "D1"], dword_devices=["D200"])
c.randomwrite(word_devices=["D0"], word_values=[5], dword_devices=[], dword_values=[])
c.remote_stop()
c.remote_latchclear()
c.remote_run(clear_mode=0)
c.close()
a = pymcprotocol.Type4E(plctype="Q"); a.setaccessopt(commtype="ascii"); a.connect("{SERVER_IP}", {PORT})
print(a.read_cputype())
a.batchread_wordunits(headdevice="D100", readsize=2)
a.remote_pause(force_exec=False)
a.close()
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("melsec") / "mc.pcap"
    ns = NsPair("omc", SERVER_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(out, f"tcp port {PORT}")
        ns.serve(SERVER, tcp=(PORT,))
        r = ns.client(CLIENT)
        assert CPU in r.stdout and f"{CODE:04x}" in r.stdout.lower(), (r.stdout, r.stderr[-800:])
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_server_is_the_plc_with_its_cpu_model(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (plc,) = inv.by_ip(SERVER_IP)
    (cli,) = inv.by_ip(CLIENT_IP)
    facts = {(f["field"], f["value"]) for f in plc["facts"]}
    assert plc["role"] == "plc" and plc["protocols"] == ["melsec-server"]
    assert {("product", CPU), ("melsec_cpu_code", f"0x{CODE:04x}"), ("vendor", "Mitsubishi Electric")} <= facts
    assert {v for k, v in facts if k == "control_action"} == {"remote stop", "remote run", "remote pause",
                                                                     "remote latch clear"}
    assert len([f for f in plc["facts"] if f["field"] == "product"]) == 1        # binary and ASCII agree
    assert cli["protocols"] == ["melsec-client"] and cli["role"] in ("hmi-scada", "engineering-workstation")


def test_profile_and_no_anomaly(capture: Path) -> None:
    _pipe, batch = run_pipeline(capture)
    assert not [a for a in batch.anomalies if a.protocol == "melsec"]
    comms = [c for c in batch.comms if c.protocol == "melsec"]
    assert {(c.client.ip, c.server.ip, c.port) for c in comms} == {(CLIENT_IP, SERVER_IP, PORT)}
    profile: dict[str, int] = {}
    for c in comms:                      # one conversation or two (3E binary, then 4E ASCII on a new connection)
        for k, v in c.profile.items():
            profile[k] = profile.get(k, 0) + v
    for name, n in (("read-cpu-model", 2), ("batch-read", 3), ("batch-read D", 2), ("batch-read M", 1),
                    ("batch-write D", 1), ("random-read", 1), ("random-write", 1), ("remote-stop", 1),
                    ("remote-latch-clear", 1), ("remote-run", 1), ("remote-pause", 1)):
        assert profile.get(name, 0) == n, (name, profile)


def test_remote_run_stop_pause_are_events_with_their_client(capture: Path, tmp_path: Path) -> None:
    """Issue 17: each remote control command of pymcprotocol is one event of the PLC, caused by the client (the
    spec's EventAction table: remote STOP / PAUSE -> plc-stop, remote RUN -> plc-start); latch clear, which no
    kind names, is a control-action; a second replay adds nothing."""
    from otscope.agent.replay import Overlap, checked_sink, replay_file
    from otscope.collector import events

    inv = Inventory(f"sqlite:///{tmp_path}/ev.db")

    def listed() -> list[dict]:
        with inv.factory() as s:
            rows, _n = events.list_events(s)
            names = events.labels(s, [i for r in rows for i in (r.asset_id, r.client_id)])
            return [events.as_dict(r, names) for r in rows if r.kind not in ("new-asset", "new-conversation")]

    replay_file(str(capture), checked_sink(inv.factory))
    got = listed()
    assert sorted((e["kind"], e["detail"]) for e in got) == [
        ("control-action", "remote latch clear"), ("plc-start", "remote RUN"), ("plc-stop", "remote PAUSE"),
        ("plc-stop", "remote STOP")], got
    for e in got:
        assert (e["asset"], e["client"], e["count"], e["learning"]) == (SERVER_IP, CLIENT_IP, 1, False), e
        assert e["evidence"][0].startswith(f"{capture.name}#frame ")
    frames = {e["detail"]: int(e["evidence"][0].rsplit(" ", 1)[1]) for e in got}
    assert frames["remote STOP"] < frames["remote latch clear"] < frames["remote RUN"] < frames["remote PAUSE"]
    try:
        replay_file(str(capture), checked_sink(inv.factory))
    except Overlap:
        pass
    assert listed() == got
