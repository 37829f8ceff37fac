"""PROFINET IO (IEC 61158-6-10): PNIO-CM (connectionless DCE/RPC on udp/34964: Connect, Read/Write records,
Control) and the PN-RT frames on ethertype 0x8892 that are not DCP (cyclic I/O data, alarms). DCP
(0xFEFC-0xFEFF) stays with dissectors/pndcp, the identity source. This package's one declaration of itself."""

from otscope.domain import FlowEntry, FrameEntry, Role, Transport, spec

# FrameIDs this package owns on 0x8892 (constants.py names the classes): cyclic RT_CLASS_3/2/1 data
# (0x0100-0xFBFF) is counted by a per-loop counter, alarms (0xFC01 high, 0xFE01 low) are parsed
CYCLIC_FRAME_IDS = ((0x0100, 0xFBFF),)
ALARM_FRAME_IDS = ((0xFC01, 0xFC01), (0xFE01, 0xFE01))

SPEC = spec(
    "pnio", title="PROFINET IO", ot=True, rank=1,
    labels=("pnio-cm-client", "pnio-cm-server", "pnio-rt"),
    roles=(Role.PLC, Role.IO_DEVICE, Role.EWS),
    flows=(FlowEntry("pnio", Transport.UDP, (34964,), "otscope.dissectors.pnio.dissector:PnioCmDissector"),),
    frames=(FrameEntry("otscope.dissectors.pnio.rt:parse_frame", "otscope.dissectors.pnio.rt:facts",
                       ethertype=0x8892, frame_ids=ALARM_FRAME_IDS, context=("src", "dst")),
            FrameEntry("otscope.dissectors.pnio.rt:parse_frame", "otscope.dissectors.pnio.rt:facts",
                       ethertype=0x8892, frame_ids=CYCLIC_FRAME_IDS, counter="otscope.dissectors.pnio.rt:Cyclic")),
    # "server" is the end that implements the PNIO device interface (it answers Connect/Read/Write/Control and
    # sends ApplicationReady to the controller interface): an IO device, not a PLC
    server_roles=(("pnio-cm-server", Role.IO_DEVICE, "implements the PROFINET IO device interface (PNIO-CM)"),),
    identifies=("PNIO-CM: controller and device station names and MACs, vendor and device id (object UUID, I&M0),"
               " order number, serial, hardware and software revision (I&M0), slot/subslot module and submodule "
               "idents; PN-RT: FrameIDs, cycle time, frame rate, DataStatus changes, alarms"),
)
