"""SMB / NTLMSSP: the real SMB1 session setup legs of zeek's raw_ntlm_in_smb.pcap (a macOS SMBFS client and a
Windows XP server), SMB2 negotiate/session setup built to MS-SMB2 2.2, the NetBIOS session request, NTLMSSP
NEGOTIATE/CHALLENGE/AUTHENTICATE with VERSION and AV pairs, the Windows version table, malformed and truncated
input, every anomaly kind and the DONE conditions."""

from __future__ import annotations

import struct

import pytest

from otscope.dissectors.base import DONE, FATAL, INCOMPLETE, OK, Malformed, Truncated, Who
from otscope.dissectors.smb import ntlmssp
from otscope.dissectors.smb.constants import BUDGET, MAX_COMPOUND, MAX_MESSAGE, MAX_PROBES, SmbAnomaly
from otscope.dissectors.smb.dissector import SmbDissector
from otscope.dissectors.smb.grammar import netbios_name, parse_session_request, parse_smb1_header
from otscope.dissectors.smb.windows import os_family_of, windows_release

# zeek testing/btest/Traces/smb/raw_ntlm_in_smb.pcap, TCP payloads (NetBIOS header included). tshark: frame 19
# SMB1 Session Setup AndX request, NTLMSSP NEGOTIATE version 6.1.7600, NativeOS "Mac OS X 10.10", NativeLanMan
# "SMBFS 3.0.0"; frame 20 the response, STATUS_MORE_PROCESSING_REQUIRED, NTLMSSP CHALLENGE version 5.1.2600,
# target info NetBIOS computer/domain TEST-F7DFBC3FE9, DNS names test-f7dfbc3fe9, NativeOS "Windows 5.1",
# NativeLanMan "Windows 2000 LAN Manager"; frame 22 the AUTHENTICATE: domain TEST-F7DFBC3FE9, user test, host
# BABYBOOK.
FRAME19 = bytes.fromhex(
    "0000009aff534d4273000000000801c8000000000000000000000000ffff0100000001000cff00000004110a0007000000000028000000"
    "00005cc000805f004e544c4d535350000100000005028862000000000000000000000000000000000601b01d0f000000004d0061006300"
    "20004f005300200058002000310030002e0031003000000053004d00420046005300200033002e0030002e0030000000")
FRAME20 = bytes.fromhex(
    "0000015fff534d4273160000c08801c8000000000000000000000000ffff01000008010004ff005f010000ea0034014e544c4d53535000"
    "020000001e001e003800000005028a62ccc0bad0f47e17f0000000000000000094009400560000000501280a0000000f54004500530054"
    "002d00460037004400460042004300330046004500390002001e0054004500530054002d00460037004400460042004300330046004500"
    "390001001e0054004500530054002d00460037004400460042004300330046004500390004001e0074006500730074002d006600370064"
    "00660062006300330066006500390003001e0074006500730074002d00660037006400660062006300330066006500390006000400010000"
    "000000000000570069006e0064006f0077007300200035002e0031000000570069006e0064006f00770073002000320030003000300020"
    "004c0041004e0020004d0061006e00610067006500720000")
FRAME22 = bytes.fromhex(
    "0000022aff534d4273000000000801c8000000000000000000000000ffff0100000802000cff00000004110a00070000000000b8010000"
    "00005cc00080ef014e544c4d5353500003000000180018008e00000002010201a60000001e001e00580000000800080076000000100010"
    "007e00000010001000a8010000050288620601b01d0f00000067395ddc5150115281dd3d29b605873554004500530054002d0046003700"
    "440046004200430033004600450039007400650073007400420041004200590042004f004f004b00000000000000000000000000000000"
    "000000000000000000020a2c94cbf8d66168d1b93068775845010100000000000080a93ad3d88fd1013f2198b2fdb491c7000000000100"
    "1e0054004500530054002d00460037004400460042004300330046004500390002001e0054004500530054002d00460037004400460042"
    "004300330046004500390003001e0074006500730074002d00660037006400660062006300330066006500390004001e00740065007300"
    "74002d00660037006400660062006300330066006500390006000400030000000900260063006900660073002f003100390032002e0031"
    "00360038002e00350036002e003100300031000a001000000000000000000000000000000000000000000000000000eb729686fcaacfad"
    "b13418fa494760de004d006100630020004f005300200058002000310030002e0031003000000053004d00420046005300200033002e00"
    "30002e0030000000")


