"""Real peers in network namespaces joined by a veth pair, captured on the server's end with tcpdump, replayed:

* impacket 0.13.1 SMB2 server and client (protocol-libs-2.md 9, with its VERSION patches: the server's CHALLENGE
  says Windows 10 build 19045, the client's NEGOTIATE Windows 7 SP1): the server's NTLMSSP name, domain and
  Windows release, the client's workstation name, domain and user, SMB2 dialect, DONE after SESSION_SETUP;
* Python's ssl (OpenSSL) HTTPS server with a vendor-like certificate made with cryptography (protocol-libs-2.md
  11): capped at TLS 1.2 the certificate is read (subject, issuer, serial, SAN, vendor rule) and the client's SNI
  and JA4 (checked against a hand computation from tshark's ClientHello fields); a TLS 1.3 session shows only the
  hidden-certificate fact.

Skipped when impacket/cryptography, root, iproute2 or tcpdump is missing; bounded (seconds); namespaces removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair
from tests.support.truth import values

pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

SERVER_IP, CLIENT_IP = "10.116.0.10", "10.116.0.20"


@contextlib.contextmanager
def namespaces(tag: str, pcap: Path, bpf: str) -> Iterator[NsPair]:
    """Two namespaces and a veth pair, tcpdump on the server's end, finished when the block ends without error;
    everything it started stopped by PID."""
    ns = NsPair(f"ots{tag}", SERVER_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(pcap, bpf)
        yield ns
        ns.finish_capture()
    finally:
        ns.close()


# -- SMB2 / NTLMSSP (impacket) ---------------------------------------------------------------------------------------

SMB_CONF = """\
[global]
server_name = ENG-WS-07
server_os = Windows 10 Enterprise
server_domain = PLANT.LOCAL
log_file = None
rpc_apis = no
SMB2Support = True
credentials_file =
challenge = 4141414141414141

[IPC$]
comment =
read only = yes
share type = 3
path =

[PROJECTS]
comment =
read only = yes
share type = 0
path = {share}
"""

SMB_SERVER = f"""
import struct, threading, time
from impacket import ntlm, smbserver
_get = ntlm.NTLMAuthChallenge.getData
def getData(self):
    if self['Version'] == b"\\xff" * 8:
        self['Version'] = struct.pack("<BBH", 10, 0, 19045) + b"\\0\\0\\0\\x0f"
    return _get(self)
ntlm.NTLMAuthChallenge.getData = getData
srv = smbserver.SimpleSMBServer(listenAddress="{SERVER_IP}", listenPort=445, configFile="smb.conf")
threading.Thread(target=srv.start, daemon=True).start()
time.sleep(15)
"""

SMB_CLIENT = f"""
import functools, time
from impacket import ntlm
from impacket.smbconnection import SMBConnection
v = ntlm.VERSION(); v['ProductMajorVersion'], v['ProductMinorVersion'], v['ProductBuild'] = 6, 1, 7601
ntlm.getNTLMSSPType1 = functools.partial(ntlm.getNTLMSSPType1, version=v)
_t3 = ntlm.getNTLMSSPType3
def _type3(*a, **k):
    m, key = _t3(*a, **k); m['flags'] &= ~ntlm.NTLMSSP_NEGOTIATE_VERSION; return m, key
ntlm.getNTLMSSPType3 = _type3
for attempt in range(20):
    try:
        c = SMBConnection("ENG-WS-07", "{SERVER_IP}", myName="HMI-PANEL-3", sess_port=445, timeout=5)
        break
    except Exception:
        time.sleep(0.5)
