"""One protocol, one place (issue 13): every protocol package declares itself once, the registry lists the
declarations, and everything else derives what it knows about a protocol from there."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

from otscope.dissectors import registry
from otscope.domain import FlowEntry, ProtocolSpec, Role, Transport, spec

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("agent", "collector", "api", "otscope", "dissectors", "active")
PACKAGES = {p.name for p in (ROOT / "dissectors").iterdir() if (p / "__init__.py").exists()}


def _py(*folders: str) -> list[Path]:
    return sorted(f for d in folders for f in (ROOT / d).rglob("*.py") if "__pycache__" not in f.parts)


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["otscope"] + (parts[1:] if parts[0] == "otscope" else parts))


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


# -- the declarations ------------------------------------------------------------------------------------------

def test_every_dissector_package_is_registered_once() -> None:
    """Each package exports one SPEC and the registry lists each exactly once (a package left out is a test
    failure, not a protocol silently missing)."""
    specs = registry.specs()
    assert len({s.name for s in specs}) == len(specs)
    mods = {type(s).__module__ for s in specs}
    assert mods == {"otscope.domain"}
    import importlib
    for pkg in PACKAGES:
        spec = importlib.import_module(f"otscope.dissectors.{pkg}").SPEC
        assert isinstance(spec, ProtocolSpec) and spec in specs, pkg


def test_registry_is_one_line_per_package() -> None:
    src = (ROOT / "dissectors" / "registry.py").read_text()
    block = src[src.index("SPECS: list[ProtocolSpec] = ["):]
    block = block[:block.index("]\n")]
    lines = [ln.strip() for ln in block.splitlines()[1:] if ln.strip()]
    assert sorted(lines) == sorted(f'_declared("{pkg}"),' for pkg in PACKAGES)
    assert not re.search(r"^from otscope\.dissectors import", src, re.M)   # no import line to edit as well


def test_spec_modules_do_not_import_the_implementation() -> None:
    """The command line reads the registry before it forks: declarations only, no dissector, grammar, facts."""
    out = _run("""
        import sys
        import otscope.dissectors.catalog, otscope.dissectors.registry
        heavy = sorted(m for m in sys.modules if m.startswith("otscope.dissectors.")
                       and m.rsplit(".", 1)[1] in ("dissector", "grammar", "facts", "base"))
        print(heavy)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_flow_classes_agree_with_their_spec() -> None:
    """The registry checks each class against its entry when it loads it (at start-up), so a port changed in
    one place only fails at once."""
    registry.enable(None)
    for e in registry.flow_entries():
        cls = registry.load(e.cls)
        spec = next(s for s in registry.specs() if e in s.flows)
        assert {cls.client_label, cls.server_label} <= set(spec.labels), e.cls
    bad = FlowEntry("modbus", Transport.TCP, (503,), "otscope.dissectors.modbus.dissector:ModbusDissector")
    with pytest.raises(ValueError, match="spec says"):
        registry._dissector_class(bad)


def test_fast_path_layouts_are_real() -> None:
    for s in registry.specs():
        for ref in s.fast_path:
            assert registry.load(ref) is not None, ref
    assert any(s.fast_path for s in registry.specs())


def _literals(path: Path, pattern: str) -> set[str]:
    return set(re.findall(pattern, path.read_text()))


def test_roles_and_labels_a_package_emits_are_declared() -> None:
    """A role hint or a protocol label written in a package's source is in its spec."""
    for pkg in PACKAGES:
        spec = __import__(f"otscope.dissectors.{pkg}", fromlist=["SPEC"]).SPEC
        files = _py(f"dissectors/{pkg}")
        hints = set().union(*(_literals(f, r'"role_hint",\s*"([a-z-]+)"') for f in files))
        labels = set().union(*(_literals(f, r'"protocol",\s*"([a-z0-9_-]+)"') for f in files))
        assert hints <= {r.value for r in spec.roles}, (pkg, hints)
        assert labels <= set(spec.labels), (pkg, labels)


