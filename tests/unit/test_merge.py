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


def test_roles() -> None:
    assert decide_role(["modbus-server"], []) is Role.PLC
    assert decide_role(["modbus-server"], ["gateway"]) is Role.GATEWAY
    assert decide_role(["enip-server"], ["hmi-scada"]) is Role.HMI_SCADA
    assert decide_role(["s7comm-client"], ["engineering-workstation"]) is Role.EWS
    assert decide_role(["modbus-client"], []) is Role.HMI_SCADA
    assert decide_role([], ["network-device"]) is Role.NETWORK_DEVICE
    assert decide_role([], [], has_it_traffic=True) is Role.IT_HOST
    assert decide_role(["enip-io"], []) is Role.IO_DEVICE
    assert decide_role([], []) is Role.UNKNOWN


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
    reason, _ = gap_reason(GapInput(1, s, True, 7200, encrypted=False, is_client_only=False))
    assert "no identity exchange observed in 2.0 h" in reason


def test_conversation_label_joins_unconfirmed_part() -> None:
    from otscope.collector.merge import conversation_label, is_placeholder

    assert is_placeholder("tcp/502", "tcp", 502) and not is_placeholder("modbus", "tcp", 502)
    assert conversation_label("tcp/502", "tcp", 502, "modbus") == "modbus"
    assert conversation_label("tcp/502", "tcp", 502, None) == "tcp/502"
    assert conversation_label("modbus", "tcp", 502, None) == "modbus"
