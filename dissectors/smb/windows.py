"""Windows versions from an NTLMSSP VERSION structure (MS-NLMP 2.2.2.10: ProductMajorVersion, ProductMinorVersion,
ProductBuild) or an SMB1 NativeOS string, normalised for the ``os`` / ``os_family`` facts (hostid.md).

Version table (Microsoft "Operating System Version" documentation: the NT version each release reports):

| major.minor | release                                  | build split (10.0 only)                        |
|-------------|------------------------------------------|------------------------------------------------|
| 5.0         | Windows 2000                             |                                                |
| 5.1         | Windows XP                               | 2600                                           |
| 5.2         | Windows XP x64 / Server 2003             | 3790                                           |
| 6.0         | Windows Vista / Server 2008              | 6000-6003                                      |
| 6.1         | Windows 7 / Server 2008 R2               | 7600, 7601 (SP1)                               |
| 6.2         | Windows 8 / Server 2012                  | 9200                                           |
| 6.3         | Windows 8.1 / Server 2012 R2             | 9600                                           |
| 10.0        | Windows 10 / Server 2016+                | builds below 22000 (10240 ... 19045;           |
|             |                                          | Server 2016 14393, 2019 17763, 2022 20348)     |
| 10.0        | Windows 11 / Server 2025                 | builds 22000 and above (22000 ... 26100)       |

Not mapped (the raw ``ntlmssp_version`` is kept, no ``os``): build 0 (Samba answers 6.1 build 0, which is no
Windows release), any other major.minor (impacket's stock 255.255 build 65535), and a version sent beside an SMB1
NativeOS that is not Windows (macOS SMBFS sends 6.1.7600: the dissector keeps its NativeOS).
"""

from __future__ import annotations

RELEASES = {(5, 0): "Windows 2000", (5, 1): "Windows XP", (5, 2): "Windows XP x64 / Server 2003",
            (6, 0): "Windows Vista / Server 2008", (6, 1): "Windows 7 / Server 2008 R2",
            (6, 2): "Windows 8 / Server 2012", (6, 3): "Windows 8.1 / Server 2012 R2"}
WIN11_FIRST_BUILD = 22000


def windows_release(major: int, minor: int, build: int) -> str | None:
    """'Windows 10 / Server 2016+ (10.0 build 19045)', or None where the table does not say."""
    if build == 0:
        return None
    if (major, minor) == (10, 0):
        name = "Windows 11 / Server 2025" if build >= WIN11_FIRST_BUILD else "Windows 10 / Server 2016+"
    else:
        name = RELEASES.get((major, minor))
        if name is None:
            return None
    return f"{name} ({major}.{minor} build {build})"


def os_family_of(native_os: str) -> str | None:
    """The os_family an SMB1 NativeOS string states (None when it does not say)."""
    s = native_os.lower()
    if s.startswith("windows"):
        return "windows"
    if s.startswith("mac os") or s.startswith("macos") or s.startswith("darwin"):
        return "macos"
    if "linux" in s:
        return "linux"
    return None
