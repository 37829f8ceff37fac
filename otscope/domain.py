"""The bottom layer every part of otscope shares (stdlib only; imports nothing else from otscope).

* the role vocabulary (../shared/docs/architecture.md) and the small enums of a flow (side, who, transport);
* the protocol-name type and the declaration a dissector package makes of itself (``ProtocolSpec``): the
  registry (dissectors/registry.py) is the list of those declarations, and everything that needs to know a
  protocol (port tables, OT labels, naming rank, CLI, dashboard) derives it from there;
* OT port knowledge that is not a dissector's (industrial services otscope has no dissector for yet, and the
  IT services that decide a flow's direction);
* the configurable caps of the dissectors, named once (``Caps``), and the anomaly a cap gives when it is hit.

The observation contract between sensor and collector is its sibling, otscope/contract.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum, StrEnum


class Role(StrEnum):
    """The one role vocabulary (../shared/docs/architecture.md); each role is decided with its evidence."""

    PLC = "plc"
    RTU_IED = "rtu-ied"
    IO_DEVICE = "io-device"
    COMMUNICATIONS_MODULE = "communications-module"
    GATEWAY = "gateway"
    HMI_SCADA = "hmi-scada"
    EWS = "engineering-workstation"
    NETWORK_DEVICE = "network-device"
    BUILDING_CONTROLLER = "building-controller"
    IT_HOST = "it-host"
    UNKNOWN = "unknown"


class Side(IntEnum):
    """Direction of a payload in a flow: the initiator (client) sends TO_SERVER."""

    TO_SERVER = 0
    TO_CLIENT = 1


class Who(IntEnum):
    """Which end of the flow a fact is about."""

    CLIENT = 0
    SERVER = 1


class Transport(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class ProtocolName(str):
    """A protocol's name as facts, labels and conversations carry it (``"modbus"``). A plain string with the
    ``.value`` an enum member has, so a spec's name and a ``Protocol`` member are interchangeable."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


# Sources of facts that are not a dissector: the collector's MAC-vendor lookup and flow bookkeeping.
# A DHCP client fingerprint (dissectors/dhcp/fingerprint.py) is a rule's inference, weaker than any stated OS.
SOURCES = {"OUI": "oui", "FLOW": "flow", "DHCP_FINGERPRINT": "dhcp-fingerprint"}
DEFAULT_RANK = 5        # naming rank of a protocol no spec ranks (merge.best: lower wins)
SOURCE_RANK = {"oui": 9, "dhcp-fingerprint": 6}  # a MAC's vendor prefix is the weakest word on a device's identity


# -- what a dissector package declares -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FlowEntry:
    """A per-flow dissector class of a package, by lazy import path (``module:Class``) so the declaration is
    importable without the implementation. ``protocol`` is its --dissectors name and conversation label."""

    protocol: str
    transport: Transport
    ports: tuple[int, ...]        # hints: they choose a candidate, parsing confirms
    cls: str
    # False for hint ports that are also common ephemeral client ports (MELSEC's 1025-1030, 5000-5010): they
    # choose the dissector of a flow whose server side they are, but neither decide a flow's direction when its
    # handshake was not captured (agent/flows.py orient) nor turn a flow towards them (agent/flowtable.py create),
    # nor make their payload OT traffic before a dissector confirmed it (registry.ot_ports)
    direction: bool = True
    # an IT protocol whose identity is in a flow's first bytes: at most this many payload bytes per direction
    # are handed to its dissector (C enforces it; 0 = no bound). Once both directions have had theirs (or
    # the dissector says DONE) the dissector is detached quietly and C counts the rest of the flow alone.
    peek: int = 0


