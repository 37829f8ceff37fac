"""Banner grammar and dissectors: real bytes (nDPI ssh.pcap frames 4 and 6, suricata-verify output-eve-ftp-data
frame 491, the Telnet negotiation of HoneyNet fc_0.pcap), RFC examples, malformed and cut input, anomalies."""

from __future__ import annotations

import pytest

from otscope.dissectors.banners import SPEC
from otscope.dissectors.banners.constants import MAX_LINE, BannerAnomaly
from otscope.dissectors.banners.dissector import FtpDissector, SmtpDissector, SshDissector, TelnetDissector
from otscope.dissectors.banners.facts import stated_os
from otscope.dissectors.banners.grammar import (first_line, is_command, parse_reply, parse_ssh_ident,
                                                 printable_line, telnet_text)
from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Malformed

SSH_SERVER = bytes.fromhex("5353482d322e302d4f70656e5353485f352e330d0a")     # ssh.pcap frame 4
SSH_CLIENT = bytes.fromhex("5353482d322e302d4f70656e5353485f352e360d0a")     # frame 6
FTP_220 = bytes.fromhex("323230202876734654506420322e332e35290d0a")          # output-eve-ftp-data frame 491
# fc_0.pcap: the server's first segment (IAC DO TERMINAL-TYPE, IAC DO TSPEED, ...) and a client IAC answer
TELNET_NEG = bytes.fromhex("fffd18fffd20fffd23fffd27")
TELNET_CLIENT = bytes.fromhex("fffb18fffb1ffffb20fffb21fffb22fffb27fffd05")


def facts(d) -> dict[tuple[int, str], str]:  # type: ignore[no-untyped-def]
    return {(f.who, f.field): f.value for f in d.out}


def test_ssh_real_exchange() -> None:
    assert parse_ssh_ident(SSH_SERVER.rstrip()).software == "OpenSSH_5.3"
    d = SshDissector()
    assert d.feed(SSH_SERVER, 1, 0.0, 4) == OK and d.labelled
    assert d.feed(SSH_CLIENT + b"\x00\x00\x03\x14binary kexinit", 0, 0.0, 6) == DONE and d.confirmed
    assert facts(d) == {(1, "ssh_banner"): "SSH-2.0-OpenSSH_5.3", (0, "ssh_banner"): "SSH-2.0-OpenSSH_5.6",
                        (0, "protocol"): "ssh-client", (1, "protocol"): "ssh-server"}


def test_ssh_os_only_where_the_version_says_it() -> None:
    d = SshDissector()
    d.feed(b"SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11\r\n", 1, 0.0, 1)
    assert facts(d)[(1, "os")] == "Ubuntu" and facts(d)[(1, "os_family")] == "linux"
    assert stated_os("SSH-2.0-OpenSSH_for_Windows_8.1") == ("Windows", "windows")
    assert stated_os("SSH-2.0-Cisco-1.25") == ("Cisco IOS", "network-os") and stated_os("SSH-2.0-dropbear") is None


def test_ssh_server_preamble_lines_then_identification() -> None:
    d = SshDissector()
    assert d.feed(b"Welcome\r\nto the box\r\nSSH-2.0-OpenSSH_7.4\r\n", 1, 0.0, 1) == OK
    assert facts(d)[(1, "ssh_banner")] == "SSH-2.0-OpenSSH_7.4"
    d = SshDissector()
    assert d.feed(b"x\r\n" * 9, 1, 0.0, 1) == FATAL             # more lines than RFC 4253 4.2 allows for here


def test_ssh_malformed_and_not_ssh() -> None:
    for bad in (b"SSH-2.0", b"SSH-3.0-x", b"SSH-2.0-", b"SSH-2.0-a\x01b", b"HTTP/1.1 200"):
        with pytest.raises(Malformed):
            parse_ssh_ident(bad)
    d = SshDissector()
    assert d.feed(b"SSH-9.9-x\r\n", 0, 0.0, 1) == FATAL and [a.kind for a in d.anomalies] == [
        BannerAnomaly.BAD_IDENTIFICATION]
    assert SshDissector().feed(b"GET / HTTP/1.1\r\n", 0, 0.0, 1) == FATAL
    assert SshDissector().feed(b"SS", 0, 0.0, 1) == INCOMPLETE
    d = SshDissector()
    assert d.feed(b"SSH-2.0-" + b"a" * MAX_LINE, 1, 0.0, 1) == FATAL
    assert [a.kind for a in d.anomalies] == [BannerAnomaly.LINE_TOO_LONG]


