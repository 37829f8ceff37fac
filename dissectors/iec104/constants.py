"""IEC 60870-5-104 codes. APCI: IEC 60870-5-104 section 5 (5.1 start/length, 5.2-5.4 I/S/U control fields);
ASDU: IEC 60870-5-101 section 7 (7.1 data unit identifier, 7.2.1 type identification, 7.2.3 cause of
transmission, 7.2.4 common address), with the octet sizes of IEC 60870-5-104 section 7 (COT 2 octets, common
address 2 octets, IOA 3 octets). Values checked against Wireshark's packet-iec104.c (apci_types, u_types,
asdu_types, causetx_types)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

IEC104_PORT = 2404
APCI_START = 0x68           # 104 5.1: start character
APCI_LEN = 6                # start, length, four control octets
APDU_MIN_LEN = 4            # 104 5.1: the length counts the control field and the ASDU: 4..253
APDU_MAX_LEN = 253
ASDU_HEADER_LEN = 6         # type id, VSQ, COT (2 octets), common address (2 octets)
MAX_STATIONS = 256          # common addresses remembered per flow (bounded state)
MAX_RESYNC = 8              # framing losses tolerated on a confirmed flow before giving up
BUFFER_CAP = 2 * (APDU_MAX_LEN + 2)   # at most two APDUs pending per direction
GLOBAL_ADDRESS = 0xFFFF     # 101 7.2.4: broadcast (global) common address; 0 is "not used"


class ApciFormat(IntEnum):
    """104 5.2-5.4: the control field's first octet, bit 0 = 0 -> I, bits 0-1 = 01 -> S, 11 -> U."""

    I = 0  # noqa: E741 - the standard's name
    S = 1
    U = 3


class UFunction(IntEnum):
    """104 5.3: the U-format function bits (first control octet >> 2, as Wireshark's u_types)."""

    STARTDT_ACT = 0x01
    STARTDT_CON = 0x02
    STOPDT_ACT = 0x04
    STOPDT_CON = 0x08
    TESTFR_ACT = 0x10
    TESTFR_CON = 0x20


class TypeId(IntEnum):
    """101 7.2.1.1 (and 104 table for the CP56Time2a types, 101/104 amendments for S_ security types)."""

    M_SP_NA_1 = 1
    M_SP_TA_1 = 2
    M_DP_NA_1 = 3
    M_DP_TA_1 = 4
    M_ST_NA_1 = 5
    M_ST_TA_1 = 6
    M_BO_NA_1 = 7
    M_BO_TA_1 = 8
    M_ME_NA_1 = 9
    M_ME_TA_1 = 10
    M_ME_NB_1 = 11
    M_ME_TB_1 = 12
    M_ME_NC_1 = 13
    M_ME_TC_1 = 14
    M_IT_NA_1 = 15
    M_IT_TA_1 = 16
    M_EP_TA_1 = 17
    M_EP_TB_1 = 18
    M_EP_TC_1 = 19
    M_PS_NA_1 = 20
    M_ME_ND_1 = 21
    M_SP_TB_1 = 30
    M_DP_TB_1 = 31
    M_ST_TB_1 = 32
    M_BO_TB_1 = 33
    M_ME_TD_1 = 34
    M_ME_TE_1 = 35
    M_ME_TF_1 = 36
    M_IT_TB_1 = 37
    M_EP_TD_1 = 38
    M_EP_TE_1 = 39
    M_EP_TF_1 = 40
    S_IT_TC_1 = 41
    C_SC_NA_1 = 45
    C_DC_NA_1 = 46
    C_RC_NA_1 = 47
    C_SE_NA_1 = 48
    C_SE_NB_1 = 49
    C_SE_NC_1 = 50
    C_BO_NA_1 = 51
    C_SC_TA_1 = 58
    C_DC_TA_1 = 59
    C_RC_TA_1 = 60
    C_SE_TA_1 = 61
    C_SE_TB_1 = 62
    C_SE_TC_1 = 63
    C_BO_TA_1 = 64
    M_EI_NA_1 = 70
    S_CH_NA_1 = 81
    S_RP_NA_1 = 82
    S_AR_NA_1 = 83
    S_KR_NA_1 = 84
    S_KS_NA_1 = 85
    S_KC_NA_1 = 86
    S_ER_NA_1 = 87
    S_US_NA_1 = 90
    S_UQ_NA_1 = 91
    S_UR_NA_1 = 92
    S_UK_NA_1 = 93
    S_UA_NA_1 = 94
    S_UC_NA_1 = 95
    C_IC_NA_1 = 100
    C_CI_NA_1 = 101
    C_RD_NA_1 = 102
    C_CS_NA_1 = 103
    C_TS_NA_1 = 104
    C_RP_NA_1 = 105
    C_CD_NA_1 = 106
    C_TS_TA_1 = 107
    P_ME_NA_1 = 110
    P_ME_NB_1 = 111
    P_ME_NC_1 = 112
    P_AC_NA_1 = 113
    F_FR_NA_1 = 120
    F_SR_NA_1 = 121
    F_SC_NA_1 = 122
    F_LS_NA_1 = 123
    F_AF_NA_1 = 124
    F_SG_NA_1 = 125
    F_DR_TA_1 = 126
    F_SC_NB_1 = 127


