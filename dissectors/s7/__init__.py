"""ISO-on-TCP (TPKT/COTP), S7comm, S7comm-plus and IEC 61850 MMS (mms.py) on TCP 102: this package's one
declaration of itself
(otscope/domain.py ProtocolSpec; dissectors/registry.py lists it)."""

from otscope.dissectors.s7.constants import S7_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

SPEC = spec(
    "s7comm", title="S7comm / S7comm-plus / IEC 61850 MMS (ISO-on-TCP)", ot=True, rank=0,
    protocols=("s7comm", "cotp", "s7comm-plus", "mms"),
    labels=("cotp-client", "cotp-server", "s7comm-client", "s7comm-server", "s7comm-plus-client",
            "s7comm-plus-server", "mms-client", "mms-server"),
    roles=(Role.PLC, Role.HMI_SCADA, Role.EWS, Role.RTU_IED),
    server_roles=(("mms-server", Role.RTU_IED, "answers MMS (IEC 61850 / ISO 9506 server on tcp/102)"),),
    flows=(FlowEntry("s7comm", Transport.TCP, (S7_PORT,), "otscope.dissectors.s7.dissector:S7Dissector"),),
    fast_path=("otscope.dissectors.s7.dissector:S7_SPECS",),
    colours=(("s7comm", "#2980b9"), ("cotp", "#2980b9"), ("s7comm-plus", "#1abc9c")),
    identifies=("S7comm COTP TSAPs (rack/slot, PG/OP), SZL 0x0011/0x001C/0x0424 (order number, firmware, names, "
               "serial, module type, CPU state), block transfers and PLC stop; S7comm-plus session strings; IEC "
               "61850 MMS on the same port: Identify (vendor, model, revision), logical devices and the IED "
               "name, service profile"),
    # ENGINEERING_FUNCTIONS, PI service names (Wireshark packet-s7comm.c), userdata set clock; MMS CONTROL_SERVICES
    event_actions=(
        # jobs on system data blocks (SDB, the hardware configuration): dissector.py S7Dissector._engineering
        EventAction("s7comm", "system data download", "config-write", "system data download"),
        EventAction("s7comm", "system data delete", "config-write", "system data delete"),
        EventAction("s7comm", "system data upload", "program-upload", "system data upload"),
        EventAction("s7comm", "block download", "program-download", "block download"),
        EventAction("s7comm", "block upload", "program-upload", "block upload"),
        EventAction("s7comm", "plc stop", "plc-stop", "PLC stop"),
        EventAction("s7comm", "plc control (pi service p_program)", "plc-start", "PLC start (PI P_PROGRAM)"),
        EventAction("s7comm", "plc control (pi service _inse)", "program-download", "block download"),
        EventAction("s7comm", "plc control (pi service _ins2)", "program-download", "block download"),
        EventAction("s7comm", "plc control (pi service _dele)", "program-delete", "block delete"),
        EventAction("s7comm", "plc control (pi service _modu)", "control-action", "copy RAM to ROM (PI _MODU)", None),
        EventAction("s7comm", "plc control (pi service _garb)", "control-action", "compress memory (PI _GARB)", None),
        EventAction("s7comm", "set clock", "time-set", "set clock", None),
        EventAction("mms", "domain download", "program-download", "domain download"),
        EventAction("mms", "domain upload", "program-upload", "domain upload"),
        EventAction("mms", "domain delete", "program-delete", "domain delete"),
        EventAction("mms", "program start", "plc-start", "program start"),
        EventAction("mms", "program resume", "plc-start", "program resume"),
        EventAction("mms", "program reset", "plc-start", "program reset", "T0816"),
        EventAction("mms", "program stop", "plc-stop", "program stop"),
        EventAction("mms", "program kill", "plc-stop", "program kill"),
        EventAction("mms", "program delete", "program-delete", "program delete"),
        EventAction("mms", "file delete", "program-delete", "file delete"),
    ),
    write_counters=(("s7comm", "write_var"),),
)
