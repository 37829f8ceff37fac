"""A test-only protocol package: the whole cost of a new protocol is this folder and one registry line.

"fakeproto" is a line protocol on TCP 47999 (a client asks ``FK?``, the server answers ``FK name=<name>``) and
a layer-2 announcement on the IEEE local experimental ethertype 0x88B5 (``FKL2`` + name). tests/unit/
test_registry.py registers SPEC (the registry line) in a fresh interpreter and shows it reach the port tables,
the catalog, the naming rank, the OT labels, the L2 dispatch and the inventory with no other edit."""

from otscope.domain import FlowEntry, FrameEntry, Role, Transport, spec

PORT = 47999

SPEC = spec(
    "fakeproto", title="Fake protocol", ot=True, rank=0,
    labels=("fakeproto-client", "fakeproto-server"), roles=(Role.PLC, Role.HMI_SCADA),
    flows=(FlowEntry("fakeproto", Transport.TCP, (PORT,), "tests.support.fakeproto.dissector:FakeDissector"),),
    frames=(FrameEntry("tests.support.fakeproto.dissector:parse_l2", "tests.support.fakeproto.dissector:l2_facts",
                       ethertype=0x88B5, context=("src",)),),
    colours=(("fakeproto", "#123456"),),
)
