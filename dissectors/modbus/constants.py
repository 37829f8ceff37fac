"""Modbus codes (Modbus Application Protocol Specification V1.1b3, sections 6 and 7; MODBUS Messaging on
TCP/IP Implementation Guide V1.0b, section 3.1.3 for the MBAP header)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from otscope.domain import cap_anomaly

MBAP_LEN = 7
MAX_PDU = 253
MODBUS_PORT = 502


class ModbusAnomaly(StrEnum):
    """What the Modbus dissector counts as an anomaly (the values reach the collector as they are)."""

    BAD_MBAP_LENGTH = "bad-mbap-length"             # MBAP length outside 2..254 after confirmation (MIG 3.1.3)
    BAD_FRAMING = "bad-framing"                     # MBAP protocol id not 0 after confirmation
    PENDING_TRANSACTIONS_CAP = cap_anomaly("pending_transactions")
    RESPONSE_FUNCTION_MISMATCH = "response-function-mismatch"   # answer's function is not its request's
    REQUEST_WITH_EXCEPTION_BIT = "request-with-exception-bit"   # a request with function code > 127 (spec 7)
    MALFORMED_DEVICE_ID_REQUEST = "malformed-device-id-request"     # FC43/14 request (spec 6.21)
    MALFORMED_DEVICE_ID_RESPONSE = "malformed-device-id-response"   # FC43/14 response
    MALFORMED_REPORT_SERVER_ID = "malformed-report-server-id"       # FC17 response (spec 6.17)
    MALFORMED_UMAS_REQUEST = "malformed-umas-request"           # FC90 request without its UMAS function code


class UmasFunction(IntEnum):
    """UMAS (Modbus FC 90) function codes that change what a Modicon controller runs, as the UMAS Wireshark
    dissector names them (github.com/hutcheb/umas-dissector, packet-umas.h: START_PLC, STOP_PLC,
    INITIALIZE_DOWNLOAD ...). Request PDU: 0x5A, pairing key (1), UMAS function code (1), data."""

    INITIALIZE_UPLOAD = 0x30
    UPLOAD_BLOCK = 0x31
    END_STRATEGY_UPLOAD = 0x32
    INITIALIZE_DOWNLOAD = 0x33
    DOWNLOAD_BLOCK = 0x34
    END_STRATEGY_DOWNLOAD = 0x35
    START_PLC = 0x40
    STOP_PLC = 0x41


# UMAS request -> the control action it is (one value per action: the frames of one download join one event)
UMAS_ACTIONS = {
    UmasFunction.START_PLC: "start PLC (UMAS)", UmasFunction.STOP_PLC: "stop PLC (UMAS)",
    UmasFunction.INITIALIZE_DOWNLOAD: "program download (UMAS)", UmasFunction.DOWNLOAD_BLOCK: "program download (UMAS)",
    UmasFunction.END_STRATEGY_DOWNLOAD: "program download (UMAS)",
    UmasFunction.INITIALIZE_UPLOAD: "program upload (UMAS)", UmasFunction.UPLOAD_BLOCK: "program upload (UMAS)",
    UmasFunction.END_STRATEGY_UPLOAD: "program upload (UMAS)",
}


class FunctionCode(IntEnum):
    READ_COILS = 1
    READ_DISCRETE_INPUTS = 2
    READ_HOLDING_REGISTERS = 3
    READ_INPUT_REGISTERS = 4
    WRITE_SINGLE_COIL = 5
    WRITE_SINGLE_REGISTER = 6
    READ_EXCEPTION_STATUS = 7
    DIAGNOSTICS = 8
    GET_COMM_EVENT_COUNTER = 11
    GET_COMM_EVENT_LOG = 12
    WRITE_MULTIPLE_COILS = 15
    WRITE_MULTIPLE_REGISTERS = 16
    REPORT_SERVER_ID = 17
    READ_FILE_RECORD = 20
    WRITE_FILE_RECORD = 21
    MASK_WRITE_REGISTER = 22
    READ_WRITE_MULTIPLE_REGISTERS = 23
    READ_FIFO_QUEUE = 24
    ENCAPSULATED_INTERFACE = 43
    UMAS = 90                                  # Schneider Electric's engineering protocol (Unity/EcoStruxure)


class Mei(IntEnum):
    CANOPEN_GENERAL_REFERENCE = 13
    READ_DEVICE_IDENTIFICATION = 14


class ReadDeviceIdCode(IntEnum):
    BASIC = 1
    REGULAR = 2
    EXTENDED = 3
    INDIVIDUAL = 4


class ExceptionCode(IntEnum):
    ILLEGAL_FUNCTION = 1
    ILLEGAL_DATA_ADDRESS = 2
    ILLEGAL_DATA_VALUE = 3
    SERVER_DEVICE_FAILURE = 4
    ACKNOWLEDGE = 5
    SERVER_DEVICE_BUSY = 6
    MEMORY_PARITY_ERROR = 8
    GATEWAY_PATH_UNAVAILABLE = 10
    GATEWAY_TARGET_FAILED = 11


# Device identification objects (spec 6.21, table "Object Id") -> inventory field
DEVICE_ID_FIELDS = {
    0x00: "vendor",            # VendorName
    0x01: "product_code",      # ProductCode
    0x02: "firmware",          # MajorMinorRevision
    0x03: "vendor_url",        # VendorUrl
    0x04: "product",           # ProductName
    0x05: "model",             # ModelName
    0x06: "application_name",  # UserApplicationName
}

# Function-code profile categories for the communications report
READS = frozenset({1, 2, 3, 4, 7, 20, 24})
WRITES = frozenset({5, 6, 15, 16, 21, 22, 23})
DIAGNOSTICS = frozenset({8, 11, 12, 17, 43})
PROFILE_CATEGORY = {fc: ("read" if fc in READS else "write" if fc in WRITES else "diagnostic" if fc in DIAGNOSTICS
                         else "umas" if fc == 90 else "other") for fc in range(1, 128)}
