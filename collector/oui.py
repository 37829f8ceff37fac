"""MAC vendor from scapy's bundled OUI database, loaded explicitly so every machine gives the same answer
(a Wireshark manuf file on the machine would otherwise change the names; ../shared/docs/protocol-libs.md 4)."""

from __future__ import annotations

import functools
from typing import Any

UNKNOWN = "unknown"


@functools.lru_cache(maxsize=1)
def _db() -> Any:
    import logging

    logging.getLogger("scapy").setLevel(logging.ERROR)
    from scapy.data import load_manuf

    return load_manuf()            # no filename: scapy's bundled copy (scapy/libs/manuf.py)


def mac_vendor(mac: str) -> str:
    """Long vendor name for a MAC, or "unknown" (scapy returns the MAC itself for an unknown OUI)."""
    if len(mac) != 17 or int(mac[:2], 16) & 0x02:        # locally administered: no OUI
        return UNKNOWN
    try:
        name = _db()._get_manuf(mac)
    except Exception:  # noqa: BLE001 - a broken cache must not break ingest
        return UNKNOWN
    if not name or name.lower() == mac.lower() or ":" in name:
        return UNKNOWN
    return name.strip().rstrip(",").strip()
