"""SSDP (UPnP Device Architecture 1.1 section 1, HTTP over UDP on 1900): NOTIFY announcements and M-SEARCH
answers. This package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import FlowEntry, Transport, spec

SPEC = spec(
    "ssdp", title="SSDP / UPnP", ot=False, rank=4, labels=("ssdp",), roles=(),
    flows=(FlowEntry("ssdp", Transport.UDP, (1900,), "otscope.dissectors.ssdp.dissector:SsdpDissector"),),
    colours=(("ssdp", "#c0ccce"),),
    identifies=("SSDP NOTIFY and search answers: Server header, location URL, device UUID and type; M-SEARCH user"
               " agents"),
)
