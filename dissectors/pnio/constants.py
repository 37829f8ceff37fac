"""PROFINET IO (IEC 61158-6-10) codes as data: FrameID ranges of PN-RT, PNIO-CM block types, RPC operations,
alarm types, the DCE/RPC interface UUIDs of the PNIO interfaces, and the package's anomaly kinds."""

from __future__ import annotations

import uuid
from enum import IntEnum, StrEnum

# -- PN-RT FrameID ranges (IEC 61158-6-10, "FrameID"; Wireshark packet-pn-rt.c uses the same split) ---------
RT_CLASS_3 = (0x0100, 0x7FFF)        # isochronous (IRT) cyclic data
RT_CLASS_2 = (0x8000, 0xBFFF)        # 0x8000-0xBBFF unicast, 0xBC00-0xBFFF multicast
RT_CLASS_1 = (0xC000, 0xFBFF)        # 0xC000-0xF7FF unicast, 0xF800-0xFBFF multicast
ALARM_HIGH, ALARM_LOW = 0xFC01, 0xFE01
CYCLIC_RANGES = (RT_CLASS_3, RT_CLASS_2, RT_CLASS_1)
ALARM_RANGES = ((ALARM_HIGH, ALARM_HIGH), (ALARM_LOW, ALARM_LOW))


def rt_class(frame_id: int) -> str:
    if RT_CLASS_1[0] <= frame_id <= RT_CLASS_1[1]:
        return "RT_CLASS_1"
    if RT_CLASS_2[0] <= frame_id <= RT_CLASS_2[1]:
        return "RT_CLASS_2"
    if RT_CLASS_3[0] <= frame_id <= RT_CLASS_3[1]:
        return "RT_CLASS_3"
    return f"0x{frame_id:04x}"


# APDU_Status.DataStatus bits (IEC 61158-6-10, "DataStatus")
DS_STATE_PRIMARY, DS_REDUNDANCY, DS_DATA_VALID = 0x01, 0x02, 0x04
DS_PROVIDER_RUN, DS_STATION_OK, DS_IGNORE = 0x10, 0x20, 0x40


def data_status_text(ds: int) -> str:
    """'0x35 (primary, valid, run, station ok)': the bits spelled, the byte kept."""
    words = ["primary" if ds & DS_STATE_PRIMARY else "backup", "valid" if ds & DS_DATA_VALID else "invalid",
             "run" if ds & DS_PROVIDER_RUN else "stop", "station ok" if ds & DS_STATION_OK else "station problem"]
    if ds & DS_REDUNDANCY:
        words.append("redundancy")
    if ds & DS_IGNORE:
        words.append("ignore")
    return f"0x{ds:02x} ({', '.join(words)})"


# RTA-PDU types (low nibble of PDUType)
class RtaType(IntEnum):
    DATA = 1
    NACK = 2
    ACK = 3
    ERR = 4


class AlarmType(IntEnum):
    DIAGNOSIS = 0x0001
    PROCESS = 0x0002
    PULL = 0x0003
    PLUG = 0x0004
    STATUS = 0x0005
    UPDATE = 0x0006
    MEDIA_REDUNDANCY = 0x0007
    CONTROLLED_BY_SUPERVISOR = 0x0008
    RELEASED = 0x0009
    PLUG_WRONG_SUBMODULE = 0x000A
    RETURN_OF_SUBMODULE = 0x000B
    DIAGNOSIS_DISAPPEARS = 0x000C
    MULTICAST_MISMATCH = 0x000D
    PORT_DATA_CHANGE = 0x000E
    SYNC_DATA_CHANGED = 0x000F
    ISOCHRONOUS_MODE_PROBLEM = 0x0010
    NETWORK_COMPONENT_PROBLEM = 0x0011
    TIME_DATA_CHANGED = 0x0012
    DFP_PROBLEM = 0x0013
    MRPD_PROBLEM = 0x0014
    MULTIPLE_INTERFACE_MISMATCH = 0x0016
    UPLOAD_AND_RETRIEVAL = 0x001E
    PULL_MODULE = 0x001F


def alarm_type_name(code: int) -> str:
    try:
        return AlarmType(code).name.lower().replace("_", "-")
    except ValueError:
        return f"0x{code:04x}"


