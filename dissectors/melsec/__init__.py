"""Mitsubishi MELSEC: SLMP / MC protocol 3E and 4E frames, binary and ASCII (SLMP Reference Manual; tcp/udp on the
customary ports 1025-1030 and 5000-5010, hints only: a valid request/response pair confirms), and the MELSOFT
datagram of GX Works3 on udp/5560. This package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.dissectors.melsec.constants import DIRECTION_PORTS, HINT_PORTS, MELSOFT_UDP_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

_IMPL = "otscope.dissectors.melsec.dissector:"

SPEC = spec(
    "melsec", title="MELSEC SLMP / MC protocol", ot=True, rank=1, protocols=("melsec", "melsoft"),
    labels=("melsec-client", "melsec-server", "melsoft-client", "melsoft-server"),
    roles=(Role.PLC, Role.HMI_SCADA, Role.EWS),
    flows=(FlowEntry("melsec", Transport.TCP, DIRECTION_PORTS, _IMPL + "MelsecTcp"),
           FlowEntry("melsec", Transport.UDP, DIRECTION_PORTS, _IMPL + "MelsecUdp"),
           # the other hint ports are common ephemeral client ports: they decide no flow's direction
           FlowEntry("melsec", Transport.TCP, HINT_PORTS, _IMPL + "MelsecTcpHint", direction=False),
           FlowEntry("melsec", Transport.UDP, HINT_PORTS, _IMPL + "MelsecUdpHint", direction=False),
           FlowEntry("melsoft", Transport.UDP, (MELSOFT_UDP_PORT,),
                     _IMPL + "MelsoftUdp")),
    colours=(("melsec", "#d35400"), ("melsoft", "#e67e22")),
    identifies=("SLMP/MC protocol 3E/4E (binary and ASCII): Read CPU Model (model name and code), remote "
               "run/stop/pause/latch clear/reset as control actions, device reads and writes by device; the GX "
               "Works3 MELSOFT datagram on udp/5560: an iQ-F CPU's model"),
    # the events layer's reading of its control actions (collector/events.py)
    event_actions=(
        EventAction("melsec", "remote run", "plc-start", "remote RUN"),
        EventAction("melsec", "remote stop", "plc-stop", "remote STOP"),
        EventAction("melsec", "remote pause", "plc-stop", "remote PAUSE"),
        EventAction("melsec", "remote reset", "plc-start", "remote RESET", "T0816"),
    ),
)
