"""What to ask whom, and why: a plan of named steps built from the inventory, sending nothing.

Targets come from the coverage report's gap list (``--gaps``) or from listed addresses and ranges
(``--targets``); only addresses inside an ``--allow`` range are planned, and only with the protocols the device
was already seen speaking as a server (``--force IP=PROTO`` adds one for one target). Each protocol's steps use
what the passive inventory knows: Modbus unit ids behind a gateway, CIP backplane slots, the S7 rack/slot.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from otscope.active.guard import Proto
from otscope.active.requests import DEFAULT_PORTS, MAX_SLOTS, READ_CODE_NAMES, Kind, Step
from otscope.active.safety import Refused
from otscope.collector.models import Address, Asset, Communication, Fact
from otscope.dissectors.base import Protocol

COTP = Protocol.COTP.value

MAX_TARGETS = 1024                # addresses one plan may name (a /22): a typo'd /8 is refused, not walked
MODBUS_SELF = 255                 # unit id of the device itself (MODBUS Messaging on TCP/IP Impl. Guide 4.4.1.1)
S7_DEFAULT = (0, 2)               # rack 0 slot 2: the CPU of an S7-300 rack, when no TSAP was seen
# the labels the passive dissectors give a server of each protocol, and their conversations' labels (an S7 flow
# seen only as far as COTP is labelled by COTP: dissectors/s7)
SERVER_LABELS = {f"{p.value}-server": p for p in Proto} | {f"{COTP}-server": Proto.S7}
COMM_LABELS = {p.value: p for p in Proto} | {COTP: Proto.S7}
PROTO_NAMES = {p.value: p for p in Proto} | {"s7": Proto.S7}
PROTO_LIST = ", ".join(p.value for p in Proto)
_RACK_SLOT = re.compile(r"rack (\d+) slot (\d+)")


@dataclass(frozen=True, slots=True)
class Refusal:
    target: str
    reason: str


@dataclass(slots=True)
class Plan:
    steps: list[Step] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def sessions(self) -> Iterator[tuple[tuple[str, int, Proto], list[Step]]]:
        """Steps grouped into connections, in plan order: one per (target, port, protocol), and one per S7
        rack/slot (the TSAP is chosen when the connection opens)."""
        groups: dict[tuple, list[Step]] = {}
        for st in self.steps:
            rs = (st.rack, st.slot) if st.proto is Proto.S7 else None
            groups.setdefault((st.target, st.port, st.proto, rs), []).append(st)
        for (target, port, proto, _rs), steps in groups.items():
            yield (target, port, proto), steps

    def as_dict(self) -> dict:
        return {"steps": [s.as_dict() for s in self.steps],
                "refused": [{"target": r.target, "reason": r.reason} for r in self.refused]}

    def lines(self) -> list[str]:
        """The exact plan, one request a line (what --dry-run prints)."""
        out = [f"{'target':<16} {'port':>5}  {'protocol':<8} {'request':<74} why"]
        for s in self.steps:
            out.append(f"{s.target:<16} {s.port:>5}  {s.proto.value:<8} {s.request():<74} {s.why}")
        for r in self.refused:
            out.append(f"{r.target:<16} {'-':>5}  {'-':<8} {'NOT SENT':<74} {r.reason}")
        return out


# --- inputs --------------------------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: Iterable[str], what: str) -> list[Network]:
    nets = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise Refused(f"{what} {item!r}: not an IP address or CIDR range") from None
    return nets


def expand(nets: Iterable[Network]) -> list[str]:
    """Every host address of the ranges (a /32 or a single address is itself), bounded by MAX_TARGETS."""
    out: list[str] = []
    seen: set[str] = set()
    for net in nets:
        hosts = [net.network_address] if net.num_addresses == 1 else net.hosts()
        for h in hosts:
            ip = str(h)
            if ip not in seen:
                seen.add(ip)
                out.append(ip)
                if len(out) > MAX_TARGETS:
                    raise Refused(f"more than {MAX_TARGETS} target addresses: name smaller ranges")
    return out


def parse_force(items: Iterable[str]) -> dict[str, set[Proto]]:
    """``IP=PROTO[,PROTO]`` -> the protocols tried on that target even though it was not seen speaking them."""
    out: dict[str, set[Proto]] = {}
    for item in items:
        ip, _, protos = item.partition("=")
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise Refused(f"--force {item!r}: expected IP=PROTO[,PROTO] ({PROTO_LIST})") from None
        names = [p.strip().lower() for p in protos.split(",") if p.strip()]
        if not names or any(n not in PROTO_NAMES for n in names):
            raise Refused(f"--force {item!r}: the protocols are {PROTO_LIST}")
        out.setdefault(ip, set()).update(PROTO_NAMES[n] for n in names)
    return out


# --- what the inventory knows about an address ----------------------------------------------------------------

@dataclass(slots=True)
class DeviceView:
    ip: str
    protocols: set[Proto] = field(default_factory=set)
    units: set[int] = field(default_factory=set)
    slots: set[int] = field(default_factory=set)
    rack_slots: set[tuple[int, int]] = field(default_factory=set)
    ports: dict[Proto, int] = field(default_factory=dict)


def _component_number(comp: str | None, prefix: str) -> int | None:
    if comp and comp.startswith(prefix):
        head = comp[len(prefix):].split("/", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def device_view(s: Session, ip: str) -> DeviceView:
    v = DeviceView(ip)
    ids = sorted(set(s.scalars(select(Address.asset_id).where(Address.kind == "ip", Address.value == ip))))
    if not ids:
        return v
    kids = list(s.execute(select(Asset.id, Asset.component).where(Asset.parent_id.in_(ids))))
    comps = [c for _i, c in kids]
    all_ids = ids + [i for i, _c in kids]
    for field_, value, comp in s.execute(select(Fact.field, Fact.value, Fact.component)
                                         .where(Fact.asset_id.in_(all_ids),
                                                Fact.field.in_(("protocol", "s7_rack_slot")))):
        comps.append(comp)
        if field_ == "protocol" and value in SERVER_LABELS:
            v.protocols.add(SERVER_LABELS[value])
        elif field_ == "s7_rack_slot":
            m = _RACK_SLOT.fullmatch(value)
            if m:
                v.rack_slots.add((int(m.group(1)), int(m.group(2))))
    for comp in comps:
        unit = _component_number(comp, "unit:")
        if unit is not None and 0 < unit < 248:
            v.units.add(unit)
        slot = _component_number(comp, "slot:")
        if slot is not None and slot < 256:
            v.slots.add(slot)
    for proto, port in s.execute(select(Communication.protocol, Communication.port)
                                 .where(Communication.server_id.in_(ids)).order_by(Communication.packets.desc())):
        p = COMM_LABELS.get(proto)
        if p is not None:
            v.ports.setdefault(p, port)
    return v


def gap_targets(s: Session) -> list[str]:
    """The addresses of the coverage report's gaps (OT devices without vendor, product and firmware)."""
    from otscope.collector.queries import coverage

    out: list[str] = []
    for g in coverage(s)["gaps"]:
        for ip in g["ips"]:
            if ip not in out:
                out.append(ip)
    return out


