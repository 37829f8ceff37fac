"""BACnet/IP (ASHRAE 135 Annex J, clauses 6 and 20): real datagrams from the public captures (cisagov icsnpp-bacnet
bacnet_services.pcap, bacnet_segmented_data.pcap, bacnet_error_reject_abort.pcap), built messages for the
cases they lack, malformed and truncated cases, unknown codes, every anomaly kind."""

from __future__ import annotations

import pytest

from otscope.dissectors.bacnet.constants import BacnetAnomaly, Charset, vendor_name
from otscope.dissectors.bacnet.dissector import BacnetIp
from otscope.dissectors.bacnet.grammar import (CharString, ObjectId, char_string, parse_apdu, parse_bvlc_body,
                                               parse_communication_control, parse_i_am, parse_npdu,
                                               parse_read_property_ack, parse_reinitialize, parse_rpm_ack,
                                               parse_who_has, parse_who_is, read_tag)
from otscope.dissectors.base import FATAL, OK, Malformed, Reader, Truncated, Who

H = bytes.fromhex
# bacnet_services.pcap 287: 192.168.0.24 Original-Broadcast, SNET 3 SADR 0x6c, I-Am device 108 vendor 42
I_AM_ROUTED = H("810b001c0128ffff000003016cfe1000c40200006c2201e09100212a")
# 290: 192.168.0.16 I-Am device 111, max APDU 50, segmented-both, vendor 42 (DNET 0xffff broadcast, no SNET)
I_AM_111 = H("810b00170120ffff00ff1000c40200006f21329103212a")
# 632: ReadProperty-ACK from net 3 addr 0x1d: device,29 vendor-name "Lithonia Lighting, Inc."
RP_VENDOR = H("810a003001080003011d30930c0c0200001d19793e7518004c6974686f6e6961204c69676874696e672c20496e632e3f")
RP_MODEL = H("810a002101080003011d30950c0c0200001d19463e75090053595343204d4c583f")              # 636 model-name
RP_FIRMWARE = H("810a001d01080003011d30960c0c0200001d192c3e750500322e36323f")                 # 638 firmware 2.62
RP_APPSW = H("810a002401080003011d30970c0c0200001d190c3e750c0031362d4465632d323030343f")       # 640 app sw
# 265: 192.168.0.50 -> DNET 3 DADR 0x6c DeviceCommunicationControl disable (password "")
DCC = H("810a001301240003016cff0203841119012900")
DCC_ERROR = H("810a001101080003016c5084119105911a")                 # 266: its Error (class 5, code 26)
DCC_1MIN = H("810a001e01240003016cff02038511090119012d090066696c6973746572")  # 267: 1 minute, password
# 398 / 399: ReinitializeDevice coldstart (password "ethereal") to DNET 3 DADR 0x6c, and its Error
REINIT = H("810a001c01240003016cff0203891409001d0900657468657265616c")
REINIT_ERROR = H("810a001101080003016c5089149105911a")
I_AM_ROUTER = H("810b000b01800100020003")                            # 274: I-Am-Router-To-Network 2,3
# bacnet_segmented_data.pcap 1 / 2: I-Have device,254 accumulator,4 "..."; Who-Has accumulator,5
I_HAVE = H("810b001d01001001c4020000fec405c0000475090103a489b793788251")
WHO_HAS = H("810b000d010010072c05c00005")
# bacnet_error_reject_abort.pcap 43-45: Error reinitialize-device (routed), Reject, Who-Is from a router NPDU
ERROR_ROUTED = H("810a00120120000d013dff5034149105911a")


def bvlc(function: int, body: bytes) -> bytes:
    return bytes([0x81, function]) + (4 + len(body)).to_bytes(2, "big") + body


def npdu(apdu: bytes, control: int = 0x00, extra: bytes = b"") -> bytes:
    return bytes([0x01, control]) + extra + apdu


def cs(s: str, charset: int = 0) -> bytes:
    """An application-tagged character string (20.2.9)."""
    enc = {0: "utf-8", 4: "utf-16-be", 5: "latin-1"}[charset]
    raw = bytes([charset]) + s.encode(enc)
    return (bytes([0x75, len(raw)]) if len(raw) >= 5 else bytes([0x70 | len(raw)])) + raw


