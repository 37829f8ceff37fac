"""PROFINET IO frame builders for tests, from the layouts of IEC 61158-6-10 (checked against tshark 4.0's
pn_rt / pn_io / dcerpc dissectors in tests/integration/test_pnio_captures.py): PN-RT cyclic and alarm frames,
the connectionless DCE/RPC header and the PNIO-CM blocks of Connect, Read (I&M0), Control.

There is no PROFINET IO stack to run here (no controller or device software installs on this machine), so
exchanges that the public captures do not hold (Connect, cyclic data, alarms) are built with these."""

from __future__ import annotations

import struct
import uuid

IOC_MAC, IOD_MAC, EWS_MAC = "00:1b:1b:11:22:33", "00:0e:8c:44:55:66", "00:0c:29:77:88:99"
IOC_IP, IOD_IP, EWS_IP = "192.168.0.1", "192.168.0.10", "192.168.0.200"
DEVICE_IF = uuid.UUID("dea00001-6c97-11d1-8271-00a02442df7d")
CONTROLLER_IF = uuid.UUID("dea00002-6c97-11d1-8271-00a02442df7d")
AR_UUID = uuid.UUID("30aba9a3-f764-b744-b3b6-7ee28a1a02cb")


def mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def eth(dst: str, src: str, payload: bytes, et: int = 0x8892) -> bytes:
    return mac(dst) + mac(src) + struct.pack(">H", et) + payload


# -- PN-RT ----------------------------------------------------------------------------------------------

def cyclic(frame_id: int, cycle: int, data: bytes = b"\x80" * 40, data_status: int = 0x35,
           transfer_status: int = 0) -> bytes:
    """FrameID, C_SDU (IO data with IOPS/IOCS), APDU_Status: CycleCounter(2) DataStatus(1) TransferStatus(1)."""
    return struct.pack(">H", frame_id) + data + struct.pack(">HBB", cycle & 0xFFFF, data_status, transfer_status)


def alarm(frame_id: int, *, pdu_type: int = 1, block_type: int = 0x0001, alarm_type: int = 0x0001,
          slot: int = 1, subslot: int = 1, module: int = 0x32, submodule: int = 1, seq: int = 0,
          specifier: int = 0x8000) -> bytes:
    """RTA-PDU: AlarmDstEndpoint, AlarmSrcEndpoint, PDUType (version 1 in the high nibble), AddFlags, SendSeqNum,
    AckSeqNum, VarPartLen, then an AlarmNotification (0x0001 high / 0x0002 low) or AlarmAck (0x8001/0x8002)."""
    if pdu_type == 1 and block_type in (0x0001, 0x0002):
        body = struct.pack(">HIHHIIH", alarm_type, 0, slot, subslot, module, submodule, specifier)
    elif pdu_type == 1:
        body = struct.pack(">HIHHH", alarm_type, 0, slot, subslot, specifier) + b"\x00\x00\x00\x00"
    else:
        body = b""
    sdu = struct.pack(">HHBB", block_type, len(body) + 2, 1, 0) + body if body else b""
    head = struct.pack(">HHHBBHHH", frame_id, 0x0001, 0x0002, 0x10 | pdu_type, 0x11, seq, 0xFFFE, len(sdu))
    return head + sdu


# -- DCE/RPC connectionless (DCE 1.1 RPC, chapter 12) -----------------------------------------------------

def object_uuid(vendor: int, device: int, instance: int = 1) -> uuid.UUID:
    """The PNIO object UUID: DEA00000-6C97-11D1-8271-{instance}{device id}{vendor id}."""
    return uuid.UUID(f"dea00000-6c97-11d1-8271-{instance:04x}{device:04x}{vendor:04x}")


def rpc(ptype: int, opnum: int, body: bytes, *, interface: uuid.UUID = DEVICE_IF, obj: uuid.UUID | None = None,
        activity: uuid.UUID = uuid.UUID(int=0x1234), seq: int = 0, little: bool = True, flags1: int = 0x28) -> bytes:
    o = obj or object_uuid(0x002A, 0x0313)
    e = "<" if little else ">"
    enc = (lambda u: u.bytes_le) if little else (lambda u: u.bytes)
    drep = b"\x10\x00\x00" if little else b"\x00\x00\x00"
    head = struct.pack(">BBBB", 4, ptype, flags1, 0) + drep + b"\x00" + enc(o) + enc(interface) + enc(activity)
    head += struct.pack(e + "IIIHHHHHBB", 0, 1, seq, opnum, 0xFFFF, 0xFFFF, len(body), 0, 0, 0)
    return head + body


