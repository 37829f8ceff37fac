"""MAC vendor from scapy's bundled OUI database, loaded explicitly so every machine gives the same answer
(a Wireshark manuf file on the machine would otherwise change the names; ../shared/docs/protocol-libs.md 4).

Loading scapy's database costs ~0.5 s per process, so the OUI -> name table is snapshotted once per scapy
version into a small JSON cache (same data, same answers) and read from there afterwards.
"""

from __future__ import annotations

import functools
import json
import os
from importlib.metadata import version
from pathlib import Path

UNKNOWN = "unknown"


def _cache_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "otscope" / f"oui-scapy-{version('scapy')}.json"


def _from_scapy() -> dict[str, str]:
    import logging

    logging.getLogger("scapy").setLevel(logging.ERROR)
    from scapy.data import load_manuf

    db = load_manuf()            # no filename: scapy's bundled copy (scapy/libs/manuf.py), never the system's
    return {oui: long for oui, (_short, long) in db.d.items() if len(oui) == 8}


@functools.lru_cache(maxsize=1)
def table() -> dict[str, str]:
    path = _cache_file()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    data = _from_scapy()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass                      # read-only home: keep it in memory for this process
    return data


def mac_vendor(mac: str) -> str:
    """Long vendor name for a MAC, or "unknown" (never the MAC itself, unlike scapy's lookup)."""
    if len(mac) != 17 or int(mac[:2], 16) & 0x02:        # locally administered: no OUI
        return UNKNOWN
    name = table().get(mac[:8].upper())
    if not name:
        return UNKNOWN
    return name.strip().rstrip(",").strip() or UNKNOWN
