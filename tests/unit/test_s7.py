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


# ---- S7comm-plus: only strings of known attribute contexts ---------------------------------------------

# The CreateObject request of a WinCC (SMART) Runtime session and the S7-1200's response, as in
# ITI s7-1200-hmi.pcap frames 9 and 12 (COTP user data).
HMI_CREATE = bytes.fromhex(
    "720100ca31000004ca0000000100000120360000011d00040000000000a1000000d3821f0000a381690015165365727665725365"
    "7373696f6e5f3130303030303030a3822100150a313a3a3a362e33323a3aa38228001508484d492055534552a382290015055"
    "34d405254a3822a001508484d4920484f5354a3822b000402a3822c001210000000a3822d0015164f4d532b20666f7220534d4"
    "152542052756e74696d65a1000000d3817f0000a38169001515537562736372697074696f6e436f6e7461696e6572a2a2000000"
    "0072010000")
PLC_CREATED = bytes.fromhex(
    "7201007a32000004ca00000001361102873e8723a100000120821f0000a38169001500a3823200170000013a823b00048200823c"
    "00048140823d00048480c040823e00048480c040823f00151b313b36455337203231312d31424533312d30584230203b56332e"
    "308240001505323b32383882410003000300a20000000072010000")


def test_s7plus_known_attribute_strings_only() -> None:
    from otscope.dissectors.s7.grammar import plus_attribute_strings

    assert plus_attribute_strings(HMI_CREATE) == [(289, "1:::6.32::"), (296, "HMI USER"), (297, "SM@RT"),
                                                  (298, "HMI HOST"), (301, "OMS+ for SMART Runtime")]
    assert plus_attribute_strings(PLC_CREATED) == [(319, "1;6ES7 211-1BE31-0XB0 ;V3.0"), (320, "2;288")]
    # printable bytes in binary fields (object ids, integrity parts) are no string of a known context
    assert plus_attribute_strings(b"\x72\x03\x00\x62\x20%Fe3p\x00AFyV\xa3\x82\x21\x00\x04\x02") == []
    assert plus_attribute_strings(b"\xa3\x82\x21\x00\x15\x7f" + b"x" * 10) == []      # length past the body


def test_s7plus_client_session_facts() -> None:
    d = S7Dissector()
    connected(d, b"SIMATIC-ROOT-HMI")
    d.feed(dt(HMI_CREATE), 0, 1.0, 3)
    d.feed(dt(PLC_CREATED), 1, 1.0, 4)
    got = {(f.who, f.field, f.value) for f in d.out if f.protocol == "s7comm-plus" and f.field != "protocol"}
    assert got == {(Who.CLIENT, "s7plus_client_host", "HMI HOST"), (Who.CLIENT, "s7plus_client_application", "SM@RT"),
                   (Who.CLIENT, "s7plus_client_comment", "OMS+ for SMART Runtime"),
                   (Who.CLIENT, "role_hint", "hmi-scada"), (Who.SERVER, "s7plus_protocol_version", "1"),
                   (Who.SERVER, "order_number", "6ES7 211-1BE31-0XB0"), (Who.SERVER, "firmware", "V3.0"),
                   (Who.SERVER, "vendor", "Siemens")}


def test_s7plus_random_printable_runs_are_not_facts() -> None:
    d = S7Dissector()
    connected(d, b"SIMATIC-ROOT-ES")
    body = b"\x00\x01SwJY_\x00_ L>\x00/D](\x00" + b"ServerSession_10000000"          # no attribute framing
    plus = bytes([0x72, 1]) + struct.pack(">H", len(body) + 5) + bytes([0x31, 0, 0]) + b"\x04\xca" + body
    d.feed(dt(plus), 0, 1.0, 3)
    assert not [f for f in d.out if f.protocol == "s7comm-plus" and f.field not in ("protocol",
                                                                                     "s7plus_protocol_version")]


# ---- CPU state names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("bzu, state", [(0x48, "RUN"), (0x84, "STOP (internal)"), (0x45, "STARTUP (complete restart)"),
                                        (0x8A, "HOLD"), (0x0D, "DEFECT"), (0x0F, "0x0f")])
def test_szl_0424_cpu_state(bzu: int, state: str) -> None:
    d = S7Dissector()
    connected(d)
    rec = struct.pack(">HBB", 0x4302, 0xFF, bzu) + b"\x00" * 16
    d.feed(dt(userdata_szl_response(0x0424, 0, 20, [rec])), 1, 1.0, 3)
    got = {(f.field, f.value) for f in d.out}
    assert ("cpu_state", state) in got and ("cpu_state_code", f"0x{bzu:02x}") in got


@pytest.mark.parametrize("sub, state", [(0, "STOP"), (2, "RUN"), (1, "STARTUP (warm restart)"), (4, "HOLD"),
                                        (0x20, "0x20")])
