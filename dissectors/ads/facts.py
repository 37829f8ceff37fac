"""ADS messages -> facts about the end that sent them.

* Read Device Info response: ``product`` = the ADS device name ("PLC Server", "Plc30 App": the runtime behind
  the AMS port asked), ``firmware`` = its version.revision.build as reported (no "TwinCAT" prefix: the answer
  does not say what it is the version of).
* Read State response: ``cpu_state`` = the ADS state name (RUN, STOP, CONFIG...; an unknown state keeps its
  number), ``ads_device_state`` the device state number.
* UDP discovery answer: ``name`` = the host name tag, ``ads_twincat_version``, ``os`` (from the Windows
  OSVERSIONINFO the answer carries: "Windows CE 6.0"), ``ads_fingerprint``; ``vendor`` = Beckhoff Automation
  only here: the answer carries a TwinCAT version, and TwinCAT is Beckhoff's runtime (a Read Device Info
  answer alone does not prove it: any ADS server, pyads' test server among them, answers one).
* UDP add-route request: the route's name, address and user name (``ads_route_*``); the password tag is never
  reported, only counted. The answer's status tag: ``ads_route_result``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otscope.dissectors.ads.constants import UdpService, UdpTag, state_name
from otscope.dissectors.ads.grammar import (DeviceInfo, State, UdpMessage, netid, os_version, twincat_version)
from otscope.dissectors.base import Malformed, Truncated, text

if TYPE_CHECKING:
    from otscope.dissectors.ads.dissector import AdsUdp, _AdsBase

BECKHOFF = "Beckhoff Automation"
_TAG_NAMES = {int(t): t.name.lower().replace("_", "-") for t in UdpTag}


def device_info(d: _AdsBase, who: int, info: DeviceInfo, msg: str, frame: int, ts: float) -> None:
    d.fact(who, "product", info.name, msg, frame, ts)
    d.fact(who, "firmware", info.version_text, msg, frame, ts)


def state(d: _AdsBase, who: int, st: State, msg: str, frame: int, ts: float) -> None:
    d.fact(who, "cpu_state", state_name(st.ads_state), msg, frame, ts)
    d.fact(who, "ads_device_state", str(st.device_state), msg, frame, ts)


def _tag_key(svc: str, tag: int) -> str:
    return f"{svc} tag {_TAG_NAMES.get(tag, tag)}"


def udp_response(d: AdsUdp, who: int, m: UdpMessage, svc: str, msg: str, frame: int, ts: float) -> None:
    for tag, raw in m.tags:
        try:
            _response_tag(d, who, m, tag, raw, svc, msg, frame, ts)
        except (Truncated, Malformed):
            d.count(f"{_tag_key(svc, tag)} malformed")


def _response_tag(d: AdsUdp, who: int, m: UdpMessage, tag: int, raw: bytes, svc: str, msg: str, frame: int,
                  ts: float) -> None:
    f = d.fact
    if tag == UdpTag.COMPUTER_NAME:
        f(who, "name", text(raw, 64), msg, frame, ts)
    elif tag == UdpTag.TWINCAT_VERSION:
        version = twincat_version(raw)
        f(who, "ads_twincat_version", version, msg, frame, ts)
        f(who, "vendor", BECKHOFF, f"{msg}: TwinCAT {version} answers (TwinCAT is Beckhoff's runtime)", frame, ts)
    elif tag == UdpTag.OS_VERSION:
        osv = os_version(raw)
        f(who, "os", osv.os, msg, frame, ts)
        f(who, "ads_os_version", osv.numbers, msg, frame, ts)
    elif tag == UdpTag.FINGERPRINT:
        f(who, "ads_fingerprint", text(raw, 80), msg, frame, ts)
    elif tag == UdpTag.NETID and len(raw) >= 6:
        d.netid(int(who), netid(raw[:6]), msg, frame, ts)
    elif tag == UdpTag.STATUS and len(raw) >= 4:
        code = int.from_bytes(raw[:4], "little")
        f(who, "ads_route_result", "accepted" if code == 0 else f"refused 0x{code:x}", msg, frame, ts)
        if m.service == UdpService.ADD_ROUTE and code == 0:
            f(who, "config_change", "ADS route added (UDP add-route accepted)", msg, frame, ts)
    else:
        d.count(_tag_key(svc, tag))


def udp_request(d: AdsUdp, who: int, m: UdpMessage, svc: str, msg: str, frame: int, ts: float) -> None:
    f = d.fact
    if m.service == UdpService.ADD_ROUTE:
        f(who, "role_hint", "engineering-workstation", f"{msg}: adds a route to a TwinCAT system", frame, ts)
    for tag, raw in m.tags:
        if tag == UdpTag.PASSWORD:
            d.count(_tag_key(svc, tag))      # a credential: counted, never reported
        elif tag == UdpTag.ROUTE_NAME:
            f(who, "ads_route_name", text(raw, 64), msg, frame, ts)
        elif tag == UdpTag.COMPUTER_NAME:
            f(who, "ads_route_address", text(raw, 64), msg, frame, ts)
        elif tag == UdpTag.USER_NAME:
            f(who, "ads_route_user", text(raw, 64), msg, frame, ts)
        elif tag == UdpTag.NETID and len(raw) >= 6:
            d.netid(int(who), netid(raw[:6]), f"{msg} NetId tag", frame, ts)
        else:
            d.count(_tag_key(svc, tag))
