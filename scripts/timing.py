"""Timing helpers of the small measurement scripts (bench_login, bench_argon2,
bench_db_latency): a warmed-up sample of a call's durations, and its one-line report."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure_ms(run: Callable[[], object], *, runs: int) -> list[float]:
    """`runs` timings of `run` in ms, sorted, after one untimed warm-up call (first-call
    imports and allocations are not what a request pays)."""
    run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)


def report(label: str, samples: list[float]) -> None:
    p50 = statistics.median(samples)
    p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
    print(f"{label:<44} p50 {p50:7.1f} ms   p90 {p90:7.1f} ms   max {samples[-1]:7.1f} ms")
