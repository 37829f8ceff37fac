"""PROFINET DCP (IEC 61158-6-10, frame ids 0xFEFC-0xFEFF on ethertype 0x8892): this package's one declaration
of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import EventAction, FrameEntry, Role, spec

# Hello ... Identify response. Cyclic RT data and alarms share the ethertype: agent/l2.py dispatches 0x8892 by
# FrameID range (dissectors/pnio owns the cyclic and alarm ranges)
DCP_FRAME_IDS = ((0xFEFC, 0xFEFF),)


SPEC = spec(
    "pn_dcp", title="PROFINET DCP", ot=True, rank=1,
    labels=("pn_dcp", "pn_dcp-set-requester", "pn_dcp-identify-all-requester"),
    roles=(Role.PLC, Role.IO_DEVICE, Role.EWS),
    frames=(FrameEntry("otscope.dissectors.pndcp.grammar:parse", "otscope.dissectors.pndcp.facts:facts",
                       ethertype=0x8892, frame_ids=DCP_FRAME_IDS, context=("src", "dst")),),
    identifies=("PROFINET DCP Identify/Hello/Set: station name, vendor and device id, role (IO "
               "controller/device), IP set by an engineering tool"),
    # facts.py SET_WRITES: what a DCP Set writes other than the IP address (that one is an ip-change)
    event_actions=(
        EventAction("pn_dcp", "dcp set name of station", "config-write", "DCP Set name of station"),
        EventAction("pn_dcp", "dcp set dhcp parameters", "config-write", "DCP Set DHCP parameters"),
        EventAction("pn_dcp", "dcp set reset", "config-write", "DCP Set reset to factory"),
        EventAction("pn_dcp", "dcp set device initiative", "config-write", "DCP Set device initiative"),
    ),
)
