"""Niagara Fox (Tridium Niagara Framework; tcp/1911, and tcp/4911 for Fox over TLS): this package's one
declaration of itself (otscope/domain.py ProtocolSpec). Importing it does not import the dissector."""

from otscope.dissectors.fox.constants import FOX_PORT, FOXS_PORT
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "fox", title="Niagara Fox", ot=True, rank=1,
    labels=("fox-client", "fox-server"),
    roles=(Role.BUILDING_CONTROLLER, Role.HMI_SCADA, Role.EWS),
    flows=(FlowEntry("fox", Transport.TCP, (FOX_PORT,), "otscope.dissectors.fox.dissector:FoxDissector"),
           FlowEntry("fox", Transport.TCP, (FOXS_PORT,), "otscope.dissectors.fox.dissector:FoxTlsDissector")),
    # a Fox server is a Niagara station: a JACE (building controller) or a Supervisor station
    server_roles=(("fox-server", Role.BUILDING_CONTROLLER,
                   "answers Niagara Fox (a Niagara station: JACE building controller or Supervisor)"),),
    colours=(("fox", "#6c3483"),),
    identifies=("the Niagara Fox hello exchange (station and host name, app name and version, VM, OS, brand, host"
               " id); Fox over TLS on 4911 marked encrypted"),
)
