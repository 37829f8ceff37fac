"""The in-memory text search matches exactly what the SQL ILIKE search matched (issue 22: search under load)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

from otscope.collector import queries
from otscope.collector.search import TextIndex
from tests.conftest import PCAPS, Inventory


def _sql(s, q: str) -> list[int]:
    data, count = queries.search_assets(s, q=q, limit=1000, with_facts=False)
    assert count == len(data)
    return [a["id"] for a in data]


def test_same_matches_as_sql(tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/s.db")
    inv.replay(*(PCAPS / f for f in ("modbus_plant.pcap", "s7_plant.pcap", "enip_plant.pcap",
                                     "hostile_names.pcap")))
    with inv.factory() as s:
        idx = TextIndex.build(s)
        terms = ["siem", "SIEMENS", "198.18.0.1", "00:", "plc", "6es7", "<script>", "%", "_", "v", "zzz-none"]
        for q in terms:
            assert idx.match(q) == _sql(s, q), q
        assert idx.match("a\x00b") == []       # no stored value holds a NUL (clip), SQLite would cut the pattern
        found = idx.match("198.18.0.1")
        page, total = queries.search_assets(s, ids=found, limit=2, offset=1, with_facts=False)
        assert total == len(found) and [a["id"] for a in page] == found[1:3]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abcdefsiemnsplc0123456789.:-_%", min_size=1, max_size=6))
def test_random_terms_match_sql(q: str) -> None:
    inv = _shared()
    with inv.factory() as s:
        assert TextIndex.build(s).match(q) == _sql(s, q)


_INV: list[Inventory] = []


def _shared() -> Inventory:
    if not _INV:
        import tempfile
        d = tempfile.mkdtemp()
        inv = Inventory(f"sqlite:///{d}/h.db")
        inv.replay(PCAPS / "modbus_plant.pcap", PCAPS / "s7_plant.pcap")
        _INV.append(inv)
    return _INV[0]
