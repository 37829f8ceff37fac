"""API shapes (Pydantic), separate from the ORM models."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from otscope.api.vuln_schemas import CpeOut, VulnerabilityOut, VulnSummary

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int = Field(description="total matching items (not only this page)")


class Error(BaseModel):
    detail: str


class FactOut(BaseModel):
    field: str
    value: str
    protocol: str
    component: str | None = Field(None, description="the unit or slot the fact's frame was about (unit:5, slot:0)")
    message: str
    evidence: str = Field(description="capture file and frame, or sensor and time")
    sensor: str
    first_seen: str | None
    last_seen: str | None


class ConflictValue(BaseModel):
    value: str
    protocol: str
    evidence: str


class AssetOut(BaseModel):
    id: int
    parent: int | None
    component: str | None
    children: list[int]
    ips: list[str]
    macs: list[str]
    vlans: list[int]
    role: str
    role_evidence: str | None = Field(None, description="why this role: the device's own statement or its traffic")
    vendor: str | None
    product: str | None
    order_number: str | None
    firmware: str | None
    serial: str | None
    name: str | None
    mac_vendor: str | None
    identified: bool
    protocols: list[str]
    first_seen: str | None
    last_seen: str | None
    conflicts: dict[str, list[ConflictValue]] = {}
    facts: list[FactOut] | None = None
    vulns: VulnSummary | None = Field(None, description="advisories it is (possibly) affected by; none matched: null")


class CommunicationOut(BaseModel):
    id: int
    client: int
    server: int
    client_ips: list[str]
    server_ips: list[str]
    protocol: str
    transport: str
    port: int
    packets: int
    bytes: int
    first_seen: str | None
    last_seen: str | None
    profile: dict[str, int]


class AssetDetail(AssetOut):
    communications: list[CommunicationOut] = []
    vulnerabilities: list[VulnerabilityOut] = Field([], description="every advisory match of the asset, per CVE")
    cpes: list[CpeOut] = Field([], description="CPE 2.3 names with the rule that made each")


class Crossing(BaseModel):
    client_ip: str
    server_ip: str
    protocol: str
    port: int
    direction: str


class ItOt(BaseModel):
    declared: bool
    it_ranges: list[str]
    ot_ranges: list[str]
    note: str
    crossings: list[Crossing]


class CommunicationsOut(BaseModel):
    data: list[CommunicationOut]
    count: int
    subnets: list[str]
    vlans: list[int]
    it_ot: ItOt


class FieldShares(BaseModel):
    vendor: float
    product: float
    firmware: float


class GroupCoverage(BaseModel):
    assets: int
    identified: int
    coverage: float
    subnet: str | None = None
    vlan: int | None = None


class ProtocolTraffic(BaseModel):
    protocol: str
    bytes_seen: int
    bytes_decoded: int
    share: float


class TrafficCoverage(BaseModel):
    ot_bytes: int
    ot_bytes_decoded: int
    ot_packets: int
    share: float | None = Field(description="decoded / seen; null when no OT bytes were seen (not applicable)")
    target: float
    pass_: bool | None = Field(alias="pass", description="null when not applicable")
    status: str = Field(description="pass | fail | not applicable")
    by_protocol: list[ProtocolTraffic]


class Gap(BaseModel):
    asset: int
    ips: list[str]
    role: str
    name: str | None
    missing: list[str]
    reason: str
    action: str
    asset_class: str = Field(description="controllers | pcs | network: the definition of identified it is judged by")
    identity_method: str = Field("none", description="how its identity facts were obtained: passive | active "
                                                     "(otscope identify) | both | none")


class ClassGap(BaseModel):
    reason: str
    action: str
    assets: int


class ClassCoverage(BaseModel):
    """One line of the coverage report per asset class, each with its own definition of "identified":
    controllers and field devices (vendor + product + firmware), PCs and servers (roles hmi-scada,
    engineering-workstation, it-host: an OS from a non-weak source + a host name), network devices (vendor +
    model + firmware)."""

    asset_class: str = Field(description="controllers | pcs | network")
    title: str
    definition: str
    assets: int
    identified: int
    coverage: float
    gaps: list[ClassGap] = Field(description="why the unidentified ones are, most frequent first")


class ComponentCoverage(BaseModel):
    """A backplane module or a unit behind a gateway: part of its parent device, not counted as an asset."""

    asset: int
    parent: int
    component: str | None
    role: str
    vendor: str | None
    product: str | None
    firmware: str | None
    identified: bool
    identity_method: str = Field("none", description="passive | active | both | none")


class MethodCounts(BaseModel):
    passive: int
    active: int
    both: int
    none: int


class Identification(MethodCounts):
    """Passive and active identification side by side: OT devices by how their identity facts were obtained
    (listening to the SPAN port, `otscope identify`, both, neither); ``identified`` counts the identified ones."""

    identified: MethodCounts


class CoverageOut(BaseModel):
    target: float
    assets_total: int
    assets_identified: int
    asset_coverage: float
    pass_: bool = Field(alias="pass")
    fields: FieldShares
    by_subnet: list[GroupCoverage]
    by_vlan: list[GroupCoverage]
    traffic: TrafficCoverage
    components: list[ComponentCoverage]
    gaps: list[Gap]
    classes: list[ClassCoverage]
    identification: Identification


class RegisterUpload(BaseModel):
    imported: int
    rejected: list[str]


class Mismatch(BaseModel):
    register_id: int
    asset: int
    field: str
    expected: str
    observed: str


class RegisterRow(BaseModel):
    id: int
    name: str | None
    ip: str | None
    mac: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    location: str | None


class Reconciliation(BaseModel):
    matched: list[dict[str, int]]
    missing: list[RegisterRow]
    shadow: list[int] = Field(description="OT assets seen on the wire but not in the register")
    mismatches: list[Mismatch]


class AnomalyOut(BaseModel):
    sensor: str
    protocol: str
    kind: str
    count: int
    first_evidence: str


class SensorOut(BaseModel):
    name: str
    last_seen: str | None
    stats: dict[str, int | float | str]


class IngestOut(BaseModel):
    status: str
    observations: int


class Health(BaseModel):
    status: str
    version: str


class ProtocolOut(BaseModel):
    name: str = Field(description="protocol name as facts, labels and conversations carry it")
    spec: str = Field(description="the protocol package that declares it")
    title: str
    ot: bool = Field(description="an industrial protocol: its labels make an asset OT")
    colour: str | None = Field(description="dashboard colour, if it has one")
    labels: list[str] = Field(description="the protocol labels (fact field 'protocol') it emits")


class TokenOut(BaseModel):
    """A token as listed: never the token itself nor its hash."""

    id: int
    name: str
    scope: str
    state: str = Field(description="active | expired | revoked")
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class TokenCreate(BaseModel):
    scope: str = Field(pattern="^(read|write|admin)$")
    name: str = Field(default="", max_length=128)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; stored only as a hash")
