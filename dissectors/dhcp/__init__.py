"""DHCP / BOOTP (RFC 2131) datagrams between UDP 67 and 68, and DHCPv6 (RFC 8415) on UDP 546/547: this
package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import FlowEntry, FrameEntry, Transport, spec

SPEC = spec(
    "dhcp", title="DHCP", ot=False, rank=2, protocols=("dhcp", "dhcpv6"),
    labels=("dhcp", "dhcp-client", "dhcp-server", "dhcpv6-client", "dhcpv6-server"), roles=(),
    flows=(FlowEntry("dhcpv6", Transport.UDP, (546, 547), "otscope.dissectors.dhcp.dissector:Dhcpv6Dissector"),),
    frames=(FrameEntry("otscope.dissectors.dhcp.grammar:parse", "otscope.dissectors.dhcp.facts:facts",
                       udp_ports=(67, 68), context=("src_ip",)),),
    identifies=("IP-to-MAC bindings from the server's ACK, host names, FQDN and vendor class of clients, the option 55 "
                "request list as a fingerprint (a weak OS family by published rules); DHCPv6 client FQDN, vendor "
                "class, DUID"),
)
