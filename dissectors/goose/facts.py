"""GOOSE / SV frames -> facts about the publishing IED (the frame's source MAC).

What a publication says about its publisher: its control block (gocbRef / svID), dataset, goID, APPID and
configuration revision, its simulation/test and needs-commissioning flags. The logical-device part of an object
reference (IEC 61850-7-2 19.2: ``LDName/LNName$...``, LDName = IEDName + LDInst, IEC 61850-6 8.5.3) is kept as a weak
name field (``iec61850_ld``), never as the device's ``name``: LDInst cannot be split from the IED name on the
wire. Sequence/state numbers and timestamps change every frame: they are not facts.
"""

from __future__ import annotations

from otscope.dissectors.base import FactsAbout, L2Anomaly, L2Fact, L2Output
from otscope.dissectors.goose.grammar import GooseFrame, SvFrame

ROLE_WHY_GOOSE = "publishes GOOSE (IEC 61850-8-1): an IED"
ROLE_WHY_SV = "publishes Sampled Values (IEC 61850-9-2): a merging unit / IED"


def logical_device(ref: str) -> str:
    """``GEDeviceF650/LLN0$GO$gcb01`` -> ``GEDeviceF650`` (the LDName before the first '/'), else ''."""
    ld, sep, _ = ref.partition("/")
    return ld if sep and ld else ""


def _flag(out: FactsAbout, name: str, value: bool | None) -> None:
    """A flag is a fact when it is set (absent or false says nothing worth keeping)."""
    if value:
        out.add(name, "true")


def goose_facts(frame: GooseFrame, src_mac: str) -> L2Output:
    msg = f"GOOSE APPID 0x{frame.header.appid:04x}"
    out = FactsAbout(src_mac, msg)
    out.append(L2Fact(src_mac, None, "protocol", "goose", msg))
    out.append(L2Fact(src_mac, None, "role_hint", "rtu-ied", f"{msg}: {ROLE_WHY_GOOSE}"))
    out.add("goose_appid", f"0x{frame.header.appid:04x}")
    out.add("goose_gocbref", frame.gocb_ref)
    out.add("goose_dataset", frame.dat_set)
    out.add("goose_id", frame.go_id)
    if frame.conf_rev is not None:
        out.add("goose_confrev", str(frame.conf_rev))
    out.add("iec61850_ld", logical_device(frame.gocb_ref) or logical_device(frame.dat_set))
    _flag(out, "goose_simulation", frame.simulation or frame.header.simulation)
    _flag(out, "goose_ndscom", frame.nds_com)
    out.extend(L2Anomaly(str(a)) for a in frame.anomalies)
    return out


def sv_facts(frame: SvFrame, src_mac: str) -> L2Output:
    msg = f"SV APPID 0x{frame.header.appid:04x}"
    out = FactsAbout(src_mac, msg)
    out.append(L2Fact(src_mac, None, "protocol", "sv", msg))
    out.append(L2Fact(src_mac, None, "role_hint", "rtu-ied", f"{msg}: {ROLE_WHY_SV}"))
    out.add("sv_appid", f"0x{frame.header.appid:04x}")
    _flag(out, "sv_simulation", frame.header.simulation)
    for a in frame.asdus:
        out.add("sv_id", a.sv_id)
        out.add("sv_dataset", a.dat_set)
        if a.conf_rev is not None:
            out.add("sv_confrev", str(a.conf_rev))
        if a.smp_synch is not None:
            out.add("sv_smpsynch", str(a.smp_synch))
        # svID is an MsvID (IEC 61850-7-2 19.3), not always an object reference: only a '/' makes an LD prefix
        out.add("iec61850_ld", logical_device(a.sv_id) or logical_device(a.dat_set))
    out.extend(L2Anomaly(str(x)) for x in frame.anomalies)
    return out
