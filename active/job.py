"""One identification job, the same for the CLI and the API: check, plan, run, ingest; and the API's
background jobs (one at a time per process: the rate limit is global)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from otscope.active.plan import Plan, PlanRequest, build_plan
from otscope.active.requests import missing_libraries
from otscope.active.run import Audit, RunReport, Runner, new_job_id, open_audit
from otscope.active.safety import (DEFAULT_RATE, DEFAULT_TIMEOUT, Clock, Egress, QuietWindow, RateLimiter, Refused,
                                   Safety, StopSwitch, capture_interfaces, check_egress)
from otscope.collector.models import Sensor

MAX_JOBS_KEPT = 32


@dataclass(frozen=True, slots=True)
class IdentifyConfig:
    plan: PlanRequest
    operator: str
    egress: Egress = Egress()
    rate: float = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT
    quiet: tuple[str, ...] = ()                   # HH:MM-HH:MM (UTC) windows when nothing is sent
    stop_file: str | None = None
    capture: tuple[str, ...] = ()                 # capture interfaces named by the operator (besides the sensors')
    audit_path: str | None = None


def sensor_stats(s: Session) -> list[dict]:
    return [st for st in s.scalars(select(Sensor.stats)) if isinstance(st, dict)]


def prepare(factory: sessionmaker[Session], cfg: IdentifyConfig,
            route: Callable[..., Any] | None = None) -> Plan:
    """The plan, after every refusal that applies before anything is sent (raises Refused)."""
    for q in cfg.quiet:
        QuietWindow.parse(q)
    RateLimiter(cfg.rate)
    with factory() as s:
        plan = build_plan(s, cfg.plan)
        capture = capture_interfaces(cfg.capture, sensor_stats(s))
    missing = missing_libraries({st.proto for st in plan.steps})
    if missing:
        raise Refused(f"active identification needs {', '.join(missing)}: pip install 'otscope[active]'")
    kwargs = {"route": route} if route is not None else {}
    check_egress(cfg.egress, capture, sorted({st.target for st in plan.steps}), **kwargs)
    return plan


def execute(factory: sessionmaker[Session], cfg: IdentifyConfig, plan: Plan, *, job: str | None = None,
            stop: StopSwitch | None = None, clock: Clock | None = None,
            connect: Callable[..., Any] | None = None) -> RunReport:
    from otscope.collector.service import ingest

    job = job or new_job_id()
    safety = Safety(RateLimiter(cfg.rate, clock), stop or StopSwitch(cfg.stop_file),
                    tuple(QuietWindow.parse(q) for q in cfg.quiet), cfg.timeout)
    if stop is not None and cfg.stop_file and not stop.path:
        stop.path = cfg.stop_file
    try:
        out = open_audit(cfg.audit_path)
    except OSError as e:
        raise Refused(f"audit log {cfg.audit_path}: {e.strerror or e}") from None
    try:
        audit = Audit(out, cfg.operator, job)
        audit.write(event="start", steps=len(plan.steps), refused=len(plan.refused), rate=cfg.rate,
                    interface=cfg.egress.interface, source=cfg.egress.source)
        runner = Runner(safety, cfg.egress, audit, sink=lambda b: ingest(factory, b))
        if connect is not None:
            runner.connect = connect
        return runner.run(plan)
    finally:
        if out is not None:
            out.close()


# --- background jobs (API) -----------------------------------------------------------------------------------

@dataclass(slots=True)
class Job:
    id: str
    operator: str
    plan: Plan
    state: str = "running"                # running | done | failed | stopped
    started: float = field(default_factory=time.time)
    finished: float | None = None
    report: RunReport | None = None
    error: str = ""
    stop: StopSwitch = field(default_factory=StopSwitch)

    def as_dict(self) -> dict[str, Any]:
        from otscope.active.run import iso

        rep = self.report
        return {"job": self.id, "operator": self.operator, "state": self.state, "started": iso(self.started),
                "finished": iso(self.finished) if self.finished else None, "error": self.error or None,
                "plan": self.plan.as_dict(), "result": rep.as_dict() if rep is not None else None}


class Jobs:
    """The API's identification jobs: one runs at a time; the last few are kept for their status."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def running(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.state == "running"), None)

    def start(self, factory: sessionmaker[Session], cfg: IdentifyConfig, plan: Plan) -> Job:
        with self._lock:
            if self.running() is not None:
                raise Refused("an identification job is already running (one at a time: the rate limit is global)")
            job = Job(new_job_id(), cfg.operator, plan)
            job.stop.path = cfg.stop_file
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS_KEPT:
                oldest = next(k for k, j in self._jobs.items() if j.state != "running")
                del self._jobs[oldest]
        threading.Thread(target=self._run, args=(factory, cfg, job), name=f"identify-{job.id}", daemon=True).start()
        return job

    def _run(self, factory: sessionmaker[Session], cfg: IdentifyConfig, job: Job) -> None:
        try:
            job.report = execute(factory, cfg, job.plan, job=job.id, stop=job.stop)
            job.state = "stopped" if job.report.stopped else "done"
        except Exception as e:  # noqa: BLE001 - a job's failure is its status, never a crashed server
            job.state, job.error = "failed", f"{type(e).__name__}: {e}"[:300]
        job.finished = time.time()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def stop(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.stop.event.set()
        return job
