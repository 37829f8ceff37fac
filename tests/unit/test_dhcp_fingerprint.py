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
