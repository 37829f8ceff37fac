"""Every real capture in ../shared/pcaps replays cleanly, and what tshark saw in it, otscope finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Inventory
from tests.support.truth import capture_for, compare, load, truth_files

TRUTHS = truth_files()


@pytest.mark.shared
@pytest.mark.skipif(not TRUTHS, reason="../shared/pcaps is not beside the project")
@pytest.mark.parametrize("truth", TRUTHS, ids=lambda p: p.name.removesuffix(".json"))
def test_replay_matches_truth(truth: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/t.db")
    (res,) = inv.replay(capture_for(truth))
    assert res.error is None
    t = load(truth)
    assert res.packets == t["packet_count"]          # every frame read (SPAN copies are counted apart)
    assets = inv.assets()
    report = compare(t, assets)
    assert report.missing == []
