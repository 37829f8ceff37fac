"""PROFINET IO grammar: pure bytes -> dataclasses (IEC 61158-6-10; DCE 1.1 RPC chapter 12).

* PN-RT alarm frames (FrameID 0xFC01 high / 0xFE01 low): RTA-PDU header AlarmDstEndpoint(2) AlarmSrcEndpoint(2)
  PDUType(1: type low nibble, version high) AddFlags(1) SendSeqNum(2) AckSeqNum(2) VarPartLen(2), then for
  DATA an AlarmNotification block (AlarmType(2) API(4) Slot(2) Subslot(2) ModuleIdent(4) SubmoduleIdent(4)
  AlarmSpecifier(2)) or an AlarmAck block (AlarmType API Slot Subslot AlarmSpecifier PNIOStatus(4)).
* PNIO-CM: the 80-byte connectionless DCE/RPC header (integers and the first three UUID fields in the
  sender's byte order, drep[0] high nibble 1 = little-endian), the NDR arguments (request: ArgsMaximum
  ArgsLength MaximumCount Offset ActualCount; response: PNIOStatus(4, big-endian) ArgsLength MaximumCount Offset
  ActualCount) and then PNIO blocks, always big-endian: BlockType(2) BlockLength(2, from the version on)
  BlockVersionHigh(1) BlockVersionLow(1) body.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

from otscope.dissectors.base import Malformed, Reader, Truncated, mac_str, text
from otscope.dissectors.pnio.constants import (ALARM_HIGH, ALARM_LOW, FLAG1_FRAG, FLAG1_LASTFRAG, INDEX_IM0,
                                               INDEX_IM0_FILTER, PNIO_UUID_PREFIX, Block, PType, RtaType)

# -- PN-RT alarms -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Alarm:
    frame_id: int
    pdu_type: int                   # RtaType value
    block_type: int | None = None   # AlarmNotification (0x0001/0x0002) or AlarmAck (0x8001/0x8002)
    alarm_type: int | None = None
    slot: int | None = None
    subslot: int | None = None
    module_ident: int | None = None
    submodule_ident: int | None = None

    @property
    def priority(self) -> str:
        return "high" if self.frame_id == ALARM_HIGH else "low"

    @property
    def is_notification(self) -> bool:
        return self.block_type in (Block.ALARM_NOTIFICATION_HIGH, Block.ALARM_NOTIFICATION_LOW)

    @property
    def is_ack(self) -> bool:
        return self.block_type in (Block.ALARM_ACK_HIGH, Block.ALARM_ACK_LOW)


_RTA = struct.Struct(">HHHBBHHH")


def parse_alarm(body: bytes) -> Alarm:
    r = Reader(body)
    frame_id, _dst, _src, pdu, _flags, _sseq, _aseq, var_len = _RTA.unpack(r.take(_RTA.size))
    if frame_id not in (ALARM_HIGH, ALARM_LOW):
        raise Malformed(f"not an alarm frame id 0x{frame_id:04x}")
    kind = pdu & 0x0F
    if kind not in (RtaType.DATA, RtaType.NACK, RtaType.ACK, RtaType.ERR) or pdu >> 4 != 1:
        raise Malformed(f"RTA PDUType 0x{pdu:02x}")
    out = Alarm(frame_id, kind)
    if kind != RtaType.DATA or var_len == 0:
        return out
    sdu = r.sub(var_len)
    btype, blen = sdu.u16be(), sdu.u16be()
    b = sdu.sub(blen)
    b.skip(2)                                       # BlockVersionHigh/Low
    out.block_type = btype
    if btype in (Block.ALARM_NOTIFICATION_HIGH, Block.ALARM_NOTIFICATION_LOW):
        out.alarm_type, _api, out.slot, out.subslot, out.module_ident, out.submodule_ident = \
            struct.unpack(">HIHHII", b.take(18))
    elif btype in (Block.ALARM_ACK_HIGH, Block.ALARM_ACK_LOW):
        out.alarm_type, _api, out.slot, out.subslot = struct.unpack(">HIHH", b.take(10))
    else:
        raise Malformed(f"RTA DATA block 0x{btype:04x}")
    return out


# -- connectionless DCE/RPC -------------------------------------------------------------------------------


@dataclass(slots=True)
class RpcPdu:
    ptype: int
    flags1: int
    little: bool
    object: uuid.UUID
    interface: uuid.UUID
    activity: uuid.UUID
    seq: int
    opnum: int
    fragnum: int
    body: bytes

    @property
    def fragmented(self) -> bool:
        return bool(self.flags1 & FLAG1_FRAG)

    @property
    def last_fragment(self) -> bool:
        return not self.fragmented or bool(self.flags1 & FLAG1_LASTFRAG)


RPC_HEADER = 80


def _uuid(raw: bytes, little: bool) -> uuid.UUID:
    return uuid.UUID(bytes_le=raw) if little else uuid.UUID(bytes=raw)


def parse_rpc(data: bytes) -> RpcPdu:
    """The connectionless DCE/RPC header (DCE 1.1 RPC 12.5.1) and its body (fragment length bytes)."""
    if len(data) < RPC_HEADER:
        raise Truncated(f"DCE/RPC header needs {RPC_HEADER} bytes, have {len(data)}")
    version, ptype, flags1, _flags2 = data[0], data[1], data[2], data[3]
    drep0 = data[4]
    if version != 4 or drep0 & 0x0F or (drep0 >> 4) > 1 or ptype > PType.CANCEL_ACK:
        raise Malformed(f"not connectionless DCE/RPC (version {version}, type {ptype}, drep 0x{drep0:02x})")
    little = (drep0 >> 4) == 1
    e = "<" if little else ">"
    _boot, _ifv, seq, opnum, _ih, _ah, length, fragnum = struct.unpack_from(e + "IIIHHHHH", data, 56)
    body = data[RPC_HEADER:RPC_HEADER + length]
    if len(body) < length:
        raise Truncated(f"DCE/RPC fragment length {length}, have {len(body)}")
    return RpcPdu(ptype, flags1, little, _uuid(data[8:24], little), _uuid(data[24:40], little),
                  _uuid(data[40:56], little), seq, opnum, fragnum, body)


def device_ids(obj: uuid.UUID) -> tuple[int, int, int] | None:
    """(vendor id, device id, instance) of a PNIO object UUID DEA00000-6C97-11D1-8271-{inst}{dev}{vendor}."""
    raw = obj.bytes
    if raw[:10] != PNIO_UUID_PREFIX:
        return None
    instance, device, vendor = struct.unpack_from(">HHH", raw, 10)
    return vendor, device, instance


@dataclass(slots=True)
class Args:
    """The NDR arguments of a PNIO call: PNIOStatus (responses) and the block bytes."""

    status: bytes
    blocks: bytes


def parse_args(body: bytes, little: bool, response: bool) -> Args:
    e = "<" if little else ">"
    r = Reader(body)
    if response:
        status = r.take(4)
        _args_len, _max, offset, actual = struct.unpack(e + "IIII", r.take(16))
    else:
        status = b""
        _args_max, _args_len, _max, offset, actual = struct.unpack(e + "IIIII", r.take(20))
    if offset != 0:
        raise Malformed(f"NDR array offset {offset}")
    return Args(status, r.take(min(actual, r.remaining())))


# -- PNIO blocks ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Submodule:
    api: int
    slot: int
    subslot: int | None
    module_ident: int
    submodule_ident: int | None
    state: int | None = None          # ModuleDiffBlock: ModuleState / SubmoduleState


@dataclass(slots=True)
class Im0:
    vendor_id: int
    order_id: str
    serial: str
    hardware_revision: int
    software_revision: str
    revision_counter: int
    profile_id: int


@dataclass(slots=True)
class CmMessage:
    """The blocks of one PNIO-CM request or response, decoded (unknown blocks kept by type)."""

    ar_uuid: uuid.UUID | None = None
    ar_type: int | None = None
    initiator_mac: str = ""
    responder_mac: str = ""
    initiator_station: str = ""
    responder_station: str = ""
    iocrs: list[tuple[int, int]] = field(default_factory=list)           # (IOCRType, FrameID)
    expected: list[Submodule] = field(default_factory=list)              # ExpectedSubmoduleBlockReq
    module_diff: list[Submodule] = field(default_factory=list)           # ModuleDiffBlock
    filter_data: list[Submodule] = field(default_factory=list)           # I&M0FilterData record
    control: list[tuple[int, int]] = field(default_factory=list)         # (BlockType, ControlCommand)
    read: tuple[int, int, int, int] | None = None                        # (API, slot, subslot, index)
    write: tuple[int, int, int, int] | None = None
    im0: Im0 | None = None
    record: bytes = b""
    record_len: int | None = None
    unknown: list[int] = field(default_factory=list)


MAX_BLOCKS = 64


def blocks(data: bytes) -> list[tuple[int, bytes]]:
    """The (BlockType, body after the version bytes) list of a block sequence."""
    r = Reader(data)
    out: list[tuple[int, bytes]] = []
    while r.remaining() >= 6 and len(out) < MAX_BLOCKS:
        btype, blen = r.u16be(), r.u16be()
        if blen < 2:
            raise Malformed(f"block 0x{btype:04x} length {blen}")
        b = r.take(blen)
        out.append((btype, b[2:]))
        if btype in (Block.READ_RES, Block.READ_REQ, Block.WRITE_REQ, Block.WRITE_RES):
            out.append((-1, r.rest()))          # the record data after a read/write header
    return out


def parse_cm(data: bytes) -> CmMessage:
    m = CmMessage()
    for btype, body in blocks(data):
        if btype == -1:
            _record(m, body)
            continue
        fn = _BLOCKS.get(btype)
        if fn is not None:
            fn(m, btype, Reader(body))
        elif len(m.unknown) < 16:
            m.unknown.append(btype)
    return m


def _ar_req(m: CmMessage, _t: int, r: Reader) -> None:
    """ARBlockReq: ARType ARUUID SessionKey CMInitiatorMacAdd CMInitiatorObjectUUID ARProperties
    CMInitiatorActivityTimeoutFactor CMInitiatorUDPRTPort StationNameLength CMInitiatorStationName."""
    m.ar_type = r.u16be()
    m.ar_uuid = uuid.UUID(bytes=r.take(16))
    r.skip(2)
    m.initiator_mac = mac_str(r.take(6))
    r.skip(16 + 4 + 2 + 2)
    m.initiator_station = text(r.take(r.u16be()), 240)


def _ar_res(m: CmMessage, _t: int, r: Reader) -> None:
    """ARBlockRes: ARType ARUUID SessionKey CMResponderMacAdd CMResponderUDPRTPort."""
    m.ar_type = r.u16be()
    m.ar_uuid = uuid.UUID(bytes=r.take(16))
    r.skip(2)
    m.responder_mac = mac_str(r.take(6))


def _ar_server(m: CmMessage, _t: int, r: Reader) -> None:
    """ARServerBlock: StationNameLength CMResponderStationName (padding)."""
    m.responder_station = text(r.take(r.u16be()), 240)


def _iocr_req(m: CmMessage, _t: int, r: Reader) -> None:
    """IOCRBlockReq: IOCRType IOCRReference LT IOCRProperties DataLength FrameID ..."""
    iocr_type, _ref, _lt, _props, _dlen, frame_id = struct.unpack(">HHHIHH", r.take(14))
    m.iocrs.append((iocr_type, frame_id))


def _iocr_res(m: CmMessage, _t: int, r: Reader) -> None:
    """IOCRBlockRes: IOCRType IOCRReference FrameID."""
    iocr_type, _ref, frame_id = struct.unpack(">HHH", r.take(6))
    m.iocrs.append((iocr_type, frame_id))


def _control(m: CmMessage, btype: int, r: Reader) -> None:
    """IODControlReq/Res (PrmEnd, ApplicationReady, Release): reserved ARUUID SessionKey reserved
    ControlCommand ControlBlockProperties."""
    r.skip(2)
    m.ar_uuid = uuid.UUID(bytes=r.take(16))
    r.skip(2 + 2)
    m.control.append((btype, r.u16be()))


def _record_header(m: CmMessage, btype: int, r: Reader) -> None:
    """IODReadReqHeader/ResHeader, IODWriteReqHeader/ResHeader: SeqNumber ARUUID API Slot Subslot padding Index
    RecordDataLength ...; a read response and a write request are followed by the record data."""
    r.skip(2)
    m.ar_uuid = uuid.UUID(bytes=r.take(16))
    api, slot, subslot, _pad, index = struct.unpack(">IHHHH", r.take(12))
    rec_len = r.u32be()
    if btype in (Block.READ_REQ, Block.READ_RES):
        m.read = (api, slot, subslot, index)
    else:
        m.write = (api, slot, subslot, index)
    if btype in (Block.READ_RES, Block.WRITE_REQ):
        m.record_len = rec_len


def _ignored(_m: CmMessage, _t: int, _r: Reader) -> None:
    """A known block that carries nothing otscope reports (AlarmCRBlockReq/Res)."""


def _record(m: CmMessage, rest: bytes) -> None:
    """Record data after an IODReadResHeader (or IODWriteReqHeader): RecordDataLength bytes."""
    if m.record_len is None:
        return
    data = rest[:m.record_len]
    m.record = data
    index = m.read[3] if m.read else None
    if index == INDEX_IM0:
        m.im0 = parse_im0(data)
    elif index == INDEX_IM0_FILTER:
        for btype, body in blocks(data):
            if btype in (Block.IM0_FILTER_SUBMODULE, Block.IM0_FILTER_MODULE, Block.IM0_FILTER_DEVICE):
                _filter(m, Reader(body))


def parse_im0(data: bytes) -> Im0:
    """I&M0 (record 0xAFF0): BlockHeader (type 0x0020), VendorID(2), OrderID(20), IM_Serial_Number(16),
    IM_Hardware_Revision(2), IM_Software_Revision (prefix char + 3 bytes), IM_Revision_Counter(2),
    IM_Profile_ID(2), IM_Profile_Specific_Type(2), IM_Version(2), IM_Supported(2)."""
    r = Reader(data)
    btype, _blen = r.u16be(), r.u16be()
    if btype != Block.IM0:
        raise Malformed(f"I&M0 record block type 0x{btype:04x}")
    r.skip(2)
    vendor = r.u16be()
    order = text(r.take(20), 64)
    serial = text(r.take(16), 64)
    hw = r.u16be()
    prefix, a, b, c = struct.unpack(">cBBB", r.take(4))
    p = prefix.decode("latin-1")
    sw = f"{p if p.isalpha() else '?'}{a}.{b}.{c}"
    rev_counter, profile = r.u16be(), r.u16be()
    return Im0(vendor, order, serial, hw, sw, rev_counter, profile)


def _expected(m: CmMessage, r: Reader) -> None:
    """ExpectedSubmoduleBlockReq: NumberOfAPIs, per API: API Slot ModuleIdent ModuleProperties NumberOfSubmodules,
    per submodule: Subslot SubmoduleIdent SubmoduleProperties and 1 or 2 DataDescriptions (6 bytes each)."""
    for _ in range(r.u16be()):
        api, slot, module, _props, nsub = struct.unpack(">IHIHH", r.take(14))
        m.expected.append(Submodule(api, slot, None, module, None))
        for _ in range(nsub):
            subslot, ident, sprops = struct.unpack(">HIH", r.take(8))
            r.skip(12 if sprops & 3 == 3 else 6)
            m.expected.append(Submodule(api, slot, subslot, module, ident))


def _module_diff(m: CmMessage, r: Reader) -> None:
    for _ in range(r.u16be()):
        api, nmod = struct.unpack(">IH", r.take(6))
        for _ in range(nmod):
            slot, module, state, nsub = struct.unpack(">HIHH", r.take(10))
            m.module_diff.append(Submodule(api, slot, None, module, None, state))
            for _ in range(nsub):
                subslot, ident, sstate = struct.unpack(">HIH", r.take(8))
                m.module_diff.append(Submodule(api, slot, subslot, module, ident, sstate))


def _filter(m: CmMessage, r: Reader) -> None:
    """I&M0FilterData blocks: NumberOfAPIs, per API: API NumberOfModules, per module: Slot ModuleIdent
    NumberOfSubmodules, per submodule: Subslot SubmoduleIdent."""
    for _ in range(r.u16be()):
        api, nmod = struct.unpack(">IH", r.take(6))
        for _ in range(nmod):
            slot, module, nsub = struct.unpack(">HIH", r.take(8))
            m.filter_data.append(Submodule(api, slot, None, module, None))
            for _ in range(nsub):
                subslot, ident = struct.unpack(">HI", r.take(6))
                m.filter_data.append(Submodule(api, slot, subslot, module, ident))


_BLOCKS = {
    Block.AR_REQ: _ar_req, Block.AR_RES: _ar_res, Block.AR_SERVER: _ar_server,
    Block.IOCR_REQ: _iocr_req, Block.IOCR_RES: _iocr_res,
    Block.EXPECTED_SUBMODULE_REQ: lambda m, _t, r: _expected(m, r),
    Block.MODULE_DIFF: lambda m, _t, r: _module_diff(m, r),
    Block.READ_REQ: _record_header, Block.READ_RES: _record_header, Block.WRITE_REQ: _record_header,
    Block.WRITE_RES: _record_header, Block.ALARM_CR_REQ: _ignored, Block.ALARM_CR_RES: _ignored,
    **{b: _control for b in (Block.PRM_END_REQ, Block.APPLICATION_READY_REQ, Block.RELEASE_REQ, Block.PRM_END_RES,
                             Block.APPLICATION_READY_RES, Block.RELEASE_RES)},
}
