"""mDNS / LLMNR messages -> facts about the responder (the datagram's sender).

* mDNS (RFC 6762 6): a response carries the responder's own records. The owner name of its address records
  (A/AAAA) and the target of its reverse PTR records (``x.in-addr.arpa`` / ``ip6.arpa``) is its host name
  (``name``), when the response names exactly one host: a response naming several (a Sleep Proxy, a gateway
  answering for others, RFC 6762 17) gives no name. Service instances it announces (PTR ``_svc._tcp.local``):
  ``mdns_service``. TXT keys that state the device's model: ``model=`` (``mdns_model``), printers' ``ty=``,
  ``usb_MFG=``/``usb_MDL=`` (``vendor``/``product``), ``product=``.
* LLMNR (RFC 4795 2.1): a responder answers only for names it is authoritative for: the owner name of the
  A/AAAA answers of a response (RCODE 0, not truncated) is its ``name``.
* Queries name what the sender looks for, not itself: label only.
"""

from __future__ import annotations

from collections.abc import Callable

from otscope.dissectors.base import text
from otscope.dissectors.dnsmsg import DnsMessage, Rr, read_name
from otscope.dissectors.mdns.constants import ADDRESS_TYPES, MAX_SERVICES, TXT_FIELDS, RType

Add = Callable[[str, str], None]
REVERSE = (b"in-addr", b"ip6")


def dotted(labels: tuple[bytes, ...]) -> str:
    return text(b".".join(labels), 255)


def _is_reverse(labels: tuple[bytes, ...]) -> bool:
    return len(labels) >= 2 and labels[-1].lower() == b"arpa" and labels[-2].lower() in REVERSE


def _ptr_target(msg_buf: bytes, rr: Rr) -> tuple[bytes, ...]:
    return read_name(msg_buf, rr.rdata_at)[0]


def host_names(buf: bytes, records: list[Rr]) -> set[str]:
    names: set[str] = set()
    for rr in records:
        if rr.rtype in ADDRESS_TYPES:
            names.add(dotted(rr.labels))
        elif rr.rtype == RType.PTR and _is_reverse(rr.labels):
            names.add(dotted(_ptr_target(buf, rr)))
    names.discard("")
    return names


def txt_pairs(rdata: bytes) -> list[tuple[bytes, bytes]]:
    """RFC 6763 6: length-prefixed strings 'key=value' (at most 32 read)."""
    out = []
    pos = 0
    while pos < len(rdata) and len(out) < 32:
        n = rdata[pos]
        item = rdata[pos + 1:pos + 1 + n]
        pos += 1 + n
        key, sep, value = item.partition(b"=")
        if sep:
            out.append((key.lower(), value))
    return out


def mdns_facts(buf: bytes, msg: DnsMessage, add: Add) -> None:
    add("protocol", "mdns")
    if not msg.response:
        return
    records = msg.records()
    names = host_names(buf, records)
    if len(names) == 1:
        add("name", names.pop())
    services = 0
    for rr in records:
        if rr.rtype == RType.PTR and not _is_reverse(rr.labels) and services < MAX_SERVICES:
            if len(rr.labels) >= 3 and rr.labels[0].startswith(b"_") and rr.labels[0] != b"_services":
                add("mdns_service", dotted(rr.labels[:2]))
                services += 1
        elif rr.rtype == RType.TXT:
            for key, value in txt_pairs(rr.rdata):
                field = TXT_FIELDS.get(key)
                if field:
                    add(field, text(value, 128))


def llmnr_facts(msg: DnsMessage, add: Add) -> None:
    add("protocol", "llmnr")
    if not msg.response or msg.rcode or msg.flags & 0x0200:      # TC: RFC 4795 2.1.1
        return
    names = {dotted(rr.labels) for rr in msg.answers if rr.rtype in ADDRESS_TYPES} - {""}
    if len(names) == 1:
        add("name", names.pop())
