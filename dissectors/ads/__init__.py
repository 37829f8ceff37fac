"""Beckhoff ADS/AMS (ADS specification, Beckhoff Information System "TwinCAT ADS/AMS"; tcp/48898 AMS/TCP and
the udp/48899 discovery / add-route service): this package's one declaration of itself (otscope/domain.py
ProtocolSpec). Importing it does not import the dissector.

tcp/48898 does not decide a flow's direction (otscope/domain.py OT_PORTS_NOT_FOR_DIRECTION: AMS routers connect
to each other from either end); the dissector takes client and server from the messages (request / response
bit of the AMS state flags)."""

from otscope.dissectors.ads.constants import AMS_TCP_PORT, AMS_UDP_PORT
from otscope.domain import EventAction, FlowEntry, Role, Transport, spec

SPEC = spec(
    "ads", title="Beckhoff ADS/AMS", ot=True, rank=1,
    labels=("ads-client", "ads-server"),
    roles=(Role.PLC, Role.EWS, Role.HMI_SCADA),
    flows=(FlowEntry("ads", Transport.TCP, (AMS_TCP_PORT,), "otscope.dissectors.ads.dissector:AdsTcp"),
           FlowEntry("ads", Transport.UDP, (AMS_UDP_PORT,), "otscope.dissectors.ads.dissector:AdsUdp")),
    colours=(("ads", "#b7950b"),),
    identifies=("AMS NetIds and ports, client vs server from the AMS state flags, Read Device Info (device name, "
               "version), Read State (ADS and device state), Write Control as control actions, "
               "read/write/notification profile; udp/48899 discovery (host name, OS, TwinCAT version, "
               "fingerprint) and add-route"),
    # constants.py CONTROL_ACTIONS (WriteControl) and the UDP add-route configuration change
    event_actions=(
        EventAction("ads", "start", "plc-start", "start"),
        EventAction("ads", "stop", "plc-stop", "stop"),
        EventAction("ads", "reset", "plc-start", "reset", "T0816"),
        EventAction("ads", "shutdown", "plc-stop", "shutdown", "T0816"),
        EventAction("ads", "restart in config mode", "plc-stop", "restart in config mode", "T0816"),
        EventAction("ads", "config mode", "plc-stop", "config mode"),
        EventAction("ads", "ads route added", "config-write", "ADS route added"),
    ),
)
