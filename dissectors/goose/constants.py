"""GOOSE and Sampled Values codes (IEC 61850-8-1 Annex A / 9-2 Annex A ASN.1; tags as Wireshark's
packet-goose.c and packet-sv.c decode them)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

HEADER_LEN = 8                  # APPID(2) Length(2) Reserved1(2) Reserved2(2), IEC 61850-8-1 C.2.3 / 9-2 5.3.3
MAX_ASDU = 8                    # ASDUs of one SV frame read (noASDU is typically 1 or 8)
MAX_STRING = 129                # VisibleString129 (IEC 61850-7-2 ObjectReference)
SIMULATION_BIT = 0x8000         # Reserved1 bit 15: simulation (IEC 61850-8-1 Ed2 C.2.3.4 / 9-2 Ed2.1 5.3.3.4)


class BerClass(IntEnum):
    UNIVERSAL = 0x00
    APPLICATION = 0x40
    CONTEXT = 0x80
    PRIVATE = 0xC0


class PduTag(IntEnum):
    """Outer APDU tags: [APPLICATION 1] IMPLICIT goosePdu, [APPLICATION 0] IMPLICIT savPdu (constructed)."""

    GOOSE_PDU = 0x61
    SAV_PDU = 0x60


class GooseTag(IntEnum):
    """IECGoosePdu SEQUENCE fields, context-specific [n] (IEC 61850-8-1 Table A.1; packet-goose.c
    IECGoosePdu_sequence)."""

    GOCB_REF = 0x80
    TIME_ALLOWED_TO_LIVE = 0x81
    DAT_SET = 0x82
    GO_ID = 0x83
    T = 0x84
    ST_NUM = 0x85
    SQ_NUM = 0x86
    SIMULATION = 0x87           # "test" in edition 1
    CONF_REV = 0x88
    NDS_COM = 0x89
    NUM_DAT_SET_ENTRIES = 0x8A
    ALL_DATA = 0xAB


class SavTag(IntEnum):
    """SavPdu and ASDU fields (IEC 61850-9-2 Table 14 / packet-sv.c)."""

    NO_ASDU = 0x80
    SECURITY = 0x81
    SEQ_ASDU = 0xA2
    ASDU = 0x30
    SV_ID = 0x80
    DAT_SET = 0x81
    SMP_CNT = 0x82
    CONF_REV = 0x83
    REFR_TM = 0x84
    SMP_SYNCH = 0x85
    SMP_RATE = 0x86
    SEQ_DATA = 0x87
    SMP_MOD = 0x88


class GooseAnomaly(StrEnum):
    """What a GOOSE/SV frame's defect is counted as (its other parts are still reported)."""

    SHORT_FRAME = "goose-short-frame"               # the frame ends before its header Length (cut capture)
    NOT_GOOSE_PDU = "goose-not-goose-pdu"           # the APDU is not [APPLICATION 1]
    NOT_SAV_PDU = "sv-not-sav-pdu"                  # the APDU is not [APPLICATION 0]
    UNEXPECTED_TAG = "goose-unexpected-tag"         # a field the SEQUENCE does not define (stops the PDU)
    TRUNCATED_FIELD = "goose-truncated-field"       # a field's BER length runs past its container
    MALFORMED_FIELD = "goose-malformed-field"       # a BER length/INTEGER/BOOLEAN the grammar does not allow
    TOO_MANY_ASDU = "sv-too-many-asdu"              # more ASDUs than MAX_ASDU (the rest are not read)
