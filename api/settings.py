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
    # Host header names this server answers to besides loopback ones (OTSCOPE_ALLOWED_HOSTS, comma separated;
    # "*" = any). Bound to loopback with open reads, only loopback names are answered: a DNS-rebinding page
    # (evil.example resolving to 127.0.0.1) must not read the inventory.
    allowed_hosts: list = field(default_factory=list)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        s = cls(db_url=os.environ.get("OTSCOPE_DB", cls.db_url),
                it_ranges=_ranges(os.environ.get("OTSCOPE_IT_RANGES")),
                ot_ranges=_ranges(os.environ.get("OTSCOPE_OT_RANGES")),
                asset_target=float(os.environ.get("OTSCOPE_ASSET_TARGET", 0.95)),
                traffic_target=float(os.environ.get("OTSCOPE_TRAFFIC_TARGET", 0.80)),
                allowed_hosts=[h.strip().lower() for h in os.environ.get("OTSCOPE_ALLOWED_HOSTS", "").split(",")
                               if h.strip()])
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


def _host_name(header: str) -> str:
    """The name part of a Host header: ``[::1]:8080`` -> ``::1``, ``plant.local:80`` -> ``plant.local``."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def host_allowed(header: str, settings: Settings) -> bool:
    """Loopback names always; names the operator listed; and, when every route needs a token anyway (bound
    beyond loopback), any name unless a list was given (a bearer token is not sent by a rebinding page)."""
    name = _host_name(header)
    if is_loopback(name) or name in settings.allowed_hosts or "*" in settings.allowed_hosts:
        return True
    if settings.allowed_hosts:
        return False
    return settings.require_auth or not is_loopback(settings.host)
