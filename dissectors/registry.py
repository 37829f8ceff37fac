"""The explicit list of flow dissectors and their port hints (hints choose a candidate, parsing confirms)."""

from __future__ import annotations

from otscope.dissectors.base import Dissector
from otscope.dissectors.enip.dissector import CipIoDissector, EnipDissector, EnipUdpDissector
from otscope.dissectors.modbus.dissector import ModbusDissector
from otscope.dissectors.s7.dissector import S7Dissector

TCP_DISSECTORS: tuple[type[Dissector], ...] = (ModbusDissector, EnipDissector, S7Dissector)
UDP_DISSECTORS: tuple[type[Dissector], ...] = (EnipUdpDissector, CipIoDissector)


def _by_port(classes: tuple[type[Dissector], ...]) -> dict[int, type[Dissector]]:
    table: dict[int, type[Dissector]] = {}
    for cls in classes:
        for port in cls.ports:
            table.setdefault(port, cls)
    return table


_TCP = _by_port(TCP_DISSECTORS)
_UDP = _by_port(UDP_DISSECTORS)


def tcp_dissector_for(server_port: int, client_port: int = -1) -> type[Dissector] | None:
    return _TCP.get(server_port) or _TCP.get(client_port)


def udp_dissector_for(server_port: int, client_port: int = -1) -> type[Dissector] | None:
    return _UDP.get(server_port) or _UDP.get(client_port)
