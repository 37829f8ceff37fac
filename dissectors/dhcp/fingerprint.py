"""DHCP client fingerprints: which DHCP client software (hence OS family) sent a request, from the order of its
parameter request list (option 55, RFC 2132 9.8) and its vendor class (option 60, RFC 2132 9.13).

A weak signal (a fingerprint names the DHCP *client*, and a user can change what it asks for): its ``os_family``
fact is the ``dhcp-fingerprint`` source's, ranked 6 (otscope/domain.py SOURCE_RANK), so any stated OS (SMB,
NTLMSSP, SNMP sysDescr) wins over it; conflicts stay side by side. The rules are data, first match wins,
parameter list before vendor class; each says where its fact comes from:

* PRADS ``etc/dhcp.fp`` (gamelinux/prads): Windows XP (``1,15,3,6,44,46,47,31,33,249,43``), Windows 7
  (``1,15,3,6,44,46,47,31,33,121,249,43``), both with vendor class ``MSFT 5.0``; ISC dhclient on Ubuntu
  (``1,28,2,3,15,6,119,12,44,47,26,121,42``; with no ``request`` statement in dhclient.conf, its compiled-in
  default ``1,28,2,3,15,6,12``, measured with Debian's isc-dhcp-client 4.4.3); busybox udhcp on OpenWrt (``udhcp 1.15.3``, ``1,3,6,12,15,17,28,42``).
* The public captures here: Windows 10 ``1,3,6,15,31,33,43,44,46,47,119,121,249,252`` with ``MSFT 5.0``
  (ethercrab-rs dumps; the same list is Fingerbank's Windows 10 fingerprint); Windows 7 INFORM with 252 appended.
* systemd ``src/libsystemd-network/sd-dhcp-client.c`` ``default_req_opts``: 1, 3, 12, 15, 6 first, networkd
  appends its own; busybox ``networking/udhcp/common.c``: options flagged OPTION_REQ, in table order
  (``1,3,6,12,15,28,42`` by default; measured with Debian's udhcpc in tests/integration/test_names_peer.py).
* Microsoft DHCP client vendor class ``MSFT 5.0`` (Windows 2000 and later) / ``MSFT 98``; AOSP's
  ``android-dhcp-<release>``; dhcpcd's ``dhcpcd-<version>:<sysname>-<release>:<machine>:<platform>``.
* Apple's client list starts ``1,121,3,6,15,119,252`` (macOS and iOS; Fingerbank's Apple family).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    name: str                   # what the fingerprint names (``dhcp_client_guess``)
    os_family: str              # otscope/domain vocabulary: windows, linux, macos, bsd, embedded, ...
    prl: str = ""               # parameter request list: equal to this, or starting with it plus a comma
    prefix: bool = False
    vendor: str = ""            # vendor class prefix


VENDOR_RULES = (
    Rule("Microsoft DHCP client (MSFT 5.0)", "windows", vendor="MSFT 5.0"),
    Rule("Microsoft DHCP client (MSFT 98)", "windows", vendor="MSFT 98"),
    Rule("Android (android-dhcp)", "linux", vendor="android-dhcp-"),
    Rule("busybox udhcpc", "linux", vendor="udhcp "),
    Rule("dhcpcd on Linux", "linux", vendor="dhcpcd-"),           # refined by _dhcpcd_os()
)
PRL_RULES = (
    Rule("Windows 10/11", "windows", "1,3,6,15,31,33,43,44,46,47,119,121,249,252"),
    Rule("Windows 7/8", "windows", "1,15,3,6,44,46,47,31,33,121,249,43", prefix=True),
    Rule("Windows XP", "windows", "1,15,3,6,44,46,47,31,33,249,43", prefix=True),
    Rule("ISC dhclient", "linux", "1,28,2,3,15,6,119,12,44,47,26,121,42", prefix=True),
    Rule("ISC dhclient", "linux", "1,28,2,3,15,6,12"),        # its compiled-in default list (no request statement)
    Rule("busybox udhcpc", "linux", "1,3,6,12,15,28,42", prefix=True),
    Rule("busybox udhcpc", "linux", "1,3,6,12,15,17,28,42", prefix=True),
    Rule("systemd-networkd", "linux", "1,3,12,15,6", prefix=True),
    Rule("Apple macOS/iOS", "macos", "1,121,3,6,15,119,252", prefix=True),
)
DHCPCD_SYSNAMES = {"Linux": "linux", "NetBSD": "bsd", "FreeBSD": "bsd", "OpenBSD": "bsd", "DragonFly": "bsd"}


def _prl_match(rule: Rule, prl: str) -> bool:
    return prl == rule.prl or (rule.prefix and prl.startswith(rule.prl + ","))


def _dhcpcd_os(vendor_class: str) -> str:
    """dhcpcd's vendor class names the kernel: 'dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:BCM2835'."""
    parts = vendor_class.split(":")
    sysname = parts[1].split("-", 1)[0] if len(parts) > 1 else ""
    return DHCPCD_SYSNAMES.get(sysname, "")


def classify(prl: str, vendor_class: str) -> Rule | None:
    """The first rule the request matches (parameter list rules first: they name the release; then the
    vendor class), or None."""
    if prl:
        for rule in PRL_RULES:
            if _prl_match(rule, prl):
                return rule
    for rule in VENDOR_RULES:
        if vendor_class.startswith(rule.vendor):
            if rule.vendor == "dhcpcd-":
                family = _dhcpcd_os(vendor_class)
                return Rule(f"dhcpcd ({family})", family, vendor=rule.vendor) if family else None
            return rule
    return None
