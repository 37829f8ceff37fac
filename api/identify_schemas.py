"""API shapes of active identification (otscope/active), separate from the engine's own structures."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Short = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class IdentifyRequest(BaseModel):
    """What to identify. Nothing is sent to an address outside ``allow``, and ``allow`` must lie inside the
    ranges the server was configured to permit (OTSCOPE_IDENTIFY_ALLOW)."""

    model_config = ConfigDict(extra="forbid")

    gaps: bool = Field(False, description="the coverage report's gaps")
    targets: list[Short] = Field(default_factory=list, max_length=64, description="IP or CIDR")
    allow: list[Short] = Field(min_length=1, max_length=64, description="CIDR ranges requests may go to")
    interface: Short | None = Field(None, description="send from this interface (never a capture interface)")
    source: Short | None = Field(None, description="send from this source address")
    rate: float = Field(1.0, gt=0, le=50, description="requests per second over the whole job")
    timeout: float = Field(3.0, ge=0.2, le=30, description="seconds per connect or answer")
    dry_run: bool = Field(False, description="return the plan, send nothing")
    force: list[Short] = Field(default_factory=list, max_length=64, description="IP=PROTO[,PROTO]")
    all_slots: bool = Field(False, description="CIP backplane slots 0-16, not only those seen")
    quiet: list[Short] = Field(default_factory=list, max_length=8, description="HH:MM-HH:MM (UTC), nothing sent")


class PlanStepOut(BaseModel):
    target: str
    port: int
    protocol: str
    kind: str
    request: str
    why: str


class RefusalOut(BaseModel):
    target: str
    reason: str


class PlanOut(BaseModel):
    steps: list[PlanStepOut]
    refused: list[RefusalOut]


class StepResultOut(PlanStepOut):
    outcome: str = Field(description="answered | exception | no answer | garbage | reset | refused | unreachable "
                                     "| skipped | blocked")
    detail: str
    facts: int
    sent_at: str | None


class TargetResultOut(BaseModel):
    target: str
    result: str
    facts: int
    steps: list[StepResultOut]


class RunOut(BaseModel):
    job: str
    operator: str
    stopped: str | None
    ingest_error: str | None = None
    requests_sent: int
    facts: int
    targets: list[TargetResultOut]


class IdentifyJobOut(BaseModel):
    job: str | None = Field(description="null for a dry run")
    operator: str
    state: str = Field(description="planned (dry run) | running | done | stopped | failed")
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    plan: PlanOut
    result: RunOut | None = None