# --- building ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PlanRequest:
    targets: tuple[str, ...] = ()          # addresses or CIDR ranges (--targets)
    gaps: bool = False                     # the coverage report's gaps (--gaps)
    allow: tuple[str, ...] = ()            # CIDR ranges requests may go to (--allow): required
    force: tuple[str, ...] = ()            # IP=PROTO[,PROTO]
    all_slots: bool = False                # CIP backplane slots 0-16 instead of the slots seen


def build_plan(s: Session, req: PlanRequest) -> Plan:
    if not req.allow:
        raise Refused("nothing is sent without --allow CIDR (the ranges identification may reach)")
    if req.gaps == bool(req.targets):
        raise Refused("give --gaps or --targets IP/CIDR (one of them)")
    allow = parse_networks(req.allow, "--allow")
    force = parse_force(req.force)
    addresses = gap_targets(s) if req.gaps else expand(parse_networks(req.targets, "--targets"))
    plan = Plan()
    for ip in addresses:
        addr = ipaddress.ip_address(ip)
        if not any(addr.version == n.version and addr in n for n in allow):
            plan.refused.append(Refusal(ip, "outside every --allow range"))
            continue
        view = device_view(s, ip)
        forced = force.get(ip, set())
        protos = view.protocols | forced
        if not protos:
            plan.refused.append(Refusal(ip, "not seen speaking Modbus, EtherNet/IP or S7 as a server (add "
                                            "--force IP=PROTO to try anyway)"))
            continue
        for proto in (Proto.MODBUS, Proto.ENIP, Proto.S7):
            if proto in protos:
                seen = "seen" if proto in view.protocols else "forced"
                plan.steps += _steps(proto, view, seen, req.all_slots)
    return plan


def _steps(proto: Proto, v: DeviceView, seen: str, all_slots: bool) -> list[Step]:
    port = v.ports.get(proto, DEFAULT_PORTS[proto])
    how = f"{proto.value}-server {seen}" if seen == "seen" else f"{proto.value} forced by the operator"
    if proto is Proto.MODBUS:
        units = sorted(v.units) or [MODBUS_SELF]
        unit_why = "unit id seen" if v.units else "no unit id seen: 255 addresses the device itself"
        out = []
        for u in units:
            for code in READ_CODE_NAMES:
                out.append(Step(v.ip, port, Kind.MODBUS_DEVICE_ID, f"{how}; {unit_why}; device identification "
                                f"({READ_CODE_NAMES[code]} objects)", unit=u, read_code=code))
            out.append(Step(v.ip, port, Kind.MODBUS_SERVER_ID, f"{how}; {unit_why}; server id text", unit=u))
        return out
    if proto is Proto.ENIP:
        out = [Step(v.ip, port, Kind.ENIP_LIST_IDENTITY, f"{how}; identity of the adapter"),
               Step(v.ip, port, Kind.ENIP_IDENTITY, f"{how}; identity object of the device at the address")]
        slots = list(range(MAX_SLOTS)) if all_slots else sorted(v.slots)
        why = "slots 0-16 asked for" if all_slots else "backplane slot seen"
        out += [Step(v.ip, port, Kind.ENIP_SLOT_IDENTITY, f"{how}; {why}; identity of the module", slot=sl)
                for sl in slots]
        return out
    pairs = sorted(v.rack_slots) or [S7_DEFAULT]
    rs_why = "rack/slot seen in a COTP TSAP" if v.rack_slots else "no TSAP seen: rack 0 slot 2 (S7-300 CPU slot)"
    out = []
    for rack, slot in pairs:
        out.append(Step(v.ip, port, Kind.S7_CONNECT, f"{how}; {rs_why}", rack=rack, slot=slot))
        out.append(Step(v.ip, port, Kind.S7_SZL, f"{how}; module identification (order number, firmware)",
                        rack=rack, slot=slot, szl=0x0011))
        out.append(Step(v.ip, port, Kind.S7_SZL, f"{how}; component identification (names, serial, type)",
                        rack=rack, slot=slot, szl=0x001C))
    return out
