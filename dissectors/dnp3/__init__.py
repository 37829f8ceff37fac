"""DNP3 (IEEE 1815) over TCP and UDP 20000: this package's one declaration of itself (otscope/domain.py
ProtocolSpec; dissectors/registry.py lists it). Importing it does not import the dissector."""

from otscope.dissectors.dnp3.constants import DNP3_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

_IMPL = "otscope.dissectors.dnp3.dissector:"

SPEC = spec(
    "dnp3", title="DNP3 (IEEE 1815)", ot=True, rank=0,
    labels=("dnp3-client", "dnp3-server"),
    roles=(Role.RTU_IED, Role.HMI_SCADA),
    # the outstation label (link DIR=0 sender) proves an RTU/IED, not a PLC
    server_roles=(("dnp3-server", Role.RTU_IED, "answers DNP3 as an outstation (link DIR=0, IEEE 1815 9.2.4.1.3.1)"),),
    flows=(FlowEntry("dnp3", Transport.TCP, (DNP3_PORT,), _IMPL + "Dnp3Dissector"),
           FlowEntry("dnp3", Transport.UDP, (DNP3_PORT,), _IMPL + "Dnp3UdpDissector")),
    colours=(("dnp3", "#8e44ad"),),
    gap_note="DNP3 outstations announce vendor and firmware only in group 0 device attributes, which this "
             "capture does not contain",
    identifies=("link addresses, master vs outstation from the DIR bit, application function profile, group 0 "
               "device attributes (manufacturer, model, hardware/software versions, serial, user-assigned name "
               "and location)"),
    # constants.profile_key: writes and operate commands; "time sync" is a WRITE of g50 (the master's clock)
    write_counters=(("dnp3", "write"), ("dnp3", "operate"), ("dnp3", "direct-operate"), ("dnp3", "direct-operate-nr")),
    time_sync_counters=(("dnp3", "time sync"),),
)