# -- PNIO-CM block types (IEC 61158-6-10, "BlockType") ---------------------------------------------------------
class Block(IntEnum):
    ALARM_NOTIFICATION_HIGH = 0x0001
    ALARM_NOTIFICATION_LOW = 0x0002
    WRITE_REQ = 0x0008
    READ_REQ = 0x0009
    IM0 = 0x0020
    IM0_FILTER_SUBMODULE = 0x0030
    IM0_FILTER_MODULE = 0x0031
    IM0_FILTER_DEVICE = 0x0032
    AR_REQ = 0x0101
    IOCR_REQ = 0x0102
    ALARM_CR_REQ = 0x0103
    EXPECTED_SUBMODULE_REQ = 0x0104
    PRM_END_REQ = 0x0110
    APPLICATION_READY_REQ = 0x0112
    RELEASE_REQ = 0x0114
    ALARM_ACK_HIGH = 0x8001
    ALARM_ACK_LOW = 0x8002
    WRITE_RES = 0x8008
    READ_RES = 0x8009
    AR_RES = 0x8101
    IOCR_RES = 0x8102
    ALARM_CR_RES = 0x8103
    MODULE_DIFF = 0x8104
    AR_SERVER = 0x8106
    PRM_END_RES = 0x8110
    APPLICATION_READY_RES = 0x8112
    RELEASE_RES = 0x8114


CONTROL_BLOCKS = {Block.PRM_END_REQ: "prm-end", Block.APPLICATION_READY_REQ: "application-ready",
                  Block.RELEASE_REQ: "release"}
IOCR_TYPES = {1: "input", 2: "output", 3: "multicast-provider", 4: "multicast-consumer"}
MODULE_STATES = {0: "no-module", 1: "wrong-module", 2: "proper-module", 3: "substitute"}

INDEX_IM0 = 0xAFF0
INDEX_IM0_FILTER = 0xF840


class Opnum(IntEnum):
    """PNIO interface operations (IEC 61158-6-10, "RPC operations")."""

    CONNECT = 0
    RELEASE = 1
    READ = 2
    WRITE = 3
    CONTROL = 4
    READ_IMPLICIT = 5


def opnum_name(op: int) -> str:
    try:
        return Opnum(op).name.lower().replace("_", "-")
    except ValueError:
        return f"0x{op:02x}"


# -- DCE/RPC (DCE 1.1 RPC, chapter 12: connectionless PDU) ----------------------------------------------------
class PType(IntEnum):
    REQUEST = 0
    PING = 1
    RESPONSE = 2
    FAULT = 3
    WORKING = 4
    NOCALL = 5
    REJECT = 6
    ACK = 7
    CL_CANCEL = 8
    FACK = 9
    CANCEL_ACK = 10


FLAG1_LASTFRAG, FLAG1_FRAG = 0x02, 0x04
PNIO_UUID_PREFIX = bytes.fromhex("dea000006c9711d18271")     # object UUID: ...-{instance}{device id}{vendor id}
DEVICE_IF = uuid.UUID("dea00001-6c97-11d1-8271-00a02442df7d")
CONTROLLER_IF = uuid.UUID("dea00002-6c97-11d1-8271-00a02442df7d")
SUPERVISOR_IF = uuid.UUID("dea00003-6c97-11d1-8271-00a02442df7d")
PARAMSERVER_IF = uuid.UUID("dea00004-6c97-11d1-8271-00a02442df7d")
EPM_IF = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")    # the endpoint mapper also answers on 34964
INTERFACES = {DEVICE_IF: "device", CONTROLLER_IF: "controller", SUPERVISOR_IF: "supervisor",
              PARAMSERVER_IF: "parameter-server", EPM_IF: "epm"}

MAX_FRAGMENTS_BYTES = 64 * 1024     # a fragmented request reassembled (the PNIO max PDU is far below)
MAX_PENDING_FRAGMENTS = 8           # activities being reassembled at once
MAX_COMPONENTS = 256                # slot/subslot components reported per flow


class PnioAnomaly(StrEnum):
    NOT_DCERPC = "not-dcerpc"
    RPC_TRUNCATED = "rpc-truncated"
    UNKNOWN_INTERFACE = "unknown-interface"
    UNKNOWN_OPNUM = "unknown-opnum"
    UNKNOWN_PTYPE = "unknown-ptype"
    BAD_BLOCK = "bad-block"
    UNKNOWN_BLOCK = "unknown-block"
    FRAGMENTS_DROPPED = "fragments-dropped"
    RPC_FAULT = "rpc-fault"
    PNIO_ERROR = "pnio-error"
    BAD_RTA = "bad-rta"
    SHORT_CYCLIC = "short-cyclic"
    CYCLIC_TABLE_FULL = "cyclic-table-full"
