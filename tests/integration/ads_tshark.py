"""tshark's view of ADS/AMS in a capture (its ``ams`` dissector, tshark 4.0.17), per sender IP, in otscope's
fact names: the differential tests of the real captures and of the pyads peer compare it with our facts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from otscope.dissectors.ads.constants import state_name

TSHARK = shutil.which("tshark")
FIELDS = ["ip.src", "ams.sendernetid", "ams.senderport", "ams.cmdid", "ams.state_response", "ams.ads_state",
          "ams.ads_devicestate", "ams.ads_devicename", "ams.ads_versionversion", "ams.ads_versionrevision",
          "ams.ads_versionbuild", "ams.adsresult"]


def tshark_ads(pcap: Path) -> dict[str, dict[str, set[str]]]:
    """IP -> {ads_netid, ads_port (answers only), cpu_state, ads_device_state, product, firmware, roles}."""
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "-n", "-r", str(pcap), "-Y", "ams", "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=f", *sum((["-e", f] for f in FIELDS), [])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    want: dict[str, dict[str, set[str]]] = {}
    for line in out.splitlines():
        ip, netid, port, cmd, response, state, dstate, name, ver, rev, build, result = (line.split("\t") + [""] * 12)[:12]
        w = want.setdefault(ip, {k: set() for k in ("ads_netid", "ads_port", "cpu_state", "ads_device_state",
                                                    "product", "firmware", "protocol")})
        is_rsp = response in ("1", "True")
        w["ads_netid"].add(netid)
        w["protocol"].add("ads-server" if is_rsp else "ads-client")
        if not is_rsp:
            continue
        w["ads_port"].add(port)
        ok = result in ("", "0", "0x00000000")
        if cmd == "4" and state and ok:
            w["cpu_state"].add(state_name(int(state, 0)))
            w["ads_device_state"].add(str(int(dstate, 0)))
        if cmd == "1" and name and ok:
            w["product"].add(name)
            w["firmware"].add(f"{ver}.{rev}.{build}")
    return want
