"""DNS record types read here (RFC 1035 3.2.2, RFC 3596 AAAA, RFC 2782 SRV), ports, anomalies."""

from __future__ import annotations

from enum import IntEnum, StrEnum

MDNS_PORT, LLMNR_PORT = 5353, 5355


class RType(IntEnum):
    A = 1
    PTR = 12
    TXT = 16
    AAAA = 28
    SRV = 33


ADDRESS_TYPES = frozenset({RType.A, RType.AAAA})
MAX_SERVICES = 8               # service types kept per message
# TXT keys that state the device's own model ([Bonjour] _device-info._tcp "model=", IPP Everywhere / Bonjour
# Printing "ty=", "usb_MFG=", "usb_MDL=", "product=")
TXT_FIELDS = {b"model": "mdns_model", b"ty": "mdns_printer_type", b"usb_mfg": "vendor", b"usb_mdl": "product",
              b"product": "mdns_product"}


class MdnsAnomaly(StrEnum):
    BAD_MESSAGE = "bad-message"              # detail: truncated / malformed
    NAME_LOOP = "name-pointer-loop"          # a compression pointer that does not point backwards
