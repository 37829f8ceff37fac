"""SSDP on udp 1900 -> facts about the sender (dissectors/datagram.py).

A NOTIFY and a search answer are a device describing itself: ``ssdp_server`` (SERVER: "OS/version UPnP/1.0
product/version", kept raw), ``ssdp_location`` (LOCATION: the device description URL; the description
document is never fetched: when the capture holds a fetch of it on a port the HTTP package claims, that package
reads it, dissectors/http/upnp.py), ``ssdp_uuid`` (the device UUID of the USN),
``ssdp_device_type`` (NT of a NOTIFY, ST of an answer, when it is a device type URN ``urn:...:device:...``). An
M-SEARCH is a control point looking for devices: its USER-AGENT (UDA 2.0) is ``ssdp_user_agent``.
Answers that come from another port than 1900 to the searcher's port are not on a port this dissector claims.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from otscope.dissectors.base import Protocol
from otscope.dissectors.datagram import SenderDissector
from otscope.dissectors.ssdp.grammar import Kind, SsdpMessage, parse

SSDP_PORT = 1900


class SsdpAnomaly(StrEnum):
    BAD_MESSAGE = "bad-message"              # detail: truncated / malformed


def device_type(value: str) -> str:
    """A device type URN (``urn:schemas-upnp-org:device:InternetGatewayDevice:1``); service types and
    ``upnp:rootdevice`` say nothing more of the device."""
    return value if value.startswith("urn:") and ":device:" in value else ""


def device_uuid(usn: str) -> str:
    """USN ``uuid:<device UUID>[::<type>]`` (UDA 1.1 1.1.4): the device's UUID part."""
    return usn.split("::", 1)[0] if usn.startswith("uuid:") else ""


class SsdpDissector(SenderDissector):
    protocol: ClassVar[Protocol] = Protocol.SSDP
    ports: ClassVar[tuple[int, ...]] = (SSDP_PORT,)
    client_label: ClassVar[str] = "ssdp"
    server_label: ClassVar[str] = "ssdp"
    BAD = SsdpAnomaly.BAD_MESSAGE

    __slots__ = ()

    def parse(self, data: bytes) -> SsdpMessage:
        return parse(data)

    def describe(self, msg: SsdpMessage, who: int, frame: int, ts: float) -> None:
        name = f"SSDP {msg.kind.value}"
        h = msg.headers

        def add(field: str, value: str | None) -> None:
            if value:
                self.fact(who, field, value, name, frame, ts)

        add("protocol", "ssdp")
        if msg.kind is Kind.SEARCH:
            add("ssdp_user_agent", h.get("user-agent"))
        else:
            add("ssdp_server", h.get("server"))
            add("ssdp_location", h.get("location"))
            add("ssdp_uuid", device_uuid(h.get("usn", "")))
            add("ssdp_device_type", device_type(h.get("nt" if msg.kind is Kind.NOTIFY else "st", "")))
        self.count(name)
