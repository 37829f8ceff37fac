"""UPnP device descriptions in HTTP answers (UPnP Device Architecture 2.0 section 2.3: the document a
control point fetches from the LOCATION an SSDP announcement gives). Passive: otscope reads the document only
when the capture holds such a fetch (an answer of the first segment(s) this package reads), never fetches it.

The root element is ``<root xmlns="urn:schemas-upnp-org:device-1-0">``; its first ``<device>`` carries
deviceType, friendlyName, manufacturer, modelName, modelNumber, modelDescription, serialNumber and UDN (2.3,
"device" element). Read with bounded patterns (no XML parser: the bytes are hostile and often cut at the
segment end), entities of XML 1.0 (4.6, the five predefined and numeric references) resolved; values bounded."""

from __future__ import annotations

import re
from dataclasses import dataclass

from otscope.dissectors.base import text

NAMESPACE = b"urn:schemas-upnp-org:device-1-0"
FIELDS = ("deviceType", "friendlyName", "manufacturer", "modelName", "modelNumber", "modelDescription",
          "serialNumber", "UDN")
MAX_FIELD = 256                 # bytes of one element's text read
_DEVICE = re.compile(rb"<device[\s>]", re.IGNORECASE)
_TAGS = {f: re.compile(rb"<" + f.encode() + rb"\s*>([^<]{0,%d})</" % MAX_FIELD + f.encode() + rb"\s*>")
         for f in FIELDS}
_ENTITY = re.compile(r"&(amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


@dataclass(frozen=True, slots=True)
class UpnpDevice:
    device_type: str = ""
    friendly_name: str = ""
    manufacturer: str = ""
    model_name: str = ""
    model_number: str = ""
    model_description: str = ""
    serial_number: str = ""
    udn: str = ""


def _entity(m: re.Match[str]) -> str:
    name = m.group(1)
    if name in _NAMED:
        return _NAMED[name]
    try:
        cp = int(name[2:], 16) if name.startswith("#x") else int(name[1:])
        return chr(cp) if 0 < cp <= 0x10FFFF else "\ufffd"
    except ValueError:
        return "\ufffd"


def _value(raw: bytes) -> str:
    return text(_ENTITY.sub(_entity, raw.decode("utf-8", "replace")).encode("utf-8"), 128)


def parse_description(body: bytes) -> UpnpDevice | None:
    """The first device of a UPnP device description, None if the body is not one."""
    if NAMESPACE not in body:
        return None
    m = _DEVICE.search(body)
    if m is None:
        return None
    dev = body[m.end():]
    got = {}
    for f, rx in _TAGS.items():
        hit = rx.search(dev)
        if hit:
            got[f] = _value(hit.group(1))
    if not got:
        return None
    return UpnpDevice(got.get("deviceType", ""), got.get("friendlyName", ""), got.get("manufacturer", ""),
                      got.get("modelName", ""), got.get("modelNumber", ""), got.get("modelDescription", ""),
                      got.get("serialNumber", ""), got.get("UDN", ""))
