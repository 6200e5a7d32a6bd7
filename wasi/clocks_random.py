"""clock_res_get, clock_time_get, random_get, sched_yield."""
from __future__ import annotations

import os
import time

from .abi import Clockid, Errno
from .errors import WasiError
from .registry import I32, I64, Ptr, wasi_function

# wasmtime answers BADF for the CPU-time clocks; we serve them from the host's
# clocks (C's clock() and benchmarks use them).
_HOST_CLOCK = {
    Clockid.REALTIME: time.CLOCK_REALTIME,
    Clockid.MONOTONIC: time.CLOCK_MONOTONIC,
    Clockid.PROCESS_CPUTIME_ID: time.CLOCK_PROCESS_CPUTIME_ID,
    Clockid.THREAD_CPUTIME_ID: time.CLOCK_THREAD_CPUTIME_ID,
}


def clock_now(ctx, clock_id: int) -> int:
    """Current time of a WASI clock in ns (INVAL for an unknown clock)."""
    if clock_id == Clockid.MONOTONIC:
        return ctx.monotonic_ns()
    if clock_id not in _HOST_CLOCK:
        raise WasiError(Errno.INVAL)
    return time.clock_gettime_ns(_HOST_CLOCK[clock_id])


@wasi_function
def clock_res_get(ctx, id: I32, resolution: Ptr) -> Errno:
    if id not in _HOST_CLOCK:
        raise WasiError(Errno.INVAL)
    # The witx requires a non-zero resolution.
    ns = max(1, round(time.clock_getres(_HOST_CLOCK[id]) * 1e9))
    ctx.mem().write_u64(resolution, ns)


@wasi_function
def clock_time_get(ctx, id: I32, precision: I64, timestamp: Ptr) -> Errno:
    ctx.mem().write_u64(timestamp, clock_now(ctx, id))


@wasi_function
def random_get(ctx, buf: Ptr, buf_len: I32) -> Errno:
    mem = ctx.mem()
    mem.check(buf, buf_len)
    mem.write_bytes(buf, os.urandom(buf_len))


@wasi_function
def sched_yield(ctx) -> Errno:
    os.sched_yield()
