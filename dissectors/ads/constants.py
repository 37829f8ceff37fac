"""Beckhoff ADS/AMS codes and layouts: the ADS specification (Beckhoff Information System, "ADS/AMS
specification": AMS/TCP header, AMS header, ADS commands), as Wireshark's epan/dissectors/packet-ams.c and
Beckhoff's AdsLib (github.com/Beckhoff/ADS: AdsDef.h, RouterAccess.cpp for the UDP service) decode them."""

from __future__ import annotations

from enum import IntEnum, StrEnum

AMS_TCP_PORT = 48898            # 0xBF02, AdsDef.h ADS_TCP_SERVER_PORT
AMS_UDP_PORT = 48899            # 0xBF03, the UDP discovery / add-route service (RouterAccess.cpp)
AMS_TCP_HEADER_LEN = 6          # reserved u16 (0 for an AMS command) + length u32 (AMS header + data)
AMS_HEADER_LEN = 32             # target NetId(6) port(2), source NetId(6) port(2), cmd, flags, cbData, error, invoke
FRAME_HEAD = AMS_TCP_HEADER_LEN + AMS_HEADER_LEN
MAX_AMS_LENGTH = 8 * 1024 * 1024   # our sanity bound on one AMS packet (TwinCAT routers allow a few MB)
BODY_KEEP = 64                  # bytes of an ADS body we parse (the fixed parts); the rest is skipped by length
MAX_RESYNC = 3                  # bad frames in a row after confirmation before the flow is given up
MAX_NETIDS = 16                 # AMS NetIds / AMS ports remembered per side of a flow

UDP_COOKIE = 0x71146603         # RouterAccess.cpp UDP_COOKIE (bytes 03 66 14 71 on the wire)
UDP_HEADER_LEN = 12             # cookie, invoke id, service id
UDP_RESPONSE = 0x80000000       # service id bit: a response
MAX_UDP_TAGS = 64

# AMS state flags (packet-ams.c AMSCMDSF_*)
SF_RESPONSE = 0x0001
SF_NORETURN = 0x0002
SF_ADSCMD = 0x0004
SF_SYSCMD = 0x0008
SF_UDP = 0x0040


class Command(IntEnum):
    """ADS command ids (AdsDef.h ADSSRVID_*)."""

    INVALID = 0
    READ_DEVICE_INFO = 1
    READ = 2
    WRITE = 3
    READ_STATE = 4
    WRITE_CONTROL = 5
    ADD_DEVICE_NOTIFICATION = 6
    DELETE_DEVICE_NOTIFICATION = 7
    DEVICE_NOTIFICATION = 8
    READ_WRITE = 9


def command_name(cmd: int) -> str:
    """A command's profile name; an unknown one keeps its number."""
    try:
        return Command(cmd).name.lower().replace("_", "-")
    except ValueError:
        return f"0x{cmd:04x}"


class AdsState(IntEnum):
    """ADS states (AdsDef.h ADSSTATE_*)."""

    INVALID = 0
    IDLE = 1
    RESET = 2
    INIT = 3
    START = 4
    RUN = 5
    STOP = 6
    SAVECFG = 7
    LOADCFG = 8
    POWERFAILURE = 9
    POWERGOOD = 10
    ERROR = 11
    SHUTDOWN = 12
    SUSPEND = 13
    RESUME = 14
    CONFIG = 15
    RECONFIG = 16
    STOPPING = 17
    INCOMPATIBLE = 18
    EXCEPTION = 19


def state_name(code: int) -> str:
    """An ADS state's name (RUN, STOP, CONFIG...); an unknown one keeps its number."""
    try:
        return AdsState(code).name
    except ValueError:
        return f"0x{code:04x}"


# WriteControl: the state asked for -> the control action it is (the events layer reads control_action)
CONTROL_ACTIONS = {AdsState.RUN: "start", AdsState.STOP: "stop", AdsState.RESET: "reset",
                   AdsState.RECONFIG: "restart in config mode", AdsState.CONFIG: "config mode",
                   AdsState.SHUTDOWN: "shutdown"}

# Index groups worth naming in the function profile (AdsDef.h ADSIGRP_*)
INDEX_GROUPS = {
    0xF003: "symbol handle by name", 0xF004: "symbol value by name", 0xF005: "symbol value by handle",
    0xF006: "symbol release handle", 0xF007: "symbol info by name", 0xF008: "symbol version",
    0xF009: "symbol info by name ex", 0xF00A: "symbol download", 0xF00B: "symbol upload",
    0xF00C: "symbol upload info", 0xF080: "sum read", 0xF081: "sum write", 0xF082: "sum read-write",
    0xF100: "device data",
}

# Well-known AMS ports (AdsDef.h AMSPORT_*): only for the message text, the fact keeps the number
AMS_PORTS = {100: "logger", 300: "I/O", 500: "NC", 801: "PLC runtime 1 (TwinCAT 2)", 811: "PLC runtime 2",
             821: "PLC runtime 3", 831: "PLC runtime 4", 851: "PLC runtime 1 (TwinCAT 3)", 10000: "system service"}


class UdpService(IntEnum):
    """UDP service ids (RouterAccess.cpp UdpServiceId)."""

    DISCOVERY = 1               # SERVERINFO: who is there (TwinCAT "broadcast search")
    ADD_ROUTE = 6


class UdpTag(IntEnum):
    """Tags of the UDP service (RouterAccess.cpp UdpTag; 3, 4, 18 as TwinCAT discovery answers carry them)."""

    STATUS = 1                  # add-route answer: u32 result
    PASSWORD = 2                # add-route request: never reported
    TWINCAT_VERSION = 3         # u8 version, u8 revision, u16 build
    OS_VERSION = 4              # Windows OSVERSIONINFO (size, major, minor, build, platform, CSD version)
    COMPUTER_NAME = 5           # host name (answer) / the route's address (add-route request)
    NETID = 7
    ROUTE_NAME = 12
    USER_NAME = 13
    FINGERPRINT = 18            # TwinCAT 3: the system's fingerprint (hex text)


OS_PLATFORMS = {2: "Windows NT", 3: "Windows CE"}   # OSVERSIONINFO dwPlatformId (VER_PLATFORM_WIN32_NT / _CE)
OSVERSIONINFO_MIN = 20           # the five u32 before the CSD version string


class AdsAnomaly(StrEnum):
    BAD_RESERVED = "ads-bad-reserved"               # AMS/TCP reserved field not 0 (not an AMS command)
    BAD_LENGTH = "ads-bad-length"                   # AMS/TCP length below the AMS header or above the bound
    LENGTH_MISMATCH = "ads-length-mismatch"         # AMS header cbData != AMS/TCP length - 32
    UNKNOWN_COMMAND = "ads-unknown-command"
    NOT_ADS_COMMAND = "ads-not-ads-command"         # state flags without the ADS command bit
    SHORT_BODY = "ads-short-body"                   # an ADS body shorter than its fixed layout
    PENDING_REQUESTS_CAP = "pending-requests-cap"
    NETIDS_LIMIT = "ads-netids-limit"
    BAD_UDP_HEADER = "ads-bad-udp-header"           # a UDP datagram without the cookie after confirmation
    BAD_UDP_TAG = "ads-bad-udp-tag"                 # a tag list cut short
    UNKNOWN_UDP_SERVICE = "ads-unknown-udp-service"
