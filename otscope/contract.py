"""The observation contract between a sensor and a collector (stdlib only, versioned).

A sensor (live capture or replay) turns packets into observations and ships them in batches. The
collector validates each batch against this contract (unknown fields and unknown schema versions are
refused) and merges it into the inventory. A batch is identified by (sensor, batch_id): the collector
applies a batch at most once, which is what makes replaying the same capture twice a no-op and what lets
a sensor retry a batch after a collector outage without duplicating anything.

Every fact names where it came from (``Evidence``): the capture file and frame number for a replay, or
the sensor and timestamp for live capture.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 2
SCHEMAS = (1, 2)        # versions a collector accepts: 1 has no ``actions`` (a v1 batch naming them is refused)
MAX_STR = 256          # wire strings are hostile: every string in the contract is bounded
MAX_OBSERVATIONS = 200_000
# Bounds on numbers, so a batch that passes validation can never break a later read:
# timestamps in a plausible range (1970 .. 2100: datetime renders them, JSON keeps them exact);
MIN_TS, MAX_TS = 0.0, 4_102_444_800.0
# counts and bytes of one observation: 2^48 each, so a SUM over 32,768 rows still fits a signed 64-bit column
# (the collector's running totals saturate at MAX_TOTAL for the same reason);
MAX_COUNT = 1 << 48
MAX_TOTAL = (1 << 62) - 1
MAX_PORT = 65535
MAX_VLAN = 0xFFFFFF     # 802.1Q id, or QinQ outer << 12 | inner
MAX_JSON_DEPTH = 32     # a batch is 5 levels deep; anything far deeper is refused before it is parsed


class ContractError(ValueError):
    """A batch that does not follow the contract."""


def clip(text: str, limit: int = MAX_STR) -> str:
    """Bound a wire string: drop control characters, cap the length."""
    cleaned = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a fact is about: an on-link or routed IP, or a MAC for layer-2-only devices.

    ``component`` names a part behind that address (``unit:5`` behind a Modbus gateway,
    ``slot:2`` on a CIP backplane, ``rack:0/slot:2`` for an S7 CPU): it becomes a child asset.
    """

    vlan: int
    ip: str | None = None
    mac: str | None = None
    component: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    source: str                 # capture file name, or "sensor:<id>"
    frame: int | None           # frame number in that file (1-based, as tshark counts), None for live
    ts: float                   # epoch seconds of the packet


@dataclass(slots=True)
class FactObs:
    subject: Subject
    field: str
    value: str
    protocol: str
    message: str
    evidence: Evidence
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class BindingObs:
    """An IP address seen with a MAC on a link. ``confidence`` is high (ARP, DHCP ACK, DCP) or medium
    (the IP always came from this one MAC, no other IP used it, and its TTL was an initial value)."""

    vlan: int
    ip: str
    mac: str
    confidence: str
    protocol: str
    evidence: Evidence
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class HostObs:
    subject: Subject
    sent: bool                  # the address sent at least one frame (not only a destination)
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class CommObs:
    client: Subject
    server: Subject
    transport: str              # tcp | udp
    port: int
    protocol: str               # confirmed protocol, or "tcp/<port>" when no dissector confirmed one
    packets: int                # deltas since the sensor's previous batch
    bytes: int
    first_seen: float
    last_seen: float
    profile: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class TrafficObs:
    """Payload bytes on OT ports or confirmed OT flows, and how many a dissector decoded (deltas)."""

    protocol: str
    packets: int
    bytes_seen: int
    bytes_decoded: int


@dataclass(slots=True)
class AnomalyObs:
    protocol: str
    kind: str
    count: int
    evidence: Evidence


# Fact fields whose every occurrence matters (the events layer needs who did it and how often): the dissector
# host also emits them as ActionObs with both ends of the flow, next to the fact (which stays as it is).
ACTION_FIELDS = frozenset({"control_action", "config_change", "cpu_state"})


@dataclass(slots=True)
class ActionObs:
    """One action a client asked of a server (schema 2): a control action (stop, start, block download...), a
    configuration change, or a reported CPU state, deduplicated per batch by (server, client, field, action,
    protocol) with how many times it was seen and the evidence of its first occurrence."""

    server: Subject             # the side the fact is about (the controller)
    client: Subject             # the other end of the flow (who asked, or who read the state)
    field: str                  # control_action | config_change | cpu_state (ACTION_FIELDS)
    action: str                 # the fact's value, as the dissector wrote it
    protocol: str
    message: str
    evidence: Evidence
    count: int
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class Batch:
    sensor: str
    batch_id: str
    schema: int = SCHEMA_VERSION
    hosts: list[HostObs] = field(default_factory=list)
    bindings: list[BindingObs] = field(default_factory=list)
    facts: list[FactObs] = field(default_factory=list)
    comms: list[CommObs] = field(default_factory=list)
    traffic: list[TrafficObs] = field(default_factory=list)
    anomalies: list[AnomalyObs] = field(default_factory=list)
    stats: dict[str, int | float | str] = field(default_factory=dict)
    actions: list[ActionObs] = field(default_factory=list)

    def size(self) -> int:
        return (len(self.hosts) + len(self.bindings) + len(self.facts) + len(self.comms)
                + len(self.traffic) + len(self.anomalies) + len(self.actions))

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


