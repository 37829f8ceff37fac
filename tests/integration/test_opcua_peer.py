"""A real OPC UA stack (asyncua 2.1.0, tests/integration/opcua_peer.py) in two network namespaces joined by a veth
pair, captured on the server's end, replayed: a session with the security policy None that reads BuildInfo gives
the server's vendor, product and firmware; a Basic256Sha256 SignAndEncrypt session is flagged as encrypted with its
policy, and both ends' certificates (clear in the OpenSecureChannel) are summarised; a Basic256Sha256 Sign session
is told apart from it and decoded (signed bodies are clear). Skipped when asyncua, root,
iproute2 or tcpdump is missing; bounded (seconds) and the namespaces are removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.netns import NsPair

pytest.importorskip("asyncua")
pytestmark = [pytest.mark.realpeer,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip"),
                                 reason="needs root, iproute2 and tcpdump to build namespaces")]

PEER = str(Path(__file__).with_name("opcua_peer.py"))
SERVER_IP, CLIENT_IP = "10.48.40.10", "10.48.40.20"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("opcua")
    out, certs = work / "asyncua.pcap", work / "certs"
    certs.mkdir()                                     # asyncua reuses existing key files: a fresh dir per run
    subprocess.run([sys.executable, PEER, "certs", str(certs)], timeout=30, check=True, capture_output=True)
    ns = NsPair("oua", SERVER_IP, CLIENT_IP)
    try:
        ns.open()
        ns.capture(out, "tcp port 4840")
        ns.serve(None, 30, tcp=(4840,), argv=(sys.executable, PEER, "server", str(certs), SERVER_IP, "15"),
                 log=work / "server.out", limit=20)
        client = ns.client(None, 20, argv=(sys.executable, PEER, "client", str(certs), SERVER_IP, "sign"))
        assert "none SIMATIC S7-1500 Siemens AG V3.1.2" in client.stdout, client.stderr[-2000:]
        assert "encrypted SIMATIC S7-1500" in client.stdout, client.stderr[-2000:]
        assert "signed V3.1.2" in client.stdout, client.stderr[-2000:]
        ns.finish_capture()
        yield out
    finally:
        ns.close()


def facts_of(batch, ip: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in batch.facts:
        if f.subject.ip == ip:
            out.setdefault(f.field, set()).add(f.value)
    return out


def test_build_info_from_the_none_session(capture: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/p.db")
    inv.replay(capture)
    (srv,) = [a for a in inv.by_ip(SERVER_IP) if a["parent"] is None]
    (cli,) = [a for a in inv.by_ip(CLIENT_IP) if a["parent"] is None]
    assert (srv["vendor"], srv["product"], srv["firmware"]) == ("Siemens AG", "SIMATIC S7-1500", "V3.1.2")
    assert "opcua-server" in srv["protocols"] and "opcua-client" in cli["protocols"]
    # asyncua's server announces ClientAndServer: no role beyond "answers OPC UA" (the merge's server default)
    assert srv["role"] == "plc" and cli["role"] == "hmi-scada"
    assert not cli.get("vendor")


def test_encrypted_session_flagged_with_policy_and_certificates(capture: Path) -> None:
    _pipe, batch = run_pipeline(capture)
    srv, cli = facts_of(batch, SERVER_IP), facts_of(batch, CLIENT_IP)
    assert srv["encrypted"] == {"opcua SignAndEncrypt Basic256Sha256"}
    assert srv["opcua_security_policy"] == {"None", "Basic256Sha256"}
    assert srv["opcua_security_mode"] == {"None", "SignAndEncrypt", "Sign"}
    assert srv["opcua_cert_subject"] == {"CN=urn:siemens:s71500:opcua, O=Siemens AG"}
    assert cli["opcua_cert_subject"] == {"CN=urn:probe:client, O=Probe Ltd"}
    assert srv["opcua_application_uri"] == {"urn:siemens:s71500:opcua"}
    assert srv["opcua_product_uri"] == {"urn:siemens:simatic:s71500"}
    assert srv["opcua_application_name"] == {"SIMATIC S7-1500 OPC UA Server"}
    assert srv["opcua_build_number"] == {"3.1.2.0"} and srv["opcua_build_date"] == {"2024-05-01T00:00:00Z"}
    assert srv["opcua_endpoint_security"] == {"None None", "Basic256Sha256 SignAndEncrypt", "Basic256Sha256 Sign"}
    enc = [f for f in batch.facts if f.field == "encrypted"]
    pol = [f for f in batch.facts if f.field == "opcua_security_policy" and f.value == "Basic256Sha256"]
    assert enc[0].evidence.frame > pol[0].evidence.frame              # flagged at the first MSG after the OPN
    assert not [a for a in batch.anomalies if a.protocol == "opcua"]
    comms = [c for c in batch.comms if c.protocol == "opcua"]
    assert len(comms) == 1 or all(c.server.ip == SERVER_IP for c in comms)
    prof: dict[str, int] = {}
    for c in comms:
        for k, v in c.profile.items():
            prof[k] = prof.get(k, 0) + v
    # the None and the Sign sessions' reads are decoded (a signed body is clear), the encrypted one's is not
    assert prof["read-req"] == 2 and prof["msg encrypted"] >= 4 and prof["opn encrypted"] == 4


def test_signed_session_is_decoded(capture: Path) -> None:
    _pipe, batch = run_pipeline(capture)
    sign = [f for f in batch.facts if f.field == "opcua_security_mode" and f.value == "Sign"]
    enc = [f for f in batch.facts if f.field == "encrypted"]
    assert len(sign) == 1 and sign[0].evidence.frame > enc[0].evidence.frame


def test_tshark_agrees_on_the_none_session(capture: Path) -> None:
    if not shutil.which("tshark"):
        pytest.skip("tshark not installed")
    out = subprocess.run(["tshark", "-n", "-r", str(capture), "-Y", "opcua.ProductName", "-T", "fields",
                          "-e", "opcua.ProductName", "-e", "opcua.ManufacturerName", "-e", "opcua.SoftwareVersion",
                          "-e", "opcua.BuildNumber"], capture_output=True, text=True, timeout=60).stdout
    assert out.split("\n")[0].split("\t") == ["SIMATIC S7-1500", "Siemens AG", "V3.1.2", "3.1.2.0"]
    spu = subprocess.run(["tshark", "-n", "-r", str(capture), "-Y", "opcua.security.spu", "-T", "fields",
                          "-e", "opcua.security.spu"], capture_output=True, text=True, timeout=60).stdout
    _pipe, batch = run_pipeline(capture)
    assert {u.rsplit("#", 1)[-1] for u in spu.split()} == {f.value for f in batch.facts
                                                             if f.field == "opcua_security_policy"}
