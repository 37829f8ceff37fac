"""A Fox hello -> facts about the end that sent it.

``name`` = station.name (a station) or hostName when it is not an address (Nmap's fox-info does the same);
``product`` = app.name ("Station", "Workbench"); ``firmware`` = app.version (the Niagara version); ``os`` =
os.name + os.version; ``vendor`` = brandId (the brand the Niagara build carries: Tridium, an OEM's brand);
every hello key of constants.FIELDS also as its raw ``fox_*`` value. A client whose app.name is Workbench is
Niagara's engineering tool (role_hint engineering-workstation).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from otscope.dissectors.base import text
from otscope.dissectors.fox.constants import FIELDS, WORKBENCH
from otscope.dissectors.fox.grammar import FoxMessage

if TYPE_CHECKING:
    from otscope.dissectors.fox.dissector import FoxDissector


def _is_address(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def hello(d: FoxDissector, who: int, client: bool, msg: FoxMessage, why: str, frame: int, ts: float) -> None:
    v: dict[str, str] = {}
    for key, (kind, raw) in msg.fields.items():
        if key in FIELDS and kind in "si":
            value = text(raw, 128)
            if key == "timeZone":
                value = value.split(";", 1)[0]
            if value:
                v[key] = value
                d.fact(who, FIELDS[key], value, why, frame, ts)
    f = d.fact
    host = v.get("hostName", "")
    f(who, "name", v.get("station.name") or ("" if _is_address(host) else host), why, frame, ts)
    f(who, "product", v.get("app.name", ""), why, frame, ts)
    f(who, "firmware", v.get("app.version", ""), why, frame, ts)
    f(who, "os", " ".join(x for x in (v.get("os.name", ""), v.get("os.version", "")) if x), why, frame, ts)
    f(who, "vendor", v.get("brandId", ""), why, frame, ts)
    if client and v.get("app.name") == WORKBENCH:
        f(who, "role_hint", "engineering-workstation", f"{why}: app.name Workbench (Niagara engineering tool)",
          frame, ts)