@dataclass(frozen=True, slots=True)
class FrameEntry:
    """A stateless frame (or datagram) parser of a package: ``facts(parse(body), *context)`` -> L2Output.

    A frame is this protocol's when its ethertype is ``ethertype`` (or, for 802.3 length frames, its LLC/SNAP
    header is ``llc_snap``, which is skipped), or it is a UDP datagram between two of ``udp_ports``, and
    ``accept(body)`` (when given) is true. ``context`` names what facts() takes after the parsed frame, in
    order: "src" / "dst" (MAC of the frame), "src_ip" (sender of the datagram)."""

    parse: str                    # module:function, bytes -> parsed frame; raises Truncated/Malformed
    facts: str                    # module:function, parsed frame (+ context) -> L2Output
    ethertype: int | None = None
    llc_snap: bytes = b""
    udp_ports: tuple[int, ...] = ()
    context: tuple[str, ...] = ()
    accept: Callable[[bytes], bool] | None = None   # a cheap test of the body (defined with the spec)
    memo_key: str | None = None   # module:function: the part of the frame its output depends on (else all)
    # FrameID ranges (the body's first two bytes, big-endian) this entry owns on its ethertype: entries sharing
    # an ethertype (PROFINET 0x8892: DCP, alarms, cyclic data) each declare disjoint ranges (agent/l2.py)
    frame_ids: tuple[tuple[int, int], ...] = ()
    # module:Class of a per-capture-loop counter for frequent frames (cyclic I/O): called instead of
    # parse/facts with (buf, off, l3, stop, vlan, frame_id, frame, ts) -> (sender MAC, L2Output | None), and
    # flush() -> [(vlan, frame, ts, L2Output)] at each snapshot
    counter: str | None = None


@dataclass(frozen=True, slots=True)
class EventAction:
    """How the events layer (collector/events.py) reads one ``control_action`` / ``config_change`` value the
    package's dissector writes: a value starting with ``prefix`` (case-insensitive) of fact protocol ``protocol``
    is an event of ``kind`` with the canonical ``detail`` (the frames of one download join one event), and the
    MITRE ATT&CK for ICS ``technique`` ("" = the kind's default, None = none applies)."""

    protocol: str
    prefix: str
    kind: str
    detail: str
    technique: str | None = ""


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """One protocol package's declaration of itself (a dissector package exports one, named SPEC)."""

    name: ProtocolName            # the package's protocol: fact protocol, registry key
    title: str                    # for people: CLI help, dashboard legend
    ot: bool                      # an industrial protocol: its labels make an asset OT, its bytes OT traffic
    rank: int                     # naming rank of its identity facts (merge.best: 0 wire identity ... 9)
    protocols: tuple[str, ...]    # every protocol name its facts carry (name first); all share ``rank``
    labels: tuple[str, ...]       # the "protocol" fact values it emits (modbus-client, modbus-server, ...)
    roles: tuple[Role, ...]       # the roles its labels or role hints can prove
    flows: tuple[FlowEntry, ...] = ()
    frames: tuple[FrameEntry, ...] = ()
    fast_path: tuple[str, ...] = ()   # module:attr of its steady-state layouts for the C fast path (empty: none)
    colours: tuple[tuple[str, str], ...] = ()   # protocol name -> dashboard colour
    # server labels that prove a role other than "plc" (label, role, why): an MMS server is an IED, not a PLC
    server_roles: tuple[tuple[str, Role, str], ...] = ()
    # for a protocol that carries no vendor/firmware (IEC 60870-5-104, DNP3 without group 0): why its devices
    # stay unidentified, for the coverage report's gap reason ("" = it does carry identity)
    gap_note: str = ""
    # what the protocol tells otscope about a device, for people: the README's protocol table is rendered from
    # it (dissectors/registry.py markdown_table; tests/unit/test_registry.py keeps the README in step)
    identifies: str = ""
    # the events layer: its action vocabulary, and the function-profile counters of a conversation that are
    # writes or commands to the server / clock synchronisations, as (protocol, counter)
    event_actions: tuple[EventAction, ...] = ()
    write_counters: tuple[tuple[str, str], ...] = ()
    time_sync_counters: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.protocols or self.protocols[0] != self.name:
            raise ValueError(f"spec {self.name!r}: protocols must start with its name")
        for e in self.flows:
            if e.protocol not in self.protocols:
                raise ValueError(f"spec {self.name!r}: flow protocol {e.protocol!r} is not one of its protocols")
        for p, _ in self.colours:
            if p not in self.protocols:
                raise ValueError(f"spec {self.name!r}: colour for {p!r}, not one of its protocols")
        for label, role, _why in self.server_roles:
            if label not in self.labels or role not in self.roles:
                raise ValueError(f"spec {self.name!r}: server role {label!r} -> {role} needs the label and the role")
        for proto in [a.protocol for a in self.event_actions] + [p for p, _ in self.write_counters] + \
                [p for p, _ in self.time_sync_counters]:
            if proto not in self.protocols:
                raise ValueError(f"spec {self.name!r}: event table names {proto!r}, not one of its protocols")


