"""Real peers in two network namespaces joined by a veth pair, captured on the server's end and replayed:
Python's http.server answering with a vendor-like Server header and an HTML title, urllib sending a
User-Agent; an FTP greeting read by ftplib, an SSH identification exchange over plain sockets. The flows stay
light in C (only their first bytes reach the dissectors) and both backends report the same. Skipped without
root, iproute2 or tcpdump; bounded (seconds); the namespaces are removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

SERVER_IP, CLIENT_IP = "10.116.0.10", "10.116.0.20"
SERVER_HDR, UA = "SIMATIC-HMI-WebServer/16.0", "WinCC-Client/7.5 (Windows NT 10.0; Win64; x64)"
SERVER = f"""
import http.server, socket, socketserver, threading, time
class H(http.server.BaseHTTPRequestHandler):
    server_version, sys_version = "{SERVER_HDR}", ""
    def do_GET(self):
        body = b"<html><head><title>Line 3 HMI</title></head><body>" + b"x" * 30000 + b"</body></html>"
        self.send_response(200); self.send_header("Content-Type", "text/html")
        self.send_header("X-Powered-By", "PlantPortal/2.1"); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = socketserver.TCPServer(("{SERVER_IP}", 80), H); srv.timeout = 0.5
def banners(port, greet, read_first):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("{SERVER_IP}", port))
    s.listen(1); s.settimeout(8)
    try:
        c, _ = s.accept(); c.settimeout(3)
        if read_first: c.recv(256)
        c.sendall(greet)
        try: c.recv(256)
        except OSError: pass
        c.close()
    except OSError: pass
threading.Thread(target=banners, args=(21, b"220 (vsFTPd 3.0.3)\\r\\n", False), daemon=True).start()
threading.Thread(target=banners, args=(22, b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\\r\\n", False), daemon=True).start()
end = time.time() + 8
while time.time() < end: srv.handle_request()
"""
CLIENT = f"""
import ftplib, socket, urllib.request
for path in ("/", "/status"):
    req = urllib.request.Request("http://{SERVER_IP}" + path, headers={{"User-Agent": "{UA}"}})
    urllib.request.urlopen(req, timeout=3).read()
f = ftplib.FTP(); f.connect("{SERVER_IP}", 21, timeout=3)
try: f.sendcmd("USER anonymous")
except Exception: pass
s = socket.create_connection(("{SERVER_IP}", 22), timeout=3); s.sendall(b"SSH-2.0-PuTTY_Release_0.78\\r\\n")
s.recv(256); s.close()
"""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ohc") / "it.pcap"
    ns = NsPair("ohc", SERVER_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(out, "tcp")
        ns.serve(SERVER, 15, tcp=(80, 21, 22))
        r = ns.client(CLIENT, 15)
        assert r.returncode == 0, r.stderr
        ns.finish_capture()                               # the SSH banners are the last packets
        yield out
    finally:
        ns.close()


def test_server_and_client_software(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (srv,) = inv.by_ip(SERVER_IP)
    (cli,) = inv.by_ip(CLIENT_IP)
    sv = {(f["field"], f["value"]) for f in srv["facts"]}
    cv = {(f["field"], f["value"]) for f in cli["facts"]}
    assert {("http_server", SERVER_HDR), ("http_powered_by", "PlantPortal/2.1"), ("http_title", "Line 3 HMI"),
            ("http_host", SERVER_IP), ("ftp_banner", "(vsFTPd 3.0.3)"),
            ("ssh_banner", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"), ("os", "Ubuntu"), ("os_family", "linux")} <= sv
    assert {"http-server", "ftp-server", "ssh-server"} <= set(srv["protocols"])
    assert {("http_user_agent", UA), ("os", "Windows 10 / Server 2016+ (NT 10.0)"), ("os_family", "windows"),
            ("ssh_banner", "SSH-2.0-PuTTY_Release_0.78")} <= cv
    assert {"http-client", "ftp-client", "ssh-client"} <= set(cli["protocols"])
    assert not any(f["field"] in ("vendor", "product", "firmware") for f in srv["facts"])   # raw header only
    assert srv["role"] == cli["role"] == "it-host"


def test_light_in_c_and_the_same_in_python(capture: Path) -> None:
    fast, batch = run_pipeline(capture)
    assert not fast.active and fast.stats.dissector_detached == 0     # every flow light; no dissector gave up
    _, py = run_pipeline(capture, fast=False)
    key = lambda b: (sorted(map(repr, b.facts)), sorted(map(repr, b.comms)))  # noqa: E731
    assert key(batch) == key(py)
    assert {c.protocol for c in batch.comms} == {"http", "ftp", "ssh"}
    assert not [a for a in batch.anomalies if a.protocol in ("http", "ftp", "ssh")]
