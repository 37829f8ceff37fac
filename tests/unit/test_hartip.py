"""HART-IP (HCF_SPEC-085) and the HART PDUs it carries: hex messages, the real capture's bytes, malformed cases,
confirmation, framing, devices behind a gateway."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.hartip.constants import HartAnomaly
from otscope.dissectors.hartip.dissector import HartIpTcp, HartIpUdp
from otscope.dissectors.hartip.grammar import (parse_cmd0, parse_cmd13, parse_cmd20, parse_header,
                                               parse_pass_through, unpack_ascii)

# ntop nDPI hart_ip.pcap frame 4: Pass Through Response, seq 3, command 0 from 264e0000d2 (tshark: expanded device
# type 0x264e, universal rev 7, device rev 4, software rev 1, device id 0000d2, manufacturer id 38)
FRAME4 = bytes.fromhex("010103000003002986264e0000d2001800d0fe264e050704010e0c0000d205020002d000260026" "84e4")


def hdr(msg_type: int, msg_id: int, seq: int, body: bytes = b"", version: int = 1, length: int | None = None) -> bytes:
    return struct.pack(">BBBBHH", version, msg_type, msg_id, 0, seq, 8 + len(body) if length is None else length) + body


def hart(delim: int, addr: bytes, cmd: int, data: bytes, rc: bytes = b"") -> bytes:
    """A HART PDU with its check byte (XOR from the delimiter, HCF_SPEC-081 5.1.6)."""
    body = bytes([delim]) + addr + bytes([cmd, len(rc) + len(data)]) + rc + data
    lrc = 0
    for b in body:
        lrc ^= b
    return body + bytes([lrc])


def pack_ascii(s: str) -> bytes:
    out = bytearray()
    for i in range(0, len(s), 4):
        n = 0
        for ch in s[i:i + 4]:
            n = n << 6 | (ord(ch) & 0x3F)
        out += n.to_bytes(3, "big")
    return bytes(out)


def cmd0_data(device_type: int = 0x264E, device_id: bytes = b"\x00\x00\xd2", manufacturer: int = 38) -> bytes:
    return (bytes([254]) + struct.pack(">H", device_type) + bytes([5, 7, 4, 1, 0x0E, 0x0C]) + device_id
            + bytes([5, 2, 0, 2, 0xD0]) + struct.pack(">HH", manufacturer, manufacturer) + b"\x84")


def long_addr(device_type: int, device_id: bytes, master: bool = True) -> bytes:
    return bytes([(device_type >> 8) | (0x80 if master else 0), device_type & 0xFF]) + device_id


def pt_req(seq: int, addr: bytes, cmd: int) -> bytes:
    return hdr(0, 3, seq, hart(0x82, addr, cmd, b""))


def pt_rsp(seq: int, addr: bytes, cmd: int, data: bytes, rc: bytes = b"\x00\x00") -> bytes:
    return hdr(1, 3, seq, hart(0x86, addr, cmd, data, rc))


INIT_REQ = hdr(0, 0, 2, b"\x01\x00\x00\x75\x30")
INIT_RSP = hdr(1, 0, 2, b"\x01\x00\x00\xea\x60")


def facts(d: HartIpTcp) -> dict[tuple[str, str | None], set[str]]:
    out: dict[tuple[str, str | None], set[str]] = {}
    for f in d.out:
        out.setdefault((f.field, f.component), set()).add(f.value)
    return out


def session(cls: type[HartIpTcp] = HartIpTcp) -> HartIpTcp:
    d = cls()
    assert d.feed(INIT_REQ, 0, 0.0, 1) == OK and d.feed(INIT_RSP, 1, 0.0, 2) == OK
    assert d.confirmed
    return d


def test_real_command0_response_as_tshark_decodes_it() -> None:
    h = parse_header(FRAME4)
    assert (h.version, h.msg_type, h.msg_id, h.sequence, h.length) == (1, 1, 3, 3, 41)
    pdu = parse_pass_through(FRAME4[8:])
    assert pdu.checksum_ok and pdu.long_address == "264e0000d2" and pdu.command == 0 and pdu.response_code == 0
    ident = parse_cmd0(pdu.data)
    assert (ident.expanded_device_type, ident.universal_revision, ident.device_revision, ident.software_revision,
            ident.device_id, ident.manufacturer_id) == (0x264E, 7, 4, 1, "0000d2", 38)
    assert ident.unique_id == "264e0000d2"


def test_packed_ascii() -> None:
    assert unpack_ascii(bytes(6)) == "@@@@@@@@"
    s = "@ABCDEFGHIJKLMNO/ !-#$%&'()*+,-."
    assert unpack_ascii(pack_ascii(s)) == s and len(pack_ascii(s)) == 24
    assert unpack_ascii(pack_ascii("TT-101  ")) == "TT-101  "


def test_command13_and_20_layouts() -> None:
    td = parse_cmd13(pack_ascii("FT-2001 ") + pack_ascii("MAIN STEAM FLOW ") + bytes([2, 12, 125]))
    assert (td.tag, td.descriptor, td.day, td.month, td.year) == ("FT-2001 ", "MAIN STEAM FLOW ", 2, 12, 2025)
    assert parse_cmd20(b"wihartgw" + bytes(24)) == "wihartgw"
    with pytest.raises(Truncated):
        parse_cmd13(bytes(20))
    with pytest.raises(Truncated):
        parse_cmd20(bytes(31))
    with pytest.raises(Malformed):
        parse_cmd0(bytes(12))                        # does not start with 254


@pytest.mark.parametrize("body, exc", [
    (b"\x82\x26", Truncated),                        # long address cut
    (b"\x85\x00\x00", Malformed),                    # frame type 5 is none of STX/ACK/BACK
    (b"\xff" * 21 + b"\x82", Malformed),             # preambles without bound
    (b"\x06\x00\x00\x01\x00", Malformed),            # response byte count < 2 (no response code/status)
])
def test_malformed_pass_through(body: bytes, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        parse_pass_through(body)


def test_session_confirms_labels_and_host_type() -> None:
    d = session()
    got = facts(d)
    assert got[("protocol", None)] == {"hartip-client", "hartip-server"}
    assert got[("hartip_host_type", None)] == {"primary"}
    assert {f.who for f in d.out if f.field == "hartip_host_type"} == {Who.CLIENT}


def test_a_response_alone_does_not_confirm() -> None:
    d = HartIpTcp()
    assert d.feed(INIT_RSP, 1, 0.0, 1) == OK and not d.confirmed


def test_other_bytes_on_the_port_are_not_hartip() -> None:
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", hdr(0, 0, 1, version=9), hdr(0, 0, 1, length=5),
                 hdr(7, 0, 1), hdr(0, 9, 1), hdr(0, 0, 1, length=60000)):
        d = HartIpTcp()
        assert d.feed(junk, 0, 0.0, 1) == FATAL, junk
        assert "not hart-ip" in d.fatal_reason


def test_identity_of_the_server_itself() -> None:
    d = session()
    addr = long_addr(0x264E, b"\x00\x00\xd2")
    d.feed(pt_req(3, addr, 0), 0, 0.0, 3)
    d.feed(pt_rsp(3, addr, 0, cmd0_data()), 1, 0.0, 4)
    d.feed(pt_req(4, addr, 13), 0, 0.0, 5)
    d.feed(pt_rsp(4, addr, 13, bytes(18) + bytes([1, 1, 100])), 1, 0.0, 6)
    d.feed(pt_req(5, addr, 20), 0, 0.0, 7)
    d.feed(pt_rsp(5, addr, 20, b"wihartgw".ljust(32, b"\x00")), 1, 0.0, 8)
    got = facts(d)
    assert got[("model", None)] == {"0x264e"} and got[("serial", None)] == {"0000d2"}
    assert got[("firmware", None)] == {"1"} and got[("hart_manufacturer_id", None)] == {"38"}
    assert got[("hart_address", None)] == {"264e0000d2"} and got[("hart_universal_revision", None)] == {"7"}
    assert got[("hart_tag", None)] == {"@@@@@@@@"} and got[("name", None)] == {"wihartgw"}   # a blank tag is no name
    assert got[("hart_date", None)] == {"2000-01-01"}
    assert "vendor" not in {f for f, _ in got} and ("role_hint", None) not in got
    frames = {f.field: f.frame for f in d.out}
    assert frames["serial"] == 4 and frames["hart_tag"] == 6 and frames["name"] == 8


def test_several_devices_make_a_gateway_with_components() -> None:
    d = session()
    gw = b"\x00"                                     # polling address 0: the server's own identity
    d.feed(hdr(0, 3, 3, hart(0x02, gw, 0, b"")), 0, 0.0, 3)
    d.feed(hdr(1, 3, 3, hart(0x06, gw, 0, cmd0_data(0x264E, b"\x00\x00\xd2"), b"\x00\x00")), 1, 0.0, 4)
    field = long_addr(0x2611, b"\x01\x02\x03")
    d.feed(pt_req(4, field, 0), 0, 0.0, 5)
    d.feed(pt_rsp(4, field, 0, cmd0_data(0x2611, b"\x01\x02\x03")), 1, 0.0, 6)
    d.feed(pt_req(5, field, 13), 0, 0.0, 7)
    d.feed(pt_rsp(5, field, 13, pack_ascii("TT-101  ") + pack_ascii("REACTOR TEMP    ") + bytes(3)), 1, 0.0, 8)
    got = facts(d)
    assert got[("serial", None)] == {"0000d2"} and got[("hart_address", None)] == {"264e0000d2"}
    assert got[("serial", "hart:2611010203")] == {"010203"} and got[("name", "hart:2611010203")] == {"TT-101"}
    assert got[("description", "hart:2611010203")] == {"REACTOR TEMP"}
    assert ("hart_date", "hart:2611010203") not in got                   # day/month 0: no date
    assert got[("role_hint", None)] == {"gateway"}


def test_one_device_is_not_a_gateway() -> None:
    d = session()
    addr = long_addr(0x264E, b"\x00\x00\xd2")
    for seq in (3, 4):
        d.feed(pt_req(seq, addr, 0), 0, 0.0, seq)
        d.feed(pt_rsp(seq, addr, 0, cmd0_data()), 1, 0.0, seq)
    assert ("role_hint", None) not in facts(d) and all(f.component is None for f in d.out)


def test_bad_checksum_is_counted_and_gives_no_identity() -> None:
    d = session()
    addr = long_addr(0x264E, b"\x00\x00\xd2")
    rsp = bytearray(pt_rsp(3, addr, 0, cmd0_data()))
    rsp[-1] ^= 0xFF
    d.feed(pt_req(3, addr, 0), 0, 0.0, 3)
    d.feed(bytes(rsp), 1, 0.0, 4)
    assert [a.kind for a in d.anomalies] == [HartAnomaly.BAD_CHECKSUM] and ("serial", None) not in facts(d)


def test_error_answers_and_short_layouts() -> None:
    d = session()
    addr = long_addr(0x264E, b"\x00\x00\xd2")
    d.feed(pt_req(3, addr, 13), 0, 0.0, 3)
    d.feed(pt_rsp(3, addr, 13, b"", rc=b"\x40\x00"), 1, 0.0, 4)        # rc 64 command not implemented: no data
    d.feed(pt_req(4, addr, 13), 0, 0.0, 5)
    d.feed(pt_rsp(4, addr, 13, bytes(10)), 1, 0.0, 6)                  # success with a cut layout
    d.feed(pt_req(5, addr, 0), 0, 0.0, 7)
    d.feed(pt_rsp(5, addr, 0, cmd0_data(), rc=b"\x82\x00"), 1, 0.0, 8)  # communication error: data ignored
    assert [a.kind for a in d.anomalies] == [f"{HartAnomaly.SHORT_RESPONSE}-13"] and ("serial", None) not in facts(d)


def test_after_confirmation_unknown_ids_and_lying_lengths_are_anomalies() -> None:
    d = session()
    assert d.feed(hdr(0, 9, 3, b"xx"), 0, 0.0, 3) == OK                # unknown message id: skipped by its count
    assert d.feed(hdr(0, 2, 4), 0, 0.0, 4) == OK and d.feed(hdr(1, 2, 4), 1, 0.0, 5) == OK
    assert [a.kind for a in d.anomalies] == [f"{HartAnomaly.UNKNOWN_MESSAGE_ID}-9"]
    assert d.profile["keep-alive"] == 1
    for i in range(2):
        assert d.feed(hdr(0, 2, 5, version=9), 0, 0.0, 6 + i) == OK
    assert d.feed(hdr(0, 2, 5, version=9), 0, 0.0, 9) == FATAL
    assert [a.kind for a in d.anomalies][1:] == [HartAnomaly.BAD_VERSION] * 3


def test_tcp_reassembly_by_byte_count() -> None:
    d = HartIpTcp()
    both = INIT_REQ + pt_req(3, long_addr(0x264E, b"\x00\x00\xd2"), 0)
    assert d.feed(both[:5], 0, 0.0, 1) == INCOMPLETE
    assert d.feed(both[5:20], 0, 0.0, 2) == INCOMPLETE
    assert d.feed(both[20:], 0, 0.0, 3) == OK and d.profile == {"session-initiate": 1, "pass-through": 1, "cmd 0": 1}


def test_udp_datagrams_hold_whole_messages() -> None:
    d = session(HartIpUdp)
    assert d.feed(hdr(0, 2, 3) + hdr(0, 2, 4), 0, 0.0, 3) == OK and d.profile["keep-alive"] == 2
    assert d.feed(hdr(0, 2, 5) + b"\x01\x00", 0, 0.0, 4) == OK
    assert [a.kind for a in d.anomalies] == [HartAnomaly.TRAILING_BYTES]
    assert d.feed(hdr(0, 2, 6, length=40), 0, 0.0, 5) == OK            # byte count past the datagram
    assert d.anomalies[-1].kind == HartAnomaly.BAD_LENGTH
    assert HartIpUdp().feed(hdr(0, 0, 1) + b"\x00", 0, 0.0, 1) == FATAL


def test_pending_requests_are_bounded() -> None:
    d = session()
    for seq in range(100, 100 + 70):
        d.feed(hdr(0, 2, seq), 0, 0.0, seq)
    assert len(d.pending) <= 64 and HartAnomaly.PENDING_REQUESTS_CAP in [a.kind for a in d.anomalies]


def test_device_addresses_are_bounded() -> None:
    d = session()
    for i in range(70):
        addr = long_addr(0x2600 + i, b"\x00\x00\x01")
        d.feed(pt_req(3 + i, addr, 0), 0, 0.0, 3 + i)
        d.feed(pt_rsp(3 + i, addr, 0, cmd0_data(0x2600 + i, b"\x00\x00\x01")), 1, 0.0, 3 + i)
    assert len(d.devices) == 64 and HartAnomaly.DEVICES_LIMIT in [a.kind for a in d.anomalies]


def test_a_request_from_the_server_side_is_no_answer() -> None:
    d = HartIpTcp()
    d.feed(INIT_REQ, 0, 0.0, 1)
    assert d.feed(hdr(0, 0, 2, b"\x01\x00\x00\xea\x60"), 1, 0.0, 2) == OK and not d.confirmed
    assert d.profile["session-initiate request from server"] == 1
