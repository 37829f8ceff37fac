"""A UDP dissector whose datagrams each carry one whole, self-describing message about their sender.

SNMP, NetBIOS name service and browser, mDNS/LLMNR and SSDP share this shape: every datagram parses alone, and
what it says of identity is about the address that sent it (an agent's GetResponse, a host's name
registration, an mDNS responder's own records, a NOTIFY). Many of these datagrams go to a broadcast or
multicast address: the flow's other end is then no host, so facts (labels included) are only ever written
about the *sender* of the datagram (``Who`` = the side it came from), never about both ends.

Cost: a flow is dissected for its first ``BUDGET`` datagrams, then the dissector returns ``DONE`` and the C
fast path counts the rest (a flow that expires and comes back is dissected again). The first datagram that
does not parse, before any did, is FATAL (the port alone never proves the protocol); after that a bad
datagram is a counted anomaly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from otscope.dissectors.base import DONE, OK, Dissector, Malformed, Truncated, Transport

BUDGET = 32                 # datagrams dissected per flow (both directions together)


class SenderDissector(Dissector):
    """Subclasses set ``protocol``, ``ports``, ``BAD`` (the anomaly of a datagram that does not parse) and
    implement ``parse(data)`` (raises Truncated/Malformed) and ``describe(msg, who, frame, ts)``."""

    transport: ClassVar[Transport] = Transport.UDP
    client_label: ClassVar[str] = ""
    server_label: ClassVar[str] = ""
    BAD: ClassVar[StrEnum]
    BUDGET: ClassVar[int] = BUDGET

    __slots__ = ("seen",)

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def parse(self, data: bytes) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self, msg: Any, who: int, frame: int, ts: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def bad(self, exc: Exception) -> tuple[StrEnum, str]:
        """The anomaly (kind, detail) of a datagram that does not parse."""
        return self.BAD, type(exc).__name__.lower()

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        self.seen += 1
        try:
            msg = self.parse(data)
        except (Truncated, Malformed) as exc:
            if not self.confirmed:
                return self.fatal(f"not {self.protocol.value} ({type(exc).__name__.lower()})")
            kind, detail = self.bad(exc)
            self.anomaly(kind, frame, ts, detail)
            return DONE if self.seen >= self.BUDGET else OK
        self.decoded += len(data)
        self.confirmed = True          # a whole message of this protocol (self-validating: it parsed)
        self.labelled = True
        self.describe(msg, side, frame, ts)       # Who.CLIENT == side 0 (to server), Who.SERVER == side 1
        return DONE if self.seen >= self.BUDGET else OK
