"""Identity rules of the layer-2/3 dissectors (issue 12): DHCP/BOOTP names and bindings, RFC 4702 FQDN,
LLDP/CDP identity, chassis MAC, management address and capabilities, PROFINET DCP product and vendor.
Hex-built frames, with malformed cases; each test fails when its rule is removed."""

from __future__ import annotations

import socket
import struct

import pytest

from otscope.dissectors.base import L2Anomaly, L2Binding, L2Fact, Malformed, Truncated
from otscope.dissectors.cdp import facts as cdp_facts, grammar as cdp
from otscope.dissectors.dhcp import facts as dhcp_facts, grammar as dhcp
from otscope.dissectors.lldp import facts as lldp_facts, grammar as lldp
from otscope.dissectors.pndcp import facts as dcp_facts, grammar as dcp
from otscope.dissectors.pndcp.vendors import PNO_VENDORS

CLIENT = "00:1b:1b:0a:0b:0c"
SERVER_IP = "10.0.0.1"


# -- DHCP / BOOTP ----------------------------------------------------------------------------------------

def opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def bootp(op: int, options: bytes | None, yiaddr: str = "10.0.0.7", sname: bytes = b"", file: bytes = b"",
          vend: bytes = b"\x00" * 64) -> bytes:
    """RFC 951 / RFC 2131 message; options None = plain BOOTP (no magic cookie, 64-byte vendor area)."""
    hdr = struct.pack(">BBBBIHH4s4s4s4s16s", op, 1, 6, 0, 0x1234, 0, 0, b"\0" * 4, socket.inet_aton(yiaddr),
                      b"\0" * 4, b"\0" * 4, bytes.fromhex(CLIENT.replace(":", "")) + b"\0" * 10)
    body = hdr + sname.ljust(64, b"\0") + file.ljust(128, b"\0")
    return body + (vend if options is None else struct.pack(">I", dhcp.MAGIC) + options + b"\xff")


def dhcp_out(raw: bytes, src: str = SERVER_IP) -> tuple[set[tuple[str | None, str | None, str, str]], list]:
    items = dhcp_facts.facts(dhcp.parse(raw), src)
    return {(x.mac, x.ip, x.field, x.value) for x in items if isinstance(x, L2Fact)}, items


MSG_TYPE = {t: opt(53, bytes([t])) for t in range(1, 9)}


def test_offer_names_the_client_but_binds_nothing() -> None:
    facts, items = dhcp_out(bootp(2, MSG_TYPE[2] + opt(12, b"plc-7")))
    assert (CLIENT, None, "name", "plc-7") in facts
    assert (CLIENT, None, "dhcp_offered_ip", "10.0.0.7") in facts
    assert not any(isinstance(x, L2Binding) for x in items)          # an offer is not a lease


def test_ack_names_and_binds_the_client() -> None:
    facts, items = dhcp_out(bootp(2, MSG_TYPE[5] + opt(12, b"plc-7")))
    assert (CLIENT, None, "name", "plc-7") in facts
    assert L2Binding("10.0.0.7", CLIENT, "DHCP ACK") in items
    name = next(x for x in items if isinstance(x, L2Fact) and x.field == "name")
    assert "assigned by the server" in name.message


def test_nak_gives_no_name() -> None:
    facts, items = dhcp_out(bootp(2, MSG_TYPE[6] + opt(12, b"plc-7"), yiaddr="0.0.0.0"))
    assert not any(f[2] == "name" for f in facts) and not any(isinstance(x, L2Binding) for x in items)


def test_bootreply_with_rfc1497_extensions_names_and_binds() -> None:
    facts, items = dhcp_out(bootp(2, opt(12, b"rtu-3")))
    assert (CLIENT, None, "name", "rtu-3") in facts
    assert L2Binding("10.0.0.7", CLIENT, "BOOTP BOOTREPLY") in items


def test_plain_rfc951_bootreply_binds() -> None:
    msg = dhcp.parse(bootp(2, None))
    assert (msg.cookie, msg.msg_type, msg.type_name) == (False, None, "BOOTREPLY")
    assert dhcp_facts.facts(msg, SERVER_IP) == [L2Fact(None, SERVER_IP, "protocol", "dhcp-server", "BOOTP BOOTREPLY"),
                                                L2Binding("10.0.0.7", CLIENT, "BOOTP BOOTREPLY")]


@pytest.mark.parametrize("yiaddr", ["255.255.255.255", "224.0.0.9", "127.0.0.1"])
def test_reply_with_an_address_no_host_can_hold_binds_nothing(yiaddr: str) -> None:
    _, items = dhcp_out(bootp(2, MSG_TYPE[5], yiaddr=yiaddr))
    assert not any(isinstance(x, L2Binding) for x in items)


