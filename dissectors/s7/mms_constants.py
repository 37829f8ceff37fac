"""ISO 9506 MMS, ISO 8823 presentation and ISO 8650 ACSE codes (ISO 9506-2 clause 7 / Annex A ASN.1 as compiled
in Wireshark's packet-mms.c from mms.asn; packet-pres.c from ISO8823-PRESENTATION.asn; packet-acse.c)."""

from __future__ import annotations

from enum import IntEnum


class MmsPduType(IntEnum):
    """MMSpdu CHOICE alternatives: context-specific tags [0]..[13] (ISO 9506-2 7.1)."""

    CONFIRMED_REQUEST = 0
    CONFIRMED_RESPONSE = 1
    CONFIRMED_ERROR = 2
    UNCONFIRMED = 3
    REJECT = 4
    CANCEL_REQUEST = 5
    CANCEL_RESPONSE = 6
    CANCEL_ERROR = 7
    INITIATE_REQUEST = 8
    INITIATE_RESPONSE = 9
    INITIATE_ERROR = 10
    CONCLUDE_REQUEST = 11
    CONCLUDE_RESPONSE = 12
    CONCLUDE_ERROR = 13


class ConfirmedService(IntEnum):
    """ConfirmedServiceRequest / ConfirmedServiceResponse CHOICE tags (ISO 9506-2 7.2, packet-mms.c)."""

    STATUS = 0
    GET_NAME_LIST = 1
    IDENTIFY = 2
    RENAME = 3
    READ = 4
    WRITE = 5
    GET_VARIABLE_ACCESS_ATTRIBUTES = 6
    DEFINE_NAMED_VARIABLE = 7
    DEFINE_SCATTERED_ACCESS = 8
    GET_SCATTERED_ACCESS_ATTRIBUTES = 9
    DELETE_VARIABLE_ACCESS = 10
    DEFINE_NAMED_VARIABLE_LIST = 11
    GET_NAMED_VARIABLE_LIST_ATTRIBUTES = 12
    DELETE_NAMED_VARIABLE_LIST = 13
    DEFINE_NAMED_TYPE = 14
    GET_NAMED_TYPE_ATTRIBUTES = 15
    DELETE_NAMED_TYPE = 16
    INPUT = 17
    OUTPUT = 18
    TAKE_CONTROL = 19
    RELINQUISH_CONTROL = 20
    DEFINE_SEMAPHORE = 21
    DELETE_SEMAPHORE = 22
    REPORT_SEMAPHORE_STATUS = 23
    REPORT_POOL_SEMAPHORE_STATUS = 24
    REPORT_SEMAPHORE_ENTRY_STATUS = 25
    INITIATE_DOWNLOAD_SEQUENCE = 26
    DOWNLOAD_SEGMENT = 27
    TERMINATE_DOWNLOAD_SEQUENCE = 28
    INITIATE_UPLOAD_SEQUENCE = 29
    UPLOAD_SEGMENT = 30
    TERMINATE_UPLOAD_SEQUENCE = 31
    REQUEST_DOMAIN_DOWNLOAD = 32
    REQUEST_DOMAIN_UPLOAD = 33
    LOAD_DOMAIN_CONTENT = 34
    STORE_DOMAIN_CONTENT = 35
    DELETE_DOMAIN = 36
    GET_DOMAIN_ATTRIBUTES = 37
    CREATE_PROGRAM_INVOCATION = 38
    DELETE_PROGRAM_INVOCATION = 39
    START = 40
    STOP = 41
    RESUME = 42
    RESET = 43
    KILL = 44
    GET_PROGRAM_INVOCATION_ATTRIBUTES = 45
    OBTAIN_FILE = 46
    DEFINE_EVENT_CONDITION = 47
    DELETE_EVENT_CONDITION = 48
    GET_EVENT_CONDITION_ATTRIBUTES = 49
    REPORT_EVENT_CONDITION_STATUS = 50
    ALTER_EVENT_CONDITION_MONITORING = 51
    TRIGGER_EVENT = 52
    DEFINE_EVENT_ACTION = 53
    DELETE_EVENT_ACTION = 54
    GET_EVENT_ACTION_ATTRIBUTES = 55
    REPORT_EVENT_ACTION_STATUS = 56
    DEFINE_EVENT_ENROLLMENT = 57
    DELETE_EVENT_ENROLLMENT = 58
    ALTER_EVENT_ENROLLMENT = 59
    REPORT_EVENT_ENROLLMENT_STATUS = 60
    GET_EVENT_ENROLLMENT_ATTRIBUTES = 61
    ACKNOWLEDGE_EVENT_NOTIFICATION = 62
    GET_ALARM_SUMMARY = 63
    GET_ALARM_ENROLLMENT_SUMMARY = 64
    READ_JOURNAL = 65
    WRITE_JOURNAL = 66
    INITIALIZE_JOURNAL = 67
    REPORT_JOURNAL_STATUS = 68
    CREATE_JOURNAL = 69
    DELETE_JOURNAL = 70
    GET_CAPABILITY_LIST = 71
    FILE_OPEN = 72
    FILE_READ = 73
    FILE_CLOSE = 74
    FILE_RENAME = 75
    FILE_DELETE = 76
    FILE_DIRECTORY = 77


