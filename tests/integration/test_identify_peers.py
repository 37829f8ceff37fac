"""Active identification against real stacks in network namespaces (issue 19): a pymodbus gateway with three
unit ids, a python-snap7 S7 server, a cpppo EtherNet/IP server, and devices that stay silent, answer garbage,
reset the connection, answer with Modbus exceptions or refuse the connection. A tcpdump on the link proves
that only allow-listed requests went out, at the configured rate, and that a dry run sends nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otscope.collector.db import init_schema, make_engine, session_factory
from otscope.collector.queries import coverage
from otscope.collector.service import ingest
from otscope.contract import Batch, CommObs, Evidence, FactObs, Subject
from tests.conftest import ROOT, Inventory
from tests.support.netns import NsPair, sh

pytestmark = [pytest.mark.realpeer, pytest.mark.timeout(150),
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump") or not shutil.which("ip")
                                 or not shutil.which("tshark"), reason="needs root, iproute2, tcpdump and tshark")]

NET = "198.18.7"
CLIENT = f"{NET}.2"
GW, S7, ENIP, SILENT, GARBAGE, RESET, EXC, CLOSED = (f"{NET}.{n}" for n in range(10, 18))
RATE = 8.0
PEERS = ROOT / "pcaps" / "peers"
HOSTILE = Path(__file__).with_name("identify_hostile.py")
MODBUS_ID = {"VendorName": "Schneider Electric", "ProductCode": "TSX ETG 100", "MajorMinorRevision": "v2.1",
             "ProductName": "Modbus gateway", "0x80": "site=north",
             "0x81": "A" * 120, "0x82": "B" * 120}   # the extended answer no longer fits one PDU: MoreFollows
S7_ID = {"as_name": "PLC_NORTH", "module_name": "CPU 1516-3 PN/DP", "serial": "S V-N0RTH2024",
         "module_type": "CPU 1516-3 PN/DP", "order_number": "6ES7 516-3AN01-0AB0", "firmware": [2, 9, 4]}
ENIP_CFG = ["[Identity]", "Vendor Number = 1", "Device Type = 14", "Product Code Number = 166",
            "Product Revision = 2848", "Serial Number = 3735928559", "Product Name = 1756-L83E/B ControlLogix5583E"]
T = 1_700_000_000.0


def seed(url: str) -> None:
    """What a passive sensor would have seen: who speaks which protocol, unit ids, a slot, a rack/slot."""
    ev = Evidence("seen.pcap", 1, T)
    hmi = Subject(0, ip=f"{NET}.50")

    def fact(ip: str, value: str, comp: str | None = None, field: str = "protocol") -> FactObs:
        return FactObs(Subject(0, ip=ip, component=comp), field, value, "seed", "seen passively", ev, T, T)

    facts = [fact(GW, "modbus-server", f"unit:{u}") for u in (1, 2, 3)]
    facts += [fact(S7, "s7comm-server"), fact(S7, "rack 0 slot 1", field="s7_rack_slot")]
    facts += [fact(ENIP, "enip-server"), fact(ENIP, "enip-server", "slot:0")]
    facts += [fact(ip, "modbus-server") for ip in (SILENT, GARBAGE, RESET, EXC, CLOSED)]
    comms = [CommObs(hmi, Subject(0, ip=ip), "tcp", port, proto, 4, 400, T, T)
             for ip, proto, port in [(GW, "modbus", 502), (S7, "s7comm", 102), (ENIP, "enip", 44818)]]
    engine = make_engine(url)
    init_schema(engine)
    ingest(session_factory(engine), Batch(sensor="seed", batch_id="seed", facts=facts, comms=comms))


def wait_listen(ns: str, ip: str, port: int, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if f"{ip}:{port} " in sh("ip", "netns", "exec", ns, "ss", "-ltnH", check=False).stdout:
            return
        time.sleep(0.2)
    raise AssertionError(f"{ip}:{port} never listened")


class Capture:
    """tcpdump on the server's end of the link, started from this process and reaped here."""

    def __init__(self, ns: NsPair, out: Path) -> None:
        self.out = out
        self.p = subprocess.Popen(["ip", "netns", "exec", ns.srv, "tcpdump", "--immediate-mode", "-U", "-n", "-Z",
                                   "root", "-i", ns.vs, "-w", str(out), "tcp"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 10
        line = ""
        while time.monotonic() < end and "listening on" not in line:
            line = self.p.stderr.readline() if self.p.stderr else ""
        assert "listening on" in line, "tcpdump did not start"

    def stop(self) -> Path:
        time.sleep(0.3)
        self.p.terminate()
        self.p.communicate(timeout=10)            # stopped and reaped before the file is read
        return self.out


def tshark(path: Path, display: str, fields: list[str]) -> list[list[str]]:
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=|",
                          *sum((["-e", f] for f in fields), [])], capture_output=True, text=True, timeout=60)
    return [line.split("|") for line in out.stdout.splitlines()]


