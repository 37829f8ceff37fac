"""MMS PDUs -> facts and the function profile: Identify (vendor, model, revision), GetNameList of domains
(IEC 61850 logical devices and the IED name they carry), Initiate parameters, program/domain control services.
Every fact is credited to the frame that carried its value and to the end that sent it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Who
from otscope.dissectors.s7.constants import S7Anomaly
from otscope.dissectors.s7.mms import MmsPdu, NameList, common_prefix
from otscope.dissectors.s7.mms_constants import CONTROL_SERVICES, MAX_PENDING, ConfirmedService, MmsPduType, \
    ObjectClass, UnconfirmedService

if TYPE_CHECKING:
    from otscope.dissectors.s7.dissector import S7Dissector

MMS = "mms"
MAX_SEEN = 128          # identity values already reported on this flow (each is reported once per flow)


def service_name(number: int | None) -> str:
    """A confirmed service's profile key; an unknown tag keeps its number."""
    if number is None:
        return "no service"
    if number in ConfirmedService._value2member_map_:
        return ConfirmedService(number).name.lower()
    return f"service {number}"


def unconfirmed_name(number: int | None) -> str:
    if number == UnconfirmedService.INFORMATION_REPORT:
        return "report"                                # IEC 61850 reports travel as InformationReport (8.1 14.4)
    if number in UnconfirmedService._value2member_map_:
        return UnconfirmedService(number).name.lower()
    return f"unconfirmed service {number}"


def _once(d: S7Dissector, who: int, field: str, value: str, msg: str, frame: int, ts: float) -> None:
    key = (who, field, value)
    if key in d.mms_seen:
        return
    if len(d.mms_seen) < MAX_SEEN:
        d.mms_seen.add(key)
    d.fact(who, field, value, msg, frame, ts, protocol=MMS)


def pdu(d: S7Dissector, p: MmsPdu, side: int, ts: float, frame: int) -> None:
    """One decoded MMS PDU from ``side`` (0 the connection's initiator, 1 the responder)."""
    who = Who.SERVER if side == 1 else Who.CLIENT
    kind = p.kind
    if kind == MmsPduType.CONFIRMED_REQUEST:
        _request(d, p, who, ts, frame)
    elif kind == MmsPduType.CONFIRMED_RESPONSE:
        d.count(f"{service_name(p.service)} response")
        _response(d, p, who, ts, frame)
    elif kind == MmsPduType.CONFIRMED_ERROR:
        d.mms_pending.pop(p.invoke_id, None)
        d.count("confirmed error")
    elif kind == MmsPduType.UNCONFIRMED:
        d.count(unconfirmed_name(p.service))
    else:
        d.count(MmsPduType(kind).name.lower().replace("_", " "))
    if p.initiate is not None:
        msg = f"MMS {'Initiate-Request' if kind == MmsPduType.INITIATE_REQUEST else 'Initiate-Response'}"
        if p.initiate.version is not None:
            _once(d, who, "mms_version", str(p.initiate.version), msg, frame, ts)
        if p.initiate.local_detail is not None:
            _once(d, who, "mms_max_pdu_size", str(p.initiate.local_detail), msg, frame, ts)


def _request(d: S7Dissector, p: MmsPdu, who: int, ts: float, frame: int) -> None:
    d.count(service_name(p.service))
    if p.name_list_request is not None and p.invoke_id is not None:
        pending = d.mms_pending
        if p.invoke_id not in pending and len(pending) >= MAX_PENDING:
            d.anomaly(S7Anomaly.PENDING_REQUESTS_CAP, frame, ts)
            return
        pending[p.invoke_id] = p.name_list_request.object_class
    what = CONTROL_SERVICES.get(p.service) if p.service is not None else None     # type: ignore[call-overload]
    if what is not None:
        msg = f"MMS {service_name(p.service)} request"
        peer = Who.SERVER if who == Who.CLIENT else Who.CLIENT
        _once(d, peer, "control_action", what, msg, frame, ts)
        _once(d, who, "role_hint", "engineering-workstation", f"{msg} ({what})", frame, ts)


def _response(d: S7Dissector, p: MmsPdu, who: int, ts: float, frame: int) -> None:
    asked = d.mms_pending.pop(p.invoke_id, None) if p.invoke_id is not None else None
    if p.identify is not None:
        msg = "MMS Identify response"
        i = p.identify
        _once(d, who, "vendor", i.vendor, f"{msg} (vendorName)", frame, ts)
        _once(d, who, "model", i.model, f"{msg} (modelName)", frame, ts)
        _once(d, who, "product", i.model, f"{msg} (modelName)", frame, ts)
        _once(d, who, "firmware", i.revision, f"{msg} (revision)", frame, ts)
    elif p.name_list is not None and asked == ObjectClass.DOMAIN:
        _domains(d, p.name_list, who, ts, frame)


def _domains(d: S7Dissector, names: NameList, who: int, ts: float, frame: int) -> None:
    """A GetNameList response to a request for domains: in IEC 61850 each domain is a logical device
    (IEC 61850-8-1 8.1.2), named IEDName + LDInst. The IED name is taken only from a complete list."""
    msg = "MMS GetNameList response (domains)"
    for name in names.names:
        _once(d, who, "iec61850_ld", name, msg, frame, ts)
    if not names.more_follows:
        ied = common_prefix(names.names)
        if ied is not None:
            _once(d, who, "name", ied, f"{msg}: the common prefix of the logical-device names (IEDName)", frame, ts)
