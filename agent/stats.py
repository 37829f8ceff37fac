"""What the capture loop counts (a sensor's health figures; the batch carries a few of them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Stats:
    packets: int = 0
    bytes: int = 0
    non_ip_frames: int = 0
    span_duplicates: int = 0
    ip_fragments: int = 0
    flows_created: int = 0
    flows_expired: int = 0
    flows_evicted: int = 0
    dissector_detached: int = 0
    dissector_done: int = 0        # detached quietly: it had what it wanted of the flow (DONE)
    anomalies: int = 0
    unknown_linktype: int = 0
    by_linktype: dict[int, int] = field(default_factory=dict)
    link_unsupported: dict[str, int] = field(default_factory=dict)   # "LINKTYPE_X (N): reason" -> frames
    tunnels: dict[str, int] = field(default_factory=dict)            # decap.TunnelKind value -> packets unwrapped