def rp_ack(instance: int, prop: int, value: bytes, invoke: int = 1, otype: int = 8) -> bytes:
    oid = (otype << 22 | instance).to_bytes(4, "big")
    ptag = bytes([0x19, prop]) if prop < 256 else bytes([0x1A]) + prop.to_bytes(2, "big")
    return bvlc(0x0A, npdu(bytes([0x30, invoke, 0x0C, 0x0C]) + oid + ptag + b"\x3e" + value + b"\x3f"))


def run(*datagrams: tuple[int, bytes]) -> BacnetIp:
    d = BacnetIp()
    for i, (side, data) in enumerate(datagrams):
        assert d.feed(data, side, float(i), i + 1) == OK, d.fatal_reason
    return d


def facts(d: BacnetIp) -> set[tuple[int, str | None, str, str]]:
    return {(f.who, f.component, f.field, f.value) for f in d.out}


def kinds(d: BacnetIp) -> set[str]:
    return {a.kind for a in d.anomalies}


# -- grammar -------------------------------------------------------------------------------------------------

def test_bvlc_and_npdu_of_a_routed_i_am() -> None:
    b = parse_bvlc_body(0x0B, I_AM_ROUTED[4:])
    n = parse_npdu(b.npdu or b"")
    assert (n.dnet, n.dadr, n.snet, n.sadr, n.hop_count, n.message_type) == (0xFFFF, b"", 3, b"\x6c", 0xFE, None)
    a = parse_apdu(n.body)
    assert (a.pdu_type, a.service) == (1, 0)
    ia = parse_i_am(a.body)
    assert (ia.device, ia.max_apdu, ia.segmentation, ia.vendor_id) == (ObjectId(8, 108), 480, 0, 42)


def test_read_property_ack_and_character_sets() -> None:
    pv = parse_read_property_ack(parse_apdu(parse_npdu(RP_VENDOR[4:]).body).body)
    assert (pv.object, pv.property, pv.index) == (ObjectId(8, 29), 121, None)
    assert pv.values == [CharString(Charset.UTF8, "Lithonia Lighting, Inc.")]
    assert char_string(b"\x04\x00A\x00\xe9") == CharString(Charset.UCS2, "A\u00e9")
    assert char_string(b"\x05Geb\xe4ude") == CharString(Charset.ISO_8859_1, "Geb\u00e4ude")
    assert char_string(b"\x01\x03\xa4AB").text is None            # DBCS: kept undecoded, never guessed
    assert char_string(b"\x00" + b"x" * 400).cut and len(char_string(b"\x00" + b"x" * 400).text or "") == 256
    with pytest.raises(Malformed):
        char_string(b"")


def test_tags_extended_length_and_number() -> None:
    t = read_tag(Reader(b"\x75\xfe\x01\x00" + b"\x00" * 256))
    assert (t.number, t.context, t.length) == (7, False, 256)
    t = read_tag(Reader(b"\xf9\x20\x01"))                          # context tag 32, one octet
    assert (t.number, t.context, t.length) == (32, True, 1)
    with pytest.raises(Truncated):
        read_tag(Reader(b"\x75\x10abc"))
    with pytest.raises(Malformed):
        read_tag(Reader(b"\x16"))                                  # application tag with LVT 6


def test_services() -> None:
    assert parse_who_is(b"") is None and parse_who_is(H("0a03e81b0186a0")) == (1000, 100000)
    wh = parse_who_has(parse_apdu(parse_npdu(WHO_HAS[4:]).body).body)
    assert wh.object == ObjectId(23, 5) and wh.limits is None
    assert parse_reinitialize(H("090119012d090066696c6973746572")[0:2] + b"").state == 1
    c = parse_communication_control(H("09051901"))
    assert (c.duration, c.enable_disable, c.password) == (5, 1, False)
    with pytest.raises((Truncated, Malformed)):
        parse_i_am(H("c4020000"))


