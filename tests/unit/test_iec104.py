"""IEC 60870-5-104 grammar and per-flow dissector: hex cases (104 5.1-5.4, 101 7.1-7.2), segmentation,
malformed APDUs, non-104 bytes on 2404."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.iec104.constants import ApciFormat, Category, UFunction, category, type_name
from otscope.dissectors.iec104.dissector import Iec104Dissector
from otscope.dissectors.iec104.grammar import apdu_length, parse_apdu, parse_asdu

STARTDT_ACT = bytes.fromhex("680407000000")
STARTDT_CON = bytes.fromhex("68040b000000")
STOPDT_CON = bytes.fromhex("680423000000")
TESTFR_ACT = bytes.fromhex("680443000000")
S_FRAME = bytes.fromhex("6804010042b9")                    # IEC104.pcap (nDPI) frame 3
# C_IC_NA_1 (100) station interrogation, VSQ 1, cause 6 act, CA 1, IOA 0, QOI 20
GI_ACT = bytes.fromhex("680e00000000" "64" "01" "0600" "0100" "000000" "14")
GI_CON = bytes.fromhex("680e00000200" "64" "01" "0700" "0100" "000000" "14")
# M_ME_TF_1 (36) spontaneous, CA 10516: IEC104.pcap frame 7
M_ME_TF = bytes.fromhex("68192c7e42b9240103001429cbb202cdcc2c3e0094dc028a230a0b")
# C_SC_NA_1 (45) single command act, CA 7
SC_ACT = bytes.fromhex("680e02000200" "2d" "01" "0600" "0700" "010000" "81")


def facts(d: Iec104Dissector) -> set[tuple[int, str, str, str | None]]:
    return {(f.who, f.field, f.value, f.component) for f in d.out}


def test_u_s_i_formats() -> None:
    assert parse_apdu(STARTDT_ACT).function is UFunction.STARTDT_ACT
    assert parse_apdu(TESTFR_ACT).function is UFunction.TESTFR_ACT
    s = parse_apdu(S_FRAME)
    assert (s.format, s.recv_seq) == (ApciFormat.S, 0xb942 >> 1)
    i = parse_apdu(M_ME_TF)
    assert i.format is ApciFormat.I and i.send_seq == 0x7e2c >> 1 and i.recv_seq == 0xb942 >> 1
    assert i.asdu is not None
    assert (i.asdu.type_id, i.asdu.count, i.asdu.cause, i.asdu.common_address) == (36, 1, 3, 10516)


def test_asdu_flags() -> None:
    a = parse_asdu(bytes.fromhex("2d" "81" "c7" "05" "0700"))
    assert a.sequence and a.count == 1 and a.cause == 7 and a.negative and a.test and a.originator == 5


@pytest.mark.parametrize("raw", [
    bytes.fromhex("680501000000ff"),          # S frame with length 5
    bytes.fromhex("680403000000"),            # U frame with no function bit
    bytes.fromhex("68040f000000"),            # U frame with two function bits
    bytes.fromhex("680407000100"),            # U frame with a nonzero control octet
    bytes.fromhex("680401010000"),            # S frame second octet nonzero
    bytes.fromhex("68070000000064"),          # I frame with a 1-byte ASDU
    bytes.fromhex("680a00000000" "00" "01" "0600" "0100"),    # type id 0
    bytes.fromhex("680a00000000" "64" "01" "0000" "0100"),    # cause 0
    bytes.fromhex("670407000000"),            # bad start
    bytes.fromhex("680507000000"),            # length does not match the bytes
])
def test_apdu_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        parse_apdu(raw)


@pytest.mark.parametrize("raw", [bytes.fromhex("1603010200"), bytes.fromhex("6803"), bytes.fromhex("68fe")])
def test_apdu_length_refuses_bad_start_and_length(raw: bytes) -> None:
    with pytest.raises(Malformed):
        apdu_length(raw, 0)


def test_type_names_and_categories() -> None:
    assert type_name(100) == "C_IC_NA_1" and category(100) is Category.INTERROGATION
    assert type_name(103) == "C_CS_NA_1" and category(103) is Category.CLOCK_SYNC
    assert category(45) is Category.COMMAND and category(50) is Category.COMMAND
    assert category(1) is Category.MONITORING and category(122) is Category.FILE_TRANSFER
    assert type_name(200) == "type 200" and category(200) is Category.OTHER


def test_exchange_roles_stations_and_state() -> None:
    d = Iec104Dissector()
    msgs = [(0, STARTDT_ACT), (1, STARTDT_CON), (0, GI_ACT), (1, GI_CON), (1, M_ME_TF), (0, SC_ACT)]
    assert [d.feed(m, s, 1.0, i + 1) for i, (s, m) in enumerate(msgs)] == [OK] * 6
    assert d.confirmed and d.started
    f = facts(d)
    assert (Who.CLIENT, "protocol", "iec104-client", None) in f
    assert (Who.SERVER, "protocol", "iec104-server", None) in f
    assert (Who.CLIENT, "role_hint", "hmi-scada", None) in f
    assert (Who.SERVER, "role_hint", "rtu-ied", None) in f
    assert (Who.CLIENT, "role_hint", "rtu-ied", None) not in f
    for ca in ("1", "10516", "7"):           # each common address is a station of the controlled end
        assert (Who.SERVER, "iec104_common_address", ca, f"ca:{ca}") in f
        assert (Who.SERVER, "protocol", "iec104-server", f"ca:{ca}") in f
    assert not any(x[0] == Who.CLIENT and x[1] == "iec104_common_address" for x in f)
    assert d.profile["C_IC_NA_1"] == 2 and d.profile["C_SC_NA_1"] == 1 and d.profile["interrogation"] == 2
    assert d.profile["startdt act"] == 1 and d.profile["command"] == 1
    ca_fact = next(x for x in d.out if x.field == "iec104_common_address" and x.value == "10516")
    assert ca_fact.frame == 5                # from the frame that carried it
    assert d.feed(STOPDT_CON, 1, 2.0, 7) == OK and not d.started


def test_segmented_and_coalesced_apdus() -> None:
    d = Iec104Dissector()
    stream = STARTDT_ACT + GI_ACT
    assert d.feed(stream[:3], 0, 1.0, 1) == INCOMPLETE
    assert d.feed(stream[3:9], 0, 1.0, 2) == INCOMPLETE
    assert d.feed(stream[9:], 0, 1.0, 3) == OK
    assert d.profile["startdt act"] == 1 and d.profile["C_IC_NA_1"] == 1
    assert d.decoded == len(stream)


def test_non_iec104_on_2404_is_fatal() -> None:
    d = Iec104Dissector()
    assert d.feed(b"GET / HTTP/1.1\r\n\r\n", 0, 1.0, 1) == FATAL
    assert "not iec104" in d.fatal_reason and not d.out
    d = Iec104Dissector()
    assert d.feed(bytes.fromhex("68040f000000"), 0, 1.0, 1) == FATAL     # framed, but no valid control field


def test_after_confirmation_bad_input_is_counted_not_fatal() -> None:
    d = Iec104Dissector()
    d.feed(STARTDT_ACT, 0, 1.0, 1)
    d.feed(STARTDT_CON, 1, 1.0, 2)
    assert d.feed(bytes.fromhex("68040f000000"), 1, 1.0, 3) == OK            # bad U control field
    assert d.feed(bytes.fromhex("680a00000000" "c8" "01" "0300" "0500"), 1, 1.0, 4) == OK   # type 200
    assert d.feed(b"\x99\x99\x99", 1, 1.0, 5) == OK                          # lost framing, resync
    kinds = [a.kind for a in d.anomalies]
    assert kinds == ["bad-control-field", "unknown-type-id-200", "bad-start"]
    assert d.profile["type 200"] == 1
    assert d.feed(S_FRAME, 1, 1.0, 6) == OK                                  # and it goes on


def test_global_address_is_not_a_station_and_stations_are_bounded() -> None:
    d = Iec104Dissector()
    d.feed(STARTDT_ACT, 0, 1.0, 1)
    d.feed(bytes.fromhex("680e00000000" "64" "01" "0600" "ffff" "000000" "14"), 0, 1.0, 2)
    assert not any(f.field == "iec104_common_address" for f in d.out)
    for ca in range(1, 300):
        d.feed(bytes.fromhex("680a00000000" "01" "01" "0300") + ca.to_bytes(2, "little"), 1, 1.0, 3)
    assert len(d.stations) == 256
    assert "stations-cap" in {a.kind for a in d.anomalies}


def test_bad_length_after_labelling_and_the_resync_bound() -> None:
    d = Iec104Dissector()
    d.feed(S_FRAME, 1, 1.0, 1)
    assert d.feed(bytes.fromhex("6802aaaa"), 1, 1.0, 2) == OK             # length 2 < 4
    assert [a.kind for a in d.anomalies] == ["bad-length"]
    statuses = [d.feed(b"\x00" * 8, 1, 1.0, 3 + i) for i in range(10)]
    assert statuses[-1] == FATAL and "lost framing" in d.fatal_reason
