"""HART-IP (FieldComm Group HCF_SPEC-085; tcp/udp 5094): this package's one declaration of itself
(otscope/domain.py ProtocolSpec). Importing it does not import the dissector."""

from otscope.dissectors.hartip.constants import HARTIP_PORT, UDP_SESSION_PORT
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "hartip", title="HART-IP", ot=True, rank=1,
    labels=("hartip-client", "hartip-server"),
    roles=(Role.RTU_IED, Role.GATEWAY, Role.HMI_SCADA),
    flows=(FlowEntry("hartip", Transport.TCP, (HARTIP_PORT,), "otscope.dissectors.hartip.dissector:HartIpTcp"),
           FlowEntry("hartip", Transport.UDP, (HARTIP_PORT, UDP_SESSION_PORT),
                     "otscope.dissectors.hartip.dissector:HartIpUdp")),
    # a HART-IP server answers for a HART field device (itself, or the instruments behind it when it is a gateway:
    # role_hint gateway once several device addresses answer)
    server_roles=(("hartip-server", Role.RTU_IED, "answers HART-IP (a HART field device or its server)"),),
    colours=(("hartip", "#16a085"),),
    identifies=("session initiate, command 0 (expanded device type, device id, revisions, manufacturer id by "
               "number), tags and descriptors (commands 12/13/20); gateways with their HART instruments as "
               "components"),
)
