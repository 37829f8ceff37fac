"""EtherNet/IP encapsulation and CIP codes (ODVA CIP Vol. 2 ch. 2 for encapsulation, Vol. 1 for CIP;
Wireshark packet-enip.c / packet-cip.c for the numbers). Vendor and device-type names come from pycomm3's
tables (pycomm3.cip.status_info), loaded only when an identity is seen."""

from __future__ import annotations

import functools
from enum import IntEnum, StrEnum

from otscope.domain import cap_anomaly

ENIP_PORT = 44818
IO_PORT = 2222
HEADER_LEN = 24
MAX_ENCAP_DATA = 65511


class EnipAnomaly(StrEnum):
    """What the EtherNet/IP and CIP I/O dissectors count as an anomaly (values reach the collector as they are).
    A kind with a detail is sent as ``kind-detail``."""

    BAD_HEADER = "bad-header"                       # encapsulation header that does not parse, after confirmation
    UNKNOWN_COMMAND = "unknown-command"             # detail: the command code, 0xNNNN (Vol. 2 table 2-3.2)
    MALFORMED = "malformed"                         # detail: the command's name and the parser's reason
    PENDING_REQUESTS_CAP = cap_anomaly("pending_requests")
    TRUNCATED_DATAGRAM = "truncated-datagram"       # UDP datagram shorter than its encapsulation length
    MALFORMED_IO_PACKET = "malformed-io-packet"     # class 0/1 CPF that does not parse


class Command(IntEnum):
    NOP = 0x0000
    LIST_SERVICES = 0x0004
    LIST_IDENTITY = 0x0063
    LIST_INTERFACES = 0x0064
    REGISTER_SESSION = 0x0065
    UNREGISTER_SESSION = 0x0066
    SEND_RR_DATA = 0x006F
    SEND_UNIT_DATA = 0x0070
    INDICATE_STATUS = 0x0072
    CANCEL = 0x0073


KNOWN_COMMANDS = frozenset(int(c) for c in Command)


class ItemType(IntEnum):
    NULL_ADDRESS = 0x0000
    LIST_IDENTITY = 0x000C
    CONNECTED_ADDRESS = 0x00A1
    CONNECTED_DATA = 0x00B1
    UNCONNECTED_DATA = 0x00B2
    LIST_SERVICES = 0x0100
    SOCKADDR_O2T = 0x8000
    SOCKADDR_T2O = 0x8001
    SEQUENCED_ADDRESS = 0x8002


class Service(IntEnum):
    GET_ATTRIBUTES_ALL = 0x01
    SET_ATTRIBUTES_ALL = 0x02
    RESET = 0x05
    START = 0x06
    STOP = 0x07
    CREATE = 0x08
    DELETE = 0x09
    MULTIPLE_SERVICE_PACKET = 0x0A
    APPLY_ATTRIBUTES = 0x0D
    GET_ATTRIBUTE_SINGLE = 0x0E
    SET_ATTRIBUTE_SINGLE = 0x10
    READ_TAG = 0x4C
    WRITE_TAG = 0x4D
    READ_MODIFY_WRITE_TAG = 0x4E
    UNCONNECTED_SEND = 0x52
    FORWARD_OPEN = 0x54
    LARGE_FORWARD_OPEN = 0x5B
    FORWARD_CLOSE = 0x4E + 0x100      # 0x4E on the Connection Manager; disambiguated by class below
    READ_TAG_FRAGMENTED = 0x52 + 0x100


class ClassCode(IntEnum):
    IDENTITY = 0x01
    MESSAGE_ROUTER = 0x02
    CONNECTION_MANAGER = 0x06
    PROGRAM = 0x64                    # Rockwell program object (mode changes go here)
    TCPIP_INTERFACE = 0xF5
    ETHERNET_LINK = 0xF6
    TIME_SYNC = 0x43
    WALLCLOCK = 0x8B


CONTROL_SERVICES = {0x05: "reset", 0x06: "start", 0x07: "stop"}
CONFIG_CLASSES = {0xF5: "TCP/IP interface", 0xF6: "Ethernet link", 0x8B: "wall clock time", 0x43: "time sync",
                  0x01: "identity"}

# Identity object attributes (CIP Vol. 1, 5A-2.2)
IDENTITY_ATTRS = {1: "vendor", 2: "device_type", 3: "product_code", 4: "revision", 5: "status", 6: "serial",
                  7: "product_name", 8: "state"}

DEVICE_TYPE_ROLE = {0x0E: "plc", 0x18: "hmi-scada", 0x02: "io-device", 0x13: "io-device", 0x07: "io-device",
                    0x23: "io-device", 0x2A: "io-device", 0x25: "io-device", 0x2C: "network-device"}


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[dict, dict]:
    from pycomm3.cip.status_info import PRODUCT_TYPES, VENDORS

    return ({k: v for k, v in VENDORS.items() if isinstance(k, int)},
            {k: v for k, v in PRODUCT_TYPES.items() if isinstance(k, int)})


def vendor_name(vendor_id: int) -> str | None:
    return _tables()[0].get(vendor_id)


def device_type_name(device_type: int) -> str:
    return _tables()[1].get(device_type, f"unknown device type {device_type}")
