"""Hooks the test-only echo function (tests/api/echo/main.py) uses to stage transaction
conflicts: a rendezvous that makes two requests' transactions overlap, and failures to raise.

The echo function runs in this process (functions_framework.create_app), so the tests and its
handlers share this module."""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_barrier: threading.Barrier | None = None
_passes = 0
attempts: Counter[str] = Counter()  # handler runs, by route
pending: list[BaseException] = []  # raised one per run by the flaky route


def reset() -> None:
    global _barrier, _passes
    with _lock:
        _barrier, _passes = None, 0
        attempts.clear()
        pending.clear()


def meet(parties: int = 2) -> None:
    """The next `parties` calls of `rendezvous` wait for each other (once: retries pass)."""
    global _barrier, _passes
    with _lock:
        _barrier, _passes = threading.Barrier(parties), parties


def rendezvous() -> None:
    global _passes
    with _lock:
        barrier = _barrier if _passes > 0 else None
        _passes -= 1
    if barrier is not None:
        barrier.wait(timeout=10)


def count(route: str) -> None:
    with _lock:
        attempts[route] += 1


def raise_pending() -> None:
    with _lock:
        failure = pending.pop(0) if pending else None
    if failure is not None:
        raise failure