def test_derived_tables_are_todays_tables() -> None:
    """No behaviour change: the tables the product reads are those it had before they were derived."""
    from otscope.agent.flows import OT_PORTS, SERVER_PORTS
    from otscope.collector.merge import OT_LABEL_PREFIXES, PROTOCOL_RANK
    from otscope.dissectors.catalog import PROTOCOLS

    # issue 16: the IT services (ot=False: smb, tls, the name services on UDP) are flow dissectors too
    assert PROTOCOLS == ("ads", "bacnet", "browser", "dhcpv6", "dnp3", "enip", "enip-io", "fins", "fox", "ftp",
                         "hartip", "http", "iec104", "llmnr", "mdns", "melsec", "melsoft", "modbus", "nbns", "opcua",
                         "pnio", "s7comm", "smb", "smtp", "snmp", "ssdp", "ssh", "synphasor", "telnet",
                         "tls")  # issues 14, 15, 16
    assert {p: OT_PORTS[p] for p in (502, 44818, 2222, 102, 20000, 48898, 48899, 1911, 4911, 4840, 34964)} == {
        502: "modbus", 44818: "enip", 2222: "enip-io", 102: "s7comm", 20000: "dnp3", 48898: "ads", 48899: "ads",
        1911: "fox", 4911: "fox", 4840: "opcua", 34964: "pnio"}
    # (udp/34964 was the OT service port "profinet"; the pnio spec declares it now: same counts)
    # + HART-IP 5094/5095, C37.118 tcp/4712 and udp/4713 (issue 14; 2404 was already an OT service port);
    # + the ADS UDP service 48899 (issue 15; 48898, 1911 and 4911 were OT service ports). tcp/48898 is the ADS
    # dissector's port now and still decides no direction (OT_PORTS_NOT_FOR_DIRECTION)
    # + OPC UA 48010/48020/53530 (issue 15; 4840 was already an OT service port)
    # issue 16: TLS adds server ports 8443 and 4843 (its other ports and SMB's were IT/OT service ports already);
    # mDNS 5353, LLMNR 5355, SSDP 1900, DHCPv6 546/547 (SNMP 161/162 and NetBIOS 137/138 were IT server ports)
    # bacnet: udp/47808 moved from the OT service ports (the counts do not change)
    # + FINS 9600 (was a service port), MELSEC 5006/5007 (were), MELSOFT udp/5560 (issue 15); MELSEC's hint ports
    # 1025-1030 and 5000-5010 are common client and IT ports: they neither decide a flow's direction nor make its
    # payload OT traffic until a dissector confirmed it (FlowEntry.direction False)
    # + HTTP 8000/8081/2869 and SMTP submission 587 (issue 16: IT ports, none of them OT)
    assert len(OT_PORTS) == 33 and len(SERVER_PORTS) == 74 and not {1217, 48898} & SERVER_PORTS
    assert not {161, 162, 137, 138, 5353, 5355, 1900, 546, 547, 443, 445, 80, 8080, 8000, 8081, 2869, 22, 21, 23, 25,
                587} & OT_PORTS.keys()
    assert not {1025, 1030, 5000, 5010} & (SERVER_PORTS | OT_PORTS.keys()) and {9600, 5006, 5007, 5560} <= SERVER_PORTS
    assert {p: OT_PORTS[p] for p in (9600, 5007, 5560)} == {9600: "fins", 5007: "melsec", 5560: "melsoft"}
    for label in ("modbus-server", "enip-client", "cip", "s7comm-plus-server", "cotp-server", "pn_dcp"):
        assert label.startswith(OT_LABEL_PREFIXES)
    for label in ("lldp", "cdp", "dhcp-client", "arp", "oui", "http-server", "ssh-client", "telnet-server"):
        assert not label.startswith(OT_LABEL_PREFIXES)
    assert {k: PROTOCOL_RANK.get(k, 5) for k in ("modbus", "enip", "cip", "s7comm", "s7comm-plus", "pn_dcp", "cdp",
                                                  "lldp", "dhcp", "oui", "arp")} == {
        "modbus": 0, "enip": 0, "cip": 0, "s7comm": 0, "s7comm-plus": 0, "pn_dcp": 1, "cdp": 1, "lldp": 2,
        "dhcp": 2, "oui": 9, "arp": 5}
    assert {k: PROTOCOL_RANK[k] for k in ("snmp", "nbns", "browser", "mdns", "llmnr", "ssdp", "dhcp-fingerprint")} == {
        "snmp": 2, "nbns": 4, "browser": 4, "mdns": 4, "llmnr": 4, "ssdp": 4, "dhcp-fingerprint": 6}


