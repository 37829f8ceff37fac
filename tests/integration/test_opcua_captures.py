"""OPC UA binary over the real public captures in ../shared/pcaps-extra (cisagov/icsnpp-opcua-binary: open62541
client and server on ::1, a GetEndpoints call, a session main loop, a None channel then a Basic128Rsa15
SignAndEncrypt channel) with their tshark-derived truth: every host, label, role and identity value the truth
lists is found, nothing is reported that is not on the wire, the encrypted channel is flagged and the coverage
gap says so; a tshark differential of the OPC UA fields (skips cleanly when tshark or the captures are absent)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Inventory, run_pipeline
from tests.support.truth import family, values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")

LABELS = {"opcua-client": "opcua-client", "opcua-server": "opcua-server"}
# tshark's guess for an end that answers OPC UA; ours: the merge's server default (plc), or hmi-scada when the
# application type says discovery server
ROLES = {"field device/RTU/IED/server (also acts as client)": {"plc", "hmi-scada"},
         "field device/RTU/IED/server": {"plc", "hmi-scada"}, "HMI/SCADA/EWS": {"hmi-scada"}}
APP_TYPES = {"0x00000000": "server", "0x00000001": "client", "0x00000002": "client-and-server",
             "0x00000003": "discovery-server"}


def opcua_truths() -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json")
                  if "opcua" in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def by_name(name: str) -> Path:
    (p,) = [t for t in opcua_truths() if t.name.startswith(name)]
    return p


def test_the_corpus_has_the_opcua_files() -> None:
    assert len(opcua_truths()) == 3


def cert_parts(fam: list[dict], field: str) -> set[str]:
    """'C=DE, O=open62541, CN=x' -> {'C=DE', 'O=open62541', 'CN=x'} over every value of ``field``."""
    return {part for v in values(fam, field) for part in v.split(", ")}


@pytest.mark.parametrize("truth_path", opcua_truths(), ids=lambda p: p.name)
def test_every_opcua_host_label_role_and_value_is_found(truth_path: Path, inventory: Inventory) -> None:
    truth = json.loads(truth_path.read_text())
    inventory.replay(capture(truth_path))
    assets = inventory.assets()
    checked = 0
    for h in truth["hosts"]:
        labels = [LABELS[p] for p in h["protocols"] if p in LABELS]
        if not labels:
            continue
        (a,) = [a for a in assets if h["ip"] in a["ips"] and a["parent"] is None]
        assert set(labels) <= set(a["protocols"]), (labels, a["protocols"])
        assert a["role"] in ROLES[h["role_guess"]], a["role"]
        fam = family(a, assets)
        ident = h["identity"]
        for rec in ident.get("opcua_hello_endpoint", []):
            assert rec["endpoint_url"] in values(fam, "opcua_endpoint_url")
        for kind in ("opcua_server_description", "opcua_client_description"):
            for rec in ident.get(kind, []):
                assert {u for u in rec.get("applicationUri", []) if u} <= values(fam, "opcua_application_uri")
                assert {u for u in rec.get("productUri", []) if u} <= values(fam, "opcua_product_uri")
                assert set(rec.get("applicationName", [])) <= values(fam, "opcua_application_name")
                assert {APP_TYPES[t] for t in rec.get("applicationType", [])} <= values(fam, "opcua_application_type")
        for rec in ident.get("opcua_certificate", []):
            if rec.get("parse_error"):                        # an empty ServerCertificate (sha1 of b""): nothing
                continue
            subject, issuer = cert_parts(fam, "opcua_cert_subject"), cert_parts(fam, "opcua_cert_issuer")
            assert {f"CN={rec['subject_cn']}", f"O={rec['subject_o']}"} <= subject
            assert {f"CN={rec['issuer_cn']}", f"O={rec['issuer_o']}"} <= issuer
            assert rec["sha1"] in values(fam, "opcua_cert_thumbprint")
            assert {f"DNS:{n}" for n in rec.get("san_dns", [])} | {f"URI:{u}" for u in rec.get("san_uri", [])} \
                <= values(fam, "opcua_cert_san")
        s = h["identity_summary"]
        named = (values(fam, "opcua_endpoint_url") | values(fam, "opcua_application_name")
                 | values(fam, "opcua_application_uri")
                 | {p.removeprefix("CN=") for p in cert_parts(fam, "opcua_cert_subject")})
        assert set(s.get("names", [])) <= named
        assert set(s.get("product_names", [])) <= values(fam, "opcua_product_uri")
        assert {f"O={o}" for o in s.get("descriptions", [])} <= cert_parts(fam, "opcua_cert_subject")
        # nothing beyond the truth: open62541 reads no BuildInfo here, and its certificates' O names the SDK
        for field in ("vendor", "product", "firmware", "serial", "name"):
            assert not values(fam, field), (field, values(fam, field))
        checked += 1
    assert checked


def test_encrypted_channel_is_flagged_and_the_gap_says_so(tmp_path: Path) -> None:
    path = capture(by_name("open62541_client-server_encrypted"))
    _pipe, batch = run_pipeline(path)
    enc = [f for f in batch.facts if f.field == "encrypted"]
    assert [f.value for f in enc] == ["opcua SignAndEncrypt Basic128Rsa15"] and enc[0].evidence.frame == 35
    policies = {f.value for f in batch.facts if f.field == "opcua_security_policy"}
    assert policies == {"None", "Basic128Rsa15"}
    (comm,) = [c for c in batch.comms if c.protocol == "opcua"]
    assert comm.profile["msg encrypted"] == 8 and comm.profile["get-endpoints-rsp"] == 1
    assert not [a for a in batch.anomalies if a.protocol == "opcua"]
    from otscope.collector.queries import coverage

    inv = Inventory(f"sqlite:///{tmp_path}/g.db")
    inv.replay(path)
    with inv.factory() as s:
        gaps = {ip: g["reason"] for g in coverage(s)["gaps"] for ip in g["ips"]}
    assert gaps["::1"].startswith("encrypted session (opcua SignAndEncrypt Basic128Rsa15)"), gaps


def test_main_loop_profile() -> None:
    _pipe, batch = run_pipeline(capture(by_name("open62541_client-server_mainloop")))
    (comm,) = [c for c in batch.comms if c.protocol == "opcua"]
    p = comm.profile
    assert (p["write"], p["call"], p["browse"], p["read"], p["node-management"]) == (2, 1, 2, 1, 4)
    assert p["publish-req"] == p["publish-rsp"] == 11 and p["create-session-req"] == 1
    assert not [a for a in batch.anomalies if a.protocol == "opcua"]


TSHARK = shutil.which("tshark")
DESCRIPTIONS = {425, 431, 461, 464}     # the services whose LocalizedText is an ApplicationName


def tshark(path: Path, *fields: str) -> list[list[str]]:
    cmd = [TSHARK, "-n", "-r", str(path), "-Y", "opcua", "-T", "fields", "-E", "separator=\t", "-E", "aggregator=\x1e"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, timeout=120, check=True).stdout.decode("utf-8", "replace")
    return [(line.split("\t") + [""] * len(fields))[:len(fields)] for line in out.split("\n") if line.strip()]


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", opcua_truths(), ids=lambda p: p.name)
def test_tshark_differential(truth_path: Path) -> None:
    """tshark's opcua fields == ours: message types, service ids (profile counts), endpoint URLs, security
    policies, application URIs / names / product URIs."""
    path = capture(truth_path)
    rows = tshark(path, "opcua.transport.type", "opcua.servicenodeid.numeric", "opcua.transport.endpoint",
                  "opcua.security.spu", "opcua.ApplicationUri", "opcua.loctext.Text", "opcua.ProductUri",
                  "opcua.EndpointUrl")
    types: dict[str, int] = {}
    services: dict[int, int] = {}
    want: dict[str, set[str]] = {k: set() for k in ("opcua_endpoint_url", "opcua_security_policy",
                                                    "opcua_application_uri", "opcua_application_name",
                                                    "opcua_product_uri")}
    for mt, sid, hel_url, spu, uris, names, products, urls in rows:
        for one in mt.split("\x1e"):              # several messages in one segment
            types[one] = types.get(one, 0) + 1
        sids = [int(x) for x in sid.split("\x1e") if x]
        for one in sids:
            services[one] = services.get(one, 0) + 1
        want["opcua_endpoint_url"] |= {u for u in (hel_url, *urls.split("\x1e")) if u}
        if spu:
            want["opcua_security_policy"].add(spu.rsplit("#", 1)[-1])
        if not DESCRIPTIONS & set(sids):
            names = ""                              # a LocalizedText of another service (Browse DisplayName ...)
        for k, v in (("opcua_application_uri", uris), ("opcua_application_name", names),
                     ("opcua_product_uri", products)):
            want[k] |= {x for x in v.split("\x1e") if x}
    _pipe, batch = run_pipeline(path)
    (comm,) = [c for c in batch.comms if c.protocol == "opcua"]
    prof = comm.profile
    ours_types = {"HEL": prof.get("hel", 0), "ACK": prof.get("ack", 0),
                  "OPN": prof.get("opn", 0) + prof.get("opn encrypted", 0),
                  "MSG": prof.get("msg", 0) + prof.get("msg encrypted", 0),
                  "CLO": prof.get("clo", 0) + prof.get("clo encrypted", 0)}
    assert {k: v for k, v in ours_types.items() if v} == types
    from otscope.dissectors.opcua.constants import service_name
    assert {sid: prof.get(service_name(sid), 0) for sid in services} == services
    got = {k: {f.value for f in batch.facts if f.field == k} for k in want}
    assert got == want


# ITI/ICS-Security-Tools opc-ua-ap-method-wireshark-freeze.pcap (../shared/pcaps, the first corpus): an OPC UA
# ANSI C stack test server on tcp/12001 fuzzed with Call requests (the capture froze an old Wireshark). tcp/12001 is
# not one of our ports (the flow table dispatches by port only), so its truth lists no OPC UA: here the dissector is
# put on the port by hand (Python flow table) to check it against tshark -d tcp.port==12001,opcua.
FREEZE = EXTRA.parent / "pcaps" / "captures" / "ITI-ICS-Security-Tools" / "OPC" / "opc-ua-ap-method-wireshark-freeze.pcap"


@pytest.mark.skipif(not FREEZE.exists(), reason="shared/pcaps not present")
def test_hostile_stack_test_capture_on_another_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from otscope.agent import pipeline as pipeline_mod
    from otscope.agent.flows import SERVER_PORTS
    from otscope.dissectors.opcua.dissector import OpcUaDissector

    assert 12001 not in SERVER_PORTS
    orig = pipeline_mod.tcp_dissector_for
    monkeypatch.setattr(pipeline_mod, "tcp_dissector_for",
                        lambda s, c=-1: OpcUaDissector if 12001 in (s, c) else orig(s, c))
    _pipe, batch = run_pipeline(FREEZE, fast=False)
    (comm,) = [c for c in batch.comms if c.protocol == "opcua"]
    p = comm.profile
    assert (p["hel"], p["get-endpoints-rsp"], p["create-session-rsp"], p["call"]) == (2, 2, 2, 2)
    # both Call requests were refused with an ERR; the codes are kept by number
    assert sorted(a.kind for a in batch.anomalies if a.protocol == "opcua") == ["opcua-error-0x80020000",
                                                                                "opcua-error-0x80070000"]
    srv = {(f.field, f.value) for f in batch.facts if f.subject.ip == "192.168.41.212"}
    assert {("opcua_endpoint_url", "opc.tcp://vm-xp-steven:12001/UA/StackTestServer"),
            ("opcua_application_uri", "http://vm-xp-steven/UA StackTest Server (AnsiC/2048)"),
            ("opcua_cert_subject", "CN=UA StackTest Server (AnsiC/2048)")} <= srv
    if TSHARK:
        rows = subprocess.run([TSHARK, "-n", "-r", str(FREEZE), "-d", "tcp.port==12001,opcua", "-Y",
                               "opcua.transport.error", "-T", "fields", "-e", "opcua.transport.error"],
                              capture_output=True, text=True, timeout=60).stdout.split()
        assert sorted(rows) == ["0x80020000", "0x80070000"]
