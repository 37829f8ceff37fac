"""NetBIOS name service and browser -> facts about the sender.

Name service (RFC 1002): what a node says of its *own* names.
* Registration, refresh, multi-homed registration requests (opcodes 5, 8, 9; RFC 1002 4.2.2, 4.2.4): the
  name in the additional record is the sender's. A unique <00> or <20> name is its computer name (``name``);
  a group <00> or <1C>/<1E> name, a unique <1B>/<1D> name is its workgroup or domain (``domain``).
* A positive name query response from a node (RA clear: RFC 1002 4.2.14 sets RA only in an NBNS's answers,
  which are about other hosts and are not used): the answered name is the responder's.
* A node status response (RFC 1002 4.2.18) lists the names the responding node owns, and its unit id (MAC):
  ``nbns_unit_id``.
Label: ``nbns`` for any sender of a valid packet, ``nbns-server`` for a node that answered (as tshark's).

Browser ([MS-BRWS] 2.2): a HostAnnouncement / LocalMasterAnnouncement is the sender's: ServerName (``name``),
OS version (``browser_os_version`` raw, and ``os`` when the numbers are a Windows release: weak, a Samba
server announces what it is configured to), ServerType (``browser_server_type`` as names, raw hex kept),
Comment (``browser_comment``), the workgroup it is announced to (destination name <1D>/<1E>: ``domain``). A
DomainAnnouncement's ServerName is the sender's workgroup (``domain``).
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.dissectors.nbns.constants import (ANNOUNCEMENTS, HOST_SUFFIXES, SERVER_TYPES, BrowserOp, NmFlag,
                                               Opcode, RrType, Suffix)
from otscope.dissectors.nbns.grammar import Announcement, Datagram, NbName, NbnsPacket
from otscope.dissectors.sysdesc import windows_os

Add = Callable[[str, str], None]
REGISTRATIONS = frozenset({Opcode.REGISTRATION, Opcode.REFRESH, Opcode.REFRESH_ALT, Opcode.MULTIHOMED})
SKIP_NAMES = frozenset({"", "*", "__MSBROWSE__", "\x01\x02__MSBROWSE__\x02"})


def own_name(n: NbName, group: bool, add: Add) -> None:
    """A name the sender owns -> name or domain by its suffix and group bit."""
    if n.name in SKIP_NAMES or "MSBROWSE" in n.name:
        return
    if not group and n.suffix in HOST_SUFFIXES:
        add("name", n.name)
    elif (group and n.suffix in (Suffix.WORKSTATION, Suffix.DOMAIN_CONTROLLERS, Suffix.BROWSER_ELECTION)) or \
            (not group and n.suffix in (Suffix.DOMAIN_MASTER, Suffix.MASTER_BROWSER)):
        add("domain", n.name)
    if n.scope:
        add("nbns_scope", n.scope)


def nbns_message(p: NbnsPacket) -> str:
    try:
        op = Opcode(p.opcode).name.lower().replace("_", " ")
    except ValueError:
        op = f"opcode {p.opcode}"
    return f"NBNS {op} {'response' if p.response else 'request'}"


def nbns_facts(p: NbnsPacket, add: Add) -> None:
    add("protocol", "nbns")
    if not p.response and p.opcode in REGISTRATIONS:
        for rec in p.records:
            if rec.rtype == RrType.NB:
                own_name(rec.name, rec.group, add)
        return
    if not p.response or p.rcode or p.opcode != Opcode.QUERY:
        return
    add("protocol", "nbns-server")
    for rec in p.records:
        if rec.rtype == RrType.NBSTAT:
            for n, group in rec.node_names:
                own_name(n, group, add)
            if rec.unit_id and rec.unit_id != "00:00:00:00:00:00":
                add("nbns_unit_id", rec.unit_id)
        elif rec.rtype == RrType.NB and not p.flags & NmFlag.RA:
            own_name(rec.name, rec.group, add)


def server_types(bits: int) -> str:
    names = [name for bit, name in SERVER_TYPES if bits & bit]
    rest = bits & ~sum(bit for bit, _ in SERVER_TYPES)
    if rest:
        names.append(f"0x{rest:08x}")
    return ",".join(names)


def browser_message(d: Datagram) -> str:
    if d.browser_op is None:
        return "NetBIOS datagram"
    try:
        return f"Browser {BrowserOp(d.browser_op).name.replace('_', ' ').title().replace(' ', '')}"
    except ValueError:
        return f"Browser opcode {d.browser_op}"


def browser_facts(d: Datagram, add: Add) -> None:
    if d.browser_op is None:
        return
    add("protocol", "browser")
    a = d.announcement
    if a is None or a.opcode not in ANNOUNCEMENTS:
        return
    if a.opcode == BrowserOp.DOMAIN_ANNOUNCEMENT:
        add("domain", a.server)
        return
    announcement(a, add)
    if d.destination.suffix in (Suffix.MASTER_BROWSER, Suffix.BROWSER_ELECTION):
        add("domain", d.destination.name)


def announcement(a: Announcement, add: Add) -> None:
    add("name", a.server)
    add("browser_os_version", f"{a.os_major}.{a.os_minor}")
    add("os", windows_os(a.os_major, a.os_minor))
    add("browser_server_type", server_types(a.server_type))
    add("browser_server_type_raw", f"0x{a.server_type:08x}")
    add("browser_comment", a.comment)