def ntlm_of(frame: bytes) -> bytes:
    return frame[ntlmssp.find(frame):]


# -- NTLMSSP builders (MS-NLMP 2.2.1) -------------------------------------------------------------------------------

def version(major: int, minor: int, build: int) -> bytes:
    return struct.pack("<BBH", major, minor, build) + b"\x00\x00\x00\x0f"


def av(av_id: int, value: str) -> bytes:
    raw = value.encode("utf-16-le")
    return struct.pack("<HH", av_id, len(raw)) + raw


def challenge(ver: bytes | None = version(10, 0, 19045), target: str = "PLANT",
              pairs: tuple[tuple[int, str], ...] = ((2, "PLANT"), (1, "ENG-WS-07"), (4, "plant.local"),
                                                    (3, "eng-ws-07.plant.local"), (5, "plant.local"))) -> bytes:
    info = b"".join(av(i, v) for i, v in pairs) + b"\x00\x00\x00\x00"
    tn = target.encode("utf-16-le")
    flags = 0x00000001 | (0x02000000 if ver else 0)
    fixed = 56
    head = b"NTLMSSP\x00" + struct.pack("<I", 2) + struct.pack("<HHI", len(tn), len(tn), fixed) \
        + struct.pack("<I", flags) + b"\x11" * 8 + bytes(8) + struct.pack("<HHI", len(info), len(info), fixed + len(tn))
    head += ver if ver else bytes(8)
    return head + tn + info


def negotiate(ver: bytes | None = version(6, 1, 7601)) -> bytes:
    flags = 0x00000001 | (0x02000000 if ver else 0)
    return b"NTLMSSP\x00" + struct.pack("<II", 1, flags) + struct.pack("<HHI", 0, 0, 0) * 2 + (ver or b"")


def authenticate(domain: str = "PLANT", user: str = "operator", host: str = "HMI-PANEL-3",
                 ver: bytes | None = None) -> bytes:
    d, u, h = (s.encode("utf-16-le") for s in (domain, user, host))
    off = 88
    fields = [(b"", off), (b"", off)]
    payload = b""
    parts = []
    for raw in (d, u, h):
        parts.append((raw, off + len(payload)))
        payload += raw
    flags = 0x00000001 | (0x02000000 if ver else 0)
    head = b"NTLMSSP\x00" + struct.pack("<I", 3)
    for raw, o in fields + parts + [(b"", off + len(payload))]:
        head += struct.pack("<HHI", len(raw), len(raw), o)
    head += struct.pack("<I", flags) + (ver or bytes(8)) + bytes(16)
    assert len(head) == off
    return head + payload


# -- SMB2 builders (MS-SMB2 2.2) ------------------------------------------------------------------------------------

def smb2(command: int, body: bytes, reply: bool, status: int = 0, next_command: int = 0, mid: int = 1) -> bytes:
    return (b"\xfeSMB" + struct.pack("<HHIHHII", 64, 0, status, command, 1, 1 if reply else 0, next_command)
            + struct.pack("<Q", mid) + bytes(4) + bytes(4) + bytes(8) + bytes(16) + body)


def nbss(msg: bytes, kind: int = 0) -> bytes:
    return bytes([kind]) + len(msg).to_bytes(3, "big") + msg


def neg2_request() -> bytes:
    return smb2(0, struct.pack("<HHHHI", 36, 2, 1, 0, 0) + bytes(16) + bytes(8) + struct.pack("<HH", 0x0202, 0x0311),
                reply=False)


def neg2_response(dialect: int = 0x0311, blob: bytes = b"") -> bytes:
    guid = bytes(range(16))
    body = struct.pack("<HHHH", 65, 1, dialect, 0) + guid + struct.pack("<IIII", 0, 65536, 65536, 65536) + bytes(16) \
        + struct.pack("<HHI", 128 if blob else 0, len(blob), 0)
    return smb2(0, body + blob, reply=True)


def ss2_request(blob: bytes) -> bytes:
    return smb2(1, struct.pack("<HBBII", 25, 0, 1, 0, 0) + struct.pack("<HH", 88, len(blob)) + bytes(8) + blob,
                reply=False, mid=2)


