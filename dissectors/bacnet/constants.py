"""BACnet/IP codes: BVLL (ANSI/ASHRAE 135 Annex J), NPDU (clause 6), APDU (clause 20), as Wireshark's
epan/dissectors/packet-bvlc.c, packet-bacnet.c and packet-bacapp.c decode them. The ASHRAE vendor table is data
(vendors.tsv, from packet-bacapp.c BACnetVendorIdentifiers as tshark 4.0.17 ships it)."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from functools import cache
from importlib import resources

BACNET_PORT = 47808                 # 0xBAC0, Annex J.1 (IANA bacnet udp)
BVLC_TYPE_IP = 0x81                 # J.2: BVLL type BACnet/IP (0x82 is BACnet/IPv6, Annex U: not decoded here)
BVLC_HEADER = 4                     # type(1) function(1) length(2, the whole BVLL message)
MAX_BVLC = 1497                     # J.2 BVLC length bound: 1476-octet APDU + NPCI + BVLC on Ethernet, with slack
NPDU_VERSION = 0x01                 # 6.2.1 protocol version
B_IP_ADDRESS_LEN = 6                # J.1.2: 4-octet IP address + 2-octet UDP port
MAX_DEVICES = 256                   # devices (sender + component) whose labels a flow remembers
MAX_VALUES = 32                     # application values decoded from one property value
MAX_STRING = 256                    # bytes of a character string decoded (the rest is cut, bounded)
MAX_RPM_RESULTS = 128               # property results read from one ReadPropertyMultiple ACK
MAX_SEGMENTED = 8                   # segmented ComplexACKs reassembled at once per flow
MAX_REASSEMBLY = 16 * 1024          # octets of one reassembled ComplexACK
DEVICE_OBJECT = 8                   # 21.6 BACnetObjectType device
INSTANCE_BITS = 22                  # 20.2.14: object type (10 bits) << 22 | instance (22 bits)
INSTANCE_MASK = (1 << INSTANCE_BITS) - 1
WILDCARD_INSTANCE = INSTANCE_MASK   # 4194303: "this device" in requests (12.11.1)


class BvlcFunction(IntEnum):
    """J.2 BVLC-Function."""

    RESULT = 0x00
    WRITE_BDT = 0x01
    READ_BDT = 0x02
    READ_BDT_ACK = 0x03
    FORWARDED_NPDU = 0x04
    REGISTER_FOREIGN_DEVICE = 0x05
    READ_FDT = 0x06
    READ_FDT_ACK = 0x07
    DELETE_FDT_ENTRY = 0x08
    DISTRIBUTE_BROADCAST_TO_NETWORK = 0x09
    ORIGINAL_UNICAST_NPDU = 0x0A
    ORIGINAL_BROADCAST_NPDU = 0x0B
    SECURE_BVLL = 0x0C


# functions whose body is an NPDU (after the 6-octet original source of a Forwarded-NPDU, J.2.9)
NPDU_FUNCTIONS = frozenset({BvlcFunction.FORWARDED_NPDU, BvlcFunction.DISTRIBUTE_BROADCAST_TO_NETWORK,
                            BvlcFunction.ORIGINAL_UNICAST_NPDU, BvlcFunction.ORIGINAL_BROADCAST_NPDU})
# BBMD management a client sends (J.2.2-J.2.8) and what only a BBMD answers or sends
BBMD_REQUESTS = frozenset({BvlcFunction.WRITE_BDT, BvlcFunction.READ_BDT, BvlcFunction.REGISTER_FOREIGN_DEVICE,
                           BvlcFunction.READ_FDT, BvlcFunction.DELETE_FDT_ENTRY})
BBMD_ANSWERS = frozenset({BvlcFunction.READ_BDT_ACK, BvlcFunction.READ_FDT_ACK, BvlcFunction.FORWARDED_NPDU})
# fixed body lengths (J.2): None = variable
BVLC_BODY_LEN = {BvlcFunction.RESULT: 2, BvlcFunction.READ_BDT: 0, BvlcFunction.REGISTER_FOREIGN_DEVICE: 2,
                 BvlcFunction.READ_FDT: 0, BvlcFunction.DELETE_FDT_ENTRY: 6}
BDT_ENTRY = 10                      # J.2.2.1: B/IP address(6) + broadcast distribution mask(4)
FDT_ENTRY = 10                      # J.2.7.1: B/IP address(6) + TTL(2) + seconds remaining(2)


class BvlcResult(IntEnum):
    """J.2.1.1 BVLC-Result codes."""

    SUCCESSFUL_COMPLETION = 0x0000
    WRITE_BDT_NAK = 0x0010
    READ_BDT_NAK = 0x0020
    REGISTER_FOREIGN_DEVICE_NAK = 0x0030
    READ_FDT_NAK = 0x0040
    DELETE_FDT_ENTRY_NAK = 0x0050
    DISTRIBUTE_BROADCAST_TO_NETWORK_NAK = 0x0060


# NPCI control octet (6.2.2)
CTRL_NETWORK_MESSAGE = 0x80
CTRL_RESERVED = 0x50                # bits 6 and 4 shall be zero
CTRL_DNET = 0x20
CTRL_SNET = 0x08
CTRL_EXPECTING_REPLY = 0x04
NL_PROPRIETARY_FIRST = 0x80         # 6.2.4: message types 0x80..0xFF carry a vendor id


class NetworkMessage(IntEnum):
    """6.2.4 network layer message types."""

    WHO_IS_ROUTER_TO_NETWORK = 0x00
    I_AM_ROUTER_TO_NETWORK = 0x01
    I_COULD_BE_ROUTER_TO_NETWORK = 0x02
    REJECT_MESSAGE_TO_NETWORK = 0x03
    ROUTER_BUSY_TO_NETWORK = 0x04
    ROUTER_AVAILABLE_TO_NETWORK = 0x05
    INITIALIZE_ROUTING_TABLE = 0x06
    INITIALIZE_ROUTING_TABLE_ACK = 0x07
    ESTABLISH_CONNECTION_TO_NETWORK = 0x08
    DISCONNECT_CONNECTION_TO_NETWORK = 0x09
    CHALLENGE_REQUEST = 0x0A
    SECURITY_PAYLOAD = 0x0B
    SECURITY_RESPONSE = 0x0C
    REQUEST_KEY_UPDATE = 0x0D
    UPDATE_KEY_SET = 0x0E
    UPDATE_DISTRIBUTION_KEY = 0x0F
    REQUEST_MASTER_KEY = 0x10
    SET_MASTER_KEY = 0x11
    WHAT_IS_NETWORK_NUMBER = 0x12
    NETWORK_NUMBER_IS = 0x13


# messages only a router sends (6.4): they make their sender a router
ROUTER_MESSAGES = frozenset({NetworkMessage.I_AM_ROUTER_TO_NETWORK, NetworkMessage.I_COULD_BE_ROUTER_TO_NETWORK,
                             NetworkMessage.ROUTER_BUSY_TO_NETWORK, NetworkMessage.ROUTER_AVAILABLE_TO_NETWORK,
                             NetworkMessage.INITIALIZE_ROUTING_TABLE_ACK, NetworkMessage.REJECT_MESSAGE_TO_NETWORK})


class PduType(IntEnum):
    """20.1.1 APDU types (high nibble of the first octet)."""

    CONFIRMED_REQUEST = 0
    UNCONFIRMED_REQUEST = 1
    SIMPLE_ACK = 2
    COMPLEX_ACK = 3
    SEGMENT_ACK = 4
    ERROR = 5
    REJECT = 6
    ABORT = 7


class Confirmed(IntEnum):
    """21 BACnetConfirmedServiceChoice."""

    ACKNOWLEDGE_ALARM = 0
    CONFIRMED_COV_NOTIFICATION = 1
    CONFIRMED_EVENT_NOTIFICATION = 2
    GET_ALARM_SUMMARY = 3
    GET_ENROLLMENT_SUMMARY = 4
    SUBSCRIBE_COV = 5
    ATOMIC_READ_FILE = 6
    ATOMIC_WRITE_FILE = 7
    ADD_LIST_ELEMENT = 8
    REMOVE_LIST_ELEMENT = 9
    CREATE_OBJECT = 10
    DELETE_OBJECT = 11
    READ_PROPERTY = 12
    READ_PROPERTY_CONDITIONAL = 13
    READ_PROPERTY_MULTIPLE = 14
    WRITE_PROPERTY = 15
    WRITE_PROPERTY_MULTIPLE = 16
    DEVICE_COMMUNICATION_CONTROL = 17
    CONFIRMED_PRIVATE_TRANSFER = 18
    CONFIRMED_TEXT_MESSAGE = 19
    REINITIALIZE_DEVICE = 20
    VT_OPEN = 21
    VT_CLOSE = 22
    VT_DATA = 23
    AUTHENTICATE = 24
    REQUEST_KEY = 25
    READ_RANGE = 26
    LIFE_SAFETY_OPERATION = 27
    SUBSCRIBE_COV_PROPERTY = 28
    GET_EVENT_INFORMATION = 29
    SUBSCRIBE_COV_PROPERTY_MULTIPLE = 30
    CONFIRMED_COV_NOTIFICATION_MULTIPLE = 31
    CONFIRMED_AUDIT_NOTIFICATION = 32
    AUDIT_LOG_QUERY = 33


class Unconfirmed(IntEnum):
    """21 BACnetUnconfirmedServiceChoice."""

    I_AM = 0
    I_HAVE = 1
    UNCONFIRMED_COV_NOTIFICATION = 2
    UNCONFIRMED_EVENT_NOTIFICATION = 3
    UNCONFIRMED_PRIVATE_TRANSFER = 4
    UNCONFIRMED_TEXT_MESSAGE = 5
    TIME_SYNCHRONIZATION = 6
    WHO_HAS = 7
    WHO_IS = 8
    UTC_TIME_SYNCHRONIZATION = 9
    WRITE_GROUP = 10
    UNCONFIRMED_COV_NOTIFICATION_MULTIPLE = 11
    UNCONFIRMED_AUDIT_NOTIFICATION = 12
    WHO_AM_I = 13
    YOU_ARE = 14


def kebab(member: IntEnum) -> str:
    return member.name.lower().replace("_", "-")


# what a device (server) sends on its own: notifications to its subscribers (13.1, 13.8)
SERVER_CONFIRMED = frozenset({Confirmed.CONFIRMED_COV_NOTIFICATION, Confirmed.CONFIRMED_EVENT_NOTIFICATION,
                              Confirmed.CONFIRMED_COV_NOTIFICATION_MULTIPLE, Confirmed.CONFIRMED_AUDIT_NOTIFICATION})
SERVER_UNCONFIRMED = frozenset({Unconfirmed.I_AM, Unconfirmed.I_HAVE, Unconfirmed.UNCONFIRMED_COV_NOTIFICATION,
                                Unconfirmed.UNCONFIRMED_EVENT_NOTIFICATION,
                                Unconfirmed.UNCONFIRMED_COV_NOTIFICATION_MULTIPLE,
                                Unconfirmed.UNCONFIRMED_AUDIT_NOTIFICATION, Unconfirmed.WHO_AM_I})
CLIENT_UNCONFIRMED = frozenset({Unconfirmed.WHO_IS, Unconfirmed.WHO_HAS, Unconfirmed.YOU_ARE})
WRITE_SERVICES = frozenset({Confirmed.WRITE_PROPERTY, Confirmed.WRITE_PROPERTY_MULTIPLE,
                            Confirmed.ADD_LIST_ELEMENT, Confirmed.REMOVE_LIST_ELEMENT})
READ_SERVICES = frozenset({Confirmed.READ_PROPERTY, Confirmed.READ_PROPERTY_MULTIPLE, Confirmed.READ_RANGE,
                           Confirmed.READ_PROPERTY_CONDITIONAL})
# requests only engineering tools send: restart, communication on/off, file (program/database) transfer, object
# creation and deletion (the device's configuration changes)
ENGINEERING_SERVICES = frozenset({Confirmed.REINITIALIZE_DEVICE, Confirmed.DEVICE_COMMUNICATION_CONTROL,
                                  Confirmed.ATOMIC_WRITE_FILE, Confirmed.ATOMIC_READ_FILE, Confirmed.CREATE_OBJECT,
                                  Confirmed.DELETE_OBJECT})


class AppTag(IntEnum):
    """20.2.1.4 application tag numbers."""

    NULL = 0
    BOOLEAN = 1
    UNSIGNED = 2
    SIGNED = 3
    REAL = 4
    DOUBLE = 5
    OCTET_STRING = 6
    CHARACTER_STRING = 7
    BIT_STRING = 8
    ENUMERATED = 9
    DATE = 10
    TIME = 11
    OBJECT_IDENTIFIER = 12


class Charset(IntEnum):
    """20.2.9 character sets."""

    UTF8 = 0                        # ANSI X3.4 in old revisions, UTF-8 since 135-2008
    DBCS = 1
    JIS_X0208 = 2
    UCS4 = 3
    UCS2 = 4
    ISO_8859_1 = 5


class Property(IntEnum):
    """21 BACnetPropertyIdentifier: the device object's identity properties."""

    APPLICATION_SOFTWARE_VERSION = 12
    DESCRIPTION = 28
    FIRMWARE_REVISION = 44
    LOCATION = 58
    MODEL_NAME = 70
    OBJECT_IDENTIFIER = 75
    OBJECT_NAME = 77
    VENDOR_IDENTIFIER = 120
    VENDOR_NAME = 121
    SERIAL_NUMBER = 372


