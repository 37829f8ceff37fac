"""The registry: the list of protocol packages, one line each. Everything that needs to know a protocol reads it.

A package declares itself once (its ``SPEC``, an otscope/domain.py ``ProtocolSpec``): name, transports and
ports or ethertypes, dissector class or frame parser (by import path), the labels it emits, whether it is OT,
its naming rank, the roles it proves, its fast-path layout. From this list come the --dissectors names
(catalog.py), the port tables (agent/flows.py SERVER_PORTS, OT_PORTS), the OT label prefixes and the naming
rank (collector/merge.py), the L2 dispatch (agent/l2.py), the protocol list of the API and the dashboard.

Importing this module imports the declarations only (cheap: the command line reads it before it forks its
workers); dissector classes are imported when the port tables are first built. Tables are derived once, at
start-up: ``register()`` a further spec (a plugin, a test) before anything reads the registry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otscope.domain import (DEFAULT_RANK, IT_SERVER_PORTS, OT_PORTS_NOT_FOR_DIRECTION, OT_SERVICE_PORTS,
                            SOURCE_RANK, SOURCES, FlowEntry, ProtocolSpec, Transport)

if TYPE_CHECKING:
    from otscope.dissectors.base import Dissector


def _declared(package: str) -> ProtocolSpec:
    """The SPEC a package under dissectors/ exports (its __init__.py: declarations only)."""
    return importlib.import_module(f"otscope.dissectors.{package}").SPEC


SPECS: list[ProtocolSpec] = [
    _declared("modbus"),
    _declared("enip"),
    _declared("s7"),
    _declared("arp"),
    _declared("lldp"),
    _declared("cdp"),
    _declared("dhcp"),
    _declared("pndcp"),
    _declared("pnio"),
    _declared("dnp3"),
    _declared("goose"),
    _declared("hartip"),
    _declared("iec104"),
    _declared("synphasor"),
    _declared("ads"),
    _declared("fox"),
    _declared("opcua"),
    _declared("tls"),
    _declared("smb"),
    _declared("bacnet"),
    _declared("snmp"),
    _declared("nbns"),
    _declared("mdns"),
    _declared("ssdp"),
    _declared("fins"),
    _declared("melsec"),
    _declared("http"),
    _declared("banners"),
    _declared("oshint"),
]

_read = False       # set once something derived a table: later registrations would not be seen by it


def register(spec: ProtocolSpec) -> None:
    """Add a protocol package's spec (before anything reads the registry: the tables are derived once)."""
    if _read:
        raise RuntimeError(f"register({spec.name!r}) after the registry was read: register at start-up")
    if any(s.name == spec.name for s in SPECS):
        raise ValueError(f"protocol {spec.name!r} is already registered")
    SPECS.append(spec)


def specs() -> tuple[ProtocolSpec, ...]:
    global _read
    _read = True
    return tuple(SPECS)


def load(ref: str) -> Any:
    """``package.module:attr[.attr]`` -> the object (a dissector class, a frame parser, a layout)."""
    mod, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# -- derived tables (start-up) -------------------------------------------------------------------------------

def flow_entries() -> list[FlowEntry]:
    return [e for s in specs() for e in s.flows]


def names() -> list[str]:
    """The --dissectors names: the protocols of the flow dissectors."""
    return sorted({e.protocol for e in flow_entries()})


def ot_ports() -> dict[int, str]:
    """Port -> protocol name of every industrial port: the OT dissectors' own, then the services otscope has
    no dissector for (a dissector's declaration wins). Hint ports that are also common client or IT ports
    (``FlowEntry.direction`` False: MELSEC's 1025-1030, 5000-5010) are not: their payload is OT traffic, and their
    conversation named after the protocol, only once a dissector confirmed it (UPnP on 5000 is not MELSEC)."""
    out: dict[int, str] = {}
    for s in specs():
        if s.ot:
            for e in s.flows:
                if not e.direction:
                    continue
                for p in e.ports:
                    out.setdefault(p, e.protocol)
    for p, name in OT_SERVICE_PORTS.items():
        out.setdefault(p, name)
    return out


