"""DNP3 codes (IEEE 1815-2012: clause 9 data link layer, clause 8 transport function, clause 4.2 / annex A
application layer; group 0 device attributes per IEEE 1815 A.1 and Wireshark's packet-dnp.c AL_OBJ_DA_*)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

DNP3_PORT = 20000
START = b"\x05\x64"            # 9.2.4.1.1: the two start octets
HEADER_LEN = 10                # start(2) length(1) control(1) destination(2) source(2) CRC(2)
BLOCK = 16                     # 9.2.4.2: a CRC after every 16 octets of user data (and after the last block)
MIN_LENGTH = 5                 # the length field counts control, destination, source and the user data
MAX_LENGTH = 255
MAX_FRAME = HEADER_LEN + (MAX_LENGTH - MIN_LENGTH) + 2 * 16    # 250 user octets in 16 blocks: 292

# 9.2.4.1.3 control octet
DIR = 0x80                     # 1: sent by a master, 0: sent by an outstation
PRM = 0x40                     # 1: primary (initiating) frame, 0: secondary (answering) frame
FCB = 0x20
FCV_DFC = 0x10
LINK_FUNC = 0x0F

# 8.2.1 transport header
TR_FIN = 0x80
TR_FIR = 0x40
TR_SEQ = 0x3F

# 4.2.2.4 application control
AC_FIR = 0x80
AC_FIN = 0x40
AC_CON = 0x20
AC_UNS = 0x10

# IEEE 1815 9.2.5.1: 0xFFF0..0xFFFB reserved, 0xFFFC self address, 0xFFFD..0xFFFF broadcast
SELF_ADDRESS = 0xFFFC
FIRST_BROADCAST = 0xFFFD

# Bounds of the dissector (package constants: IEEE 1815 8.2.1 recommends 2048-octet application fragments; a
# fragment is reassembled up to twice that, beyond it the partial fragment is dropped and counted)
MAX_REASSEMBLY_BYTES = 4096
MAX_REASSEMBLIES = 16          # (source, destination) pairs being reassembled at once per flow direction
MAX_ADDRESSES = 16             # link addresses credited per flow direction
MAX_RESYNC = 8                 # consecutive framing losses after which the flow is given up
MAX_ATTRIBUTES = 64            # group 0 attributes read from one response


class Dnp3Anomaly(StrEnum):
    """What the DNP3 dissector counts as an anomaly (the values reach the collector as they are)."""

    BAD_START = "bad-start"                         # bytes where a frame should start are not 0x05 0x64 (9.2.4.1.1)
    BAD_LENGTH = "bad-link-length"                  # length field below 5 (9.2.4.1.2)
    BAD_HEADER_CRC = "bad-header-crc"               # CRC of the 8 header octets (9.2.4.1.6)
    BAD_DATA_CRC = "bad-data-crc"                   # CRC of a user-data block (9.2.4.2)
    TRUNCATED_DATAGRAM = "truncated-datagram"       # a UDP datagram ends inside a frame
    BROADCAST_SOURCE = "broadcast-source"           # source address in the broadcast range (9.2.5.1)
    DIRECTION_CONFLICT = "direction-conflict"       # one end of the flow sends both DIR=1 and DIR=0 frames
    TRANSPORT_WITHOUT_FIR = "transport-without-fir"  # a middle/last segment with no first one (8.2.1.2)
    TRANSPORT_SEQUENCE = "transport-sequence"       # a segment out of sequence (8.2.1.3)
    TRANSPORT_RESTART = "transport-restart"         # a FIR segment while a fragment was incomplete
    REASSEMBLY_LIMIT = "reassembly-limit"           # a fragment over MAX_REASSEMBLY_BYTES, or too many at once
    MALFORMED_APDU = "malformed-apdu"               # application header cut short (4.2.2)
    UNKNOWN_FUNCTION = "unknown-function"           # a function code IEEE 1815 table 4-2 does not define
    FUNCTION_DIRECTION = "function-direction"       # a request code from an outstation / response from a master
    MALFORMED_DEVICE_ATTRIBUTE = "malformed-device-attribute"   # group 0 object that does not parse (A.1)


class LinkPrimary(IntEnum):
    """9.2.4.1.3.5 primary-to-secondary function codes (PRM=1)."""

    RESET_LINK_STATES = 0
    TEST_LINK_STATES = 2
    CONFIRMED_USER_DATA = 3
    UNCONFIRMED_USER_DATA = 4
    REQUEST_LINK_STATUS = 9


class LinkSecondary(IntEnum):
    """9.2.4.1.3.6 secondary-to-primary function codes (PRM=0)."""

    ACK = 0
    NACK = 1
    LINK_STATUS = 11
    NOT_SUPPORTED = 15


USER_DATA = (LinkPrimary.CONFIRMED_USER_DATA, LinkPrimary.UNCONFIRMED_USER_DATA)


class FunctionCode(IntEnum):
    """IEEE 1815 table 4-2 application function codes (Wireshark packet-dnp.c AL_FUNC_*)."""

    CONFIRM = 0x00
    READ = 0x01
    WRITE = 0x02
    SELECT = 0x03
    OPERATE = 0x04
    DIRECT_OPERATE = 0x05
    DIRECT_OPERATE_NR = 0x06
    IMMEDIATE_FREEZE = 0x07
    IMMEDIATE_FREEZE_NR = 0x08
    FREEZE_CLEAR = 0x09
    FREEZE_CLEAR_NR = 0x0A
    FREEZE_AT_TIME = 0x0B
    FREEZE_AT_TIME_NR = 0x0C
    COLD_RESTART = 0x0D
    WARM_RESTART = 0x0E
    INITIALIZE_DATA = 0x0F
    INITIALIZE_APPLICATION = 0x10
    START_APPLICATION = 0x11
    STOP_APPLICATION = 0x12
    SAVE_CONFIGURATION = 0x13
    ENABLE_UNSOLICITED = 0x14
    DISABLE_UNSOLICITED = 0x15
    ASSIGN_CLASS = 0x16
    DELAY_MEASURE = 0x17
    RECORD_CURRENT_TIME = 0x18
    OPEN_FILE = 0x19
    CLOSE_FILE = 0x1A
    DELETE_FILE = 0x1B
    GET_FILE_INFO = 0x1C
    AUTHENTICATE_FILE = 0x1D
    ABORT_FILE = 0x1E
    ACTIVATE_CONFIG = 0x1F
    AUTHENTICATE_REQ = 0x20
    AUTH_REQ_NO_ACK = 0x21
    RESPONSE = 0x81
    UNSOLICITED_RESPONSE = 0x82
    AUTHENTICATE_RESP = 0x83


RESPONSES = frozenset({FunctionCode.RESPONSE, FunctionCode.UNSOLICITED_RESPONSE, FunctionCode.AUTHENTICATE_RESP})
FILE_FUNCTIONS = frozenset(range(FunctionCode.OPEN_FILE, FunctionCode.ABORT_FILE + 1))
FREEZE_FUNCTIONS = frozenset(range(FunctionCode.IMMEDIATE_FREEZE, FunctionCode.FREEZE_AT_TIME_NR + 1))


def profile_key(fc: int) -> str:
    """The function profile entry of an application function code (unknown codes keep their number)."""
    if fc in FILE_FUNCTIONS:
        return "file"
    if fc in FREEZE_FUNCTIONS:
        return "freeze"
    try:
        return FunctionCode(fc).name.lower().replace("_", "-")
    except ValueError:
        return f"fc{fc}"


class DeviceAttribute(IntEnum):
    """Group 0 variations (IEEE 1815 A.1; Wireshark packet-dnp.c AL_OBJ_DA_*: 0x00F2 .. 0x00FF)."""

    SOFTWARE_VERSION = 242
    HARDWARE_VERSION = 243
    OWNER_NAME = 244
    LOCATION = 245
    DEVICE_ID = 246
    DEVICE_NAME = 247          # user-assigned device name
    SERIAL_NUMBER = 248
    SUBSET_CONFORMANCE = 249
    PRODUCT_MODEL = 250        # product name and model
    MANUFACTURER = 252
    ALL_ATTRIBUTES = 254       # request only: "all attributes"
    LIST_OF_VARIATIONS = 255


class AttributeType(IntEnum):
    """Device attribute data types (IEEE 1815 A.1.1; Wireshark AL_DATA_TYPE_*)."""

    VSTR = 1
    UINT = 2
    INT = 3
    FLT = 4
    OSTR = 5
    BSTR = 6
    TIME = 7


# group 0 variation -> inventory field (vendor, product, firmware, serial, name are the collector's identity fields)
ATTRIBUTE_FIELDS = {
    DeviceAttribute.MANUFACTURER: "vendor",
    DeviceAttribute.PRODUCT_MODEL: "product",
    DeviceAttribute.SOFTWARE_VERSION: "firmware",
    DeviceAttribute.HARDWARE_VERSION: "dnp3_hardware_version",
    DeviceAttribute.SERIAL_NUMBER: "serial",
    DeviceAttribute.DEVICE_NAME: "name",
    DeviceAttribute.LOCATION: "dnp3_location",
    DeviceAttribute.OWNER_NAME: "dnp3_owner",
    DeviceAttribute.DEVICE_ID: "dnp3_device_id",
    DeviceAttribute.SUBSET_CONFORMANCE: "dnp3_subset",
}