def test_register_after_the_registry_was_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SPECS", list(registry.SPECS))     # a failure must not leak into other tests
    registry.specs()
    late = spec("late", title="late", ot=False, rank=5, labels=(), roles=())
    with pytest.raises(RuntimeError, match="after the registry was read"):
        registry.register(late)
    assert "late" not in {s.name for s in registry.SPECS}


# -- a new protocol = one package + one registry line --------------------------------------------------------

NEW_PROTOCOL = """
    import json, sys
    from otscope.dissectors import registry
    if REGISTER:
        from tests.support import fakeproto
        registry.register(fakeproto.SPEC)                  # the one registry line
    from otscope.agent.flows import OT_PORTS, SERVER_PORTS
    from otscope.agent.l2 import tables, udp_ports
    from otscope.collector import merge
    from otscope.dissectors.catalog import PROTOCOLS
    from otscope.dissectors.base import Protocol
    from otscope.dissectors.registry import tcp_dissector_for, catalogue
    from tests.conftest import run_pipeline, write_pcap
    from tests.support.frames import TcpSession
    from scapy.layers.l2 import Ether
    from pathlib import Path
    s = TcpSession("10.0.0.9", "10.0.0.10", 40001, 47999).handshake()
    s.to_server(b"FK?\\n"); s.to_client(b"FK name=press-7\\n")
    s.to_server(b"FK?\\n"); s.to_client(b"garbage\\n")
    l2 = bytes(Ether(src="02:00:00:00:00:77", dst="01:80:c2:00:00:0e", type=0x88B5) / (b"FKL2switch-3" + bytes(40)))
    p, b = run_pipeline(write_pcap(Path(sys.argv[1]), s.frames + [l2]))
    facts = [(f.subject.ip, f.subject.mac, f.field, f.value, f.protocol) for f in b.facts]
    views = [merge.FactView(f.field, f.value, f.protocol, 0.0) for f in b.facts if f.subject.ip == "10.0.0.10"]
    print(json.dumps({
        "ot_port": OT_PORTS.get(47999), "server_port": 47999 in SERVER_PORTS, "catalog": "fakeproto" in PROTOCOLS,
        "rank": merge.PROTOCOL_RANK.get("fakeproto"), "enum": "FAKEPROTO" in Protocol.__members__,
        "ot_label": "fakeproto-server".startswith(merge.OT_LABEL_PREFIXES),
        "dissector": getattr(tcp_dissector_for(47999), "__name__", None),
        "l2": 0x88B5 in tables().ethertype, "api": [c["colour"] for c in catalogue() if c["name"] == "fakeproto"],
        "facts": facts, "comms": sorted({c.protocol for c in b.comms}),
        "anomalies": sorted((a.protocol, a.kind) for a in b.anomalies),
        "is_ot": merge.is_ot(merge.summarize(views)), "role": merge.summarize(views).role.value,
    }))
"""


