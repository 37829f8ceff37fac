"""DHCP / BOOTP (RFC 2131) datagrams between UDP 67 and 68: this package's one declaration of itself
(otscope/domain.py ProtocolSpec)."""

from otscope.domain import FrameEntry, spec

SPEC = spec(
    "dhcp", title="DHCP", ot=False, rank=2, labels=("dhcp", "dhcp-client", "dhcp-server"), roles=(),
    frames=(FrameEntry("otscope.dissectors.dhcp.grammar:parse", "otscope.dissectors.dhcp.facts:facts",
                       udp_ports=(67, 68), context=("src_ip",)),),
    identifies=("IP-to-MAC bindings from the server's ACK, host names and vendor class of clients"),
)
