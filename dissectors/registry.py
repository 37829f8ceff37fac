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


def tcp_ports() -> set[int]:
    """Ports some enabled TCP dissector claims (either end of a flow)."""
    return set(_TCP)


def udp_ports() -> set[int]:
    return set(_UDP)


def names() -> list[str]:
    return sorted({cls.protocol.value for cls in TCP_DISSECTORS + UDP_DISSECTORS})


def enable(protocols: set[str] | None) -> None:
    """Use only these dissectors (by protocol name; None = all). Unknown names are an error."""
    global _TCP, _UDP
    if protocols is not None:
        unknown = protocols - set(names())
        if unknown:
            raise ValueError(f"unknown dissector(s) {sorted(unknown)} (known: {', '.join(names())})")
    pick = (lambda c: protocols is None or c.protocol.value in protocols)
    _TCP = _by_port(tuple(c for c in TCP_DISSECTORS if pick(c)))
    _UDP = _by_port(tuple(c for c in UDP_DISSECTORS if pick(c)))
