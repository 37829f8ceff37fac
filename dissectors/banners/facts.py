"""Banner values -> facts: the raw line, and an operating system only where the banner says it in words
(a distribution tag in an OpenSSH version, "Microsoft FTP Service"), by the table below."""

from __future__ import annotations

import re

from otscope.dissectors.banners.constants import MAX_BANNER
from otscope.dissectors.base import text

# (pattern in the banner, os as stated, os_family): OpenSSH distribution packages put the distribution in the
# comment or the softwareversion (Debian/Ubuntu policy: "OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"), Windows' port says so
STATED_OS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"\bUbuntu\b"), "Ubuntu", "linux"),
    (re.compile(r"\bDebian\b"), "Debian", "linux"),
    (re.compile(r"\bRaspbian\b"), "Raspbian", "linux"),
    (re.compile(r"\b(?:CentOS|Red Hat|Fedora)\b"), "Linux", "linux"),
    (re.compile(r"\bFreeBSD\b"), "FreeBSD", "bsd"),
    (re.compile(r"\bOpenBSD\b"), "OpenBSD", "bsd"),
    (re.compile(r"OpenSSH_for_Windows|Microsoft FTP Service|Microsoft ESMTP MAIL Service"), "Windows", "windows"),
    (re.compile(r"^SSH-[\d.]+-Cisco-"), "Cisco IOS", "network-os"),
    (re.compile(r"^SSH-[\d.]+-ROSSSH"), "MikroTik RouterOS", "network-os"),
)


def banner(raw: bytes) -> str:
    return text(raw, MAX_BANNER)


def stated_os(line: str) -> tuple[str, str] | None:
    """(os, os_family) a banner states, None if it states none."""
    for rx, os_name, family in STATED_OS:
        if rx.search(line):
            return os_name, family
    return None
