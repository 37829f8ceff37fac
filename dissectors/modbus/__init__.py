"""Modbus/TCP: this package's one declaration of itself (otscope/domain.py ProtocolSpec; dissectors/registry.py
lists it). Importing it does not import the dissector: the class is named by its import path."""

from otscope.dissectors.modbus.constants import MODBUS_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

SPEC = spec(
    "modbus", title="Modbus/TCP", ot=True, rank=0,
    labels=("modbus-client", "modbus-server"),
    roles=(Role.PLC, Role.HMI_SCADA, Role.GATEWAY, Role.EWS),
    flows=(FlowEntry("modbus", Transport.TCP, (MODBUS_PORT,),
                     "otscope.dissectors.modbus.dissector:ModbusDissector"),),
    # the layout is built per flow (the guard holds the units seen) in ModbusDissector._news
    fast_path=("otscope.dissectors.modbus.dissector:ModbusDissector._news",),
    colours=(("modbus", "#e67e22"),),
    identifies=("FC43/14 device identification (vendor, product code and name, revision, URL, model, user "
               "application name; private objects by number), FC17 server id; per unit id (gateways and the "
               "units behind them); function profile, exceptions, UMAS (FC90)"),
    # dissector.py DIAGNOSTIC_CONTROLS (FC 8 sub-functions 1 and 4), UMAS_ACTIONS; PROFILE_CATEGORY "write"
    event_actions=(
        EventAction("modbus", "restart communications", "plc-start", "restart communications (FC8)", "T0816"),
        EventAction("modbus", "force listen only mode", "control-action", "force listen only mode (FC8)", None),
        # constants.py UMAS_ACTIONS (FC 90, Schneider Electric UMAS)
        EventAction("modbus", "start plc (umas)", "plc-start", "start PLC (UMAS)"),
        EventAction("modbus", "stop plc (umas)", "plc-stop", "stop PLC (UMAS)"),
        EventAction("modbus", "program download (umas)", "program-download", "program download (UMAS)"),
        EventAction("modbus", "program upload (umas)", "program-upload", "program upload (UMAS)"),
    ),
    write_counters=(("modbus", "write"),),
)
