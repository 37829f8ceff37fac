"""EtherNet/IP + CIP grammar and dissector: ListIdentity, Get_Attributes_All through a route, malformed."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import FATAL, NEWS, OK, Malformed, Truncated, Who
from otscope.dissectors.enip.dissector import CipIoDissector, EnipDissector, EnipUdpDissector
from otscope.dissectors.enip.grammar import parse_epath, parse_header, parse_list_identity

CTX = b"ctx00001"


def encap(cmd: int, body: bytes = b"", context: bytes = CTX, session: int = 0x11223344, status: int = 0) -> bytes:
    return struct.pack("<HHII8sI", cmd, len(body), session, status, context, 0) + body


def identity_attrs(vendor=1, dtype=12, code=58, rev=(4, 3), status=0x30, serial=0x00524D8E, name=b"1756-ENBT/A",
                   state=3) -> bytes:
    return struct.pack("<HHHBBHI", vendor, dtype, code, rev[0], rev[1], status, serial) + bytes([len(name)]) + name \
        + bytes([state])


def list_identity_reply(ip=b"\x0a\x01\x01\xa4") -> bytes:
    item = struct.pack("<H", 1) + struct.pack(">hH", 2, 44818) + ip + b"\x00" * 8 + identity_attrs()
    return encap(0x63, struct.pack("<HHH", 1, 0x0C, len(item)) + item)


def rr_data(cip: bytes) -> bytes:
    cpf = struct.pack("<IHH", 0, 10, 2) + struct.pack("<HH", 0, 0) + struct.pack("<HH", 0xB2, len(cip)) + cip
    return encap(0x6F, cpf)


def unconnected_send(inner: bytes, slot: int) -> bytes:
    body = bytes([0x0A, 0xF0]) + struct.pack("<H", len(inner)) + inner + (b"\x00" if len(inner) & 1 else b"")
    body += bytes([1, 0, 0x01, slot])                       # route: port 1 (backplane), link = slot
    return bytes([0x52, 2, 0x20, 0x06, 0x24, 0x01]) + body


GET_ALL_IDENTITY = bytes([0x01, 2, 0x20, 0x01, 0x24, 0x01])


def test_header_and_list_identity() -> None:
    msg = list_identity_reply()
    h = parse_header(msg)
    assert (h.command, h.length) == (0x63, len(msg) - 24)
    (ident,) = parse_list_identity(msg[24:])
    assert (ident.vendor_id, ident.device_type, ident.product_code, ident.revision, ident.serial,
            ident.product_name, ident.state, ident.socket_ip) == (1, 12, 58, (4, 3), 0x524D8E, "1756-ENBT/A", 3,
                                                                   "10.1.1.164")


def test_list_identity_facts_over_tcp() -> None:
    d = EnipDissector()
    assert d.feed(encap(0x63), 0, 1.0, 1) in (OK, NEWS)
    assert d.feed(list_identity_reply(), 1, 1.0, 2) in (OK, NEWS)
    got = {(f.field, f.value) for f in d.out if f.who == Who.SERVER}
    assert {("vendor", "Rockwell Automation/Allen-Bradley"), ("product", "1756-ENBT/A"), ("firmware", "4.3"),
            ("serial", "0x00524d8e"), ("device_type", "Communications Adapter"), ("product_code", "58"),
            ("cip_socket_address", "10.1.1.164:44818")} <= got
    assert d.confirmed


def test_get_attributes_all_through_route_is_a_child() -> None:
    d = EnipDissector()
    d.feed(encap(0x65, b"\x01\x00\x00\x00"), 0, 1.0, 1)
    d.feed(encap(0x65, b"\x01\x00\x00\x00"), 1, 1.0, 2)
    req = rr_data(unconnected_send(GET_ALL_IDENTITY, slot=0))
    rsp = rr_data(bytes([0x81, 0, 0, 0]) + identity_attrs(dtype=14, code=166, rev=(32, 11), serial=0xDEADBEEF,
                                                           name=b"1756-L83E/B ControlLogix5583E"))
    d.feed(req, 0, 1.0, 3)
    d.feed(rsp, 1, 1.0, 4)
    child = {(f.field, f.value) for f in d.out if f.component == "slot:0"}
    assert {("product", "1756-L83E/B ControlLogix5583E"), ("firmware", "32.11"), ("serial", "0xdeadbeef"),
            ("role_hint", "plc")} <= child


def test_stream_split_everywhere_gives_the_same_facts() -> None:
    stream0 = encap(0x63)
    stream1 = list_identity_reply()
    ref = EnipDissector()
    ref.feed(stream0, 0, 1.0, 1)
    ref.feed(stream1, 1, 1.0, 2)
    for cut in range(1, len(stream1)):
        d = EnipDissector()
        d.feed(stream0, 0, 1.0, 1)
        d.feed(stream1[:cut], 1, 1.0, 2)
        d.feed(stream1[cut:], 1, 1.0, 2)
        assert {(f.field, f.value) for f in d.out} == {(f.field, f.value) for f in ref.out}


def test_control_action_marks_engineering() -> None:
    d = EnipDissector()
    stop = bytes([0x07, 2, 0x20, 0x01, 0x24, 0x01])
    d.feed(rr_data(stop), 0, 1.0, 1)
    got = {(f.who, f.field, f.value) for f in d.out}
    assert (Who.SERVER, "control_action", "stop (class 0x01)") in got
    assert (Who.CLIENT, "role_hint", "engineering-workstation") in got


def test_not_enip_is_rejected() -> None:
    d = EnipDissector()
    assert d.feed(b"\x16\x03\x01\x02\x00" + b"\x01" * 40, 0, 1.0, 1) == FATAL


def test_unknown_command_after_confirmation_kept_by_number() -> None:
    d = EnipDissector()
    d.feed(encap(0x63), 0, 1.0, 1)
    d.feed(list_identity_reply(), 1, 1.0, 2)
    d.feed(encap(0x0ABC), 0, 1.0, 3)
    assert d.profile["command 0x0abc"] == 1
    assert [a.kind for a in d.anomalies] == ["unknown-command-0x0abc"]


@pytest.mark.parametrize("raw", [list_identity_reply()[24:-3], list_identity_reply()[24:30]])
def test_list_identity_truncated(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        parse_list_identity(raw)


def test_epath_route_and_logical() -> None:
    p = parse_epath(bytes([0x01, 0x02, 0x20, 0x01, 0x24, 0x01, 0x30, 0x07]))
    assert (p.route, p.klass, p.instance, p.attribute) == ([(1, "2")], 1, 1, 7)
    with pytest.raises(Malformed):
        parse_epath(bytes([0xE0, 0x00]))


def test_udp_list_identity_and_io() -> None:
    d = EnipUdpDissector()
    assert d.feed(list_identity_reply(), 1, 1.0, 1) in (OK, NEWS)
    assert any(f.field == "product" for f in d.out)
    io = CipIoDissector()
    pkt = struct.pack("<HHHII", 2, 0x8002, 8, 0x1234, 1) + struct.pack("<HH", 0xB1, 6) + b"\x01\x00abcd"
    assert io.feed(pkt, 0, 1.0, 1) in (OK, NEWS) and io.feed(pkt, 1, 1.0, 2) in (OK, NEWS)
    assert io.confirmed
    assert CipIoDissector().feed(b"\xff" * 30, 0, 1.0, 1) == FATAL


# ---- a confirmed (or labelled) flow survives a command it does not know ----------------------------------

def test_unknown_command_is_skipped_by_its_length_and_identity_still_found() -> None:
    d = EnipDissector()
    d.feed(encap(0x65, b"\x01\x00\x00\x00"), 0, 1.0, 1)
    d.feed(encap(0x65, b"\x01\x00\x00\x00"), 1, 1.0, 2)                     # RegisterSession: confirmed
    assert d.confirmed
    unknown = encap(0x0001, b"\x00" * 30)                                    # Rockwell's undocumented 0x0001
    before = d.decoded
    # the unknown message and a ListIdentity request in one segment: the second is framed after the first
    assert d.feed(unknown + encap(0x63), 0, 1.0, 3) in (OK, NEWS)
    assert d.decoded - before == 24                                          # only the known message is decoded
    assert d.feed(list_identity_reply(), 1, 1.0, 4) in (OK, NEWS)
    assert [a.kind for a in d.anomalies] == ["unknown-command-0x0001"]
    assert d.profile["command 0x0001"] == 1
    got = {(f.field, f.value, f.frame) for f in d.out}
    assert {("product", "1756-ENBT/A", 4), ("serial", "0x00524d8e", 4)} <= got


def test_labelled_flow_survives_an_unknown_command() -> None:
    """A capture that starts mid-session: a well-formed SendRRData request labels the flow, then 0x0001."""
    d = EnipDissector()
    d.feed(rr_data(GET_ALL_IDENTITY), 0, 1.0, 1)
    assert d.labelled and not d.confirmed
    assert d.feed(encap(0x0001, b"\x01\x02"), 0, 1.0, 2) == OK
    rsp = rr_data(bytes([0x81, 0, 0, 0]) + identity_attrs(dtype=14, name=b"1756-L61/B LOGIX5561"))
    assert d.feed(rsp, 1, 1.0, 3) in (OK, NEWS)
    assert ("product", "1756-L61/B LOGIX5561") in {(f.field, f.value) for f in d.out}


def test_unknown_command_first_is_not_enip() -> None:
    d = EnipDissector()
    assert d.feed(encap(0x0001, b"\x00" * 4), 0, 1.0, 1) == FATAL
    assert d.fatal_reason == "not enip (command 0x0001)"


# ---- CIP device type: one table, a role with the type as evidence ---------------------------------------

@pytest.mark.parametrize("dtype, name, role", [
    (12, "Communications Adapter", "communications-module"),
    (14, "Programmable Logic Controller", "plc"),
    (0x18, "Human-Machine Interface", "hmi-scada"),
    (0x2C, "Managed Switch", "network-device"),
    (0x02, "AC Drive", "io-device"),
    (0x00, "Generic Device (deprecated)", None),
    (0x99, "unknown device type 153", None),
])
def test_device_type_gives_its_role(dtype: int, name: str, role: str | None) -> None:
    d = EnipDissector()
    d.feed(rr_data(GET_ALL_IDENTITY), 0, 1.0, 1)
    d.feed(rr_data(bytes([0x81, 0, 0, 0]) + identity_attrs(dtype=dtype)), 1, 1.0, 2)
    got = {(f.field, f.value): f.message for f in d.out if f.component is None}
    assert ("device_type", name) in got and ("cip_device_type", str(dtype)) in got
    roles = [(v, m) for (k, v), m in got.items() if k == "role_hint"]
    if role is None:
        assert roles == []
    else:
        assert roles == [(role, f"CIP Get_Attributes_All (Identity): CIP device type {dtype} ({name})")]


def test_device_type_single_attribute_gives_its_role() -> None:
    d = EnipDissector()
    d.feed(rr_data(bytes([0x0E, 3, 0x20, 0x01, 0x24, 0x01, 0x30, 0x02])), 0, 1.0, 1)   # Get_Attribute_Single 2
    d.feed(rr_data(bytes([0x8E, 0, 0, 0]) + struct.pack("<H", 12)), 1, 1.0, 2)
    got = {(f.field, f.value) for f in d.out}
    assert {("cip_device_type", "12"), ("device_type", "Communications Adapter"),
            ("role_hint", "communications-module")} <= got


def test_device_type_table_agrees_with_pycomm3() -> None:
    """The one table (constants.DEVICE_TYPES) against an independent copy of the CIP device-type names."""
    from pycomm3.cip.status_info import PRODUCT_TYPES

    from otscope.dissectors.base import Role
    from otscope.dissectors.enip.constants import DEVICE_TYPES

    shared = [code for code in DEVICE_TYPES if code in PRODUCT_TYPES]
    assert len(shared) >= 40                                  # pycomm3 lacks only the newest types (0x30, 0x33-0x35)
    for code in shared:
        assert PRODUCT_TYPES[code] == DEVICE_TYPES[code].name, code
    assert all(t.role is None or isinstance(t.role, Role) for t in DEVICE_TYPES.values())
