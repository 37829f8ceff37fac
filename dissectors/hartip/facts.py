"""HART command responses -> facts about the HART device that answered.

Identity fields the collector reads: ``model`` = the expanded device type (a number: no device-description table
here), ``firmware`` = the device software revision, ``serial`` = the device id (unique per manufacturer and
device type, HCF_SPEC-127 cmd 0 byte 9), ``name`` = the long tag (cmd 20) or the tag (cmd 13) when it is not
blank. The manufacturer id stays a number (``hart_manufacturer_id``): Wireshark's packet-hartip.c carries no
manufacturer table to confirm names against. A packed-ASCII field of all '@' (zero bytes) or spaces is blank.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Who
from otscope.dissectors.hartip.grammar import Identity, TagDescriptor

if TYPE_CHECKING:
    from otscope.dissectors.hartip.dissector import HartIpTcp


def blank(s: str) -> bool:
    return not s.strip(" @")


def identity(d: HartIpTcp, ident: Identity, comp: str | None, msg: str, frame: int, ts: float) -> None:
    f = d.fact
    who = Who.SERVER
    f(who, "hart_device_type", f"0x{ident.expanded_device_type:04x}", msg, frame, ts, comp)
    f(who, "model", f"0x{ident.expanded_device_type:04x}", msg, frame, ts, comp)
    f(who, "hart_device_id", ident.device_id, msg, frame, ts, comp)
    f(who, "serial", ident.device_id, msg, frame, ts, comp)
    f(who, "firmware", str(ident.software_revision), msg, frame, ts, comp)
    f(who, "hart_software_revision", str(ident.software_revision), msg, frame, ts, comp)
    f(who, "hart_device_revision", str(ident.device_revision), msg, frame, ts, comp)
    f(who, "hart_hardware_revision", str(ident.hardware_revision), msg, frame, ts, comp)
    f(who, "hart_universal_revision", str(ident.universal_revision), msg, frame, ts, comp)
    if ident.manufacturer_id is not None:
        f(who, "hart_manufacturer_id", str(ident.manufacturer_id), msg, frame, ts, comp)
    if ident.private_label is not None and ident.private_label != ident.manufacturer_id:
        f(who, "hart_private_label", str(ident.private_label), msg, frame, ts, comp)


def tag_descriptor(d: HartIpTcp, td: TagDescriptor, comp: str | None, msg: str, frame: int, ts: float) -> None:
    d.fact(Who.SERVER, "hart_tag", td.tag, msg, frame, ts, comp)
    d.fact(Who.SERVER, "hart_descriptor", td.descriptor, msg, frame, ts, comp)
    if 1 <= td.day <= 31 and 1 <= td.month <= 12:       # 0/0/0 (as in the public capture) is no date
        d.fact(Who.SERVER, "hart_date", f"{td.year:04d}-{td.month:02d}-{td.day:02d}", msg, frame, ts, comp)
    if not blank(td.tag):
        d.fact(Who.SERVER, "name", td.tag.strip(), msg, frame, ts, comp)
    if not blank(td.descriptor):
        d.fact(Who.SERVER, "description", td.descriptor.strip(), msg, frame, ts, comp)


def message(d: HartIpTcp, text: str, comp: str | None, msg: str, frame: int, ts: float) -> None:
    d.fact(Who.SERVER, "hart_message", text, msg, frame, ts, comp)


def long_tag(d: HartIpTcp, tag: str, comp: str | None, msg: str, frame: int, ts: float) -> None:
    d.fact(Who.SERVER, "hart_long_tag", tag, msg, frame, ts, comp)
    if not blank(tag):
        d.fact(Who.SERVER, "name", tag.strip(), msg, frame, ts, comp)
