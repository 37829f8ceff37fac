"""IEC 60870-5-104 per-flow dissector: APDUs framed by their length octet (104 5.1), I/S/U formats, STARTDT/
STOPDT/TESTFR state, ASDU type-id profile, controlling vs controlled station, common addresses as stations."""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, Role, StreamBuffer, \
    Transport, Truncated, Who
from otscope.dissectors.iec104.constants import (APCI_START, BUFFER_CAP, CONFIRMING_CAUSES, GLOBAL_ADDRESS,
                                                 IEC104_PORT, MAX_RESYNC, MAX_STATIONS, ORDERING_CAUSES, ApciFormat, Category,
                                                 Iec104Anomaly, UFunction, category, type_name)
from otscope.dissectors.iec104.grammar import Apdu, Asdu, apdu_length, parse_apdu

# what a controlling station orders (101 7.2.1.1 control direction) - sent with cause act/deact
_ORDERS = frozenset({Category.COMMAND, Category.INTERROGATION, Category.CLOCK_SYNC, Category.SYSTEM,
                     Category.PARAMETER})


def sender(side: int) -> Who:
    """The end that sent a payload travelling in ``side``."""
    return Who.CLIENT if side == 0 else Who.SERVER


class Iec104Dissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.IEC104
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (IEC104_PORT,)
    client_label: ClassVar[str] = "iec104-client"
    server_label: ClassVar[str] = "iec104-server"

    __slots__ = ("buf", "sides", "resync", "started", "stations", "hinted")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(BUFFER_CAP)
        self.sides = 0                        # bit per side that sent a valid APDU
        self.resync = 0
        self.started = False                  # STARTDT con seen, no STOPDT con since (104 5.3)
        self.stations: set[tuple[int, int]] = set()    # (controlled end, common address), bounded
        self.hinted: set[tuple[int, str]] = set()      # role hints given (end, role)

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= 2:
            try:
                end = pos + apdu_length(data, pos)
            except Malformed as e:
                kind = Iec104Anomaly.BAD_START if data[pos] != APCI_START else Iec104Anomaly.BAD_LENGTH
                return self._lost_framing(kind, e, side, ts, frame)
            if end > n:
                break
            if self._apdu(data[pos:end], side, ts, frame) == FATAL:
                return FATAL
            self.decoded += end - pos
            pos = end
        self.resync = 0
        if pos < n:
            self.buf.keep(side, data[pos:])      # under BUFFER_CAP by construction (length octet <= 253)
            return INCOMPLETE
        return OK

    def _lost_framing(self, kind: Iec104Anomaly, why: Exception, side: int, ts: float, frame: int) -> int:
        """Bytes that are no APDU header: not IEC 104 before the flow was labelled, else counted and resynced at
        the next segment (a bounded number of times)."""
        self.buf.drop(side)
        if not self.labelled:
            return self.fatal(f"not iec104 ({why})")
        self.anomaly(kind, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({why})") if self.resync >= MAX_RESYNC else OK

    def _apdu(self, raw: bytes, side: int, ts: float, frame: int) -> int:
        try:
            apdu = parse_apdu(raw)
        except (Truncated, Malformed) as e:
            if not self.labelled:
                return self.fatal(f"not iec104 ({e})")
            self.anomaly(Iec104Anomaly.MALFORMED_ASDU if raw[2] & 0x01 == 0 else Iec104Anomaly.BAD_CONTROL_FIELD,
                         frame, ts)
            return OK
        self.label(frame, ts, f"IEC 104 {apdu.format.name} frame")
        self.sides |= 1 << side
        if self.sides == 3:
            self.confirm(frame, ts, "IEC 104 APDUs in both directions")
        self._profile(apdu, side, ts, frame)
        return OK

    def _profile(self, apdu: Apdu, side: int, ts: float, frame: int) -> None:
        if apdu.format is ApciFormat.S:
            self.count("S")
        elif apdu.function is not None:
            self._u_frame(apdu.function, side, ts, frame)
        elif apdu.asdu is not None:
            self._asdu(apdu.asdu, side, ts, frame)

    def _u_frame(self, fn: UFunction, side: int, ts: float, frame: int) -> None:
        """104 5.3: STARTDT/STOPDT/TESTFR act and con; the controlling station starts data transfer."""
        self.count(fn.name.replace("_", " ").lower())
        if fn is UFunction.STARTDT_CON:
            self.started = True
        elif fn is UFunction.STOPDT_CON:
            self.started = False
        elif fn is UFunction.STARTDT_ACT:
            self._hint(sender(side), Role.HMI_SCADA, "IEC 104 STARTDT act (controlling station)", ts, frame)

    def _asdu(self, asdu: Asdu, side: int, ts: float, frame: int) -> None:
        name, cat = type_name(asdu.type_id), category(asdu.type_id)
        self.count(name)
        self.count(cat.value)
        if cat is Category.OTHER:
            self.anomaly(Iec104Anomaly.UNKNOWN_TYPE_ID, frame, ts, str(asdu.type_id))
        if asdu.negative:
            self.count("negative confirm")
        controlled = self._controlled_station(asdu, cat, side, ts, frame, name)
        self._station(controlled, asdu.common_address, name, ts, frame)

    def _controlled_station(self, asdu: Asdu, cat: Category, side: int, ts: float, frame: int, name: str) -> Who:
        """Which end is the controlled station, from what this ASDU is (101 7.2.1.1 direction of the type id,
        7.2.3 causes): monitoring data and confirmations come from it, orders (act/deact) go to it. A file
        transfer or an unknown type says nothing: the listener on 2404 is the controlled station (104 9.1)."""
        who = sender(side)
        if cat is Category.MONITORING or asdu.cause in CONFIRMING_CAUSES:
            self._hint(who, Role.RTU_IED, f"IEC 104 {name} cause {asdu.cause} (controlled station)", ts, frame)
            return who
        if cat in _ORDERS and asdu.cause in ORDERING_CAUSES:
            self._hint(who, Role.HMI_SCADA, f"IEC 104 {name} cause {asdu.cause} (controlling station)", ts, frame)
            return Who(1 - who)
        return Who.SERVER

    def _station(self, who: Who, ca: int, name: str, ts: float, frame: int) -> None:
        """101 7.2.4: each common address is a station of the controlled device: a component ``ca:N``."""
        if ca == 0 or ca == GLOBAL_ADDRESS or (who, ca) in self.stations:
            return
        if len(self.stations) >= MAX_STATIONS:
            self.anomaly(Iec104Anomaly.STATIONS_CAP, frame, ts)
            return
        self.stations.add((who, ca))
        comp, msg = f"ca:{ca}", f"IEC 104 {name} common address {ca}"
        self.fact(who, "protocol", "iec104-server", msg, frame, ts, comp)
        self.fact(who, "iec104_common_address", str(ca), msg, frame, ts, comp)

    def _hint(self, who: Who, role: Role, message: str, ts: float, frame: int) -> None:
        if (who, role.value) not in self.hinted:
            self.hinted.add((who, role.value))
            self.fact(who, "role_hint", role.value, message, frame, ts)
