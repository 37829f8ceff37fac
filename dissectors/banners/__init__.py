"""Service banners (ot=False): the first line a server (and for SSH the client) sends on SSH (RFC 4253 4.2,
tcp/22), FTP (RFC 959 4.2 reply, tcp/21), Telnet (RFC 854: the first printable line after IAC option
negotiation, tcp/23) and SMTP (RFC 5321 4.2 greeting, tcp/25 and 587). One line each, bounded, then DONE; the
C fast path hands each flow's first bytes only (FlowEntry.peek)."""

from otscope.dissectors.banners.constants import FTP_PORTS, PEEK_BYTES, SMTP_PORTS, SSH_PORTS, TELNET_PORTS
from otscope.domain import FlowEntry, Role, Transport, spec

_MOD = "otscope.dissectors.banners.dissector"

SPEC = spec(
    "banners", title="Service banners (SSH, FTP, Telnet, SMTP)", ot=False, rank=4,
    protocols=("banners", "ssh", "ftp", "telnet", "smtp"),
    labels=("ssh-client", "ssh-server", "ftp-client", "ftp-server", "telnet-client", "telnet-server",
            "smtp-client", "smtp-server"),
    roles=(Role.IT_HOST,),
    flows=(FlowEntry("ssh", Transport.TCP, SSH_PORTS, f"{_MOD}:SshDissector", peek=PEEK_BYTES),
           FlowEntry("ftp", Transport.TCP, FTP_PORTS, f"{_MOD}:FtpDissector", peek=PEEK_BYTES),
           FlowEntry("telnet", Transport.TCP, TELNET_PORTS, f"{_MOD}:TelnetDissector", peek=PEEK_BYTES),
           FlowEntry("smtp", Transport.TCP, SMTP_PORTS, f"{_MOD}:SmtpDissector", peek=PEEK_BYTES)),
    colours=(("ssh", "#95a5a6"), ("ftp", "#bdc3c7"), ("telnet", "#c0392b"), ("smtp", "#a3a3a3")),
    identifies=("SSH identification strings (both sides), FTP and SMTP greetings (and the EHLO name), the Telnet "
               "first printable line; an OS only where the banner states it"),
)
