"""API settings (environment variables or `otscope serve` options)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field


def _ranges(text: str | None) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    if not text:
        return []
    return [ipaddress.ip_network(r.strip(), strict=False) for r in text.split(",") if r.strip()]


@dataclass
class Settings:
    db_url: str = "sqlite:///otscope.db"
    host: str = "127.0.0.1"
    require_auth: bool = False             # forced on when bound to anything but loopback
    asset_target: float = 0.95
    traffic_target: float = 0.80
    it_ranges: list = field(default_factory=list)
    ot_ranges: list = field(default_factory=list)
    max_upload_bytes: int = 5 * 1024 * 1024
    max_batch_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        s = cls(db_url=os.environ.get("OTSCOPE_DB", cls.db_url),
                it_ranges=_ranges(os.environ.get("OTSCOPE_IT_RANGES")),
                ot_ranges=_ranges(os.environ.get("OTSCOPE_OT_RANGES")),
                asset_target=float(os.environ.get("OTSCOPE_ASSET_TARGET", 0.95)),
                traffic_target=float(os.environ.get("OTSCOPE_TRAFFIC_TARGET", 0.80)))
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        return s


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
