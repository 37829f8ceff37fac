"""Event outputs (issue 17): JSON lines to a file, syslog in CEF (RFC 5424 over UDP, TCP or TLS), a webhook.

Every output is one small class behind one interface (``send(list of event dicts)`` raising ``OSError`` when the
receiver is not reachable). The ones that can fail (syslog, webhook) sit behind a ``DiskQueue``: an event is
written to the queue directory first, then delivered in order; a receiver that is down keeps the events on disk
(bounded: ``max_items`` files, the oldest dropped and counted when it is full) and delivery is retried with
exponential backoff at the next publish, so an outage loses nothing the bound can hold and never stalls ingest
for more than one connection timeout per backoff period.

Only raised events are published: new events that are not part of the learning period (collector/events.py).
Configured by environment (the CLI's ``serve`` and ``sensor`` flags set these, so ``serve --workers`` processes
inherit them):

- ``OTSCOPE_EVENTS_JSONL``: a file the events are appended to, one JSON object a line;
- ``OTSCOPE_SYSLOG``: ``udp://host:port``, ``tcp://host:port`` or ``tls://host:port`` (RFC 5424, RFC 6587
  octet counting on TCP and TLS, RFC 5425 TLS 1.2 or later);
- ``OTSCOPE_SYSLOG_CA``: for tls://, a PEM file of the CA (or self-signed certificate) the receiver's certificate
  is verified against (default: the system's CAs);
- ``OTSCOPE_WEBHOOK``: an ``http://`` or ``https://`` URL receiving ``{"data": [...], "count": N}`` by POST;
- ``OTSCOPE_EVENTS_QUEUE``: the queue directory (default ``otscope-events-queue``).

CEF mapping (ArcSight CEF 25: ``CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|
Severity|Extension``): Device Vendor ``otscope``, Device Product ``otscope``, Device Version the package version,
Signature ID the event kind, Name ``<kind>: <detail>``, Severity low 3 / medium 6 / high 8; extension keys
``rt`` (first seen, ms since epoch), ``end`` (last seen, ms), ``cnt`` (count), ``app`` (protocol), ``dst`` /
``dhost`` (the asset's IP / label: the device acted on), ``src`` / ``shost`` (the client's IP / label: who did
it), ``msg`` (message), ``cs1`` (evidence, ``cs1Label=evidence``), ``cs2`` (MITRE ATT&CK for ICS technique,
``cs2Label=mitreTechnique``), ``cs3`` (sensors, ``cs3Label=sensors``), ``externalId`` (event id).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import time
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from otscope import __version__

CEF_SEVERITY = {"low": 3, "medium": 6, "high": 8}
SYSLOG_SEVERITY = {"low": 5, "medium": 4, "high": 2}        # notice, warning, critical (RFC 5424 6.2.1)
FACILITY = 16                                               # local0
TIMEOUT = 2.0


class Output(Protocol):
    def send(self, items: Sequence[dict[str, Any]]) -> None: ...


# --- formats --------------------------------------------------------------------------------------------------

def _cef_header(v: str) -> str:
    return v.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _cef_value(v: object) -> str:
    s = str(v)
    return s.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def _ip_of(label: str | None) -> str | None:
    if not label:
        return None
    cand = label.rsplit("(", 1)[-1].rstrip(")") if label.endswith(")") else label
    try:
        ipaddress.ip_address(cand)
        return cand
    except ValueError:
        return None


def cef(e: dict[str, Any]) -> str:
    """One event as an ArcSight CEF line (the mapping is in the module docstring)."""
    name = f"{e['kind']}: {e['detail']}" if e.get("detail") else e["kind"]
    ext: list[tuple[str, object]] = [("rt", int(e["first_seen"] * 1000)), ("end", int(e["last_seen"] * 1000)),
                                     ("cnt", e["count"]), ("externalId", e["id"])]
    if e.get("protocol"):
        ext.append(("app", e["protocol"]))
    for key_ip, key_host, label in (("dst", "dhost", e.get("asset")), ("src", "shost", e.get("client"))):
        ip = _ip_of(label)
        if ip:
            ext.append((key_ip, ip))
        if label:
            ext.append((key_host, label))
    ext.append(("msg", e.get("message", "")))
    ext += [("cs1Label", "evidence"), ("cs1", " ".join(e.get("evidence") or []))]
    if e.get("technique"):
        ext += [("cs2Label", "mitreTechnique"), ("cs2", f"{e['technique']} {e.get('technique_name') or ''}".strip())]
    ext += [("cs3Label", "sensors"), ("cs3", ",".join(e.get("sensors") or []))]
    head = "|".join(_cef_header(x) for x in ("otscope", "otscope", __version__, e["kind"], name[:512]))
    return f"CEF:0|{head}|{CEF_SEVERITY.get(e['severity'], 5)}|" + " ".join(f"{k}={_cef_value(v)}" for k, v in ext)


def rfc5424(e: dict[str, Any], hostname: str | None = None, now: float | None = None) -> bytes:
    """A syslog message (RFC 5424) carrying the CEF line: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
    STRUCTURED-DATA MSG, MSGID the event kind, no structured data."""
    pri = FACILITY * 8 + SYSLOG_SEVERITY.get(e["severity"], 5)
    ts = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = "".join(c for c in (hostname or socket.gethostname()) if 33 <= ord(c) <= 126)[:255] or "-"
    msgid = "".join(c for c in e["kind"] if 33 <= ord(c) <= 126)[:32] or "-"
    return f"<{pri}>1 {ts} {host} otscope {os.getpid()} {msgid} - ".encode() + cef(e).encode("utf-8")


# --- outputs --------------------------------------------------------------------------------------------------

class JsonLines:
    def __init__(self, path: str) -> None:
        self.path = path

    def send(self, items: Sequence[dict[str, Any]]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for e in items:
                f.write(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())


class Syslog:
    """RFC 5424 over UDP (a datagram a message) or TCP (RFC 6587 octet counting), optionally TLS (tls://, RFC
    5425: the receiver's certificate is verified against the system's CAs, or ``ca``, a PEM file of the CA or
    the self-signed certificate that signs it; its name or IP must match the URL's host)."""

    def __init__(self, url: str, hostname: str | None = None, ca: str | None = None) -> None:
        u = urlsplit(url)
        if u.scheme not in ("udp", "tcp", "tls") or not u.hostname:
            raise ValueError(f"syslog URL {url!r}: expected udp://host:port, tcp://host:port or tls://host:port")
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port or (6514 if u.scheme == "tls" else 514)
        self.hostname = hostname
        self.ca = ca
        self._tls: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=self.ca)
            except (ssl.SSLError, FileNotFoundError) as exc:      # a CA file that cannot be read: an outage
                raise OSError(f"syslog CA file {self.ca!r}: {exc}") from None
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
        return self._tls

    def send(self, items: Sequence[dict[str, Any]]) -> None:
        msgs = [rfc5424(e, self.hostname) for e in items]
        if self.scheme == "udp":
            with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM) as sk:
                for m in msgs:
                    sk.sendto(m[:65000], (self.host, self.port))
            return
        data = b"".join(str(len(m)).encode() + b" " + m for m in msgs)
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT) as raw:
            if self.scheme != "tls":
                raw.sendall(data)
                return
            with self._context().wrap_socket(raw, server_hostname=self.host) as sk:   # ssl.SSLError is an OSError
                sk.sendall(data)


