"""Every number and address in a batch is bounded before it reaches the database (issue 22, "The collector's
inputs"): hostile values are a ContractError naming the field, never a 500 or a row that breaks later reads."""

from __future__ import annotations

import json

import pytest

from otscope.contract import (MAX_JSON_DEPTH, Batch, CommObs, ContractError, Evidence, FactObs, Subject,
                              TrafficObs, batch_from_json)


def sample() -> dict:
    ev = Evidence("a.pcap", 3, 1_700_000_000.0)
    b = Batch(sensor="s1", batch_id="b1",
              facts=[FactObs(Subject(0, "10.0.0.1", "00:11:22:33:44:55"), "vendor", "Acme", "modbus", "FC43", ev,
                             1_700_000_000.0, 1_700_000_001.0)],
              comms=[CommObs(Subject(0, "10.0.0.2"), Subject(0, "10.0.0.1"), "tcp", 502, "modbus", 3, 300,
                             1_700_000_000.0, 1_700_000_001.0)],
              traffic=[TrafficObs("modbus", 3, 300, 300)])
    return json.loads(b.to_json())


def test_sample_is_valid() -> None:
    batch_from_json(json.dumps(sample()))


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["facts"][0].update(first_seen=1e12), "facts[0].first_seen"),
    (lambda d: d["facts"][0].update(last_seen=1e300), "facts[0].last_seen"),
    (lambda d: d["facts"][0]["evidence"].update(ts=-5.0), "facts[0].evidence.ts"),
    (lambda d: d["comms"][0].update(packets=2 ** 63), "comms[0].packets"),
    (lambda d: d["comms"][0].update(bytes=2 ** 62), "comms[0].bytes"),
    (lambda d: d["comms"][0].update(port=10 ** 20), "comms[0].port"),
    (lambda d: d["comms"][0].update(port=65536), "comms[0].port"),
    (lambda d: d["traffic"][0].update(bytes_seen=2 ** 62), "traffic[0].bytes_seen"),
    (lambda d: d["facts"][0]["subject"].update(mac="zz:11:22:33:44:55"), "facts[0].subject.mac"),
    (lambda d: d["facts"][0]["subject"].update(mac="00:11:22:33:44"), "facts[0].subject.mac"),
    (lambda d: d["facts"][0]["subject"].update(ip="10.0.0.300"), "facts[0].subject.ip"),
    (lambda d: d["facts"][0]["subject"].update(vlan=2 ** 40), "facts[0].subject.vlan"),
])
def test_out_of_range_values_name_their_field(mutate, field: str) -> None:
    d = sample()
    mutate(d)
    with pytest.raises(ContractError) as exc:
        batch_from_json(json.dumps(d))
    assert field in str(exc.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_refused(constant: str) -> None:
    text = json.dumps(sample()).replace('"first_seen": 1700000000.0', f'"first_seen": {constant}', 1)
    assert constant in text
    with pytest.raises(ContractError):
        batch_from_json(text)


def test_deep_nesting_refused_without_recursion() -> None:
    deep = "[" * 200_000 + "]" * 200_000
    with pytest.raises(ContractError, match=f"deeper than {MAX_JSON_DEPTH}"):
        batch_from_json(deep)
    # brackets inside strings do not count
    d = sample()
    d["facts"][0]["value"] = "[" * 1000
    assert batch_from_json(json.dumps(d)).facts[0].value.startswith("[[[")


def test_heartbeat_stats_bounded() -> None:
    d = sample()
    d["stats"] = {"packets": 2 ** 80, "note": "x" * 10_000}
    b = batch_from_json(json.dumps(d))
    assert b.stats["packets"] < 2 ** 63 and len(str(b.stats["note"])) <= 256
