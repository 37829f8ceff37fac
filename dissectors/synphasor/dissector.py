"""IEEE C37.118 per-flow dissectors (TCP stream and UDP datagrams): frames framed by SYNC + FRAMESIZE, CHK
checked, configuration frames -> station names, IDCODEs, number of PMUs and data rate; command frames; PMU vs
PDC roles from who sends what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from otscope.dissectors.base import FATAL, INCOMPLETE, OK, Dissector, Malformed, Protocol, Reader, Role, \
    StreamBuffer, Transport, Truncated, Who
from otscope.dissectors.synphasor.constants import (BUFFER_CAP, CFG3_LAST, CFG3_MAX_BYTES, CFG3_MAX_FRAGMENTS,
                                                    MAX_HEADER_TEXT, MAX_IDCODES, MAX_PMUS, MAX_RESYNC, SYNC_BYTE,
                                                    TCP_PORT, UDP_PORT, Command, FrameType, SynphasorAnomaly,
                                                    command_name)
from otscope.dissectors.synphasor.grammar import (Config, Header, cfg3_piece, cont_idx, crc_ok, frame_size,
                                                  parse_command, parse_config, parse_config_body, parse_header,
                                                  parse_header_text)

_CONFIG_NAMES = {FrameType.CFG1: "CFG-1", FrameType.CFG2: "CFG-2", FrameType.CFG3: "CFG-3"}


@dataclass(slots=True)
class Cfg3Series:
    """A fragmented CFG-3 being joined (Table 10): the pieces so far, their size, the last CONT_IDX."""
    pieces: list[bytes] = field(default_factory=list)
    size: int = 0
    last: int = 0


def sender(side: int) -> Who:
    """The end that sent a payload travelling in ``side``."""
    return Who.CLIENT if side == 0 else Who.SERVER


def _framing_anomaly(data: bytes, pos: int) -> SynphasorAnomaly:
    """Why the 4 bytes at ``pos`` are no frame header: the SYNC word (0xAA, Table 2 type bits) or FRAMESIZE."""
    flags = data[pos + 1]
    if data[pos] != SYNC_BYTE or flags & 0x80 or (flags >> 4) & 0x07 not in FrameType._value2member_map_:
        return SynphasorAnomaly.BAD_SYNC
    return SynphasorAnomaly.BAD_FRAMESIZE


class SynphasorDissector(Dissector):
    protocol: ClassVar[Protocol] = Protocol.SYNPHASOR
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (TCP_PORT,)
    client_label: ClassVar[str] = "synphasor-client"
    server_label: ClassVar[str] = "synphasor-server"

    __slots__ = ("buf", "sides", "resync", "pmu_end", "idcodes", "pmus", "said", "cfg3_parts")

    def __init__(self) -> None:
        super().__init__()
        self.buf = StreamBuffer(BUFFER_CAP)
        self.sides = 0                          # bit per side that sent a frame with a valid CHK
        self.resync = 0
        self.pmu_end: Who | None = None         # the end that sends data/configuration (the PMU)
        self.idcodes: set[tuple[int, int]] = set()      # (end, stream IDCODE) reported, bounded
        self.pmus: set[tuple[int, int]] = set()         # (end, PMU IDCODE) credited as a component, bounded
        self.said: set[tuple[int, str, str, str | None]] = set()   # (end, field, value, component) given, bounded
        self.cfg3_parts: dict[int, Cfg3Series] = {}    # per end: the fragmented CFG-3 being joined (bounded)

    def gap(self, side: int) -> None:
        self.buf.drop(side)

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        data = self.buf.join(side, data)
        pos, n = 0, len(data)
        while n - pos >= 4:
            try:
                end = pos + frame_size(data, pos)
            except Malformed as e:
                return self._lost_framing(_framing_anomaly(data, pos), e, side, ts, frame)
            if end > n:
                break
            if self._frame(data[pos:end], side, ts, frame) == FATAL:
                return FATAL
            pos = end
        self.resync = 0
        if pos < n:
            self.buf.keep(side, data[pos:])       # under BUFFER_CAP: FRAMESIZE is at most 65535
            return INCOMPLETE
        return OK

    def _lost_framing(self, kind: SynphasorAnomaly, why: Exception, side: int, ts: float, frame: int) -> int:
        """Bytes that are no frame header: not C37.118 before the flow was labelled, else counted and resynced
        at the next segment (a bounded number of times)."""
        self.buf.drop(side)
        if not self.labelled:
            return self.fatal(f"not synphasor ({why})")
        self.anomaly(kind, frame, ts)
        self.resync += 1
        return self.fatal(f"lost framing ({why})") if self.resync >= MAX_RESYNC else OK

    def _frame(self, raw: bytes, side: int, ts: float, frame: int) -> int:
        """One whole frame: CHK first (Annex B), then its type's body."""
        if not crc_ok(raw):
            if not self.labelled:
                return self.fatal("not synphasor (CHK does not match)")
            self.anomaly(SynphasorAnomaly.BAD_CRC, frame, ts)
            return OK
        hdr = parse_header(raw)
        self.decoded += hdr.size
        self.sides |= 1 << side
        self.count(f"version {hdr.version}")
        who = sender(side)
        if hdr.type is FrameType.COMMAND:
            self._command(raw, hdr, who, ts, frame)
        else:
            self._from_pmu(raw, hdr, who, ts, frame)
        if self.sides == 3:
            self.confirm(frame, ts, "C37.118 frames with valid CHK in both directions")
        return OK

    def _roles(self, pmu: Who, message: str, ts: float, frame: int) -> None:
        """Labels from who sends what (6.1: a PMU/PDC sends data, configuration and header frames, its client
        sends commands), not from the port; once, from the first frame that shows it."""
        if self.pmu_end is not None:
            return
        self.pmu_end = pmu
        self.labelled = True
        self.fact(pmu, "protocol", "synphasor-server", message, frame, ts)
        self.fact(Who(1 - pmu), "protocol", "synphasor-client", message, frame, ts)

    def _from_pmu(self, raw: bytes, hdr: Header, who: Who, ts: float, frame: int) -> None:
        self._roles(who, f"C37.118 {hdr.type.name.lower()} frame from the PMU", ts, frame)
        self._once(who, "role_hint", Role.RTU_IED.value, f"sends C37.118 {hdr.type.name.lower()} frames (PMU)",
                   ts, frame)
        self._idcode(who, hdr, ts, frame)
        if hdr.type is FrameType.DATA:
            self.count("data")
        elif hdr.type is FrameType.HEADER:
            self.count("header")
            self._once(who, "synphasor_header", parse_header_text(raw, MAX_HEADER_TEXT), "C37.118 header frame",
                       ts, frame)
        else:
            self._config(raw, hdr, who, ts, frame)

    def _idcode(self, who: Who, hdr: Header, ts: float, frame: int) -> None:
        key = (who, hdr.idcode)
        if key in self.idcodes or len(self.idcodes) >= MAX_IDCODES:
            return
        self.idcodes.add(key)
        self.fact(who, "synphasor_idcode", str(hdr.idcode), f"C37.118 {hdr.type.name.lower()} frame IDCODE",
                  frame, ts)

    def _config(self, raw: bytes, hdr: Header, who: Who, ts: float, frame: int) -> None:
        name = _CONFIG_NAMES[hdr.type]
        self.count(name)
        cfg3 = hdr.type is FrameType.CFG3
        try:
            if cfg3 and cont_idx(raw) != 0:
                self.count("CFG-3 fragment")
                whole = self._cfg3_fragment(raw, who, ts, frame)
                if whole is None:
                    return
                cfg = parse_config_body(Reader(whole), cfg3=True)
            else:
                cfg = parse_config(raw, cfg3=cfg3)
        except (Truncated, Malformed):
            self.anomaly(SynphasorAnomaly.MALFORMED_CONFIG, frame, ts)
            return
        msg = f"C37.118 {name} configuration frame"
        self._once(who, "synphasor_pmus", str(cfg.num_pmu), msg, ts, frame)
        self._once(who, "synphasor_data_rate", str(cfg.data_rate), msg, ts, frame)
        self._stations(cfg, who, msg, ts, frame)

    def _cfg3_fragment(self, raw: bytes, who: Who, ts: float, frame: int) -> bytes | None:
        """Table 10 CONT_IDX: fragments 1, 2, ... then 0xFFFF, in order, make one CFG-3; their pieces (each after
        its CONT_IDX) are joined, and the whole configuration is returned with the last one. A fragment out of
        sequence drops the series (counted); the series is bounded in bytes and fragments."""
        idx = cont_idx(raw)
        piece = cfg3_piece(raw)
        series = self.cfg3_parts.get(who)
        if idx == 1:
            series = self.cfg3_parts[who] = Cfg3Series()
        elif series is None or (idx != CFG3_LAST and idx != series.last + 1):
            self.cfg3_parts.pop(who, None)
            self.anomaly(SynphasorAnomaly.CFG3_FRAGMENT_GAP, frame, ts)
            return None
        series.last = idx
        series.size += len(piece)
        series.pieces.append(piece)
        if series.size > CFG3_MAX_BYTES or len(series.pieces) > CFG3_MAX_FRAGMENTS:
            del self.cfg3_parts[who]
            self.anomaly(SynphasorAnomaly.CFG3_TOO_LARGE, frame, ts)
            return None
        if idx != CFG3_LAST:
            return None
        del self.cfg3_parts[who]
        return b"".join(series.pieces)

    def _stations(self, cfg: Config, who: Who, msg: str, ts: float, frame: int) -> None:
        """One PMU block: the device itself is that PMU (its station name is its name). Several blocks (a PDC,
        a multi-PMU device): each is a component ``pmu:<its IDCODE>`` named by its station name."""
        if len(cfg.pmus) == 1:
            pmu = cfg.pmus[0]
            self._once(who, "name", pmu.station, msg, ts, frame)
            self._once(who, "synphasor_pmu_idcode", str(pmu.idcode), msg, ts, frame)
            return
        for pmu in cfg.pmus:
            key = (who, pmu.idcode)
            if key not in self.pmus:
                if len(self.pmus) >= MAX_PMUS:
                    self.anomaly(SynphasorAnomaly.PMUS_CAP, frame, ts)
                    return
                self.pmus.add(key)
            comp = f"pmu:{pmu.idcode}"
            self._once(who, "name", pmu.station, msg, ts, frame, comp)
            self._once(who, "synphasor_pmu_idcode", str(pmu.idcode), msg, ts, frame, comp)

    def _command(self, raw: bytes, hdr: Header, who: Who, ts: float, frame: int) -> None:
        """6.6: commands come from the client (a PDC or an HMI) and are addressed to the stream's IDCODE."""
        try:
            cmd = parse_command(raw)
        except (Truncated, Malformed):
            self.anomaly(SynphasorAnomaly.MALFORMED_COMMAND, frame, ts)
            return
        name = command_name(cmd)
        self.count(name)
        if cmd not in Command._value2member_map_:
            self.anomaly(SynphasorAnomaly.UNKNOWN_COMMAND, frame, ts, str(cmd))
        self._roles(Who(1 - who), f"C37.118 command '{name}' to the PMU", ts, frame)
        self._once(who, "role_hint", Role.HMI_SCADA.value, f"sends C37.118 command '{name}' (PDC/client)", ts,
                   frame)

    def _once(self, who: Who, field: str, value: str, msg: str, ts: float, frame: int,
              component: str | None = None) -> None:
        """A fact the first time this flow shows it (bounded by the PMU and IDCODE caps)."""
        key = (who, field, value, component)
        if value and key not in self.said and len(self.said) < 8 * (MAX_PMUS + MAX_IDCODES):
            self.said.add(key)
            self.fact(who, field, value, msg, frame, ts, component)


class SynphasorUdpDissector(SynphasorDissector):
    """C37.118 over UDP: every datagram is whole frames (6.1), nothing is buffered across datagrams."""

    transport: ClassVar[Transport] = Transport.UDP
    ports: ClassVar[tuple[int, ...]] = (UDP_PORT,)

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        self.buf.drop(side)
        status = super().feed(data, side, ts, frame)
        if status == INCOMPLETE:
            self.buf.drop(side)
            if not self.labelled:
                return self.fatal("not synphasor (datagram ends inside a frame)")
            self.anomaly(SynphasorAnomaly.TRUNCATED_DATAGRAM, frame, ts)
            return OK
        return status