def server_ports() -> frozenset[int]:
    """Ports a server listens on (a flow's direction when the handshake was not captured)."""
    dissector_ports = {p for e in flow_entries() if e.direction for p in e.ports}
    return frozenset(((dissector_ports | OT_SERVICE_PORTS.keys()) - OT_PORTS_NOT_FOR_DIRECTION) | IT_SERVER_PORTS)


def hint_only_ports() -> frozenset[int]:
    """Dissector ports that decide no direction (FlowEntry.direction False) and that no other entry declares."""
    deciding = {p for e in flow_entries() if e.direction for p in e.ports}
    return frozenset(p for e in flow_entries() if not e.direction for p in e.ports) - deciding


def ot_label_prefixes() -> tuple[str, ...]:
    """Protocol names of the OT specs: a label starting with one (modbus-server) makes an asset OT."""
    return tuple(p for s in specs() if s.ot for p in s.protocols)


def server_label_roles() -> dict[str, tuple[Role, str]]:
    """Server label -> (role, why) for labels that prove a role other than plc (the specs' server_roles)."""
    return {label: (role, why) for s in specs() for label, role, why in s.server_roles}


def gap_notes() -> dict[str, str]:
    """Protocol name -> why its devices stay unidentified (the specs' gap_note; only those that have one)."""
    return {p: s.gap_note for s in specs() if s.gap_note for p in s.protocols}


def protocol_rank() -> dict[str, int]:
    """Protocol name -> rank of its word on a device's identity (merge.best: lower wins; others DEFAULT_RANK)."""
    out = {p: s.rank for s in specs() for p in s.protocols if s.rank != DEFAULT_RANK}
    return {**out, **SOURCE_RANK}


def protocol_members() -> list[tuple[str, str]]:
    """(MEMBER, value) of every protocol name and fact source, for dissectors/base.py ``Protocol``."""
    values = [p for s in specs() for p in s.protocols] + list(SOURCES.values())
    return [(v.upper().replace("-", "_"), v) for v in dict.fromkeys(values)]


def catalogue() -> list[dict[str, Any]]:
    """Every protocol name, for people and the dashboard: name, title, OT or not, labels, colour."""
    out = []
    for s in specs():
        colours = dict(s.colours)
        # a label belongs to the longest protocol name it starts with (enip-io is not one of enip's labels)
        owner = {lb: max((p for p in s.protocols if lb == p or lb.startswith(p + "-")), key=len, default=s.name)
                 for lb in s.labels}
        for p in s.protocols:
            out.append({"name": p, "spec": str(s.name), "title": s.title, "ot": s.ot, "colour": colours.get(p),
                        "labels": [lb for lb in s.labels if owner[lb] == p]})
    return out


def _where(s: ProtocolSpec) -> str:
    """Where a protocol is found: its transports and ports, ethertypes, LLC/SNAP or UDP ports of its frames."""
    out = []
    for t in (Transport.TCP, Transport.UDP):
        ports = sorted({p for e in s.flows if e.transport is t for p in e.ports})
        if ports:
            out.append(f"{t.value}/" + ",".join(map(str, ports)))
    for f in s.frames:
        if f.ethertype is not None:
            out.append(f"ethertype 0x{f.ethertype:04X}")
        elif f.llc_snap:
            out.append("802.3 LLC/SNAP " + f.llc_snap[-2:].hex())
        if f.udp_ports:
            out.append("udp/" + ",".join(map(str, f.udp_ports)))
    return ", ".join(dict.fromkeys(out))


def markdown_table() -> str:
    """The README's protocol table, from the specs: protocol, where, OT or IT, roles it proves, what it identifies.
    ``python -m otscope.dissectors.registry`` prints it."""
    rows = ["| protocol | where | OT | roles it can prove | what it identifies |", "|---|---|---|---|---|"]
    for s in specs():
        roles = ", ".join(r.value for r in s.roles) or "-"
        rows.append(f"| {s.title} (`{s.name}`) | {_where(s)} | {'OT' if s.ot else 'IT'} | {roles} | {s.identifies} |")
    return "\n".join(rows)