# device-object property -> (the bacnet_* fact, the shared identity field or None)
IDENTITY_PROPERTIES: dict[int, tuple[str, str | None]] = {
    Property.OBJECT_NAME: ("bacnet_object_name", "name"),
    Property.VENDOR_NAME: ("bacnet_vendor_name", "vendor"),
    Property.MODEL_NAME: ("bacnet_model_name", "product"),
    Property.FIRMWARE_REVISION: ("bacnet_firmware_revision", "firmware"),
    Property.APPLICATION_SOFTWARE_VERSION: ("bacnet_application_software_version", None),
    Property.SERIAL_NUMBER: ("bacnet_serial_number", "serial"),
    Property.LOCATION: ("bacnet_location", None),
    Property.DESCRIPTION: ("bacnet_description", "description"),
    Property.VENDOR_IDENTIFIER: ("bacnet_vendor_id", None),
}


class Segmentation(IntEnum):
    """21 BACnetSegmentation."""

    SEGMENTED_BOTH = 0
    SEGMENTED_TRANSMIT = 1
    SEGMENTED_RECEIVE = 2
    NO_SEGMENTATION = 3


class ReinitState(IntEnum):
    """16.4.1.1.1 BACnetReinitializedStateOfDevice."""

    COLDSTART = 0
    WARMSTART = 1
    START_BACKUP = 2
    END_BACKUP = 3
    START_RESTORE = 4
    END_RESTORE = 5
    ABORT_RESTORE = 6
    ACTIVATE_CHANGES = 7


