"""Mitsubishi MELSEC: SLMP / MC protocol 3E and 4E frames, binary and ASCII (SLMP Reference Manual; tcp/udp on the
customary ports 1025-1030 and 5000-5010, hints only: a valid request/response pair confirms), and the MELSOFT
datagram of GX Works3 on udp/5560. This package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.dissectors.melsec.constants import MELSOFT_UDP_PORT, PORTS
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "melsec", title="MELSEC SLMP / MC protocol", ot=True, rank=1, protocols=("melsec", "melsoft"),
    labels=("melsec-client", "melsec-server", "melsoft-client", "melsoft-server"),
    roles=(Role.PLC, Role.HMI_SCADA, Role.EWS),
    flows=(FlowEntry("melsec", Transport.TCP, PORTS, "otscope.dissectors.melsec.dissector:MelsecTcp"),
           FlowEntry("melsec", Transport.UDP, PORTS, "otscope.dissectors.melsec.dissector:MelsecUdp"),
           FlowEntry("melsoft", Transport.UDP, (MELSOFT_UDP_PORT,),
                     "otscope.dissectors.melsec.dissector:MelsoftUdp")),
    colours=(("melsec", "#d35400"), ("melsoft", "#e67e22")),
)
