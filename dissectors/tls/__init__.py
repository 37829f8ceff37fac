"""TLS (RFC 5246 / RFC 8446 handshake, in the clear part of a session): this package's one declaration of itself
(otscope/domain.py ProtocolSpec). Importing it does not import the dissector.

An IT protocol (ot=False): it gives the client's JA4 fingerprint and ALPN, the server's SNI name and certificate chain
(TLS 1.0-1.2; TLS 1.3 encrypts it). The ports are hints: a flow is TLS only when a record and a handshake message
parse. tcp/4843 (OPC UA over TLS) is read here; tcp/4911 (Niagara Fox over TLS) belongs to the fox package."""

from otscope.dissectors.tls.constants import BUDGET, TLS_PORTS
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "tls", title="TLS handshake", ot=False, rank=3,
    labels=("tls-client", "tls-server"),
    roles=(Role.IT_HOST,),
    flows=(FlowEntry("tls", Transport.TCP, TLS_PORTS, "otscope.dissectors.tls.dissector:TlsDissector",
                     peek=BUDGET),),
    colours=(("tls", "#7f8c8d"),),
    identifies=("the client's JA4 fingerprint, SNI and ALPN; the server's certificate (subject, issuer, serial, "
               "validity, SAN, chain; TLS 1.0-1.2) or that TLS 1.3 hides it"),
)