# services that change the server: program load, program control, file deletion (ISO 9506-1 clauses 11, 12, 17)
CONTROL_SERVICES = {
    ConfirmedService.INITIATE_DOWNLOAD_SEQUENCE: "domain download", ConfirmedService.DOWNLOAD_SEGMENT: "domain download",
    ConfirmedService.TERMINATE_DOWNLOAD_SEQUENCE: "domain download",
    ConfirmedService.REQUEST_DOMAIN_DOWNLOAD: "domain download", ConfirmedService.LOAD_DOMAIN_CONTENT: "domain download",
    ConfirmedService.DELETE_DOMAIN: "domain delete", ConfirmedService.START: "program start",
    ConfirmedService.STOP: "program stop", ConfirmedService.RESUME: "program resume",
    ConfirmedService.RESET: "program reset", ConfirmedService.KILL: "program kill",
    ConfirmedService.DELETE_PROGRAM_INVOCATION: "program delete", ConfirmedService.FILE_DELETE: "file delete",
}


class UnconfirmedService(IntEnum):
    """UnconfirmedService CHOICE (ISO 9506-2 7.3): informationReport carries IEC 61850 reports."""

    INFORMATION_REPORT = 0
    UNSOLICITED_STATUS = 1
    EVENT_NOTIFICATION = 2


class ObjectClass(IntEnum):
    """GetNameList ObjectClass (ISO 9506-2 clause 10.5, basicObjectClass)."""

    NAMED_VARIABLE = 0
    SCATTERED_ACCESS = 1
    NAMED_VARIABLE_LIST = 2
    NAMED_TYPE = 3
    SEMAPHORE = 4
    EVENT_CONDITION = 5
    EVENT_ACTION = 6
    EVENT_ENROLLMENT = 7
    JOURNAL = 8
    DOMAIN = 9
    PROGRAM_INVOCATION = 10
    OPERATOR_STATION = 11


class AcseApdu(IntEnum):
    """ACSE-apdu CHOICE: [APPLICATION 0..4] (ISO 8650-1 / X.227)."""

    AARQ = 0
    AARE = 1
    RLRQ = 2
    RLRE = 3
    ABRT = 4


# BER object identifier contents of ISO 9506-2: mms-annex-version1 {1 0 9506 2 3} (the ACSE application context
# name of an MMS association) and mms-abstract-syntax-version1 {1 0 9506 2 1} (its presentation context)
MMS_CONTEXT_OID = bytes.fromhex("28ca220203")
MMS_SYNTAX_OID = bytes.fromhex("28ca220201")

# ISO 8327-1 session parameter codes (8.3, Wireshark packet-ses.c): the user data of CONNECT / ACCEPT / FINISH ...
SES_USER_DATA = 0xC1
SES_EXTENDED_USER_DATA = 0xC2

# bounds of the walk: items looked at in one constructed value, names kept from one GetNameList response
MAX_ITEMS = 64
MAX_NAMES = 256
MAX_NAME = 64          # MMS Identifier: at most 32 characters (ISO 9506-2 7.5.2); IEC 61850 object references 64
MAX_PENDING = 64       # confirmed requests waiting for their response, by invokeID