def ndr_request(blocks: bytes, little: bool = True) -> bytes:
    e = "<" if little else ">"
    return struct.pack(e + "IIIII", 0x1000, len(blocks), 0x1000, 0, len(blocks)) + blocks


def ndr_response(blocks: bytes, status: bytes = b"\x00\x00\x00\x00", little: bool = True) -> bytes:
    e = "<" if little else ">"
    return status + struct.pack(e + "IIII", len(blocks), 0x1000, 0, len(blocks)) + blocks


def block(btype: int, body: bytes) -> bytes:
    return struct.pack(">HHBB", btype, len(body) + 2, 1, 0) + body


def ar_block_req(station: bytes = b"plc-line-1", initiator_mac: str = IOC_MAC) -> bytes:
    body = struct.pack(">H", 1) + AR_UUID.bytes + struct.pack(">H", 2) + mac(initiator_mac)
    body += object_uuid(0x002A, 0x0202).bytes + struct.pack(">IHHH", 0x40000011, 600, 0x8892, len(station))
    return block(0x0101, body + station)


def iocr_block_req(iocr_type: int, ref: int, frame_id: int) -> bytes:
    body = struct.pack(">HHHIHHHHHHIHHH", iocr_type, ref, 0x8892, 0x00000001, 40, frame_id, 32, 1, 1, 0,
                       0xFFFFFFFF, 3, 3, 0xC000) + b"\x00" * 6
    body += struct.pack(">HIH", 1, 0, 1) + struct.pack(">HHH", 1, 1, 0) + struct.pack(">HHHH", 1, 1, 1, 1)
    return block(0x0102, body)


def expected_submodule_block(slot: int, module: int, subs: list[tuple[int, int, int]]) -> bytes:
    """ExpectedSubmoduleBlockReq: one API (0), one slot; subs: (subslot, submodule ident, properties)."""
    body = struct.pack(">HIHIHH", 1, 0, slot, module, 0, len(subs))
    for subslot, ident, props in subs:
        body += struct.pack(">HIH", subslot, ident, props)
        kinds = {0: [1], 1: [1], 2: [2], 3: [1, 2]}[props & 3]
        for k in kinds:
            body += struct.pack(">HHBB", k, 1 if props & 3 else 0, 1, 1)
    return block(0x0104, body)


def alarm_cr_block_req() -> bytes:
    return block(0x0103, struct.pack(">HHIHHHHHH", 1, 0x8892, 0, 1, 3, 2, 200, 0xC000, 0xA000))


def connect_request(station: bytes = b"plc-line-1") -> bytes:
    blocks = (ar_block_req(station) + iocr_block_req(1, 1, 0x8001) + iocr_block_req(2, 2, 0x8000)
              + expected_submodule_block(0, 0x00000001, [(1, 1, 0), (0x8000, 0x8000, 0), (0x8001, 0x8001, 0)])
              + expected_submodule_block(1, 0x00000032, [(1, 1, 3)]) + alarm_cr_block_req())
    return ndr_request(blocks)


def connect_response(station: bytes = b"io-device-7", module_diff: bool = True) -> bytes:
    ar = block(0x8101, struct.pack(">H", 1) + AR_UUID.bytes + struct.pack(">H", 2) + mac(IOD_MAC)
               + struct.pack(">H", 0x8892))
    iocr = block(0x8102, struct.pack(">HHH", 1, 1, 0xC001)) + block(0x8102, struct.pack(">HHH", 2, 2, 0xC002))
    alarm_cr = block(0x8103, struct.pack(">HHH", 1, 1, 200))
    diff = b""
    if module_diff:       # slot 1 holds a wrong module (ModuleState 1 = WrongModule), its subslot 1 ok
        diff = block(0x8104, struct.pack(">HIH", 1, 0, 1) + struct.pack(">HIHH", 1, 0x33, 1, 1)
                     + struct.pack(">HIH", 1, 1, 0))
    name = struct.pack(">H", len(station)) + station
    server = block(0x8106, name + b"\x00" * (-(len(name) + 2) % 4))
    return ndr_response(ar + iocr + alarm_cr + diff + server)


def read_request(index: int = 0xAFF0, slot: int = 0, subslot: int = 1, ar: uuid.UUID | None = None) -> bytes:
    body = struct.pack(">H", 3) + (ar or uuid.UUID(int=0)).bytes + struct.pack(">IHHHHI", 0, slot, subslot, 0,
                                                                             index, 4096)
    body += b"\x00" * 16 + b"\x00" * 8
    return ndr_request(block(0x0009, body))


