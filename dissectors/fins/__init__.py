"""Omron FINS (FINS Commands Reference Manual W342; FINS/TCP W421; udp/tcp 9600): this package's one
declaration of itself (otscope/domain.py ProtocolSpec). Importing it does not import the dissector."""

from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

SPEC = spec(
    "fins", title="Omron FINS", ot=True, rank=1,
    labels=("fins-client", "fins-server"),
    roles=(Role.PLC, Role.HMI_SCADA, Role.EWS),
    flows=(FlowEntry("fins", Transport.UDP, (9600,), "otscope.dissectors.fins.dissector:FinsUdp"),
           FlowEntry("fins", Transport.TCP, (9600,), "otscope.dissectors.fins.dissector:FinsTcp")),
    colours=(("fins", "#2c7fb8"),),
    identifies=("FINS node addresses, Controller Data Read (model, version), Connection Data Read (unit models as"
               " components), Controller Status Read (run/program/monitor mode), memory-area reads and writes, "
               "RUN/STOP and program writes as control actions"),
    # the events layer's reading of its control actions (collector/events.py)
    event_actions=(
        EventAction("fins", "run", "plc-start", "RUN"),
        EventAction("fins", "stop", "plc-stop", "STOP"),
        EventAction("fins", "program write", "program-download", "program write"),
        EventAction("fins", "program clear", "program-delete", "program clear"),
        EventAction("fins", "parameter area write", "config-write", "parameter area write"),
        EventAction("fins", "parameter area clear", "config-write", "parameter area clear"),
        EventAction("fins", "clock write", "time-set", "clock write"),
    ),
)