def identify(ns: NsPair, *args: str, timeout: int = 80) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns.cli, sys.executable, "-m", "otscope.agent.cli", "identify",
                           *args], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("identify")
    ns = NsPair("ai", GW, CLIENT).open()
    try:
        for ip in (S7, ENIP, SILENT, GARBAGE, RESET, EXC, CLOSED):
            sh("ip", "-n", ns.srv, "addr", "add", f"{ip}/24", "dev", ns.vs)
        (tmp / "enip.cfg").write_text("\n".join(ENIP_CFG) + "\n")

        def spawn(*cmd: str, cwd: Path | None = None) -> None:
            ns.procs.append(subprocess.Popen(["ip", "netns", "exec", ns.srv, "timeout", "120", *cmd],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             cwd=str(cwd) if cwd else None))

        spawn(sys.executable, str(PEERS / "modbus_server.py"), GW, "502", json.dumps(MODBUS_ID), "1,2,3", "110")
        spawn(sys.executable, str(PEERS / "s7_server.py"), S7, "102", json.dumps(S7_ID), "110")
        spawn(sys.executable, "-m", "cpppo.server.enip", "--address", f"{ENIP}:44818", "-c", str(tmp / "enip.cfg"),
              "SCADA=INT[10]", cwd=tmp)          # an empty CWD: cpppo reads cpppo.cfg from there too
        spawn(sys.executable, str(HOSTILE), "110", f"silent={SILENT}:502", f"garbage={GARBAGE}:502",
              f"reset={RESET}:502", f"exception={EXC}:502")
        for ip, port in ((GW, 502), (S7, 102), (ENIP, 44818), (SILENT, 502), (GARBAGE, 502), (RESET, 502),
                         (EXC, 502)):
            wait_listen(ns.srv, ip, port)
        url = f"sqlite:///{tmp}/inv.db"
        seed(url)
        yield ns, tmp, url
    finally:
        ns.close()


def test_dry_run_sends_nothing(lab) -> None:  # type: ignore[no-untyped-def]
    ns, tmp, url = lab
    cap = Capture(ns, tmp / "dry.pcap")
    r = identify(ns, "--db", url, "--gaps", "--allow", f"{NET}.0/24", "--dry-run", "--rate", f"{RATE}/s",
                 "--source", CLIENT, "--audit", str(tmp / "dry-audit.jsonl"))
    path = cap.stop()
    assert r.returncode == 0, r.stderr
    assert f"{GW}" in r.stdout and "FC43/14" in r.stdout and "SZL 0x001c" in r.stdout and "slot 0" in r.stdout
    assert "nothing sent" in r.stdout
    assert tshark(path, "tcp", ["frame.number"]) == []          # zero frames on the link
    assert not (tmp / "dry-audit.jsonl").exists()


