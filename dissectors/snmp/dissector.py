"""SNMP on UDP 161/162: each datagram one message (RFC 3417 2: one message per UDP datagram); facts about its
sender (dissectors/datagram.py)."""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import Protocol
from otscope.dissectors.datagram import SenderDissector
from otscope.dissectors.snmp.constants import PDU_NAMES, SNMP_PORT, TRAP_PORT, SnmpAnomaly
from otscope.dissectors.snmp.facts import message_name, sender_facts
from otscope.dissectors.snmp.grammar import SnmpMessage, parse


class SnmpDissector(SenderDissector):
    protocol: ClassVar[Protocol] = Protocol.SNMP
    ports: ClassVar[tuple[int, ...]] = (SNMP_PORT, TRAP_PORT)
    client_label: ClassVar[str] = "snmp-client"
    server_label: ClassVar[str] = "snmp-server"
    BAD = SnmpAnomaly.BAD_MESSAGE

    __slots__ = ()

    def parse(self, data: bytes) -> SnmpMessage:
        return parse(data)

    def describe(self, msg: SnmpMessage, who: int, frame: int, ts: float) -> None:
        name = message_name(msg)

        def add(field: str, value: str) -> None:
            self.fact(who, field, value, name, frame, ts)

        if msg.pdu is not None and msg.pdu not in PDU_NAMES:
            self.anomaly(SnmpAnomaly.UNKNOWN_PDU, frame, ts, f"0x{msg.pdu:02x}")
        if msg.more_varbinds:
            self.anomaly(SnmpAnomaly.TOO_MANY_VARBINDS, frame, ts)
        if not sender_facts(msg, add):
            self.anomaly(SnmpAnomaly.BAD_ENGINE_ID, frame, ts)
        self.count(PDU_NAMES.get(msg.pdu, "other") if msg.pdu is not None else "encrypted")  # type: ignore[call-overload]