def test_mode_transition_push_cpu_state(sub: int, state: str) -> None:
    d = S7Dissector()
    connected(d)
    params = bytes.fromhex("000112") + b"\x04" + bytes([0x11, 0x00, sub, 0])            # push, group 0
    data = b"\x0a\x00\x00\x00"
    pdu = struct.pack(">BBHHHH", 0x32, 7, 0, 0, len(params), len(data)) + params + data
    d.feed(dt(pdu), 1, 1.0, 3)
    assert [(f.field, f.value) for f in d.out if f.field == "cpu_state"] == [("cpu_state", state)]


def test_module_name_is_product_only_without_a_type_name() -> None:
    d = S7Dissector()
    connected(d)
    d.feed(dt(userdata_szl_response(0x011C, 2, 34, [szl1c(2, b"CPU 1516-3 PN/DP")])), 1, 1.0, 3)
    got = [(f.field, f.value, f.message) for f in d.out if f.field == "product"]
    assert got == [("product", "CPU 1516-3 PN/DP", "S7 Read SZL 0x011c index 0x0002 (module name)")]
    d2 = S7Dissector()
    connected(d2)
    d2.feed(dt(userdata_szl_response(0x001C, 0, 34, [szl1c(2, b"PLC_1"), szl1c(7, b"CPU 1516-3 PN/DP")])), 1, 1.0, 3)
    assert [f.value for f in d2.out if f.field == "product"] == ["CPU 1516-3 PN/DP"]


# ---- tcp/102 that is not S7comm ---------------------------------------------------------------------------

def mms_pdu(payload: bytes) -> str | None:
    """The MMS PDU kind a COTP payload walks to (session, presentation, ACSE: dissectors/s7/mms.py), in
    Wireshark's spelling, or None."""
    from otscope.dissectors.s7.mms import parse_mms, unwrap
    from otscope.dissectors.s7.mms_constants import MmsPduType

    try:
        env = unwrap(payload)
        if env is None or env.mms is None:
            return None
        head, _, tail = MmsPduType(parse_mms(env.mms).kind).name.lower().partition("_")
        return f"{head}-{tail.capitalize()}PDU"
    except Malformed:
        return None


# MMS over ISO session/presentation, from ntop-nDPI iso9506-1-mms.pcap (COTP user data of frames 10 and 12)
MMS_REQUEST = bytes.fromhex("0100010061353033020103a02ea02c020304a273a625a023a1211a0e41413145315130314650324c4430"
                            "1a0f4c4c4e30244252247263625f423032")
MMS_RESPONSE = bytes.fromhex("0100010061153013020103a00ea20c800304a273a205a003870102")


def test_mms_on_102_is_labelled_mms_not_s7comm_and_decoded() -> None:
    d = S7Dissector()
    connected(d, b"\x00\x01")
    d.feed(dt(MMS_REQUEST), 0, 1.0, 3)
    d.feed(dt(MMS_RESPONSE), 1, 1.0, 4)
    labels = {(f.who, f.value, f.protocol) for f in d.out if f.field == "protocol"}
    assert labels == {(Who.CLIENT, "cotp-client", "cotp"), (Who.SERVER, "cotp-server", "cotp"),
                      (Who.CLIENT, "mms-client", "mms"), (Who.SERVER, "mms-server", "mms")}
    assert d.flow_protocol == "mms"
    assert d.decoded == len(cr(b"\x00\x01")) + len(CC) + len(dt(MMS_REQUEST)) + len(dt(MMS_RESPONSE))
    assert not any(f.field in ("s7_connection_type", "s7_rack_slot") for f in d.out)   # no S7 reading of the TSAP


def test_cotp_only_is_cotp_and_not_decoded() -> None:
    d = S7Dissector()
    connected(d)
    d.feed(dt(b"\x55\x01\x02\x03\x04"), 0, 1.0, 3)
    assert d.flow_protocol == "cotp" and d.decoded == 0
    assert {f.value for f in d.out if f.field == "protocol"} == {"cotp-client", "cotp-server"}


def test_s7_flow_decodes_its_connection_setup_and_fragments() -> None:
    d = S7Dissector()
    connected(d)
    s7 = userdata_szl_response(0x0011, 0, 28, [szl11(1, b"6ES7 516-3AN01-0AB0", 0, 0)])
    a, b = dt(s7[:20], eot=False), dt(s7[20:])
    d.feed(a, 1, 1.0, 3)
    d.feed(b, 1, 1.0, 4)
    assert d.flow_protocol == "s7comm"
    assert d.decoded == len(cr(b"\x01\x02")) + len(CC) + len(a) + len(b)
    assert {f.frame for f in d.out if f.field in ("s7_rack_slot", "s7_connection_type")} == {1}   # the CR's frame


