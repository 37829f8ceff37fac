"""BACnet/Ethernet (ANSI/ASHRAE 135 clause 7): an NPDU in an 802.3 frame behind the LLC header DSAP 0x82, SSAP
0x82, control 0x03 (UI). A BACnet router that joins BACnet/IP to an Ethernet trunk repeats its routed I-Ams
there (cisagov bacnet_services.pcap: 109 such frames). Stateless frame parser (agent/l2.py): the NPDU is decoded
by the same code as a BACnet/IP datagram's, and its facts are about the sender's MAC (and the components behind
it), those about the receiver (a control action) about the destination MAC unless it is a group address.

802.3 frames shorter than 60 octets are padded and the NPDU declares no length of its own: a padded service body
is decoded as far as its grammar goes (trailing octets after a complete I-Am or ACK are not read).
"""

from __future__ import annotations

from otscope.dissectors.bacnet.constants import BVLC_TYPE_IP, BvlcFunction
from otscope.dissectors.bacnet.dissector import BacnetIp
from otscope.dissectors.bacnet.grammar import parse_npdu
from otscope.dissectors.base import FATAL, L2Anomaly, L2Fact, L2Output, Malformed, Who

LLC_HEADER = b"\x82\x82\x03"


def parse(body: bytes) -> bytes:
    """The NPDU after the LLC header (validated: version 1, control bits, addresses)."""
    parse_npdu(bytes(body))
    return bytes(body)


def facts(npdu: bytes, src: str, dst: str) -> L2Output:
    d = BacnetIp()
    datagram = bytes([BVLC_TYPE_IP, BvlcFunction.ORIGINAL_UNICAST_NPDU]) + (4 + len(npdu)).to_bytes(2, "big") + npdu
    if d.feed(datagram, 0, 0.0, 0) == FATAL:
        raise Malformed(d.fatal_reason)
    out: L2Output = []
    group = int(dst[:2], 16) & 1
    for f in d.out:
        if f.who == Who.SERVER and group:
            continue
        mac = src if f.who == Who.CLIENT else dst
        out.append(L2Fact(mac, None, f.field, f.value, f"BACnet/Ethernet: {f.message}", f.component))
    out.extend(L2Anomaly(a.kind) for a in d.anomalies)
    return out
