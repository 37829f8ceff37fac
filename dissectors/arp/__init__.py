"""ARP (RFC 826): this package's one declaration of itself (otscope/domain.py ProtocolSpec)."""

from otscope.domain import FrameEntry, spec

SPEC = spec(
    "arp", title="ARP", ot=False, rank=5, labels=("arp",), roles=(),
    # ARP's output depends on the sender part alone (memo_key); the frame's source MAC is not a host of its own
    frames=(FrameEntry("otscope.dissectors.arp.grammar:parse", "otscope.dissectors.arp.facts:facts",
                       ethertype=0x0806, memo_key="otscope.dissectors.arp.grammar:memo_key"),),
    identifies="IP-to-MAC bindings (high confidence), the MAC's vendor prefix",
)
