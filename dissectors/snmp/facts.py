"""SNMP messages -> facts about the datagram's sender.

* An agent's GetResponse, a Trap / SNMPv2-Trap / InformRequest / Report: the system group varbinds (RFC 3418)
  are the sender's own: sysDescr (``snmp_sys_descr``, ``description``, and vendor / product / firmware / os by
  the description families of dissectors/sysdesc.py, as LLDP does), sysObjectID (``snmp_sys_object_id``, its
  enterprise number ``snmp_enterprise`` and that number's organisation from the IANA registry as ``vendor``),
  sysName (``name``), sysLocation (``snmp_location``), sysServices (``snmp_sys_services``, raw). sysContact
  names a person: not kept.
* v3: msgAuthoritativeEngineID (RFC 3411 5 SnmpEngineID) is the sender's when the message is not reportable
  (RFC 3412 6.4: Response, Trap, Report are sent by the authoritative engine): ``snmp_engine_id`` (hex), its
  enterprise ``snmp_engine_enterprise`` and, by format, the MAC / address / text it embeds.
* The community string is a shared secret: it is never a value. A Response in a community that is a factory
  default ("public", "private") proves the agent accepts it: ``snmp_default_community`` says which default.
* Roles: none. An agent can be a switch, a printer, a PLC or a PC; a manager an NMS or an HMI.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from otscope.dissectors.base import text
from otscope.dissectors.snmp.constants import (DEFAULT_COMMUNITIES, FLAG_REPORTABLE, FROM_AGENT, PDU_NAMES,
                                               REQUESTS, SYS_DESCR, SYS_LOCATION, SYS_NAME, SYS_OBJECT_ID,
                                               SYS_SERVICES, VERSION_NAMES, Pdu, Tag, Version)
from otscope.dissectors.snmp.enterprises import AGENT_SOFTWARE, enterprise_of, organisation
from otscope.dissectors.snmp.grammar import SnmpMessage, VarBind, integer, oid_str
from otscope.dissectors.base import Reader, Malformed, Truncated
from otscope.dissectors.sysdesc import add_identity, os_of

Add = Callable[[str, str], None]
MAX_DESCR = 255                     # RFC 3418: DisplayString (SIZE (0..255))


class EngineFormat:
    """RFC 3411 5 SnmpEngineID, new format: octet 5 says what follows the enterprise number."""

    IPV4, IPV6, MAC, TEXT, OCTETS = 1, 2, 3, 4, 5


def message_name(msg: SnmpMessage) -> str:
    version = VERSION_NAMES.get(msg.version, str(msg.version))      # type: ignore[call-overload]
    if msg.pdu is None:
        return f"SNMPv{version} encrypted scoped PDU"
    return f"SNMPv{version} {PDU_NAMES.get(msg.pdu, f'PDU 0x{msg.pdu:02x}')}"   # type: ignore[call-overload]


def _string(vb: VarBind, limit: int = MAX_DESCR) -> str:
    return text(vb.value, limit) if vb.tag == Tag.OCTET_STRING else ""


def system_group(vb: VarBind, add: Add) -> None:
    """One varbind of the system group -> facts (other OIDs, exceptions and wrong types: nothing)."""
    oid = vb.oid
    if oid == SYS_DESCR:
        descr = _string(vb)
        add("snmp_sys_descr", descr)
        add("description", descr)
        if descr:
            add_identity(add, descr)
            found = os_of(descr)
            if found:
                add("os", found[0])
                add("os_family", found[1])
    elif oid == SYS_OBJECT_ID and vb.tag == Tag.OID:
        try:
            value = oid_str(vb.value)
        except (Truncated, Malformed):
            return
        add("snmp_sys_object_id", value)
        number = enterprise_of(value)
        if number is not None:
            add("snmp_enterprise", str(number))
            org = organisation(number)
            add("snmp_enterprise_org", org)
            if number not in AGENT_SOFTWARE:
                add("vendor", org)
    elif oid == SYS_NAME:
        add("name", _string(vb, 255))
    elif oid == SYS_LOCATION:
        add("snmp_location", _string(vb))
    elif oid == SYS_SERVICES and vb.tag == Tag.INTEGER:
        try:
            add("snmp_sys_services", str(integer(Reader(vb.value))))
        except (Truncated, Malformed):
            return


def engine_id(raw: bytes, add: Add) -> bool:
    """RFC 3411 5: 5..32 octets; False when outside that (an anomaly). High bit of octet 1 set: new format
    (enterprise, format octet, data), clear: the SNMPv1-era 12-octet form (enterprise then 8 octets)."""
    if not 5 <= len(raw) <= 32:
        return False
    add("snmp_engine_id", raw.hex())
    number = int.from_bytes(raw[:4], "big") & 0x7FFFFFFF
    add("snmp_engine_enterprise", str(number))
    add("snmp_engine_enterprise_org", organisation(number))
    if not raw[0] & 0x80:
        return True
    fmt, data = raw[4], raw[5:]
    if fmt == EngineFormat.MAC and len(data) == 6:
        add("snmp_engine_mac", data.hex(":"))
    elif fmt == EngineFormat.IPV4 and len(data) == 4:
        add("snmp_engine_ip", socket.inet_ntoa(data))
    elif fmt == EngineFormat.IPV6 and len(data) == 16:
        add("snmp_engine_ip", socket.inet_ntop(socket.AF_INET6, data))
    elif fmt == EngineFormat.TEXT:
        add("snmp_engine_text", text(data, 27))
    return True


def label(msg: SnmpMessage) -> str:
    """The sender's label: a manager's request makes a client, what an agent sends a server; "" unknown."""
    if msg.pdu in REQUESTS:
        return "snmp-client"
    if msg.pdu in FROM_AGENT:
        return "snmp-server"
    if msg.pdu is None:                       # encrypted v3: the reportable flag tells a request from the rest
        return "snmp-client" if msg.msg_flags & FLAG_REPORTABLE else "snmp-server"
    return ""


def sender_facts(msg: SnmpMessage, add: Add) -> bool:
    """Every fact about the sender; False when the v3 engine id was out of bounds."""
    add("protocol", label(msg))
    add("snmp_version", VERSION_NAMES.get(msg.version, ""))          # type: ignore[call-overload]
    ok = True
    if msg.version == Version.V3 and msg.engine_id and not msg.msg_flags & FLAG_REPORTABLE:
        ok = engine_id(msg.engine_id, add)
    if msg.pdu in FROM_AGENT:
        if msg.pdu == Pdu.RESPONSE and msg.community in DEFAULT_COMMUNITIES:
            add("snmp_default_community", msg.community.decode("ascii"))
        for vb in msg.varbinds:
            system_group(vb, add)
    return ok
