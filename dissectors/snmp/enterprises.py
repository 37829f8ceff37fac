"""IANA Private Enterprise Numbers -> organisation (the registry behind 1.3.6.1.4.1.N, RFC 1155 3.1).

The registry ships as data beside this module (``enterprises.tsv.gz``: its header names the source and date).
It is decompressed once per process, on the first lookup (about 10 ms), never at import: a capture
without SNMP never pays for it. Names are bounded like any string that reaches an inventory.
"""

from __future__ import annotations

import gzip
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("enterprises.tsv.gz")
MAX_NAME = 96

# Enterprises whose number names the SNMP agent *software*, not the maker of the device it runs on
# (net-snmp's sysObjectID 1.3.6.1.4.1.8072.3.2.10 is any Linux box): their name is kept, but not as ``vendor``.
AGENT_SOFTWARE = frozenset({2021, 8072})     # UCD-SNMP, net-snmp (NET-SNMP-TC netSnmpAgentOIDs)


@cache
def _registry() -> str:
    """The whole file as one string, each line "N<TAB>name" after a newline (looked up by find: no table of
    60 000 entries is built for the few numbers a network has)."""
    try:
        with gzip.open(DATA, "rt", encoding="utf-8") as f:
            return "\n" + f.read()
    except OSError:                  # a broken install: numbers stay numbers
        return ""


@lru_cache(maxsize=4096)
def organisation(number: int) -> str:
    """The registered organisation of an enterprise number ("" when not registered)."""
    reg = _registry()
    key = f"\n{number}\t"
    at = reg.find(key)
    if number < 0 or at < 0:
        return ""
    start = at + len(key)
    stop = reg.find("\n", start)
    raw = reg[start:stop if stop >= 0 else len(reg)]
    name = "".join(ch if ch.isprintable() else "\ufffd" for ch in raw).strip()
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 1] + "\u2026"


def enterprise_of(oid: str) -> int | None:
    """N of an OID under 1.3.6.1.4.1.N (None for any other OID)."""
    if not oid.startswith("1.3.6.1.4.1."):
        return None
    arc = oid[12:].split(".", 1)[0]
    return int(arc) if arc.isdigit() and len(arc) <= 10 else None