def ss2_response(blob: bytes, status: int = 0xC0000016) -> bytes:
    return smb2(1, struct.pack("<HHHH", 9, 0, 72, len(blob)) + blob, reply=True, status=status, mid=2)


def facts_of(d: SmbDissector) -> dict[tuple[int, str], list[str]]:
    out: dict[tuple[int, str], list[str]] = {}
    for f in d.out:
        out.setdefault((f.who, f.field), []).append(f.value)
    return out


# -- NTLMSSP --------------------------------------------------------------------------------------------------------

def test_real_negotiate_challenge_authenticate() -> None:
    neg = ntlmssp.parse(ntlm_of(FRAME19))
    # macOS writes 0x0f one byte early (in Reserved); the NTLMRevisionCurrent byte is 0 on the wire
    assert neg.type == 1 and neg.version == ntlmssp.Version(6, 1, 7600, 0) and not neg.workstation
    ch = ntlmssp.parse(ntlm_of(FRAME20))
    assert ch.type == 2 and ch.version.raw() == "5.1.2600" and ch.target_name == "TEST-F7DFBC3FE9"
    assert dict(ch.av) == {2: "TEST-F7DFBC3FE9", 1: "TEST-F7DFBC3FE9", 4: "test-f7dfbc3fe9", 3: "test-f7dfbc3fe9"}
    auth = ntlmssp.parse(ntlm_of(FRAME22))
    assert (auth.type, auth.domain, auth.user, auth.workstation) == (3, "TEST-F7DFBC3FE9", "test", "BABYBOOK")
    assert auth.version.raw() == "6.1.7600"


def test_built_messages_and_version_presence() -> None:
    ch = ntlmssp.parse(challenge())
    assert ch.version.raw() == "10.0.19045" and dict(ch.av)[1] == "ENG-WS-07" and dict(ch.av)[5] == "plant.local"
    assert ntlmssp.parse(challenge(ver=None)).version is None
    assert ntlmssp.parse(negotiate()).version.raw() == "6.1.7601"
    assert ntlmssp.parse(negotiate(ver=None)).version is None          # a 32-byte NEGOTIATE: no VERSION
    a = ntlmssp.parse(authenticate())
    assert (a.domain, a.user, a.workstation, a.version) == ("PLANT", "operator", "HMI-PANEL-3", None)


def test_ntlmssp_malformed() -> None:
    with pytest.raises(Malformed):
        ntlmssp.parse(b"NTLMSSQ\x00" + bytes(40))
    with pytest.raises(Malformed, match="message type 7"):
        ntlmssp.parse(b"NTLMSSP\x00" + struct.pack("<I", 7) + bytes(40))
    bad = bytearray(challenge())
    struct.pack_into("<I", bad, 44, 5000)                               # target info offset beyond the message
    with pytest.raises(Truncated):
        ntlmssp.parse(bytes(bad))
    odd = bytearray(authenticate())
    struct.pack_into("<H", odd, 36, 3)                                  # an odd UTF-16 user name length
    with pytest.raises(Malformed):
        ntlmssp.parse(bytes(odd))
    for cut in (4, 12, 20, 30):
        with pytest.raises(Truncated):
            ntlmssp.parse(challenge()[:cut])
    assert ntlmssp.find(b"\x60\x48" + b"x" * 5000 + b"NTLMSSP\x00") == -1     # the search is bounded


@pytest.mark.parametrize("v, expected", [
    ((10, 0, 19045), "Windows 10 / Server 2016+ (10.0 build 19045)"),
    ((10, 0, 17763), "Windows 10 / Server 2016+ (10.0 build 17763)"),
    ((10, 0, 22631), "Windows 11 / Server 2025 (10.0 build 22631)"),
    ((6, 1, 7601), "Windows 7 / Server 2008 R2 (6.1 build 7601)"),
    ((5, 1, 2600), "Windows XP (5.1 build 2600)"),
    ((6, 3, 9600), "Windows 8.1 / Server 2012 R2 (6.3 build 9600)"),
    ((6, 1, 0), None),                       # Samba
    ((255, 255, 65535), None),               # impacket's stock version
])
def test_windows_table(v: tuple[int, int, int], expected: str | None) -> None:
    assert windows_release(*v) == expected


