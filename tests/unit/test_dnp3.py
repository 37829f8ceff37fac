"""DNP3 (IEEE 1815) hex unit tests: CRC and link framing, roles from the DIR bit, transport reassembly, the
function profile, group 0 device attributes, and malformed input as counted anomalies."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.dnp3 import SPEC
from otscope.dissectors.dnp3.constants import MAX_REASSEMBLY_BYTES, Dnp3Anomaly, profile_key
from otscope.dissectors.dnp3.dissector import Dnp3Dissector, Dnp3UdpDissector
from otscope.dissectors.dnp3.grammar import (BadHeaderCrc, BadLength, BadStart, build_frame, crc16,
                                             frame_size, parse_apdu, parse_device_attributes, parse_link_frame)

# ITI read_and_response.pcap frame 4: master 1 -> outstation 10, READ class 1/2/3/0 (tshark: dnp3.src 1, dst 10)
READ_CLASS = bytes.fromhex("056414c40a0001008fedc0c0013c02063c03063c04063c01068a51")
# frames 6 and 8 of the same capture: one response in two transport segments (FIR seq 19, then FIN seq 20)
RSP_1 = bytes.fromhex(
    "0564ff4401000a005aeb53c081000001020000090202020202022d3a0202020203020000090202020202020270da02020214010000"
    "090200000000020000e30b000002000000000200000000020000004dba000200000000020000000002000000007eae0200000000"
    "0200000000150100000902d3420000000002000000000200000000020069ce00000002000000000200000000020000dd5e000002"
    "000000000200000000020000004dba001e0100000902000000000200000000cd630200000000020000000002000000000"
    "2f0030000000002000000000200000000020069ce00000002000000000a0200000902020217100202020202020228010000090200"
    "000058e4000200000000020000000002000000007eae020000000002000000004e72")
RSP_2 = bytes.fromhex("05641a4401000a00af5d9402000000000200000000020000000066420200000000f3b9")

MASTER_CTL = 0xC4        # DIR=1 PRM=1 unconfirmed user data
OUTSTATION_CTL = 0x44    # DIR=0 PRM=1 unconfirmed user data


def attr(var: int, value: bytes, dtype: int = 1) -> bytes:
    """A group 0 object, qualifier 0x00 (8-bit start/stop 0..0), one attribute (A.1)."""
    return bytes((0, var, 0x00, 0, 0, dtype, len(value))) + value


G0_RESPONSE = bytes((0xC0 | 3, 0x81, 0, 0)) + attr(252, b"Schweitzer Engineering Laboratories") + \
    attr(250, b"SEL-3505") + attr(243, b"R149-V2") + attr(242, b"3505-01") + attr(248, b"1234567") + \
    attr(247, b"feeder-7") + attr(245, b"Substation North")
G0_READ = bytes((0xC3, 0x01, 0x00, 0xFE, 0x06))          # READ g0v254, qualifier 0x06 (all)


def segments(apdu: bytes, dst: int, src: int, ctl: int, size: int = 249, seq: int = 0) -> list[bytes]:
    """An application fragment cut into transport segments (FIR on the first, FIN on the last), each a frame."""
    chunks = [apdu[i:i + size] for i in range(0, len(apdu), size)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        th = (0x40 if i == 0 else 0) | (0x80 if i == len(chunks) - 1 else 0) | ((seq + i) & 0x3F)
        out.append(build_frame(ctl, dst, src, bytes([th]) + chunk))
    return out


def request(apdu: bytes, dst: int = 10, src: int = 1) -> bytes:
    return b"".join(segments(apdu, dst, src, MASTER_CTL))


def response(apdu: bytes, dst: int = 1, src: int = 10, size: int = 249) -> bytes:
    return b"".join(segments(apdu, dst, src, OUTSTATION_CTL, size))


def run(d, *msgs: tuple[int, bytes]) -> list[int]:
    return [d.feed(data, side, 1.0, i + 1) for i, (side, data) in enumerate(msgs)]


def facts(d) -> set[tuple]:
    return {(f.who, f.field, f.value) for f in d.out}


def kinds(d) -> list[str]:
    return [a.kind for a in d.anomalies]


# -- grammar ----------------------------------------------------------------------------------------------------

def test_crc_matches_real_frames() -> None:
    """The header CRC and every block CRC of a real frame (the CRC sent low octet first)."""
    assert crc16(READ_CLASS[:8]).to_bytes(2, "little") == READ_CLASS[8:10]
    assert crc16(READ_CLASS[10:25]).to_bytes(2, "little") == READ_CLASS[25:27]      # the one 15-octet block
    lf = parse_link_frame(READ_CLASS)
    assert (lf.destination, lf.source, lf.from_master, lf.primary, lf.function) == (10, 1, True, True, 4)
    assert lf.size == len(READ_CLASS) == frame_size(0x14) and lf.bad_blocks == 0
    assert lf.user_data == bytes.fromhex("c0c0013c02063c03063c04063c0106")
    assert build_frame(0xC4, 10, 1, lf.user_data) == READ_CLASS


def test_frame_size_counts_a_crc_per_16_octets() -> None:
    assert frame_size(5) == 10 and frame_size(6) == 13 and frame_size(21) == 28 and frame_size(22) == 31
    assert frame_size(255) == 292 == len(RSP_1)


def test_link_frame_malformed_cases() -> None:
    with pytest.raises(BadStart):
        parse_link_frame(b"\x05\x65" + READ_CLASS[2:])
    with pytest.raises(BadStart):
        parse_link_frame(b"GET / HTTP/1.1\r\n")
    bad_len = bytearray(READ_CLASS[:8])
    bad_len[2] = 4
    with pytest.raises(BadLength):
        parse_link_frame(bytes(bad_len) + crc16(bad_len).to_bytes(2, "little"))
    with pytest.raises(BadHeaderCrc):
        parse_link_frame(READ_CLASS[:8] + b"\x00\x00" + READ_CLASS[10:])
    with pytest.raises(Truncated):
        parse_link_frame(READ_CLASS[:-1])
    with pytest.raises(Truncated):
        parse_link_frame(READ_CLASS[:6])
    broken = bytearray(READ_CLASS)
    broken[12] ^= 0xFF                                   # a user-data octet: its block CRC fails, framing holds
    lf = parse_link_frame(bytes(broken))
    assert lf.bad_blocks == 1 and lf.user_data == b"" and lf.size == len(READ_CLASS)


def test_apdu_and_device_attribute_grammar() -> None:
    a = parse_apdu(G0_RESPONSE)
    assert (a.function, a.iin, a.seq, a.first_last) == (0x81, 0, 3, (True, True))
    attrs = parse_device_attributes(a.objects)
    assert [(x.variation, x.index, x.data_type, x.value) for x in attrs][:2] == [
        (252, 0, 1, b"Schweitzer Engineering Laboratories"), (250, 0, 1, b"SEL-3505")]
    assert len(attrs) == 7
    with pytest.raises(Truncated):
        parse_apdu(b"\xc0")
    with pytest.raises(Truncated):
        parse_device_attributes(attr(252, b"ACME")[:-2])
    with pytest.raises(Malformed):
        parse_device_attributes(bytes((0, 252, 0x00, 2, 1)) + b"\x01\x01A")            # stop < start
    with pytest.raises(Malformed):
        parse_device_attributes(bytes((0, 252, 0x5B, 1)))                             # qualifier not for g0
    # 16-bit start/stop, and 1-octet count with 1-octet index prefix (0x17): the index is kept
    two = bytes((0, 247, 0x01, 0, 0, 0, 0, 1, 3)) + b"abc" + bytes((0, 245, 0x17, 1, 5, 1, 2)) + b"xy"
    assert [(x.variation, x.index, x.value) for x in parse_device_attributes(two)] == [(247, 0, b"abc"),
                                                                                      (245, 5, b"xy")]
    # stops at the first object of another group (its size needs tables this parser does not hold)
    assert len(parse_device_attributes(attr(252, b"ACME") + bytes.fromhex("1e0100000002"))) == 1


def test_profile_keys_keep_unknown_codes_by_number() -> None:
    assert [profile_key(c) for c in (1, 2, 3, 4, 5, 7, 11, 13, 14, 20, 21, 23, 24, 25, 30, 0x81, 0x82)] == [
        "read", "write", "select", "operate", "direct-operate", "freeze", "freeze", "cold-restart", "warm-restart",
        "enable-unsolicited", "disable-unsolicited", "delay-measure", "record-current-time", "file", "file",
        "response", "unsolicited-response"]
    assert profile_key(0x50) == "fc80" and profile_key(0xFF) == "fc255"


# -- dissector --------------------------------------------------------------------------------------------------

def test_a_real_exchange_roles_addresses_and_reassembly() -> None:
    """ITI read_and_response.pcap frames 4, 6, 8: the master (DIR=1) is dnp3-client/hmi-scada with address 1, the
    outstation (DIR=0) dnp3-server/rtu-ied with address 10; the two-segment response is one response."""
    d = Dnp3Dissector()
    assert run(d, (0, READ_CLASS), (1, RSP_1), (1, RSP_2)) == [OK, OK, OK]
    assert d.confirmed and kinds(d) == []
    assert {(Who.CLIENT, "protocol", "dnp3-client"), (Who.CLIENT, "role_hint", "hmi-scada"),
            (Who.CLIENT, "dnp3_address", "1"), (Who.SERVER, "protocol", "dnp3-server"),
            (Who.SERVER, "role_hint", "rtu-ied"), (Who.SERVER, "dnp3_address", "10")} == facts(d)
    assert d.profile == {"read": 1, "response": 1}
    assert d.decoded == len(READ_CLASS) + len(RSP_1) + len(RSP_2)
    assert next(f for f in d.out if f.field == "role_hint" and f.who == Who.SERVER).frame == 2


def test_without_the_second_segment_there_is_no_response() -> None:
    """The control of the test above: the first segment alone is held, not counted as a response."""
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS), (1, RSP_1))
    assert d.profile == {"read": 1} and len(d.reasm[1]) == 1


def test_roles_come_from_the_dir_bit_not_the_port() -> None:
    """An outstation that opened the connection (dial-out): the flow's client is the outstation."""
    d = Dnp3Dissector()
    run(d, (0, response(bytes((0xF0, 0x82, 0, 0)))), (1, request(bytes((0xC0, 0x00)))))
    assert (Who.CLIENT, "protocol", "dnp3-server") in facts(d) and (Who.SERVER, "protocol", "dnp3-client") in facts(d)
    assert (Who.CLIENT, "role_hint", "rtu-ied") in facts(d) and (Who.SERVER, "role_hint", "hmi-scada") in facts(d)
    assert d.profile == {"unsolicited-response": 1, "confirm": 1}


