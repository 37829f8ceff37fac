"""Execute a plan: one device at a time, one connection per device and protocol, every frame through the
guard and the safety gate; per-step results, an audit log, and the answers' facts into the inventory.

Facts: the transcript of each connection is decoded by the passive dissector of its protocol (the same code
that reads a SPAN port), and only what it says about the *device* is kept (nothing about this host, which is
not the engineering workstation it would look like). Provenance without a schema change: the batch's sensor
(fact column ``sensor``) is ``active:<operator>``, the evidence is ``active:<operator>@<time>`` and the message
starts ``method: active; request: ...; operator: ...``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

from otscope.active.guard import Allowed, GuardedSocket, Proto, RequestRefused, Transcript
from otscope.active.plan import Plan
from otscope.active.requests import Kind, Outcome, Step, StepResult, run_session
from otscope.active.safety import RETRIES, Egress, Safety, Stopped, device_lock, open_connection
from otscope.contract import MAX_STR, Batch, Evidence, FactObs, Subject, clip
from otscope.domain import Side, Who

ANSWER_WINDOW = 3                  # an answer is complete within 3 timeouts of its request, or it is garbage
ACTIVE_PREFIX = "active:"          # sensor / evidence source of every actively obtained fact
METHOD = "method: active"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- audit log ----------------------------------------------------------------------------------------------

class Audit:
    """JSON lines, one per frame sent and one per step result, flushed as written (a crash loses nothing)."""

    def __init__(self, out: TextIO | None, operator: str, job: str) -> None:
        self.out, self.operator, self.job = out, operator, job
        self.lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def write(self, **entry: Any) -> None:
        now = time.time()
        line = {"time": iso(now), "ts": round(now, 6), "job": self.job, "operator": self.operator, **entry}
        with self._lock:
            self.lines.append(line)
            if self.out is not None:
                self.out.write(json.dumps(line, sort_keys=True) + "\n")
                self.out.flush()


# --- results ------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class StepReport:
    step: Step
    result: StepResult
    facts: int = 0
    sent_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.step.as_dict(), "outcome": self.result.outcome.value, "detail": self.result.detail,
                "facts": self.facts, "sent_at": iso(self.sent_at) if self.sent_at else None}


@dataclass(slots=True)
class RunReport:
    job: str
    operator: str
    steps: list[StepReport] = field(default_factory=list)
    facts: list[FactObs] = field(default_factory=list)
    stopped: str = ""
    requests_sent: int = 0
    ingest_error: str = ""              # the facts could not be written (the audit log still has every request)

    def targets(self) -> list[dict[str, Any]]:
        """Per target: its overall result (the best of its steps) and each step."""
        order = [Outcome.ANSWERED, Outcome.EXCEPTION, Outcome.GARBAGE, Outcome.RESET, Outcome.NO_ANSWER,
                 Outcome.REFUSED, Outcome.UNREACHABLE, Outcome.BLOCKED, Outcome.SKIPPED]
        by: dict[str, list[StepReport]] = {}
        for r in self.steps:
            by.setdefault(r.step.target, []).append(r)
        out = []
        for target, reps in by.items():
            best = min((r.result.outcome for r in reps), key=order.index)
            out.append({"target": target, "result": best.value, "facts": sum(r.facts for r in reps),
                        "steps": [r.as_dict() for r in reps]})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "operator": self.operator, "stopped": self.stopped or None,
                "ingest_error": self.ingest_error or None,
                "requests_sent": self.requests_sent, "facts": len(self.facts), "targets": self.targets()}


# --- facts from the transcript ------------------------------------------------------------------------------

def _dissector(proto: Proto):  # type: ignore[no-untyped-def]
    if proto is Proto.MODBUS:
        from otscope.dissectors.modbus.dissector import ModbusDissector
        return ModbusDissector()
    if proto is Proto.ENIP:
        from otscope.dissectors.enip.dissector import EnipDissector
        return EnipDissector()
    from otscope.dissectors.s7.dissector import S7Dissector
    return S7Dissector()


def transcript_facts(proto: Proto, steps: list[Step], tr: Transcript, vlan: int, operator: str) -> list[FactObs]:
    """The device's facts in the connection's bytes, as the passive dissector reads them, with active
    provenance. Facts about this host (the client side) are dropped."""
    d = _dissector(proto)
    frame_step: dict[int, int] = {}
    for n, c in enumerate(tr.chunks, start=1):
        frame_step[n] = c.step
        d.feed(c.data, int(c.side), c.ts, n)
    target = steps[0].target
    out = []
    for f in d.out:
        if f.who != Who.SERVER:
            continue
        st = steps[min(max(frame_step.get(f.frame, 0), 0), len(steps) - 1)]
        msg = clip(f"{METHOD}; request: {st.request()}; operator: {operator}; {f.message}", MAX_STR)
        ev = Evidence(source=clip(ACTIVE_PREFIX + operator, 128), frame=None, ts=f.ts)
        out.append(FactObs(subject=Subject(vlan=vlan, ip=target, component=f.component), field=f.field,
                           value=f.value, protocol=f.protocol or proto.value, message=msg, evidence=ev,
                           first_seen=f.ts, last_seen=f.ts))
    return out


def fact_steps(facts: list[FactObs], steps: list[Step]) -> dict[int, int]:
    """How many facts each step of a session brought (by the request named in the message)."""
    counts: dict[int, int] = {}
    names = [s.request() for s in steps]
    for f in facts:
        for i, n in enumerate(names):
            if f"request: {n};" in f.message:
                counts[i] = counts.get(i, 0) + 1
                break
    return counts


def retry_steps(steps: list[Step], results: dict[int, StepResult]) -> list[int]:
    """The steps worth one more try: no answer or a reset (and those they kept from running); an S7 read needs
    its connection step again. A refused connection or an answer (even an exception) is final."""
    again = {Outcome.NO_ANSWER, Outcome.RESET}
    failed = [i for i, r in results.items() if r.outcome in again]
    if not failed:
        return []
    todo = sorted(set(failed) | {i for i, r in results.items() if r.outcome is Outcome.SKIPPED
                                 and r.detail in ("no connection", "no session", "no S7 connection",
                                                  "the connection was lost", "not reached")})
    if steps and steps[0].kind is Kind.S7_CONNECT and todo and todo[0] != 0:
        todo = [0] + todo
    return todo


# --- running ------------------------------------------------------------------------------------------------

Connect = Callable[[str, int, Egress, float], socket.socket]


@dataclass(slots=True)
class Runner:
    safety: Safety
    egress: Egress
    audit: Audit
    connect: Connect = open_connection
    sink: Callable[[Batch], Any] | None = None      # collector ingest of the facts (one batch per run)
    vlan: int = 0

    def run(self, plan: Plan) -> RunReport:
        """Every session of the plan, in order; never raises (every failure is a step result)."""
        report = RunReport(job=self.audit.job, operator=self.audit.operator)
        for refusal in plan.refused:
            self.audit.write(event="refused", target=refusal.target, reason=refusal.reason)
        for key, steps in plan.sessions():
            if report.stopped:
                report.steps += [StepReport(s, StepResult(Outcome.SKIPPED, report.stopped)) for s in steps]
                continue
            self._session(key[0], key[1], key[2], steps, report)
        self._ingest(report)
        self.audit.write(event="done", requests_sent=report.requests_sent, facts=len(report.facts),
                         stopped=report.stopped or None)
        return report

    def _session(self, target: str, port: int, proto: Proto, steps: list[Step], report: RunReport) -> None:
        allowed = Allowed(proto, units=frozenset(s.unit for s in steps if s.unit is not None),
                          slots=frozenset(s.slot for s in steps if s.kind is Kind.ENIP_SLOT_IDENTITY
                                          and s.slot is not None))
        with device_lock(target):                          # one connection per device at a time
            final: dict[int, StepResult] = {}
            sent: dict[int, float] = {}
            todo = list(range(len(steps)))
            for attempt in range(1 + RETRIES):
                batch = [steps[i] for i in todo]
                tr = Transcript()
                got: dict[int, float] = {}
                try:
                    results = self._attempt(target, port, proto, batch, allowed, tr, got, report)
                except Stopped as e:
                    report.stopped = str(e)
                    results = [StepResult(Outcome.SKIPPED, str(e)) for _ in batch]
                report.facts += transcript_facts(proto, batch, tr, self.vlan, self.audit.operator)
                for j, i in enumerate(todo):
                    final[i] = results[j]
                    if j in got:
                        sent.setdefault(i, got[j])
                todo = retry_steps(steps, final)
                if report.stopped or not todo or attempt == RETRIES:
                    break
                # timeouts and one retry, with back-off: the device is left alone a while first
                first = final[todo[0]]
                self.audit.write(event="retry", target=target, protocol=proto.value, reason=first.outcome.value,
                                 detail=first.detail, steps=len(todo))
                try:
                    self.safety.backoff(attempt + 1)
                except Stopped as e:
                    report.stopped = str(e)
                    break
            per_step = fact_steps([f for f in report.facts if f.subject.ip == target], steps)
            for i, st in enumerate(steps):
                res = final.get(i, StepResult(Outcome.SKIPPED, "not reached"))
                rep = StepReport(st, res, per_step.get(i, 0), sent.get(i))
                report.steps.append(rep)
                self.audit.write(event="result", target=target, port=port, protocol=proto.value,
                                 request=st.request(), outcome=res.outcome.value, detail=res.detail,
                                 facts=rep.facts)

    def _attempt(self, target: str, port: int, proto: Proto, steps: list[Step], allowed: Allowed, tr: Transcript,
                 sent: dict[int, float], report: RunReport) -> list[StepResult]:
        def gate(_what: str, _frame: bytes) -> None:
            self.safety.before_send()                      # raises Stopped

        def on_sent(what: str, frame: bytes) -> None:
            st = steps[max(tr.step, 0)]
            sent.setdefault(max(tr.step, 0), time.time())
            report.requests_sent += 1
            self.audit.write(event="request", target=target, port=port, protocol=proto.value, step=st.kind.value,
                             request=what, bytes=frame[:64].hex())

        self.safety.before_send()                          # the SYN counts against the rate too
        self.audit.write(event="connect", target=target, port=port, protocol=proto.value)
        try:
            sock = self.connect(target, port, self.egress, self.safety.timeout)
        except ConnectionRefusedError:
            return [StepResult(Outcome.REFUSED, "connection refused")] + \
                [StepResult(Outcome.SKIPPED, "no connection") for _ in steps[1:]]
        except (TimeoutError, socket.timeout):
            return [StepResult(Outcome.NO_ANSWER, "no answer to the TCP connection request")] + \
                [StepResult(Outcome.SKIPPED, "no connection") for _ in steps[1:]]
        except OSError as e:
            return [StepResult(Outcome.UNREACHABLE, clip(str(e), 200))] + \
                [StepResult(Outcome.SKIPPED, "no connection") for _ in steps[1:]]
        guarded = GuardedSocket(sock, proto, allowed, gate, tr, on_sent=on_sent,
                                answer_window=ANSWER_WINDOW * self.safety.timeout)
        try:
            results = run_session(proto, steps, guarded, tr, self.safety.timeout)
        finally:
            try:
                sock.close()
            except OSError:
                pass
        return results

    def _ingest(self, report: RunReport) -> None:
        if not report.facts or self.sink is None:
            return
        batch = Batch(sensor=clip(ACTIVE_PREFIX + report.operator, 128), batch_id=f"active:{report.job}",
                      facts=report.facts)
        try:
            self.sink(batch)
        except Exception as e:  # noqa: BLE001 - the run's results stand; the operator is told the write failed
            report.ingest_error = clip(f"{type(e).__name__}: {e}", 300)
            self.audit.write(event="ingest-failed", detail=report.ingest_error)


def new_job_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def open_audit(path: str | None) -> TextIO | None:
    if not path:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    return os.fdopen(fd, "a", encoding="utf-8")


__all__ = ["ACTIVE_PREFIX", "Audit", "RequestRefused", "RunReport", "Runner", "Side", "new_job_id", "open_audit",
           "transcript_facts"]
