"""Typed anomaly kinds per protocol, and named, configurable caps whose hit is always an anomaly of its name."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from enum import StrEnum
from pathlib import Path

import pytest

from otscope.dissectors.enip.constants import EnipAnomaly
from otscope.dissectors.modbus.constants import ModbusAnomaly
from otscope.dissectors.s7.constants import S7Anomaly
from otscope.domain import Caps, cap_anomaly, configure_caps

ROOT = Path(__file__).resolve().parents[2]
ENUMS: tuple[type[StrEnum], ...] = (ModbusAnomaly, EnipAnomaly, S7Anomaly)


def _run(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_no_dissector_counts_a_free_string() -> None:
    """Every anomaly(...) call in a protocol package passes a member of its enum, never a string literal."""
    found = []
    for f in sorted((ROOT / "dissectors").glob("*/*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("anomaly", "_anom") and node.args:
                if isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
                    found.append(f"{f.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_anomaly_kinds_are_distinct_and_caps_are_named_after_their_cap() -> None:
    for enum in ENUMS:
        assert len({m.value for m in enum}) == len(enum)
        for m in enum:
            if m.value.endswith("-cap"):
                assert m.value == cap_anomaly(m.name.lower().removesuffix("_cap")), m
    assert cap_anomaly("pending_requests") == "pending-requests-cap"
    with pytest.raises(KeyError):
        cap_anomaly("no_such_cap")


def test_a_kind_with_detail_keeps_its_wire_value() -> None:
    """The strings that reach the collector are those of before the enums (``kind-detail``, bounded)."""
    from otscope.dissectors.enip.dissector import EnipDissector

    d = EnipDissector()
    d.anomaly(EnipAnomaly.UNKNOWN_COMMAND, 1, 0.0, "0x0abc")
    d.anomaly(EnipAnomaly.MALFORMED, 2, 0.0, "list_identity: " + "x" * 200)
    d.anomaly(EnipAnomaly.BAD_HEADER, 3, 0.0)
    kinds = [a.kind for a in d.anomalies]
    assert kinds[0] == "unknown-command-0x0abc" and kinds[2] == "bad-header"
    assert kinds[1].startswith("malformed-list_identity: xxx") and len(kinds[1]) == 120
    assert all(type(k) is str for k in kinds)          # plain strings downstream (pickled, JSON, database)


def test_configure_caps_refuses_unknown_names_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown cap"):
        configure_caps(no_such_cap=3)
    with pytest.raises(ValueError):
        configure_caps(pending_requests=0)
    assert set(Caps.names()) == {"facts_per_flow", "pending_transactions", "pending_requests",
                                 "cotp_reassembly_bytes"}


def test_configure_caps_after_the_dissectors_read_them_is_refused() -> None:
    import otscope.dissectors.base  # noqa: F401 - reads the caps
    with pytest.raises(RuntimeError, match="before the capture starts"):
        configure_caps(pending_requests=8)


CAPPED = """
    import json, sys
    from otscope.domain import configure_caps
    configure_caps(**json.loads(sys.argv[1]))
    from otscope.dissectors.modbus.dissector import ModbusDissector
    d = ModbusDissector()
    for tid in range(1, 5):                             # four requests, no answer yet
        d.feed(bytes.fromhex(f"{tid:04x}00000006010300000001"), 0, 1.0, tid)
    print(json.dumps([a.kind for a in d.anomalies]))
"""


def test_hitting_a_cap_is_an_anomaly_of_its_name() -> None:
    assert json.loads(_run(CAPPED, "{}")) == []                                  # 4 < 64: nothing
    assert json.loads(_run(CAPPED, '{"pending_transactions": 2}')) == ["pending-transactions-cap"]


FACTS = """
    import json, sys
    from otscope.domain import configure_caps
    configure_caps(facts_per_flow=3)
    from otscope.dissectors.base import Dissector, Who
    d = Dissector()
    for i in range(5):
        d.fact(Who.SERVER, "name", f"n{i}", "m", i, 0.0)
    print(json.dumps([len(d.out), [a.kind for a in d.anomalies]]))
"""


def test_the_facts_cap_is_counted_not_silent() -> None:
    n, kinds = json.loads(_run(FACTS))
    assert n == 3 and kinds == ["facts-per-flow-cap", "facts-per-flow-cap"]