def test_rpm_ack_with_a_value_and_an_error() -> None:
    body = (H("0c0200000a1e") + H("294d4e") + cs("AHU-3") + H("4f") + H("2946") + H("5e91029120") + H("5f")
            + H("1f"))
    out = parse_rpm_ack(body)
    assert [(p.object, p.property, p.values) for p in out] == [(ObjectId(8, 10), 77, [CharString(0, "AHU-3")])]
    with pytest.raises(Truncated):
        parse_rpm_ack(body[:-1])


def test_vendor_table() -> None:
    assert vendor_name(42) == "Acuity Brands Lighting, Inc." and vendor_name(5) == "Johnson Controls, Inc."
    assert vendor_name(1337) == "Xxter bv" and vendor_name(65000) == ""


# -- the dissector -------------------------------------------------------------------------------------------

def test_i_am_of_a_device_behind_a_router_is_a_component() -> None:
    d = run((0, I_AM_ROUTED))
    f = facts(d)
    comp = "bacnet:3:6c"
    assert {(0, comp, "bacnet_instance", "108"), (0, comp, "bacnet_vendor_id", "42"),
            (0, comp, "vendor", "Acuity Brands Lighting, Inc."), (0, comp, "bacnet_max_apdu", "480"),
            (0, comp, "bacnet_segmentation", "segmented-both"), (0, comp, "protocol", "bacnet-server")} <= f
    assert (0, None, "role_hint", "gateway") in f and (0, None, "protocol", "bacnet") in f
    assert not [x for x in f if x[1] is None and x[2] in ("bacnet_instance", "vendor")]   # nothing on the router
    assert d.confirmed and d.profile == {"i-am": 1}


def test_i_am_of_a_device_itself() -> None:
    f = facts(run((1, I_AM_111)))
    assert (1, None, "bacnet_instance", "111") in f and (1, None, "protocol", "bacnet-server") in f
    assert not [x for x in f if x[2] == "role_hint"]


def test_device_properties_map_to_identity_fields() -> None:
    d = run((1, RP_VENDOR), (1, RP_MODEL), (1, RP_FIRMWARE), (1, RP_APPSW))
    f, c = facts(d), "bacnet:3:1d"
    assert {(1, c, "vendor", "Lithonia Lighting, Inc."), (1, c, "bacnet_vendor_name", "Lithonia Lighting, Inc."),
            (1, c, "product", "SYSC MLX"), (1, c, "firmware", "2.62"),
            (1, c, "bacnet_application_software_version", "16-Dec-2004"), (1, c, "bacnet_instance", "29")} <= f
    assert d.profile == {"complex-ack": 4}


def test_rpm_ack_on_the_device_object_utf16_and_latin1() -> None:
    body = (H("0c02000065") + H("1e") + H("294d4e") + cs("Plant room", 4) + H("4f") + H("2979") + H("4e") +
            cs("Gebäudetechnik", 5) + H("4f") + H("29f44e") + b"\x75\x04\x00SN1" + H("4f") + H("1f"))
    ack = bvlc(0x0A, npdu(H("3005") + bytes([0x0E]) + body))
    f = facts(run((1, ack)))
    assert {(1, None, "name", "Plant room"), (1, None, "vendor", "Gebäudetechnik")} <= f
    # property 0xf4 = 244 is no identity property: nothing from it


def test_serial_location_description_and_non_device_objects() -> None:
    f = facts(run((1, rp_ack(7, 58, cs("Roof"))), (1, rp_ack(7, 28, cs("AHU 3"))),
                  (1, rp_ack(7, 372, H("7500") + b"")), (1, rp_ack(7, 77, cs("AV-1"), otype=2))))
    assert {(1, None, "bacnet_location", "Roof"), (1, None, "description", "AHU 3")} <= f
    assert not [x for x in f if x[3] == "AV-1"]                    # an analog-value's name is no device name
    assert not [x for x in f if x[2] == "serial"]                  # an empty serial-number is no serial


