"""IEEE C37.118 synchrophasor (PMU data, configuration and command frames on tcp/4712 and udp/4713): this
package's one declaration of itself (otscope/domain.py ProtocolSpec; dissectors/registry.py lists it)."""

from otscope.dissectors.synphasor.constants import TCP_PORT, UDP_PORT
from otscope.domain import FlowEntry, Role, Transport, spec

_IMPL = "otscope.dissectors.synphasor.dissector:"

SPEC = spec(
    "synphasor", title="IEEE C37.118 Synchrophasor", ot=True, rank=0,
    labels=("synphasor-client", "synphasor-server"),
    roles=(Role.RTU_IED, Role.HMI_SCADA),
    flows=(FlowEntry("synphasor", Transport.TCP, (TCP_PORT,), _IMPL + "SynphasorDissector"),
           FlowEntry("synphasor", Transport.UDP, (UDP_PORT,), _IMPL + "SynphasorUdpDissector")),
    colours=(("synphasor", "#c0392b"),),
    # a PMU (or a PDC forwarding its stream) sends data and configuration frames: an IED of the substation
    server_roles=(("synphasor-server", Role.RTU_IED, "sends C37.118 data/configuration frames (PMU)"),),
    gap_note="IEEE C37.118 carries no vendor, model or firmware: only station names, IDCODEs and the "
             "measurement configuration; an LLDP/SNMP/HTTP identity or the PMU's settings export would close the gap",
    identifies=("configuration frames CFG-1/2/3 (fragmented CFG-3 reassembled): station names, IDCODEs, number of"
               " PMUs, data rate; PMU vs PDC from who sends data and commands"),
)
