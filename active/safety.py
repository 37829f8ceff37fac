"""What keeps active identification harmless: pacing, a stop switch, a quiet window, one connection per device,
timeouts with one retry and back-off, and never the sensor's capture interface.

The clock and the sleep are injected (``Clock``), so the rules are tested without real waiting.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

DEFAULT_RATE = 1.0            # requests per second, over the whole run (every frame sent counts, connects too)
MAX_RATE = 50.0
DEFAULT_TIMEOUT = 3.0         # seconds for a connect or an answer
RETRIES = 1                   # a connect or request that got no answer is tried once more
BACKOFF_BASE = 2.0            # seconds before the retry after an error, doubled per consecutive error
BACKOFF_MAX = 30.0


class Refused(Exception):
    """Active identification is not allowed as configured (one line for the operator)."""


class Stopped(Exception):
    """The stop switch was thrown or the quiet window began: nothing more is sent."""


@dataclass(slots=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wall: Callable[[], float] = time.time


class RateLimiter:
    """At most ``rate`` sends per second, evenly spaced (no burst): each send waits until 1/rate after the
    previous one."""

    def __init__(self, rate: float = DEFAULT_RATE, clock: Clock | None = None) -> None:
        if not 0 < rate <= MAX_RATE:
            raise Refused(f"--rate must be more than 0 and at most {MAX_RATE:g} requests/s")
        self.interval = 1.0 / rate
        self.clock = clock or Clock()
        self._next: float | None = None
        self._lock = threading.Lock()

    def acquire(self, check: Callable[[], None] = lambda: None) -> float:
        """Wait for the next slot (calling ``check`` before and while waiting, so a stop is seen at once);
        returns the time the send may go."""
        with self._lock:
            while True:
                check()
                now = self.clock.now()
                if self._next is None or now >= self._next:
                    self._next = now + self.interval
                    return now
                self.clock.sleep(min(self._next - now, 0.25))


def parse_rate(text: str) -> float:
    """``N``, ``N/s`` or ``N/min`` -> requests per second."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|min))?\s*", text or "")
    if not m:
        raise Refused(f"--rate {text!r}: expected N/s or N/min (for example 1/s)")
    value = float(m.group(1)) / (60.0 if m.group(2) == "min" else 1.0)
    if not 0 < value <= MAX_RATE:
        raise Refused(f"--rate {text!r}: must be more than 0 and at most {MAX_RATE:g}/s")
    return value


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """A daily UTC window (start, end in minutes after midnight; it may wrap past midnight) when nothing is sent."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> QuietWindow:
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text or "")
        if not m or int(m.group(1)) > 23 or int(m.group(3)) > 23 or int(m.group(2)) > 59 or int(m.group(4)) > 59:
            raise Refused(f"--quiet {text!r}: expected HH:MM-HH:MM (UTC), for example 06:00-18:00")
        return cls(int(m.group(1)) * 60 + int(m.group(2)), int(m.group(3)) * 60 + int(m.group(4)))

    def contains(self, wall: float) -> bool:
        t = datetime.fromtimestamp(wall, timezone.utc)
        minute = t.hour * 60 + t.minute
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d} UTC"


@dataclass(slots=True)
class StopSwitch:
    """Thrown by a file appearing (``--stop-file``), a signal (the CLI's SIGINT/SIGTERM) or the API."""

    path: str | None = None
    event: threading.Event = field(default_factory=threading.Event)

    def thrown(self) -> str | None:
        if self.event.is_set():
            return "stop requested"
        if self.path and os.path.exists(self.path):
            return f"stop file {self.path} present"
        return None


@dataclass(slots=True)
class Safety:
    """The gate every send passes: stop switch, quiet window, then the rate limiter."""

    limiter: RateLimiter
    stop: StopSwitch = field(default_factory=StopSwitch)
    quiet: tuple[QuietWindow, ...] = ()
    timeout: float = DEFAULT_TIMEOUT

    def check(self) -> None:
        why = self.stop.thrown()
        if why:
            raise Stopped(why)
        wall = self.limiter.clock.wall()
        for q in self.quiet:
            if q.contains(wall):
                raise Stopped(f"quiet window {q}")

    def before_send(self) -> float:
        return self.limiter.acquire(self.check)

    def backoff(self, errors: int) -> None:
        """After ``errors`` consecutive errors on a device: wait before trying it again (stop still works)."""
        delay = min(BACKOFF_BASE * 2 ** max(errors - 1, 0), BACKOFF_MAX)
        end = self.limiter.clock.now() + delay
        while True:
            self.check()
            left = end - self.limiter.clock.now()
            if left <= 0:
                return
            self.limiter.clock.sleep(min(left, 0.25))


# --- one connection per device at a time (process-wide: API jobs and the CLI share it) ----------------------

_DEVICE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def device_lock(ip: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _DEVICE_LOCKS.setdefault(ip, threading.Lock())


# --- where identification sends from: never the capture interface ----------------------------------------------

@dataclass(frozen=True, slots=True)
class Egress:
    """How connections leave: bound to an interface (SO_BINDTODEVICE) or a source address, or the route."""

    interface: str | None = None
    source: str | None = None


IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")       # Linux IFNAMSIZ 16, no '/' (a name is a /sys path)


def capture_interfaces(extra: Iterable[str] = (), sensor_stats: Iterable[dict] = ()) -> set[str]:
    """The interfaces a sensor captures on: given ones, OTSCOPE_CAPTURE_INTERFACES (comma separated) and the
    ``interface`` every sensor reports in its heartbeat."""
    names = {x.strip() for x in extra if x and x.strip()}
    names |= {x.strip() for x in os.environ.get("OTSCOPE_CAPTURE_INTERFACES", "").split(",") if x.strip()}
    for st in sensor_stats:
        v = st.get("interface") if isinstance(st, dict) else None
        if isinstance(v, str) and v:
            names.add(v)
    return names


def _ip_json(*args: str) -> list[dict]:
    try:
        out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=5, check=False)
        data = json.loads(out.stdout or "[]")
        return data if isinstance(data, list) else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def interface_of_address(ip: str) -> str | None:
    for link in _ip_json("addr", "show"):
        for a in link.get("addr_info", ()):
            if a.get("local") == ip:
                return str(link.get("ifname"))
    return None


def route_interface(target: str, source: str | None = None) -> str | None:
    args = ["route", "get", target] + (["from", source] if source else [])
    routes = _ip_json(*args)
    return str(routes[0].get("dev")) if routes and routes[0].get("dev") else None


def check_egress(egress: Egress, capture: set[str], targets: Iterable[str] = (),
                 route: Callable[[str, str | None], str | None] = route_interface,
                 owner: Callable[[str], str | None] = interface_of_address) -> None:
    """Refuse (one line) the capture interface: named, holding the source address, or the route to a target."""
    if egress.interface and egress.source:
        raise Refused("give --interface or --source, not both")
    if egress.interface:
        if not IFNAME.fullmatch(egress.interface):
            raise Refused(f"--interface {egress.interface[:32]!r}: not an interface name")
        if egress.interface in capture:
            raise Refused(f"--interface {egress.interface} is a capture interface: the sensor's SPAN port stays "
                          f"receive-only; use a separate interface")
        if not os.path.exists(f"/sys/class/net/{egress.interface}"):
            raise Refused(f"--interface {egress.interface}: no such interface")
        return
    if egress.source:
        try:
            ipaddress.ip_address(egress.source)
        except ValueError:
            raise Refused(f"--source {egress.source!r}: not an IP address") from None
        dev = owner(egress.source)
        if dev is None:
            raise Refused(f"--source {egress.source}: no interface on this host has that address")
        if dev in capture:
            raise Refused(f"--source {egress.source} is on the capture interface {dev}: use a separate interface")
    for t in targets:
        dev = route(t, egress.source)
        if dev is not None and dev in capture:
            raise Refused(f"the route to {t} leaves through the capture interface {dev}: use --interface or "
                          f"--source on a separate interface")


def open_connection(ip: str, port: int, egress: Egress, timeout: float) -> socket.socket:
    """A TCP connection to (ip, port) leaving through the chosen interface or source address."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if egress.interface:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, egress.interface.encode()[:15])
        if egress.source:
            s.bind((egress.source, 0))
        s.settimeout(timeout)
        s.connect((ip, port))
        return s
    except BaseException:
        s.close()
        raise
