"""Text search over the inventory, in memory: one lower-cased string per asset, built once per inventory
version (about 50 ms for 10,000 assets) and then matched with a substring test (about 1 ms), instead of seven
ILIKE scans and an address sub-query per request.

It matches what the SQL search matched: the asset's vendor, product, name, order number, serial, firmware and
role, and any of its addresses (IP or MAC), case-insensitively, as a substring of one field (fields are
joined by a separator that a query cannot match across).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from otscope.collector.models import Address, Asset

_SEP = "\x00"
FIELDS = (Asset.vendor, Asset.product, Asset.name, Asset.order_number, Asset.serial, Asset.firmware, Asset.role)


@dataclass(frozen=True, slots=True)
class TextIndex:
    ids: tuple[int, ...]          # ascending asset ids
    texts: tuple[str, ...]        # the same order

    @classmethod
    def build(cls, s: Session) -> TextIndex:
        addrs: dict[int, list[str]] = defaultdict(list)
        for aid, value in s.execute(select(Address.asset_id, Address.value)):
            addrs[aid].append(value)
        ids, texts = [], []
        for aid, *values in s.execute(select(Asset.id, *FIELDS).order_by(Asset.id)):
            ids.append(aid)
            texts.append(_SEP.join(v.lower() for v in (*values, *addrs.get(aid, ())) if v))
        return cls(tuple(ids), tuple(texts))

    def __len__(self) -> int:
        """Roughly the bytes it holds (for the cache's bound)."""
        return sum(len(t) + 16 for t in self.texts)

    def match(self, q: str) -> list[int]:
        """Ids (ascending) of the assets one of whose fields contains ``q``, ignoring case."""
        needle = q.lower()
        if not needle or _SEP in needle:
            return [] if needle else list(self.ids)
        return [aid for aid, t in zip(self.ids, self.texts) if needle in t]