class Webhook:
    def __init__(self, url: str) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook URL {url!r}: expected http:// or https://")
        self.url = url

    def send(self, items: Sequence[dict[str, Any]]) -> None:
        body = json.dumps({"data": list(items), "count": len(items)}).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "otscope"})
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:       # noqa: S310 - an operator-given URL
            if not 200 <= r.status < 300:
                raise OSError(f"webhook answered {r.status}")


class DiskQueue:
    """Events waiting for one output, one file each (``<seq>.json``), delivered oldest first.

    Bounded: at most ``max_items`` files; when full the oldest is dropped and counted in ``dropped``. A failed
    delivery keeps the files and waits ``backoff`` seconds (doubling to ``max_backoff``) before the next try."""

    def __init__(self, out: Output, directory: str | Path, max_items: int = 100_000, batch: int = 200,
                 backoff: float = 1.0, max_backoff: float = 300.0) -> None:
        self.out = out
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_items, self.batch = max_items, batch
        self.base, self.max_backoff = backoff, max_backoff
        self.wait, self.next_try = backoff, 0.0
        self.dropped = 0
        self.failures = 0

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("*.json"))

    def put(self, items: Sequence[dict[str, Any]]) -> None:
        files = self._files()
        seq = int(files[-1].stem) + 1 if files else 1
        for e in items:
            tmp = self.dir / f"{seq:012d}.tmp"
            tmp.write_text(json.dumps(e, sort_keys=True), encoding="utf-8")
            tmp.replace(self.dir / f"{seq:012d}.json")
            seq += 1
        files = self._files()
        for old in files[: max(0, len(files) - self.max_items)]:
            old.unlink(missing_ok=True)
            self.dropped += 1

    def flush(self, now: float | None = None) -> int:
        """Deliver what is queued, in order; the number delivered (0 while backing off or when it fails)."""
        now = time.monotonic() if now is None else now
        if now < self.next_try:
            return 0
        sent = 0
        while True:
            files = self._files()[: self.batch]
            if not files:
                break
            items = []
            for f in files:
                try:
                    items.append(json.loads(f.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    f.unlink(missing_ok=True)           # a torn file cannot be sent: dropped, counted
                    self.dropped += 1
            try:
                self.out.send(items)
            except (OSError, ValueError):
                self.failures += 1
                self.next_try = now + self.wait
                self.wait = min(self.wait * 2, self.max_backoff)
                return sent
            for f in files:
                f.unlink(missing_ok=True)
            sent += len(items)
        self.wait, self.next_try = self.base, 0.0
        return sent

    def pending(self) -> int:
        return len(self._files())


class Publisher:
    """The configured outputs: JSON lines written straight away, syslog and webhook through their queues."""

    def __init__(self, jsonl: str | None = None, syslog: str | None = None, webhook: str | None = None,
                 queue_dir: str = "otscope-events-queue", syslog_ca: str | None = None) -> None:
        self.direct: list[Output] = [JsonLines(jsonl)] if jsonl else []
        self.queues: list[DiskQueue] = []
        if syslog:
            self.queues.append(DiskQueue(Syslog(syslog, ca=syslog_ca), Path(queue_dir) / "syslog"))
        if webhook:
            self.queues.append(DiskQueue(Webhook(webhook), Path(queue_dir) / "webhook"))

    def __bool__(self) -> bool:
        return bool(self.direct or self.queues)

    def publish(self, items: Sequence[dict[str, Any]]) -> None:
        if items:
            for o in self.direct:
                try:
                    o.send(items)
                except OSError:
                    pass                                # a full disk must not fail the ingest that made them
            for q in self.queues:
                try:
                    q.put(items)
                except OSError:
                    q.dropped += len(items)
        for q in self.queues:
            q.flush()


_PUBLISHER: tuple[tuple, Publisher] | None = None


def from_env() -> Publisher:
    """The publisher the environment configures (made again when the environment changes)."""
    global _PUBLISHER
    conf = tuple(os.environ.get(k) for k in ("OTSCOPE_EVENTS_JSONL", "OTSCOPE_SYSLOG", "OTSCOPE_WEBHOOK",
                                             "OTSCOPE_EVENTS_QUEUE", "OTSCOPE_SYSLOG_CA"))
    if _PUBLISHER is None or _PUBLISHER[0] != conf:
        _PUBLISHER = (conf, Publisher(conf[0], conf[1], conf[2], conf[3] or "otscope-events-queue", conf[4]))
    return _PUBLISHER[1]
