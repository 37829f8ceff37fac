"""fakeproto per-flow dissector and layer-2 parser (test-only)."""

from __future__ import annotations

from typing import ClassVar

from otscope.dissectors.base import DONE, OK, Dissector, FactsAbout, L2Output, Malformed, Transport, Who, text
from tests.support.fakeproto import PORT, SPEC
from tests.support.fakeproto.constants import FakeAnomaly


class FakeDissector(Dissector):
    protocol: ClassVar = SPEC.name
    transport: ClassVar[Transport] = Transport.TCP
    ports: ClassVar[tuple[int, ...]] = (PORT,)
    client_label: ClassVar[str] = "fakeproto-client"
    server_label: ClassVar[str] = "fakeproto-server"

    __slots__ = ()

    def feed(self, data: bytes, side: int, ts: float, frame: int) -> int:
        if side == 0:
            return OK if data.startswith(b"FK?") else self.fatal("not fakeproto (request)")
        if not data.startswith(b"FK name="):
            self.anomaly(FakeAnomaly.BAD_ANSWER, frame, ts)
            return OK
        self.decoded += len(data)
        self.confirm(frame, ts, "FK answer")
        name, _, rest = data[8:].strip().partition(b" ")
        self.fact(Who.SERVER, "name", text(name), "FK answer", frame, ts)
        return DONE if rest == b"done" else OK      # "FK name=x done": all it wants of the flow (DONE)


def parse_l2(body: bytes) -> bytes:
    if not body.startswith(b"FKL2"):
        raise Malformed("no FKL2 magic")
    return body[4:].split(b"\x00", 1)[0]


def l2_facts(name: bytes, src_mac: str) -> L2Output:
    out = FactsAbout(src_mac, "FKL2 announcement")
    out.add("name", text(name))
    return out
