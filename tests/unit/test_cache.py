"""The API's response cache: bounded, LRU, single flight (one computation for many concurrent askers)."""

from __future__ import annotations

import threading
import time

import pytest

from otscope.api.cache import ResponseCache


def test_bounded_by_entries_and_bytes() -> None:
    c = ResponseCache(max_entries=3, max_bytes=100)
    for k in range(5):
        c.get_or_make(k, lambda k=k: bytes(10))
    assert len(c) == 3 and c.get_or_make(4, lambda: b"new") == bytes(10)      # 4 kept, 0 and 1 evicted
    assert c.get_or_make(0, lambda: b"again") == b"again"
    c.get_or_make("big", lambda: bytes(60))                                   # over max_bytes // 4: not kept
    assert c.get_or_make("big", lambda: b"x") == b"x"


def test_single_flight() -> None:
    c = ResponseCache()
    calls = []

    def slow() -> bytes:
        calls.append(1)
        time.sleep(0.2)
        return b"page"

    out: list[bytes] = []
    threads = [threading.Thread(target=lambda: out.append(c.get_or_make("k", slow))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert out == [b"page"] * 20 and len(calls) == 1


def test_a_failed_maker_is_not_cached() -> None:
    c = ResponseCache()

    def boom() -> bytes:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        c.get_or_make("k", boom)
    assert c.get_or_make("k", lambda: b"ok") == b"ok"