def test_hostile_strings_are_bounded_and_printable() -> None:
    raw = b"\x00" + b"<script>\r\n\x07" * 30
    f = facts(run((1, rp_ack(1, 77, b"\x75\xfe" + len(raw).to_bytes(2, "big") + raw))))
    (name,) = [v for _w, _c, k, v in f if k == "name"]
    assert len(name) <= 128 and name.isprintable()


def test_control_actions_go_to_the_target_and_make_an_engineering_client() -> None:
    d = run((0, DCC), (1, DCC_ERROR), (0, DCC_1MIN), (0, REINIT), (1, REINIT_ERROR))
    f = facts(d)
    assert (1, "bacnet:3:6c", "control_action", "device-communication-control disable") in f
    assert (1, "bacnet:3:6c", "control_action", "device-communication-control disable for 1 min") in f
    assert (1, "bacnet:3:6c", "control_action", "reinitialize-device coldstart") in f
    assert (0, None, "role_hint", "engineering-workstation") in f and (0, None, "protocol", "bacnet-client") in f
    assert (1, "bacnet:3:6c", "protocol", "bacnet-server") in f
    assert d.profile == {"device-communication-control": 2, "error device-communication-control": 1,
                         "reinitialize-device": 1, "error reinitialize-device": 1}


def test_warm_start_and_enable_are_properties_of_the_request() -> None:
    warm = bvlc(0x0A, npdu(H("00050114") + H("0901")))
    enable = bvlc(0x0A, npdu(H("00050211") + H("091e1900")))
    f = facts(run((0, warm), (0, enable)))
    assert (1, None, "control_action", "reinitialize-device warmstart") in f
    assert (1, None, "control_action", "device-communication-control enable for 30 min") in f


def test_writes_are_counted() -> None:
    wp = bvlc(0x0A, npdu(H("0005010f") + H("0c00800000") + H("1955") + H("3e4441940000") + H("3f")))
    d = run((0, wp), (1, bvlc(0x0A, npdu(H("20010f")))))
    assert d.profile == {"write-property": 1, "writes": 1, "simple-ack write-property": 1}


def test_router_and_bbmd_messages() -> None:
    d = run((1, I_AM_ROUTER))
    assert (1, None, "bacnet_router_networks", "2,3") in facts(d) and (1, None, "role_hint", "gateway") in facts(d)
    # a router announcing only network 0 proves no router
    assert not [x for x in facts(run((1, bvlc(0x0B, H("018001") + H("0000"))))) if x[2] == "role_hint"]
    fwd = bvlc(0x04, H("c0a8010abac0") + I_AM_111[4:])
    f = facts(run((1, fwd)))
    assert (1, None, "bacnet_forwarded_from", "192.168.1.10:47808") in f and (1, None, "role_hint", "gateway") in f
    assert (1, "bacnet:fwd:c0a8010abac0", "bacnet_instance", "111") in f
    reg = run((0, bvlc(0x05, H("003c"))), (1, bvlc(0x00, H("0000"))))
    assert {(0, None, "protocol", "bacnet-client"), (0, None, "bacnet_foreign_device_ttl", "60"),
            (1, None, "role_hint", "gateway"), (1, None, "protocol", "bacnet-server")} <= facts(reg)
    bdt = run((0, bvlc(0x02, b"")), (1, bvlc(0x03, H("c0a80001bac0ffffffff"))))
    assert (1, None, "bacnet_bdt", "192.168.0.1:47808/255.255.255.255") in facts(bdt)
    nak = run((1, bvlc(0x00, H("0030"))))
    assert not [x for x in facts(nak) if x[2] == "role_hint"]
    assert nak.profile == {
        "bvlc-result register-foreign-device-nak": 1}


def test_who_is_and_who_has_make_a_client_i_have_a_server() -> None:
    d = run((0, WHO_HAS), (1, I_HAVE))
    f = facts(d)
    assert (0, None, "protocol", "bacnet-client") in f and (1, None, "protocol", "bacnet-server") in f
    assert (1, None, "bacnet_instance", "254") in f
    assert any(x[2] == "bacnet_has_object" and x[3].startswith("accumulator,4") for x in f)


