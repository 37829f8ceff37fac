"""SMB (SMB1 MS-CIFS/MS-SMB, SMB2/3 MS-SMB2 over tcp/445 direct and tcp/139 NetBIOS sessions, RFC 1002 4.3) and
the NTLMSSP authentication it carries (MS-NLMP): this package's one declaration of itself (otscope/domain.py
ProtocolSpec). Importing it does not import the dissector.

An IT protocol (ot=False) read for host identity only: the negotiate and SESSION_SETUP exchanges give the NTLMSSP
computer/domain names and Windows version, the SMB1 native OS strings and the logged-on user; then DONE. The
NTLMSSP facts carry the protocol name ``ntlmssp`` (the ntlmssp module is protocol-neutral: NTLMSSP also rides on
HTTP and DCE/RPC)."""

from otscope.dissectors.smb.constants import BUDGET, SMB_PORTS
from otscope.domain import FlowEntry, Role, Transport, spec

SPEC = spec(
    "smb", title="SMB / NTLMSSP", ot=False, rank=2,
    protocols=("smb", "ntlmssp"),
    labels=("smb-client", "smb-server", "ntlmssp"),
    roles=(Role.IT_HOST,),
    flows=(FlowEntry("smb", Transport.TCP, SMB_PORTS, "otscope.dissectors.smb.dissector:SmbDissector",
                     peek=BUDGET),),
    colours=(("smb", "#95a5a6"), ("ntlmssp", "#bdc3c7")),
    identifies=("NTLMSSP computer and domain names and Windows version, the logged-on user and workstation, SMB1 "
               "native OS and LAN manager, SMB2 dialect"),
)