def test_os_family_of_native_os() -> None:
    assert os_family_of("Windows 7 Ultimate 7601 Service Pack 1") == "windows"
    assert os_family_of("Mac OS X 10.10") == "macos" and os_family_of("QTS") is None
    assert os_family_of("Unix") is None and os_family_of("Linux 5.4") == "linux"


# -- NetBIOS, SMB1 ---------------------------------------------------------------------------------------------------

def nb_encode(name: str, suffix: int) -> bytes:
    raw = name.encode().ljust(15)[:15] + bytes([suffix])
    return b"\x20" + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF))) + b"\x00"


def test_netbios_names_and_session_request() -> None:
    assert netbios_name(b"CKFDENECFDEFFCFGEFFCCACACACACACA") == ("*SMBSERVER", 0x20)
    (called, calling) = parse_session_request(nb_encode("ENG-WS-07", 0x20) + nb_encode("HMI-PANEL-3", 0x00))
    assert called == ("ENG-WS-07", 0x20) and calling == ("HMI-PANEL-3", 0)
    with pytest.raises(Malformed):
        netbios_name(b"Z" * 32)
    d = SmbDissector()
    req = nb_encode("ENG-WS-07", 0x20) + nb_encode("HMI-PANEL-3", 0x00)
    assert d.feed(nbss(req, 0x81), 0, 1.0, 1) == OK and d.feed(b"\x82\x00\x00\x00", 1, 1.1, 2) == OK
    f = facts_of(d)
    assert f[(Who.CLIENT, "name")] == ["HMI-PANEL-3"] and f[(Who.SERVER, "name")] == ["ENG-WS-07"]
    d2 = SmbDissector()
    d2.feed(nbss(nb_encode("*SMBSERVER", 0x20) + nb_encode("HMI", 0x00), 0x81), 0, 1.0, 1)
    assert facts_of(d2).get((Who.SERVER, "name")) is None               # the wildcard is no name


def test_real_smb1_session_setup() -> None:
    h = parse_smb1_header(FRAME20[4:])
    assert h.command == 0x73 and h.reply and h.unicode and h.status == 0xC0000016
    d = SmbDissector()
    assert d.feed(FRAME19[:50], 0, 1.0, 19) == INCOMPLETE
    assert d.feed(FRAME19[50:], 0, 1.0, 19) == OK
    assert d.feed(FRAME20, 1, 1.1, 20) == OK and d.confirmed
    assert d.feed(FRAME22, 0, 1.2, 22) == OK
    f = facts_of(d)
    assert set(f[(Who.CLIENT, "os")]) == {"Mac OS X 10.10"} and set(f[(Who.CLIENT, "os_family")]) == {"macos"}
    # the macOS client's NTLMSSP claims 6.1.7600: kept raw, no Windows os beside its Mac NativeOS
    assert f[(Who.CLIENT, "ntlmssp_version")] == ["6.1.7600", "6.1.7600"]
    assert set(f[(Who.CLIENT, "smb_native_lanman")]) == {"SMBFS 3.0.0"}
    assert f[(Who.CLIENT, "name")] == ["BABYBOOK"] and f[(Who.CLIENT, "smb_user")] == ["TEST-F7DFBC3FE9\\test"]
    assert f[(Who.SERVER, "os")] == ["Windows 5.1", "Windows XP (5.1 build 2600)"]
    assert f[(Who.SERVER, "name")] == ["TEST-F7DFBC3FE9"]
    assert f[(Who.SERVER, "domain")] == ["TEST-F7DFBC3FE9", "test-f7dfbc3fe9"]
    assert f[(Who.SERVER, "ntlmssp_dns_computer_name")] == ["test-f7dfbc3fe9"]
    assert f[(Who.SERVER, "smb_native_lanman")] == ["Windows 2000 LAN Manager"]
    assert not d.anomalies
    # the final response (STATUS_SUCCESS, word count 4, no blob) ends the flow
    ok = bytearray(FRAME20)
    ok[9:13] = bytes(4)
    assert d.feed(bytes(ok), 1, 1.3, 23) == DONE


# -- SMB2 ------------------------------------------------------------------------------------------------------------

