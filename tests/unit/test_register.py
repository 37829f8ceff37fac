"""The register upload parser: any bytes give rows or a RegisterError (a clear 4xx), never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otscope.collector.register import RegisterError, parse_csv


@pytest.mark.parametrize("body", [b"\r0", b"ip\r\"10.0.0.1", b"ip,mac\n\"unterminated\r", b"\x00\r\n\""])
def test_malformed_csv_is_a_register_error_or_rows(body: bytes) -> None:
    try:
        rows, rejected = parse_csv(body)
    except RegisterError:
        return
    assert isinstance(rows, list) and isinstance(rejected, list)


def test_carriage_returns_alone_end_lines() -> None:
    rows, rejected = parse_csv(b"ip\r10.0.0.1\r")
    assert [r["ip"] for r in rows] == ["10.0.0.1"] and rejected == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet="ip,mac\r\n\"0.1:a ", max_size=60).map(str.encode))
def test_any_bytes(body: bytes) -> None:
    try:
        parse_csv(body)
    except RegisterError:
        pass
