"""Differential tests against tshark's dissectors (mbtcp/modbus, enip/cip, s7comm) on our generated
captures and on the real captures in ../shared/pcaps."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from otscope.agent import pipeline as pipeline_mod
from otscope.dissectors.modbus.dissector import ModbusDissector
from tests.conftest import PCAPS, Inventory, run_pipeline
from tests.support.truth import CAPTURES

pytestmark = [pytest.mark.tshark, pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")]


def tshark(path: Path, display: str, *fields: str) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=/t", "-E", "aggregator=\x1e"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, timeout=120).stdout.decode("utf-8", "replace")
    return [line.split("\t") for line in out.split("\n") if line.strip()]   # not splitlines(): \x1e splits too


class TracingModbus(ModbusDissector):
    """Records every framed ADU (transaction id, unit id, function code); the fast path is bypassed."""

    trace: list[tuple[int, int, int]] = []

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        return self._stream(data, side, ts, frame)

    def _adu(self, adu: bytes, side: int, ts: float, frame: int) -> int:
        TracingModbus.trace.append((adu[0] << 8 | adu[1], adu[6], adu[7] & 0x7F))   # tshark: func_code w/o 0x80
        return super()._adu(adu, side, ts, frame)


def modbus_files() -> list[Path]:
    shared = [CAPTURES / p for p in ("ntop-nDPI/modbus.pcap", "ITI-ICS-Security-Tools/bro/modbus/modbusSmall.pcap",
                                     "ITI-ICS-Security-Tools/ModbusTCP/modbus_test_data_part1.pcap",
                                     "ITI-ICS-Security-Tools/ModbusTCP/Modbus/modbus_test.pcap",
                                     "zeek/modbus/modbus-eit.pcap")]
    return [PCAPS / "modbus_plant.pcap", PCAPS / "hostile_names.pcap"] + [p for p in shared if p.exists()]


@pytest.mark.parametrize("path", modbus_files(), ids=lambda p: p.name)
def test_modbus_adus_agree_with_tshark(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline_mod, "tcp_dissector_for", lambda s, c=-1: TracingModbus if 502 in (s, c) else None)
    TracingModbus.trace = []
    run_pipeline(path)
    theirs: Counter[tuple[int, int, int]] = Counter()
    for tid, unit, fc in tshark(path, "modbus", "mbtcp.trans_id", "mbtcp.unit_id", "modbus.func_code"):
        for t, u, f in zip(tid.split("\x1e"), unit.split("\x1e"), fc.split("\x1e")):
            theirs[(int(t), int(u), int(f))] += 1
    ours = Counter(TracingModbus.trace)
    # tshark skips retransmitted segments as we do; anything it decoded we must have framed, and vice versa
    assert ours == theirs


@pytest.mark.parametrize("path", modbus_files(), ids=lambda p: p.name)
def test_modbus_device_identification_objects_agree(path: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/m.db")
    inv.replay(path)
    values = {f["value"] for a in inv.assets() for f in a["facts"]}
    rows = tshark(path, "modbus.object_str_value", "modbus.object_str_value")
    theirs = {v for (vals,) in rows for v in vals.split("\x1e") if v}
    from otscope.dissectors.base import text
    assert {text(v.encode("latin-1")) for v in theirs} <= values


def enip_files() -> list[Path]:
    shared = sorted(p for p in CAPTURES.rglob("*") if p.is_file() and any(
        k in p.name for k in ("enip", "ethernetIP", "EIP-", "cip"))) if CAPTURES.is_dir() else []
    return [PCAPS / "enip_plant.pcap"] + shared


@pytest.mark.parametrize("path", enip_files(), ids=lambda p: p.name)
def test_enip_identities_agree_with_tshark(path: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/e.db")
    inv.replay(path)
    facts = {(f["field"], f["value"]) for a in inv.assets() for f in a["facts"]}
    for vendor, dtype, code, rev, serial, name in tshark(path, "enip.lir.name", "enip.lir.vendor", "enip.lir.devtype",
                                                         "enip.lir.prodcode", "enip.lir.revision",
                                                         "enip.lir.serial", "enip.lir.name"):
        r = int(rev, 0)
        assert {("cip_vendor_id", str(int(vendor, 0))), ("cip_device_type", str(int(dtype, 0))),
                ("product_code", str(int(code, 0))), ("firmware", f"{r >> 8}.{r & 0xFF}"),
                ("serial", f"0x{int(serial, 0):08x}"), ("product", name)} <= facts
    for vid, _dtype, code, major, minor, serial, name in tshark(
            path, "cip.id.product_name", "cip.id.vendor_id", "cip.id.device_type", "cip.id.product_code",
            "cip.id.major_rev", "cip.id.minor_rev", "cip.id.serial_number", "cip.id.product_name"):
        for i, n in enumerate(name.split("\x1e")):
            def pick(v: str, i: int = i) -> str:
                parts = v.split("\x1e")
                return parts[min(i, len(parts) - 1)]

            assert {("cip_vendor_id", str(int(pick(vid), 0))), ("product_code", str(int(pick(code), 0))),
                    ("firmware", f"{int(pick(major), 0)}.{int(pick(minor), 0)}"),
                    ("serial", f"0x{int(pick(serial), 0):08x}"), ("product", n)} <= facts


def s7_files() -> list[Path]:
    shared = sorted(p for p in (CAPTURES / "ITI-ICS-Security-Tools/s7").rglob("*") if p.is_file()) \
        if CAPTURES.is_dir() else []
    return [PCAPS / "s7_plant.pcap"] + shared


@pytest.mark.parametrize("path", s7_files(), ids=lambda p: p.name)
def test_s7_szl_agrees_with_tshark(path: Path, tmp_path: Path) -> None:
    inv = Inventory(f"sqlite:///{tmp_path}/s.db")
    inv.replay(path)
    facts = {(f["field"], f["value"]) for a in inv.assets() for f in a["facts"]}
    for idx, mlfb, ausbg, ausbe in tshark(path, "s7comm.szl.xy11.0001.anz", "s7comm.szl.xy11.0001.index",
                                          "s7comm.szl.xy11.0001.anz", "s7comm.szl.xy11.0001.ausbg",
                                          "s7comm.szl.xy11.0001.ausbe"):
        for i, m, g, e in zip(idx.split("\x1e"), mlfb.split("\x1e"), ausbg.split("\x1e"), ausbe.split("\x1e")):
            i, g, e = int(i, 0), int(g, 0), int(e, 0)
            if i in (1, 6) and m.strip():
                assert ("order_number", m.strip()) in facts
            if i == 7 and g >> 8 == ord("V"):
                assert ("firmware", f"V{g & 0xFF}.{e >> 8}.{e & 0xFF}") in facts
    for name, module, serial, cpu in tshark(path, "s7comm.szl.001c.0005.serialn", "s7comm.szl.001c.0001.name",
                                            "s7comm.szl.001c.0002.name", "s7comm.szl.001c.0005.serialn",
                                            "s7comm.szl.001c.0007.cputypname"):
        assert {("name", name), ("module_name", module), ("serial", serial), ("product", cpu)} <= facts


@pytest.mark.parametrize("path", modbus_files(), ids=lambda p: p.name)
def test_modbus_answers_are_credited_to_the_unit_tshark_reads(path: Path) -> None:
    """Every Modbus fact with a unit is credited to the MBAP unit id tshark reads in that fact's own frame, and
    the units otscope lists as servers are units that answered (tshark: a response without exception)."""
    _, batch = run_pipeline(path)
    units_of: dict[int, set[int]] = {}
    for frame, unit in tshark(path, "mbtcp", "frame.number", "mbtcp.unit_id"):
        units_of[int(frame)] = {int(u) for u in unit.split("\x1e")}
    answered = set()
    for (unit,) in tshark(path, "mbtcp && tcp.srcport == 502 && !modbus.exception_code", "mbtcp.unit_id"):
        answered |= {int(u) for u in unit.split("\x1e")}
    ours = set()
    for f in batch.facts:
        if f.protocol != "modbus" or f.subject.component is None:
            continue
        unit = int(f.subject.component.removeprefix("unit:"))
        assert 1 <= unit <= 247 and unit in units_of[f.evidence.frame], (f.field, f.value, f.evidence.frame)
        if f.field == "protocol":
            ours.add(unit)
    assert ours <= answered
    assert ours == {u for u in answered if 1 <= u <= 247}


@pytest.mark.parametrize("path", s7_files(), ids=lambda p: p.name)
def test_s7_cpu_state_agrees_with_tshark(path: Path) -> None:
    """The CPU state of each SZL 0x0424 answer is the mode tshark reads (bzu-id, requested = current mode)."""
    from otscope.dissectors.s7.constants import SZL_0424_MODES, cpu_state_name

    _, batch = run_pipeline(path)
    ours = {(f.evidence.frame, f.value) for f in batch.facts if f.field == "cpu_state" and "0x0424" in f.message}
    rows = tshark(path, "s7comm.szl.0424.0000.bzu_id", "frame.number", "s7comm.szl.0424.0000.bzu_id.req")
    theirs = {(int(fr), cpu_state_name(SZL_0424_MODES, int(req, 0))) for fr, req in rows}
    assert ours <= theirs                                     # a fact keeps its first frame (later ones repeat it)
    assert {v for _, v in ours} == {v for _, v in theirs}


def iso_files() -> list[Path]:
    extra = CAPTURES.parent.parent / "pcaps-extra" / "captures" / "ITI-ICS-Security-Tools" / "pcaps" / "IEC61850"
    more = sorted(p for p in extra.rglob("*.pcap")) if extra.is_dir() else []
    return s7_files() + [p for p in (CAPTURES / "ntop-nDPI/iso9506-1-mms.pcap",
                                     CAPTURES / "cisagov-icsnpp-s7comm/s7comm_plus.pcap") if p.exists()] + more


@pytest.mark.parametrize("path", iso_files(), ids=lambda p: p.name)
def test_tcp_102_traffic_label_agrees_with_tshark(path: Path) -> None:
    """tcp/102 traffic is labelled s7comm only where tshark decodes S7comm, mms where it decodes MMS; MMS bytes
    are decoded (dissectors/s7/mms.py), COTP-only bytes are not."""
    _, batch = run_pipeline(path)
    labels = {t.protocol for t in batch.traffic}
    s7 = tshark(path, "s7comm", "frame.number")
    mms = tshark(path, "mms", "frame.number")
    assert ("s7comm" in labels) == bool(s7)
    assert ("mms" in labels) == bool(mms)
    assert all(t.bytes_decoded == 0 for t in batch.traffic if t.protocol == "cotp")
    assert all(t.bytes_decoded > 0 for t in batch.traffic if t.protocol == "mms")
