"""Cutting batches to the collector's size: a flush never spools a batch the collector would refuse as too large
(HTTP 413, api/settings.py max_batch_bytes, 16 MiB by default) or as holding too many observations
(contract.MAX_OBSERVATIONS), and a spooled batch refused as too large anyway is split in two and each half sent.

Idempotence is kept: the parts of batch ``B`` are ``B.1`` ... ``B.n`` (cut at flush) and the halves of a refused
``B`` are ``B.a`` and ``B.b``. A part's id depends only on the batch it came from, so a part re-sent after a
lost acknowledgement or a restart has the same id, which the collector applies once. Every part carries the
batch's heartbeat (stats), which the collector keeps as the sensor's latest state, never sums.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from otscope.contract import MAX_OBSERVATIONS, Batch

DEFAULT_MAX_BYTES = 4 << 20        # well under the collector's default 16 MiB
KINDS = ("bindings", "hosts", "facts", "comms", "traffic", "anomalies", "actions")     # bindings first: they name hosts


def _items(batch: Batch) -> list[tuple[str, object]]:
    return [(kind, item) for kind in KINDS for item in getattr(batch, kind)]


def _assemble(batch: Batch, batch_id: str, items: list[tuple[str, object]]) -> Batch:
    part = Batch(sensor=batch.sensor, batch_id=batch_id, schema=batch.schema, stats=dict(batch.stats))
    for kind, item in items:
        getattr(part, kind).append(item)
    return part


def split(batch: Batch, max_bytes: int = DEFAULT_MAX_BYTES, max_items: int = MAX_OBSERVATIONS // 4) \
        -> list[tuple[str, bytes]]:
    """(batch_id, JSON body) of the parts of ``batch``, each under ``max_bytes`` and ``max_items`` (greedy, in
    the batch's own order, so the same batch always gives the same parts). One part: the batch itself."""
    body = batch.to_json().encode()
    if len(body) <= max_bytes and batch.size() <= max_items:
        return [(batch.batch_id, body)]
    overhead = len(_assemble(batch, batch.batch_id + ".000000", []).to_json()) + 16
    budget = max(1, max_bytes - overhead)
    groups: list[list[tuple[str, object]]] = [[]]
    used = 0
    for kind, item in _items(batch):
        size = len(json.dumps(asdict(item), separators=(",", ":"), sort_keys=True)) + 1  # type: ignore[call-overload]
        if groups[-1] and (used + size > budget or len(groups[-1]) >= max_items):
            groups.append([])
            used = 0
        groups[-1].append((kind, item))
        used += size
    return [(f"{batch.batch_id}.{i}", _assemble(batch, f"{batch.batch_id}.{i}", g).to_json().encode())
            for i, g in enumerate(groups, 1)]


def halves(batch: Batch) -> list[Batch]:
    """A batch refused as too large, in two halves ``<id>.a`` and ``<id>.b``; [] when it holds one observation
    or none (it cannot be made smaller)."""
    items = _items(batch)
    if len(items) < 2:
        return []
    mid = len(items) // 2
    return [_assemble(batch, batch.batch_id + ".a", items[:mid]), _assemble(batch, batch.batch_id + ".b", items[mid:])]