@pytest.mark.parametrize("op,mtype", [(1, 5), (1, 2), (2, 3), (2, 1)])
def test_op_and_message_type_that_disagree_are_an_anomaly_only(op: int, mtype: int) -> None:
    facts, items = dhcp_out(bootp(op, MSG_TYPE[mtype] + opt(12, b"x")))
    assert items == [L2Anomaly("op-type-mismatch")]


def test_plain_bootp_shorter_than_its_vendor_area_is_truncated() -> None:
    with pytest.raises(Truncated):
        dhcp.parse(bootp(2, None)[:280])


def test_bootrequest_without_cookie_names_nothing() -> None:
    facts, items = dhcp_out(bootp(1, None, yiaddr="0.0.0.0"), src="0.0.0.0")
    assert facts == {(CLIENT, None, "protocol", "dhcp-client")}


def test_client_gives_hostname_and_fqdn_and_vendor_class() -> None:
    fqdn = opt(81, b"\x00\x00\x00" + b"8fd12edd2dc1462.")                   # as in suspicious-time.pcap frame 3
    facts, _ = dhcp_out(bootp(1, MSG_TYPE[3] + opt(12, b"8fd12edd2dc1462") + fqdn + opt(60, b"MSFT 5.0"),
                              yiaddr="0.0.0.0"), src="0.0.0.0")
    assert {(CLIENT, None, "name", "8fd12edd2dc1462"), (CLIENT, None, "name", "8fd12edd2dc1462."),
            (CLIENT, None, "dhcp_vendor_class", "MSFT 5.0")} <= facts


def test_server_vendor_class_is_the_servers() -> None:
    facts, _ = dhcp_out(bootp(2, MSG_TYPE[5] + opt(60, b"ArubaAP")))
    assert (None, SERVER_IP, "dhcp_vendor_class", "ArubaAP") in facts
    assert not any(f[0] == CLIENT and f[2] == "dhcp_vendor_class" for f in facts)


@pytest.mark.parametrize("value,flags,name", [
    (b"\x00\x00\x00host.example.", 0, "host.example."),                                  # ASCII (E=0)
    (b"\x05\x00\x00\x04host\x07example\x03com\x00", 5, "host.example.com"),              # wire, fully qualified
    (b"\x04\xff\xff\x04host", 4, "host"),                                                 # wire, partial; rcodes 255
])
def test_fqdn_encodings(value: bytes, flags: int, name: str) -> None:
    f = dhcp.parse_fqdn(value)
    assert (f.flags, f.name) == (flags, name)


def test_fqdn_from_the_server_names_the_client() -> None:
    facts, _ = dhcp_out(bootp(2, MSG_TYPE[5] + opt(81, b"\x05\xff\xff\x03plc\x04site\x00")))
    assert (CLIENT, None, "name", "plc.site") in facts


@pytest.mark.parametrize("value", [
    b"\x04\x00\x00\x04host\xc0\x0c",          # compression pointer: forbidden in option 81 (RFC 4702 2.3.1)
    b"\x04\x00\x00\x09host",                  # label longer than the data
    b"\x04\x00\x00\x00trailing",              # bytes after the root label
    b"\x10\x00\x00host",                      # MBZ flag bits set
    b"\x00\x00",                              # shorter than flags + rcodes
])
def test_malformed_fqdn_is_counted_and_the_rest_survives(value: bytes) -> None:
    facts, items = dhcp_out(bootp(1, MSG_TYPE[3] + opt(81, value) + opt(12, b"good"), yiaddr="0.0.0.0"), "0.0.0.0")
    assert L2Anomaly("fqdn-malformed") in items
    assert (CLIENT, None, "name", "good") in facts


def test_repeated_option_is_concatenated() -> None:                          # RFC 3396
    facts, _ = dhcp_out(bootp(1, MSG_TYPE[1] + opt(12, b"long-") + opt(12, b"name"), yiaddr="0.0.0.0"), "0.0.0.0")
    assert (CLIENT, None, "name", "long-name") in facts


def test_option_overload_reads_the_file_field() -> None:                     # RFC 2132 9.3
    raw = bootp(2, MSG_TYPE[5] + opt(52, b"\x01"), file=opt(12, b"in-file") + b"\xff")
    facts, _ = dhcp_out(raw)
    assert (CLIENT, None, "name", "in-file") in facts
    facts, _ = dhcp_out(bootp(2, MSG_TYPE[5], file=opt(12, b"in-file") + b"\xff"))   # no overload: file is a file
    assert not any(f[2] == "name" for f in facts)


