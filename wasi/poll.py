"""poll_oneoff: clock subscriptions sleep, fd subscriptions report readiness.

Regular files are always ready (as on POSIX).  Stdio streams are watched with
``select`` on their host fds, so a program waiting for stdin, or sleeping with
``std::thread::sleep`` (a single relative clock subscription), blocks in the host
for real rather than spinning.
"""
from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass

from .abi import (EVENT, SUBSCRIPTION, SUBSCRIPTION_CLOCK, SUBSCRIPTION_FD, Clockid, Errno,
                  Eventrwflags, Eventtype, Subclockflags)
from .errors import WasiError
from .fdtable import Descriptor, File, Stream
from .registry import I32, Ptr, wasi_function

# Longest single wait: a "forever" timeout (u64 max) must not overflow select/sleep.
_MAX_WAIT_S = 86400.0


@dataclass
class _Sub:
    """One subscription of a poll_oneoff call, decoded."""

    userdata: int
    type: Eventtype
    deadline: int | None = None        # clock: on the context's monotonic clock, in ns
    desc: Descriptor | None = None     # fd_read / fd_write


@dataclass(frozen=True)
class SubscriptionLayout:
    """How subscriptions sit in guest memory: preview1's, or wasi_unstable's (whose clock
    member has an extra identifier field, making each subscription 56 bytes)."""
    subscription: object = SUBSCRIPTION
    clock: object = SUBSCRIPTION_CLOCK
    fd: object = SUBSCRIPTION_FD


PREVIEW1 = SubscriptionLayout()


def _clock_deadline(ctx, body: bytes, layout: SubscriptionLayout = PREVIEW1) -> int:
    clock_id, timeout, _precision, flags = layout.clock.unpack(body)
    absolute = flags & Subclockflags.SUBSCRIPTION_CLOCK_ABSTIME
    now = ctx.monotonic_ns()
    if clock_id == Clockid.MONOTONIC:
        return timeout if absolute else now + timeout
    if clock_id == Clockid.REALTIME:
        return now + max(0, timeout - time.time_ns()) if absolute else now + timeout
    raise WasiError(Errno.INVAL)    # CPU-time clocks cannot be waited on (wasmtime: INVAL)


def _fd_sub(ctx, userdata: int, kind: Eventtype, body: bytes, layout: SubscriptionLayout = PREVIEW1) -> _Sub:
    desc = ctx.fds.get(layout.fd.unpack(body)[0])
    wants_read = kind == Eventtype.FD_READ
    if isinstance(desc, File) or (isinstance(desc, Stream) and desc.readable == wants_read):
        return _Sub(userdata, kind, desc=desc)
    raise WasiError(Errno.BADF)


def _read_subscriptions(ctx, mem, ptr: int, count: int, layout: SubscriptionLayout = PREVIEW1) -> list[_Sub]:
    subs = []
    size = layout.subscription.size
    for i in range(count):
        userdata, tag, body = mem.unpack(layout.subscription, ptr + i * size)
        if tag == Eventtype.CLOCK:
            subs.append(_Sub(userdata, Eventtype.CLOCK, deadline=_clock_deadline(ctx, body, layout)))
        elif tag in (Eventtype.FD_READ, Eventtype.FD_WRITE):
            subs.append(_fd_sub(ctx, userdata, Eventtype(tag), body, layout))
        else:
            raise WasiError(Errno.INVAL)
    return subs


def _ready_streams(subs: list[_Sub], timeout: float | None) -> set[int]:
    """ids of the stream subscriptions that are ready within ``timeout`` seconds."""
    reads = [s.desc.host_fd for s in subs if s.type == Eventtype.FD_READ]
    writes = [s.desc.host_fd for s in subs if s.type == Eventtype.FD_WRITE]
    if not reads and not writes:
        if timeout:
            time.sleep(timeout)
        return set()
    readable, writable, _ = select.select(reads, writes, [], timeout)
    return {id(s) for s in subs
            if s.desc.host_fd in (readable if s.type == Eventtype.FD_READ else writable)}


def _fd_event(sub: _Sub) -> tuple[int, int]:
    """(nbytes, flags) for a ready fd subscription."""
    if isinstance(sub.desc, File) and sub.type == Eventtype.FD_READ:
        available = max(0, os.fstat(sub.desc.host_fd).st_size - os.lseek(sub.desc.host_fd, 0, os.SEEK_CUR))
        return available, 0 if available else Eventrwflags.FD_READWRITE_HANGUP
    return 1, 0   # a stream's amount is unknown without reading: at least one byte


@wasi_function
def poll_oneoff(ctx, in_: Ptr, out: Ptr, nsubscriptions: I32, nevents: Ptr) -> Errno:
    poll(ctx, in_, out, nsubscriptions, nevents, PREVIEW1)


def poll(ctx, in_: int, out: int, nsubscriptions: int, nevents: int, layout: SubscriptionLayout) -> None:
    if nsubscriptions == 0:
        raise WasiError(Errno.INVAL)   # waiting for nothing forever is not allowed
    mem = ctx.mem()
    mem.check(out, nsubscriptions * EVENT.size)
    mem.check(nevents, 4)
    subs = _read_subscriptions(ctx, mem, in_, nsubscriptions, layout)

    streams = [s for s in subs if isinstance(s.desc, Stream)]
    ready = {id(s) for s in subs if isinstance(s.desc, File)}      # files never block
    ready |= _ready_streams(streams, 0) if streams else set()
    deadlines = [s.deadline for s in subs if s.deadline is not None]
    while not ready:
        now = ctx.monotonic_ns()
        if deadlines and min(deadlines) <= now:
            break
        wait = min((min(deadlines) - now) / 1e9, _MAX_WAIT_S) if deadlines else None
        ready = _ready_streams(streams, wait)

    now = ctx.monotonic_ns()
    count = 0
    for sub in subs:
        if sub.deadline is not None:
            if sub.deadline <= now:
                mem.pack(EVENT, out + count * EVENT.size, sub.userdata, 0, sub.type, 0, 0)
                count += 1
        elif id(sub) in ready:
            nbytes, flags = _fd_event(sub)
            mem.pack(EVENT, out + count * EVENT.size, sub.userdata, 0, sub.type, nbytes, flags)
            count += 1
    mem.write_u32(nevents, count)