def im0(vendor: int = 0x002A, order: bytes = b"6ES7 151-1AA05-0AB0", serial: bytes = b"S C-X4U123456",
        hw: int = 3, sw: tuple[str, int, int, int] = ("V", 3, 2, 1)) -> bytes:
    body = struct.pack(">H", vendor) + order.ljust(20, b" ") + serial.ljust(16, b" ") + struct.pack(">H", hw)
    body += sw[0].encode() + bytes(sw[1:]) + struct.pack(">HHHBBH", 0, 0, 0, 1, 1, 0x001E)
    return block(0x0020, body)


def read_response(index: int = 0xAFF0, data: bytes | None = None, slot: int = 0, subslot: int = 1,
                  ar: uuid.UUID | None = None) -> bytes:
    rec = im0() if data is None else data
    body = struct.pack(">H", 3) + (ar or uuid.UUID(int=0)).bytes + struct.pack(">IHHHHIHH", 0, slot, subslot, 0,
                                                                             index, len(rec), 0, 0)
    body += b"\x00" * 20
    return ndr_response(block(0x8009, body) + rec)


def control(btype: int, command: int) -> bytes:
    body = b"\x00\x00" + AR_UUID.bytes + struct.pack(">HHHH", 2, 0, command, 0)
    return block(btype, body)


_IPID = [0]


def udp_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes) -> bytes:
    """Ethernet/IPv4/UDP without scapy (checksums zero: tshark does not verify them by default; the IP id
    counts up, so no two frames look like SPAN duplicates)."""
    _IPID[0] = (_IPID[0] + 1) & 0xFFFF
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), _IPID[0], 0, 64, 17, 0, bytes(map(int, src_ip.split("."))),
                     bytes(map(int, dst_ip.split("."))))
    return eth(dst_mac, src_mac, ip + udp, 0x0800)


def connect_exchange() -> list[bytes]:
    """IOC Connect request and IOD response, the IOD's ApplicationReady (a request to the controller
    interface) and the IOC's answer, an IOC PrmEnd and its answer, an EWS implicit I&M0 read and its answer."""
    a = uuid.UUID(int=0xAA)
    return [
        udp_frame(IOC_MAC, IOD_MAC, IOC_IP, IOD_IP, 49152, 34964, rpc(0, 0, connect_request(), activity=a)),
        udp_frame(IOD_MAC, IOC_MAC, IOD_IP, IOC_IP, 34964, 49152, rpc(2, 0, connect_response(), activity=a)),
        udp_frame(IOC_MAC, IOD_MAC, IOC_IP, IOD_IP, 49152, 34964,
                  rpc(0, 4, ndr_request(control(0x0110, 0x0001)), activity=a, seq=1)),
        udp_frame(IOD_MAC, IOC_MAC, IOD_IP, IOC_IP, 34964, 49152,
                  rpc(2, 4, ndr_response(control(0x8110, 0x0008)), activity=a, seq=1)),
        udp_frame(IOD_MAC, IOC_MAC, IOD_IP, IOC_IP, 49153, 34964,
                  rpc(0, 4, ndr_request(control(0x0112, 0x0002)), interface=CONTROLLER_IF,
                      activity=uuid.UUID(int=0xBB))),
        udp_frame(IOC_MAC, IOD_MAC, IOC_IP, IOD_IP, 34964, 49153,
                  rpc(2, 4, ndr_response(control(0x8112, 0x0008)), interface=CONTROLLER_IF,
                      activity=uuid.UUID(int=0xBB))),
        udp_frame(EWS_MAC, IOD_MAC, EWS_IP, IOD_IP, 50000, 34964, rpc(0, 5, read_request(), activity=uuid.UUID(int=0xCC))),
        udp_frame(IOD_MAC, EWS_MAC, IOD_IP, EWS_IP, 34964, 50000,
                  rpc(2, 5, read_response(), activity=uuid.UUID(int=0xCC))),
    ]


def cyclic_frames(n: int, t0: float = 1_700_000_000.0, period: float = 0.004) -> list[tuple[float, bytes]]:
    """n PN-RT class 1 cyclic frames: the IOD sends 0xC001 to the IOC and the IOC 0xC002 to the IOD, every
    4 ms each (SendClockFactor 32 x ReductionRatio 4 = 128 cycle-counter units of 31.25 us)."""
    out = []
    for i in range(n):
        side = i & 1
        k = i >> 1
        ts = t0 + k * period + side * 0.0001
        data = bytes((k + j) & 0xFF for j in range(40))
        if side == 0:
            out.append((ts, eth(IOC_MAC, IOD_MAC, cyclic(0xC001, k * 128, data))))
        else:
            out.append((ts, eth(IOD_MAC, IOC_MAC, cyclic(0xC002, k * 128, data))))
    return out
