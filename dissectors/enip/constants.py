"""EtherNet/IP encapsulation and CIP codes (ODVA CIP Vol. 2 ch. 2 for encapsulation, Vol. 1 for CIP;
Wireshark packet-enip.c / packet-cip.c for the numbers). Vendor names come from pycomm3's table
(pycomm3.cip.status_info), loaded only when an identity is seen; device types are the table below."""

from __future__ import annotations

import functools
from enum import IntEnum, StrEnum
from typing import NamedTuple

from otscope.domain import Role
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
    GET_ATTRIBUTE_LIST = 0x03
    SET_ATTRIBUTE_LIST = 0x04
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
    FILE = 0x37                       # File object (CIP Vol. 1, 5A-42): EDS files, programs, firmware images


CONTROL_SERVICES = {0x05: "reset", 0x06: "start", 0x07: "stop"}
# File object services (CIP Vol. 1, 5A-42.4; OpENer cipfile.h): a transfer to or from the device, or the file's
# removal. The file's content (program, configuration, firmware) is not on the wire, only that it moved.
FILE_SERVICES = {0x4B: "file upload", 0x4F: "file upload", 0x4C: "file download", 0x50: "file download",
                 0x51: "file clear"}
FILE_SERVICE_NAMES = {0x4B: "Initiate Upload", 0x4F: "Upload Transfer", 0x4C: "Initiate Download",
                      0x50: "Download Transfer", 0x51: "Clear File"}
CONFIG_CLASSES = {0xF5: "TCP/IP interface", 0xF6: "Ethernet link", 0x8B: "wall clock time", 0x43: "time sync",
                  0x01: "identity"}

# Identity object attributes (CIP Vol. 1, 5A-2.2)
IDENTITY_ATTRS = {1: "vendor", 2: "device_type", 3: "product_code", 4: "revision", 5: "status", 6: "serial",
                  7: "product_name", 8: "state"}


class DeviceType(NamedTuple):
    name: str
    role: Role | None              # what a device of this type is in the plant (None: the type does not say)


_IO = Role.IO_DEVICE
# The one CIP device-type table: Identity object attribute 2 (CIP Vol. 1, 5A-2.2; device profiles, Vol. 1 ch. 6,
# numbers and names as in Wireshark packet-cip.c cip_devtype_vals). The role is given only where the type says
# what the device is: a Communications Adapter (e.g. 1756-ENBT, a MVI56 card) is a module in a chassis, not
# a PLC; drives, starters, sensors and I/O blocks are field I/O; a translator is a gateway.
DEVICE_TYPES: dict[int, DeviceType] = {
    0x00: DeviceType("Generic Device (deprecated)", None),
    0x02: DeviceType("AC Drive", _IO),
    0x03: DeviceType("Motor Overload", _IO),
    0x04: DeviceType("Limit Switch", _IO),
    0x05: DeviceType("Inductive Proximity Switch", _IO),
    0x06: DeviceType("Photoelectric Sensor", _IO),
    0x07: DeviceType("General Purpose Discrete I/O", _IO),
    0x09: DeviceType("Resolver", _IO),
    0x0C: DeviceType("Communications Adapter", Role.COMMUNICATIONS_MODULE),
    0x0E: DeviceType("Programmable Logic Controller", Role.PLC),
    0x10: DeviceType("Position Controller", None),
    0x13: DeviceType("DC Drive", _IO),
    0x15: DeviceType("Contactor", _IO),
    0x16: DeviceType("Motor Starter", _IO),
    0x17: DeviceType("Soft Start", _IO),
    0x18: DeviceType("Human-Machine Interface", Role.HMI_SCADA),
    0x1A: DeviceType("Mass Flow Controller", _IO),
    0x1B: DeviceType("Pneumatic Valve", _IO),
    0x1C: DeviceType("Vacuum Pressure Gauge", _IO),
    0x1D: DeviceType("Process Control Value", _IO),
    0x1E: DeviceType("Residual Gas Analyzer", None),
    0x1F: DeviceType("DC Power Generator", None),
    0x20: DeviceType("RF Power Generator", None),
    0x21: DeviceType("Turbomolecular Vacuum Pump", None),
    0x22: DeviceType("Encoder", _IO),
    0x23: DeviceType("Safety Discrete I/O Device", _IO),
    0x24: DeviceType("Fluid Flow Controller", _IO),
    0x25: DeviceType("CIP Motion Drive", _IO),
    0x26: DeviceType("CompoNet Repeater", None),
    0x27: DeviceType("Mass Flow Controller, Enhanced", _IO),
    0x28: DeviceType("CIP Modbus Device", None),
    0x29: DeviceType("CIP Modbus Translator", Role.GATEWAY),
    0x2A: DeviceType("Safety Analog I/O Device", _IO),
    0x2B: DeviceType("Generic Device (keyable)", None),
    0x2C: DeviceType("Managed Switch", Role.NETWORK_DEVICE),
    0x2D: DeviceType("CIP Motion Safety Drive Device", _IO),
    0x2E: DeviceType("Safety Drive Device", _IO),
    0x2F: DeviceType("CIP Motion Encoder", _IO),
    0x30: DeviceType("CIP Motion Converter", _IO),
    0x31: DeviceType("CIP Motion I/O", _IO),
    0x32: DeviceType("ControlNet Physical Layer Component", None),
    0x33: DeviceType("Circuit Breaker", _IO),
    0x34: DeviceType("HART Device", _IO),
    0x35: DeviceType("CIP-HART Translator", Role.GATEWAY),
    0xC8: DeviceType("Embedded Component", None),
}


def device_type_name(device_type: int) -> str:
    """The type's name; a number the table does not know keeps its number."""
    known = DEVICE_TYPES.get(device_type)
    return known.name if known else f"unknown device type {device_type}"


def device_type_role(device_type: int) -> Role | None:
    known = DEVICE_TYPES.get(device_type)
    return known.role if known else None


@functools.lru_cache(maxsize=1)
def _vendors() -> dict[int, str]:
    from pycomm3.cip.status_info import VENDORS

    return {k: v for k, v in VENDORS.items() if isinstance(k, int)}


def vendor_name(vendor_id: int) -> str | None:
    return _vendors().get(vendor_id)