def test_one_direction_labels_only_its_sender() -> None:
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS))
    assert facts(d) == {(Who.CLIENT, "protocol", "dnp3-client"), (Who.CLIENT, "role_hint", "hmi-scada"),
                        (Who.CLIENT, "dnp3_address", "1")}
    assert d.labelled and not d.confirmed


def test_group_0_device_attributes_become_identity_facts() -> None:
    d = Dnp3Dissector()
    run(d, (0, request(G0_READ)), (1, response(G0_RESPONSE, size=40)))     # the response in 4 segments
    got = {(f.field, f.value) for f in d.out if f.who == Who.SERVER}
    assert {("vendor", "Schweitzer Engineering Laboratories"), ("product", "SEL-3505"), ("firmware", "3505-01"),
            ("dnp3_hardware_version", "R149-V2"), ("serial", "1234567"), ("name", "feeder-7"),
            ("dnp3_location", "Substation North")} <= got
    vendor = next(f for f in d.out if f.field == "vendor")
    assert vendor.frame == 2 and "variation 252" in vendor.message
    assert d.profile["read device attributes"] == 1 and kinds(d) == []


def test_group_0_in_a_request_is_not_identity() -> None:
    """A master WRITE of g0 (or a fuzzed request) describes nothing: only responses carry attributes."""
    d = Dnp3Dissector()
    run(d, (0, request(bytes((0xC0, 0x02)) + attr(252, b"Evil Corp"))))
    assert not any(f.field == "vendor" for f in d.out) and d.profile == {"write": 1}


