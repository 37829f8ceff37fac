"""ISO-on-TCP (TPKT/COTP), S7comm, S7comm-plus and IEC 61850 MMS (mms.py) on TCP 102: this package's one
declaration of itself
(otscope/domain.py ProtocolSpec; dissectors/registry.py lists it)."""

from otscope.dissectors.s7.constants import S7_PORT
from otscope.domain import FlowEntry, Role, Transport, spec

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
)
