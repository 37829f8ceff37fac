"""BACnet/IP (ANSI/ASHRAE 135: BVLL Annex J, NPDU clause 6, APDU clause 20; udp/47808): this package's one
declaration of itself (otscope/domain.py ProtocolSpec). Importing it does not import the dissector."""

from otscope.domain import EventAction, FlowEntry, FrameEntry, Role, Transport, spec

SPEC = spec(
    "bacnet", title="BACnet/IP", ot=True, rank=1,
    labels=("bacnet-client", "bacnet-server", "bacnet"),
    roles=(Role.BUILDING_CONTROLLER, Role.GATEWAY, Role.HMI_SCADA, Role.EWS),
    flows=(FlowEntry("bacnet", Transport.UDP, (47808,), "otscope.dissectors.bacnet.dissector:BacnetIp"),),
    # BACnet/Ethernet (clause 7): LLC 0x82 0x82 UI in 802.3 frames, where routers repeat what they route
    frames=(FrameEntry("otscope.dissectors.bacnet.ethernet:parse", "otscope.dissectors.bacnet.ethernet:facts",
                       llc_snap=b"\x82\x82\x03", context=("src", "dst")),),
    # a BACnet device answering I-Am / ReadProperty is a building controller (a router or BBMD: role_hint gateway)
    server_roles=(("bacnet-server", Role.BUILDING_CONTROLLER,
                   "BACnet device (I-Am / answers confirmed services / sends notifications)"),),
    colours=(("bacnet", "#d35400"),),
    identifies=("I-Am (device instance, ASHRAE vendor name from its id, max APDU, segmentation), I-Have, "
               "ReadProperty/ReadPropertyMultiple ACKs on the device object (object-name, vendor-name, model-"
               "name, firmware-revision, application-software-version, serial-number, location, description); "
               "routers and BBMDs as gateways with the MS/TP devices behind them as components; restart and "
               "communication-control as control actions"),
    # the events layer's reading of its control actions (collector/events.py)
    event_actions=(
        EventAction("bacnet", "reinitialize-device", "plc-start", "reinitialize device", "T0816"),
    ),
)
