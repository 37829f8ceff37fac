"""HTTP and the banners over the real public captures in ../shared/pcaps-extra with their tshark truth:
every http/ssh/ftp/telnet host and label, every Server / User-Agent / banner value found, nothing reported that
is not on the wire; a value the truth has and we do not is shown to be a later answer of a keep-alive flow
(only a flow's first request and answer are read, by design); a tshark differential of the http fields of
each flow's first request and answer. Skips cleanly when the captures or tshark are absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.truth import values

EXTRA = Path(__file__).resolve().parents[2].parent / "shared" / "pcaps-extra"
CAPTURES, TRUTH = EXTRA / "captures", EXTRA / "truth"
pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared/pcaps-extra not present")
TSHARK = shutil.which("tshark")
LABELS = {f"{p}-{s}" for p in ("http", "ssh", "ftp", "telnet") for s in ("client", "server")}


def truths(proto: str) -> list[Path]:
    if not TRUTH.is_dir():
        return []
    return sorted(p for p in TRUTH.rglob("*.json")
                  if proto in json.loads(p.read_text()).get("protocol_frame_counts", {}))


def capture(truth: Path) -> Path:
    return CAPTURES / truth.relative_to(TRUTH).with_suffix("")


def test_the_corpus_has_the_files() -> None:
    assert [len(truths(p)) for p in ("http", "ssh", "ftp", "telnet")] == [3, 1, 1, 1]


def tshark_fields(path: Path, display: str, *fields: str) -> list[list[str]]:
    out = subprocess.run([TSHARK, "-n", "-r", str(path), "-Y", display, "-T", "fields", "-E", "separator=\t",
                          "-E", "occurrence=f", *sum((["-e", f] for f in fields), [])],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [(line.split("\t") + [""] * len(fields))[:len(fields)] for line in out.splitlines()]


def later_in_its_flow(path: Path, frame: int, what: str) -> bool:
    """The frame's HTTP message is not the first request/answer of its TCP stream."""
    (stream,) = tshark_fields(path, f"frame.number == {frame}", "tcp.stream")[0]
    firsts = tshark_fields(path, f"tcp.stream == {stream} && http.{what}", "frame.number")
    return int(firsts[0][0]) < frame


def asset_of(assets: list[dict], ip: str) -> dict:
    found = [a for a in assets if ip in a["ips"]]
    assert len(found) == 1, ip
    return found[0]


@pytest.mark.parametrize("truth_path", sorted({*truths("http"), *truths("ssh"), *truths("ftp"), *truths("telnet")}),
                         ids=lambda p: p.name)
def test_every_host_label_and_value_is_found(truth_path: Path, inventory) -> None:
    truth = json.loads(truth_path.read_text())
    path = capture(truth_path)
    inventory.replay(path)
    assets = inventory.assets()
    checked = 0
    for h in truth["hosts"]:
        labels = {p for p in h["protocols"] if p in LABELS}
        if not labels:
            continue
        a = asset_of(assets, h["ip"])
        assert labels <= set(a["protocols"]), (h["ip"], labels, a["protocols"])
        assert a["role"] == "it-host", a["role"]
        idn = h["identity"]
        for field, key, rec_key, what in (("http_server", "http_server_header", "server", "response"),
                                          ("http_user_agent", "http_user_agent", "user_agent", "request")):
            want = {r[rec_key] for r in idn.get(key, [])}
            got = values([a], field)
            assert got <= want, (h["ip"], field, got - want)          # nothing that is not on the wire
            for r in idn.get(key, []):
                if r[rec_key] not in got:                              # only a keep-alive flow's later answers
                    assert TSHARK and later_in_its_flow(path, r["frame"], what), (h["ip"], r)
                checked += 1
        for field, key, rec_key in (("ssh_banner", "ssh_banner", "banner"), ("ftp_banner", "ftp_banner", "text"),
                                    ("telnet_banner", "telnet_banner", "text")):
            want = {r[rec_key] for r in idn.get(key, [])}
            assert values([a], field) == want, (h["ip"], field)
            checked += len(want)
    assert checked or "telnet" in truth["protocol_frame_counts"]   # (fc_0.pcap: a Telnet session without a banner)


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("truth_path", truths("http"), ids=lambda p: p.name)
def test_tshark_differential_of_the_first_exchange_of_each_flow(truth_path: Path, inventory) -> None:
    """Per host: tshark's http.server of each TCP stream's first answer (server), http.user_agent of its first
    request (client), http.host (server) == our facts."""
    path = capture(truth_path)
    rows = tshark_fields(path, "http && tcp", "tcp.stream", "http.request.method", "http.response", "ip.src", "ip.dst",
                         "http.server", "http.user_agent", "http.host")
    first: dict[tuple[str, str], list[str]] = {}
    for stream, req, rsp, *rest in rows:
        kind = "request" if req else "response" if rsp else ""
        if kind:
            first.setdefault((stream, kind), rest)
    want: dict[tuple[str, str], set[str]] = {}
    for (_stream, kind), (src, dst, server, ua, host) in first.items():
        if kind == "response" and server:
            want.setdefault((src, "http_server"), set()).add(server)
        if kind == "request":
            if ua:
                want.setdefault((src, "http_user_agent"), set()).add(ua)
            if host:
                want.setdefault((dst, "http_host"), set()).add(host)
    assert want
    inventory.replay(path)
    assets = inventory.assets()
    got: dict[tuple[str, str], set[str]] = {}
    for a in assets:
        for field in ("http_server", "http_user_agent", "http_host"):
            v = values([a], field)
            for ip in a["ips"] if v else ():
                got[(ip, field)] = v
    assert got == want
