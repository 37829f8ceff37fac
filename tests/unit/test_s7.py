"""TPKT/COTP/S7comm/S7comm-plus grammar and dissector: TSAPs, SZL records, session strings, malformed."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, NEWS, OK, Malformed, Truncated, Who
from otscope.dissectors.s7.dissector import S7Dissector
from otscope.dissectors.s7.grammar import ModuleId, parse_cotp, parse_module_id, parse_s7, parse_szl, session_identity


def tpkt(cotp_and_data: bytes) -> bytes:
    return struct.pack(">BBH", 3, 0, len(cotp_and_data) + 4) + cotp_and_data


def cr(called: bytes, calling: bytes = b"\x01\x00") -> bytes:
    params = b"\xc0\x01\x0a" + b"\xc1" + bytes([len(calling)]) + calling + b"\xc2" + bytes([len(called)]) + called
    fixed = b"\xe0\x00\x00\x00\x01\x00" + params
    return tpkt(bytes([len(fixed)]) + fixed)


CC = tpkt(bytes.fromhex("11d00001000100c0010ac1020100c2020102"))


def dt(s7: bytes, eot: bool = True) -> bytes:
    return tpkt(b"\x02\xf0" + (b"\x80" if eot else b"\x00") + s7)


def userdata_szl_response(szl_id: int, index: int, rec_len: int, records: list[bytes], seq: int = 1) -> bytes:
    szl = struct.pack(">HHHH", szl_id, index, rec_len, len(records)) + b"".join(records)
    data = b"\xff\x09" + struct.pack(">H", len(szl)) + szl
    params = bytes.fromhex("000112") + b"\x08" + bytes([0x12, 0x84, 0x01, seq, 0, 0, 0, 0])
    return struct.pack(">BBHHHH", 0x32, 7, 0, 0x100, len(params), len(data)) + params + data


def szl11(index: int, mlfb: bytes, ausbg: int, ausbe: int) -> bytes:
    return struct.pack(">H20sHHH", index, mlfb.ljust(20, b" "), 0, ausbg, ausbe)


def szl1c(index: int, value: bytes) -> bytes:
    return struct.pack(">H", index) + value.ljust(32, b"\x00")


SETUP_JOB = bytes.fromhex("320100000000000800" "00" "f0000001000101e0")


def connected(d: S7Dissector, called: bytes = b"\x01\x02") -> None:
    assert d.feed(cr(called), 0, 1.0, 1) in (OK, NEWS)
    assert d.feed(CC, 1, 1.0, 2) in (OK, NEWS)


def test_cotp_cr_params() -> None:
    c = parse_cotp(cr(b"\x01\x02")[4:])
    assert c.pdu_type == 0xE0 and (0xC2, b"\x01\x02") in c.params


def test_pg_connection_rack_slot_and_role() -> None:
    d = S7Dissector()
    connected(d)
    d.feed(dt(SETUP_JOB), 0, 1.0, 3)
    got = {(f.who, f.field, f.value) for f in d.out}
    assert (Who.SERVER, "s7_rack_slot", "rack 0 slot 2") in got
    assert (Who.CLIENT, "role_hint", "engineering-workstation") in got
    assert (Who.CLIENT, "s7_connection_type", "PG") in got


def test_text_tsap_hmi() -> None:
    d = S7Dissector()
    d.feed(cr(b"SIMATIC-ROOT-HMI", b"\x06\x20"), 0, 1.0, 1)
    assert (Who.CLIENT, "role_hint", "hmi-scada") in {(f.who, f.field, f.value) for f in d.out}


def test_szl_0011_order_number_and_firmware() -> None:
    d = S7Dissector()
    connected(d)
    recs = [szl11(1, b"6ES7 151-8AB01-0AB0", 0x0003, 0x0001), szl11(7, b"", 0x5603, 0x0206)]
    d.feed(dt(userdata_szl_response(0x0011, 0, 28, recs)), 1, 1.0, 3)
    got = {(f.field, f.value) for f in d.out if f.who == Who.SERVER}
    assert {("order_number", "6ES7 151-8AB01-0AB0"), ("firmware", "V3.2.6"), ("vendor", "Siemens")} <= got


def test_szl_001c_component_identification() -> None:
    d = S7Dissector()
    connected(d)
    recs = [szl1c(1, b"IM151-8-CPU"), szl1c(2, b"IM151-8 PN/DP CPU"), szl1c(5, b"S C-C6TW74882012"),
            szl1c(7, b"IM151-8 PN/DP CPU"), szl1c(4, b"Original Siemens Equipment")]
    d.feed(dt(userdata_szl_response(0x001C, 0, 34, recs)), 1, 1.0, 3)
    got = {(f.field, f.value) for f in d.out if f.who == Who.SERVER}
    assert {("name", "IM151-8-CPU"), ("serial", "S C-C6TW74882012"), ("product", "IM151-8 PN/DP CPU")} <= got


def test_fragmented_cotp_dt_is_reassembled() -> None:
    d = S7Dissector()
    connected(d)
    s7 = userdata_szl_response(0x0011, 0, 28, [szl11(1, b"6ES7 516-3AN01-0AB0", 0, 0)])
    assert d.feed(dt(s7[:20], eot=False), 1, 1.0, 3) in (OK, NEWS)
    assert d.feed(dt(s7[20:]), 1, 1.0, 4) in (OK, NEWS)
    assert ("order_number", "6ES7 516-3AN01-0AB0") in {(f.field, f.value) for f in d.out}


def test_tpkt_split_across_segments() -> None:
    d = S7Dissector()
    msg = cr(b"\x01\x02")
    assert d.feed(msg[:3], 0, 1.0, 1) == INCOMPLETE
    assert d.feed(msg[3:], 0, 1.0, 2) in (OK, NEWS)


def test_module_id_version() -> None:
    assert ModuleId(7, "", 0, 0x5602, 0x0803).version == "V2.8.3"
    with pytest.raises(Malformed):
        parse_module_id(b"\x00" * 26)                  # the stock snap7 server's 26-byte records


def test_s7plus_session_string() -> None:
    body = b"\x00\x82\x3f\x00\x15\x1b" + b"1;6ES7 211-1BE31-0XB0 ;V3.0" + b"\x00"
    assert session_identity(body) == ("6ES7 211-1BE31-0XB0", "V3.0")
    d = S7Dissector()
    connected(d, b"SIMATIC-ROOT-HMI")
    plus = bytes([0x72, 1]) + struct.pack(">H", len(body) + 5) + bytes([0x32, 0, 0]) + b"\x04\xca" + body
    d.feed(dt(plus), 1, 1.0, 3)
    got = {(f.field, f.value, f.protocol) for f in d.out}
    assert ("order_number", "6ES7 211-1BE31-0XB0", "s7comm-plus") in got
    assert ("firmware", "V3.0", "s7comm-plus") in got


def test_init_ssl_records_encryption() -> None:
    d = S7Dissector()
    connected(d, b"SIMATIC-ROOT-ES")
    d.feed(dt(bytes([0x72, 3, 0, 8, 0x31, 0, 0, 0x05, 0xB3, 0, 0, 0])), 0, 1.0, 3)
    assert ("encrypted", Who.SERVER) in {(f.field, f.who) for f in d.out}


def test_not_iso_on_tcp_is_rejected() -> None:
    assert S7Dissector().feed(b"SSH-2.0-OpenSSH_9.2\r\n", 0, 1.0, 1) == FATAL


@pytest.mark.parametrize("raw", [b"\x32\x01", b"\x31" + b"\x00" * 11, bytes.fromhex("3209000000000000000000")])
def test_s7_header_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        parse_s7(raw)


def test_szl_truncated_records_are_dropped_not_invented() -> None:
    z = parse_szl(struct.pack(">HHHH", 0x11, 0, 28, 3) + b"\x00" * 40)
    assert len(z.records) == 1