def test_overlong_concatenation_is_malformed() -> None:
    with pytest.raises(Malformed):
        dhcp.parse(bootp(1, opt(12, b"x" * 255) * 5))


def test_hostile_name_is_printable_and_bounded() -> None:
    facts, _ = dhcp_out(bootp(1, MSG_TYPE[1] + opt(12, b"\x1b[31mevil\x07" + b"A" * 240), yiaddr="0.0.0.0"),
                        "0.0.0.0")
    (name,) = [f[3] for f in facts if f[2] == "name"]
    assert name.isprintable() and len(name) <= dhcp.NAME_LIMIT and "\x1b" not in name


def test_dhcp_anomaly_reaches_the_accumulator() -> None:
    from otscope.agent.accumulate import Accumulator
    from otscope.agent.l2 import L2Dispatcher

    acc = Accumulator("t")
    d = L2Dispatcher(acc)
    d.datagram(68, 67, bootp(1, MSG_TYPE[3] + opt(81, b"\x10\x00\x00x"), yiaddr="0.0.0.0"), "0.0.0.0", 0, 1, 1.0)
    d.datagram(67, 68, bootp(2, None), SERVER_IP, 0, 2, 2.0)
    assert acc.anomalies[("dhcp", "fqdn-malformed")][0] == 1
    assert (0, "10.0.0.7", CLIENT, "high") in acc.bindings


# -- LLDP -------------------------------------------------------------------------------------------------

def tlv(t: int, value: bytes) -> bytes:
    return ((t << 9) | len(value)).to_bytes(2, "big") + value


SCALANCE_DESC = (b"Siemens, SIMATIC NET, SCALANCE X204IRT, 6GK5 204-0BA00-2BA3, HW: Version 9, "
                 b"FW: Version V05.04.02, SVPL6147920")


def lldpdu(chassis: bytes = b"\x04" + bytes.fromhex("001b1b0102cb"), caps: int = 0x0004,
           mgmt: str = "192.168.0.99", desc: bytes = SCALANCE_DESC) -> bytes:
    return (tlv(1, chassis) + tlv(2, b"\x07port-003") + tlv(3, b"\x00\x14") + tlv(6, desc)
            + tlv(7, struct.pack(">HH", caps, caps)) + tlv(8, b"\x05\x01" + socket.inet_aton(mgmt) + b"\x02\0\0\0\1\0")
            + tlv(0, b""))


