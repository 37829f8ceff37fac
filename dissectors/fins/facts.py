"""FINS responses -> facts about the responder (the controller that answered).

* 0501 Controller Data Read: ``product`` = controller model, ``firmware`` = controller version (W342 CONTROLLER DATA READ).
  ``vendor`` = "Omron": a documented rule, not a wire string: the Controller Data Read command exists only in
  Omron's FINS command set, and its answer is the model of the Omron CPU unit (W342 CONTROLLER DATA READ).
* 0502 Connection Data Read: each unit (unit address + model number) is a component ``fins-unit:<address>``
  with its ``product``; unit address 0 is the CPU unit itself.
* 0601 Controller Status Read: ``cpu_state`` = the operating mode (PROGRAM / MONITOR / RUN) with the status
  (run / stop / standby) in ``fins_status``; unknown codes keep their number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.base import Who
from otscope.dissectors.fins.constants import MODES, STATUS, Command
from otscope.dissectors.fins.grammar import (Frame, parse_connection_data, parse_controller_data,
                                             parse_controller_status)

if TYPE_CHECKING:
    from otscope.dissectors.fins.dissector import FinsUdp

VENDOR = "Omron"


def response(d: FinsUdp, f: Frame, who: Who, msg: str, frame: int, ts: float) -> None:
    cmd = f.command
    if cmd == Command.CONTROLLER_DATA_READ:
        cd = parse_controller_data(f.data)
        if cd is not None and (cd.model or cd.version):
            d.fact(who, "product", cd.model, f"{msg} (controller model)", frame, ts)
            d.fact(who, "firmware", cd.version, f"{msg} (controller version)", frame, ts)
            d.fact(who, "vendor", VENDOR, f"{msg} (Controller Data Read is Omron's FINS command set)", frame, ts)
    elif cmd == Command.CONNECTION_DATA_READ:
        for unit, model in parse_connection_data(f.data):
            comp = None if unit == 0 else f"fins-unit:{unit}"
            d.fact(who, "product", model, f"{msg} (unit 0x{unit:02x} model number)", frame, ts, comp)
    elif cmd == Command.CONTROLLER_STATUS_READ:
        st = parse_controller_status(f.data)
        d.fact(who, "cpu_state", MODES.get(st.mode, f"0x{st.mode:02x}"), f"{msg} (mode)", frame, ts)
        d.fact(who, "fins_status", STATUS.get(st.status, f"0x{st.status:02x}"), f"{msg} (status)", frame, ts)
