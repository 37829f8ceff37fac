"""Niagara Fox on the wire: no Fox stack is packaged and no capture is in the corpus, so a small hand-made
station (a JACE-like hello, the layout of Nmap's fox-info.nse and Digital Bond's station responder) runs in one
network namespace and a client in another sends fox-info.nse's query; the same station behind TLS on tcp/4911
(Python ssl, a self-signed certificate from openssl). Captured on the station's end, replayed: the station is a
building controller named by its station name with its Niagara version, OS and brand, the client an HMI/SCADA;
the foxs session is labelled and said to be encrypted, nothing else. Skipped without root, iproute2, tcpdump or
openssl; bounded (seconds) and the namespaces are removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair, sh
from tests.support.truth import values

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip")
                                 or not shutil.which("openssl"),
                                 reason="needs root, iproute2, tcpdump and openssl to build namespaces")]

STATION_IP, CLIENT_IP = "10.19.11.10", "10.19.11.20"
STATION = r'''
import socket, ssl, sys, threading, time
BOG = b'<bog version="1.0">\n</bog>\n'
HELLO = (b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0.1\nid=i:122\nhostName=s:jace-ahu3\nhostAddress=s:%s\n"
         b"app.name=s:Station\napp.version=s:4.10.1.36\nvm.name=s:Java HotSpot(TM) Embedded Client VM\n"
         b"vm.version=s:25.171-b11\nos.name=s:QNX\nos.version=s:6.5.0\nstation.name=s:AHU3_Plant\nlang=s:en\n"
         b"timeZone=s:Europe/Berlin;3600000;3600000;02:00:00.000,wall,march,-1,last sunday\n"
         b"hostId=s:Qnx-TITAN-0000-1A2B-3C4D\nvmUuid=s:5c1d0f1e-0000-4000-8000-00000000a0b1\nbrandId=s:Tridium\n"
         b"sysInfo=o:bog %d[%s]\n};;\n") % (sys.argv[1].encode(), len(BOG), BOG)

def serve(sock, wrap):
    sock.settimeout(0.5)
    end = time.time() + float(sys.argv[2])
    while time.time() < end:
        try:
            conn, _ = sock.accept()
        except (socket.timeout, ssl.SSLError, OSError):
            continue
        try:
            if wrap:
                conn = wrap.wrap_socket(conn, server_side=True)
            conn.settimeout(2)
            data = b""
            while b"};;\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"fox "):
                conn.sendall(HELLO[:60]); time.sleep(0.05); conn.sendall(HELLO[60:])   # two segments
                conn.sendall(b"fox a 1 -1 fox kerberos\n{\nuseKerberos=z:f\n};;\n")
            time.sleep(0.2)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

def listener(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port)); s.listen(4)
    return s

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[3], sys.argv[4])
threading.Thread(target=serve, args=(listener(4911), ctx), daemon=True).start()
serve(listener(1911), None)
'''
CLIENT = r'''
import socket, ssl, sys
QUERY = b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\nid=i:1\n};;\n"    # fox-info.nse's query
def talk(sock):
    sock.sendall(QUERY)
    sock.settimeout(2)
    data = b""
    try:
        while b"kerberos" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    sock.close()
    return data
plain = talk(socket.create_connection((sys.argv[1], 1911), timeout=3))
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
tls = talk(ctx.wrap_socket(socket.create_connection((sys.argv[1], 4911), timeout=3)))
print("plain", b"station.name=s:AHU3_Plant" in plain, "tls", b"station.name=s:AHU3_Plant" in tls)
'''


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("fox")
    out = tmp / "fox.pcap"
    cert, key = tmp / "station.crt", tmp / "station.key"
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/O=Tridium/CN=jace-ahu3",
       "-keyout", str(key), "-out", str(cert))
    ns = NsPair("oafx", STATION_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(out, "tcp port 1911 or tcp port 4911")
        ns.serve(STATION, 15, tcp=(1911, 4911), argv=(STATION_IP, "8", str(cert), str(key)))
        run = ns.client(CLIENT, 10, argv=(STATION_IP,))
        assert "plain True tls True" in run.stdout, (run.stdout, run.stderr)
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def test_station_is_a_building_controller_with_its_identity(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/f.db")
    inv.replay(capture)
    (st,) = inv.by_ip(STATION_IP)
    (cl,) = inv.by_ip(CLIENT_IP)
    assert st["role"] == "building-controller" and "fox-server" in st["protocols"]
    assert cl["role"] == "hmi-scada" and "fox-client" in cl["protocols"]
    want = {"name": "AHU3_Plant", "product": "Station", "firmware": "4.10.1.36", "os": "QNX 6.5.0",
            "vendor": "Tridium", "fox_host_name": "jace-ahu3", "fox_host_id": "Qnx-TITAN-0000-1A2B-3C4D",
            "fox_time_zone": "Europe/Berlin", "fox_vm_version": "25.171-b11", "fox_version": "1.0.1"}
    assert {k: values([st], k) for k in want} == {k: {v} for k, v in want.items()}
    assert values([st], "fox_encrypted") == {"TLS (foxs): the Fox hello is not visible"}
    assert values([cl], "fox_version") == {"1.0"} and not values([cl], "name")


def test_done_after_the_hellos_and_no_anomaly(capture: Path) -> None:
    _pipe, batch = run_pipeline(capture)
    assert not [a for a in batch.anomalies if a.protocol == "fox"]
    comms = sorted((c.port, c.client.ip, c.server.ip) for c in batch.comms if c.protocol == "fox")
    assert comms == [(1911, CLIENT_IP, STATION_IP), (4911, CLIENT_IP, STATION_IP)]
    plain = next(c for c in batch.comms if c.protocol == "fox" and c.port == 1911)
    tls = next(c for c in batch.comms if c.protocol == "fox" and c.port == 4911)
    # both dissectors returned DONE after the hellos: detached quietly, the kerberos message is not fed to Python
    assert "fox kerberos" not in plain.profile and not tls.profile
    assert _pipe.stats.dissector_done == 2
    enc = [f for f in batch.facts if f.protocol == "fox" and f.subject.ip == STATION_IP
           and f.field in ("name", "product", "firmware")]
    assert {f.evidence.frame for f in enc} and all(f.value for f in enc)