c.login("operator", "Passw0rd!", "PLANT")
print(c.getServerName(), c.getServerDNSDomainName(), c.getServerOS())
c.listPath("PROJECTS", "*")
c.logoff(); c.close()
"""


@pytest.fixture(scope="module")
def smb_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("impacket")
    d = tmp_path_factory.mktemp("smbpeer")
    (d / "share").mkdir()
    (d / "share" / "line3.ap17").write_text("project")
    (d / "smb.conf").write_text(SMB_CONF.format(share=d / "share"))
    pcap = d / "smb.pcap"
    with namespaces("S", pcap, "tcp port 445") as ns:
        ns.serve(SMB_SERVER, 25, tcp=(445,), cwd=d)
        out = ns.client(SMB_CLIENT, 20, cwd=d)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ENG-WS-07" in out.stdout
    return pcap


def test_smb2_ntlmssp_identity_of_both_ends(smb_capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/smb.db")
    inv.replay(smb_capture)
    srv, cli = inv.by_ip(SERVER_IP), inv.by_ip(CLIENT_IP)
    assert "smb-server" in srv[0]["protocols"] and "smb-client" in cli[0]["protocols"]
    assert values(srv, "os") == {"Windows 10 / Server 2016+ (10.0 build 19045)"}
    # the NTLMSSP version's os_family (the TTL/SYN hint of the Linux namespace it runs in stays beside, weak)
    assert {f["value"] for a in srv for f in a["facts"]
            if f["field"] == "os_family" and f["protocol"] != "oshint"} == {"windows"}
    assert values(srv, "name") == {"ENG-WS-07"}
    assert {"PLANT.LOCAL"} <= values(srv, "domain")
    assert values(srv, "ntlmssp_version") == {"10.0.19045"}
    assert values(srv, "smb_dialect") and values(srv, "smb_server_guid")
    assert values(cli, "os") == {"Windows 7 / Server 2008 R2 (6.1 build 7601)"}
    assert values(cli, "name") == {"HMI-PANEL-3"} and values(cli, "domain") == {"PLANT"}
    assert values(cli, "smb_user") == {"PLANT\\operator"}
    assert not [a for b in inv.batches for a in b.anomalies if a.protocol in ("smb", "ntlmssp")]
    pipe, _ = run_pipeline(smb_capture)
    assert pipe.stats.dissector_done >= 1 and pipe.stats.dissector_detached == 0    # left after SESSION_SETUP


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_smb2_peer_agrees_with_tshark(smb_capture: Path, tmp_path: Path) -> None:
    out = subprocess.run(["tshark", "-n", "-r", str(smb_capture), "-Y", "ntlmssp", "-T", "fields",
                          "-e", "ntlmssp.messagetype", "-e", "ntlmssp.version.major", "-e", "ntlmssp.version.minor",
                          "-e", "ntlmssp.version.build_number", "-e", "ntlmssp.challenge.target_info.nb_computer_name",
                          "-e", "ntlmssp.auth.hostname", "-e", "ntlmssp.auth.username", "-e", "ntlmssp.auth.domain"],
                         capture_output=True, text=True, timeout=60).stdout
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert rows["0x00000001"][1:4] == ["6", "1", "7601"]
    assert rows["0x00000002"][1:5] == ["10", "0", "19045", "ENG-WS-07"]
    assert rows["0x00000003"][5:8] == ["HMI-PANEL-3", "operator", "PLANT"]


# -- TLS (ssl + cryptography) ----------------------------------------------------------------------------------------

MAKE_CERT = """
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1()); A = x509.NameAttribute
name = x509.Name([A(NameOID.COUNTRY_NAME, "DE"), A(NameOID.ORGANIZATION_NAME, "Siemens AG"),
                  A(NameOID.ORGANIZATIONAL_UNIT_NAME, "SIMATIC"), A(NameOID.COMMON_NAME, "S7-1500 CPU 1516-3 PN/DP")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(0x5a17c0de).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("plc-line-3.local")]), critical=False)
        .sign(key, hashes.SHA256()))