def ot_titles() -> str:
    """'Modbus/TCP, EtherNet/IP, ...': the OT protocols with a flow dissector, for help texts."""
    return ", ".join(s.title for s in specs() if s.ot and s.flows)


_DERIVED = {"OT_PORTS": ot_ports, "SERVER_PORTS": server_ports, "OT_LABEL_PREFIXES": ot_label_prefixes,
            "PROTOCOL_RANK": protocol_rank}


def __getattr__(name: str) -> Any:
    """The derived tables as module constants (``from otscope.dissectors.registry import OT_PORTS``), computed on
    first import of the name, that is after every registration (PEP 562)."""
    if name in _DERIVED:
        value = _DERIVED[name]()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- flow dissector lookup (the capture loop calls these per new flow) ------------------------------------------

_TCP: dict[int, FlowEntry] | None = None      # port -> entry; the class is loaded on first use
_UDP: dict[int, FlowEntry] = {}


def _dissector_class(e: FlowEntry) -> type[Dissector]:
    cls = load(e.cls)
    if (cls.protocol, cls.transport, tuple(cls.ports), cls.peek) != (e.protocol, e.transport, e.ports, e.peek):
        raise ValueError(f"{e.cls} declares {cls.protocol}/{cls.transport}/{cls.ports} peek {cls.peek}, its spec "
                         f"says {e.protocol}/{e.transport}/{e.ports} peek {e.peek}")
    return cls


_CLASSES: dict[FlowEntry, type[Dissector]] = {}


def _class_of(e: FlowEntry) -> type[Dissector]:
    """A flow entry's dissector class, imported the first time a flow on its port appears: the start-up cost
    of a replay does not grow with the number of protocols a capture does not carry."""
    cls = _CLASSES.get(e)
    if cls is None:
        cls = _CLASSES[e] = _dissector_class(e)
    return cls


def _by_port(entries: list[FlowEntry], transport: Transport) -> dict[int, FlowEntry]:
    table: dict[int, FlowEntry] = {}
    for e in entries:
        if e.transport is transport:
            for port in e.ports:
                table.setdefault(port, e)
    return table


def enable(protocols: set[str] | None) -> None:
    """Use only these dissectors (by protocol name; None = all). Unknown names are an error."""
    global _TCP, _UDP
    known = names()
    if protocols is not None:
        unknown = protocols - set(known)
        if unknown:
            raise ValueError(f"unknown dissector(s) {sorted(unknown)} (known: {', '.join(known)})")
    chosen = [e for e in flow_entries() if protocols is None or e.protocol in protocols]
    _TCP, _UDP = _by_port(chosen, Transport.TCP), _by_port(chosen, Transport.UDP)


def _tcp() -> dict[int, type[Dissector]]:
    if _TCP is None:
        enable(None)
    assert _TCP is not None
    return _TCP


def tcp_dissector_for(server_port: int, client_port: int = -1) -> type[Dissector] | None:
    t = _TCP if _TCP is not None else _tcp()
    e = t.get(server_port) or t.get(client_port)
    return None if e is None else _class_of(e)


def udp_dissector_for(server_port: int, client_port: int = -1) -> type[Dissector] | None:
    if _TCP is None:
        _tcp()
    e = _UDP.get(server_port) or _UDP.get(client_port)  # type: ignore[union-attr]
    return None if e is None else _class_of(e)


def tcp_ports() -> set[int]:
    """Ports some enabled TCP dissector claims (either end of a flow)."""
    return set(_tcp())


def udp_ports() -> set[int]:
    _tcp()
    return set(_UDP)


def peek_ports() -> dict[tuple[str, int], int]:
    """(transport, port) -> peek budget of the enabled dissectors that declare one (FlowEntry.peek): IT
    protocols whose identity is in a flow's first bytes (the C fast path keeps their flows light and hands
    Python only those bytes)."""
    t = _tcp()
    out = {("tcp", p): e.peek for p, e in t.items() if e.peek > 0}
    out.update({("udp", p): e.peek for p, e in _UDP.items() if e.peek > 0})
    return out


if __name__ == "__main__":
    print(markdown_table())
