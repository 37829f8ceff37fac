"""DNP3 messages -> facts: group 0 device attributes of an outstation (IEEE 1815 annex A.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Malformed, Truncated, text
from otscope.dissectors.dnp3.constants import ATTRIBUTE_FIELDS, AttributeType, DeviceAttribute, Dnp3Anomaly
from otscope.dissectors.dnp3.grammar import Attribute, parse_device_attributes

if TYPE_CHECKING:
    from otscope.dissectors.dnp3.dissector import Dnp3Dissector


def attribute_text(a: Attribute) -> str:
    """An attribute's value as text: strings as they are (bounded, printable), integers in decimal, anything
    else as hex (its data type kept in the field name by the caller)."""
    if a.data_type == AttributeType.VSTR or (a.data_type == AttributeType.OSTR and
                                              all(0x20 <= b < 0x7F for b in a.value)):
        return text(a.value)
    if a.data_type in (AttributeType.UINT, AttributeType.INT) and 0 < len(a.value) <= 8:
        return str(int.from_bytes(a.value, "little", signed=a.data_type == AttributeType.INT))
    return a.value.hex()[:128]


def _message(variation: int) -> str:
    try:
        name = DeviceAttribute(variation).name.lower().replace("_", " ")
    except ValueError:
        name = "attribute"
    return f"DNP3 group 0 variation {variation} ({name})"


def device_attributes(d: Dnp3Dissector, objects: bytes, who: int, ts: float, frame: int) -> None:
    """A response's group 0 objects: point 0 describes the outstation itself (A.1); other points (sets of
    user-specific attributes) are kept by number."""
    try:
        attrs = parse_device_attributes(objects)
    except (Truncated, Malformed):
        d.anomaly(Dnp3Anomaly.MALFORMED_DEVICE_ATTRIBUTE, frame, ts)
        return
    for a in attrs:
        d.count("device attributes")
        value = attribute_text(a)
        field = ATTRIBUTE_FIELDS.get(a.variation) if a.index == 0 else None   # type: ignore[call-overload]
        if field is None:
            field = f"dnp3_attribute_{a.variation}" + (f"_set{a.index}" if a.index else "")
        d.fact(who, field, value, _message(a.variation), frame, ts)
