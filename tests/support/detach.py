"""Dissector detachments in batches: none may raise on any input, none may give up on valid traffic.

A dissector that raises is detached and counted as an anomaly ``detached: dissector-error <Exception>``
(agent/dissector_host.py); one that gives up (FATAL) as ``detached: <its reason>``. The capture goes on in
both cases, so a test that only compares outputs would pass with a dissector that always raises.
"""

from __future__ import annotations

from collections.abc import Iterable

from otscope.contract import Batch


def detachments(batches: Batch | Iterable[Batch]) -> dict[str, int]:
    """'protocol: detached: reason' -> count, over one batch or several."""
    out: dict[str, int] = {}
    for b in [batches] if isinstance(batches, Batch) else batches:
        for a in b.anomalies:
            if a.kind.startswith("detached: "):
                key = f"{a.protocol}: {a.kind}"
                out[key] = out.get(key, 0) + a.count
    return out


def dissector_errors(batches: Batch | Iterable[Batch]) -> dict[str, int]:
    """The detachments of dissectors that raised (a bug on any input)."""
    return {k: n for k, n in detachments(batches).items() if "detached: dissector-error" in k}