def test_smb2_negotiate_and_session_setup() -> None:
    d = SmbDissector()
    assert d.feed(nbss(neg2_request()), 0, 1.0, 1) == OK and d.labelled and not d.confirmed
    assert d.feed(nbss(neg2_response(blob=b"\x60\x28" + bytes(40))), 1, 1.1, 2) == OK and d.confirmed
    assert d.feed(nbss(ss2_request(b"\x60\x40\x06\x06+\x06\x01\x05\x05\x02" + negotiate())), 0, 1.2, 3) == OK
    assert d.feed(nbss(ss2_response(b"\xa1\x81\x00" + challenge())), 1, 1.3, 4) == OK
    assert d.feed(nbss(ss2_request(b"\xa1\x82\x01\x00" + authenticate())), 0, 1.4, 5) == OK
    assert d.feed(nbss(ss2_response(b"", status=0)), 1, 1.5, 6) == DONE
    f = facts_of(d)
    assert f[(Who.SERVER, "smb_dialect")] == ["SMB 3.1.1"]
    assert f[(Who.SERVER, "smb_server_guid")] == ["03020100-0504-0706-0809-0a0b0c0d0e0f"]
    assert f[(Who.CLIENT, "os")] == ["Windows 7 / Server 2008 R2 (6.1 build 7601)"]
    assert f[(Who.SERVER, "os")] == ["Windows 10 / Server 2016+ (10.0 build 19045)"]
    assert f[(Who.SERVER, "os_family")] == ["windows"] and f[(Who.SERVER, "name")] == ["ENG-WS-07"]
    assert f[(Who.SERVER, "domain")] == ["PLANT", "plant.local"]
    assert f[(Who.SERVER, "ntlmssp_dns_tree_name")] == ["plant.local"]
    assert f[(Who.CLIENT, "name")] == ["HMI-PANEL-3"] and f[(Who.CLIENT, "smb_user")] == ["PLANT\\operator"]
    assert {x.protocol for x in d.out if x.field in ("os", "name")} == {"ntlmssp"}
    assert not d.anomalies


def test_smb2_failed_logon_and_encryption_end_the_flow() -> None:
    d = SmbDissector()
    d.feed(nbss(neg2_request()), 0, 1.0, 1)
    assert d.feed(nbss(ss2_response(b"", status=0xC000006D)), 1, 1.1, 2) == DONE      # STATUS_LOGON_FAILURE
    d2 = SmbDissector()
    d2.feed(nbss(neg2_request()), 0, 1.0, 1)
    assert d2.feed(nbss(b"\xfdSMB" + bytes(60)), 1, 1.1, 2) == DONE


def test_smb2_compound_and_its_cap() -> None:
    one = neg2_request()
    pad = one + bytes((8 - len(one) % 8) % 8)
    chained = b"".join(pad[:20] + struct.pack("<I", len(pad)) + pad[24:] for _ in range(MAX_COMPOUND + 1))
    d = SmbDissector()
    assert d.feed(nbss(chained), 0, 1.0, 1) == OK
    assert [a.kind for a in d.anomalies] == [SmbAnomaly.COMPOUND_CAP]
    assert d.profile["smb2 negotiate"] == MAX_COMPOUND


def junk_until_fatal(data: bytes) -> list[int]:
    d = SmbDissector()
    return [d.feed(data, i % 2, float(i), i + 1) for i in range(MAX_PROBES + 1)]


def test_not_smb_is_fatal_before_the_label() -> None:
    # MAX_PROBES segments that start inside a message are skipped (a capture started mid-stream), then FATAL
    for junk in (b"GET / HTTP/1.1\r\n\r\n", nbss(b"\x00\x01\x02\x03" + bytes(60)), b"\x00\x01\x00\x01"):
        assert junk_until_fatal(junk) == [OK] * MAX_PROBES + [FATAL], junk
    assert SmbDissector().feed(nbss(b"\xfeSMB" + bytes(60)), 0, 1.0, 1) == FATAL       # StructureSize 0
    assert SmbDissector().feed(nbss(b"\x20\x01", 0x81), 0, 1.0, 1) == FATAL
    d = SmbDissector()                                              # mid-message bytes, then a whole message
    assert d.feed(b"\x99" * 100, 1, 1.0, 1) == OK and d.feed(nbss(neg2_request()), 0, 2.0, 2) == OK
    assert d.labelled and not d.anomalies


