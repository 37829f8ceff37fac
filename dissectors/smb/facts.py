"""SMB messages -> facts (the NTLMSSP ones are in ntlmssp.facts). Values as the wire states them: NativeOS is the
``os`` as the host names itself (MS-CIFS 2.2.4.53: "the native operating system"), its family when the string
says (windows.os_family_of); NativeLanMan raw; names and domains as sent."""

from __future__ import annotations

from otscope.dissectors.base import Dissector, Who
from otscope.dissectors.smb.constants import dialect_name
from otscope.dissectors.smb.grammar import Negotiate1, Negotiate2, SessionSetup1
from otscope.dissectors.smb.windows import os_family_of

# NetBIOS suffixes that name a host (RFC 1001 / MS-NBTE: 0x00 workstation, 0x20 file server)
HOST_SUFFIXES = (0x00, 0x20)


def session_request(d: Dissector, who: int, called: tuple[str, int], calling: tuple[str, int], frame: int,
                    ts: float) -> None:
    """RFC 1002 4.3.2: the caller names itself (calling) and the host it calls (called). "*SMBSERVER" is a
    wildcard, not a name."""
    msg = "NetBIOS SESSION REQUEST"
    other = Who.SERVER if who == Who.CLIENT else Who.CLIENT
    for target, (name, suffix) in ((who, calling), (other, called)):
        if suffix in HOST_SUFFIXES and name and not name.startswith("*"):
            d.fact(target, "name", name, msg, frame, ts)


def negotiate1(d: Dissector, who: int, neg: Negotiate1, frame: int, ts: float) -> None:
    msg = "SMB1 NEGOTIATE response"
    if neg.dialect_index >= 0:
        d.fact(who, "domain", neg.domain, msg, frame, ts)
        d.fact(who, "name", neg.server, msg, frame, ts)


def negotiate2(d: Dissector, who: int, neg: Negotiate2, frame: int, ts: float) -> None:
    if neg.dialect >= 0:
        msg = "SMB2 NEGOTIATE response"
        d.fact(who, "smb_dialect", dialect_name(neg.dialect), msg, frame, ts)
        d.fact(who, "smb_server_guid", neg.server_guid, msg, frame, ts)


def session_setup1(d: Dissector, who: int, ss: SessionSetup1, via: str, frame: int, ts: float) -> None:
    d.fact(who, "os", ss.native_os, via, frame, ts)
    family = os_family_of(ss.native_os)
    if family:
        d.fact(who, "os_family", family, via, frame, ts)
    d.fact(who, "smb_native_os", ss.native_os, via, frame, ts)
    d.fact(who, "smb_native_lanman", ss.native_lanman, via, frame, ts)
    d.fact(who, "domain", ss.domain, via, frame, ts)
    if ss.account:
        # sensitive: who logged on (non-extended NT LM 0.12 logon); never the passwords beside it
        d.fact(who, "smb_user", f"{ss.domain}\\{ss.account}" if ss.domain else ss.account, via, frame, ts)
