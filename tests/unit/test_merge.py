"""Pure merge rules: identity resolution, summaries, roles, gap reasons."""

from __future__ import annotations

from otscope.collector.merge import (BindingAction, FactView, GapInput, Owner, best, decide_role, gap_reason,
                                     plan_binding, summarize, times)
from otscope.dissectors.base import Role


def test_plan_binding() -> None:
    assert plan_binding(None, None) is BindingAction.CREATE
    assert plan_binding(None, Owner(1, has_mac=False)) is BindingAction.ATTACH_MAC
    assert plan_binding(None, Owner(1, has_mac=True)) is BindingAction.NEW_HOLDER     # DHCP gave the IP to another
    assert plan_binding(Owner(2, True), None) is BindingAction.ADD_IP                  # the MAC moved to a new IP
    assert plan_binding(Owner(2, True), Owner(2, True)) is BindingAction.ADD_IP
    assert plan_binding(Owner(2, True), Owner(3, False)) is BindingAction.MERGE_IP_ASSET
    assert plan_binding(Owner(2, True), Owner(3, True)) is BindingAction.ADD_IP


def test_times_only_widen() -> None:
    assert times(None, None, 5.0, 6.0) == (5.0, 6.0)
    assert times(4.0, 7.0, 5.0, 6.0) == (4.0, 7.0)
    assert times(4.0, 7.0, 3.0, 9.0) == (3.0, 9.0)


def test_best_prefers_wire_identity_then_recency() -> None:
    facts = [FactView("vendor", "Telemecanique", "oui", 9.0), FactView("vendor", "Schneider Electric", "modbus", 1.0),
             FactView("vendor", "Schneider", "lldp", 5.0)]
    assert best(facts, "vendor") == "Schneider Electric"
    assert best([FactView("firmware", "1.0", "enip", 1.0), FactView("firmware", "1.1", "enip", 2.0)],
                "firmware") == "1.1"
    assert best(facts, "serial") is None


def role(*a, **kw) -> Role:
    return decide_role(*a, **kw).role


def test_roles() -> None:
    assert role(["modbus-server"], []) is Role.PLC
    assert role(["modbus-server"], ["gateway"]) is Role.GATEWAY
    assert role(["enip-server"], ["hmi-scada"]) is Role.HMI_SCADA
    assert role(["s7comm-client"], ["engineering-workstation"]) is Role.EWS
    assert role(["modbus-client"], []) is Role.HMI_SCADA
    assert role([], ["network-device"]) is Role.NETWORK_DEVICE
    assert role([], [], has_it_traffic=True) is Role.IT_HOST
    assert role(["enip-io"], []) is Role.IO_DEVICE
    assert role([], []) is Role.UNKNOWN


def test_role_from_what_the_device_says_beats_the_traffic_rule() -> None:
    # CIP device type 12 (Communications Adapter: 1756-ENBT, MVI56) answering ENIP is not a PLC
    d = decide_role(["enip-server"], {"communications-module": "enip: device type 12 (enip_test.pcap#frame 7)"})
    assert d.role is Role.COMMUNICATIONS_MODULE and "frame 7" in d.evidence
    assert role(["enip-server"], ["plc"]) is Role.PLC                                    # device type 14
    assert role(["enip-server"], ["plc", "communications-module"]) is Role.PLC
    # LLDP/CDP capabilities: a switch that also answers Modbus is a network device
    assert role(["modbus-server"], ["network-device"]) is Role.NETWORK_DEVICE
    # an IEC 61850 IED on tcp/102 is not a PLC, even though COTP servers are PLCs otherwise
    d = decide_role(["cotp-server", "mms-server"], [])
    assert d.role is Role.RTU_IED and "MMS" in d.evidence
    assert role(["cotp-server"], []) is Role.PLC


def test_engineering_traits_beat_hmi_traits_everywhere() -> None:
    for protos in (["s7comm-client"], ["enip-client"], ["modbus-client"], ["cotp-client", "s7comm-client"], []):
        assert role(protos, ["hmi-scada", "engineering-workstation"]) is Role.EWS, protos
        assert role(protos, ["hmi-scada"]) is Role.HMI_SCADA, protos
    d = decide_role(["modbus-client"], [])
    assert d.role is Role.HMI_SCADA and "modbus-client" in d.evidence


def test_summary_gives_the_role_with_the_hints_own_frame() -> None:
    s = summarize([FactView("protocol", "enip-server", "enip", 1),
                   FactView("role_hint", "communications-module", "enip", 1, "", "ListIdentity device type 12",
                            "enip_test.pcap#frame 7")])
    assert s.role is Role.COMMUNICATIONS_MODULE
    assert s.role_evidence == "enip: ListIdentity device type 12 (enip_test.pcap#frame 7)"