def test_identify_only_allow_listed_requests_at_the_rate(lab) -> None:  # type: ignore[no-untyped-def]
    ns, tmp, url = lab
    audit = tmp / "audit.jsonl"
    cap = Capture(ns, tmp / "run.pcap")
    t0 = time.monotonic()
    r = identify(ns, "--db", url, "--gaps", "--allow", f"{NET}.0/24", "--rate", f"{RATE}/s", "--source", CLIENT,
                 "--timeout", "1", "--operator", "alice", "--audit", str(audit), "--format", "json")
    elapsed = time.monotonic() - t0
    path = cap.stop()
    assert r.returncode == 0, r.stderr
    assert elapsed < 60
    rep = json.loads(r.stdout)
    res = {t["target"]: t for t in rep["targets"]}

    # per-target results: clear, and no crash on misbehaving devices
    assert {ip: res[ip]["result"] for ip in res} == {
        GW: "answered", S7: "answered", ENIP: "answered", SILENT: "no answer", GARBAGE: "garbage",
        RESET: "reset", EXC: "exception", CLOSED: "refused"}
    assert all(st["outcome"] == "answered" for ip in (GW, S7, ENIP) for st in res[ip]["steps"])
    assert all(st["outcome"] == "exception" and "exception 1" in st["detail"] for st in res[EXC]["steps"])

    # the wire: every frame this host sent with a payload is an allow-listed identity read (tshark's reading)
    rows = tshark(path, f"ip.src=={CLIENT} && tcp.len>0",
                  ["ip.dst", "tcp.dstport", "modbus.func_code", "modbus.read_device_id", "enip.command", "cip.sc",
                   "cotp.type", "s7comm.header.rosctr", "s7comm.param.func", "s7comm.data.userdata.szl_id"])
    assert rows and len(rows) == rep["requests_sent"]
    for dst, port, fc, code, cmd, cip, cotp, rosctr, func, szl in rows:
        if port == "502":
            assert fc in ("43", "17"), (dst, fc)
            assert fc == "17" or code in ("1", "2", "3")
        elif port == "44818":
            assert cmd in ("0x0065", "0x0066", "0x0063", "0x006f"), cmd
            assert set(filter(None, cip.split(","))) <= {"0x01", "0x52"}, cip
        else:
            assert port == "102"
            assert cotp == "0x0e" or (rosctr == "1" and func == "0xf0") or \
                (rosctr == "7" and szl in ("0x0011", "0x001c")), (cotp, rosctr, func, szl)
    # MoreFollows was followed: an extended read continued at the object the first answer stopped before
    more = tshark(path, f"ip.src=={CLIENT} && modbus.read_device_id==3", ["modbus.object_id"])
    assert ["0"] in more and ["130"] in more
    # and at the configured rate: SYNs and requests alike at least 1/rate apart (timestamps from the capture)
    starts = [float(t) for (t,) in tshark(path, f"ip.src=={CLIENT} && (tcp.len>0 || "
                                                f"(tcp.flags.syn==1 && tcp.flags.ack==0))", ["frame.time_epoch"])]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) > 30 and min(gaps) >= 0.9 / RATE, min(gaps)
    print(f"identify: {rep['requests_sent']} requests + {len(starts) - len(rows)} SYNs in {elapsed:.1f} s at "
          f"{RATE:g}/s, smallest gap {min(gaps) * 1000:.0f} ms, mean {sum(gaps) / len(gaps) * 1000:.0f} ms")

    # the audit log lists every request sent, with the operator
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    sent = [x for x in lines if x["event"] == "request"]
    assert len(sent) == len(rows) and all(x["operator"] == "alice" for x in lines)
    assert {x["target"] for x in sent} >= {GW, S7, ENIP, SILENT, GARBAGE, RESET, EXC}

    # the inventory: identities from the answers, each fact saying it was asked for, by whom, when
    inv = Inventory(url)
    assets = inv.assets()
    gw = next(a for a in assets if GW in a["ips"] and a["parent"] is None)
    units = [a for a in assets if a["parent"] == gw["id"]]
    assert sorted(u["component"] for u in units) == ["unit:1", "unit:2", "unit:3"]
    assert all((u["vendor"], u["product"], u["firmware"]) == ("Schneider Electric", "Modbus gateway", "v2.1")
               for u in units)
    assert all({"site=north", "B" * 120} <= {f["value"] for f in u["facts"]} for u in units)
    s7 = next(a for a in assets if S7 in a["ips"])
    assert (s7["order_number"], s7["firmware"], s7["serial"]) == ("6ES7 516-3AN01-0AB0", "V2.9.4", "S V-N0RTH2024")
    en = next(a for a in assets if ENIP in a["ips"] and a["parent"] is None)
    assert (en["product"], en["serial"]) == ("1756-L83E/B ControlLogix5583E", "0xdeadbeef")
    active = [f for a in assets for f in a["facts"] if f["sensor"] == "active:alice"]
    assert len(active) > 30 and all(f["evidence"].startswith("active:alice@") for f in active)
    # (the collector's own conclusion from them, the routed slot being this device, keeps the collector's words)
    assert all(f["message"].startswith("method: active; request: ") and "operator: alice" in f["message"]
               for f in active if f["field"] != "slot")
    # nothing about this host: it did not become an engineering workstation or a Modbus client
    me = [a for a in assets if CLIENT in a["ips"]]
    assert me == []
    with inv.factory() as s:
        cov = coverage(s)
    assert cov["identification"]["active"] >= 2 and cov["identification"]["identified"]["active"] >= 2


def test_bound_to_an_interface_and_never_the_capture_interface(lab) -> None:  # type: ignore[no-untyped-def]
    ns, tmp, url = lab
    cap = Capture(ns, tmp / "iface.pcap")
    refused = identify(ns, "--db", url, "--targets", S7, "--allow", f"{S7}/32", "--interface", ns.vc,
                       "--capture-interface", ns.vc, "--audit", str(tmp / "refused.jsonl"))
    ok = identify(ns, "--db", url, "--targets", S7, "--allow", f"{S7}/32", "--interface", ns.vc, "--rate", "20/s",
                  "--operator", "bob", "--audit", str(tmp / "iface.jsonl"), "--format", "json")
    path = cap.stop()
    assert refused.returncode == 2 and "capture interface" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp / "refused.jsonl").exists()
    assert ok.returncode == 0, ok.stderr
    (target,) = json.loads(ok.stdout)["targets"]
    assert target["target"] == S7 and target["result"] == "answered"
    # only the bound run's connection is on the link: a SYN from the interface's address, to the S7 port
    syns = tshark(path, "tcp.flags.syn==1 && tcp.flags.ack==0", ["ip.src", "ip.dst", "tcp.dstport"])
    assert syns == [[CLIENT, S7, "102"]]
