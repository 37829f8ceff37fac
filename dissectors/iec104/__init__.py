"""IEC 60870-5-104 (telecontrol over TCP, port 2404): this package's one declaration of itself
(otscope/domain.py ProtocolSpec; dissectors/registry.py lists it). Importing it does not import the dissector."""

from otscope.dissectors.iec104.constants import IEC104_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

SPEC = spec(
    "iec104", title="IEC 60870-5-104", ot=True, rank=0,
    labels=("iec104-client", "iec104-server"),
    roles=(Role.RTU_IED, Role.HMI_SCADA),
    flows=(FlowEntry("iec104", Transport.TCP, (IEC104_PORT,),
                     "otscope.dissectors.iec104.dissector:Iec104Dissector"),),
    colours=(("iec104", "#8e44ad"),),
    # IEC 60870-5-104 9.1: the controlled station (RTU, IED, substation gateway) listens on 2404
    server_roles=(("iec104-server", Role.RTU_IED, "answers IEC 60870-5-104 on tcp/2404 (controlled station)"),),
    gap_note="IEC 60870-5-104 carries no vendor, model or firmware: only common addresses (stations) and the "
             "data it exchanges; an LLDP/SNMP/HTTP identity or an engineering export would close the gap",
    identifies=("controlling vs controlled station, APCI state (STARTDT/STOPDT/TESTFR), common addresses as "
               "station components, type-id profile (commands, interrogation, clock sync, file transfer); no "
               "vendor or firmware on the wire"),
    # constants.Category: commands and parameters in control direction; C_CS_NA_1 clock synchronisation
    write_counters=(("iec104", "command"), ("iec104", "parameter")),
    time_sync_counters=(("iec104", "clock-sync"),),
)