# -- confirmation, anomalies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data, kind", [
    (H("82"), BacnetAnomaly.BAD_LENGTH),
    (H("820b0004"), BacnetAnomaly.NOT_BVLC),
    (H("810b0030") + I_AM_111[4:], BacnetAnomaly.BAD_LENGTH),
    (H("81200004"), BacnetAnomaly.UNKNOWN_FUNCTION),
    (H("81000005ff"), BacnetAnomaly.MALFORMED_BVLC),
    (bvlc(0x0A, H("0200")), BacnetAnomaly.MALFORMED_NPDU),
    (bvlc(0x0A, H("0150")), BacnetAnomaly.MALFORMED_NPDU),
    (bvlc(0x0A, H("0108000300")), BacnetAnomaly.MALFORMED_NPDU),          # SLEN 0
    (bvlc(0x0A, H("018042")), BacnetAnomaly.UNKNOWN_NETWORK_MESSAGE),
    (bvlc(0x0A, H("0100")), BacnetAnomaly.MALFORMED_APDU),
    (bvlc(0x0A, H("0100") + H("9000")), BacnetAnomaly.UNKNOWN_PDU_TYPE),
])
def test_before_confirmation_anything_else_is_fatal_after_it_an_anomaly(data: bytes, kind: BacnetAnomaly) -> None:
    d = BacnetIp()
    assert d.feed(data, 0, 0.0, 1) == FATAL and str(kind) in d.fatal_reason
    d = run((1, I_AM_111))
    assert d.feed(data, 0, 1.0, 2) == OK
    assert len(d.anomalies) == 1 and d.anomalies[0].kind.startswith(str(kind)), d.anomalies


def test_trailing_bytes_unknown_services_and_cut_service_bodies() -> None:
    d = run((1, I_AM_111))
    assert d.feed(I_AM_111 + b"\x00", 1, 1.0, 2) == OK
    assert d.feed(bvlc(0x0A, npdu(H("10") + H("3f"))), 0, 2.0, 3) == OK               # unconfirmed 0x3f
    assert d.feed(bvlc(0x0A, npdu(H("000501") + H("55"))), 0, 3.0, 4) == OK           # confirmed 0x55
    assert d.feed(bvlc(0x0B, npdu(H("1000c402"))), 1, 4.0, 5) == OK                   # I-Am cut
    assert kinds(d) == {"bacnet-trailing-bytes", "bacnet-unknown-service-unconfirmed-0x3f",
                        "bacnet-unknown-service-confirmed-0x55"} | {k for k in kinds(d)
                                                                   if k.startswith("bacnet-malformed-service")}
    assert any(k.startswith("bacnet-malformed-service") for k in kinds(d))
    assert d.profile["unconfirmed-0x3f"] == 1 and d.profile["confirmed-0x55"] == 1
    assert BacnetIp().feed(I_AM_111 + b"\x00", 0, 0.0, 1) == FATAL        # not confirmed: trailing bytes refuse


def test_every_anomaly_kind_is_reachable() -> None:
    """Each member of the enum is produced by some input above or here (DEVICES_LIMIT: the flow's label cap)."""
    d = run((1, I_AM_111))
    for i in range(1100):
        inst = (8 << 22 | i).to_bytes(4, "big")
        routed = npdu(H("1000c4") + inst + H("2132910321") + bytes([1]), 0x08,
                      H("0003") + bytes([2]) + i.to_bytes(2, "big"))
        d.feed(bvlc(0x0A, routed), 1, float(i), i + 2)
    assert "bacnet-devices-limit" in kinds(d)
    assert len(d.said) <= 256 * 4


def segments(ack: bytes, cut: int, invoke: int = 0x93) -> list[bytes]:
    """A real ReadProperty-ACK's service body cut in two ComplexACK segments (20.1.5: SEG, MOR, sequence)."""
    n = parse_npdu(ack[4:])
    body = parse_apdu(n.body).body
    head = ack[4:4 + len(ack) - 4 - len(n.body)]
    return [bvlc(0x0A, head + bytes([0x3C, invoke, 0, 2, 0x0C]) + body[:cut]),
            bvlc(0x0A, head + bytes([0x38, invoke, 1, 2, 0x0C]) + body[cut:])]


