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
    assert {(Who.SERVER, "vendor", "Acme", None), (Who.SERVER, "product_code", "Z10", None),
            (Who.SERVER, "firmware", "v1.24", None)} <= got


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
    assert (Who.SERVER, "vendor", "Schneider Electric", None) in got


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
