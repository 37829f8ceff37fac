"""Events: what changed, and who did it (issue 17).

Derived knowledge, computed in the collector from what the sensors report (see the architecture's second wave):
control actions with their client (contract ``ActionObs``), fact changes (identity, firmware, CPU state), new
assets and conversations, address changes, writes from a client never seen writing, bursts of anomalies.

Two halves in this module:
- **pure rules** (no database): the kinds and their severity and MITRE ATT&CK for ICS technique, the table that
  turns each protocol's action vocabulary (what the dissectors write in ``control_action`` / ``config_change``
  facts) into a kind, CPU-state transitions, write counters of a conversation's profile, the learning decision
  and how an occurrence joins an existing event (``decide``, ``merged``);
- **repository functions** that read and write the ``events``, ``event_baseline`` and ``event_state`` tables and
  never commit (the ingest service or ``uow.unit_of_work`` owns the transaction).

Identity and idempotence. An event's identity is (kind, asset, client, detail). Kinds that say "first time"
(``ONCE``: new-asset, new-conversation, write-from-new-client, identity/firmware/ip/mac change, a time sync from a
new master) have one event per identity, ever. Operational kinds (plc-stop, program-download, ...) have one event
per occurrence window: a repeat within ``WINDOW`` seconds of the event's last sighting (the same download's many
frames, a second sensor reporting the same action) joins the event, a later one is a new event. Every row has a
unique ``key`` (identity digest + occurrence number), so applying the same occurrences twice cannot add a row; the
batch ledger (``applied_batches``) already refuses a batch seen before, and replay refuses an overlapping file.

Baseline. An identity in ``event_baseline`` is never raised again (an operator accepted it: ``acknowledge``).
During the learning period (``learning_of``) new-asset, new-conversation and write-from-new-client events are
recorded with ``learning: true`` (they are the baseline being learned, not alerts); other kinds are raised as
usual, since a PLC stop during learning is still a PLC stop.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from otscope.collector.models import Event, EventBaseline, EventState

# --- the vocabulary -------------------------------------------------------------------------------------------

KINDS = ("new-asset", "new-conversation", "identity-change", "firmware-change", "ip-change", "mac-change",
         "plc-stop", "plc-start", "program-download", "program-upload", "program-delete", "config-write",
         "write-from-new-client", "time-set", "firmware-update", "protocol-anomaly", "control-action",
         "advisory-match", "segmentation-finding")
# advisory-match (issue 18): an advisory import made a known asset affected (collector/advisories/store.py); its
# severity follows the CVSS v3 base severity of the advisory's worst matching CVE (critical counts as high).
# segmentation-finding: a finding of collector/findings.py (level crossing, IT to control, flat network, dual-homed
# host, OT asset talking to a public address), one event per finding key ever (ONCE), raised after each batch.
# control-action: the generic kind for a control action none of the kinds fits (its text is kept as the
# detail), e.g. S7 PI service _GARB (compress memory), MMS program kill, ADS "set state" to an unnamed state.

LEARNED = frozenset({"new-asset", "new-conversation", "write-from-new-client"})   # learning: recorded, not raised

SEVERITY = {
    "new-asset": "low", "new-conversation": "low", "identity-change": "medium", "firmware-change": "high",
    "ip-change": "medium", "mac-change": "medium", "plc-stop": "high", "plc-start": "medium",
    "program-download": "high", "program-upload": "medium", "program-delete": "high", "config-write": "medium",
    "write-from-new-client": "high", "time-set": "low", "firmware-update": "high", "protocol-anomaly": "low",
    "control-action": "medium", "advisory-match": "high", "segmentation-finding": "medium",
}
SEVERITIES = ("low", "medium", "high")

# MITRE ATT&CK for ICS techniques used (https://attack.mitre.org/techniques/ics/), names as ATT&CK writes them.
# Given only where the observed message is what the technique describes; none for new assets or conversations,
# address changes, time setting or anomaly bursts (no technique is that observation itself).
TECHNIQUES = {
    "T0858": "Change Operating Mode",       # a controller put in STOP / RUN / program mode
    "T0816": "Device Restart/Shutdown",     # reset, restart, shutdown of a device
    "T0843": "Program Download",
    "T0845": "Program Upload",
    "T0809": "Data Destruction",            # deleting program blocks / domains / files on a controller
    "T0836": "Modify Parameter",            # configuration objects written (TCP/IP, identity, ports, system data)
    "T0855": "Unauthorized Command Message",  # writes to a controller from a client never seen writing to it
    "T0857": "System Firmware",             # firmware transfer / firmware replaced
}
KIND_TECHNIQUE = {"program-download": "T0843", "program-upload": "T0845", "program-delete": "T0809",
                  "config-write": "T0836", "write-from-new-client": "T0855", "firmware-update": "T0857",
                  "firmware-change": "T0857", "plc-stop": "T0858", "plc-start": "T0858"}

WINDOW = 600.0              # seconds: a repeat of an operational event within this joins it
MAX_EVIDENCE = 8            # evidence strings (and sensors) kept per event: the first ones
ANOMALY_BURST = 20          # malformed frames of one kind in one batch that make a protocol-anomaly event
ONCE = frozenset({"new-asset", "new-conversation", "write-from-new-client", "identity-change", "firmware-change",
                  "ip-change", "mac-change", "advisory-match", "segmentation-finding"})


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    detail: str                     # the canonical action (joins the frames of one download into one event)
    technique: str | None


def _r(kind: str, detail: str, technique: str | None = "") -> Rule:
    return Rule(kind, detail, KIND_TECHNIQUE.get(kind) if technique == "" else technique)


# Each protocol's action vocabulary is declared by its package (ProtocolSpec.event_actions, otscope/domain.py):
# the first entry whose prefix starts the value (case-insensitively) decides; the tables are built once.
_TABLES: tuple[dict[str, list[tuple[str, Rule]]], dict[str, frozenset[str]], dict[str, frozenset[str]]] | None = None


def _tables() -> tuple[dict[str, list[tuple[str, Rule]]], dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    global _TABLES
    if _TABLES is None:
        from otscope.dissectors import registry

        actions: dict[str, list[tuple[str, Rule]]] = {}
        writes_: dict[str, set[str]] = {}
        syncs: dict[str, set[str]] = {}
        for sp in registry.specs():
            for a in sp.event_actions:
                if a.kind not in KINDS:
                    raise ValueError(f"spec {sp.name!r}: event kind {a.kind!r} is not one of {KINDS}")
                actions.setdefault(a.protocol, []).append((a.prefix.lower(), _r(a.kind, a.detail, a.technique)))
            for proto, key in sp.write_counters:
                writes_.setdefault(proto, set()).add(key)
            for proto, key in sp.time_sync_counters:
                syncs.setdefault(proto, set()).add(key)
        _TABLES = (actions, {k: frozenset(v) for k, v in writes_.items()},
                   {k: frozenset(v) for k, v in syncs.items()})
    return _TABLES


_DEFAULT_FIELD_KIND = {"control_action": "control-action", "config_change": "config-write"}

# CPU states (S7 SZL 0x0424 / mode-transition names, ADS states) that mean stopped or running
_STOPPED = ("STOP", "DEFECT", "HOLD", "CONFIG", "ERROR", "SHUTDOWN", "INIT")
_RUNNING = ("RUN",)


def classify_action(field: str, protocol: str, action: str) -> Rule | None:
    """The event a control_action / config_change value is (None for cpu_state: see cpu_transition)."""
    if field == "cpu_state":
        return None
    low = action.lower()
    for prefix, rule in _tables()[0].get(protocol, ()):
        if low.startswith(prefix):
            return rule
    kind = _DEFAULT_FIELD_KIND.get(field)
    if kind is None:
        return None
    return Rule(kind, action[:256], KIND_TECHNIQUE.get(kind))


def cpu_class(state: str) -> str | None:
    s = state.upper()
    if s.startswith(_RUNNING) and not s.startswith("RUN_"):     # "RUN", "RUN-P"; ADS RUN
        return "run"
    if s.startswith(_STOPPED) or "STOP" in s:
        return "stop"
    return None


def cpu_transitions(previous: str | None, seen: Sequence[tuple[float, str]]) -> list[tuple[float, str, str]]:
    """(time, kind, detail) for each RUN <-> STOP change in a sequence of reported CPU states (sorted by time),
    starting from the state known before (None: the first report is not a change)."""
    out: list[tuple[float, str, str]] = []
    cur = cpu_class(previous) if previous else None
    for ts, state in sorted(seen):
        c = cpu_class(state)
        if c is None:
            continue
        if cur is not None and c != cur:
            out.append((ts, "plc-stop" if c == "stop" else "plc-start", f"CPU state {state}"))
        cur = c
    return out


def writes(protocol: str, profile: dict[str, int] | None) -> int:
    """Writes and commands to the server in a conversation's function profile (the counters its package declares:
    ProtocolSpec.write_counters)."""
    keys = _tables()[1].get(protocol)
    if not keys or not profile:
        return 0
    return sum(v for k, v in profile.items() if k in keys and isinstance(v, int))


def time_syncs(protocol: str, profile: dict[str, int] | None) -> int:
    keys = _tables()[2].get(protocol)
    if not keys or not profile:
        return 0
    return sum(v for k, v in profile.items() if k in keys and isinstance(v, int))


_NOT_MALFORMED = ("tcp-gap", "host-table-full", "detached")     # capture loss and caps, not hostile frames


def is_burst(protocol: str, kind: str, count: int) -> bool:
    """A protocol-anomaly event: at least ANOMALY_BURST frames of one anomaly kind in one batch, for kinds that
    say a frame was malformed or unexpected (not capture loss, table caps or per-flow caps: ``*-cap``)."""
    if count < ANOMALY_BURST or protocol == "capture":
        return False
    k = kind.lower()
    return not (k.startswith(_NOT_MALFORMED) or k.endswith("-cap") or "cap" == k.rsplit(" ", 1)[-1])


# --- occurrences and how they become events ------------------------------------------------------------------

@dataclass(slots=True)
class Occurrence:
    """One thing a batch showed that may be an event (asset ids are the batch's final ones)."""

    kind: str
    asset_id: int | None
    client_id: int | None
    protocol: str
    detail: str
    message: str
    evidence: str
    sensor: str
    first_seen: float
    last_seen: float
    count: int = 1
    technique: str | None = None
    once: bool | None = None              # None: the kind decides (ONCE)
    severity: str | None = None           # None: the kind's (SEVERITY)

    @property
    def single(self) -> bool:
        return self.kind in ONCE if self.once is None else self.once

    def identity(self) -> tuple[str, int, int, str]:
        return (self.kind, self.asset_id or 0, self.client_id or 0, self.detail)


@dataclass(slots=True)
class EventView:
    """What decide() and merged() need of an existing event."""

    id: int
    first_seen: float
    last_seen: float
    count: int
    evidence: list[str] = field(default_factory=list)
    sensors: list[str] = field(default_factory=list)


def decide(occ: Occurrence, existing: Sequence[EventView], baselined: bool) -> EventView | str | None:
    """The existing event this occurrence joins, "new" for a new event, or None when it is not raised (the
    identity is in the baseline and no event of it is open)."""
    if occ.single:
        if existing:
            return existing[0]
        return None if baselined else "new"
    for ev in existing:
        if ev.first_seen - WINDOW <= occ.last_seen and occ.first_seen <= ev.last_seen + WINDOW:
            return ev
    return None if baselined else "new"


def merged(ev: EventView, occ: Occurrence) -> EventView:
    """The event with the occurrence added: times widened; its evidence and sensor added (bounded); the count
    grows by the occurrence's count when it is new evidence from a sensor already counted, and is the larger of
    the two when another sensor reports the same action (one action seen twice is not two actions)."""
    out = EventView(ev.id, min(ev.first_seen, occ.first_seen), max(ev.last_seen, occ.last_seen), ev.count,
                    list(ev.evidence), list(ev.sensors))
    if occ.evidence in ev.evidence:
        return out                                          # the same occurrence again: nothing changes
    if occ.sensor in ev.sensors:
        out.count = min(ev.count + occ.count, 1 << 62)
    else:
        out.count = max(ev.count, occ.count)
        if len(out.sensors) < MAX_EVIDENCE:
            out.sensors.append(occ.sensor)
    if len(out.evidence) < MAX_EVIDENCE:
        out.evidence.append(occ.evidence)
    return out


def event_key(identity: tuple[str, int, int, str], n: int) -> str:
    kind, asset, client, detail = identity
    digest = hashlib.sha256(detail.encode("utf-8", "replace")).hexdigest()[:20]
    return f"{kind}:{asset}:{client}:{digest}:{n}"


# --- learning ------------------------------------------------------------------------------------------------

_PART = re.compile(r"(\.(\d+|a|b))+$")          # agent/batches.py: the parts of batch B are B.1.., halves B.a/B.b


def batch_source(batch_id: str) -> str | None:
    """The replayed file a batch came from (agent/replay.py batch ids: ``file:<first>:<digest>``, and its parts),
    or None for a live sensor's batch."""
    if not batch_id.startswith("file:"):
        return None
    return _PART.sub("", batch_id)


def learning_hours() -> float:
    """OTSCOPE_LEARNING_HOURS (default 24): how long a live sensor's first data is a learning period (0: none)."""
    try:
        return max(0.0, float(os.environ.get("OTSCOPE_LEARNING_HOURS", "24")))
    except ValueError:
        return 24.0


def learning_first_file() -> bool:
    """OTSCOPE_LEARNING_FIRST_FILE (default 1): the first replayed file is the learning period (0: no learning)."""
    return os.environ.get("OTSCOPE_LEARNING_FIRST_FILE", "1").strip().lower() not in ("0", "false", "no", "off")


def is_learning(state: dict[str, str], source: str | None, ts: float, hours: float, first_file: bool) -> bool:
    """Pure: is an observation at ``ts`` of a batch from ``source`` (None: live) inside the learning period that
    ``state`` (``origin``: the first file, or ``live``; ``start``: the first data time) describes?"""
    origin = state.get("origin")
    if origin is None:
        return False
    if source is not None:
        return first_file and origin == source
    if origin != "live":
        return False
    return ts < float(state.get("start", "0")) + hours * 3600.0


# --- repository ------------------------------------------------------------------------------------------------

def load_state(s: Session) -> dict[str, str]:
    return {r.name: r.value for r in s.scalars(select(EventState))}


def start_learning(s: Session, state: dict[str, str], source: str | None, first_ts: float) -> dict[str, str]:
    """The first batch the collector ever applies starts the learning period (its file, or live + its time)."""
    if "origin" in state:
        return state
    new = {"origin": source or "live", "start": repr(first_ts)}
    for k, v in new.items():
        s.add(EventState(name=k, value=v[:256]))
    return new


class NewEvent:
    """An event this batch makes, inserted with the batch's other new events in one statement (an ORM object
    costs ~100 us to make and flush); reads like an Event row for as_dict()."""

    COLUMNS = ("id", "key", "kind", "severity", "technique", "asset_id", "client_id", "protocol", "detail", "message",
               "evidence", "sensors", "count", "first_seen", "last_seen", "learning", "acknowledged", "acked_at",
               "acked_by", "created_at")
    __slots__ = COLUMNS

    def __init__(self, **values: object) -> None:
        for k in self.COLUMNS:
            setattr(self, k, values.get(k))

    def row(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.COLUMNS}


def _views(rows: Iterable[Event | NewEvent]) -> list[EventView]:
    return [EventView(r.id, r.first_seen, r.last_seen, r.count, list(r.evidence or []), list(r.sensors or []))
            for r in rows]


def record(s: Session, occurrences: Sequence[Occurrence], learning: Sequence[bool], now: float | None = None) \
        -> list[NewEvent]:
    """Turn a batch's occurrences into events (new rows or widened ones); the new rows (for the outputs)."""
    if not occurrences:
        return []
    now = time.time() if now is None else now
    idents = {o.identity() for o in occurrences}
    kinds = sorted({i[0] for i in idents})
    assets = sorted({i[1] for i in idents if i[1]})
    rows: dict[tuple, list[Event | NewEvent]] = {}
    base: set[tuple] = set()
    for chunk in [assets[i:i + 900] for i in range(0, len(assets), 900)] + [[]]:
        cond = Event.asset_id.in_(chunk) if chunk else Event.asset_id.is_(None)
        for r in s.scalars(select(Event).where(Event.kind.in_(kinds), cond)):
            ident = (r.kind, r.asset_id or 0, r.client_id or 0, r.detail)
            if ident in idents:
                rows.setdefault(ident, []).append(r)
        for b in s.scalars(select(EventBaseline).where(EventBaseline.kind.in_(kinds),
                                                       EventBaseline.asset_id.in_(chunk or [0]))):
            base.add((b.kind, b.asset_id, b.client_id, b.detail))
    new: list[NewEvent] = []
    next_id = (s.scalar(select(func.max(Event.id))) or 0) + 1   # merges are serialised (the ingest lock)
    order = sorted(range(len(occurrences)), key=lambda i: (occurrences[i].first_seen, i))
    for i in order:
        occ, learn = occurrences[i], learning[i]
        ident = occ.identity()
        mine = sorted(rows.get(ident, []), key=lambda r: r.first_seen)
        views = _views(mine)
        got = decide(occ, views, ident in base)
        if got is None:
            continue
        if got == "new":
            n = len(mine)
            row = NewEvent(id=next_id, key=event_key(ident, n), kind=occ.kind,
                           severity=occ.severity or SEVERITY.get(occ.kind, "medium"), technique=occ.technique,
                           asset_id=occ.asset_id,
                           client_id=occ.client_id, protocol=occ.protocol[:64], detail=occ.detail[:256],
                           message=occ.message[:512], evidence=[occ.evidence[:512]], sensors=[occ.sensor[:128]],
                           count=max(1, occ.count), first_seen=occ.first_seen, last_seen=occ.last_seen,
                           learning=bool(learn and occ.kind in LEARNED), acknowledged=False, created_at=now)
            next_id += 1
            rows.setdefault(ident, []).append(row)
            new.append(row)
            continue
        assert isinstance(got, EventView)
        row = next(r for r in mine if r.id == got.id)
        upd = merged(got, occ)
        if (upd.first_seen, upd.last_seen, upd.count, upd.evidence, upd.sensors) != \
                (row.first_seen, row.last_seen, row.count, row.evidence, row.sensors):
            row.first_seen, row.last_seen, row.count = upd.first_seen, upd.last_seen, upd.count
            row.evidence, row.sensors = upd.evidence, upd.sensors
    if new:
        s.flush()                                  # the assets they name exist first
        s.connection().execute(insert(Event.__table__), [r.row() for r in new])   # Core executemany
    return new


def repoint(s: Session, keep: int, drop: int) -> None:
    """Two assets were one device (collector/repository.merge_into): the dropped one's events and baseline
    entries move to the kept one (an identity both had stays once)."""
    s.flush()
    moved = False
    for col in (Event.asset_id, Event.client_id):
        for r in s.scalars(select(Event).where(col == drop)):
            setattr(r, col.key, keep)
            moved = True
    if moved:                                    # a "first time" identity both had is one event: the earliest
        s.flush()
        seen: dict[tuple, Event] = {}
        for r in s.scalars(select(Event).where(Event.kind.in_(sorted(ONCE)), or_(
                Event.asset_id == keep, Event.client_id == keep)).order_by(Event.first_seen, Event.id)).all():
            ident = (r.kind, r.asset_id or 0, r.client_id or 0, r.detail)
            first = seen.get(ident)
            if first is None:
                seen[ident] = r
                continue
            first.last_seen = max(first.last_seen, r.last_seen)
            first.evidence = (list(first.evidence) + [e for e in r.evidence if e not in first.evidence])[:MAX_EVIDENCE]
            first.sensors = (list(first.sensors) + [x for x in r.sensors if x not in first.sensors])[:MAX_EVIDENCE]
            first.acknowledged = first.acknowledged or r.acknowledged
            s.delete(r)
    have = {(b.kind, b.asset_id, b.client_id, b.detail) for b in s.scalars(select(EventBaseline).where(
        or_(EventBaseline.asset_id == keep, EventBaseline.client_id == keep)))}
    for b in s.scalars(select(EventBaseline).where(or_(EventBaseline.asset_id == drop,
                                                        EventBaseline.client_id == drop))).all():
        moved = (b.kind, keep if b.asset_id == drop else b.asset_id, keep if b.client_id == drop else b.client_id,
                 b.detail)
        if moved in have:
            s.delete(b)
        else:
            b.asset_id, b.client_id = moved[1], moved[2]
            have.add(moved)
    s.flush()


def acknowledge(s: Session, event_id: int, by: str, now: float | None = None) -> Event | None:
    """Accept an event into the baseline: it is marked acknowledged, and its identity is not raised again."""
    row = s.get(Event, event_id)
    if row is None:
        return None
    now = time.time() if now is None else now
    if not row.acknowledged:
        row.acknowledged, row.acked_at, row.acked_by = True, now, by[:128]
    ident = (row.kind, row.asset_id or 0, row.client_id or 0, row.detail)
    known = s.scalar(select(EventBaseline.id).where(
        EventBaseline.kind == ident[0], EventBaseline.asset_id == ident[1], EventBaseline.client_id == ident[2],
        EventBaseline.detail == ident[3]))
    if known is None:
        s.add(EventBaseline(kind=ident[0], asset_id=ident[1], client_id=ident[2], detail=ident[3], added_at=now,
                            reason="acknowledged"))
    s.flush()
    return row


@dataclass(frozen=True, slots=True)
class EventFilter:
    kind: str | None = None
    asset_id: int | None = None
    severity: str | None = None
    since: float | None = None
    learning: bool | None = None
    acknowledged: bool | None = None


def _where(f: EventFilter) -> list:  # type: ignore[type-arg]
    conds = []
    if f.kind is not None:
        conds.append(Event.kind == f.kind)
    if f.asset_id is not None:
        conds.append(or_(Event.asset_id == f.asset_id, Event.client_id == f.asset_id))
    if f.severity is not None:
        conds.append(Event.severity == f.severity)
    if f.since is not None:
        conds.append(Event.last_seen >= f.since)
    if f.learning is not None:
        conds.append(Event.learning == f.learning)
    if f.acknowledged is not None:
        conds.append(Event.acknowledged == f.acknowledged)
    return conds


def list_events(s: Session, f: EventFilter = EventFilter(), limit: int | None = None, offset: int = 0) \
        -> tuple[list[Event], int]:
    """Events matching the filter, oldest first (by first sighting, then id), and how many match in all."""
    conds = _where(f)
    total = s.scalar(select(func.count(Event.id)).where(*conds)) or 0
    q = select(Event).where(*conds).order_by(Event.first_seen, Event.id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(s.scalars(q)), total


def clear(s: Session) -> None:
    """Forget every event, the baseline and the learning state (tests, a fresh start)."""
    s.execute(delete(Event))
    s.execute(delete(EventBaseline))
    s.execute(delete(EventState))


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_dict(e: Event | NewEvent, names: dict[int, str] | None = None) -> dict[str, object]:
    """The public shape of an event (the API schema, the CLI's JSON, JSON lines)."""
    names = names or {}
    return {
        "id": e.id, "kind": e.kind, "severity": e.severity, "time": stamp(e.first_seen),
        "first_seen": e.first_seen, "last_seen": e.last_seen, "count": e.count,
        "asset_id": e.asset_id, "asset": names.get(e.asset_id) if e.asset_id else None,
        "client_id": e.client_id, "client": names.get(e.client_id) if e.client_id else None,
        "protocol": e.protocol, "detail": e.detail, "message": e.message,
        "evidence": list(e.evidence or []), "sensors": list(e.sensors or []),
        "technique": e.technique, "technique_name": TECHNIQUES.get(e.technique or ""),
        "learning": e.learning, "acknowledged": e.acknowledged,
    }


def labels(s: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """A short label per asset for the outputs: its name, or its first IP (else MAC) address."""
    from otscope.collector.models import Address, Asset

    want = sorted({i for i in ids if i})
    out: dict[int, str] = {}
    for i in range(0, len(want), 900):
        chunk = want[i:i + 900]
        addrs: dict[int, list[tuple[str, str]]] = {}
        for aid, kind, value in s.execute(select(Address.asset_id, Address.kind, Address.value)
                                          .where(Address.asset_id.in_(chunk))):
            addrs.setdefault(aid, []).append((kind, value))
        for aid, name, parent, comp in s.execute(select(Asset.id, Asset.name, Asset.parent_id, Asset.component)
                                                 .where(Asset.id.in_(chunk))):
            a = sorted(addrs.get(aid, []))             # "ip" sorts before "mac"
            where = a[0][1] if a else (f"{parent}/{comp}" if parent else str(aid))
            out[aid] = f"{name} ({where})" if name else where
    return out


def parse_since(text: str) -> float:
    """--since / ?since=: epoch seconds, or an ISO 8601 time (UTC when it names no zone)."""
    t = text.strip()
    try:
        v = float(t)
    except ValueError:
        try:
            d = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a time: {text[:64]!r} (epoch seconds or ISO 8601)") from None
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        v = d.timestamp()
    if not (0 <= v <= 4_102_444_800):
        raise ValueError(f"time out of range: {text[:64]!r}")
    return v


def publish(s: Session, rows: Sequence[Event | NewEvent]) -> None:
    """Send the raised events (new, not learning) to the configured outputs (collector/event_outputs.py); called
    after the transaction that made them committed."""
    if not any(os.environ.get(k) for k in ("OTSCOPE_EVENTS_JSONL", "OTSCOPE_SYSLOG", "OTSCOPE_WEBHOOK")):
        return                                  # no output configured: not even imported (sockets, ssl, urllib)
    from otscope.collector import event_outputs

    pub = event_outputs.from_env()
    if not pub:
        return
    raised = [r for r in rows if not r.learning]
    names = labels(s, [i for r in raised for i in (r.asset_id, r.client_id)]) if raised else {}
    pub.publish([as_dict(r, names) for r in raised])
