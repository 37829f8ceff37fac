from __future__ import annotations

import json

import pytest

from otscope.contract import (SCHEMA_VERSION, Batch, ContractError, Evidence, FactObs, Subject, batch_from_dict,
                              batch_from_json)


def sample() -> Batch:
    ev = Evidence("a.pcap", 3, 1.5)
    return Batch(sensor="s1", batch_id="b1", facts=[FactObs(Subject(0, "10.0.0.1"), "vendor", "Acme", "modbus",
                                                            "FC43", ev, 1.5, 2.5)])


def test_round_trip() -> None:
    b = sample()
    again = batch_from_json(b.to_json())
    assert again.facts == b.facts and again.sensor == "s1" and again.schema == SCHEMA_VERSION


def test_unknown_schema_version_refused() -> None:
    d = json.loads(sample().to_json())
    d["schema"] = 99
    with pytest.raises(ContractError, match="unsupported schema version 99"):
        batch_from_dict(d)


def test_unknown_field_refused() -> None:
    d = json.loads(sample().to_json())
    d["facts"][0]["extra"] = 1
    with pytest.raises(ContractError, match="unknown field"):
        batch_from_dict(d)


@pytest.mark.parametrize("mutate", [
    lambda d: d["facts"][0].pop("value"),
    lambda d: d["facts"][0]["subject"].update(ip=None, mac=None),
    lambda d: d["facts"][0].update(first_seen="yesterday"),
    lambda d: d.update(facts="nope"),
])
def test_invalid_batches(mutate) -> None:
    d = json.loads(sample().to_json())
    mutate(d)
    with pytest.raises(ContractError):
        batch_from_dict(d)


def test_hostile_strings_are_bounded() -> None:
    d = json.loads(sample().to_json())
    d["facts"][0]["value"] = "<script>" + "A" * 10_000 + "\x00\x1b"
    b = batch_from_dict(d)
    assert len(b.facts[0].value) <= 256 and "\x00" not in b.facts[0].value


def test_not_json() -> None:
    with pytest.raises(ContractError, match="not valid JSON"):
        batch_from_json(b"\xff\xfe")
