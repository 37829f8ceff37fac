"""HTTP heads -> facts. Raw values are kept as ``http_*`` facts; an operating system only where the string says
it in words (a User-Agent's platform token, an Apache/IIS Server header), never guessed from a version.

No HTTP Server header is mapped to a device vendor/product/firmware: none of the public captures here carries a
PLC/HMI web server whose header names its product unambiguously, so the raw header is all that is claimed."""

from __future__ import annotations

import re
from functools import lru_cache

from otscope.dissectors.base import text
from otscope.dissectors.http.constants import MAX_VALUE

# Windows NT version in a User-Agent -> the release(s) that carry it (Microsoft "Understanding user-agent
# strings"; 10.0 is Windows 10 and 11 / Server 2016 and later: browsers freeze it)
WINDOWS_NT = {
    "5.0": "Windows 2000", "5.1": "Windows XP", "5.2": "Windows XP x64 / Server 2003",
    "6.0": "Windows Vista / Server 2008", "6.1": "Windows 7 / Server 2008 R2", "6.2": "Windows 8 / Server 2012",
    "6.3": "Windows 8.1 / Server 2012 R2", "10.0": "Windows 10 / Server 2016+",
}
_NT = re.compile(r"Windows NT (\d+\.\d+)")
_MS_UA = re.compile(r"^Microsoft-Windows/(\d+\.\d+)")       # Windows' own services: "Microsoft-Windows/6.1 UPnP/1.0"

# Server header distribution tags that say the OS (Apache's ServerTokens OS: "Apache/2.2.9 (Ubuntu)")
_SERVER_OS = (
    (re.compile(r"\((?:Ubuntu|Debian|CentOS|Red Hat|Fedora|Raspbian|SUSE|Linux)[^)]*\)"), "linux"),
    (re.compile(r"\(Win(?:32|64)\)|^Microsoft-IIS/|^Microsoft-HTTPAPI/"), "windows"),
)


# pure functions of a header value, cached (bounded): IT flows repeat the same few values many times
@lru_cache(maxsize=2048)
def value(raw: bytes) -> str:
    return text(raw, MAX_VALUE)


@lru_cache(maxsize=1024)
def os_of_user_agent(ua: str) -> tuple[str, str] | None:
    """(os, os_family) a User-Agent states, None if it states none."""
    m = _NT.search(ua) or _MS_UA.search(ua)
    if m:
        ver = m.group(1)
        name = WINDOWS_NT.get(ver)
        return (f"{name} (NT {ver})" if name else f"Windows NT {ver}"), "windows"
    if "Android" in ua:
        return "Android", "linux"
    if "iPhone" in ua or "iPad" in ua:
        return "iOS", "macos"
    if "Macintosh" in ua or "Mac OS X" in ua:
        return "macOS", "macos"
    if "Linux" in ua or "X11;" in ua and "Linux" in ua:
        return "Linux", "linux"
    return None


@lru_cache(maxsize=1024)
def os_family_of_server(server: str) -> str | None:
    """The OS family a Server header names (a distribution tag, IIS, HTTP.sys), None if it names none."""
    for rx, fam in _SERVER_OS:
        if rx.search(server):
            return fam
    return None
