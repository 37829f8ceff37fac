"""A bounded cache of serialised responses (and of the text index) derived from the inventory alone.

The inventory changes only when a batch is applied, so a list page or a search is computed, validated and
serialised once per inventory version and served from memory after that (50 dashboards polling the same page
cost one query). The key includes the inventory version: an ingest makes every older entry unreachable, and
they age out of the LRU. Bounded in entries and bytes; one per process (each uvicorn worker has its own).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 512
MAX_BYTES = 64 << 20


class _Flight:
    __slots__ = ("done", "value", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.ok = False


class ResponseCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.hits = self.misses = 0
        self._flights: dict[Hashable, _Flight] = {}

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value for ``key``, made once (``len(value)`` counts against the byte bound). Single flight: while
        one thread makes a key, the others asking for it wait for that result instead of making it again (50
        clients arriving after an ingest cost one computation, not 50)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]  # type: ignore[no-any-return]
            flight = self._flights.get(key)
            owner = flight is None
            if owner:
                flight = self._flights[key] = _Flight()
        assert flight is not None
        if not owner:
            flight.done.wait(timeout=60)
            if flight.ok:
                return flight.value  # type: ignore[no-any-return]
            return make()                                   # the maker failed: try ourselves (errors surface)
        try:
            value = make()
            flight.value, flight.ok = value, True
        finally:
            with self._lock:
                self._flights.pop(key, None)
                if flight.ok:
                    self.misses += 1
                    size = len(flight.value)  # type: ignore[arg-type]
                    if size <= self.max_bytes // 4:
                        self._items[key] = flight.value
                        self._bytes += size
                        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                            _k, old = self._items.popitem(last=False)
                            self._bytes -= len(old)
            flight.done.set()
        return value

    def __len__(self) -> int:
        return len(self._items)
