"""One write path (issue 13): the unit of work is the only place that commits, and one rule widens first/last
seen for every row."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from otscope.collector.repository import widen, widen_fact
from otscope.collector.uow import unit_of_work
from tests.conftest import Inventory

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_unit_of_work_commits() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{n}" for d in ("agent", "api", "collector", "dissectors", "otscope")
                 for p in sorted((ROOT / d).rglob("*.py")) if p.name != "uow.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\.commit\(\)", line)]
    assert offenders == []


def test_unit_of_work_commits_or_rolls_back(tmp_path: Path) -> None:
    from otscope.collector.models import RegisterEntry

    inv = Inventory(f"sqlite:///{tmp_path}/u.db")
    with inv.factory() as s:
        with unit_of_work(s):
            s.add(RegisterEntry(name="a", ip="10.0.0.1"))
        with pytest.raises(RuntimeError), unit_of_work(s):
            s.add(RegisterEntry(name="b", ip="10.0.0.2"))
            s.flush()
            raise RuntimeError("half-done")
    with inv.factory() as s:
        assert [r.name for r in s.query(RegisterEntry)] == ["a"]


def test_one_widening_rule() -> None:
    row = SimpleNamespace(first_seen=10.0, last_seen=20.0, evidence="f#frame 5", message="m5")
    widen(row, 12.0, 15.0)
    assert (row.first_seen, row.last_seen) == (10.0, 20.0)
    widen_fact(row, 8.0, 25.0, "f#frame 2", "m2")
    assert (row.first_seen, row.last_seen, row.evidence, row.message) == (8.0, 25.0, "f#frame 2", "m2")
    widen_fact(row, 9.0, 9.5, "f#frame 3", "m3")                  # later first sighting: evidence kept
    assert row.evidence == "f#frame 2"