def test_segmented_acks_are_reassembled() -> None:
    first, last = segments(RP_VENDOR, 12)
    d = run((1, first), (1, first), (1, last))                      # a repeated segment is ignored
    assert (1, "bacnet:3:1d", "vendor", "Lithonia Lighting, Inc.") in facts(d)
    assert d.profile == {"complex-ack": 3, "segmented complex-ack": 3} and not kinds(d) and not d.segments
    d = run((1, last))                                              # no first segment: nothing, counted
    assert d.profile["segments lost"] == 1 and not [f for f in facts(d) if f[2] == "vendor"]


def test_reassembly_is_bounded() -> None:
    d = run((1, I_AM_111))
    for invoke in range(12):
        d.feed(segments(RP_VENDOR, 12, invoke)[0], 1, 1.0, invoke + 2)
    assert len(d.segments) == 8 and "bacnet-reassembly-cap" in kinds(d)
    d = run((1, I_AM_111))
    first = segments(RP_VENDOR, 12)[0]
    big = first[:2] + (len(first) + 1200).to_bytes(2, "big") + first[4:] + b"\x00" * 1200
    for seq in range(20):
        nxt = bytearray(big)
        nxt[4 + (len(first) - 4 - 5 - 12) + 2] = seq                       # the sequence number
        nxt[4 + (len(first) - 4 - 5 - 12)] = 0x3C
        d.feed(bytes(nxt), 1, float(seq), seq + 2)
    assert not d.segments and "bacnet-reassembly-cap" in kinds(d)


def test_who_is_sender_is_the_flow_client() -> None:
    d = run((0, bvlc(0x0B, npdu(H("1008")))))
    assert facts(d) == {(Who.CLIENT, None, "protocol", "bacnet-client")}


# -- BACnet/Ethernet (clause 7) ------------------------------------------------------------------------------

# bacnet_services.pcap 286: 00:e0:c9:00:10:a5 -> broadcast, 802.3 length 0x1b, LLC 82 82 03, I-Am device 108
# routed from net 3 addr 0x6c, then 12 octets of padding ("*" repeated)
ETH_286 = H("ffffffffffff00e0c90010a5001b828203" "0128ffff0000" "03016cfe1000c40200006c2201e09100212a"
            + "2a" * 12)


def test_bacnet_ethernet_frame_via_the_l2_dispatcher() -> None:
    from otscope.agent.accumulate import Accumulator
    from otscope.agent.l2 import L2Dispatcher

    acc = Accumulator("t")
    L2Dispatcher(acc).frame(0x1B, ETH_286, 0, 14, len(ETH_286), 0, 286, 1.0)
    got = {(s.mac, s.component, f, v) for (s, f, v, p) in acc.facts if p == "bacnet"}
    mac, comp = "00:e0:c9:00:10:a5", "bacnet:3:6c"
    assert {(mac, comp, "bacnet_instance", "108"), (mac, comp, "vendor", "Acuity Brands Lighting, Inc."),
            (mac, None, "role_hint", "gateway"), (mac, comp, "protocol", "bacnet-server")} <= got
    assert not acc.anomalies                     # the padding after the 802.3 length is not decoded


def test_bacnet_ethernet_facts_about_the_receiver_need_a_unicast_mac() -> None:
    from otscope.dissectors.bacnet import ethernet

    npdu = H("0104") + H("00050114") + H("0900")                      # ReinitializeDevice coldstart
    src, dst = "00:00:00:00:00:01", "00:00:00:00:00:02"
    out = ethernet.facts(ethernet.parse(npdu), src, dst)
    assert any(x.mac == dst and x.field == "control_action" for x in out)
    assert not [x for x in ethernet.facts(npdu, src, "ff:ff:ff:ff:ff:ff") if x.field == "control_action"]
    with pytest.raises(Malformed):
        ethernet.parse(H("0250"))
    with pytest.raises(Malformed):
        ethernet.facts(H("0100") + H("9000"), src, dst)              # unknown PDU type: not BACnet
