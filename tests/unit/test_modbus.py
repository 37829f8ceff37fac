"""Modbus/TCP grammar and per-flow dissector: hex cases, segmentation, malformed ADUs, non-Modbus on 502."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated, Who
from otscope.dissectors.modbus.dissector import ModbusDissector
from otscope.dissectors.modbus.grammar import (parse_device_id_request, parse_device_id_response, parse_mbap,
                                               parse_report_server_id, printable_runs)

READ_REQ = bytes.fromhex("000100000006" "01" "03" "0000" "000a")
READ_RSP = bytes.fromhex("000100000007" "01" "03" "04" "00010002")
# FC43/14 read code 1 (basic), as pymodbus answers (../shared/docs/protocol-libs.md section 1)
DEVID_REQ = bytes.fromhex("000b00000005" "01" "2b0e0100")
DEVID_RSP = bytes.fromhex("000b0000001a" "01" "2b0e" "01" "81" "00" "00" "03"
                          "0004" "41636d65" "0103" "5a3130" "0205" "76312e3234")    # Acme / Z10 / v1.24
EXC_RSP = bytes.fromhex("00020000000301" "83" "02")


def feed_all(d: ModbusDissector, msgs: list[tuple[int, bytes]]) -> list[int]:
    return [d.feed(m, side, 1.0, i + 1) for i, (side, m) in enumerate(msgs)]


def facts(d: ModbusDissector) -> set[tuple[int, str, str, str | None]]:
    return {(f.who, f.field, f.value, f.component) for f in d.out}


def test_mbap() -> None:
    h = parse_mbap(READ_REQ)
    assert (h.transaction_id, h.protocol_id, h.length, h.unit_id) == (1, 0, 6, 1)


@pytest.mark.parametrize("raw", [READ_REQ[:6], bytes.fromhex("0001000100060103"), bytes.fromhex("00010000000101")])
def test_mbap_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        parse_mbap(raw)


def test_device_id_request_and_response() -> None:
    assert parse_device_id_request(DEVID_REQ[7:]).read_code == 1
    rsp = parse_device_id_response(DEVID_RSP[7:])
    assert (rsp.read_code, rsp.conformity, rsp.more_follows) == (1, 0x81, False)
    assert dict(rsp.objects) == {0: b"Acme", 1: b"Z10", 2: b"v1.24"}


@pytest.mark.parametrize("pdu", [
    DEVID_RSP[7:-2],                                     # object shorter than its length
    DEVID_RSP[7:] + b"\x00",                             # trailing byte
    bytes.fromhex("2b0e0101004d0000"),                   # MoreFollows 0x4D (the modbus-eit.pcap answer)
    bytes.fromhex("2b0e0901000000"),                     # read code 9
])
def test_device_id_response_malformed(pdu: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        parse_device_id_response(pdu)


def test_report_server_id_text() -> None:
    sid = parse_report_server_id(bytes.fromhex("11") + bytes([17]) + b"\xfa\xffPM710PowerMeter")
    assert printable_runs(sid.data) == ["PM710PowerMeter"]


def test_poll_confirms_and_profiles() -> None:
    d = ModbusDissector()
    assert feed_all(d, [(0, READ_REQ), (1, READ_RSP)]) == [OK, NEWS]      # NEWS: confirmed, a spec is offered
    assert d.confirmed and d.profile["read"] == 1
    assert d.fast_spec is not None and d.spec_changed
    assert (Who.SERVER, "protocol", "modbus-server", None) in facts(d)
    assert d.decoded == len(READ_REQ) + len(READ_RSP)


def test_device_identification_facts() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, DEVID_REQ), (1, DEVID_RSP)])
    got = facts(d)
    assert {(Who.SERVER, "vendor", "Acme", "unit:1"), (Who.SERVER, "product_code", "Z10", "unit:1"),
            (Who.SERVER, "firmware", "v1.24", "unit:1")} <= got


def test_several_adus_in_one_segment_and_one_split() -> None:
    d = ModbusDissector()
    stream = READ_REQ + DEVID_REQ
    assert d.feed(stream, 0, 1.0, 1) == OK
    rsp = READ_RSP + DEVID_RSP
    assert d.feed(rsp[:10], 1, 1.0, 2) == INCOMPLETE
    assert d.fast_spec is None                                   # a partial ADU is buffered: no fast path
    assert d.feed(rsp[10:], 1, 1.0, 3) == NEWS
    assert ("vendor", "Acme") in {(f.field, f.value) for f in d.out}


def test_exception_recorded_per_function() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, bytes.fromhex("000200000006010300000001")), (1, EXC_RSP)])
    assert d.profile["exception fc3 code 2"] == 1


def test_non_modbus_on_502_is_rejected() -> None:
    d = ModbusDissector()
    assert d.feed(b"GET / HTTP/1.1\r\nHost: plc\r\n\r\n", 0, 1.0, 1) == FATAL
    assert "not modbus" in d.fatal_reason
    assert not d.out


def test_lying_length_after_confirmation_is_an_anomaly_then_resync() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, READ_REQ), (1, READ_RSP)])
    liar = READ_REQ[:4] + b"\x7f\xff" + READ_REQ[6:]
    assert d.feed(liar, 0, 1.0, 3) in (OK, NEWS)
    assert [a.kind for a in d.anomalies] == ["bad-mbap-length"]
    assert d.feed(READ_REQ, 0, 1.0, 4) in (OK, NEWS)                     # framing resumes at the next segment


def test_gateway_units_become_children() -> None:
    d = ModbusDissector()
    for unit in (1, 2, 3):
        req = bytearray(READ_REQ)
        req[6] = unit
        req[1] = unit
        rsp = bytearray(READ_RSP)
        rsp[6] = unit
        rsp[1] = unit
        feed_all(d, [(0, bytes(req)), (1, bytes(rsp))])
    got = facts(d)
    assert (Who.SERVER, "role_hint", "gateway", None) in got
    assert {(Who.SERVER, "protocol", "modbus-server", f"unit:{u}") for u in (1, 2, 3)} <= got


def test_umas_marks_engineering_and_schneider() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, bytes.fromhex("000500000004015a0002")), (1, bytes.fromhex("000500000004015a00fe"))])
    got = facts(d)
    assert (Who.CLIENT, "role_hint", "engineering-workstation", None) in got
    assert (Who.SERVER, "vendor", "Schneider Electric", "unit:1") in got


def mbap(tid: int, pdu: bytes, unit: int = 1) -> bytes:
    import struct

    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def test_more_follows_continuation_collects_every_object() -> None:
    d = ModbusDissector()
    msgs = [(0, mbap(16, bytes.fromhex("2b0e0300"))),
            (1, mbap(16, bytes.fromhex("2b0e0383ff8002") + b"\x00\x04Acme" + b"\x80\x01A")),    # more follows
            (0, mbap(17, bytes.fromhex("2b0e0381"))),                                             # from 0x81 on
            (1, mbap(17, bytes.fromhex("2b0e0383000001") + b"\x81\x03SN1"))]
    for side, m in msgs:
        d.feed(m, side, 1.0, 1)
    got = {(f.field, f.value) for f in d.out}
    assert {("vendor", "Acme"), ("modbus_object_0x80", "A"), ("modbus_object_0x81", "SN1")} <= got
    assert d.profile["fc43 more follows"] == 1


# ---- every answer credited to the unit of its own MBAP header (interfaces.md, Modbus) ----------------------

def devid_rsp(tid: int, unit: int, vendor: bytes) -> bytes:
    return mbap(tid, bytes.fromhex("2b0e0181000001") + b"\x00" + bytes([len(vendor)]) + vendor, unit)


@pytest.mark.parametrize("unit, comp", [(1, "unit:1"), (5, "unit:5"), (247, "unit:247"), (0, None), (255, None),
                                        (248, None)])
def test_answer_facts_carry_their_own_unit(unit: int, comp: str | None) -> None:
    d = ModbusDissector()
    feed_all(d, [(0, mbap(3, bytes.fromhex("2b0e0100"), unit)), (1, devid_rsp(3, unit, b"Acme"))])
    assert (Who.SERVER, "vendor", "Acme", comp) in facts(d)
    servers = {f.component for f in d.out if f.field == "protocol" and f.value == "modbus-server"}
    assert servers == ({None, comp} if comp else {None})          # the flow label, and the unit that answered


def test_two_units_each_keep_their_own_identity() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, mbap(1, bytes.fromhex("2b0e0100"), 3)), (1, devid_rsp(1, 3, b"Acme")),
                 (0, mbap(2, bytes.fromhex("2b0e0100"), 9)), (1, devid_rsp(2, 9, b"Brand"))])
    got = {(f.field, f.value, f.component) for f in d.out}
    assert {("vendor", "Acme", "unit:3"), ("vendor", "Brand", "unit:9")} <= got
    assert not {("vendor", "Acme", "unit:9"), ("vendor", "Brand", "unit:3"), ("vendor", "Acme", None)} & got
    assert ("role_hint", "gateway", None) in got                       # several units answer this address


def test_modbus_server_once_per_unit() -> None:
    d = ModbusDissector()
    for tid in range(1, 6):
        feed_all(d, [(0, mbap(tid, bytes.fromhex("0300000001"), 4)),
                     (1, mbap(tid, bytes.fromhex("03020007"), 4))])
    assert [f.component for f in d.out if f.value == "modbus-server" and f.component] == ["unit:4"]


def test_write_to_a_unit_that_never_answers_is_listed_once() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, READ_REQ), (1, READ_RSP)])                          # unit 1 answers: confirmed
    for tid in range(10, 14):
        d.feed(mbap(tid, bytes.fromhex("06000100ff"), 9), 0, 1.0, tid)    # FC6 to unit 9, never answered
    d.feed(mbap(20, bytes.fromhex("06000100ff"), 1), 0, 1.0, 20)         # unit 1 has answered: nothing new
    d.feed(mbap(21, bytes.fromhex("0f000000080101"), 255), 0, 1.0, 21)   # unit 255 is the device itself
    units = [(f.value, f.component, f.message, f.frame) for f in d.out if f.field == "modbus_unit"]
    assert units == [("9", "unit:9", "Modbus write to unit 9", 10)]
    assert d.writes == 6


def test_write_spec_only_for_the_one_known_unit() -> None:
    """The C fast path may count writes only to a unit already known; a write elsewhere must reach feed()."""
    d = ModbusDissector()
    feed_all(d, [(0, READ_REQ), (1, READ_RSP)])
    specs = d.fast_spec
    assert isinstance(specs, list) and len(specs) == 2
    assert specs[1][4][-2:] == bytes((6, 1))                              # writes: byte 6 (unit) fixed to 1
    assert specs[0][6][6] == 255                                          # no spec counts an FC6 to any unit
    d.feed(mbap(9, bytes.fromhex("06000100ff"), 2), 0, 1.0, 9)
    assert isinstance(d.fast_spec, list) and len(d.fast_spec) == 1       # two units known: writes go to feed()


def test_gateway_exception_has_no_component() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, mbap(1, bytes.fromhex("0300000001"), 12)), (1, mbap(1, bytes.fromhex("830b"), 12))])
    assert {(f.field, f.value, f.component) for f in d.out if f.field == "role_hint"} == {("role_hint", "gateway",
                                                                                            None)}
    assert not any(f.component for f in d.out)                           # an exception is not an answer


# FC17 answer of the Wingpath simulator in ITI modbus_test_data_part1.pcap frame 41 (unit 10)
WINGPATH_FC17 = bytes.fromhex("0000000000150a111200ff57696e6770617468204c696d69746564")


def test_report_server_id_text_on_its_unit() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, bytes.fromhex("0000000000020a11")), (1, WINGPATH_FC17)])
    got = {(f.field, f.value, f.component) for f in d.out if f.field.startswith("modbus_server_id")}
    assert got == {("modbus_server_id_raw", "00ff57696e6770617468204c696d69746564", "unit:10"),
                   ("modbus_server_id_text", "Wingpath Limited", "unit:10")}
    assert not any(f.field in ("vendor", "product") for f in d.out)     # the layout is device specific


@pytest.mark.parametrize("data, runs", [
    (b"\x01\xff PM710PowerMeter \x00", ["PM710PowerMeter"]),
    (b"\x20\x31\x7e\x00\x33\x34\x35\x36\x37", []),                      # printable binary, no letters: not text
    (b"\x00ab\x00", []),                                                 # too short
    (b"\x00" + b"A" * 200, ["A" * 128]),                                # bounded
])
def test_printable_runs_are_text_only(data: bytes, runs: list[str]) -> None:
    assert printable_runs(data) == runs


def test_confirmed_flow_survives_unknown_functions() -> None:
    d = ModbusDissector()
    feed_all(d, [(0, READ_REQ), (1, READ_RSP)])
    for fc in (0x41, 0x64, 0x7F):                                       # user-defined / unassigned codes
        assert d.feed(mbap(50 + fc, bytes([fc]) + b"\xde\xad\xbe\xef"), 0, 1.0, 5) in (OK, NEWS)
        assert d.feed(mbap(50 + fc, bytes([fc]) + b"\x01"), 1, 1.0, 6) in (OK, NEWS)
    assert d.feed(DEVID_REQ, 0, 1.0, 7) in (OK, NEWS) and d.feed(DEVID_RSP, 1, 1.0, 8) in (OK, NEWS)
    assert ("vendor", "Acme", 8) in {(f.field, f.value, f.frame) for f in d.out}
    assert d.profile["fc100"] == 1 and not d.fatal_reason
