"""PNIO-CM messages -> facts (IEC 61158-6-10). Identity goes to the shared fields; the rest is ``pnio_*``.

* Connect request: the requester is the IO controller (role_hint plc, ``name`` = CMInitiatorStationName,
  ``pnio_cm_mac`` = CMInitiatorMacAdd); the ExpectedSubmoduleBlockReq describes the device's configuration
  as the controller expects it: components ``slot:N`` (``pnio_module_ident``) and ``slot:N/subslot:M``
  (``pnio_submodule_ident``) of the IO device; the IOCRBlockReq FrameIDs (input: device -> controller).
* Connect response: the responder is the IO device (role_hint io-device, ``name`` = CMResponderStationName of
  the ARServerBlock, ``pnio_cm_mac`` = CMResponderMacAdd), the IOCRBlockRes FrameIDs, and the ModuleDiffBlock:
  what differs from the expected configuration (``pnio_module_state`` on the component).
* Read response: I&M0 (record 0xAFF0) -> ``vendor`` (PNO vendor table of pndcp, else the number),
  ``order_number``, ``serial``, ``hardware_version``, ``firmware``; of the device when read at slot 0 (the
  access point), else of the component ``slot:N/subslot:M``. I&M0FilterData (0xF840) -> the components.
* The object UUID of a PNIO call (DEA00000-6C97-11D1-8271-{instance}{device id}{vendor id}) names the callee's
  vendor and device id (``pnio_vendor_id``, ``pnio_device_id``, and ``vendor`` when the id is in the table).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from otscope.dissectors.pndcp.vendors import vendor_name
from otscope.dissectors.pnio.constants import IOCR_TYPES, MAX_COMPONENTS, MODULE_STATES
from otscope.dissectors.pnio.grammar import CmMessage, Submodule, device_ids

if TYPE_CHECKING:
    from otscope.dissectors.pnio.dissector import PnioCmDissector


def _component(s: Submodule) -> str:
    return f"slot:{s.slot}" if s.subslot is None else f"slot:{s.slot}/subslot:{s.subslot}"


def _components(d: PnioCmDissector, subs: list[Submodule], who: int, msg: str, frame: int, ts: float) -> None:
    for s in subs[:MAX_COMPONENTS]:
        comp = _component(s)
        if s.subslot is None:
            d.fact(who, "pnio_module_ident", f"0x{s.module_ident:08x}", msg, frame, ts, component=comp)
            # a module in a slot of an IO device is I/O, not a controller (the collector's default for a slot)
            d.fact(who, "role_hint", "io-device", f"{msg}: a module of the IO device", frame, ts, component=comp)
        else:
            d.fact(who, "pnio_submodule_ident", f"0x{s.submodule_ident or 0:08x}", msg, frame, ts, component=comp)
        if s.state is not None:
            d.fact(who, "pnio_module_state", MODULE_STATES.get(s.state, f"0x{s.state:04x}") if s.subslot is None
                   else f"0x{s.state:04x}", msg, frame, ts, component=comp)


def _iocrs(d: PnioCmDissector, m: CmMessage, device: int, msg: str, frame: int, ts: float) -> None:
    for iocr_type, frame_id in m.iocrs[:8]:
        kind = IOCR_TYPES.get(iocr_type, f"0x{iocr_type:04x}")
        # input CR: the IO device provides (sends) it; output CR: the controller does
        sender = device if iocr_type in (1, 3) else 1 - device
        d.fact(sender, "pnio_iocr", f"0x{frame_id:04x} {kind} (sent by this end)", msg, frame, ts)


def connect_request(d: PnioCmDissector, m: CmMessage, ioc: int, device: int, msg: str, frame: int,
                    ts: float) -> None:
    d.fact(ioc, "role_hint", "plc", f"{msg}: sends the Connect request (IO controller)", frame, ts)
    d.fact(ioc, "name", m.initiator_station, msg + " CMInitiatorStationName", frame, ts)
    d.fact(ioc, "pnio_cm_mac", m.initiator_mac, msg + " CMInitiatorMacAdd", frame, ts)
    d.fact(device, "role_hint", "io-device", f"{msg}: the IO device a controller connects to", frame, ts)
    _iocrs(d, m, device, msg, frame, ts)
    _components(d, m.expected, device, msg + " ExpectedSubmoduleBlockReq", frame, ts)


def connect_response(d: PnioCmDissector, m: CmMessage, device: int, msg: str, frame: int, ts: float) -> None:
    d.fact(device, "role_hint", "io-device", f"{msg}: answers the Connect (IO device)", frame, ts)
    d.fact(device, "name", m.responder_station, msg + " ARServerBlock CMResponderStationName", frame, ts)
    d.fact(device, "pnio_cm_mac", m.responder_mac, msg + " CMResponderMacAdd", frame, ts)
    _iocrs(d, m, device, msg, frame, ts)
    _components(d, m.module_diff, device, msg + " ModuleDiffBlock", frame, ts)


def read_response(d: PnioCmDissector, m: CmMessage, device: int, msg: str, frame: int, ts: float) -> None:
    if m.im0 is not None and m.read is not None:
        i = m.im0
        _api, slot, subslot, _index = m.read
        comp = None if slot == 0 else f"slot:{slot}/subslot:{subslot}"
        msg = f"{msg} I&M0 (slot {slot}/0x{subslot:04x})"
        d.fact(device, "pnio_vendor_id", f"0x{i.vendor_id:04x}", msg, frame, ts, component=comp)
        d.fact(device, "vendor", vendor_name(i.vendor_id) or "", msg, frame, ts, component=comp)
        d.fact(device, "order_number", i.order_id, msg, frame, ts, component=comp)
        d.fact(device, "serial", i.serial, msg, frame, ts, component=comp)
        d.fact(device, "hardware_version", str(i.hardware_revision), msg, frame, ts, component=comp)
        d.fact(device, "firmware", i.software_revision, msg, frame, ts, component=comp)
        d.fact(device, "pnio_profile_id", f"0x{i.profile_id:04x}", msg, frame, ts, component=comp)
    if m.filter_data:
        _components(d, m.filter_data, device, msg + " I&M0FilterData", frame, ts)


def object_uuid(d: PnioCmDissector, obj: uuid.UUID, callee: int, msg: str, frame: int, ts: float) -> None:
    ids = device_ids(obj)
    if ids is None:
        return
    vendor, device, _instance = ids
    msg = f"{msg}: object UUID {obj}"
    d.fact(callee, "pnio_vendor_id", f"0x{vendor:04x}", msg, frame, ts)
    d.fact(callee, "pnio_device_id", f"0x{device:04x}", msg, frame, ts)
    d.fact(callee, "vendor", vendor_name(vendor) or "", msg, frame, ts)

