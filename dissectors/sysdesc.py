"""Identity in an LLDP system description (IEEE 802.1AB-2016 8.5.6) or a CDP software version / platform.

Both are free text; each switch and router family writes its own. The formats are data: one entry per
family, a ``detect`` regex that says the text is that family's, and ``fields`` regexes whose named groups
(``product``, ``order_number``, ``firmware``) are the values. Every pattern is anchored or bounded (no
nested open-ended repeats), so a hostile 255-character description costs linear time. A family that is
detected but whose fields do not match gives only its vendor: never a guessed model or version.

Where each format comes from is cited per entry and in tests/unit/test_sysdesc.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


FIELDS = ("product", "order_number", "firmware")
MAX_TEXT = 512                       # descriptions are <= 255 octets on the wire; CDP version + platform joined


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    vendor: str
    detect: re.Pattern[str]
    fields: tuple[re.Pattern[str], ...]
    source: str


def _re(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_IOS_VERSION = _re(r"\bVersion (?P<firmware>\d{1,3}\.\d{1,3}[0-9A-Za-z.()]{0,24})")

FAMILIES: tuple[Family, ...] = (
    Family(
        "siemens-simatic-net", "Siemens",
        _re(r"^Siemens, SIMATIC NET, "),
        (_re(r"^Siemens, SIMATIC NET, (?P<product>[^,]{1,64}), "
             r"(?P<order_number>6GK\d ?\d{3}-?[0-9A-Z]{5}-?[0-9A-Z]{4})\b", re.I),
         _re(r", FW: (?:Version )?(?P<firmware>V?\d{1,3}(?:\.\d{1,3}){1,4})")),
        "SCALANCE/SIMATIC NET sysDescr: 'Siemens, SIMATIC NET, <product>, <6GK order number>, HW: .., FW: ..'"),
    Family(
        "siemens-ruggedcom", "Siemens",
        _re(r"\bRUGGEDCOM\b|^R(?:S|SG|ST|SL|MC|P)\d{3,4}[A-Z]?(?:-[A-Z0-9]{1,8}){1,12}$", re.I),
        (_re(r"^(?P<order_number>(?P<product>R(?:S|SG|ST|SL|MC|P)\d{3,4}[A-Z]?)(?:-[A-Z0-9]{1,8}){1,12})$"),
         _re(r"\bRUGGEDCOM[ ,]{1,3}(?P<product>R[A-Z]{1,3}\d{3,4}[A-Z]?)\b", re.I),
         _re(r"\bROS[ -]?v?(?P<firmware>\d{1,2}(?:\.\d{1,3}){1,3})\b")),
        "RUGGEDCOM ROS: sysDescr is the order code 'RS900-24-D-T2-T2-T2'; firmware is named 'ROS v4.1'"),
    Family(
        "siemens-ag", "Siemens",
        _re(r"^Siemens AG\b"),
        (),
        "SIMATIC devices' LLDP: 'Siemens AG SIMATIC S7 MULTIPORT SCALANCE X 200 FAM' (QUT S7comm captures)"),
    Family(
        "hirschmann", "Hirschmann",
        _re(r"^Hirschmann\b"),
        (_re(r"^Hirschmann (?P<product>[A-Za-z][A-Za-z0-9-]{0,24}(?: [A-Za-z][A-Za-z0-9-]{0,24}){0,4})"
             r"(?: (?P<firmware>\d{1,3}(?:\.\d{1,5}){1,3}))?"),),
        "Hirschmann sysDescr: 'Hirschmann BAT-R 9.12.5750 / ..', 'Hirschmann EAGLE Security Device'"),
    Family(
        "moxa", "Moxa",
        _re(r"^(?:Moxa )?(?:EDS|IKS|ICS|PT|TN|AWK)-[A-Z]{0,2}\d{3,4}", re.I),
        (_re(r"^(?:Moxa )?(?P<product>(?:EDS|IKS|ICS|PT|TN|AWK)-[A-Z]{0,2}\d{3,4}[A-Z0-9-]{0,24})", re.I),
         _re(r"\bV(?P<firmware>\d{1,2}(?:\.\d{1,3}){1,3})(?: build \d{1,10})?\b")),
        "Moxa: sysDescr is the model 'IKS-6726A-2GTXSFP-T', 'AWK-1161A'; firmware 'V3.9 build 19061410'"),
    Family(
        "phoenix-contact", "Phoenix Contact",
        _re(r"\bFL SWITCH\b|^Phoenix Contact\b", re.I),
        (_re(r"\b(?P<product>FL SWITCH(?: [A-Z0-9][A-Z0-9/+-]{0,15}){1,3})"),
         _re(r"\b(?:Version|V) ?(?P<firmware>\d{1,2}\.\d{1,3}[a-z]?)\b")),
        "Phoenix Contact FL SWITCH manuals: 'FL SWITCH MCS 16TX', 'firmware Version 4.72'"),
    Family(
        "rockwell-stratix", "Rockwell Automation",
        _re(r"\bStratix\b|\b1783-[A-Z]{2,4}\d", re.I),
        (_re(r"\b(?P<product>Stratix \d{4}[A-Za-z]{0,3})\b", re.I),
         _re(r"\b(?P<order_number>1783-[A-Z]{2,4}\d{1,3}[A-Z0-9]{0,8})\b"),
         _IOS_VERSION),
        "Stratix switches run Cisco IOS; Rockwell catalog numbers 1783-... (e.g. 1783-BMS10CGN, Stratix 5700)"),
    Family(
        "cisco-ios", "Cisco",
        _re(r"^Cisco IOS(?: XE)? Software\b|^Cisco Internetwork Operating System Software\b|^cisco ", re.I),
        (_IOS_VERSION,),
        "Cisco IOS banner: 'Cisco IOS Software, CE500 Software (CE500-LANBASE-M), Version 12.2(25)SEG4, ..'"),
)


def identify(*texts: str) -> tuple[str, dict[str, str]] | None:
    """The family whose ``detect`` matches one of the texts first (table order), and the fields its ``fields``
    patterns find in those texts; None when no family matches."""
    parts = [t[:MAX_TEXT] for t in texts if t]
    for fam in FAMILIES:
        if not any(fam.detect.search(t) for t in parts):
            continue
        found: dict[str, str] = {"vendor": fam.vendor}
        for pat in fam.fields:
            for t in parts:
                m = pat.search(t)
                if m is None:
                    continue
                for key, value in m.groupdict().items():
                    if value and key in FIELDS and key not in found:
                        found[key] = value.strip()
                break
        return fam.name, found
    return None


def add_identity(add: Callable[[str, str], None], *texts: str) -> None:
    """Emit vendor/product/order_number/firmware found in the texts through ``add(field, value)``."""
    hit = identify(*texts)
    if hit is None:
        return
    for key, value in hit[1].items():
        add(key, value)



# -- operating system named by a description (SNMP sysDescr) and Windows version numbers ---------------------

# Windows (major, minor) -> the releases that report it (Microsoft "Operating System Version" table; the SMB
# browser HostAnnouncement, NTLMSSP VERSION and the Windows SNMP service's sysDescr carry these numbers).
WINDOWS = {(10, 0): "Windows 10 / Server 2016+", (6, 3): "Windows 8.1 / Server 2012 R2",
           (6, 2): "Windows 8 / Server 2012", (6, 1): "Windows 7 / Server 2008 R2",
           (6, 0): "Windows Vista / Server 2008", (5, 2): "Windows XP x64 / Server 2003",
           (5, 1): "Windows XP", (5, 0): "Windows 2000", (4, 0): "Windows NT 4.0"}
WIN10_FIRST_BUILD = 10240        # Windows 10 RTM: a later build that reports 6.2/6.3 (compatibility) is 10.0
WIN11_FIRST_BUILD = 22000


def windows_os(major: int, minor: int, build: int | None = None) -> str:
    """'Windows 7 / Server 2008 R2 (6.1 build 7601)'; "" when the numbers are no Windows release."""
    if build is not None and build >= WIN10_FIRST_BUILD:
        major, minor = 10, 0
    name = WINDOWS.get((major, minor))
    if name is None:
        return ""
    if build is not None and build >= WIN11_FIRST_BUILD:
        name = "Windows 11 / Server 2025+"
    return f"{name} ({major}.{minor}" + (f" build {build})" if build is not None else ")")


_WIN_SYSDESCR = _re(r"\bSoftware: Windows(?: 2000)? Version (?P<major>\d{1,2})\.(?P<minor>\d{1,2})"
                    r"(?: \(Build (?P<build>\d{1,6})\b)?")
# (detect, os, os_family): the agent's own banner at the start of sysDescr (net-snmp uname, vendor banners)
OS_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (_re(r"^Linux "), "Linux", "linux"),                           # net-snmp: 'Linux <host> <release> ...'
    (_re(r"^FreeBSD "), "FreeBSD", "bsd"),
    (_re(r"^OpenBSD "), "OpenBSD", "bsd"),
    (_re(r"^NetBSD "), "NetBSD", "bsd"),
    (_re(r"^Darwin "), "macOS", "macos"),
    (_re(r"\bVxWorks\b"), "VxWorks", "embedded"),
    (_re(r"^Cisco IOS(?: XE)? Software\b|^Cisco Internetwork Operating System Software\b"), "Cisco IOS",
     "network-os"),
    (_re(r"^Juniper Networks, Inc\. .{0,64}\bJUNOS\b"), "Junos", "network-os"),
)


def os_of(description: str) -> tuple[str, str] | None:
    """(os, os_family) a system description states, or None."""
    t = description[:MAX_TEXT]
    m = _WIN_SYSDESCR.search(t)
    if m:
        build = int(m["build"]) if m["build"] else None
        name = windows_os(int(m["major"]), int(m["minor"]), build)
        return (name or f"Windows ({m['major']}.{m['minor']})"), "windows"
    for pat, name, family in OS_RULES:
        if pat.search(t):
            return name, family
    return None