def spec(name: str, **kw: object) -> ProtocolSpec:
    """A ProtocolSpec whose ``protocols`` default to its own name alone."""
    kw.setdefault("protocols", (name,))
    return ProtocolSpec(name=ProtocolName(name), **kw)  # type: ignore[arg-type]


# -- OT port knowledge that is no dissector's ----------------------------------------------------------------

# Industrial services otscope has no dissector for (yet): payload on these ports counts as OT traffic for the
# coverage report and names an unconfirmed conversation. A dissector package that declares one of these ports
# overrides the name here (agent/flows.py OT_PORTS).
OT_SERVICE_PORTS: dict[int, str] = {
    20000: "dnp3", 2404: "iec104",
    2455: "codesys", 1217: "codesys", 18245: "ge-srtp", 18246: "ge-srtp",
    20547: "proconos", 1962: "pcworx", 789: "crimson", 34962: "profinet", 34963: "profinet",
}
# Ports (of those, or a dissector's) that do not decide a flow's direction (orientation falls through to the next
# rule), as it always was: CODESYS V2 gateway and ADS/AMS routers (tcp/48898) are reached from either end.
OT_PORTS_NOT_FOR_DIRECTION = frozenset({1217, 48898})

# IT services a server listens on: decide a flow's direction when the handshake was not captured.
IT_SERVER_PORTS = frozenset({
    161, 162, 53, 67, 68, 69, 80, 443, 8080, 22, 21, 23, 25, 110, 123, 135, 137, 138, 139, 143, 389, 445, 514,
    636, 993, 995, 1433, 1521, 3306, 3389, 5432, 5900,
})


# -- caps ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Caps:
    """The configurable per-flow bounds of the dissectors, in one place. Hitting a cap always gives the same
    treatment: the oldest state it bounds is dropped and an anomaly named after the cap is counted
    (``pending_requests`` -> ``pending-requests-cap``, see ``cap_anomaly``). Bounds that a protocol's framing
    fixes (a PDU's maximum length, 256 unit ids) are the protocol's, not caps."""

    facts_per_flow: int = 4096          # facts (and anomalies) a dissector holds between two drains
    pending_transactions: int = 64      # Modbus/TCP requests waiting for their answer, by transaction id
    pending_requests: int = 64          # CIP explicit requests waiting for their reply
    cotp_reassembly_bytes: int = 64 * 1024   # an S7/MMS message reassembled from COTP DT fragments (ISO 8073 6.3)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def cap_anomaly(cap: str) -> str:
    """The anomaly kind of a hit cap (``pending_requests`` -> ``pending-requests-cap``)."""
    if cap not in Caps.names():
        raise KeyError(f"no cap {cap!r} (caps: {', '.join(Caps.names())})")
    return cap.replace("_", "-") + "-cap"


_caps = Caps()
_caps_read = False


def caps() -> Caps:
    """The caps in force. Dissectors read them when they are imported or created: configure first."""
    global _caps_read
    _caps_read = True
    return _caps


def configure_caps(**values: int) -> Caps:
    """Set caps by name, before the capture starts (before any dissector read them); unknown names and values
    below 1 are an error."""
    global _caps
    known = Caps.names()
    bad = sorted(k for k, v in values.items() if k not in known or isinstance(v, bool) or not isinstance(v, int)
                 or v < 1)
    if bad:
        raise ValueError(f"unknown cap(s) or bad value(s): {bad} (caps: {', '.join(known)})")
    if _caps_read and values:
        raise RuntimeError("configure the caps before the capture starts (the dissectors have read them)")
    _caps = Caps(**{**{n: getattr(_caps, n) for n in known}, **values})
    return _caps


__all__ = ["DEFAULT_RANK", "IT_SERVER_PORTS", "OT_PORTS_NOT_FOR_DIRECTION", "OT_SERVICE_PORTS", "SOURCES",
           "SOURCE_RANK", "Caps", "FlowEntry", "FrameEntry", "ProtocolName", "ProtocolSpec", "Role", "Side",
           "Transport", "Who", "cap_anomaly", "caps", "configure_caps", "spec"]
