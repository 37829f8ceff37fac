"""SLMP / MELSOFT answers -> facts about the CPU that answered.

Read CPU Model (SLMP Read CPU model name, command 0101): ``product`` = the model name, ``melsec_cpu_code`` = the model code
(hex). ``vendor`` = "Mitsubishi Electric": a documented rule, not a wire string: Read CPU Model answers with the
model of a MELSEC CPU, and MELSEC is Mitsubishi Electric's (SLMP Reference Manual, "Read CPU model name").
The MELSOFT answer to command 01 21 carries the same two fields in the same layout (see constants).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Who
from otscope.dissectors.melsec.grammar import CpuModel, Melsoft, Message, melsoft_cpu_model, parse_cpu_model

if TYPE_CHECKING:
    from otscope.dissectors.base import Dissector

VENDOR = "Mitsubishi Electric"


def _model(d: Dissector, cm: CpuModel, who: Who, msg: str, frame: int, ts: float) -> None:
    if not cm.name:
        return
    d.fact(who, "product", cm.name, f"{msg} (CPU model name)", frame, ts)
    d.fact(who, "melsec_cpu_code", f"0x{cm.code:04x}", f"{msg} (CPU model code)", frame, ts)
    d.fact(who, "vendor", VENDOR, f"{msg} (Read CPU Model answers with a MELSEC CPU)", frame, ts)


def cpu_model(d: Dissector, m: Message, who: Who, msg: str, frame: int, ts: float) -> None:
    _model(d, parse_cpu_model(m.data, m.layout.ascii), who, msg, frame, ts)


def melsoft(d: Dissector, m: Melsoft, who: Who, msg: str, frame: int, ts: float) -> None:
    cm = melsoft_cpu_model(m)
    if cm is not None:
        _model(d, cm, who, f"{msg} (CPU model)", frame, ts)
