"""HTTP/1.x (RFC 9112 message syntax, RFC 9110 semantics; tcp 80, 8080, 8000, 8081, 2869): this package's one
declaration of itself. An IT protocol (ot=False): it reads the first request and the first answer of a flow
(request/status line and header fields, bounded) for the software a host runs (Server, User-Agent,
X-Powered-By, the page title), then detaches (DONE). Port 8443 is HTTPS (TLS), not this package's."""

from otscope.dissectors.http.constants import HTTP_PORTS, PEEK_BYTES
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "http", title="HTTP", ot=False, rank=4,
    labels=("http-client", "http-server"),
    roles=(Role.IT_HOST,),
    flows=(FlowEntry("http", Transport.TCP, HTTP_PORTS, "otscope.dissectors.http.dissector:HttpDissector",
                     peek=PEEK_BYTES),),
    colours=(("http", "#7f8c8d"),),
    identifies=("the first request and answer heads of a flow: Server, User-Agent, X-Powered-By, Host, page "
               "title; an OS only where a string states it; vendor, model and serial from a UPnP device "
               "description fetched in the capture"),
)
