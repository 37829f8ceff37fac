"""BACnet messages -> facts about the device that sent them (the sender of a datagram, or the device behind it:
``component`` ``bacnet:<net>:<mac hex>`` for a routed source, SNET/SADR 6.2.2; ``bacnet:fwd:<mac hex>`` for the
original source of a BBMD's Forwarded-NPDU, J.2.9, whose 6-octet B/IP address is its MAC on the BACnet/IP
network).

Identity fields: I-Am (16.10.3) gives the device instance (``bacnet_instance``), the vendor identifier kept as
``bacnet_vendor_id`` and resolved to the ASHRAE name (``vendor``) through vendors.tsv, max APDU and
segmentation. ReadProperty / ReadPropertyMultiple ACKs on the device object (12.11): object-name -> ``name``,
vendor-name -> ``vendor``, model-name -> ``product``, firmware-revision -> ``firmware``, serial-number ->
``serial``, description -> ``description``; application-software-version and location as ``bacnet_*`` only.
Strings are decoded with their character set and bounded (``clean``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.bacnet.constants import (DEVICE_OBJECT, IDENTITY_PROPERTIES, WILDCARD_INSTANCE, Property,
                                                 Segmentation, name_of, vendor_name)
from otscope.dissectors.bacnet.grammar import CharString, IAm, IHave, PropertyValue, Value

if TYPE_CHECKING:
    from otscope.dissectors.bacnet.dissector import BacnetIp

LIMIT = 128


def clean(s: str, limit: int = LIMIT) -> str:
    """A wire string bounded and printable (as dissectors.base.text does for bytes): cut at a NUL, control
    characters replaced, trimmed."""
    s = s.split("\x00", 1)[0]
    s = "".join(ch if ch.isprintable() else "\ufffd" for ch in s).strip()
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def value_text(v: Value) -> str:
    if isinstance(v, CharString):
        return clean(v.text) if v.text is not None else ""
    if isinstance(v, bool) or v is None:
        return ""
    if isinstance(v, bytes):
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return clean(str(v))


def i_am(d: BacnetIp, who: int, ia: IAm, comp: str | None, msg: str, frame: int, ts: float) -> None:
    f = d.fact
    f(who, "bacnet_instance", str(ia.device.instance), msg, frame, ts, comp)
    f(who, "bacnet_vendor_id", str(ia.vendor_id), msg, frame, ts, comp)
    f(who, "vendor", vendor_name(ia.vendor_id), msg, frame, ts, comp)
    f(who, "bacnet_max_apdu", str(ia.max_apdu), msg, frame, ts, comp)
    f(who, "bacnet_segmentation", name_of(Segmentation, ia.segmentation), msg, frame, ts, comp)


def i_have(d: BacnetIp, who: int, ih: IHave, comp: str | None, msg: str, frame: int, ts: float) -> None:
    d.fact(who, "bacnet_instance", str(ih.device.instance), msg, frame, ts, comp)
    name = clean(ih.name.text) if ih.name.text is not None else ""
    d.fact(who, "bacnet_has_object", f"{ih.object} {name}".strip(), msg, frame, ts, comp)


def device_property(d: BacnetIp, who: int, pv: PropertyValue, comp: str | None, msg: str, frame: int,
                    ts: float) -> None:
    """A device object's property value: its identity fields (other objects and properties: nothing)."""
    if pv.object.type != DEVICE_OBJECT or pv.property not in IDENTITY_PROPERTIES or not pv.values:
        return
    v = pv.values[0]
    own, shared = IDENTITY_PROPERTIES[pv.property]
    if pv.property == Property.VENDOR_IDENTIFIER:
        if isinstance(v, int) and not isinstance(v, bool):
            d.fact(who, "bacnet_vendor_id", str(v), msg, frame, ts, comp)
            d.fact(who, "vendor", vendor_name(v), msg, frame, ts, comp)
        return
    if not isinstance(v, CharString):
        return
    s = value_text(v)
    if not s:
        return
    if pv.object.instance != WILDCARD_INSTANCE:        # "this device" echoed back names no instance
        d.fact(who, "bacnet_instance", str(pv.object.instance), msg, frame, ts, comp)
    d.fact(who, own, s, msg, frame, ts, comp)
    if shared:
        d.fact(who, shared, s, msg, frame, ts, comp)
