"""OPC UA binary (OPC 10000-6 §7.1 UA TCP and §6.7 UA Secure Conversation; tcp/4840 and common SDK ports): this
package's one declaration of itself (otscope/domain.py ProtocolSpec). Importing it does not import the dissector."""

from otscope.dissectors.opcua.constants import PORTS
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "opcua", title="OPC UA binary (UA TCP)", ot=True, rank=1,
    labels=("opcua-client", "opcua-server"),
    # an OPC UA server is a PLC (S7-1500, CODESYS, TwinCAT, B&R embed one) or a SCADA/historian/gateway PC: no
    # server_roles entry (it would override a PLC's own S7/Modbus server label); the merge's default for a server
    # (plc) stands unless the server's applicationType is DiscoveryServer (role_hint hmi-scada: an LDS is a PC service)
    roles=(Role.PLC, Role.HMI_SCADA),
    flows=(FlowEntry("opcua", Transport.TCP, PORTS, "otscope.dissectors.opcua.dissector:OpcUaDissector"),),
    colours=(("opcua", "#8e44ad"),),
    identifies=("HEL endpoint URL, security policy and mode (encrypted sessions flagged: the gap reason says so),"
               " both ends' certificates (subject, issuer, validity, thumbprint, SAN), "
               "GetEndpoints/FindServers/CreateSession application descriptions, BuildInfo when read "
               "(manufacturer, product, software version, build number)"),
)
