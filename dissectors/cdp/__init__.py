"""CDP v1/v2 (802.3 + LLC/SNAP, OUI 00000C, PID 0x2000): this package's one declaration of itself
(otscope/domain.py ProtocolSpec)."""

from otscope.domain import FrameEntry, Role, spec

SPEC = spec(
    "cdp", title="CDP", ot=False, rank=1, labels=(), roles=(Role.NETWORK_DEVICE,),
    frames=(FrameEntry("otscope.dissectors.cdp.grammar:parse", "otscope.dissectors.cdp.facts:facts",
                       llc_snap=bytes.fromhex("aaaa0300000c2000"), context=("src",)),),
    identifies=("device id, platform, software version, capabilities, management address"),
)
