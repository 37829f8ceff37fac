"""LLDP (IEEE 802.1AB): this package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import FrameEntry, Role, spec

SPEC = spec(
    "lldp", title="LLDP", ot=False, rank=2, labels=(), roles=(Role.NETWORK_DEVICE,),
    frames=(FrameEntry("otscope.dissectors.lldp.grammar:parse", "otscope.dissectors.lldp.facts:facts",
                       ethertype=0x88CC, context=("src",)),),
    identifies=("chassis and port ids, system name and description (vendor, model, firmware parsed per switch "
               "family), capabilities, management address"),
)
