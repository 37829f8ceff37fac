"""A real FINS client (``fins`` 1.0.5, UDP then FINS/TCP) against a hand-made FINS UDP/TCP responder (no FINS server stack exists
on PyPI, protocol-libs-2.md section 7), in two network namespaces, captured on the responder's end, replayed:
the responder is a PLC with its model, version, mode and node address, the client an HMI/SCADA or engineering
workstation whose RUN/STOP are control actions, the profile counts the memory-area reads; tshark (``omron``)
decodes the same model and version. Skipped without the library, root, iproute2 or tcpdump; bounded."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair

pytest.importorskip("fins")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

SERVER_IP, CLIENT_IP = "10.96.0.10", "10.96.0.25"
MODEL, VERSION = "CJ2M-CPU31", "02.01"
# W342: the response swaps DNA/DA1/DA2 with SNA/SA1/SA2, ICF 0xC0, same SID and command, end code 0000
RESPONDER = f"""
import socket, threading
DATA = {{0x0501: b"{MODEL}".ljust(20) + b"{VERSION}".ljust(20) + bytes(52),
        0x0601: bytes([0x01, 0x04]) + bytes(10), 0x0101: bytes([0x12, 0x34, 0x56, 0x78])}}
def answer(req):
    cmd = req[10] << 8 | req[11]
    head = bytes([0xC0, 0, 2]) + req[6:9] + req[3:6] + req[9:10] + req[10:12] + b"\\0\\0"
    return head + DATA.get(cmd, b"")
def tcp_msg(command, data):
    return b"FINS" + (8 + len(data)).to_bytes(4, "big") + command.to_bytes(4, "big") + bytes(4) + data
def tcp_server():
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("{SERVER_IP}", 9600))
    t.listen(1)
    conn, _ = t.accept()
    while True:
        head = conn.recv(16)
        if len(head) < 16:
            return
        body = conn.recv(int.from_bytes(head[4:8], "big") - 8) if head[4:8] != bytes([0, 0, 0, 8]) else b""
        command = int.from_bytes(head[8:12], "big")
        if command == 0:
            conn.sendall(tcp_msg(1, (25).to_bytes(4, "big") + (10).to_bytes(4, "big")))
        elif command == 2 and len(body) >= 12:
            conn.sendall(tcp_msg(2, answer(body)))
threading.Thread(target=tcp_server, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("{SERVER_IP}", 9600))
while True:
    req, peer = s.recvfrom(2048)
    if len(req) >= 12 and not req[0] & 0x40:
        s.sendto(answer(req), peer)
"""
CLIENT = f"""
import fins.tcp, fins.udp
c = fins.udp.UDPFinsConnection()
c.connect("{SERVER_IP}", port=9600, bind_port=9601); c.dest_node_add = 10; c.srce_node_add = 25
print(c.cpu_unit_data_read()[14:34])
c.cpu_unit_status_read()
c.memory_area_read(fins.FinsPLCMemoryAreas().DATA_MEMORY_WORD, b"\\0\\0\\0", 2)
c.change_to_program_mode()
c.change_to_run_mode()
t = fins.tcp.TCPFinsConnection()
t.connect("{SERVER_IP}", port=9600)
print(t.cpu_unit_data_read()[14:34])
t.cpu_unit_status_read()
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("fins") / "fins.pcap"
    ns = NsPair("ofm", SERVER_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(out, "port 9600")
        ns.serve(RESPONDER, tcp=(9600,), udp=(9600,))
        r = ns.client(CLIENT)
        assert r.stdout.count(MODEL) == 2, r.stderr[-500:]
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_responder_is_the_plc_and_the_client_asked(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (plc,) = inv.by_ip(SERVER_IP)
    (cli,) = inv.by_ip(CLIENT_IP)
    facts = {(f["field"], f["value"]) for f in plc["facts"]}
    assert plc["role"] == "plc" and plc["protocols"] == ["fins-server"]
    assert {("product", MODEL), ("firmware", VERSION), ("vendor", "Omron"), ("cpu_state", "RUN"),
            ("fins_status", "run"), ("fins_node", "0.10.0")} <= facts
    assert {v for k, v in facts if k == "control_action"} == {"stop", "run"}     # RUN without a mode byte
    assert cli["protocols"] == ["fins-client"] and cli["role"] in ("hmi-scada", "engineering-workstation")
    assert ("fins_node", "0.25.0") in {(f["field"], f["value"]) for f in cli["facts"]}


def test_profile_and_no_anomaly(capture: Path) -> None:
    _pipe, batch = run_pipeline(capture)
    assert not [a for a in batch.anomalies if a.protocol == "fins"]
    comms = {c.transport: c for c in batch.comms if c.protocol == "fins"}
    assert {(t, c.client.ip, c.server.ip, c.port) for t, c in comms.items()} == {
        ("udp", CLIENT_IP, SERVER_IP, 9600), ("tcp", CLIENT_IP, SERVER_IP, 9600)}
    assert comms["tcp"].profile == {"tcp client-node-address": 1, "tcp server-node-address": 1,
                                    "controller-data-read": 1, "controller-status-read": 1}
    tcp_nodes = {(f.subject.ip, f.value) for f in batch.facts if f.field == "fins_tcp_node"}
    assert tcp_nodes == {(CLIENT_IP, "25"), (SERVER_IP, "10")}
    comm = comms["udp"]
    for name in ("controller-data-read", "controller-status-read", "memory-area-read",
                 "run", "stop"):
        assert comm.profile.get(name, 0) >= 1, (name, comm.profile)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decodes_the_same_model(capture: Path) -> None:
    out = subprocess.run(["tshark", "-n", "-r", str(capture), "-Y", "omron.controller.model", "-T", "fields",
                          "-e", "ip.src", "-e", "omron.controller.model", "-e", "omron.controller.version"],
                         capture_output=True, text=True, timeout=60).stdout
    rows = {tuple(x.strip() for x in line.split("\t")) for line in out.splitlines()}
    assert rows == {(SERVER_IP, MODEL, VERSION)}
    assert len(out.splitlines()) == 2                         # the UDP and the FINS/TCP answer