class Cause(IntEnum):
    """101 7.2.3: cause of transmission (6 bits; bit 7 test, bit 6 negative confirm)."""

    PERIODIC = 1
    BACKGROUND = 2
    SPONTANEOUS = 3
    INITIALIZED = 4
    REQUEST = 5
    ACTIVATION = 6
    ACTIVATION_CON = 7
    DEACTIVATION = 8
    DEACTIVATION_CON = 9
    ACTIVATION_TERM = 10
    RETURN_REMOTE = 11
    RETURN_LOCAL = 12
    FILE_TRANSFER = 13
    INTERROGATED_GENERAL = 20
    REQUESTED_COUNTER_GENERAL = 37
    UNKNOWN_TYPE = 44
    UNKNOWN_CAUSE = 45
    UNKNOWN_COMMON_ADDRESS = 46
    UNKNOWN_IOA = 47


class Category(StrEnum):
    """The function profile: what a type id does (101 7.2.1.1 groups the type ids by direction and use)."""

    MONITORING = "monitoring"             # process information in monitor direction (1..44) and 70
    COMMAND = "command"                   # process information in control direction: single/double/step/setpoint
    INTERROGATION = "interrogation"       # C_IC_NA_1, C_CI_NA_1, C_RD_NA_1
    CLOCK_SYNC = "clock-sync"             # C_CS_NA_1
    SYSTEM = "system-command"             # test, reset process, delay acquisition
    PARAMETER = "parameter"               # P_ types 110..113
    FILE_TRANSFER = "file-transfer"       # F_ types 120..127
    SECURITY = "secure-authentication"    # S_ types 81..95 (IEC 62351-5)
    OTHER = "other"                       # a type id no standard table names (kept by number)


_CATEGORY_OF = {TypeId.C_IC_NA_1: Category.INTERROGATION, TypeId.C_CI_NA_1: Category.INTERROGATION,
                TypeId.C_RD_NA_1: Category.INTERROGATION, TypeId.C_CS_NA_1: Category.CLOCK_SYNC}


def category(type_id: int) -> Category:
    """The profile category of a type id (101 7.2.1.1 ranges; unknown ids: OTHER)."""
    if type_id in _CATEGORY_OF:
        return _CATEGORY_OF[type_id]
    if type_id not in TypeId._value2member_map_:
        return Category.OTHER
    if type_id <= 44 or type_id == TypeId.M_EI_NA_1:
        return Category.MONITORING
    if 45 <= type_id <= 69:
        return Category.COMMAND
    if 81 <= type_id <= 95:
        return Category.SECURITY
    if 100 <= type_id <= 109:
        return Category.SYSTEM
    if 110 <= type_id <= 119:
        return Category.PARAMETER
    return Category.FILE_TRANSFER


def type_name(type_id: int) -> str:
    """The standard's name of a type id (M_SP_NA_1), or its number when no table names it."""
    member = TypeId._value2member_map_.get(type_id)
    return member.name if member is not None else f"type {type_id}"


# causes that only a controlled station sends (confirmations, terminations, unknown-x negative answers)
CONFIRMING_CAUSES = frozenset({Cause.ACTIVATION_CON, Cause.DEACTIVATION_CON, Cause.ACTIVATION_TERM,
                               Cause.UNKNOWN_TYPE, Cause.UNKNOWN_CAUSE, Cause.UNKNOWN_COMMON_ADDRESS,
                               Cause.UNKNOWN_IOA})
# causes a controlling station sends with commands and system commands
ORDERING_CAUSES = frozenset({Cause.ACTIVATION, Cause.DEACTIVATION})


class Iec104Anomaly(StrEnum):
    """What the IEC 104 dissector counts as an anomaly (the values reach the collector as they are)."""

    BAD_START = "bad-start"                   # an APDU that does not start with 0x68 after confirmation (104 5.1)
    BAD_LENGTH = "bad-length"                 # APDU length outside 4..253 (104 5.1)
    BAD_CONTROL_FIELD = "bad-control-field"   # S/U frame with a wrong control field or length (104 5.2, 5.3)
    MALFORMED_ASDU = "malformed-asdu"         # I frame whose ASDU is shorter than its header (101 7.1)
    UNKNOWN_TYPE_ID = "unknown-type-id"       # a type id no table names (kept by number, 101 7.2.1.1)
    STATIONS_CAP = "stations-cap"             # more common addresses than MAX_STATIONS in one flow
