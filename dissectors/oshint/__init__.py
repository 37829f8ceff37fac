"""Passive OS hint (weak, rank 8): a host's initial IP TTL and the window and option order of its TCP SYN /
SYN-ACK, as an ``os_family`` hint and a raw ``tcp_fingerprint`` (p0f-style). No flow or frame of its own: the
capture loop hands it the first frame from each side of a flow (which a handshake makes the SYN), see
agent/pipeline.py; the C fast path does the same for light flows without extra work (FirstFrame.syn). Never
overrides a stronger source: merge.best ranks it last but the MAC vendor."""

from otscope.domain import spec

SPEC = spec(
    "oshint", title="Passive OS hint (TTL, TCP SYN)", ot=False, rank=8, labels=(), roles=(),
    identifies=("a weak OS family from the initial TTL and the TCP SYN/SYN-ACK option order (raw tcp_fingerprint), "
                "never shown over a stronger source"),
)
