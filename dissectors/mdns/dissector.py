"""mDNS (udp 5353) and LLMNR (udp 5355): one DNS message per datagram, facts about its sender
(dissectors/datagram.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from otscope.dissectors.base import Malformed, Protocol, Truncated
from otscope.dissectors.datagram import SenderDissector
from otscope.dissectors.dnsmsg import DnsMessage, PointerLoop, parse
from otscope.dissectors.mdns.constants import LLMNR_PORT, MDNS_PORT, MdnsAnomaly
from otscope.dissectors.mdns.facts import llmnr_facts, mdns_facts


class MdnsDissector(SenderDissector):
    protocol: ClassVar[Protocol] = Protocol.MDNS
    ports: ClassVar[tuple[int, ...]] = (MDNS_PORT,)
    client_label: ClassVar[str] = "mdns"
    server_label: ClassVar[str] = "mdns"
    BAD = MdnsAnomaly.BAD_MESSAGE

    __slots__ = ()

    def bad(self, exc: Exception) -> tuple[StrEnum, str]:
        return (MdnsAnomaly.NAME_LOOP, "") if isinstance(exc, PointerLoop) else super().bad(exc)

    def parse(self, data: bytes) -> tuple[bytes, DnsMessage]:
        buf = bytes(data)
        return buf, parse(buf)

    def describe(self, msg: tuple[bytes, DnsMessage], who: int, frame: int, ts: float) -> None:
        buf, m = msg
        name = f"{self.protocol.value} {'response' if m.response else 'query'}"

        def add(field: str, value: str) -> None:
            self.fact(who, field, value, name, frame, ts)

        try:
            self.facts(buf, m, add)
        except PointerLoop:
            self.anomaly(MdnsAnomaly.NAME_LOOP, frame, ts)
        except (Truncated, Malformed) as exc:           # a name inside a PTR's data that does not parse
            self.anomaly(self.BAD, frame, ts, type(exc).__name__.lower())
        self.count(name)

    def facts(self, buf: bytes, m: DnsMessage, add) -> None:  # type: ignore[no-untyped-def]
        mdns_facts(buf, m, add)


class LlmnrDissector(MdnsDissector):
    protocol: ClassVar[Protocol] = Protocol.LLMNR
    ports: ClassVar[tuple[int, ...]] = (LLMNR_PORT,)
    client_label: ClassVar[str] = "llmnr"
    server_label: ClassVar[str] = "llmnr"

    __slots__ = ()

    def facts(self, buf: bytes, m: DnsMessage, add) -> None:  # type: ignore[no-untyped-def]
        llmnr_facts(m, add)
