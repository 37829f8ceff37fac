"""ISO-on-TCP (RFC 1006 TPKT, ISO 8073 COTP), S7comm and S7comm-plus codes (Wireshark packet-s7comm.c,
packet-s7comm_plus / s7commwireshark, packet-cotp.c)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from otscope.domain import cap_anomaly

S7_PORT = 102
TPKT_VERSION = 3
S7COMM_ID = 0x32
S7PLUS_ID = 0x72


class S7Anomaly(StrEnum):
    """What the ISO-on-TCP / S7 dissector counts as an anomaly (the values reach the collector as they are).
    A kind with a detail is sent as ``kind-detail``."""

    BAD_TPKT = "bad-tpkt"                           # TPKT version not 3 after confirmation (RFC 1006 6)
    BAD_TPKT_LENGTH = "bad-tpkt-length"             # TPKT length below 7 after confirmation
    MALFORMED_COTP = "malformed-cotp"               # COTP TPDU that does not parse (ISO 8073 13)
    MALFORMED_S7COMM = "malformed-s7comm"
    MALFORMED_PLUS = "malformed-s7comm-plus"
    MALFORMED_SZL = "malformed-szl"                 # detail: the SZL id, 0xNNNN
    MALFORMED_BLOCK_FILE = "malformed-block-file"   # a block job's file name that does not follow its layout
    COTP_REASSEMBLY_BYTES_CAP = cap_anomaly("cotp_reassembly_bytes")   # COTP DT fragments beyond the cap
    MALFORMED_MMS = "malformed-mms"                 # session/presentation/ACSE/MMS that does not parse (ISO 9506-2)
    PENDING_REQUESTS_CAP = cap_anomaly("pending_requests")   # MMS GetNameList requests waiting, by invokeID


class CotpType(IntEnum):
    CR = 0xE0
    CC = 0xD0
    DR = 0x80
    DC = 0xC0
    DT = 0xF0
    ED = 0x10
    AK = 0x60
    EA = 0x20
    RJ = 0x50
    ER = 0x70


class CotpParam(IntEnum):
    TPDU_SIZE = 0xC0
    CALLING_TSAP = 0xC1     # the sender's TSAP (source)
    CALLED_TSAP = 0xC2      # the TSAP asked for (destination)


class Rosctr(IntEnum):
    JOB = 1
    ACK = 2
    ACK_DATA = 3
    USERDATA = 7


class Function(IntEnum):
    CPU_SERVICES = 0x00
    SETUP_COMMUNICATION = 0xF0
    READ_VAR = 0x04
    WRITE_VAR = 0x05
    REQUEST_DOWNLOAD = 0x1A
    DOWNLOAD_BLOCK = 0x1B
    DOWNLOAD_ENDED = 0x1C
    START_UPLOAD = 0x1D
    UPLOAD = 0x1E
    END_UPLOAD = 0x1F
    PI_SERVICE = 0x28
    PLC_STOP = 0x29


ENGINEERING_FUNCTIONS = {
    Function.REQUEST_DOWNLOAD: "block download", Function.DOWNLOAD_BLOCK: "block download",
    Function.DOWNLOAD_ENDED: "block download", Function.START_UPLOAD: "block upload", Function.UPLOAD: "block upload",
    Function.END_UPLOAD: "block upload", Function.PI_SERVICE: "PLC control (PI service)", Function.PLC_STOP: "PLC stop",
}


# Functions whose job parameters name one block file (Wireshark packet-s7comm.c,
# s7comm_decode_plc_controls_updownload; Upload / End upload carry only the upload id)
BLOCK_FILE_FUNCTIONS = frozenset({Function.REQUEST_DOWNLOAD, Function.DOWNLOAD_BLOCK, Function.DOWNLOAD_ENDED,
                                  Function.START_UPLOAD})
# Block types as the file name spells them, two ASCII characters (packet-s7comm.c blocktype_names)
BLOCK_TYPES = {"08": "OB", "09": "CMod", "0A": "DB", "0B": "SDB", "0C": "FC", "0D": "SFC", "0E": "FB", "0F": "SFB"}
SYSTEM_DATA_BLOCK = "0B"          # SDB: the hardware configuration and parameters of the CPU and its modules
PI_BLOCK_SERVICES = {"_INSE": "download", "_INS2": "download", "_DELE": "delete"}   # PI services naming blocks
SYSTEM_DATA_ACTIONS = {Function.REQUEST_DOWNLOAD: "system data download", Function.DOWNLOAD_BLOCK:
                       "system data download", Function.DOWNLOAD_ENDED: "system data download",
                       Function.START_UPLOAD: "system data upload"}


class UserdataGroup(IntEnum):
    MODE_TRANSITION = 0
    PROGRAMMER = 1
    CYCLIC = 2
    BLOCK = 3
    CPU = 4
    SECURITY = 5
    PBC = 6
    TIME = 7


SUB_READ_SZL = 0x01
CONNECTION_TYPES = {1: "PG", 2: "OP", 3: "S7 basic"}

# SZL 0x001C component identification record indexes -> inventory field
SZL_1C_FIELDS = {1: "name", 2: "module_name", 3: "plant_id", 4: "copyright", 5: "serial", 7: "product",
                 8: "memory_card_serial", 11: "location"}


class PlusFunction(IntEnum):
    EXPLORE = 0x04BB
    CREATE_OBJECT = 0x04CA
    DELETE_OBJECT = 0x04D4
    SET_VARIABLE = 0x04F2
    GET_VARIABLE = 0x04FC
    ADD_LINK = 0x0506
    REMOVE_LINK = 0x051A
    GET_LINK = 0x0524
    SET_MULTI_VARIABLES = 0x0542
    GET_MULTI_VARIABLES = 0x054C
    BEGIN_SEQUENCE = 0x0556
    END_SEQUENCE = 0x0560
    INVOKE = 0x056B
    SET_VAR_SUBSTREAMED = 0x057C
    GET_VAR_SUBSTREAMED = 0x0586
    GET_VARIABLES_ADDRESS = 0x0590
    ABORT = 0x059A
    ERROR = 0x05A9
    INIT_SSL = 0x05B3


class PlusOpcode(IntEnum):
    REQUEST = 0x31
    RESPONSE = 0x32
    NOTIFICATION = 0x33
    RESPONSE2 = 0x02


# CPU operating state. SZL 0x0424 record: ereig (2), ae (1), bzu-id (1): bits 0-3 the requested (now current)
# mode, bits 4-7 the previous one (Wireshark packet-s7comm_szl_ids.c, szl_0424_0000_bzu_id_names).
SZL_0424_MODES = {
    0x1: "STOP (update)", 0x2: "STOP (memory reset)", 0x3: "STOP (self initialization)", 0x4: "STOP (internal)",
    0x5: "STARTUP (complete restart)", 0x7: "STARTUP (restart)", 0x8: "RUN", 0xA: "HOLD", 0xD: "DEFECT",
}
# Userdata group 0 (mode transition) pushes carry the new mode as the subfunction (Wireshark packet-s7comm.c,
# modetrans_param_subfunc_names).
MODE_TRANSITIONS = {
    0: "STOP", 1: "STARTUP (warm restart)", 2: "RUN", 3: "STARTUP (hot restart)", 4: "HOLD",
    6: "STARTUP (cold restart)", 9: "RUN_R (H-system redundant)", 11: "LINK-UP", 12: "UPDATE",
}


def cpu_state_name(table: dict[int, str], code: int) -> str:
    """A state's name; a code the table does not know keeps its number."""
    return table.get(code, f"0x{code:02x}")


