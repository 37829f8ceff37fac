"""EtherNet/IP + CIP (explicit messaging on TCP and UDP 44818, class 0/1 I/O on UDP 2222): this package's one
declaration of itself (otscope/domain.py ProtocolSpec; dissectors/registry.py lists it)."""

from otscope.dissectors.enip.constants import ENIP_PORT, IO_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

_IMPL = "otscope.dissectors.enip.dissector:"

SPEC = spec(
    "enip", title="EtherNet/IP", ot=True, rank=0, protocols=("enip", "cip", "enip-io"),
    labels=("enip-client", "enip-server", "enip-io"),
    roles=(Role.PLC, Role.HMI_SCADA, Role.EWS, Role.IO_DEVICE, Role.COMMUNICATIONS_MODULE),
    flows=(FlowEntry("enip", Transport.TCP, (ENIP_PORT,), _IMPL + "EnipDissector"),
           FlowEntry("enip", Transport.UDP, (ENIP_PORT,), _IMPL + "EnipUdpDissector"),
           FlowEntry("enip-io", Transport.UDP, (IO_PORT,), _IMPL + "CipIoDissector")),
    fast_path=(_IMPL + "SUD_SPEC", _IMPL + "IO_SPEC"),
    colours=(("enip", "#27ae60"), ("enip-io", "#2ecc71")),
    identifies=("ListIdentity (TCP, UDP, broadcast) and Get_Attributes_All/Get_Attribute_Single of the Identity "
               "object, also routed to backplane slots: vendor, device type (the role), product code and name, "
               "revision, serial; control actions, configuration writes, class-1 I/O"),
    # CONTROL_SERVICES (the class follows the action), CONFIG_CLASSES and FILE_SERVICES
    event_actions=(
        EventAction("enip", "stop", "plc-stop", "stop"),
        EventAction("enip", "start", "plc-start", "start"),
        EventAction("enip", "reset", "plc-start", "reset", "T0816"),
        EventAction("enip", "wall clock time", "time-set", "wall clock time", None),
        EventAction("enip", "time sync", "time-set", "time sync", None),
        EventAction("enip", "tcp/ip interface", "config-write", "TCP/IP interface"),
        EventAction("enip", "ethernet link", "config-write", "Ethernet link"),
        EventAction("enip", "identity", "config-write", "identity"),
        # FILE_SERVICES: the File object (class 0x37)
        EventAction("enip", "file download", "program-download", "file download (CIP File object)"),
        EventAction("enip", "file upload", "program-upload", "file upload (CIP File object)"),
        EventAction("enip", "file clear", "program-delete", "file clear (CIP File object)"),
    ),
    write_counters=(("enip", "write"),),
)
