"""The benchmarks' training budget: CPU time of this process, not wall time, so that runs on a
machine shared with other jobs compare fairly (a busy machine lengthens the wall time, not the
budget)."""

from __future__ import annotations

import time


def train_for_cpu_seconds(step, seconds: float) -> tuple[int, float, float]:
    """Call `step.train_step` until `seconds` of CPU time have passed; return (images seen,
    CPU seconds, wall seconds)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    nimg = batch_idx = 0
    while time.process_time() - cpu0 < seconds:
        step.train_step(nimg, batch_idx)
        nimg += step.batch
        batch_idx += 1
    return nimg, time.process_time() - cpu0, time.perf_counter() - wall0
