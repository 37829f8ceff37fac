"""NetBIOS name service (udp 137) and datagram / browser (udp 138): one whole message per datagram, facts about
its sender (dissectors/datagram.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from otscope.dissectors.base import Protocol
from otscope.dissectors.datagram import SenderDissector
from otscope.dissectors.dnsmsg import PointerLoop
from otscope.dissectors.nbns.constants import DGM_PORT, NBNS_PORT, BrowserAnomaly, NbnsAnomaly
from otscope.dissectors.nbns.facts import browser_facts, browser_message, nbns_facts, nbns_message
from otscope.dissectors.nbns.grammar import Datagram, NbnsPacket, parse_datagram, parse_nbns


class NbnsDissector(SenderDissector):
    protocol: ClassVar[Protocol] = Protocol.NBNS
    ports: ClassVar[tuple[int, ...]] = (NBNS_PORT,)
    client_label: ClassVar[str] = "nbns"
    server_label: ClassVar[str] = "nbns-server"
    BAD = NbnsAnomaly.BAD_PACKET

    __slots__ = ()

    def parse(self, data: bytes) -> NbnsPacket:
        return parse_nbns(data)

    def bad(self, exc: Exception) -> tuple[StrEnum, str]:
        return (NbnsAnomaly.NAME_LOOP, "") if isinstance(exc, PointerLoop) else super().bad(exc)

    def describe(self, msg: NbnsPacket, who: int, frame: int, ts: float) -> None:
        name = nbns_message(msg)
        nbns_facts(msg, lambda f, v: self.fact(who, f, v, name, frame, ts))
        self.count(name)


class BrowserDissector(SenderDissector):
    protocol: ClassVar[Protocol] = Protocol.BROWSER
    ports: ClassVar[tuple[int, ...]] = (DGM_PORT,)
    client_label: ClassVar[str] = "browser"
    server_label: ClassVar[str] = "browser"
    BAD = BrowserAnomaly.BAD_DATAGRAM

    __slots__ = ()

    def parse(self, data: bytes) -> Datagram:
        return parse_datagram(data)

    def describe(self, msg: Datagram, who: int, frame: int, ts: float) -> None:
        name = browser_message(msg)
        browser_facts(msg, lambda f, v: self.fact(who, f, v, name, frame, ts))
        self.count(name)