# S7comm-plus attribute ids whose string values are identity (Wireshark packet-s7comm_plus.c id_number_names):
# only these contexts, never a printable run found anywhere in a binary body, become facts.
class PlusAttribute(IntEnum):
    SERVER_SESSION_CLIENT_ID = 289
    SERVER_SESSION_USER = 296
    SERVER_SESSION_APPLICATION = 297
    SERVER_SESSION_HOST = 298
    SERVER_SESSION_CLIENT_COMMENT = 301
    SESSION_VERSION_SYSTEM_PAOM_STRING = 319
    SESSION_VERSION_PROJECT_PAOM_STRING = 320


PLUS_ITEM_ATTRIBUTE = 0xA3          # an attribute: id (VLQ), then a value (flags, datatype, data)
PLUS_DATATYPE_WSTRING = 0x15        # length (VLQ) + UTF-8 text

# ISO 8327-1 session SPDU identifiers (Wireshark packet-ses.c) that start the user data of a COTP DT on
# tcp/102 when it carries ISO session + presentation + MMS (IEC 61850 / ISO 9506) instead of S7comm
# (dissectors/s7/mms.py walks them).
SES_GIVE_TOKENS_OR_DATA = 0x01      # GIVE TOKENS (SI 1) + DATA TRANSFER (SI 1), each LI 0 in the common case
SES_FINISH = 0x09
SES_DISCONNECT = 0x0A
SES_REFUSE = 0x0C
SES_CONNECT = 0x0D
SES_ACCEPT = 0x0E
SES_ABORT = 0x19