def test_attribute_sets_and_unknown_variations_keep_their_number() -> None:
    d = Dnp3Dissector()
    body = bytes((0xC0, 0x81, 0, 0)) + attr(213, (1).to_bytes(4, "little"), dtype=2) + \
        bytes((0, 252, 0x00, 3, 3, 1, 4)) + b"ACME"
    run(d, (0, READ_CLASS), (1, response(body)))
    got = {(f.field, f.value) for f in d.out}
    assert ("dnp3_attribute_213", "1") in got and ("dnp3_attribute_252_set3", "ACME") in got
    assert not any(f.field == "vendor" for f in d.out)


def test_malformed_device_attributes_are_counted() -> None:
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS), (1, response(bytes((0xC0, 0x81, 0, 0)) + attr(252, b"ACME")[:-2])))
    assert kinds(d) == [Dnp3Anomaly.MALFORMED_DEVICE_ATTRIBUTE.value]


def test_non_dnp3_on_the_port_is_fatal_early() -> None:
    d = Dnp3Dissector()
    assert d.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 1.0, 1) == FATAL and "not dnp3" in d.fatal_reason
    d = Dnp3Dissector()
    assert d.feed(READ_CLASS[:8] + b"\x00\x00" + READ_CLASS[10:], 0, 1.0, 1) == FATAL     # bad header CRC
    assert d.out == []


