"""Property-based fuzzing of the name services (NetBIOS name service and browser, mDNS/LLMNR, SSDP) and the
shared DNS message walk: grammars raise only Truncated/Malformed (pointer loops included), dissectors never
raise, return a status and emit bounded printable values; DHCP fingerprint rules take any list."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from otscope.dissectors.base import DONE, FATAL, OK, Malformed, Truncated
from otscope.dissectors.dhcp.dhcpv6 import parse as parse_dhcpv6
from otscope.dissectors.dhcp.dissector import Dhcpv6Dissector
from otscope.dissectors.dhcp.fingerprint import classify
from otscope.dissectors.dnsmsg import parse as parse_dns
from otscope.dissectors.mdns.dissector import LlmnrDissector, MdnsDissector
from otscope.dissectors.nbns.dissector import BrowserDissector, NbnsDissector
from otscope.dissectors.nbns.grammar import parse_datagram, parse_nbns
from otscope.dissectors.ssdp.dissector import SsdpDissector
from otscope.dissectors.ssdp.grammar import parse as parse_ssdp
from tests.unit.test_mdns import LLMNR_RESPONSE, MDNS_RESPONSE
from tests.unit.test_nbns import HOST_ANNOUNCEMENT, NODE_STATUS, QUERY_ANSWER, REGISTRATION
from tests.unit.test_dhcp_fingerprint import SOLICIT
from tests.unit.test_ssdp import NOTIFY

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = (MDNS_RESPONSE, LLMNR_RESPONSE, HOST_ANNOUNCEMENT, NODE_STATUS, QUERY_ANSWER, REGISTRATION, NOTIFY, SOLICIT)
DISSECTORS = (NbnsDissector, BrowserDissector, MdnsDissector, LlmnrDissector, SsdpDissector, Dhcpv6Dissector)


def mutated() -> st.SearchStrategy[bytes]:
    return st.tuples(st.sampled_from(SEEDS), st.integers(0, 300), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + len(t[2]):])


@FUZZ
@given(st.one_of(st.binary(max_size=500), mutated()))
def test_grammars_raise_only_their_errors(data: bytes) -> None:
    for parse in (parse_dns, parse_nbns, parse_datagram, parse_ssdp, parse_dhcpv6):
        try:
            parse(data)
        except (Truncated, Malformed):
            pass


@FUZZ
@given(st.sampled_from(DISSECTORS), st.lists(st.tuples(st.integers(0, 1), st.one_of(st.binary(max_size=300),
                                                                                     mutated())), max_size=40))
def test_dissectors_never_raise(cls: type, datagrams: list[tuple[int, bytes]]) -> None:
    d = cls()
    for i, (side, data) in enumerate(datagrams):
        status = d.feed(data, side, float(i), i + 1)
        assert status in (OK, FATAL, DONE)
        if status != OK:
            break
    for f in d.out:
        assert f.value and len(f.value) <= 255 and f.value.isprintable(), f


@FUZZ
@given(st.lists(st.integers(0, 255), max_size=60), st.text(max_size=80))
def test_fingerprint_rules_take_anything(prl: list[int], vendor: str) -> None:
    rule = classify(",".join(map(str, prl)), vendor)
    assert rule is None or rule.os_family in ("windows", "linux", "macos", "bsd", "embedded")


def test_a_memoryview_is_dissected_like_bytes() -> None:
    """The capture loop may hand a datagram as a memoryview: every dissector says the same of it."""
    from otscope.dissectors.snmp.dissector import SnmpDissector
    from tests.unit.test_snmp import RESP_NAME, V3_REPORT
    cases = [(NbnsDissector, NODE_STATUS), (BrowserDissector, HOST_ANNOUNCEMENT), (MdnsDissector, MDNS_RESPONSE),
             (LlmnrDissector, LLMNR_RESPONSE), (SsdpDissector, NOTIFY), (Dhcpv6Dissector, SOLICIT),
             (SnmpDissector, RESP_NAME), (SnmpDissector, V3_REPORT)]
    for cls, data in cases:
        a, b = cls(), cls()
        assert a.feed(data, 0, 0.0, 1) == b.feed(memoryview(data), 0, 0.0, 1) == OK, cls
        assert [f[:3] for f in a.out] == [f[:3] for f in b.out] and a.out, cls
