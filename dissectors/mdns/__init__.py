"""Multicast DNS (RFC 6762, udp 5353) and LLMNR (RFC 4795, udp 5355): the names a host answers for itself.
This package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import FlowEntry, Transport, spec

_IMPL = "otscope.dissectors.mdns.dissector:"

SPEC = spec(
    "mdns", title="mDNS / LLMNR", ot=False, rank=4, protocols=("mdns", "llmnr"), labels=("mdns", "llmnr"),
    roles=(),
    flows=(FlowEntry("mdns", Transport.UDP, (5353,), _IMPL + "MdnsDissector"),
           FlowEntry("llmnr", Transport.UDP, (5355,), _IMPL + "LlmnrDissector")),
    colours=(("mdns", "#a3b1b2"), ("llmnr", "#b8c4c5")),
    identifies=("a responder's own host name (mDNS and LLMNR answers), mDNS services and TXT model keys"),
)
