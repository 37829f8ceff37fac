"""DHCP client fingerprints (dissectors/dhcp/fingerprint.py): every rule, first match wins, the weak source."""

from __future__ import annotations

import pytest

from otscope.dissectors.base import L2Fact
from otscope.dissectors.dhcp import facts as dhcp_facts
from otscope.dissectors.dhcp.fingerprint import PRL_RULES, VENDOR_RULES, classify
from otscope.dissectors.dhcp.grammar import DhcpMessage, Fqdn
from otscope.dissectors.registry import protocol_rank


@pytest.mark.parametrize("prl, vendor, name, family", [
    ("1,3,6,15,31,33,43,44,46,47,119,121,249,252", "MSFT 5.0", "Windows 10/11", "windows"),
    ("1,15,3,6,44,46,47,31,33,121,249,43", "MSFT 5.0", "Windows 7/8", "windows"),
    ("1,15,3,6,44,46,47,31,33,121,249,43,252", "MSFT 5.0", "Windows 7/8", "windows"),   # INFORM adds 252
    ("1,15,3,6,44,46,47,31,33,249,43", "", "Windows XP", "windows"),
    ("1,28,2,3,15,6,119,12,44,47,26,121,42", "", "ISC dhclient", "linux"),
    ("1,28,2,3,15,6,12", "", "ISC dhclient", "linux"),
    ("1,3,6,12,15,28,42", "udhcp 1.35.0", "busybox udhcpc", "linux"),
    ("1,3,12,15,6,42,119,121", "", "systemd-networkd", "linux"),
    ("1,121,3,6,15,119,252,95,44,46", "", "Apple macOS/iOS", "macos"),
    ("1,3,6,15,26,28,51,58,59,43", "android-dhcp-13", "Android (android-dhcp)", "linux"),
    ("1,2,3", "MSFT 5.0", "Microsoft DHCP client (MSFT 5.0)", "windows"),
    ("1,2,3", "dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:BCM2835", "dhcpcd (linux)", "linux"),
    ("1,2,3", "dhcpcd-9.4.1:NetBSD-9.3:amd64", "dhcpcd (bsd)", "bsd"),
])
def test_rules(prl: str, vendor: str, name: str, family: str) -> None:
    rule = classify(prl, vendor)
    assert rule is not None and (rule.name, rule.os_family) == (name, family)


def test_no_rule_no_guess() -> None:
    assert classify("1,28,2,3,15,6,12,40", "") is None                     # an exact rule is not a prefix
    assert classify("", "Rockwell 1756-EN2T") is None
    assert classify("1,3,6,12,15,28,421", "") is None                      # a prefix ends at a comma
    assert classify("", "dhcpcd-9:Plan9-1:x") is None
    assert all(r.prl for r in PRL_RULES) and all(r.vendor for r in VENDOR_RULES)


def test_the_guess_is_the_weak_fingerprint_source() -> None:
    msg = DhcpMessage(1, "00:11:22:33:44:55", "0.0.0.0", "0.0.0.0", msg_type=1, hostname="pc7",
                      vendor_class="MSFT 5.0", param_list="1,3,6,15,31,33,43,44,46,47,119,121,249,252",
                      fqdn=Fqdn(0, 0, 0, "pc7.plant.example"))
    out = dhcp_facts.facts(msg, "0.0.0.0")
    by = {(f.field, f.value): f for f in out if isinstance(f, L2Fact)}
    assert by[("os_family", "windows")].protocol == "dhcp-fingerprint"
    assert by[("dhcp_client_guess", "Windows 10/11")].protocol == "dhcp-fingerprint"
    assert by[("dhcp_fingerprint", "1,3,6,15,31,33,43,44,46,47,119,121,249,252")].protocol is None
    assert ("domain", "plant.example") in by and ("dhcp_vendor_class", "MSFT 5.0") in by
    rank = protocol_rank()
    assert rank["dhcp-fingerprint"] > rank["snmp"] and rank["dhcp-fingerprint"] > rank["dhcp"]


# -- DHCPv6 (dhcp/dhcpv6.py): output-eve-ftp-data/input.pcap frame 5, a Windows SOLICIT ----------------------------

SOLICIT = bytes.fromhex(
    "01a630b60008000205dc0001000e000100011771b601082e5f7632970003000c16685d4300000000000000000027000d000b6a61656b"
    "757279752d48500010000e0000013700084d53465420352e30000600080018001700110027")


def test_dhcpv6_solicit() -> None:
    from otscope.dissectors.base import OK
    from otscope.dissectors.dhcp.dissector import Dhcpv6Dissector
    d = Dhcpv6Dissector()
    assert d.feed(SOLICIT, 0, 0.0, 1) == OK
    got = {(f.field, f.value, f.protocol) for f in d.out}
    assert {("name", "jaekuryu-HP", None), ("dhcpv6_vendor_class", "MSFT 5.0", None),
            ("dhcpv6_enterprise", "311", None), ("dhcpv6_duid_mac", "08:2e:5f:76:32:97", None),
            ("dhcpv6_duid_type", "LLT", None), ("dhcpv6_fingerprint", "24,23,17,39", None),
            ("protocol", "dhcpv6-client", None), ("os_family", "windows", "dhcp-fingerprint")} <= got


def test_dhcpv6_malformed() -> None:
    from otscope.dissectors.base import FATAL, OK, Malformed, Truncated
    from otscope.dissectors.dhcp.dhcpv6 import parse, wire_name
    from otscope.dissectors.dhcp.dissector import Dhcpv6Anomaly, Dhcpv6Dissector
    for raw in (b"", b"\x01\x00\x00", b"\x63\x00\x00\x00", SOLICIT[:-1]):
        with pytest.raises((Truncated, Malformed)):
            parse(raw)
    with pytest.raises(Malformed):
        wire_name(b"\x40" + b"a" * 64)
    d = Dhcpv6Dissector()
    assert d.feed(b"\x63junk", 0, 0.0, 1) == FATAL
    d = Dhcpv6Dissector()
    bad_fqdn = b"\x01\x00\x00\x01" + b"\x00\x27\x00\x03\x00\x09a"
    assert d.feed(bad_fqdn, 0, 0.0, 1) == OK and [a.kind for a in d.anomalies] == [Dhcpv6Anomaly.BAD_OPTION]
    assert parse(b"\x0c" + bytes(40)).options == {}                        # a relay message: about other hosts
