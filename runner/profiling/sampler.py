"""The guest profiler's sampling clock: a timer whose SIGPROF runs ``wr_prof``.

``Sampler.start()`` points the runtime at a fresh sample buffer, installs ``wr_prof``
(runtime IR, runner/runtime/native.py) as the SIGPROF handler and arms a timer that signals
the calling thread only (``SIGEV_THREAD_ID``): the thread that runs wasm, never the tier-up
or compile threads.  ``clock="cpu"`` counts that thread's CPU time, but Linux checks CPU-time
timers at the scheduler tick only (CONFIG_HZ: 250 Hz on Debian), so a 1 ms interval gives
one sample per 4 ms; ``clock="wall"`` (the default) is a high-resolution timer on
CLOCK_MONOTONIC: for a running guest the same samples at the asked rate, and a guest blocked
in a WASI call is sampled in that call.  ``stop()`` deletes the timer, puts
the previous handler back and returns the raw samples.  No perf, no Python in the handler.
"""
from __future__ import annotations

import ctypes
import mmap
import threading
from dataclasses import dataclass, field

from ..layout import (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, PROF_HEADER_WORDS, SA_RESTART, SA_SIGINFO, SIGEV_THREAD_ID,
                      SIGEVENT_SIZE, SIGPROF, SigAction)

DEFAULT_BUFFER_WORDS = 8 << 20   # 64 MiB of address space, touched only as samples arrive
_active: list["Sampler"] = []    # the runtime has one buffer and one SIGPROF handler: one session at a time


class _Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("interval", _Timespec), ("value", _Timespec)]


@dataclass(frozen=True)
class RawSample:
    """One sample as ``wr_prof`` wrote it (addresses innermost first)."""
    time: float                  # seconds since start, as sample number x interval
    pc: int                      # interrupted pc; 0 inside a host call
    sp_words: tuple[int, int]    # the two words at the interrupted rsp (prologue/epilogue fix-up)
    returns: tuple[int, ...]     # return addresses up the frame-pointer chain
    host_import: int | None      # the import being called when the sample was taken


@dataclass(eq=False)   # sessions are compared by identity (_active)
class Sampler:
    """One profiling session on the current thread."""
    interval: float = 0.001                     # seconds between samples
    clock: str = "wall"                         # "wall" | "cpu" (the thread's CPU time, tick-granular)
    buffer_words: int = DEFAULT_BUFFER_WORDS
    dropped: int = 0                            # samples lost to a full buffer
    _timer: ctypes.c_void_p | None = None
    _old: SigAction | None = None
    _buf: mmap.mmap | None = None
    _words: object = None
    _tid: int = 0
    samples: list[RawSample] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        if _active:
            raise RuntimeError("a guest profile is already being recorded in this process")
        from ..runtime.native import NativeRuntime
        rt = NativeRuntime.get()
        libc = ctypes.CDLL(None, use_errno=True)
        self._buf = mmap.mmap(-1, self.buffer_words * 8)
        self._words = (ctypes.c_uint64 * self.buffer_words).from_buffer(self._buf)
        sym = rt.symbols
        ctypes.c_uint64.from_address(sym["wr_prof_len"]).value = 0
        ctypes.c_uint64.from_address(sym["wr_prof_dropped"]).value = 0
        ctypes.c_uint64.from_address(sym["wr_prof_cap"]).value = self.buffer_words
        ctypes.c_void_p.from_address(sym["wr_prof_buf"]).value = ctypes.addressof(self._words)

        new, old = SigAction(), SigAction()
        new.handler = sym["wr_prof"]
        new.flags = SA_SIGINFO | SA_RESTART   # a sample must not make a WASI syscall fail with EINTR
        if libc.sigaction(SIGPROF, ctypes.byref(new), ctypes.byref(old)) != 0:
            raise OSError(ctypes.get_errno(), "sigaction(SIGPROF) failed")
        self._old = old
        _active.append(self)

        event = (ctypes.c_byte * SIGEVENT_SIZE)()
        ctypes.c_int.from_buffer(event, 8).value = SIGPROF            # sigev_signo
        ctypes.c_int.from_buffer(event, 12).value = SIGEV_THREAD_ID   # sigev_notify
        self._tid = threading.get_native_id()
        ctypes.c_int.from_buffer(event, 16).value = self._tid         # sigev_notify_thread_id
        timer = ctypes.c_void_p()
        clock_id = CLOCK_THREAD_CPUTIME_ID if self.clock == "cpu" else CLOCK_MONOTONIC
        if libc.timer_create(clock_id, event, ctypes.byref(timer)) != 0:
            err = ctypes.get_errno()
            self._restore(libc)
            raise OSError(err, "timer_create failed")
        self._timer = timer
        sec, nsec = divmod(max(int(self.interval * 1e9), 10_000), 1_000_000_000)
        spec = _Itimerspec(_Timespec(sec, nsec), _Timespec(sec, nsec))
        if libc.timer_settime(timer, 0, ctypes.byref(spec), None) != 0:
            err = ctypes.get_errno()
            self.stop()
            raise OSError(err, "timer_settime failed")

    def stop(self) -> list[RawSample]:
        """Stop the timer, restore the previous SIGPROF handler, decode the buffer; idempotent."""
        if self._timer is None:
            return self.samples
        from ..runtime.native import NativeRuntime
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timer_delete(self._timer)   # also discards a signal of this timer still pending
        self._timer = None
        self._restore(libc)
        sym = NativeRuntime.get().symbols
        ctypes.c_void_p.from_address(sym["wr_prof_buf"]).value = None   # the handler records nothing now
        used = ctypes.c_uint64.from_address(sym["wr_prof_len"]).value
        self.dropped = ctypes.c_uint64.from_address(sym["wr_prof_dropped"]).value
        self.samples = self._decode(list(self._words[:used]))
        del self._words
        self._words = None
        self._buf.close()
        self._buf = None
        return self.samples

    def _restore(self, libc) -> None:
        if self._old is not None:
            libc.sigaction(SIGPROF, ctypes.byref(self._old), None)
            self._old = None
        if self in _active:
            _active.remove(self)

    def _decode(self, words: list[int]) -> list[RawSample]:
        out, i, k = [], 0, 0
        while i + PROF_HEADER_WORDS <= len(words):
            header = words[i]
            n, host = header & 0xFFFFFFFF, header >> 32
            rets = tuple(words[i + PROF_HEADER_WORDS:i + PROF_HEADER_WORDS + n])
            out.append(RawSample(k * self.interval, words[i + 1], (words[i + 2], words[i + 3]), rets,
                                 host - 1 if host else None))
            i += PROF_HEADER_WORDS + n
            k += 1
        return out


def previous_sigprof_handler() -> int:
    """The SIGPROF handler installed right now (tests check it is restored)."""
    libc = ctypes.CDLL(None, use_errno=True)
    cur = SigAction()
    libc.sigaction(SIGPROF, None, ctypes.byref(cur))
    return cur.handler or 0
