"""MMS on tcp/102 (dissectors/s7/mms.py, mms_facts.py): the BER reader, the session / presentation / ACSE walk,
MMS PDU bodies (Identify, GetNameList, Initiate), the IED name rule, facts and their frames, malformed and
capped input. PDUs from the libiec61850 capture tests/integration/data/mms_ied.pcap (frames 11-16) and ISO 9506
hand encodings."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import Malformed, Who
from otscope.dissectors.s7.dissector import S7Dissector
from otscope.dissectors.s7.mms import DIRECT, common_prefix, parse_mms, tlv, unwrap
from otscope.dissectors.s7.mms_constants import MAX_PENDING, ConfirmedService, MmsPduType
from tests.unit.test_s7 import CC, cr, dt

# COTP DT user data of mms_ied.pcap: Initiate (CONNECT / ACCEPT with AARQ / AARE), Identify, GetNameList domains
CONNECT = bytes.fromhex(
    "0db20506130100160102140200023302000134020001c19c318199a003800101a28191810400000001820400000001a423300f020101"
    "0604520100013004060251013010020103060528ca220201300406025101615e305c020101a0576055a107060528ca220203a2070605"
    "2901876701a30302010ca606060429018767a70302010cbe2f282d020103a028a826800300fde881010582010583010aa41680010181"
    "0305f100820c03ee1c00000408000079ef18")
ACCEPT = bytes.fromhex(
    "0e8605061301001601021402000234020001c1743172a003800101a26b830400000001a512300780010081025101300780010081025101"
    "614f304d020101a0486146a107060528ca220203a203020100a305a103020100be2f282d020103a028a926800300fde881010582010583"
    "010aa416800101810305f100820c03ee1c00000002000040ed18")
IDENTIFY_REQ = bytes.fromhex("0100010061" "0e300c020103a007a0050201018200")
IDENTIFY_RSP = bytes.fromhex(
    "0100010061463044020103a03fa13d020101a2388023536368776569747a657220456e67696e656572696e67204c61626f7261746f7269"
    "6573810853454c2d343837458207523331312d5630")
DOMAINS_REQ = bytes.fromhex("0100010061173015020103a010a00e020102a109a003800109a1028000")
DOMAINS_RSP = bytes.fromhex(
    "01000100613a3038020103a033a131020102a12ca0271a0b53454c343837454354524c1a0b53454c343837454d4541531a0b53454c3438"
    "374550524f54810100")
REPORT = bytes.fromhex("0100010061" "0e300c020103a007a305a003a10100")   # unconfirmed informationReport


def mms_of(payload: bytes):
    env = unwrap(payload)
    assert env is not None and env.mms is not None
    return parse_mms(env.mms)


# ---- BER -------------------------------------------------------------------------------------------------

def test_ber_high_tag_and_long_length() -> None:
    t = tlv(bytes.fromhex("bf814903") + b"abc", 0, 7)
    assert (t.cls, t.constructed, t.number, t.start, t.stop, t.at) == (0x80, True, 1 << 7 | 0x49, 4, 7, 0)
    t = tlv(b"\x04\x82\x01\x00" + bytes(256), 0, 260)
    assert (t.number, t.stop - t.start) == (4, 256)


@pytest.mark.parametrize("raw", ["04", "0405616263", "0480", "04840000000100", "bfffffff0100", "1f"])
def test_ber_malformed(raw: str) -> None:
    b = bytes.fromhex(raw)
    with pytest.raises(Malformed):
        tlv(b, 0, len(b))


# ---- layers and PDUs ---------------------------------------------------------------------------------------

def test_association_walks_to_the_initiate_pdus() -> None:
    req, rsp = unwrap(CONNECT), unwrap(ACCEPT)
    assert (req.spdu, req.acse, req.mms_context) == (0x0D, 0, True)
    assert (rsp.spdu, rsp.acse, rsp.mms_context, rsp.aare_result) == (0x0E, 1, True, 0)
    i = parse_mms(req.mms).initiate
    assert (i.local_detail, i.max_outstanding_calling, i.max_outstanding_called, i.nesting_level, i.version) == \
        (65000, 5, 5, 10, 1)
    assert parse_mms(rsp.mms).kind == MmsPduType.INITIATE_RESPONSE


def test_association_of_another_application_context_is_not_mms() -> None:
    other = CONNECT.replace(bytes.fromhex("060528ca220203"), bytes.fromhex("060528ca220209"))
    env = unwrap(other)
    assert env.acse == 0 and not env.mms_context and env.mms is None


def test_identify_and_get_name_list_bodies() -> None:
    assert (mms_of(IDENTIFY_REQ).kind, mms_of(IDENTIFY_REQ).service) == (0, ConfirmedService.IDENTIFY)
    i = mms_of(IDENTIFY_RSP).identify
    assert (i.vendor, i.model, i.revision) == ("Schweitzer Engineering Laboratories", "SEL-487E", "R311-V0")
    q = mms_of(DOMAINS_REQ)
    assert (q.invoke_id, q.name_list_request.object_class, q.name_list_request.scope) == (2, 9, 0)
    r = mms_of(DOMAINS_RSP).name_list
    assert r.names == ("SEL487ECTRL", "SEL487EMEAS", "SEL487EPROT") and r.more_follows is False
    assert mms_of(REPORT).kind == MmsPduType.UNCONFIRMED and mms_of(REPORT).service == 0


def test_mms_straight_on_cotp_and_primitive_conclude_only_once_established() -> None:
    env = unwrap(bytes.fromhex("a8268002001f81010382010383020808a416800101810305e800820c03ffffffffffffffffffffff"))
    assert env.spdu == DIRECT and parse_mms(env.mms).initiate.local_detail == 31
    assert unwrap(b"\x8b\x00") is None
    assert parse_mms(unwrap(b"\x8b\x00", established=True).mms).kind == MmsPduType.CONCLUDE_REQUEST


@pytest.mark.parametrize("payload", [
    IDENTIFY_RSP[:-3],                                                    # strings cut: past their container
    IDENTIFY_RSP.replace(b"SEL-487E", b"SEL\x00487E"),                    # not a VisibleString
    IDENTIFY_RSP.replace(bytes.fromhex("8207523331312d5630"), bytes.fromhex("8307523331312d5630")),   # no revision
    DOMAINS_RSP.replace(b"\x1a\x0bSEL487EMEAS", b"\x04\x0bSEL487EMEAS"),  # an item that is no Identifier
    DOMAINS_REQ.replace(bytes.fromhex("a1028000"), bytes.fromhex("a2028000")),   # no objectScope
    bytes.fromhex("0100010061" "07300502010380" "00"),                  # PDV value not constructed
    bytes.fromhex("0100010062" "00"),                                   # not fully-encoded-data
    bytes.fromhex("0100020061"),                                        # DATA TRANSFER SI 2
    bytes.fromhex("0100010061" "0a3008020103a003" "6201" "00"),         # ACSE inside the data: [APPLICATION 2] cut
    bytes.fromhex("0100010061" "0a3008020103a003" "a00100"),           # confirmed PDU without invokeID
    bytes.fromhex("0d05c1033101"), bytes.fromhex("0dff00"),              # CONNECT user data / LI past the TSDU
])
def test_malformed_layers_raise(payload: bytes) -> None:
    with pytest.raises(Malformed):
        env = unwrap(payload)
        parse_mms(env.mms)


def test_not_mms_is_none() -> None:
    assert unwrap(b"") is None and unwrap(b"\x55\x01") is None and unwrap(b"\xa0\x05\x00") is None


@pytest.mark.parametrize("names, ied", [
    (("SEL487ECTRL", "SEL487EMEAS", "SEL487EPROT"), "SEL487E"),
    (("IED1LD0", "IED1CTRL"), "IED1"),
    (("IEDLD0", "IEDLD1"), None),                  # the split would cut LD0 / LD1: ambiguous
    (("SEL487EPROT",), None),                      # one name: IEDName and LDInst cannot be told apart
    (("PROT", "CTRL"), None), (("1A", "1B"), None), (("AB", "ABC"), None),
])
def test_ied_name_only_when_unambiguous(names: tuple[str, ...], ied: str | None) -> None:
    assert common_prefix(names) == ied


# ---- the dissector ---------------------------------------------------------------------------------------------

def session(*pdus: tuple[int, bytes]) -> S7Dissector:
    d = S7Dissector()
    d.feed(cr(b"\x00\x01"), 0, 1.0, 1)
    d.feed(CC, 1, 1.0, 2)
    for i, (side, payload) in enumerate(pdus):
        d.feed(dt(payload), side, 1.0, 3 + i)
    return d


def facts(d: S7Dissector) -> set[tuple]:
    return {(f.who, f.field, f.value, f.frame) for f in d.out if f.protocol == "mms"}


def test_identity_logical_devices_and_ied_name_from_their_frames() -> None:
    d = session((0, CONNECT), (1, ACCEPT), (0, IDENTIFY_REQ), (1, IDENTIFY_RSP), (0, DOMAINS_REQ), (1, DOMAINS_RSP))
    got = facts(d)
    S = Who.SERVER
    assert {(S, "vendor", "Schweitzer Engineering Laboratories", 6), (S, "model", "SEL-487E", 6),
            (S, "product", "SEL-487E", 6), (S, "firmware", "R311-V0", 6), (S, "iec61850_ld", "SEL487EPROT", 8),
            (S, "name", "SEL487E", 8), (S, "mms_max_pdu_size", "65000", 4),
            (Who.CLIENT, "mms_max_pdu_size", "65000", 3)} <= got
    assert d.flow_protocol == "mms" and not d.anomalies
    assert d.profile["identify"] == 1 and d.profile["get_name_list"] == 1 and d.profile["initiate request"] == 1
    assert d.decoded == len(cr(b"\x00\x01")) + len(CC) + sum(len(dt(p)) for p in (
        CONNECT, ACCEPT, IDENTIFY_REQ, IDENTIFY_RSP, DOMAINS_REQ, DOMAINS_RSP))


def test_names_are_logical_devices_only_when_domains_were_asked() -> None:
    variables = DOMAINS_REQ.replace(bytes.fromhex("800109"), bytes.fromhex("800100"))
    got = facts(session((0, variables), (1, DOMAINS_RSP)))
    assert not any(f in ("iec61850_ld", "name") for _, f, _, _ in got)
    got = facts(session((1, DOMAINS_RSP)))                               # the request was not seen
    assert not any(f in ("iec61850_ld", "name") for _, f, _, _ in got)


def test_partial_name_list_gives_lds_but_no_ied_name() -> None:
    more = DOMAINS_RSP.replace(bytes.fromhex("810100"), bytes.fromhex("8101ff"))
    got = facts(session((0, DOMAINS_REQ), (1, more)))
    assert (Who.SERVER, "iec61850_ld", "SEL487ECTRL", 4) in got
    assert not any(f == "name" for _, f, _, _ in got)


def test_reports_and_unknown_services_keep_their_number() -> None:
    unknown = bytes.fromhex("0100010061" "0f300d020103a008a006020107" "9f6300")   # confirmed service [99]
    d = session((0, IDENTIFY_REQ), (1, REPORT), (0, unknown))
    assert d.profile["report"] == 1 and d.profile["service 99"] == 1 and not d.anomalies


def test_malformed_mms_after_confirmation_is_an_anomaly_not_the_end() -> None:
    d = session((0, IDENTIFY_REQ), (1, IDENTIFY_RSP[:-3]), (1, IDENTIFY_RSP))
    assert [a.kind for a in d.anomalies] == ["malformed-mms"]
    assert (Who.SERVER, "vendor", "Schweitzer Engineering Laboratories", 5) in facts(d)


def test_garbage_before_mms_is_only_counted() -> None:
    d = session((0, b"\x0d\xff\x00"))
    assert d.flow_protocol == "cotp" and not d.anomalies and d.profile["cotp other payload"] == 1


def test_pending_name_list_requests_are_capped() -> None:
    reqs = [(0, DOMAINS_REQ.replace(bytes.fromhex("020102a1"), bytes([2, 1, i, 0xA1]))) for i in range(MAX_PENDING + 3)]
    d = session(*reqs)
    assert len(d.mms_pending) == MAX_PENDING
    assert [a.kind for a in d.anomalies] == ["pending-requests-cap"] * 3


def test_download_is_a_control_action_by_an_engineering_workstation() -> None:
    d = session((0, bytes.fromhex("a029020101ba24801044544c6f6746696c6573446f6d61696ea10d1a0b4d755365634143383030"
                                  "4d820100")))   # mms-initiateDownloadSequence.pcap frame 16
    got = facts(d)
    assert (Who.SERVER, "control_action", "domain download", 3) in got
    assert (Who.CLIENT, "role_hint", "engineering-workstation", 3) in got


def test_service_after_list_of_modifier_and_before_service_ext() -> None:
    """Confirmed-RequestPDU { invokeID, listOfModifier, service identify [2], service-ext [79] } (ISO 9506-2 7.1)."""
    pdu = bytes.fromhex("a00c" "020105" "3000" "8200" "bf4f02" "0500")
    p = parse_mms(pdu)
    assert (p.invoke_id, p.service) == (5, ConfirmedService.IDENTIFY)