def test_anomalies_after_the_label() -> None:
    d = SmbDissector()
    d.feed(nbss(neg2_request()), 0, 1.0, 1)
    assert d.feed(nbss(b"junkjunk"), 1, 1.1, 2) == OK
    assert d.feed(nbss(b"\xfeSMB" + bytes(60)), 1, 1.2, 3) == OK
    assert d.feed(nbss(ss2_response(b"\xa1" + b"NTLMSSP\x00" + struct.pack("<I", 9) + bytes(20))), 1, 1.3, 4) == OK
    assert d.feed(nbss(ss2_response(b"\xa1" + challenge()[:30])), 1, 1.4, 5) == OK
    trunc = bytearray(ss2_response(b"x" * 8))
    struct.pack_into("<H", trunc, 64 + 6, 500)                          # security buffer beyond the message
    assert d.feed(nbss(bytes(trunc)), 1, 1.5, 6) == OK
    assert d.feed(nbss(smb2(1, struct.pack("<H", 7), reply=False)), 0, 1.55, 7) == OK
    assert d.feed(nbss(b"\xff" * 8, 0x81), 0, 1.6, 8) == OK             # a bad session request
    kinds = [a.kind.split("-smb2")[0].split("-session")[0] for a in d.anomalies]
    assert kinds[:3] == [SmbAnomaly.NOT_SMB, SmbAnomaly.MALFORMED, f"{SmbAnomaly.UNKNOWN_NTLMSSP}-09000000"]
    assert kinds[3].startswith(SmbAnomaly.MALFORMED_NTLMSSP)
    assert all(k.startswith(SmbAnomaly.MALFORMED) for k in kinds[4:]) and len(kinds) == 7
    assert d.feed(b"\x99\x00\x00\x00", 1, 1.7, 9) == DONE
    assert d.anomalies[-1].kind == f"{SmbAnomaly.BAD_NBSS}-0x99"
    d2 = SmbDissector()
    d2.feed(nbss(neg2_request()), 0, 1.0, 1)
    assert d2.feed(b"\x00" + (MAX_MESSAGE + 1).to_bytes(3, "big"), 1, 1.1, 2) == DONE
    assert d2.anomalies[-1].kind == SmbAnomaly.MESSAGE_TOO_LONG


def test_the_budget_ends_the_flow() -> None:
    d = SmbDissector()
    d.feed(nbss(neg2_request()), 0, 1.0, 1)
    echo = nbss(smb2(0x0D, struct.pack("<HH", 4, 0), reply=False))
    fed, status = 0, OK
    for i in range(100):
        status = d.feed(echo * 50, 0, 2.0 + i, 2 + i)
        fed += len(echo) * 50
        if status != OK:
            break
    assert status == DONE and BUDGET < fed <= BUDGET + len(echo) * 50 + 200
    assert d.feed(b"\x00\x00\x00", 1, 9.0, 99) == INCOMPLETE            # the other side reads on


# idaholab Malcolm-Test-Artifacts pcap/protocols/NTLM.pcap frames 3 and 5 (HTTP Authorization; tshark: NEGOTIATE
# version 5.1.2600, AUTHENTICATE host WANG_WENCHAO domain example)
HTTP_NEG = "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw=="
HTTP_AUTH = ("NTLM TlRMTVNTUAADAAAAGAAYAIgAAAAYABgAoAAAAA4ADgBIAAAAGgAaAFYAAAAYABgAcAAAAAAAAAC4AAAA"
             "BYKIogUBKAoAAAAPZQB4AGEAbQBwAGwAZQBhAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFcAQQBOAEcAXwBXAEUA"
             "TgBDAEgAQQBPAGWqe25n+EqjAAAAAAAAAAAAAAAAAAAAAKpY3VubZVwgf6w9J+aFyZ16FjpUtLb4zA==")


