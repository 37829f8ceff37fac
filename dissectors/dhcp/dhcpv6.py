"""DHCPv6 (RFC 8415) client messages on udp 546/547 -> facts about the sending client.

Message: msg-type (1 octet), transaction-id (3), then options (code 2, length 2, data; 21.1). Read from client
messages (SOLICIT, REQUEST, CONFIRM, RENEW, REBIND, RELEASE, DECLINE, INFORMATION-REQUEST): Client FQDN (option
39, RFC 4704: flags, then a wire-format name, possibly partial) -> ``name`` (host label) and ``domain``; Vendor
Class (16, 21.16: enterprise-number, then length-prefixed vendor-class-data) -> ``dhcpv6_vendor_class`` and
``dhcpv6_enterprise``; Client Identifier (1): the DUID (11: type 1 LLT / 3 LL carry a link-layer address,
2 EN an enterprise number) -> ``dhcpv6_duid``, ``dhcpv6_duid_type``, ``dhcpv6_duid_mac`` (the address the DUID
was made from: an interface of the client, not necessarily this one), ``dhcpv6_duid_enterprise``; Option
Request (6) -> ``dhcpv6_fingerprint`` (the raw comma list). Server messages only label the server; relay
messages (12, 13) are about other hosts: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from otscope.dissectors.base import Malformed, Truncated, text

MAX_OPTIONS = 64
CLIENT_TYPES = frozenset({1, 3, 4, 5, 6, 8, 9, 11})
SERVER_TYPES = frozenset({2, 7, 10})
RELAY_TYPES = frozenset({12, 13})


class Opt(IntEnum):
    CLIENTID = 1
    ORO = 6
    VENDOR_CLASS = 16
    CLIENT_FQDN = 39


class Duid(IntEnum):
    LLT = 1
    EN = 2
    LL = 3
    UUID = 4


@dataclass(slots=True)
class Dhcpv6Message:
    msg_type: int
    options: dict[int, bytes] = field(default_factory=dict)      # first occurrence of each code


def parse(data: bytes) -> Dhcpv6Message:
    data = bytes(data)
    if len(data) < 4:
        raise Truncated("DHCPv6 header")
    msg = Dhcpv6Message(data[0])
    if not 1 <= msg.msg_type <= 13:
        raise Malformed(f"DHCPv6 message type {msg.msg_type}")
    if msg.msg_type in RELAY_TYPES:
        return msg
    pos, n, count = 4, len(data), 0
    while pos < n:
        if pos + 4 > n:
            raise Truncated("DHCPv6 option header")
        code, length = int.from_bytes(data[pos:pos + 2], "big"), int.from_bytes(data[pos + 2:pos + 4], "big")
        if pos + 4 + length > n:
            raise Truncated("DHCPv6 option data")
        count += 1
        if count > MAX_OPTIONS:
            break
        msg.options.setdefault(code, bytes(data[pos + 4:pos + 4 + length]))
        pos += 4 + length
    return msg


def wire_name(raw: bytes) -> str:
    """RFC 4704 4.1 / RFC 1035 3.1 labels, no compression; a partial name has no root label."""
    labels, pos = [], 0
    while pos < len(raw):
        length = raw[pos]
        if length == 0:
            break
        if length > 63 or pos + 1 + length > len(raw):
            raise Malformed("Client FQDN label")
        labels.append(raw[pos + 1:pos + 1 + length])
        pos += 1 + length
    return text(b".".join(labels), 255)


def vendor_class(raw: bytes) -> tuple[int, str]:
    if len(raw) < 4:
        raise Truncated("vendor class enterprise number")
    enterprise, pos, parts = int.from_bytes(raw[:4], "big"), 4, []
    while pos + 2 <= len(raw) and len(parts) < 8:
        length = int.from_bytes(raw[pos:pos + 2], "big")
        parts.append(raw[pos + 2:pos + 2 + length])
        pos += 2 + length
    return enterprise, text(b" ".join(parts), 128)


def duid_facts(raw: bytes, add) -> None:  # type: ignore[no-untyped-def]
    if len(raw) < 2:
        return
    kind = int.from_bytes(raw[:2], "big")
    add("dhcpv6_duid", raw[:32].hex())
    add("dhcpv6_duid_type", Duid(kind).name if kind in Duid._value2member_map_ else str(kind))
    if kind in (Duid.LLT, Duid.LL):
        at = 8 if kind == Duid.LLT else 4
        if len(raw) >= at + 6 and raw[2:4] == b"\x00\x01":            # hardware type 1: Ethernet
            add("dhcpv6_duid_mac", raw[at:at + 6].hex(":"))
    elif kind == Duid.EN and len(raw) >= 6:
        add("dhcpv6_duid_enterprise", str(int.from_bytes(raw[2:6], "big")))


def facts(msg: Dhcpv6Message, add) -> None:  # type: ignore[no-untyped-def]
    """Facts about the sender through ``add(field, value)``; Truncated/Malformed of one option is the caller's."""
    if msg.msg_type in SERVER_TYPES:
        add("protocol", "dhcpv6-server")
        return
    if msg.msg_type not in CLIENT_TYPES:
        return
    add("protocol", "dhcpv6-client")
    o = msg.options
    if Opt.CLIENTID in o:
        duid_facts(o[Opt.CLIENTID], add)
    if Opt.ORO in o:
        raw = o[Opt.ORO][:128]
        add("dhcpv6_fingerprint", ",".join(str(int.from_bytes(raw[i:i + 2], "big")) for i in range(0, len(raw) - 1, 2)))
    if Opt.VENDOR_CLASS in o:
        enterprise, data = vendor_class(o[Opt.VENDOR_CLASS])
        add("dhcpv6_enterprise", str(enterprise))
        add("dhcpv6_vendor_class", data)
    if Opt.CLIENT_FQDN in o and len(o[Opt.CLIENT_FQDN]) > 1:
        name = wire_name(o[Opt.CLIENT_FQDN][1:])
        host, _, domain = name.partition(".")
        add("name", host)
        add("domain", domain)
