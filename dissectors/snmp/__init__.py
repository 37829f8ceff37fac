"""SNMP v1/v2c/v3 (RFC 3416 PDUs, RFC 1157 v1, RFC 3412/3414 v3) on UDP 161 (agent) and 162 (notifications):
this package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import FlowEntry, Transport, spec

SPEC = spec(
    "snmp", title="SNMP", ot=False, rank=2, labels=("snmp-client", "snmp-server"), roles=(),
    flows=(FlowEntry("snmp", Transport.UDP, (161, 162), "otscope.dissectors.snmp.dissector:SnmpDissector"),),
    colours=(("snmp", "#7f8c8d"),),
    identifies=("v1/v2c/v3 responses and traps of an agent: sysDescr (vendor, model, firmware by switch/router "
               "family), sysObjectID with its enterprise resolved through the IANA registry, sysName, "
               "sysLocation; the v3 engine id; whether a factory-default community is accepted (the community "
               "itself is never stored)"),
)
