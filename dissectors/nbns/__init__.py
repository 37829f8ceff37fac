"""NetBIOS over TCP/IP name service (RFC 1001/1002, udp 137) and the browser announcements carried by NetBIOS
datagrams (udp 138, SMB mailslot \\MAILSLOT\\BROWSE, [MS-BRWS]): this package's one declaration of itself."""

from otscope.domain import FlowEntry, Transport, spec

_IMPL = "otscope.dissectors.nbns.dissector:"

SPEC = spec(
    "nbns", title="NetBIOS name service / browser", ot=False, rank=4, protocols=("nbns", "browser"),
    labels=("nbns", "nbns-server", "browser"), roles=(),
    flows=(FlowEntry("nbns", Transport.UDP, (137,), _IMPL + "NbnsDissector"),
           FlowEntry("browser", Transport.UDP, (138,), _IMPL + "BrowserDissector")),
    colours=(("nbns", "#95a5a6"), ("browser", "#bdc3c7")),
    identifies=("NetBIOS names and workgroups from registrations, node answers and node status (with the node's "
               "MAC), browser announcements (OS version, server type, comment)"),
)