# --- validation -------------------------------------------------------------------------------------

_LISTS = {"hosts": HostObs, "bindings": BindingObs, "facts": FactObs, "comms": CommObs,
          "traffic": TrafficObs, "anomalies": AnomalyObs, "actions": ActionObs}


def _check_keys(obj: Any, cls: type, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ContractError(f"{where}: expected an object")
    names = {f.name for f in fields(cls)}
    extra = set(obj) - names
    if extra:
        raise ContractError(f"{where}: unknown field(s) {sorted(extra)}")
    missing = {f.name for f in fields(cls) if _required(f)} - set(obj)
    if missing:
        raise ContractError(f"{where}: missing field(s) {sorted(missing)}")
    return obj


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _str(v: Any, where: str, optional: bool = False, limit: int = MAX_STR) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise ContractError(f"{where}: expected a string")
    return clip(v, limit)


def _num(v: Any, where: str, kind: type = int, optional: bool = False, limit: float = MAX_COUNT) -> Any:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ContractError(f"{where}: expected a number")
    if kind is int and not isinstance(v, int):
        raise ContractError(f"{where}: expected an integer")
    if v != v or v in (float("inf"), float("-inf")):
        raise ContractError(f"{where}: not a finite number")
    if v < 0:
        raise ContractError(f"{where}: negative")
    if v > limit:
        raise ContractError(f"{where}: larger than {limit:g}")
    return v


def _ts(v: Any, where: str, optional: bool = False) -> Any:
    """A timestamp (epoch seconds) in a plausible range."""
    t = _num(v, where, float, optional, MAX_TS)
    if t is not None and t < MIN_TS:
        raise ContractError(f"{where}: timestamp out of range")
    return t


def _mac(v: Any, where: str) -> str:
    """A MAC address as the sensor writes it: six lower-case hex octets joined by colons."""
    m = _str(v, where, limit=32)
    assert m is not None
    parts = m.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
        raise ContractError(f"{where}: not a MAC address (aa:bb:cc:dd:ee:ff)")
    return m


def _ip(v: Any, where: str) -> str:
    a = _str(v, where, limit=64)
    try:
        ipaddress.ip_address(a)
        return a  # type: ignore[return-value]
    except ValueError:
        raise ContractError(f"{where}: not an IP address") from None


def _subject(obj: Any, where: str) -> Subject:
    o = _check_keys(obj, Subject, where)
    vlan = _num(o.get("vlan"), where + ".vlan", limit=MAX_VLAN)
    ip = o.get("ip")
    mac = o.get("mac")
    s = Subject(vlan=vlan, ip=None if ip is None else _ip(ip, where + ".ip"),
                mac=None if mac is None else _mac(mac, where + ".mac"),
                component=_str(o.get("component"), where + ".component", True, 64))
    if s.ip is None and s.mac is None:
        raise ContractError(f"{where}: a subject needs an ip or a mac")
    return s


def _evidence(obj: Any, where: str) -> Evidence:
    o = _check_keys(obj, Evidence, where)
    return Evidence(source=_str(o["source"], where + ".source"),  # type: ignore[arg-type]
                    frame=_num(o.get("frame"), where + ".frame", int, True),
                    ts=_ts(o["ts"], where + ".ts"))


def _parse_item(kind: str, o: dict[str, Any], where: str) -> Any:
    if kind == "hosts":
        return HostObs(subject=_subject(o["subject"], where + ".subject"), sent=bool(o["sent"]),
                       first_seen=_ts(o["first_seen"], where + ".first_seen"), last_seen=_ts(o["last_seen"], where + ".last_seen"))
    if kind == "bindings":
        conf = _str(o["confidence"], where)
        if conf not in ("high", "medium"):
            raise ContractError(f"{where}.confidence: must be high or medium")
        return BindingObs(vlan=_num(o["vlan"], where + ".vlan", limit=MAX_VLAN), ip=_ip(o["ip"], where + ".ip"),
                          mac=_mac(o["mac"], where + ".mac"), confidence=conf,
                          protocol=_str(o["protocol"], where), evidence=_evidence(o["evidence"], where + ".evidence"),  # type: ignore[arg-type]
                          first_seen=_ts(o["first_seen"], where + ".first_seen"), last_seen=_ts(o["last_seen"], where + ".last_seen"))
    if kind == "facts":
        return FactObs(subject=_subject(o["subject"], where + ".subject"), field=_str(o["field"], where, limit=64),  # type: ignore[arg-type]
                       value=_str(o["value"], where), protocol=_str(o["protocol"], where, limit=64),  # type: ignore[arg-type]
                       message=_str(o["message"], where), evidence=_evidence(o["evidence"], where + ".evidence"),  # type: ignore[arg-type]
                       first_seen=_ts(o["first_seen"], where + ".first_seen"), last_seen=_ts(o["last_seen"], where + ".last_seen"))
    if kind == "comms":
        prof = o.get("profile") or {}
        if not isinstance(prof, dict) or len(prof) > 64:
            raise ContractError(f"{where}.profile: expected a small object")
        return CommObs(client=_subject(o["client"], where + ".client"), server=_subject(o["server"], where + ".server"),
                       transport=_str(o["transport"], where, limit=8),  # type: ignore[arg-type]
                       port=_num(o["port"], where + ".port", limit=MAX_PORT),
                       protocol=_str(o["protocol"], where, limit=64), packets=_num(o["packets"], where + ".packets"),  # type: ignore[arg-type]
                       bytes=_num(o["bytes"], where + ".bytes"), first_seen=_ts(o["first_seen"], where + ".first_seen"),
                       last_seen=_ts(o["last_seen"], where + ".last_seen"),
                       profile={_str(k, where + ".profile", limit=64): _num(v, where + ".profile")  # type: ignore[misc]
                                for k, v in prof.items()})  # type: ignore[misc]
    if kind == "traffic":
        return TrafficObs(protocol=_str(o["protocol"], where, limit=64), packets=_num(o["packets"], where + ".packets"),  # type: ignore[arg-type]
                          bytes_seen=_num(o["bytes_seen"], where + ".bytes_seen"),
                          bytes_decoded=_num(o["bytes_decoded"], where + ".bytes_decoded"))
    if kind == "actions":
        fld = _str(o["field"], where + ".field", limit=32)
        if fld not in ACTION_FIELDS:
            raise ContractError(f"{where}.field: not an action field ({', '.join(sorted(ACTION_FIELDS))})")
        return ActionObs(server=_subject(o["server"], where + ".server"), client=_subject(o["client"], where + ".client"),
                         field=fld, action=_str(o["action"], where + ".action"),  # type: ignore[arg-type]
                         protocol=_str(o["protocol"], where, limit=64), message=_str(o["message"], where),  # type: ignore[arg-type]
                         evidence=_evidence(o["evidence"], where + ".evidence"),
                         count=_num(o["count"], where + ".count"), first_seen=_ts(o["first_seen"], where + ".first_seen"),
                         last_seen=_ts(o["last_seen"], where + ".last_seen"))
    return AnomalyObs(protocol=_str(o["protocol"], where, limit=64), kind=_str(o["kind"], where),  # type: ignore[arg-type]
                      count=_num(o["count"], where + ".count"), evidence=_evidence(o["evidence"], where + ".evidence"))


def batch_from_dict(obj: Any) -> Batch:
    """Validate a decoded JSON batch; raise ContractError with a clear message when it is not valid."""
    if not isinstance(obj, dict):
        raise ContractError("batch: expected an object")
    schema = obj.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema not in SCHEMAS:
        raise ContractError(f"batch: unsupported schema version {schema!r} (this collector speaks "
                            f"{', '.join(map(str, SCHEMAS))})")
    _check_keys(obj, Batch, "batch")
    if schema == 1 and "actions" in obj:
        raise ContractError("batch: unknown field(s) ['actions'] (schema 1 has no actions)")
    batch = Batch(sensor=_str(obj["sensor"], "batch.sensor", limit=128),  # type: ignore[arg-type]
                  batch_id=_str(obj["batch_id"], "batch.batch_id", limit=200), schema=schema)  # type: ignore[arg-type]
    total = 0
    for kind, cls in _LISTS.items():
        items = obj.get(kind) or []
        if not isinstance(items, list):
            raise ContractError(f"batch.{kind}: expected a list")
        total += len(items)
        if total > MAX_OBSERVATIONS:
            raise ContractError(f"batch: more than {MAX_OBSERVATIONS} observations")
        out = getattr(batch, kind)
        for i, item in enumerate(items):
            where = f"batch.{kind}[{i}]"
            try:
                out.append(_parse_item(kind, _check_keys(item, cls, where), where))
            except KeyError as exc:
                raise ContractError(f"{where}: missing field {exc.args[0]!r}") from None
    stats = obj.get("stats") or {}
    if not isinstance(stats, dict) or len(stats) > 100:
        raise ContractError("batch.stats: expected a small object")
    batch.stats = {clip(str(k), 64): _stat(v) for k, v in stats.items()
                   if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return batch


def _stat(v: int | float | str) -> int | float | str:
    """A heartbeat counter: strings bounded, numbers finite and within a 64-bit column."""
    if isinstance(v, str):
        return clip(v)
    if v != v or v in (float("inf"), float("-inf")):
        return 0
    return max(-MAX_TOTAL, min(MAX_TOTAL, v))


def _depth_ok(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when no bracket nesting (outside strings) goes deeper than ``limit``: checked before json.loads,
    whose recursion a hostile 200,000-deep document would exhaust."""
    data = text.encode() if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return True
    depth, in_str, esc = 0, False, False
    for b in data:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:
                esc = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif b in (0x5D, 0x7D):
            depth -= 1
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def batch_from_json(text: str | bytes) -> Batch:
    if not _depth_ok(text):
        raise ContractError(f"batch: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ContractError(f"batch: not valid JSON ({str(exc)[:200]})") from None
    return batch_from_dict(obj)