def test_summary_identified_needs_vendor_product_firmware() -> None:
    s = summarize([FactView("vendor", "Siemens", "s7comm", 1), FactView("order_number", "6ES7 516-3AN01-0AB0",
                                                                       "s7comm", 1)])
    assert not s.identified and s.missing() == ["firmware"]
    s = summarize([FactView("vendor", "Acme", "modbus", 1), FactView("product_code", "Z10", "modbus", 1),
                   FactView("firmware", "v1", "modbus", 1), FactView("protocol", "modbus-server", "modbus", 1)])
    assert s.identified and s.product == "Z10" and s.role is Role.PLC


def test_gap_reasons() -> None:
    s = summarize([FactView("protocol", "s7comm-plus-server", "s7comm-plus", 1)])
    reason, action = gap_reason(GapInput(1, s, True, 7200, encrypted=True, is_client_only=False))
    assert "encrypted" in reason and action
    reason, _ = gap_reason(GapInput(1, s, False, 7200, encrypted=False, is_client_only=False))
    assert "only seen as a destination" in reason
    reason, action = gap_reason(GapInput(1, s, True, 7200, encrypted=False, is_client_only=False))
    assert "no identity exchange observed in 2.0 h" in reason


def test_gap_actions_name_only_what_otscope_can_do() -> None:
    s = summarize([FactView("protocol", "s7comm-plus-server", "s7comm-plus", 1)])
    partial = summarize([FactView("vendor", "Siemens", "s7comm", 1)])
    cases = [GapInput(1, s, True, 60, True, False), GapInput(1, s, False, 60, False, False),
             GapInput(1, s, True, 60, False, True), GapInput(1, partial, True, 60, False, False),
             GapInput(1, s, True, 60, False, False)]
    for g in cases:
        _reason, action = gap_reason(g)
        assert "active" not in action and "enable" not in action, action
        assert any(k in action for k in ("engineering session", "POST /api/v1/register", "SPAN")), action


def test_conversation_label_joins_unconfirmed_part() -> None:
    from otscope.collector.merge import conversation_label, is_placeholder

    assert is_placeholder("tcp/502", "tcp", 502) and not is_placeholder("modbus", "tcp", 502)
    assert conversation_label("tcp/502", "tcp", 502, "modbus") == "modbus"
    assert conversation_label("tcp/502", "tcp", 502, None) == "tcp/502"
    assert conversation_label("modbus", "tcp", 502, None) == "modbus"


# --- one asset per device (pure plans) ----------------------------------------------------------------------

from otscope.collector.merge import (Fold, Ident, L2Claim, is_modbus_gateway, own_facts,  # noqa: E402
                                     plan_identity_merges, plan_l2_merges, traffic_verdict)

AB = "Rockwell Automation/Allen-Bradley"


def ident(aid: int, parent: int | None, comp: str | None, vendor: str, serial: str, code: str = "") -> Ident:
    return Ident(aid, parent, comp, frozenset({vendor}), frozenset({serial}), frozenset({code} if code else ()))


def test_slot_child_with_its_parents_vendor_and_serial_is_folded_into_the_parent() -> None:
    parent, child = ident(2, None, None, AB, "0xdeadbeef", "166"), ident(4, 2, "slot:0", AB, "0xdeadbeef", "166")
    assert plan_identity_merges([parent, child]) == [Fold(2, 4, "slot:0")]
    assert plan_identity_merges([child, parent]) == [Fold(2, 4, "slot:0")]        # order independent


def test_chassis_modules_stay_apart_and_only_a_duplicate_sibling_folds() -> None:
    enbt = ident(1, None, None, AB, "0x00524d8e", "58")
    l61 = ident(2, 1, "slot:0", AB, "0x00112233", "55")                             # same vendor only: apart
    mvi = ident(3, 1, "slot:3", "ProSoft Technology", "0x0000abcd", "5")
    mvi_again = ident(4, 1, "slot:5", "ProSoft Technology", "0x0000abcd", "5")    # one card seen on two routes
    enbt_route = ident(5, 1, "slot:1", AB, "0x00524d8e", "58")                    # the front module via the backplane
    assert plan_identity_merges([enbt, l61, mvi, mvi_again, enbt_route]) == [Fold(3, 4, "slot:5"),
                                                                           Fold(1, 5, "slot:1")]