@pytest.mark.parametrize("payload, kind", [
    (MMS_REQUEST, "confirmed-RequestPDU"),
    (bytes.fromhex("0100010061093007020103a0028b00"), "conclude-RequestPDU"),
    (bytes.fromhex("0910c10e610c300a020101a0056203800101"), None),            # session FINISH (ACSE release)
    (MMS_REQUEST[:20], None),                                                  # lengths past the TPDU
    (bytes.fromhex("0100010061053003020103"), None),                           # no presentation data value
    (bytes.fromhex("0100010061073005020103a000"), None),                       # an empty value
    (b"", None), (b"\x0d", None), (b"\x0d\xff\x00", None),
])
def test_mms_recogniser(payload: bytes, kind: str | None) -> None:
    assert mms_pdu(payload) == kind


# session CONNECT / ACCEPT of an MMS association (iso9506-1-mms.pcap frames 7 and 8): they name the MMS
# abstract syntax / application context OIDs (1.0.9506.2.1, 1.0.9506.2.3)
MMS_CONNECT = bytes.fromhex(
    "0d9e0506130100160102140200023302000134020001c188318185a003800101a27e810400000001820400000001a423300f020101"
    "0604520100013004060251013010020103060528ca2202013004060251018802060061473045020101a040603e80020780a10706"
    "0528ca220203be2f282d020103a028a826800300fa0081010a82010a830105a416800101810305e100820c03a00000000000000000"
    "e110")
MMS_ACCEPT = bytes.fromhex(
    "0e89050613010016010214020002c17b3179a003800101a272830400000001a512300780010081025101300780010081025101880206"
    "0061523050020101a04b614980020780a107060528ca220203a203020100a305a103020100be2e282c020103a027a92580027d00810"
    "10a820108830105a416800101810305e100820c03ee0800000400000001ed18")


def test_mms_association_set_up() -> None:
    assert mms_pdu(MMS_CONNECT) == "initiate-RequestPDU"
    assert mms_pdu(MMS_ACCEPT) == "initiate-ResponsePDU"
    assert mms_pdu(MMS_CONNECT.replace(bytes.fromhex("0528ca2202"), bytes.fromhex("0528ca2209"))) is None
    assert mms_pdu(MMS_CONNECT[:40]) is None                                   # SPDU longer than the TPDU


def test_bad_tpkt_after_a_connection_request_is_an_anomaly_not_the_end() -> None:
    """mms-initiateDownloadSequence.pcap: a CR, a TPKT of length 5 from the server, then MMS: not detached."""
    d = S7Dissector()
    assert d.feed(cr(b"\x00\x02"), 0, 1.0, 1) in (OK, NEWS)
    assert d.feed(bytes.fromhex("0300000500d080"), 1, 1.0, 2) == OK
    assert d.feed(dt(bytes.fromhex("a8268002001f81010382010383020808a416800101810305e800820c03ffffffffffffffffffffff")),
                  0, 1.0, 3) in (OK, NEWS)
    assert [a.kind for a in d.anomalies] == ["bad-tpkt-length"]
    assert d.flow_protocol == "mms"
    assert S7Dissector().feed(bytes.fromhex("0300000500d080"), 1, 1.0, 1) == FATAL     # nothing established yet


@pytest.mark.parametrize("payload, kind", [
    (bytes.fromhex("a8268002001f81010382010383020808a416800101810305e800820c03ffffffffffffffffffffff"),
     "initiate-RequestPDU"),
    (bytes.fromhex("a8268002001f"), None),                                     # BER length past the payload
    (bytes.fromhex("a80100ff"), None),                                         # does not span the payload
])
def test_mms_straight_on_cotp(payload: bytes, kind: str | None) -> None:
    assert mms_pdu(payload) == kind


def test_confirmed_flow_survives_unknown_pdus() -> None:
    d = S7Dissector()
    connected(d)
    assert d.feed(dt(bytes.fromhex("3209000000000000")), 1, 1.0, 3) == OK            # ROSCTR 9: unknown
    assert d.feed(tpkt(b"\x02\x90\x80"), 1, 1.0, 4) == OK                             # COTP type 0x90: unknown
    assert d.feed(dt(b"\x99\x01\x02"), 1, 1.0, 5) == OK                               # not S7, not MMS
    d.feed(dt(userdata_szl_response(0x0011, 0, 28, [szl11(1, b"6ES7 516-3AN01-0AB0", 0, 0)])), 1, 1.0, 6)
    assert ("order_number", "6ES7 516-3AN01-0AB0", 6) in {(f.field, f.value, f.frame) for f in d.out}
    assert [a.kind for a in d.anomalies] == ["malformed-s7comm", "malformed-cotp"]