def test_ftp_greeting_and_command() -> None:
    r = parse_reply(FTP_220.rstrip())
    assert (r.code, r.more, r.text) == (220, False, b"(vsFTPd 2.3.5)")
    d = FtpDissector()
    assert d.feed(FTP_220, 1, 0.0, 491) == OK and d.labelled
    assert d.feed(b"USER anonymous\r\n", 0, 0.0, 492) == DONE and d.confirmed
    assert facts(d)[(1, "ftp_banner")] == "(vsFTPd 2.3.5)"
    d = FtpDissector()
    d.feed(b"220-Microsoft FTP Service\r\n220 ready\r\n", 1, 0.0, 1)
    assert facts(d)[(1, "ftp_banner")] == "Microsoft FTP Service" and facts(d)[(1, "os_family")] == "windows"


def test_ftp_unexpected_reply_and_not_ftp() -> None:
    d = FtpDissector()
    assert d.feed(b"530 Login incorrect.\r\n", 1, 0.0, 1) == OK
    assert [a.kind for a in d.anomalies] == [f"{BannerAnomaly.UNEXPECTED_REPLY}-530"] and (1, "ftp_banner") not in facts(d)
    assert FtpDissector().feed(b"\x16\x03\x01", 1, 0.0, 1) == FATAL
    assert FtpDissector().feed(b"\x00\x01", 0, 0.0, 1) == FATAL
    assert FtpDissector().feed(b"220x\r\n", 1, 0.0, 1) == FATAL
    for bad in (b"22", b"620 x", b"2a0 x", b"220x"):
        with pytest.raises(Malformed):
            parse_reply(bad)
    assert is_command(b"USER x") and is_command(b"QUIT") and not is_command(b"12 x") and not is_command(b"AUTHENT x")


def test_smtp_greeting_and_ehlo() -> None:
    d = SmtpDissector()
    d.feed(b"220 mail.plant.local ESMTP Postfix (Ubuntu)\r\n", 1, 0.0, 1)
    assert d.feed(b"EHLO hmi-01.plant.local\r\n", 0, 0.0, 2) == DONE
    f = facts(d)
    assert f[(1, "smtp_banner")] == "mail.plant.local ESMTP Postfix (Ubuntu)" and f[(1, "os")] == "Ubuntu"
    assert f[(0, "smtp_helo")] == "hmi-01.plant.local"


def test_telnet_negotiation_then_banner() -> None:
    text, seen, partial = telnet_text(TELNET_NEG + b"\xff\xff")
    assert (text, seen, partial) == (b"\xff", True, False)
    d = TelnetDissector()
    assert d.feed(TELNET_NEG, 1, 0.0, 4) == INCOMPLETE and d.labelled
    assert d.feed(TELNET_CLIENT, 0, 0.0, 6) == OK and d.confirmed
    assert d.feed(b"\xff\xfa\x18\x01\xff\xf0\r\nUser Access Verification\r\n\r\nUsername: ", 1, 0.0, 8) == DONE
    assert facts(d)[(1, "telnet_banner")] == "User Access Verification"


def test_telnet_binary_is_no_banner() -> None:
    """fc_0.pcap: after the negotiation the server's bytes are not text: no banner is made up."""
    d = TelnetDissector()
    d.feed(TELNET_NEG, 1, 0.0, 4)
    assert d.feed(b"\x89\x12\x80\x01\r\n", 1, 0.0, 5) == DONE and (1, "telnet_banner") not in facts(d)
    assert printable_line(b"\x01\x02\x03\r\nlogin ok\r\n") is None and printable_line(b"ok\r\n") is None
    assert TelnetDissector().feed(b"\x00\x9f\x80\x01\x02", 1, 0.0, 1) == FATAL
    with pytest.raises(Malformed):
        telnet_text(b"\xff\x10")
    assert telnet_text(b"ab\xff\xfb")[2] and telnet_text(b"\xff\xfa\x18")[2]     # cut inside a command


def test_first_line_and_spec() -> None:
    assert first_line(b"a\r\nb") == (b"a", 3) and first_line(b"abc") is None
    assert not SPEC.ot and SPEC.rank == 4 and all(e.peek > 0 for e in SPEC.flows)
    assert {e.protocol for e in SPEC.flows} == {"ssh", "ftp", "telnet", "smtp"}
