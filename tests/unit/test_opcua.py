"""OPC UA binary (OPC 10000-6 §7.1, §6.7, §5.2): real bytes from open62541 (cisagov/icsnpp-opcua-binary captures)
and asyncua 2.1.0, malformed and truncated cases, unknown services, chunk reassembly and its caps, encrypted
channels, every anomaly kind."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.opcua import grammar as g
from otscope.dissectors.opcua.constants import (MAX_CHUNKS, MAX_PARTIAL, OpcuaAnomaly, Service, service_name)
from otscope.dissectors.opcua.dissector import BUFFER_CAP, OpcUaDissector

# open62541_client-server-getEndpoints.pcap frames 5 (HEL), 7 (ACK), 9 (OPN request, policy None), 11 (OPN response)
HEL = bytes.fromhex("48454c463800000000000000ffff0000ffff00000000000000000000180000006f70632e7463703a2f2f6c6f63616c"
                    "686f73743a34383430")
ACK = bytes.fromhex("41434b461c00000000000000ffff0000ffff00000000000000000000")
OPN_REQ = bytes.fromhex(
    "4f504e4684000000000000002f000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c"
    "696379234e6f6e65ffffffffffffffff01000000010000000100be01000060acd99b5595d7010000000000000000ffffffff000000000000"
    "00000000000000000001000000ffffffffc0270900")
OPN_RSP = bytes.fromhex(
    "4f504e4687000000080000002f000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c"
    "696379234e6f6e65ffffffffffffffff01000000010000000100c101f2b0d99b5595d701000000000000000000ffffffff000000000000"
    "000800000008000000e8b0d99b5595d701c0270900ffffffff")
# asyncua 2.1.0 (protocol-libs-2.md §5, policy None): ReadRequest of Server_ServerStatus_BuildInfo (i=2260) Value,
# and its ReadResponse (a BuildInfo ExtensionObject, i=340)
READ_REQ = bytes.fromhex(
    "4d5347465d000000060000000d0000000400000004000000010077020100e903fc656b0c1582dd010400000000000000ffffffff8813000000"
    "0000000000000000000000000000010000000100d4080d000000ffffffff0000ffffffff")
READ_RSP = bytes.fromhex(
    "4d534746b7000000060000000d000000040000000400000001007a027a926b0c1582dd0104000000000000000000000000000000010000000f"
    "1601005401015c0000001a00000075726e3a7369656d656e733a73696d617469633a7337313530300a0000005369656d656e732041470f0000"
    "0053494d415449432053372d313530300600000056332e312e3207000000332e312e322e30008085825a9bda01000000009ec0140c1582dd01"
    "20c1140c1582dd0100000000")
# open62541_client-server_mainloop.pcap frame 40: CreateSessionRequest (client urn:unconfigured:application)
CREATE_SESSION_REQ = bytes.fromhex(
    "4d534746a6000000040000000400000003000000030000000100cd01000038be164f2dd1d5010300000000000000ffffffff102700000000"
    "001c00000075726e3a756e636f6e666967757265643a6170706c69636174696f6effffffff0001000000ffffffffffffffffffffffffffff"
    "ffff180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430ffffffffffffffffffffffff00000000804f3241ffffff7f")

POLICY_NONE = b"http://opcfoundation.org/UA/SecurityPolicy#None"
POLICY_B256 = b"http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"


# -- builders (Part 6 encodings) -------------------------------------------------------------------------------
def s(v: bytes | str | None) -> bytes:
    if v is None:
        return struct.pack("<i", -1)
    b = v.encode() if isinstance(v, str) else v
    return struct.pack("<i", len(b)) + b


def msg(mt: bytes, body: bytes, chunk: bytes = b"F", size: int | None = None) -> bytes:
    return mt + chunk + struct.pack("<I", 8 + len(body) if size is None else size) + body


def secure(body: bytes, request_id: int, channel: int = 8, chunk: bytes = b"F", mt: bytes = b"MSG") -> bytes:
    return msg(mt, struct.pack("<III", channel, 1, request_id) + struct.pack("<I", request_id) + body, chunk)


def opn(policy: bytes, cert: bytes = b"", rest: bytes = b"", channel: int = 0) -> bytes:
    return msg(b"OPN", struct.pack("<I", channel) + s(policy) + s(cert or None) + s(None) + rest)


def nid(i: int) -> bytes:
    return b"\x01\x00" + struct.pack("<H", i)


def req_header(handle: int) -> bytes:
    return b"\x00\x00" + bytes(8) + struct.pack("<II", handle, 0) + s(None) + struct.pack("<I", 10000) + b"\x00\x00\x00"


def rsp_header(handle: int, result: int = 0) -> bytes:
    return bytes(8) + struct.pack("<II", handle, result) + b"\x00" + struct.pack("<i", -1) + b"\x00\x00\x00"


def app(uri: str, product: str, name: str, atype: int) -> bytes:
    return s(uri) + s(product) + b"\x02" + s(name) + struct.pack("<I", atype) + s(None) + s(None) + struct.pack("<i", 0)


def endpoint(url: str, server: bytes, cert: bytes = b"", mode: int = 1, policy: bytes = POLICY_NONE) -> bytes:
    return (s(url) + server + s(cert or None) + struct.pack("<I", mode) + s(policy) + struct.pack("<i", 0) + s(None)
            + b"\x00")


def fields(d: OpcUaDissector) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in d.out:
        out.setdefault(f.field, set()).add(f.value)
    return out


def kinds(d: OpcUaDissector) -> list[str]:
    return [a.kind for a in d.anomalies]


def session(*frames: tuple[int, bytes]) -> OpcUaDissector:
    d = OpcUaDissector()
    for i, (side, data) in enumerate(frames):
        assert d.feed(data, side, float(i), i + 1) != FATAL, d.fatal_reason
    return d


def opened() -> OpcUaDissector:
    return session((0, HEL), (1, ACK), (0, OPN_REQ), (1, OPN_RSP))


# -- grammar ---------------------------------------------------------------------------------------------------
def test_real_hello_and_acknowledge() -> None:
    h = g.parse_header(HEL)
    assert (h.msg_type, chr(h.chunk), h.size) == (b"HEL", "F", 56)
    hel = g.parse_hello(HEL[8:])
    assert hel.endpoint_url == "opc.tcp://localhost:4840" and hel.receive_buffer == 65535
    ack = g.parse_ack(ACK[8:])
    assert (ack.version, ack.send_buffer, ack.max_message) == (0, 65535, 0)


def test_real_open_secure_channel_request() -> None:
    ch = g.parse_opn(OPN_REQ[8:])
    assert ch.policy_uri == POLICY_NONE.decode() and ch.sender_cert == b"" and ch.channel_id == 0
    _seq, rid, body = g.split_sequence(ch.rest)
    r = g.UaReader(body)
    assert rid == 1 and g.service_id(r) == Service.OPEN_SECURE_CHANNEL_REQ
    assert g.open_channel_request(r) == 1                            # MessageSecurityMode None


def test_real_read_response_is_build_info() -> None:
    ch = g.parse_symmetric(READ_RSP[8:])
    _seq, _rid, body = g.split_sequence(ch.rest)
    r = g.UaReader(body)
    assert g.service_id(r) == Service.READ_RSP
    h = g.response_header(r)
    assert h.handle == 4 and h.result == 0
    (value,) = [r.data_value() for _ in range(r.array_len())]
    assert value == g.BuildInfo("urn:siemens:simatic:s71500", "Siemens AG", "SIMATIC S7-1500", "V3.1.2", "3.1.2.0",
                                "2024-05-01T00:00:00Z")


def test_real_read_request_nodes() -> None:
    _seq, _rid, body = g.split_sequence(g.parse_symmetric(READ_REQ[8:]).rest)
    r = g.UaReader(body)
    assert g.service_id(r) == Service.READ_REQ
    h, nodes = g.read_request(r)
    assert h.handle == 4 and nodes == [((0, 2260), 13)]


def test_nodeid_encodings() -> None:
    assert g.UaReader(b"\x00\x2a").nodeid() == (0, 42)
    assert g.UaReader(b"\x01\x02\x34\x12").nodeid() == (2, 0x1234)
    assert g.UaReader(b"\x02\x03\x00\x78\x56\x34\x12").nodeid() == (3, 0x12345678)
    assert g.UaReader(b"\x03\x01\x00" + s("Tank.Level")).nodeid() == (1, "s=Tank.Level")
    assert g.UaReader(b"\x04\x01\x00" + bytes(range(16))).nodeid() == (1, "g=" + bytes(range(16)).hex())
    assert g.UaReader(b"\x05\x01\x00" + s(b"\xab\xcd")).nodeid() == (1, "b=abcd")
    assert g.UaReader(b"\xc1\x00\x10\x00" + s("urn:x") + b"\x01\x00\x00\x00").expanded_nodeid() == (0, 16)
    with pytest.raises(Malformed):
        g.UaReader(b"\x07\x00").nodeid()


def test_strings_are_bounded_and_printable() -> None:
    assert g.UaReader(s(None)).string() == ""
    assert g.UaReader(s("a\x1bb\u00e9")).string() == "a\ufffdb\u00e9"        # UTF-8 decoded, escape replaced
    assert len(g.UaReader(s("x" * 4000)).string()) == 256
    with pytest.raises(Malformed):
        g.UaReader(struct.pack("<i", 5000) + b"x" * 5000).string()
    with pytest.raises(Malformed):
        g.UaReader(struct.pack("<i", -7)).string()
    with pytest.raises(Truncated):
        g.UaReader(struct.pack("<i", 10) + b"abc").string()
    with pytest.raises(Malformed):
        g.UaReader(struct.pack("<i", 100000)).array_len()


def test_localized_text_variant_data_value_diagnostics() -> None:
    assert g.UaReader(b"\x03" + s("en") + s("Pump 1")).localized_text() == "Pump 1"
    assert g.UaReader(b"\x01" + s("en")).localized_text() == ""
    assert g.UaReader(b"\x0c" + s("V1.2")).variant() == "V1.2"
    assert g.UaReader(b"\x07" + struct.pack("<I", 7)).variant() == 7
    assert g.UaReader(b"\x8b" + struct.pack("<i", 2) + bytes(16)).variant() is None     # Double[2], skipped
    assert g.UaReader(b"\x03" + b"\x0c" + s("x") + struct.pack("<I", 0x80340000)).data_value() is None   # Bad status
    r = g.UaReader(b"\x7f" + bytes(16) + s("info") + bytes(4) + b"\x00" + b"!")
    r.diagnostic_info()
    assert r.take(1) == b"!"
    with pytest.raises(Malformed):
        g.UaReader(b"\x1f").variant()                               # built-in type 31 does not exist
    nested = b"\x18" * 20 + b"\x01\x01"                             # Variant in Variant ... 20 deep
    with pytest.raises(Malformed):
        g.UaReader(nested).variant()


def test_unknown_service_keeps_its_number() -> None:
    assert service_name(631) == "read-req" and service_name(9999) == "unknown-service-9999"


# -- the dissector: confirmation and framing --------------------------------------------------------------------
def test_hello_acknowledge_confirms_and_labels() -> None:
    d = OpcUaDissector()
    assert d.feed(HEL, 0, 1.0, 5) == OK and d.labelled and not d.confirmed
    assert d.feed(ACK, 1, 1.1, 7) == OK and d.confirmed
    labels = {(f.who, f.value) for f in d.out if f.field == "protocol"}
    assert labels == {(Who.CLIENT, "opcua-client"), (Who.SERVER, "opcua-server")}
    assert {(f.who, f.value, f.frame) for f in d.out if f.field == "opcua_endpoint_url"} == {
        (Who.SERVER, "opc.tcp://localhost:4840", 5)}
    assert d.profile["hel"] == d.profile["ack"] == 1 and d.decoded == len(HEL) + len(ACK)


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc",
                                  ACK, msg(b"HEL", b"\x00" * 4), msg(b"HEL", bytes(20) + s("x"), size=3),
                                  msg(b"ERR", struct.pack("<I", 0x80010000) + s("x")),
                                  msg(b"HEL", struct.pack("<IIIII", 0, 100, 100, 0, 0) + s("opc.tcp://x"))])
def test_other_bytes_are_not_opcua(data: bytes) -> None:
    d = OpcUaDissector()
    assert d.feed(data, 0, 0.0, 1) == FATAL and not d.out and d.fatal_reason.startswith("not opc ua")


def test_message_split_across_segments_and_two_in_one() -> None:
    d = OpcUaDissector()
    assert d.feed(HEL[:5], 0, 0.0, 1) == INCOMPLETE
    assert d.feed(HEL[5:20], 0, 0.0, 2) == INCOMPLETE
    assert d.feed(HEL[20:], 0, 0.0, 3) == OK and d.labelled
    assert d.feed(ACK, 1, 0.0, 4) == OK and d.confirmed
    d2 = session((0, HEL), (1, ACK), (0, OPN_REQ + READ_REQ[:30]))
    assert d2.feed(READ_REQ[30:], 0, 0.0, 9) == OK and d2.profile["read-req"] == 1


def test_confirmed_by_a_secure_channel_exchange_without_hello() -> None:
    """A capture that starts inside a connection: a request and its answer on the same channel and RequestId."""
    d = session((0, READ_REQ))
    assert not d.confirmed
    assert d.feed(READ_RSP, 1, 0.0, 2) == OK and d.confirmed
    assert fields(d)["product"] == {"SIMATIC S7-1500"}


def test_bad_headers_after_confirmation_are_counted_then_fatal() -> None:
    d = opened()
    assert d.feed(msg(b"XYZ", b"1234"), 0, 0.0, 10) == OK
    assert d.feed(msg(b"MSG", bytes(16), chunk=b"Q"), 0, 0.0, 11) == OK
    assert d.feed(msg(b"MSG", b"", size=4), 0, 0.0, 12) == FATAL
    assert kinds(d) == [OpcuaAnomaly.BAD_MESSAGE_TYPE, OpcuaAnomaly.BAD_CHUNK_TYPE, OpcuaAnomaly.BAD_LENGTH]


def test_oversized_chunk_is_skipped_by_its_size() -> None:
    d = opened()
    big = secure(b"\x01\x00" + struct.pack("<H", 9999) + bytes(BUFFER_CAP + 100), 9)
    assert d.feed(big[:1000], 0, 0.0, 10) == OK
    assert d.feed(big[1000:], 0, 0.0, 11) == OK                      # the rest, skipped
    assert d.feed(READ_REQ, 0, 0.0, 12) == OK and d.profile["read-req"] == 1 and not d.anomalies


def test_buffer_overflow_anomaly() -> None:
    d = opened()
    d.buf.cap = 100                                                 # a partial chunk beyond the buffer's cap
    assert d.feed(msg(b"MSG", b"", size=10000) + bytes(150), 0, 0.0, 10) == OK
    assert kinds(d) == [OpcuaAnomaly.BUFFER_OVERFLOW]


def test_gap_drops_partial_chunks() -> None:
    d = opened()
    d.feed(READ_REQ[:30], 0, 0.0, 10)
    d.gap(0)
    assert d.feed(ACK, 1, 0.0, 11) == OK and d.buf.pending == [b"", b""]


# -- identity -----------------------------------------------------------------------------------------------------
def test_policy_none_mode_and_build_info() -> None:
    d = session((0, HEL), (1, ACK), (0, OPN_REQ), (1, OPN_RSP), (0, READ_REQ), (1, READ_RSP))
    f = fields(d)
    assert f["opcua_security_policy"] == {"None"} and f["opcua_security_mode"] == {"None"}
    assert (f["vendor"], f["product"], f["firmware"]) == ({"Siemens AG"}, {"SIMATIC S7-1500"}, {"V3.1.2"})
    assert f["opcua_build_number"] == {"3.1.2.0"} and f["opcua_build_date"] == {"2024-05-01T00:00:00Z"}
    assert all(x.who == Who.SERVER for x in d.out if x.field in ("vendor", "product", "firmware"))
    assert "encrypted" not in f and not d.anomalies
    assert d.profile["read"] == 1 and d.profile["secure-channel"] == 1


def test_build_info_children_matched_by_request_handle() -> None:
    nodes = [(2263, "Acme Automation"), (2261, "X200 Controller"), (2264, "4.2.1"), (2265, "b1234"), (2255, "ns")]
    req = req_header(77) + bytes(12) + struct.pack("<i", len(nodes)) + b"".join(
        b"\x02\x00\x00" + struct.pack("<II", n, 13) + s(None) + b"\x00\x00" + s(None) for n, _ in nodes)
    rsp = rsp_header(77) + struct.pack("<i", len(nodes)) + b"".join(b"\x01\x0c" + s(v) for _, v in nodes) + \
        struct.pack("<i", -1)
    d = opened()
    d.feed(secure(nid(631) + req, 5), 0, 0.0, 10)
    d.feed(secure(nid(634) + rsp_header(78) + struct.pack("<i", 1) + b"\x01\x0c" + s("unrelated") +
                  struct.pack("<i", -1), 6), 1, 0.0, 11)        # another handle: not these nodes
    d.feed(secure(nid(634) + rsp, 5), 1, 0.0, 12)
    f = fields(d)
    assert (f["vendor"], f["product"], f["firmware"], f["opcua_build_number"]) == (
        {"Acme Automation"}, {"X200 Controller"}, {"4.2.1"}, {"b1234"})
    assert "ns" not in str(f) and "unrelated" not in str(f) and not d.pending
    assert [x.frame for x in d.out if x.field == "vendor"] == [12]


def test_real_create_session_request_client_description() -> None:
    d = session((0, HEL), (1, ACK), (0, OPN_REQ), (1, OPN_RSP), (0, CREATE_SESSION_REQ))
    client = {(x.field, x.value) for x in d.out if x.who == Who.CLIENT}
    assert {("opcua_application_uri", "urn:unconfigured:application"), ("opcua_application_type", "client")} <= client
    assert d.profile["create-session-req"] == 1 and d.profile["session"] == 1


def test_get_endpoints_and_find_servers() -> None:
    srv = app("urn:acme:x200", "urn:acme:product", "X200 OPC UA", 0)
    eps = struct.pack("<i", 2) + endpoint("opc.tcp://10.0.0.5:4840", srv) + \
        endpoint("opc.tcp://10.0.0.5:4840", srv, mode=3, policy=POLICY_B256)
    d = opened()
    d.feed(secure(nid(428) + req_header(1) + s("opc.tcp://10.0.0.5:4840") + struct.pack("<ii", -1, -1), 3), 0, 0, 10)
    d.feed(secure(nid(431) + rsp_header(1) + eps, 3), 1, 0.0, 11)
    f = fields(d)
    assert f["opcua_application_uri"] == {"urn:acme:x200"} and f["opcua_application_name"] == {"X200 OPC UA"}
    assert f["opcua_application_type"] == {"server"} and f["opcua_product_uri"] == {"urn:acme:product"}
    assert f["opcua_endpoint_security"] == {"None None", "Basic256Sha256 SignAndEncrypt"}
    assert len([x for x in d.out if x.field == "opcua_application_uri"]) == 1          # once, not per endpoint
    assert "role_hint" not in f                                     # a plain Server proves no role beyond "server"
    lds = struct.pack("<i", 2) + app("urn:lds", "urn:lds:p", "LDS", 3) + app("urn:other", "urn:o:p", "Other", 0)
    d.feed(secure(nid(425) + rsp_header(2) + lds, 4), 1, 0.0, 12)
    assert fields(d)["opcua_discovered_server"] == {"urn:lds", "urn:other"}
    one = struct.pack("<i", 1) + app("urn:lds", "urn:lds:p", "LDS", 3)
    d.feed(secure(nid(425) + rsp_header(3) + one, 5), 1, 0.0, 13)
    assert fields(d)["role_hint"] == {"hmi-scada"}                    # DiscoveryServer: a PC service


def test_unknown_and_non_standard_services_are_counted() -> None:
    d = opened()
    d.feed(secure(nid(4242) + req_header(1), 3), 0, 0.0, 10)
    d.feed(secure(b"\x03\x02\x00" + s("vendor.svc") + req_header(1), 4), 0, 0.0, 11)
    d.feed(secure(nid(397) + rsp_header(1, 0x80280000), 3), 1, 0.0, 12)
    assert d.profile["unknown-service-4242"] == 1 and d.profile["unknown-service-non-ns0"] == 1
    assert d.profile["service-fault 0x80280000"] == 1 and not d.anomalies


def test_write_and_call_are_profiled() -> None:
    d = opened()
    for i, sid in enumerate((673, 673, 712, 527, 787, 664)):
        d.feed(secure(nid(sid) + req_header(i), 10 + i), 0, 0.0, 10 + i)
    p = d.profile
    assert (p["write"], p["call"], p["browse"], p["subscription"], p["history"]) == (2, 1, 1, 1, 1)


def test_malformed_body_is_an_anomaly_and_the_flow_survives() -> None:
    d = opened()
    d.feed(secure(nid(431) + rsp_header(4) + struct.pack("<i", 1) + s("opc.tcp://x") + b"\x01\x1f", 4), 1, 0.0, 10)
    d.feed(secure(nid(461) + req_header(1)[:5], 5), 0, 0.0, 11)
    assert [k.split("-MSG")[0] for k in kinds(d)] == [OpcuaAnomaly.MALFORMED] * 2
    assert d.feed(READ_REQ, 0, 0.0, 12) == OK and d.profile["read-req"] == 1


def test_err_keeps_the_code_by_number() -> None:
    d = opened()
    assert d.feed(msg(b"ERR", struct.pack("<I", 0x807F0000) + s("Bad_SomethingNew")), 1, 0.0, 10) == OK
    assert kinds(d) == [f"{OpcuaAnomaly.ERROR_MESSAGE}-0x807f0000"] and d.profile["err 0x807f0000"] == 1


def test_unexpected_messages() -> None:
    d = opened()
    d.feed(HEL, 1, 0.0, 10)                                         # a HEL from the server
    d.feed(ACK, 0, 0.0, 11)                                         # an ACK from the client
    assert kinds(d) == [f"{OpcuaAnomaly.UNEXPECTED_MESSAGE}-HEL from the server",
                        f"{OpcuaAnomaly.UNEXPECTED_MESSAGE}-ACK"]


def test_reverse_hello_swaps_the_ends() -> None:
    rhe = msg(b"RHE", s("urn:acme:x200") + s("opc.tcp://10.0.0.5:4840"))
    d = session((0, rhe), (1, HEL), (0, ACK))
    assert d.confirmed and d.server_who == Who.CLIENT
    labels = {(x.who, x.value) for x in d.out if x.field == "protocol"}
    assert labels == {(Who.CLIENT, "opcua-server"), (Who.SERVER, "opcua-client")}
    assert ("opcua_application_uri", "urn:acme:x200", Who.CLIENT) in {(x.field, x.value, x.who) for x in d.out}


# -- chunks -------------------------------------------------------------------------------------------------------
def test_chunks_are_reassembled() -> None:
    body = nid(634) + READ_RSP[28:]                                 # the real ReadResponse body after its type id
    d = opened()
    for i in range(0, len(body) - 40, 40):
        d.feed(secure(body[i:i + 40], 4, chunk=b"C"), 1, 0.0, 10 + i)
    last = (len(body) - 40) // 40 * 40 + 40
    d.feed(secure(body[last:], 4), 1, 0.0, 99)
    assert fields(d)["product"] == {"SIMATIC S7-1500"}


def test_abort_and_reassembly_caps() -> None:
    d = opened()
    d.feed(secure(b"xx", 4, chunk=b"C"), 1, 0.0, 10)
    d.feed(secure(b"", 4, chunk=b"A"), 1, 0.0, 11)
    assert not d.partial[1] and kinds(d) == [OpcuaAnomaly.CHUNK_ABORTED]
    for i in range(MAX_CHUNKS + 1):
        d.feed(secure(b"y" * 10, 5, chunk=b"C"), 1, 0.0, 20 + i)
    assert kinds(d)[-1] == f"{OpcuaAnomaly.REASSEMBLY_LIMIT}-size" and 5 not in d.partial[1]
    for rid in range(100, 100 + MAX_PARTIAL + 1):
        d.feed(secure(b"z", rid, chunk=b"C"), 1, 0.0, 200 + rid)
    assert len(d.partial[1]) == MAX_PARTIAL and kinds(d)[-1] == f"{OpcuaAnomaly.REASSEMBLY_LIMIT}-messages"


def test_pending_requests_cap() -> None:
    d = opened()
    read = (bytes(12) + struct.pack("<i", 1) + b"\x02\x00\x00" + struct.pack("<II", 2261, 13) + s(None) + b"\0\0"
            + s(None))
    for h in range(70):
        d.feed(secure(nid(631) + req_header(h) + read, 10 + h), 0, 0.0, 10 + h)
    assert len(d.pending) <= 64 and OpcuaAnomaly.PENDING_REQUESTS_CAP in kinds(d)


# -- security -----------------------------------------------------------------------------------------------------
def test_encrypted_channel_is_flagged_with_its_policy() -> None:
    d = session((0, HEL), (1, ACK), (0, opn(POLICY_B256, rest=bytes(300))),
                (1, opn(POLICY_B256, rest=bytes(300), channel=9)))
    f = fields(d)
    assert f["opcua_security_policy"] == {"Basic256Sha256"} and "encrypted" not in f
    noise = bytes((i * 37 + 11) % 256 for i in range(200))
    d.feed(msg(b"MSG", struct.pack("<II", 9, 1) + noise), 0, 0.0, 20)
    d.feed(msg(b"MSG", struct.pack("<II", 9, 1) + noise), 1, 0.0, 21)
    f = fields(d)
    assert f["encrypted"] == {"opcua SignAndEncrypt Basic256Sha256"} and f["opcua_security_mode"] == {"SignAndEncrypt"}
    assert [x.who for x in d.out if x.field == "encrypted"] == [Who.SERVER]
    assert d.profile["msg encrypted"] == 2 and not d.anomalies


def test_signed_only_channel_is_still_decoded() -> None:
    d = session((0, HEL), (1, ACK), (0, opn(POLICY_B256, rest=bytes(300))))
    d.feed(READ_REQ + b"", 0, 0.0, 20)
    d.feed(msg(b"MSG", READ_RSP[8:] + bytes(32)), 1, 0.0, 21)       # signature (HMAC-SHA256) after the body
    f = fields(d)
    assert f["opcua_security_mode"] == {"Sign"} and "encrypted" not in f and f["product"] == {"SIMATIC S7-1500"}


def test_certificates_are_summarised_by_x509() -> None:
    from otscope.dissectors import x509
    der = _self_signed()
    if der is None:
        pytest.skip("cryptography not installed")
    cert = x509.summarize(der)
    assert cert is not None
    srv = app("urn:acme:x200", "urn:acme:product", "X200 OPC UA", 0)
    d = opened()
    d.feed(secure(nid(431) + rsp_header(1) + struct.pack("<i", 1) + endpoint("opc.tcp://h:4840", srv, cert=der), 3),
           1, 0.0, 11)
    f = fields(d)
    assert f["opcua_cert_subject"] == {cert.subject_text()} and f["opcua_cert_issuer"] == {cert.issuer_text()}
    assert f["opcua_cert_not_after"] == {cert.not_after}
    assert f["vendor"] == {"Acme Automation"}          # self-signed, SAN URI = its applicationUri, not an SDK's O
    d2 = opened()
    sdk = _self_signed(org="open62541")
    d2.feed(secure(nid(431) + rsp_header(1) + struct.pack("<i", 1) + endpoint("opc.tcp://h:4840", srv, cert=sdk), 3),
            1, 0.0, 11)
    assert "vendor" not in fields(d2) and fields(d2)["opcua_cert_subject"]
    d3 = opened()
    bad = endpoint("opc.tcp://h:4840", srv, cert=b"\x30\x03abc")
    d3.feed(secure(nid(431) + rsp_header(1) + struct.pack("<i", 1) + bad, 3), 1, 0.0, 11)
    assert kinds(d3) == [f"{OpcuaAnomaly.MALFORMED}-certificate"]


def _self_signed(org: str = "Acme Automation") -> bytes | None:
    try:
        import datetime

        from cryptography import x509 as cx
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return None
    key = ec.generate_private_key(ec.SECP256R1())
    name = cx.Name([cx.NameAttribute(NameOID.ORGANIZATION_NAME, org), cx.NameAttribute(NameOID.COMMON_NAME, "x200")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (cx.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1234).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(cx.SubjectAlternativeName([cx.UniformResourceIdentifier("urn:acme:x200")]), False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_encrypted_channel_without_its_open_is_decided_by_three_unreadable_chunks() -> None:
    noise = bytes((i * 53 + 7) % 256 for i in range(120))
    d = OpcUaDissector()
    for i in range(2):
        assert d.feed(msg(b"MSG", struct.pack("<II", 9, 1) + noise), 0, 0.0, 1 + i) == OK
    assert "encrypted" not in fields(d) and d.profile["msg unread"] == 2
    d.feed(msg(b"MSG", struct.pack("<II", 9, 1) + noise), 0, 0.0, 3)
    assert fields(d)["encrypted"] == {"opcua SignAndEncrypt (policy not seen)"}
    d.feed(msg(b"MSG", struct.pack("<II", 9, 1) + noise), 1, 0.0, 4)
    assert d.profile["msg encrypted"] == 2 and not d.anomalies
    assert d.feed(msg(b"MSG", b"\x09\x00"), 1, 0.0, 5) == FATAL      # not even a security header: not confirmed


def test_long_distinguished_names_are_bounded() -> None:
    from otscope.dissectors.opcua.facts import bounded
    assert len(bounded("CN=" + "x" * 1000)) == 256 and bounded("CN=a") == "CN=a"


def test_gap_reason_names_the_encrypted_session() -> None:
    from otscope.collector.merge import FactView, GapInput, gap_reason, summarize
    summ = summarize([FactView("protocol", "opcua-server", "opcua", 1)])
    reason, action = gap_reason(GapInput(1, summ, True, 7200, encrypted=True, is_client_only=False,
                                         encrypted_how="opcua SignAndEncrypt Basic256Sha256"))
    assert reason.startswith("encrypted session (opcua SignAndEncrypt Basic256Sha256)") and action
    reason, _ = gap_reason(GapInput(1, summ, True, 7200, encrypted=True, is_client_only=False))
    assert "S7comm-plus session switched to TLS" in reason                      # the S7 fact's older default


def test_a_server_refusing_the_hello_confirms_the_flow() -> None:
    d = session((0, HEL), (1, msg(b"ERR", struct.pack("<I", 0x80830000) + s("endpoint url invalid"))))
    assert d.confirmed and kinds(d) == [f"{OpcuaAnomaly.ERROR_MESSAGE}-0x80830000"]


def test_certificate_before_the_description_and_renewals() -> None:
    der = _self_signed()
    if der is None:
        pytest.skip("cryptography not installed")
    d = session((0, HEL), (1, ACK), (0, OPN_REQ), (1, opn(POLICY_B256, cert=der, rest=bytes(40), channel=9)),
                (1, opn(POLICY_B256, cert=der, rest=bytes(40), channel=9)))
    assert len([x for x in d.out if x.field == "opcua_cert_subject"]) == 1 and "vendor" not in fields(d)
    srv = app("urn:acme:x200", "urn:acme:product", "X200 OPC UA", 0)
    d.mode = 1                                                      # (a None channel follows on this test flow)
    d.feed(secure(nid(431) + rsp_header(1) + struct.pack("<i", 1) + endpoint("opc.tcp://h:4840", srv), 3), 1, 0, 20)
    assert [(x.value, x.frame) for x in d.out if x.field == "vendor"] == [("Acme Automation", 20)]


def test_a_client_certificate_never_gives_a_vendor() -> None:
    der = _self_signed()
    if der is None:
        pytest.skip("cryptography not installed")
    d = opened()
    body = (req_header(1) + app("urn:acme:x200", "urn:p", "HMI", 1) + s(None) + s("opc.tcp://h:4840") + s("S1")
            + s(None) + s(der))
    d.feed(secure(nid(461) + body, 3), 0, 0.0, 10)
    assert "vendor" not in fields(d) and {x.who for x in d.out if x.field == "opcua_cert_subject"} == {Who.CLIENT}


def test_thumbprint_is_of_the_first_certificate_of_a_chain() -> None:
    import hashlib

    from otscope.dissectors.opcua.facts import first_certificate
    der = _self_signed()
    if der is None:
        pytest.skip("cryptography not installed")
    assert first_certificate(der + _self_signed(org="Plant CA")) == der          # type: ignore[operator]
    assert first_certificate(b"\x30\x05ab") == b"\x30\x05ab" and first_certificate(b"\x31") == b"\x31"
    srv = app("urn:acme:x200", "urn:acme:product", "X200 OPC UA", 0)
    d = opened()
    d.feed(secure(nid(431) + rsp_header(1) + struct.pack("<i", 1) + endpoint("opc.tcp://h:4840", srv, cert=der), 3),
           1, 0.0, 11)
    assert fields(d)["opcua_cert_thumbprint"] == {hashlib.sha1(der).hexdigest()}
    assert fields(d)["opcua_cert_san"] == {"URI:urn:acme:x200"}
