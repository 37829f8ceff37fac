"""ADS/AMS grammar: pure bytes -> dataclasses (ADS specification; Wireshark packet-ams.c dissect_ams_pdu).

AMS/TCP (all little-endian): reserved u16 (0: an AMS command), length u32 (AMS header + ADS data), then the
32-byte AMS header: target NetId (6) + port (u16), source NetId (6) + port (u16), command id u16, state flags
u16, data length u32, error code u32, invoke id u32. The ADS command bodies are fixed layouts:

* Read Device Info response: result u32, version u8, revision u8, build u16, device name char[16];
* Read State response: result u32, ADS state u16, device state u16;
* Write Control request: ADS state u16, device state u16, length u32, data;
* Read / Write / ReadWrite / Add Device Notification requests: index group u32, index offset u32, length u32...;
* every other response starts with its result u32.

The UDP service on 48899 (Beckhoff AdsLib RouterAccess.cpp): cookie u32 0x71146603, invoke id u32, service id
u32 (bit 31: response), the sender's AMS NetId (6) + port (u16), tag count u32, then tags: id u16, length u16,
value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from otscope.dissectors.ads.constants import (AMS_HEADER_LEN, AMS_TCP_HEADER_LEN, MAX_UDP_TAGS, OS_PLATFORMS,
                                              OSVERSIONINFO_MIN, UDP_COOKIE, UDP_HEADER_LEN, UDP_RESPONSE)
from otscope.dissectors.base import Malformed, Reader, Truncated, text

_TCP = struct.Struct("<HI")
_AMS = struct.Struct("<6sH6sHHHIII")


def netid(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def parse_tcp_header(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """(reserved, length) of the AMS/TCP header at ``pos``."""
    if len(buf) - pos < AMS_TCP_HEADER_LEN:
        raise Truncated("AMS/TCP header")
    return _TCP.unpack_from(buf, pos)


@dataclass(frozen=True, slots=True)
class AmsHeader:
    target: str
    target_port: int
    source: str
    source_port: int
    command: int
    flags: int
    length: int                 # cbData: the ADS data after the header
    error: int
    invoke: int


def parse_ams_header(buf: bytes | memoryview, pos: int = 0) -> AmsHeader:
    if len(buf) - pos < AMS_HEADER_LEN:
        raise Truncated("AMS header")
    t, tp, s, sp, cmd, flags, n, err, inv = _AMS.unpack_from(buf, pos)
    return AmsHeader(netid(t), tp, netid(s), sp, cmd, flags, n, err, inv)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    result: int
    version: int
    revision: int
    build: int
    name: str

    @property
    def version_text(self) -> str:
        return f"{self.version}.{self.revision}.{self.build}"


def parse_device_info(body: bytes) -> DeviceInfo:
    """A Read Device Info response; the name is up to 16 bytes (pyads' test server sends fewer)."""
    r = Reader(body)
    result = r.u32le()
    if result:
        return DeviceInfo(result, 0, 0, 0, "")
    version, revision, build = r.u8(), r.u8(), r.u16le()
    return DeviceInfo(result, version, revision, build, text(r.take(min(16, r.remaining())), 16))


@dataclass(frozen=True, slots=True)
class State:
    result: int
    ads_state: int
    device_state: int


def parse_read_state(body: bytes) -> State:
    r = Reader(body)
    result = r.u32le()
    if result:
        return State(result, -1, -1)
    return State(result, r.u16le(), r.u16le())


def parse_write_control(body: bytes) -> State:
    """A Write Control request: the state asked for (result 0: a request carries none)."""
    r = Reader(body)
    return State(0, r.u16le(), r.u16le())


@dataclass(frozen=True, slots=True)
class IndexRequest:
    group: int
    offset: int
    length: int


def parse_index_request(body: bytes) -> IndexRequest:
    r = Reader(body)
    return IndexRequest(r.u32le(), r.u32le(), r.u32le())


def parse_result(body: bytes) -> int:
    return Reader(body).u32le()


# -- the UDP service -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class UdpMessage:
    invoke: int
    service: int                # without the response bit
    response: bool
    netid: str
    port: int
    tags: tuple[tuple[int, bytes], ...]
    cut: bool                   # the tag list ended before its declared count (or exceeded MAX_UDP_TAGS)


def is_udp_message(data: bytes | memoryview) -> bool:
    return len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == UDP_COOKIE


def parse_udp(data: bytes) -> UdpMessage:
    r = Reader(data)
    if len(data) < UDP_HEADER_LEN or r.u32le() != UDP_COOKIE:
        raise Malformed("no ADS UDP cookie")
    invoke, service = r.u32le(), r.u32le()
    nid, port = netid(r.take(6)), r.u16le()
    if not r.remaining():                   # a bare header (no tag count): no tags
        return UdpMessage(invoke, service & ~UDP_RESPONSE, bool(service & UDP_RESPONSE), nid, port, (), False)
    count = r.u32le()
    tags: list[tuple[int, bytes]] = []
    cut = False
    for _ in range(min(count, MAX_UDP_TAGS)):
        try:
            tag, n = r.u16le(), r.u16le()
            tags.append((tag, r.take(n)))
        except Truncated:
            cut = True
            break
    cut = cut or count > MAX_UDP_TAGS
    return UdpMessage(invoke, service & ~UDP_RESPONSE, bool(service & UDP_RESPONSE), nid, port, tuple(tags), cut)


def twincat_version(raw: bytes) -> str:
    """Tag 3: version u8, revision u8, build u16 (TwinCAT 2.11.2228 is 02 0b b4 08)."""
    if len(raw) < 4:
        raise Truncated("TwinCAT version tag")
    return f"{raw[0]}.{raw[1]}.{struct.unpack_from('<H', raw, 2)[0]}"


@dataclass(frozen=True, slots=True)
class OsVersion:
    major: int
    minor: int
    build: int
    platform: int
    csd: str

    @property
    def os(self) -> str:
        """"Windows CE 6.0", "Windows NT 10.0 build 19045"; "" for a platform id we do not know."""
        name = OS_PLATFORMS.get(self.platform)
        if name is None:
            return ""
        s = f"{name} {self.major}.{self.minor}"
        if self.build:
            s += f" build {self.build}"
        return f"{s} {self.csd}" if self.csd else s

    @property
    def numbers(self) -> str:
        return f"platform {self.platform} version {self.major}.{self.minor}.{self.build}"


def os_version(raw: bytes) -> OsVersion:
    """Tag 4: a Windows OSVERSIONINFO (size u32, major, minor, build, platform id u32, CSD version WCHAR[128])."""
    if len(raw) < OSVERSIONINFO_MIN:
        raise Truncated("OS version tag")
    size, major, minor, build, platform = struct.unpack_from("<5I", raw, 0)
    if size != len(raw):
        raise Malformed(f"OSVERSIONINFO size {size} in a tag of {len(raw)} bytes")
    csd = raw[OSVERSIONINFO_MIN:OSVERSIONINFO_MIN + 256]
    csd_text = ""
    if csd:
        end = next((i for i in range(0, len(csd) - 1, 2) if csd[i] == 0 and csd[i + 1] == 0), len(csd) & ~1)
        csd_text = text(csd[:end].decode("utf-16-le", "replace").encode("latin-1", "replace"), 64)
    return OsVersion(major, minor, build, platform, csd_text)
