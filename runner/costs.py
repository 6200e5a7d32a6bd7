"""Compile-cost estimates and the CPU count: what deciding *whether* to compile needs.

Kept apart from runner/workers.py so that a warm start (everything in the cache) can make
these decisions without importing the worker machinery (subprocess, concurrent.futures,
pickle: ~6 ms of a 0.1 s start).
"""
from __future__ import annotations

import os


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


# Estimated LLVM CPU seconds per byte of wasm code, by level (fib.wasm: 61 KB of code takes
# 0.11 s at base, 1.1 s at O1, 2.9 s at O2).  Work below LOCAL_SECONDS is compiled in this
# process by one thread: starting a worker process costs ~0.15 s, more than such a job.
SECONDS_PER_BYTE = {"base": 2e-6, "O1": 18e-6, "O2": 47e-6, "O3": 50e-6}
LOCAL_SECONDS = 0.4


def estimated_seconds(code_bytes: int, level: str) -> float:
    return code_bytes * SECONDS_PER_BYTE[level]
