"""scripts/load_central.py at a tiny size: sensors ship through their spools to `otscope serve --workers 2` on
PostgreSQL while the collector is killed once; nothing is lost or applied twice, and the figures are printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "load_central.py"
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(90)]


def test_small_load_with_a_restart() -> None:
    why = pg.ensure_server()
    if why:
        pytest.skip(why)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--sensors", "4", "--assets", "400", "--conversations",
                           "3000", "--batch-obs", "300", "--restarts", "1", "--requests", "5", "--clients", "2",
                           "--time-limit", "50"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert re.search(r"collector SIGKILL at \d+/\d+ batches applied", out), out
    m = re.search(r"batches sent (\d+), batches applied (\d+), lost (\d+), applied but not sent (\d+), "
                  r"applied twice (\d+), left in spools (\d+)", out)
    assert m, out
    sent, applied, lost, unknown, twice, left = map(int, m.groups())
    assert sent == applied > 1 and lost == unknown == twice == left == 0
    assert "assets 400 (expected 400)" in out and "communications 3,000 (expected 3,000)" in out
    assert re.search(r"= [\d,]+ observations/s", out)
    assert re.search(r"end-to-end spool -> query: n=\d+ p50 [\d,]+ ms, p95 [\d,]+ ms", out)
    for route in ("assets?limit=50 (list)", "assets/{id} (detail)", "coverage"):
        assert re.search(re.escape(route) + r".*p95 +[\d.]+ ms", out), out
    assert "RESULT: OK: 0 lost, 0 duplicated, 1 restart(s)" in out