def _new_protocol(tmp_path: Path, register: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(NEW_PROTOCOL).replace("REGISTER", str(register)),
                          str(tmp_path / "fake.pcap")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_new_protocol_is_one_package_and_one_registry_line(tmp_path: Path) -> None:
    got = _new_protocol(tmp_path, register=True)
    assert got["ot_port"] == "fakeproto" and got["server_port"] and got["catalog"] and got["enum"]
    assert got["rank"] == 0 and got["ot_label"] and got["dissector"] == "FakeDissector" and got["l2"]
    assert got["api"] == ["#123456"]
    # its dissector ran in the capture loop: labels, its fact, its conversation, its typed anomaly, its L2 frame
    assert ["10.0.0.10", None, "name", "press-7", "fakeproto"] in got["facts"]
    assert ["10.0.0.10", None, "protocol", "fakeproto-server", "fakeproto"] in got["facts"]
    assert ["10.0.0.9", None, "protocol", "fakeproto-client", "fakeproto"] in got["facts"]
    assert [None, "02:00:00:00:00:77", "name", "switch-3", "fakeproto"] in got["facts"]
    assert got["comms"] == ["fakeproto"]
    assert got["anomalies"] == [["fakeproto", "bad-answer"]]
    # and the collector's rules know it as OT: a server of it is a PLC
    assert got["is_ot"] and got["role"] == Role.PLC.value


def test_without_its_registry_line_the_protocol_is_unknown(tmp_path: Path) -> None:
    """The control: the same run without the registry line knows nothing of it (the test above can fail)."""
    got = _new_protocol(tmp_path, register=False)
    assert got["ot_port"] is None and not got["server_port"] and not got["catalog"] and got["rank"] is None
    assert not got["ot_label"] and got["dissector"] is None and not got["l2"] and got["api"] == []
    assert not any(f[2] == "name" for f in got["facts"]) and got["comms"] == ["tcp/47999"]


# -- layering ----------------------------------------------------------------------------------------------

def _imports(path: Path, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("otscope")}


def test_collector_and_api_import_nothing_from_agent() -> None:
    """collector/, api/ and active/ (active identification, which the API runs) never import agent/."""
    offenders = {str(f.relative_to(ROOT)): sorted(m for m in _imports(f, False) if m.startswith("otscope.agent"))
                 for f in _py("collector", "api", "active")}
    assert {k: v for k, v in offenders.items() if v} == {}
    grep = subprocess.run(["grep", "-rn", "--include=*.py", "from otscope.agent", "collector", "api", "active"], cwd=ROOT,
                          capture_output=True, text=True)
    assert grep.stdout == ""


def test_bottom_layer_imports_nothing_above_it() -> None:
    for f in ("otscope/domain.py", "otscope/contract.py"):
        assert _imports(ROOT / f, False) <= {"otscope.domain"}, f


def test_no_module_level_import_cycle() -> None:
    """The graph of module-level imports between otscope modules has no cycle."""
    mods = {_module(f): f for f in _py(*PRODUCT)}
    graph = {m: {i for i in _imports(f, True) if i in mods and i != m} for m, f in mods.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_each_top_level_module_imports_alone() -> None:
    """Every top-level product module (and each protocol package), first in a fresh interpreter: a cycle that
    only bites in one import order fails here. Deeper modules are covered by the static graph above."""
    files = [f for d in ("agent", "collector", "api", "api/routes", "dissectors", "otscope", "active")
             for f in sorted((ROOT / d).glob("*.py"))]
    mods = sorted({_module(f) for f in files} | {f"otscope.dissectors.{p}" for p in PACKAGES})
    script = ("import importlib, subprocess, sys\n"
              "bad = []\n"
              f"for m in {mods!r}:\n"
              "    r = subprocess.run([sys.executable, '-c', 'import ' + m], capture_output=True, text=True)\n"
              "    if r.returncode: bad.append((m, r.stderr.strip().splitlines()[-1]))\n"
              "print(bad)\n")
    out = _run(script, timeout=900)          # one fresh interpreter per module: minutes on a loaded machine
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- no protocol named outside its package ---------------------------------------------------------------

# Allowed literals, each with its reason. Keys are (file, literal).
ALLOWED = {
    # the event outputs' URL schemes (--syslog tls://host:port, --webhook http://...): transports of otscope's own
    # outputs, not the TLS or HTTP dissectors (issue 17)
    ("agent/cli.py", "tls"), ("agent/cli.py", "http"), ("collector/event_outputs.py", "tls"),
    ("collector/event_outputs.py", "http"),
    # flows.py names the client's IP address "cip" (a __slots__ entry), not the CIP protocol
    ("agent/flows.py", "cip"),
    ("agent/peek.py", "cip"),          # (the same attribute of its stand-in flow)
    # collector/merge.py decide_role: the role rules of COTP-only servers and of implicit I/O are being rewritten
    # by the collector's issue (helper C, concurrently); they move to the specs' roles there
    ("collector/merge.py", "cotp"), ("collector/merge.py", "enip-io"), ("collector/merge.py", "cotp-server"),
    # collector/merge.py is_modbus_gateway: the unit-gateway rule (one device per answering unit id behind an
    # address) is Modbus's alone; it reads the label the Modbus dissector emits for an answering unit
    ("collector/merge.py", "modbus-server"),
    # api/app.py: the ASGI scope types "http" and "http.response.start" (the server's own HTTP, not a dissector's)
    ("api/app.py", "http"),
    # MELSEC is also Mitsubishi's PLC product line: advisories' product families and CPE product names (issue 18)
    ("collector/advisories/cpe.py", "melsec"), ("collector/advisories/match.py", "melsec"),
    # an f-string's variable "sv" (the server asset), not Sampled Values
    ("collector/findings.py", "sv"),
    # the proposed Purdue level 3 of an OPC UA server (issue 20); to move to the spec's roles with the zone rules
    ("collector/zones.py", "opcua-server"),
}


def _protocol_names() -> set[str]:
    return {n for s in registry.specs() for n in (*s.protocols, *s.labels)}


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """String literals of a module except docstrings (module, class, function): what the code says, not what
    it explains. Comments are not tokens of this kind either."""
    tree = ast.parse(path.read_text())
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(first.lineno)
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.STRING and tok.start[0] not in docs:
            out.append((tok.start[0], tok.string))
    return out


def _named(literal: str, names: set[str]) -> set[str]:
    """The protocol names in a literal, as words ("modbus" in "modbus-server"; the longest one where several
    match the same place: "enip-io", not also "enip")."""
    # (a URL scheme, "http://", names no protocol of a package)
    hits = {n for n in names if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w]|://)", literal)}
    return {n for n in hits if not any(n != m and m.startswith(n) and m in literal and n not in
                                       literal.replace(m, "") for m in hits)}


def test_no_protocol_is_named_outside_its_package_and_the_registry() -> None:
    names = _protocol_names()
    own = {"dissectors/registry.py", "otscope/domain.py"}
    found = []
    for f in _py(*PRODUCT):
        rel = str(f.relative_to(ROOT))
        parts = f.relative_to(ROOT).parts
        if rel in own or (parts[0] == "dissectors" and len(parts) > 2):    # a package names its own protocol
            continue
        for line, lit in _string_literals(f):
            for n in _named(lit, names):
                if (rel, n) not in ALLOWED:
                    found.append(f"{rel}:{line}: {n!r} in {lit[:60]}")
    assert found == []


def test_the_name_scan_finds_a_protocol_name() -> None:
    """The scanner itself: a literal naming a protocol is caught, a docstring or a comment is not."""
    names = _protocol_names()
    assert _named('"modbus-server"', names) == {"modbus-server"} and _named("'tcp/502'", names) == set()
    assert _named('"s7comm-plus"', names) == {"s7comm-plus"} and _named('f"x {a} modbus"', names) == {"modbus"}
    assert _named('("enip", "enip-io")', names) == {"enip", "enip-io"} and _named('"cipher"', names) == set()
    assert _named('"http://127.0.0.1/"', names) == set() and _named('"http-server"', names) == {"http-server"}
    probe = ROOT / "tests" / "unit" / "_probe_names.py"
    try:
        probe.write_text('"""modbus in a docstring."""\n# enip in a comment\nX = "s7comm"\n')
        assert [(ln, lit) for ln, lit in _string_literals(probe)] == [(3, '"s7comm"')]
    finally:
        probe.unlink()


def test_l2_dispatch_is_the_specs_frame_entries() -> None:
    from otscope.agent.l2 import FrameTables, _parser
    from otscope.domain import FrameEntry

    t = FrameTables()
    assert {et: p.protocol for et, p in t.ethertype.items()} == {0x0806: "arp", 0x88CC: "lldp",
                                                                 0x88B8: "goose", 0x88BA: "goose"}
    assert [(head.hex(), p.protocol, p.skip) for head, p in t.snap] == [("aaaa0300000c2000", "cdp", 8),
                                                                        ("828203", "bacnet", 3)]   # BACnet/Ethernet
    # PROFINET 0x8892 by FrameID: DCP (pn_dcp), alarms and cyclic data (pnio, the cyclic part counted)
    assert [(hex(lo), hex(hi), p.protocol, p.counter is not None) for lo, hi, p in t.by_id[0x8892]] == [
        ("0x100", "0xfbff", "pnio", True), ("0xfc01", "0xfc01", "pnio", False), ("0xfe01", "0xfe01", "pnio", False),
        ("0xfefc", "0xfeff", "pn_dcp", False)]
    assert {port: p.protocol for port, p in t.udp.items()} == {67: "dhcp", 68: "dhcp"}
    assert t.for_frame(0x8892, bytes.fromhex("fefe0500")).protocol == "pn_dcp"       # DCP Identify
    assert t.for_frame(0x8892, bytes.fromhex("8000")).protocol == "pnio"             # cyclic RT data: not DCP
    assert t.for_frame(0x8892, bytes.fromhex("fe02")) is None and t.for_frame(0x8892, b"\xfe") is None
    assert t.for_frame(100, bytes.fromhex("aaaa0300000c2000")).protocol == "cdp"    # 802.3 length + SNAP
    assert t.for_frame(24, bytes.fromhex("8282030128")).protocol == "bacnet"        # 802.3 length + LLC 0x82
    assert t.for_frame(0x0800, b"") is None
    with pytest.raises(ValueError, match="context"):
        _parser("x", FrameEntry("a:b", "a:c", udp_ports=(9,), context=("src",)))


DONE_FLOW = """
    import json, sys
    from otscope.dissectors import registry
    from tests.support import fakeproto
    registry.register(fakeproto.SPEC)
    from tests.conftest import run_pipeline, write_pcap
    from tests.support.frames import TcpSession
    from pathlib import Path
    s = TcpSession("10.0.0.9", "10.0.0.10", 40001, 47999).handshake()
    s.to_server(b"FK?\\n"); s.to_client(b"FK name=press-7 done\\n")
    s.to_server(b"FK?\\n"); s.to_client(b"garbage\\n"); s.to_client(b"FK name=other\\n")
    out = {}
    for fast in (True, False):
        p, b = run_pipeline(write_pcap(Path(sys.argv[1]), s.frames), fast=fast)
        out[str(fast)] = {"names": sorted(f.value for f in b.facts if f.field == "name"),
                          "anomalies": sorted((a.protocol, a.kind) for a in b.anomalies),
                          "comms": sorted({(c.protocol, c.packets) for c in b.comms}),
                          "done": p.stats.dissector_done, "detached": p.stats.dissector_detached,
                          "packets": p.stats.packets}
    print(json.dumps(out))
"""


def test_a_dissector_that_is_done_is_detached_quietly_and_the_flow_keeps_its_label(tmp_path: Path) -> None:
    """DONE (dissectors/base.py): facts drained, no anomaly, nothing more fed (the later garbage and second name
    are not seen), the conversation keeps its label and its packets, on both flow-table backends."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(DONE_FLOW), str(tmp_path / "done.pcap")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["True"] == got["False"]
    g = got["True"]
    assert g["names"] == ["press-7"] and g["anomalies"] == [] and g["done"] == 1 and g["detached"] == 0
    assert [c[0] for c in g["comms"]] == ["fakeproto"] and g["comms"][0][1] == g["packets"]


def test_readme_protocol_table_is_the_registry() -> None:
    """README.md's protocol table is rendered from the specs (python -m otscope.dissectors.registry): a protocol
    added, or its ports or roles changed, without the README following fails here; every spec says what it
    identifies."""
    assert all(s.identifies for s in registry.specs()), [s.name for s in registry.specs() if not s.identifies]
    text = (ROOT / "README.md").read_text()
    begin, end = text.index("<!-- protocols:begin -->\n"), text.index("<!-- protocols:end -->")
    assert text[begin + len("<!-- protocols:begin -->\n"):end].strip() == registry.markdown_table()