open("tls.crt", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open("tls.key", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
"""

TLS_SERVER = f"""
import http.server, ssl, threading, time
class H(http.server.BaseHTTPRequestHandler):
    server_version = "Siemens-S7-WebServer/2.9"; sys_version = ""
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
def serve(port, top):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("tls.crt", "tls.key")
    ctx.maximum_version = top
    srv = http.server.ThreadingHTTPServer(("{SERVER_IP}", port), H)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
serve(8443, ssl.TLSVersion.TLSv1_2)
serve(443, ssl.TLSVersion.TLSv1_3)
time.sleep(12)
"""

TLS_CLIENT = f"""
import socket, ssl, time
for port in (8443, 443):
    ctx = ssl.create_default_context(cafile="tls.crt"); ctx.check_hostname = False
    for attempt in range(20):
        try:
            raw = socket.create_connection(("{SERVER_IP}", port), timeout=5)
            break
        except OSError:
            time.sleep(0.3)
    s = ctx.wrap_socket(raw, server_hostname="plc-line-3.local")
    s.sendall(b"GET / HTTP/1.1\\r\\nHost: plc-line-3.local\\r\\nConnection: close\\r\\n\\r\\n")
    print(port, s.version(), s.recv(200)[:12])
    s.close()
"""


@pytest.fixture(scope="module")
def tls_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("cryptography")
    d = tmp_path_factory.mktemp("tlspeer")
    subprocess.run([sys.executable, "-c", MAKE_CERT], cwd=d, check=True, timeout=30)
    pcap = d / "tls.pcap"
    with namespaces("T", pcap, "tcp port 8443 or tcp port 443") as ns:
        ns.serve(TLS_SERVER, 25, tcp=(8443, 443), cwd=d)
        out = ns.client(TLS_CLIENT, 20, cwd=d)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "8443 TLSv1.2" in out.stdout and "443 TLSv1.3" in out.stdout, out.stdout
    return pcap


def test_tls12_certificate_and_client_fingerprint(tls_capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/tls.db")
    inv.replay(tls_capture)
    srv, cli = inv.by_ip(SERVER_IP), inv.by_ip(CLIENT_IP)
    assert "tls-server" in srv[0]["protocols"] and "tls-client" in cli[0]["protocols"]
    subject = "C=DE, O=Siemens AG, OU=SIMATIC, CN=S7-1500 CPU 1516-3 PN/DP"
    assert values(srv, "tls_subject") == {subject} and values(srv, "tls_issuer") == {subject}
    assert values(srv, "tls_serial") == {"5a17c0de"} and values(srv, "tls_san") == {"DNS:plc-line-3.local"}
    assert values(srv, "vendor") == {"Siemens"} and not values(srv, "product")
    assert values(srv, "tls_version") == {"TLS 1.2", "TLS 1.3 (certificate encrypted)"}
    assert values(srv, "tls_sni") == {"plc-line-3.local"} and not values(cli, "tls_sni")
    assert len(values(cli, "tls_ja4")) >= 1
    assert not [a for b in inv.batches for a in b.anomalies if a.protocol == "tls"]
    pipe, _ = run_pipeline(tls_capture)
    assert pipe.stats.dissector_done == 2 and pipe.stats.dissector_detached == 0    # both sessions left early


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tls_peer_agrees_with_tshark(tls_capture: Path, tmp_path: Path) -> None:
    from tests.integration.test_tls_smb_captures import hand_ja4, tshark
    inv = Inventory(f"sqlite:///{tmp_path}/tls2.db")
    inv.replay(tls_capture)
    # tshark needs -d for 8443; 443 is TLS to it already
    out = subprocess.run(["tshark", "-n", "-r", str(tls_capture), "-d", "tcp.port==8443,tls", "-Y",
                          "tls.handshake.type == 1", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
                          "-E", "aggregator=|", *sum((["-e", f] for f in (
                              "tls.handshake.version", "tls.handshake.ciphersuite", "tls.handshake.extension.type",
                              "tls.handshake.sig_hash_alg", "tls.handshake.extensions_alpn_str",
                              "tls.handshake.extensions.supported_version",
                              "tls.handshake.extensions_server_name")), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    want = {hand_ja4(*(line.split("\t") + [""] * 7)[:7]) for line in out.splitlines()}
    assert want and values(inv.by_ip(CLIENT_IP), "tls_ja4") == want
    assert tshark is not None