def lldp_out(raw: bytes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for x in lldp_facts.facts(lldp.parse(raw), "00:1b:1b:01:02:ce"):
        out.setdefault(x.field, set()).add(x.value)
    return out


def test_lldp_identity_from_the_system_description() -> None:
    out = lldp_out(lldpdu())
    assert (out["vendor"], out["product"], out["order_number"], out["firmware"]) == (
        {"Siemens"}, {"SCALANCE X204IRT"}, {"6GK5 204-0BA00-2BA3"}, {"V05.04.02"})
    assert out["description"] == {SCALANCE_DESC.decode()}


def test_chassis_mac_only_from_subtype_4() -> None:
    assert lldp_out(lldpdu())["chassis_mac"] == {"00:1b:1b:01:02:cb"}
    local = lldp_out(lldpdu(chassis=b"\x07" + b"windows-7-vm"))                # subtype 7: locally assigned
    assert "chassis_mac" not in local and local["lldp_chassis_id"] == {"windows-7-vm"}
    odd = lldp_out(lldpdu(chassis=b"\x04" + bytes(5)))                          # subtype 4 but not 6 bytes
    assert "chassis_mac" not in odd


@pytest.mark.parametrize("ip", ["0.0.0.0", "255.255.255.255", "224.0.0.5"])
def test_unusable_management_address_is_no_fact(ip: str) -> None:
    assert "management_ip" not in lldp_out(lldpdu(mgmt=ip))
    assert lldp_out(lldpdu())["management_ip"] == {"192.168.0.99"}


@pytest.mark.parametrize("caps,network", [(0x0004, True), (0x0008, True), (0x0010, True), (0x0100, True),
                                          (0x0200, True), (0x0080, False), (0x0020, False), (0x0001, False)])
def test_lldp_capabilities_role(caps: int, network: bool) -> None:
    raw = lldpdu(caps=caps)
    assert ("network-device" in lldp_out(raw).get("role_hint", set())) is network
    if network:
        (hint,) = [x for x in lldp_facts.facts(lldp.parse(raw), "m") if x.field == "role_hint"]
        assert hint.message.startswith("LLDP enabled capabilities ")


def med(sub: int, value: bytes) -> bytes:
    return tlv(127, b"\x00\x12\xbb" + bytes([sub]) + value)


def test_lldp_med_inventory_is_identity() -> None:
    # ANSI/TIA-1057 10.2.6 inventory TLVs (OUI 00-12-BB): manufacturer 9, model 10, firmware 6, serial 8
    raw = lldpdu(desc=b"IP phone")[:-2] + med(9, b"Acme Corp") + med(10, b"AP-100") + med(6, b"2.1.7") \
        + med(8, b"SN12345") + med(11, b"") + tlv(127, b"\x00\x12\x0f\x01\x03") + tlv(0, b"")
    items = lldp_facts.facts(lldp.parse(raw), "m")
    got = {(x.field, x.value, x.message) for x in items}
    assert {("vendor", "Acme Corp", "LLDP-MED inventory"), ("product", "AP-100", "LLDP-MED inventory"),
            ("firmware", "2.1.7", "LLDP-MED inventory"), ("serial", "SN12345", "LLDP-MED inventory")} <= got
    assert not any(f == "asset_id" for f, _, _ in got)                       # empty: absent, not a fact


def test_lldp_short_org_tlv_is_counted_and_the_rest_survives() -> None:
    raw = lldpdu()[:-2] + tlv(127, b"\x00\x12") + tlv(0, b"")
    items = lldp_facts.facts(lldp.parse(raw), "m")
    assert L2Anomaly("org-tlv-short") in items and any(x.field == "vendor" for x in items if isinstance(x, L2Fact))


def test_lldp_management_addresses_are_bounded() -> None:
    many = b"".join(tlv(8, b"\x05\x01" + socket.inet_aton(f"10.0.0.{i}") + b"\x02\0\0\0\1\0") for i in range(1, 30))
    assert len(lldp.parse(lldpdu()[:-2] + many + tlv(0, b"")).mgmt_ipv4) == lldp.MAX_MGMT


def test_lldp_caps_tlv_length_is_checked() -> None:
    with pytest.raises(Malformed):
        lldp.parse(tlv(1, b"\x07x") + tlv(7, b"\x00\x04") + tlv(0, b""))


# -- CDP --------------------------------------------------------------------------------------------------

def ctlv(t: int, value: bytes) -> bytes:
    return struct.pack(">HH", t, len(value) + 4) + value


def addresses(*ips: str) -> bytes:
    return struct.pack(">I", len(ips)) + b"".join(b"\x01\x01\xcc" + struct.pack(">H", 4) + socket.inet_aton(i)
                                                  for i in ips)


# TLVs as in ITI openics/EIP-ChangeTimeAttempt.pcap frame 40 (values from tshark), rebuilt by hand
IOS = (b"Cisco IOS Software, CE500 Software (CE500-LANBASE-M), Version 12.2(25)SEG4, RELEASE SOFTWARE (fc1)\n"
       b"Copyright (c) 1986-2007 by Cisco Systems, Inc.\nCompiled Mon 13-Aug-07 17:34 by yenanh")


def cdp_frame(caps: int = 0x28, extra: bytes = b"") -> bytes:
    return (b"\x02\xb4\x00\x00" + ctlv(1, b"Ns5gt") + ctlv(5, IOS) + ctlv(6, b"cisco WS-CE500-24TT")
            + ctlv(2, addresses("192.168.10.253")) + ctlv(3, b"GigabitEthernet1") + ctlv(4, struct.pack(">I", caps))
            + extra)


def cdp_out(raw: bytes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for x in cdp_facts.facts(cdp.parse(raw), "00:1e:f6:73:59:81"):
        out.setdefault(x.field, set()).add(x.value)
    return out


def test_cdp_identity_from_software_version_and_platform() -> None:
    out = cdp_out(cdp_frame())
    assert (out["vendor"], out["firmware"], out["product"]) == ({"Cisco"}, {"12.2(25)SEG4"}, {"cisco WS-CE500-24TT"})
    (desc,) = out["description"]
    assert desc.startswith("Cisco IOS Software, CE500") and " | Copyright" in desc and "\ufffd" not in desc


@pytest.mark.parametrize("caps,network", [(0x28, True), (0x02, True), (0x01, True), (0x04, True), (0x400, True),
                                          (0x10, False), (0x20, False), (0x80, False)])
def test_cdp_capabilities_role(caps: int, network: bool) -> None:
    assert ("network-device" in cdp_out(cdp_frame(caps)).get("role_hint", set())) is network


def test_cdp_management_address_tlv() -> None:
    out = cdp_out(cdp_frame(extra=ctlv(0x16, addresses("10.9.9.9", "0.0.0.0"))))
    assert out["management_ip"] == {"192.168.10.253", "10.9.9.9"}


@pytest.mark.parametrize("raw", [cdp_frame()[:-3], b"\x02\xb4\x00\x00" + ctlv(1, b"x") + ctlv(2, b"\x00\x00\x00\x02"),
                                 b"\x02\xb4\x00\x00" + ctlv(5, IOS)])
def test_cdp_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        cdp.parse(raw)


# -- PROFINET DCP -----------------------------------------------------------------------------------------

def block(option: int, sub: int, value: bytes, info: bytes = b"\x00\x00") -> bytes:
    body = info + value
    return bytes([option, sub]) + struct.pack(">H", len(body)) + body + b"\x00" * (len(body) & 1)


def dcp_pdu(frame_id: int, service: int, stype: int, blocks: bytes) -> bytes:
    return struct.pack(">HBBIHH", frame_id, service, stype, 7, 0, len(blocks)) + blocks


def ident_rsp(vendor: int, device: int = 0x0101, station: bytes = b"ET200SP") -> bytes:
    return dcp_pdu(0xFEFF, 5, 1, block(2, 1, station) + block(2, 2, b"io-1") + block(2, 3, struct.pack(">HH", vendor,
                                                                                                      device)))


def dcp_out(raw: bytes, src: str = "00:1b:1b:aa:bb:cc", dst: str = "00:0c:29:00:00:01") -> set[tuple[str, str, str]]:
    return {(x.mac, x.field, x.value) for x in dcp_facts.facts(dcp.parse(raw), src, dst) if isinstance(x, L2Fact)}


def test_dcp_response_station_type_is_the_product_and_vendor_from_the_table() -> None:
    out = dcp_out(ident_rsp(0x002A))
    src = "00:1b:1b:aa:bb:cc"
    assert {(src, "product", "ET200SP"), (src, "pn_station_type", "ET200SP"), (src, "vendor", "Siemens"),
            (src, "pn_vendor_id", "0x002a"), (src, "pn_device_id", "0x0101")} <= out


@pytest.mark.parametrize("vid", sorted(PNO_VENDORS))
def test_dcp_vendor_table(vid: int) -> None:
    assert ("00:1b:1b:aa:bb:cc", "vendor", PNO_VENDORS[vid]) in dcp_out(ident_rsp(vid))


def test_dcp_unknown_vendor_id_keeps_its_number_only() -> None:
    out = dcp_out(ident_rsp(0x7777))
    assert ("00:1b:1b:aa:bb:cc", "pn_vendor_id", "0x7777") in out
    assert not any(f == "vendor" for _, f, _ in out)


def test_dcp_hello_describes_the_sender() -> None:
    raw = dcp_pdu(0xFEFC, 6, 0, block(2, 1, b"S7-1500") + block(2, 3, struct.pack(">HH", 0x002A, 0x0E0E)))
    out = dcp_out(raw)
    assert {("00:1b:1b:aa:bb:cc", "product", "S7-1500"), ("00:1b:1b:aa:bb:cc", "vendor", "Siemens")} <= out


def test_dcp_set_request_gives_the_target_no_identity() -> None:
    # a Set request carrying station type, device id and role blocks (not settable, but on the wire: hostile)
    blocks = (block(2, 2, b"new-name", b"\x00\x01") + block(2, 1, b"FAKE", b"\x00\x01")
              + block(2, 3, struct.pack(">HH", 0x002A, 1), b"\x00\x01") + block(2, 4, b"\x02\x00", b"\x00\x01")
              + block(1, 2, socket.inet_aton("10.0.0.9") + bytes(8), b"\x00\x01"))
    items = dcp_facts.facts(dcp.parse(dcp_pdu(0xFEFD, 4, 0, blocks)), "00:0c:29:00:00:01", "00:1b:1b:aa:bb:cc")
    target = {(x.field, x.value) for x in items if isinstance(x, L2Fact) and x.mac == "00:1b:1b:aa:bb:cc"}
    # what the tool asks the device to take, and (the events layer) that it writes the device's name
    assert target == {("pn_name_requested", "new-name"), ("pn_ip", "10.0.0.9"),
                      ("config_change", "DCP Set name of station")}
    assert L2Binding("10.0.0.9", "00:1b:1b:aa:bb:cc", "PN-DCP Set-request") in items


def test_dcp_identify_request_filter_gives_no_product() -> None:
    raw = dcp_pdu(0xFEFE, 5, 0, block(2, 1, b"ET200SP", b"") + block(2, 3, struct.pack(">HH", 0x002A, 1), b""))
    assert not any(f in ("product", "vendor") for _, f, _ in dcp_out(raw))