def test_after_a_valid_frame_a_broken_one_is_an_anomaly_and_framing_resumes() -> None:
    d = Dnp3Dissector()
    bad_crc = READ_CLASS[:8] + b"\x00\x00" + READ_CLASS[10:]
    assert run(d, (0, READ_CLASS), (0, b"\x00\x01garbage" + READ_CLASS), (0, bad_crc + READ_CLASS)) == [OK] * 3
    assert kinds(d) == ["bad-start", "bad-header-crc"] and d.profile == {"read": 3}


def test_lost_framing_too_often_detaches() -> None:
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS))
    statuses = run(d, *[(0, b"\x01\x02\x03")] * 8)
    assert statuses[-1] == FATAL and "lost framing" in d.fatal_reason


def test_a_bad_block_crc_is_an_anomaly_and_the_frame_unused() -> None:
    d = Dnp3Dissector()
    broken = bytearray(READ_CLASS)
    broken[12] ^= 0xFF
    run(d, (0, bytes(broken)), (0, READ_CLASS))
    assert kinds(d) == ["bad-data-crc"] and d.profile == {"read": 1}


def test_a_frame_split_across_segments_is_buffered() -> None:
    d = Dnp3Dissector()
    assert run(d, (0, READ_CLASS[:5]), (0, READ_CLASS[5:20]), (0, READ_CLASS[20:])) == [INCOMPLETE, INCOMPLETE, OK]
    assert d.profile == {"read": 1}


def test_transport_sequence_gap_and_missing_first_segment() -> None:
    d = Dnp3Dissector()
    big = bytes((0xC0, 0x81, 0, 0)) + bytes(600)
    segs = segments(big, 1, 10, OUTSTATION_CTL, size=249)
    assert len(segs) == 3
    run(d, (0, READ_CLASS), (1, segs[0]), (1, segs[2]))                  # the middle one lost
    assert kinds(d) == ["transport-sequence"] and "response" not in d.profile
    run(d, (1, segs[1]))                                                 # a middle segment with no first
    assert kinds(d)[-1] == "transport-without-fir"
    run(d, (1, segs[0]), (1, segs[0]), (1, segs[1]), (1, segs[2]))      # a repeated segment is a retry
    assert d.profile["response"] == 1


