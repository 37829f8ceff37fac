"""The unit of work: the one place a transaction is committed (or rolled back).

Services and repositories build statements and never commit; a route or a command wraps its writes in
``unit_of_work(session)``: everything inside is applied together, or nothing is (an exception rolls back and
propagates). ``collector.service.ingest`` is the same for a batch with a session of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session


@contextmanager
def unit_of_work(s: Session) -> Iterator[Session]:
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