class EnableDisable(IntEnum):
    """16.1.1.1.2 DeviceCommunicationControl enable-disable."""

    ENABLE = 0
    DISABLE = 1
    DISABLE_INITIATION = 2


def name_of(enum: type[IntEnum], value: int) -> str:
    """An enum member's kebab name, or its number (unknown codes keep their number)."""
    try:
        return kebab(enum(value))
    except ValueError:
        return str(value)


@cache
def _vendors() -> dict[int, str]:
    out: dict[int, str] = {}
    text = resources.files("otscope.dissectors.bacnet").joinpath("vendors.tsv").read_text("utf-8")
    for line in text.splitlines():
        num, _, name = line.partition("\t")
        if num.isdigit() and name:
            out[int(num)] = name
    return out


def vendor_name(vendor_id: int) -> str:
    """The ASHRAE-assigned vendor name of a BACnet vendor identifier, or "" when the table has none."""
    return _vendors().get(vendor_id, "")


class BacnetAnomaly(StrEnum):
    NOT_BVLC = "bacnet-not-bvlc"                        # first octet not 0x81 (BACnet/IPv6 0x82 included)
    BAD_LENGTH = "bacnet-bad-bvlc-length"               # BVLC length below its header or beyond the datagram
    TRAILING_BYTES = "bacnet-trailing-bytes"            # datagram bytes after the declared BVLC length
    UNKNOWN_FUNCTION = "bacnet-unknown-bvlc-function"
    MALFORMED_BVLC = "bacnet-malformed-bvlc"            # a BVLC body that does not fit its function's layout
    MALFORMED_NPDU = "bacnet-malformed-npdu"
    UNKNOWN_NETWORK_MESSAGE = "bacnet-unknown-network-message"
    MALFORMED_APDU = "bacnet-malformed-apdu"
    UNKNOWN_PDU_TYPE = "bacnet-unknown-pdu-type"
    UNKNOWN_SERVICE = "bacnet-unknown-service"
    MALFORMED_SERVICE = "bacnet-malformed-service"      # a service body that does not fit its grammar
    DEVICES_LIMIT = "bacnet-devices-limit"
    REASSEMBLY_CAP = "bacnet-reassembly-cap"            # segmented ACKs beyond MAX_SEGMENTED / MAX_REASSEMBLY
