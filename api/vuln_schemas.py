"""API shapes of vulnerability matches and advisories (collector/advisories/store.py as_dict), apart from the ORM."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VulnerabilityOut(BaseModel):
    asset_id: int
    asset: str | None = Field(description="a short label: name, else first IP or MAC")
    advisory: str = Field(description="the advisory's document.tracking.id (e.g. ICSA-20-042-05)")
    title: str
    cve: str | None
    severity: str | None = Field(description="CVSS v3 base severity: critical | high | medium | low | none")
    score: float | None = Field(description="CVSS v3 base score")
    status: str = Field(description="affected | possible (firmware unknown, or a range that cannot be checked)")
    confidence: str = Field(description="exact (model / order number, CPE or product name) | family")
    product_id: str
    product: str = Field(description="the advisory's product entry that matched")
    version_range: str | None
    reason: str
    evidence: list[str] = Field(description="each matching step: vendor, product, version, product status")
    remediation: str | None
    first_matched: float


class VulnerabilityPage(BaseModel):
    data: list[VulnerabilityOut]
    count: int = Field(description="total matching items (not only this page)")


class AdvisoryOut(BaseModel):
    tracking_id: str
    revision: str
    title: str
    publisher: str
    latest: bool = Field(description="the newest revision of its tracking id: the one matched")
    products: int
    cves: list[str]
    source: str
    schema_checked: bool


class AdvisoryPage(BaseModel):
    data: list[AdvisoryOut]
    count: int


class VulnSummary(BaseModel):
    affected: list[str] = Field(description="advisories the asset is affected by")
    possible: list[str] = Field(description="advisories it may be affected by (firmware unknown, ...)")
    max_score: float | None
    max_severity: str | None


class CpeOut(BaseModel):
    part: str = Field(description="h (hardware) | o (firmware)")
    cpe: str = Field(description="CPE 2.3 formatted string")
    rule: str = Field(description="the rule that made it (collector/advisories/cpe.py RULES)")
