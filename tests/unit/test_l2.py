"""ARP, LLDP, CDP, DHCP, PROFINET DCP grammars: hex/builder cases and malformed cases."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from scapy.contrib.cdp import CDPMsgDeviceID, CDPMsgPlatform, CDPMsgPortID, CDPMsgSoftwareVersion, CDPv2_HDR
from scapy.layers.dhcp import BOOTP, DHCP

from otscope.dissectors.arp import facts as arp_facts, grammar as arp
from otscope.dissectors.base import L2Binding, L2Fact, Malformed, Truncated
from otscope.dissectors.cdp import grammar as cdp
from otscope.dissectors.dhcp import facts as dhcp_facts, grammar as dhcp
from otscope.dissectors.lldp import facts as lldp_facts, grammar as lldp
from otscope.dissectors.pndcp import facts as dcp_facts, grammar as dcp

ARP_REPLY = bytes.fromhex("0001080006040002001b1b0102030a000007000c290405060a000001")


def test_arp_reply() -> None:
    pkt = arp.parse(ARP_REPLY)
    assert pkt.op == 2
    assert arp_facts.facts(pkt) == [L2Binding("10.0.0.7", "00:1b:1b:01:02:03", "ARP reply")]


@pytest.mark.parametrize("raw", [ARP_REPLY[:20], b"", bytes.fromhex("0006080006040001") + b"\x00" * 20])
def test_arp_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        arp.parse(raw)


def test_arp_probe_binds_nothing() -> None:
    probe = bytes.fromhex("0001080006040001001b1b010203" + "00000000" + "000000000000" + "0a000007")
    assert arp_facts.facts(arp.parse(probe)) == []


def tlv(t: int, value: bytes) -> bytes:
    return ((t << 9) | len(value)).to_bytes(2, "big") + value


def lldpdu() -> bytes:
    """IEEE 802.1AB TLVs as in zeek/lldp.pcap (values from its truth file)."""
    return (tlv(1, b"\x04" + bytes.fromhex("00222d81db10")) + tlv(2, b"\x071") + tlv(3, b"\x00\x78")
            + tlv(5, b"SMCGS8P-Smart") + tlv(6, b"SMCGS8P-Smart v3.20") + tlv(7, b"\x00\x04\x00\x04")
            + tlv(8, bytes.fromhex("0501c0a8020a0200000001") + b"\x00") + tlv(0, b""))


def test_lldp() -> None:
    f = lldp.parse(lldpdu())
    assert (f.chassis_id, f.port_id, f.system_name, f.system_desc) == (
        "00:22:2d:81:db:10", "1", "SMCGS8P-Smart", "SMCGS8P-Smart v3.20")
    assert f.enabled_caps == 0x0004 and f.mgmt_ipv4 == ["192.168.2.10"]
    out = {(x.field, x.value) for x in lldp_facts.facts(f, "00:22:2d:81:db:10")}
    assert ("role_hint", "network-device") in out and ("name", "SMCGS8P-Smart") in out


@pytest.mark.parametrize("cut", [1, 5, 12])
def test_lldp_truncated(cut: int) -> None:
    with pytest.raises((Truncated, Malformed)):
        lldp.parse(lldpdu()[:cut])


def test_lldp_without_ids_is_malformed() -> None:
    with pytest.raises(Malformed):
        lldp.parse(tlv(5, b"x") + tlv(0, b""))


def test_cdp() -> None:
    raw = bytes(CDPv2_HDR(msg=[CDPMsgDeviceID(val=b"Ns5gt"), CDPMsgPlatform(val=b"cisco WS-CE500-24TT"),
                              CDPMsgPortID(iface=b"GigabitEthernet1"), CDPMsgSoftwareVersion(val=b"12.2(25)")]))
    f = cdp.parse(raw)
    assert (f.device_id, f.platform, f.port_id, f.software) == ("Ns5gt", "cisco WS-CE500-24TT", "GigabitEthernet1",
                                                                "12.2(25)")


@pytest.mark.parametrize("raw", [b"\x07\xb4\x00\x00", b"\x02\xb4\x00\x00\x00\x01\x00\x02", b"\x02"])
def test_cdp_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        cdp.parse(raw)


def dhcp_msg(op: int, opts: list) -> bytes:
    return bytes(BOOTP(op=op, chaddr=bytes.fromhex("90b11c994929") + b"\x00" * 10, yiaddr="128.2.6.189")
                 / DHCP(options=opts))


def test_dhcp_request_and_ack() -> None:
    req = dhcp.parse(dhcp_msg(1, [("message-type", "request"), ("hostname", b"btest.is.cool"),
                                  ("requested_addr", "128.2.6.189"), ("vendor_class_id", b"MSFT 5.0"), "end"]))
    out = {(x.field, x.value) for x in dhcp_facts.facts(req, "0.0.0.0") if isinstance(x, L2Fact)}
    assert {("name", "btest.is.cool"), ("dhcp_vendor_class", "MSFT 5.0"),
            ("dhcp_requested_ip", "128.2.6.189")} <= out
    ack = dhcp.parse(dhcp_msg(2, [("message-type", "ack"), ("server_id", "128.2.6.152"), "end"]))
    assert L2Binding("128.2.6.189", "90:b1:1c:99:49:29", "DHCP ACK") in dhcp_facts.facts(ack, "128.2.6.152")


@pytest.mark.parametrize("raw", [b"\x01\x01\x06" + b"\x00" * 100, dhcp_msg(1, ["end"])[:-10][:239],
                                 b"\x05\x01\x06\x00" + b"\x00" * 300])
def test_dhcp_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        dhcp.parse(raw)


# Identify response as captured in ChangeIPUsingDCP.pcap (values from its truth file), rebuilt by hand:
DCP_IDENT_RSP = bytes.fromhex(
    "feff" "0501" "00000001" "0000" "0044"
    "0201" "0006" "0000" "494e4300"                                 # station type "INC"
    "0202" "000b" "0000" "58323038" "2d424f5244" "00"              # NameOfStation "X208-BORD" (+pad)
    "0203" "0006" "0000" "002a" "0a01"                              # vendor 0x002a device 0x0a01
    "0204" "0004" "0000" "0100"                                     # role 0x01 IO-device
    "0102" "000e" "0001" "c0a80006" "ffffff00" "c0a80001"           # IP 192.168.0.6
)


def test_dcp_identify_response() -> None:
    f = dcp.parse(DCP_IDENT_RSP)
    assert (f.name_of_station, f.station_type, f.vendor_id, f.device_id, f.role, f.ip) == (
        "X208-BORD", "INC", 0x2A, 0x0A01, 1, "192.168.0.6")
    out = dcp_facts.facts(f, "08:00:06:93:cf:32", "00:0c:29:ba:09:ea")
    assert L2Binding("192.168.0.6", "08:00:06:93:cf:32", "PN-DCP Identify-response") in out
    fields = {(x.field, x.value) for x in out if isinstance(x, L2Fact)}
    assert {("name", "X208-BORD"), ("vendor", "Siemens"), ("role_hint", "io-device")} <= fields


def test_dcp_set_request_describes_the_target() -> None:
    raw = bytes.fromhex("fefd" "0400" "00000002" "0000" "0012" "0102" "000e" "0001" "c0a8000a" "ffffff00" "c0a80001")
    out = dcp_facts.facts(dcp.parse(raw), "00:0c:29:ba:09:ea", "08:00:06:93:cf:32")
    assert L2Binding("192.168.0.10", "08:00:06:93:cf:32", "PN-DCP Set-request") in out
    assert L2Fact("00:0c:29:ba:09:ea", None, "role_hint", "engineering-workstation", "PN-DCP Set-request") in out


def test_dcp_identify_filter_is_a_weak_name_only() -> None:
    raw = bytes.fromhex("fefe" "0500" "00000003" "0001" "000b" "0202" "0007" "73776974636833" "00")
    out = dcp_facts.facts(dcp.parse(raw), "00:1b:1b:02:9a:c3", "01:0e:cf:00:00:00")
    fields = {(x.field, x.value) for x in out if isinstance(x, L2Fact)}
    assert ("name_weak", "switch3") in fields and not any(f == "name" for f, _ in fields)


@pytest.mark.parametrize("raw", [b"\xfe", b"\x12\x34" + b"\x00" * 10, DCP_IDENT_RSP[:7],
                                 bytes.fromhex("feff0901000000010000000a")])
def test_dcp_malformed(raw: bytes) -> None:
    with pytest.raises((Truncated, Malformed)):
        dcp.parse(raw)


@given(st.binary(min_size=0, max_size=40), st.binary(min_size=0, max_size=40))
def test_arp_memo_key_decides_the_output(a: bytes, b: bytes) -> None:
    """agent/l2.py replays the output of an earlier ARP frame with the same memo key: that is only right if
    equal keys always mean equal output (facts or error)."""
    def outcome(raw: bytes) -> object:
        try:
            return arp_facts.facts(arp.parse(raw))
        except (Truncated, Malformed) as exc:
            return type(exc)

    for x, y in ((a, b), (ARP_REPLY[:18] + a, ARP_REPLY[:18] + b), (ARP_REPLY + a, ARP_REPLY[:18] + b)):
        if arp.memo_key(x) == arp.memo_key(y):
            assert outcome(x) == outcome(y)
    assert arp.memo_key(ARP_REPLY[:18]) != arp.memo_key(ARP_REPLY)      # truncated vs whole: different keys


def test_l2_memo_gives_what_parsing_gives() -> None:
    """The same frames through a dispatcher with and without its memo: the same accumulator content."""
    from otscope.agent.accumulate import Accumulator
    from otscope.agent.l2 import L2Dispatcher

    eth = bytes.fromhex("ffffffffffff001b1b010203") + b"\x08\x06"
    other_target = ARP_REPLY[:18] + bytes.fromhex("000c2904050a0a000063")
    frames = [eth + ARP_REPLY, eth + other_target, eth + ARP_REPLY[:20], eth + ARP_REPLY, eth + ARP_REPLY[:20]]
    results = []
    for memo in (True, False):
        acc = Accumulator("t")
        d = L2Dispatcher(acc)
        for i, f in enumerate(frames):
            if not memo:
                d.memo.clear()
            d.frame(0x0806, f, 0, 14, len(f), 0, i + 1, 100.0 + i)
        results.append((acc.facts, acc.bindings, acc.anomalies))
    assert results[0] == results[1]
    assert results[0][2][("arp", "truncated")][0] == 2
