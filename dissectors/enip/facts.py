"""EtherNet/IP + CIP messages -> facts (identity, roles, control actions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Who
from otscope.dissectors.enip.constants import device_type_name, device_type_role, vendor_name
from otscope.dissectors.enip.grammar import Identity

if TYPE_CHECKING:
    from otscope.dissectors.base import Dissector


def component_of(route: list[tuple[int, str]]) -> str | None:
    """A route port/link target behind the IP (port 1 = backplane, link = slot) becomes a child asset."""
    if not route:
        return None
    return "/".join(f"slot:{link}" if port == 1 else f"port:{port}:{link}" for port, link in route)[:64]


def identity(d: Dissector, ident: Identity, message: str, ts: float, frame: int, component: str | None = None,
             who: int = Who.SERVER) -> None:
    def f(field: str, value: str) -> None:
        d.fact(who, field, value, message, frame, ts, component)

    f("cip_vendor_id", str(ident.vendor_id))
    name = vendor_name(ident.vendor_id)
    if name:
        f("vendor", name)
    f("cip_device_type", str(ident.device_type))
    f("product_code", str(ident.product_code))
    f("firmware", f"{ident.revision[0]}.{ident.revision[1]}")
    f("serial", f"0x{ident.serial:08x}")
    f("product", ident.product_name)
    f("cip_status", f"0x{ident.status:04x}")
    if ident.state is not None:
        f("cip_state", f"0x{ident.state:02x}")
    if ident.socket_ip is not None:
        f("cip_socket_address", f"{ident.socket_ip}:{ident.socket_port}")
    device_type_facts(d, ident.device_type, message, ts, frame, component, who, emit_number=False)


def device_type_facts(d: Dissector, dtype: int, message: str, ts: float, frame: int, component: str | None,
                      who: int = Who.SERVER, emit_number: bool = True) -> None:
    """The device type (Identity attribute 2) by name, and the role it implies, with the type as evidence."""
    name = device_type_name(dtype)
    if emit_number:
        d.fact(who, "cip_device_type", str(dtype), message, frame, ts, component)
    d.fact(who, "device_type", name, message, frame, ts, component)
    role = device_type_role(dtype)
    if role is not None:
        d.fact(who, "role_hint", role.value, f"{message}: CIP device type {dtype} ({name})", frame, ts, component)


def identity_attribute(d: Dissector, attr: int, data: bytes, message: str, ts: float, frame: int,
                       component: str | None) -> None:
    """Get_Attribute_Single on the Identity object: one attribute at a time."""
    from otscope.dissectors.base import Reader, text

    r = Reader(data)
    if attr == 1 and len(data) >= 2:
        vid = r.u16le()
        d.fact(Who.SERVER, "cip_vendor_id", str(vid), message, frame, ts, component)
        name = vendor_name(vid)
        if name:
            d.fact(Who.SERVER, "vendor", name, message, frame, ts, component)
    elif attr == 2 and len(data) >= 2:
        device_type_facts(d, r.u16le(), message, ts, frame, component)
    elif attr == 3 and len(data) >= 2:
        d.fact(Who.SERVER, "product_code", str(r.u16le()), message, frame, ts, component)
    elif attr == 4 and len(data) >= 2:
        d.fact(Who.SERVER, "firmware", f"{data[0]}.{data[1]}", message, frame, ts, component)
    elif attr == 6 and len(data) >= 4:
        d.fact(Who.SERVER, "serial", f"0x{r.u32le():08x}", message, frame, ts, component)
    elif attr == 7 and len(data) >= 1:
        d.fact(Who.SERVER, "product", text(data[1:1 + data[0]]), message, frame, ts, component)