def test_vendor_alone_or_serial_alone_never_merges() -> None:
    assert plan_identity_merges([ident(1, None, None, AB, "0x1"), ident(2, None, None, AB, "0x2")]) == []
    assert plan_identity_merges([ident(1, None, None, AB, "0x1"), ident(2, None, None, "Siemens", "0x1")]) == []
    # a product code that disagrees says these are two products that happen to share a serial
    assert plan_identity_merges([ident(1, None, None, AB, "0x1", "58"), ident(2, None, None, AB, "0x1", "55")]) == []
    # a placeholder serial (0) tells nothing apart
    assert plan_identity_merges([ident(1, None, None, AB, "0x00000000"), ident(2, None, None, AB, "0x00000000")]) == []


def test_two_addresses_of_one_module_become_one_asset_keeping_the_oldest() -> None:
    old_ip, new_ip = ident(7, None, None, AB, "0x00524d8e"), ident(3, None, None, AB, "0x00524d8e")
    assert plan_identity_merges([old_ip, new_ip]) == [Fold(3, 7, None)]
    # a child of another chassis that is this module: the top-level asset (it has the address) is kept
    assert plan_identity_merges([ident(9, 8, "slot:2", AB, "0x5"), ident(11, None, None, AB, "0x5")]) == \
        [Fold(11, 9, "slot:2")]


def test_l2_neighbour_is_the_ip_asset_it_names() -> None:
    claims = [L2Claim(10, frozenset({"192.168.2.10"}), frozenset()),
              L2Claim(11, frozenset(), frozenset({"00:22:2d:81:db:10"})),
              L2Claim(12, frozenset({"10.0.0.1"}), frozenset()),                 # held by two assets: ambiguous
              L2Claim(13, frozenset({"10.9.9.9"}), frozenset())]                 # nobody has it
    ips = {"192.168.2.10": {3}, "10.0.0.1": {4, 5}}
    macs = {"00:22:2d:81:db:10": {6}}
    assert plan_l2_merges(claims, ips, macs) == [(3, 10), (6, 11)]


def mb(field: str, value: str, comp: str = "") -> FactView:
    return FactView(field, value, "modbus", 1.0, comp)


def test_modbus_gateway_needs_two_answering_units_or_its_own_word() -> None:
    one = [mb("protocol", "modbus-server", "unit:1"), mb("vendor", "Schneider Electric", "unit:1"),
           mb("modbus_unit", "7", "unit:7")]                                       # 7 was only written to
    assert not is_modbus_gateway(one)
    assert is_modbus_gateway(one + [mb("protocol", "modbus-server", "unit:2")])
    assert is_modbus_gateway([mb("role_hint", "gateway")])                         # exception 0x0A/0x0B
    assert not is_modbus_gateway([mb("role_hint", "gateway", "unit:3")])            # a unit's word is not the host's
    assert not is_modbus_gateway([mb("protocol", "modbus-server", "unit:0"), mb("protocol", "modbus-server", "unit:1")])


def test_gateway_identity_only_from_its_own_answers() -> None:
    facts = [mb("vendor", "Moxa"), mb("vendor", "Schneider Electric", "unit:2")]
    assert [f.value for f in own_facts(facts, gateway=True)] == ["Moxa"]
    assert len(own_facts(facts, gateway=False)) == 2
    assert summarize(own_facts(facts, True)).vendor == "Moxa"


def test_zero_ot_bytes_is_not_applicable() -> None:
    assert traffic_verdict(0, 0, 0.8) == (None, None, "not applicable")
    assert traffic_verdict(100, 79, 0.8) == (0.79, False, "fail")
    assert traffic_verdict(100, 80, 0.8) == (0.8, True, "pass")


def test_gap_reason_names_a_protocol_that_carries_no_identity(monkeypatch) -> None:
    """A device whose only OT protocol carries no vendor/firmware gets that protocol's own gap note (its spec's
    gap_note), and the register as the action; other devices keep the generic reason."""
    from otscope.collector import merge as m

    monkeypatch.setattr(m, "GAP_NOTES", {"iec104": "IEC 60870-5-104 carries no vendor or firmware"})
    quiet = m.Summary(protocols=["iec104-server"])
    g = m.GapInput(1, quiet, sent=True, observed_seconds=7200, encrypted=False, is_client_only=False)
    assert m.gap_reason(g) == ("IEC 60870-5-104 carries no vendor or firmware", m.ACTION_REGISTER)
    other = m.GapInput(2, m.Summary(protocols=["modbus-server"]), True, 7200, False, False)
    assert m.gap_reason(other)[0].startswith("no identity exchange observed")
