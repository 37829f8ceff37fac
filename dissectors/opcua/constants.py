"""OPC UA binary (UA TCP / UA Secure Conversation) codes: OPC 10000-6 (Part 6) §7.1 message types, §6.7 security
headers, §5.2 built-in types; service and data type NodeIds from the OPC Foundation NodeIds.csv (as Wireshark's
plugins/epan/opcua/opcua_serviceids.h lists the *_Encoding_DefaultBinary ids)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

OPCUA_PORT = 4840               # IANA opc-ua-tcp
# Common non-IANA server ports, hints only (a HEL/ACK exchange confirms): Unified Automation C++ / ANSI C SDK demo
# servers (48010, 48020), Prosys OPC UA Simulation Server (53530). 4843 (IANA opcua-tls, the HTTPS mapping) is not
# UA TCP and is not claimed. The flow table dispatches by port only (dissectors/registry.py tcp_dissector_for):
# a UA TCP flow on any other port is not seen by this dissector.
PORTS = (OPCUA_PORT, 48010, 48020, 53530)

HEADER_LEN = 8                  # MessageType(3) ChunkType(1) MessageSize(4) (§7.1.2.2)
MIN_BUFFER = 8192               # HEL/ACK buffer sizes are at least 8192 (§7.1.2.3)
MAX_CHUNK = 16 * 1024 * 1024    # our sanity bound on one chunk's MessageSize (real ones are 8 KB-64 KB)
MAX_MESSAGE = 256 * 1024        # reassembled message body kept per request (chunks beyond: dropped, counted)
MAX_CHUNKS = 64                 # intermediate chunks reassembled per message
MAX_PARTIAL = 8                 # messages being reassembled per direction
MAX_STRING = 4096               # a String/ByteString longer than this is malformed for our purposes (§5.2.2.4)
MAX_ARRAY = 1024                # elements read per array (§5.2.5)
MAX_DEPTH = 8                   # nesting of Variant/ExtensionObject/DiagnosticInfo read
MAX_RESYNC = 3                  # bad chunks in a row after confirmation before the flow is given up
MAX_CERT_FACTS = 8              # distinct certificates reported per flow
TEXT_LIMIT = 256                # characters kept of a URI or name


class MessageType(StrEnum):
    """§7.1.2.2 MessageType (3 ASCII bytes)."""

    HEL = "HEL"                 # Hello: client -> server, first message
    ACK = "ACK"                 # Acknowledge: server -> client
    ERR = "ERR"                 # Error (either side, then the socket closes)
    RHE = "RHE"                 # ReverseHello: server -> client when the server opened the connection (§7.1.2.6)
    OPN = "OPN"                 # OpenSecureChannel (§6.7.2)
    MSG = "MSG"                 # a service message on the secure channel
    CLO = "CLO"                 # CloseSecureChannel


CHUNK_TYPES = frozenset(b"FCA")  # Final, intermediate Chunk, Abort (§6.7.2.2)
FINAL, INTERMEDIATE, ABORT = ord("F"), ord("C"), ord("A")
SECURE = frozenset({MessageType.OPN, MessageType.MSG, MessageType.CLO})

POLICY_PREFIX = "http://opcfoundation.org/UA/SecurityPolicy#"
POLICY_NONE = POLICY_PREFIX + "None"


class SecurityMode(IntEnum):
    """MessageSecurityMode (Part 4 §7.20)."""

    INVALID = 0
    NONE = 1
    SIGN = 2
    SIGN_AND_ENCRYPT = 3


MODE_NAMES = {SecurityMode.INVALID: "Invalid", SecurityMode.NONE: "None", SecurityMode.SIGN: "Sign",
              SecurityMode.SIGN_AND_ENCRYPT: "SignAndEncrypt"}


class ApplicationType(IntEnum):
    """ApplicationType (Part 4 §7.2)."""

    SERVER = 0
    CLIENT = 1
    CLIENT_AND_SERVER = 2
    DISCOVERY_SERVER = 3


APP_TYPE_NAMES = {ApplicationType.SERVER: "server", ApplicationType.CLIENT: "client",
                  ApplicationType.CLIENT_AND_SERVER: "client-and-server",
                  ApplicationType.DISCOVERY_SERVER: "discovery-server"}


class Service(IntEnum):
    """Service request/response encodings (ns=0 *_Encoding_DefaultBinary NodeIds)."""

    SERVICE_FAULT = 397
    FIND_SERVERS_REQ = 422
    FIND_SERVERS_RSP = 425
    GET_ENDPOINTS_REQ = 428
    GET_ENDPOINTS_RSP = 431
    REGISTER_SERVER_REQ = 437
    REGISTER_SERVER_RSP = 440
    OPEN_SECURE_CHANNEL_REQ = 446
    OPEN_SECURE_CHANNEL_RSP = 449
    CLOSE_SECURE_CHANNEL_REQ = 452
    CLOSE_SECURE_CHANNEL_RSP = 455
    CREATE_SESSION_REQ = 461
    CREATE_SESSION_RSP = 464
    ACTIVATE_SESSION_REQ = 467
    ACTIVATE_SESSION_RSP = 470
    CLOSE_SESSION_REQ = 473
    CLOSE_SESSION_RSP = 476
    CANCEL_REQ = 479
    CANCEL_RSP = 482
    ADD_NODES_REQ = 488
    ADD_NODES_RSP = 491
    ADD_REFERENCES_REQ = 494
    ADD_REFERENCES_RSP = 497
    DELETE_NODES_REQ = 500
    DELETE_NODES_RSP = 503
    DELETE_REFERENCES_REQ = 506
    DELETE_REFERENCES_RSP = 509
    BROWSE_REQ = 527
    BROWSE_RSP = 530
    BROWSE_NEXT_REQ = 533
    BROWSE_NEXT_RSP = 536
    TRANSLATE_BROWSE_PATHS_REQ = 554
    TRANSLATE_BROWSE_PATHS_RSP = 557
    REGISTER_NODES_REQ = 560
    REGISTER_NODES_RSP = 563
    UNREGISTER_NODES_REQ = 566
    UNREGISTER_NODES_RSP = 569
    QUERY_FIRST_REQ = 615
    QUERY_FIRST_RSP = 618
    QUERY_NEXT_REQ = 621
    QUERY_NEXT_RSP = 624
    READ_REQ = 631
    READ_RSP = 634
    HISTORY_READ_REQ = 664
    HISTORY_READ_RSP = 667
    WRITE_REQ = 673
    WRITE_RSP = 676
    HISTORY_UPDATE_REQ = 700
    HISTORY_UPDATE_RSP = 703
    CALL_REQ = 712
    CALL_RSP = 715
    CREATE_MONITORED_ITEMS_REQ = 751
    CREATE_MONITORED_ITEMS_RSP = 754
    MODIFY_MONITORED_ITEMS_REQ = 763
    MODIFY_MONITORED_ITEMS_RSP = 766
    SET_MONITORING_MODE_REQ = 769
    SET_MONITORING_MODE_RSP = 772
    SET_TRIGGERING_REQ = 775
    SET_TRIGGERING_RSP = 778
    DELETE_MONITORED_ITEMS_REQ = 781
    DELETE_MONITORED_ITEMS_RSP = 784
    CREATE_SUBSCRIPTION_REQ = 787
    CREATE_SUBSCRIPTION_RSP = 790
    MODIFY_SUBSCRIPTION_REQ = 793
    MODIFY_SUBSCRIPTION_RSP = 796
    SET_PUBLISHING_MODE_REQ = 799
    SET_PUBLISHING_MODE_RSP = 802
    PUBLISH_REQ = 826
    PUBLISH_RSP = 829
    REPUBLISH_REQ = 832
    REPUBLISH_RSP = 835
    TRANSFER_SUBSCRIPTIONS_REQ = 841
    TRANSFER_SUBSCRIPTIONS_RSP = 844
    DELETE_SUBSCRIPTIONS_REQ = 847
    DELETE_SUBSCRIPTIONS_RSP = 850
    FIND_SERVERS_ON_NETWORK_REQ = 12208
    FIND_SERVERS_ON_NETWORK_RSP = 12209
    REGISTER_SERVER2_REQ = 12211
    REGISTER_SERVER2_RSP = 12212


SERVICES = frozenset(Service)

# the function profile: a request's service -> its profile group (read, write, browse, call, subscription, ...)
_GROUPS = {
    "discovery": (Service.FIND_SERVERS_REQ, Service.GET_ENDPOINTS_REQ, Service.FIND_SERVERS_ON_NETWORK_REQ,
                  Service.REGISTER_SERVER_REQ, Service.REGISTER_SERVER2_REQ),
    "session": (Service.CREATE_SESSION_REQ, Service.ACTIVATE_SESSION_REQ, Service.CLOSE_SESSION_REQ,
                Service.CANCEL_REQ),
    "secure-channel": (Service.OPEN_SECURE_CHANNEL_REQ, Service.CLOSE_SECURE_CHANNEL_REQ),
    "node-management": (Service.ADD_NODES_REQ, Service.ADD_REFERENCES_REQ, Service.DELETE_NODES_REQ,
                        Service.DELETE_REFERENCES_REQ),
    "browse": (Service.BROWSE_REQ, Service.BROWSE_NEXT_REQ, Service.TRANSLATE_BROWSE_PATHS_REQ,
               Service.REGISTER_NODES_REQ, Service.UNREGISTER_NODES_REQ),
    "query": (Service.QUERY_FIRST_REQ, Service.QUERY_NEXT_REQ),
    "read": (Service.READ_REQ,),
    "write": (Service.WRITE_REQ,),
    "history": (Service.HISTORY_READ_REQ, Service.HISTORY_UPDATE_REQ),
    "call": (Service.CALL_REQ,),
    "subscription": (Service.CREATE_MONITORED_ITEMS_REQ, Service.MODIFY_MONITORED_ITEMS_REQ,
                     Service.SET_MONITORING_MODE_REQ, Service.SET_TRIGGERING_REQ, Service.DELETE_MONITORED_ITEMS_REQ,
                     Service.CREATE_SUBSCRIPTION_REQ, Service.MODIFY_SUBSCRIPTION_REQ,
                     Service.SET_PUBLISHING_MODE_REQ, Service.PUBLISH_REQ, Service.REPUBLISH_REQ,
                     Service.TRANSFER_SUBSCRIPTIONS_REQ, Service.DELETE_SUBSCRIPTIONS_REQ),
}
SERVICE_GROUP: dict[int, str] = {int(s): g for g, members in _GROUPS.items() for s in members}


SERVICE_NAMES: dict[int, str] = {int(s): s.name.lower().replace("_", "-") for s in Service}


def service_name(sid: int) -> str:
    """The profile name of a service encoding id: ``read-req``; an unknown one keeps its number."""
    name = SERVICE_NAMES.get(sid)
    return name if name is not None else f"unknown-service-{sid}"


# data types read as values (Part 5 §12: Server object)
BUILD_INFO_BINARY = 340          # BuildInfo_Encoding_DefaultBinary (DataType BuildInfo is i=338)
SERVER_STATUS_BINARY = 864       # ServerStatusDataType_Encoding_DefaultBinary (DataType i=862)
ATTR_VALUE = 13                  # AttributeId Value (Part 6 Annex A)


class BuildInfoNode(IntEnum):
    """Server_ServerStatus_BuildInfo and its children (ns=0 NodeIds), read one by one by many clients."""

    SERVER_STATUS = 2256
    BUILD_INFO = 2260
    PRODUCT_NAME = 2261
    PRODUCT_URI = 2262
    MANUFACTURER_NAME = 2263
    SOFTWARE_VERSION = 2264
    BUILD_NUMBER = 2265
    BUILD_DATE = 2266


# a BuildInfo child NodeId -> the BuildInfo field it carries
BUILD_CHILDREN = {BuildInfoNode.PRODUCT_NAME: "product_name", BuildInfoNode.PRODUCT_URI: "product_uri",
                  BuildInfoNode.MANUFACTURER_NAME: "manufacturer_name",
                  BuildInfoNode.SOFTWARE_VERSION: "software_version", BuildInfoNode.BUILD_NUMBER: "build_number",
                  BuildInfoNode.BUILD_DATE: "build_date"}


class VariantType(IntEnum):
    """Built-in type ids (§5.1.2 Table 1)."""

    BOOLEAN = 1
    SBYTE = 2
    BYTE = 3
    INT16 = 4
    UINT16 = 5
    INT32 = 6
    UINT32 = 7
    INT64 = 8
    UINT64 = 9
    FLOAT = 10
    DOUBLE = 11
    STRING = 12
    DATETIME = 13
    GUID = 14
    BYTESTRING = 15
    XMLELEMENT = 16
    NODEID = 17
    EXPANDEDNODEID = 18
    STATUSCODE = 19
    QUALIFIEDNAME = 20
    LOCALIZEDTEXT = 21
    EXTENSIONOBJECT = 22
    DATAVALUE = 23
    VARIANT = 24
    DIAGNOSTICINFO = 25


# fixed-size built-in types: their encoded length (§5.2.2)
FIXED_SIZE = {VariantType.BOOLEAN: 1, VariantType.SBYTE: 1, VariantType.BYTE: 1, VariantType.INT16: 2,
              VariantType.UINT16: 2, VariantType.INT32: 4, VariantType.UINT32: 4, VariantType.INT64: 8,
              VariantType.UINT64: 8, VariantType.FLOAT: 4, VariantType.DOUBLE: 8, VariantType.DATETIME: 8,
              VariantType.GUID: 16, VariantType.STATUSCODE: 4}


class OpcuaAnomaly(StrEnum):
    BAD_MESSAGE_TYPE = "opcua-bad-message-type"
    BAD_CHUNK_TYPE = "opcua-bad-chunk-type"
    BAD_LENGTH = "opcua-bad-length"
    MALFORMED = "opcua-malformed"                   # a message body that contradicts its grammar (detail: where)
    CHUNK_ABORTED = "opcua-chunk-aborted"           # an 'A' chunk: the sender abandoned a message
    REASSEMBLY_LIMIT = "opcua-reassembly-limit"     # a message larger than MAX_MESSAGE or MAX_CHUNKS chunks
    BUFFER_OVERFLOW = "opcua-buffer-overflow"
    UNEXPECTED_MESSAGE = "opcua-unexpected-message"  # e.g. a HEL from the server, an ACK from the client
    ERROR_MESSAGE = "opcua-error"                   # an ERR message (detail: the StatusCode, by number)
    PENDING_REQUESTS_CAP = "pending-requests-cap"
