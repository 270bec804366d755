"""The process's engine: one, however many threads of a cold instance ask for it at once.

A cold Cloud Functions instance serves its first requests on several threads (`THREADS`);
each of them asks `get_engine()` for the engine before any exists. Making an engine does not
connect, so no database is needed here.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from common.db import engine as engine_module

pytestmark = pytest.mark.unit

THREADS = 8
TRIES = 30


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so that interleavings are many."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def first_request(barrier: threading.Barrier, got: list[Engine]) -> None:
    barrier.wait()
    got.append(engine_module.get_engine())


def test_threads_of_a_cold_instance_share_one_engine(
    monkeypatch: pytest.MonkeyPatch, busy_switching: None
) -> None:
    made: list[Engine] = []
    try:
        for _ in range(TRIES):
            monkeypatch.delitem(engine_module._made, "engine", raising=False)  # a cold instance
            barrier = threading.Barrier(THREADS)
            got: list[Engine] = []

            threads = [
                threading.Thread(target=first_request, args=(barrier, got)) for _ in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            distinct = {id(engine): engine for engine in got}
            made += distinct.values()
            assert len(got) == THREADS
            assert len(distinct) == 1, f"{len(distinct)} engines for one process"
            assert engine_module.get_engine() is got[0]  # and the same one afterwards
    finally:
        for engine in made:
            engine.dispose()
