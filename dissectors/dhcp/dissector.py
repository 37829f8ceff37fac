"""DHCPv6 on udp 546/547: one message per datagram, facts about its sender (dissectors/datagram.py,
dhcp/dhcpv6.py). DHCPv4 is a frame parser (dhcp/grammar.py, dhcp/facts.py): its facts are about a MAC."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from otscope.dissectors.base import Malformed, Protocol, Truncated
from otscope.dissectors.datagram import SenderDissector
from otscope.dissectors.dhcp.dhcpv6 import Opt, Dhcpv6Message, facts, parse
from otscope.domain import SOURCES

FINGERPRINT = SOURCES["DHCP_FINGERPRINT"]        # the weak source of dhcp/fingerprint.py (rank 6)

MSG_NAMES = {1: "SOLICIT", 2: "ADVERTISE", 3: "REQUEST", 4: "CONFIRM", 5: "RENEW", 6: "REBIND", 7: "REPLY",
             8: "RELEASE", 9: "DECLINE", 10: "RECONFIGURE", 11: "INFORMATION-REQUEST", 12: "RELAY-FORW",
             13: "RELAY-REPL"}


class Dhcpv6Anomaly(StrEnum):
    BAD_MESSAGE = "bad-message"              # detail: truncated / malformed
    BAD_OPTION = "bad-option"                # an option whose data does not parse (the others are kept)


class Dhcpv6Dissector(SenderDissector):
    protocol: ClassVar[Protocol] = Protocol.DHCPV6
    ports: ClassVar[tuple[int, ...]] = (546, 547)
    client_label: ClassVar[str] = "dhcpv6-client"
    server_label: ClassVar[str] = "dhcpv6-server"
    BAD = Dhcpv6Anomaly.BAD_MESSAGE

    __slots__ = ()

    def parse(self, data: bytes) -> Dhcpv6Message:
        return parse(data)

    def describe(self, msg: Dhcpv6Message, who: int, frame: int, ts: float) -> None:
        name = f"DHCPv6 {MSG_NAMES.get(msg.msg_type, str(msg.msg_type))}"
        try:
            facts(msg, lambda f, v: self.fact(who, f, v, name, frame, ts))
        except (Truncated, Malformed):
            self.anomaly(Dhcpv6Anomaly.BAD_OPTION, frame, ts)
        vendor = msg.options.get(Opt.VENDOR_CLASS, b"")
        if vendor[:4] == b"\x00\x00\x01\x37" and b"MSFT" in vendor[4:16]:     # enterprise 311, "MSFT 5.0"
            self.fact(who, "os_family", "windows", f"{name} (DHCP fingerprint: Microsoft DHCPv6 client, MSFT)",
                      frame, ts, protocol=FINGERPRINT)
        self.count(name)