def test_transport_reassembly_is_bounded() -> None:
    d = Dnp3Dissector()
    huge = bytes((0xC0, 0x81, 0, 0)) + bytes(MAX_REASSEMBLY_BYTES + 10)
    run(d, (0, READ_CLASS), *[(1, s) for s in segments(huge, 1, 10, OUTSTATION_CTL)])
    assert "reassembly-limit-bytes" in kinds(d) and "response" not in d.profile and not d.reasm[1]


def test_concurrent_reassemblies_are_bounded() -> None:
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS))
    for src in range(20):                                 # 20 outstations each start a fragment, none finishes
        run(d, (1, segments(bytes(300), 1, 100 + src, OUTSTATION_CTL)[0]))
    assert len(d.reasm[1]) == 16 and kinds(d).count("reassembly-limit-fragments") == 4


def test_a_time_write_is_profiled_as_time_sync() -> None:
    d = Dnp3Dissector()
    run(d, (0, request(bytes((0xC0, 0x02, 50, 1, 0x07, 1)) + bytes(6))), (0, request(bytes((0xC0, 0x02, 80, 1)))))
    assert d.profile == {"write": 2, "time sync": 1}


def test_unknown_function_is_kept_by_number_and_counted() -> None:
    d = Dnp3Dissector()
    run(d, (0, request(bytes((0xC0, 0x50)))))
    assert d.profile == {"fc80": 1} and kinds(d) == ["unknown-function-80"]


def test_a_response_from_a_master_is_an_anomaly() -> None:
    d = Dnp3Dissector()
    run(d, (0, request(bytes((0xC0, 0x81, 0, 0)) + attr(252, b"Liar"))))
    assert kinds(d) == ["function-direction-129"] and not any(f.field == "vendor" for f in d.out)


def test_one_end_sending_both_directions_is_an_anomaly() -> None:
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS), (0, response(bytes((0xC0, 0x81, 0, 0)))))
    assert kinds(d) == ["direction-conflict"]
    assert not any(f.field == "protocol" and f.value == "dnp3-server" for f in d.out)


def test_broadcast_source_is_an_anomaly_not_an_address() -> None:
    d = Dnp3Dissector()
    run(d, (0, build_frame(MASTER_CTL, 10, 0xFFFF, bytes((0xC0, 0xC0, 0x01)))))
    assert kinds(d) == ["broadcast-source-65535"] and not any(f.field == "dnp3_address" for f in d.out)


def test_link_only_frames_are_profiled() -> None:
    d = Dnp3Dissector()
    run(d, (0, build_frame(0xC9, 10, 1)), (1, build_frame(0x0B, 1, 10)))      # request link status / status
    assert d.profile == {"link request-link-status": 1, "link link-status": 1} and d.confirmed


def test_udp_datagrams_hold_whole_frames() -> None:
    d = Dnp3UdpDissector()
    assert d.feed(READ_CLASS[:15], 0, 1.0, 1) == FATAL                  # nothing valid yet: not DNP3
    d = Dnp3UdpDissector()
    assert run(d, (0, READ_CLASS), (0, READ_CLASS[:15]), (0, READ_CLASS)) == [OK, OK, OK]
    assert kinds(d) == ["truncated-datagram"] and d.profile == {"read": 2}


def test_gap_drops_partial_state() -> None:
    d = Dnp3Dissector()
    run(d, (0, READ_CLASS), (1, RSP_1), (0, READ_CLASS[:7]))
    d.gap(1)
    d.gap(0)
    assert not d.reasm[1] and not d.buf.pending[0]
    run(d, (1, RSP_2))                                     # the orphan last segment after the gap
    assert "response" not in d.profile


def test_spec_declares_labels_roles_and_gap_note() -> None:
    assert SPEC.labels == ("dnp3-client", "dnp3-server") and "group 0" in SPEC.gap_note
    assert {e.transport.value for e in SPEC.flows} == {"tcp", "udp"} and all(e.ports == (20000,) for e in SPEC.flows)
    assert SPEC.server_roles[0][:2] == ("dnp3-server", "rtu-ied")