def test_ntlmssp_from_http_authorization() -> None:
    neg = ntlmssp.from_http_auth(HTTP_NEG)
    assert neg is not None and neg.type == 1 and neg.version.raw() == "5.1.2600"
    auth = ntlmssp.from_http_auth(HTTP_AUTH)
    assert auth is not None and (auth.workstation, auth.domain, auth.user) == ("WANG_WENCHAO", "example",
                                                                                 "administrator")
    for bad in ("Basic dXNlcjpwYXNz", "NTLM", "NTLM !!!", "NTLM " + "A" * 9000, "Negotiate YIIBAA==", ""):
        assert ntlmssp.from_http_auth(bad) is None


def test_a_flow_oriented_the_other_way_labels_the_requester_as_client() -> None:
    d = SmbDissector()
    d.feed(nbss(neg2_response()), 0, 1.0, 1)                        # only the answer, from the flow's "client"
    f = facts_of(d)
    assert f[(Who.CLIENT, "protocol")] == ["smb-server"] and f[(Who.SERVER, "protocol")] == ["smb-client"]
    assert not d.confirmed


def smb1(command: int, words: bytes, data: bytes, reply: bool = False, status: int = 0) -> bytes:
    """An SMB1 message (MS-CIFS 2.2.3.1 header, Unicode, extended security flags2 clear)."""
    head = b"\xffSMB" + struct.pack("<BIBH", command, status, 0x98 if reply else 0x18, 0x8001) + bytes(12) \
        + struct.pack("<HHHH", 0, 0xFEFF, 0, 1)
    return head + bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data


def test_smb1_nt_lm_logon_gives_user_domain_and_os() -> None:
    """MS-CIFS 2.2.4.53.1: WordCount 13, passwords (never read), Pad, AccountName, PrimaryDomain, NativeOS,
    NativeLanMan; the strings are aligned from the header's start."""
    words = struct.pack("<BBHHHHIHHII", 0xFF, 0, 0, 4356, 50, 0, 0, 24, 24, 0, 0xD4)
    u = lambda s: s.encode("utf-16-le") + b"\x00\x00"  # noqa: E731
    pw = b"\x01" * 48
    pad = b"\x00" if (32 + 1 + len(words) + 2 + len(pw)) % 2 else b""
    data = pw + pad + u("operator") + u("PLANT") + u("Windows 2000 2195") + u("Windows 2000 5.0")
    d = SmbDissector()
    assert d.feed(nbss(smb1(0x73, words, data)), 0, 1.0, 1) == OK
    f = facts_of(d)
    assert f[(Who.CLIENT, "smb_user")] == ["PLANT\\operator"] and f[(Who.CLIENT, "domain")] == ["PLANT"]
    assert f[(Who.CLIENT, "os")] == ["Windows 2000 2195"] and f[(Who.CLIENT, "os_family")] == ["windows"]
    assert f[(Who.CLIENT, "smb_native_lanman")] == ["Windows 2000 5.0"]
    assert not any("\x01" in v for vs in f.values() for v in vs)      # nothing of the passwords
    # the answer: WordCount 3, NativeOS, NativeLanMan, PrimaryDomain; STATUS_SUCCESS ends the exchange
    rdata = b"\x00" + u("Windows 7 Ultimate 7601 Service Pack 1") + u("Windows 7 Ultimate 6.1") + u("WORKGROUP")
    assert d.feed(nbss(smb1(0x73, struct.pack("<BBHH", 0xFF, 0, 0, 0), rdata, reply=True)), 1, 1.1, 2) == DONE
    f = facts_of(d)
    assert f[(Who.SERVER, "os")] == ["Windows 7 Ultimate 7601 Service Pack 1"]
    assert f[(Who.SERVER, "domain")] == ["WORKGROUP"] and d.confirmed
    # a failed logon (STATUS_LOGON_FAILURE, WordCount 0) ends it too
    d2 = SmbDissector()
    d2.feed(nbss(smb1(0x73, words, data)), 0, 1.0, 1)
    assert d2.feed(nbss(smb1(0x73, b"", b"", reply=True, status=0xC000006D)), 1, 1.1, 2) == DONE
    # a word count no layout has is an anomaly, the flow stays
    d3 = SmbDissector()
    assert d3.feed(nbss(smb1(0x73, bytes(10), b"")), 0, 1.2, 3) == OK
    assert d3.labelled and d3.anomalies[-1].kind.startswith(SmbAnomaly.MALFORMED)
