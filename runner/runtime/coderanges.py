"""Every mapped copy of every wasm function, by native address: for trap backtraces and the
guest profiler (runner/profiling/guest.py).

A range is ``CodeRange(start, end, serial, instance_ref, func_index, unit)``; the list stays
sorted by start.  ``lock`` also serialises the profiling agents' records (runtime/instance.py).
"""
from __future__ import annotations

import bisect
import itertools
import threading
import weakref
from typing import Any, NamedTuple

lock = threading.Lock()
_ranges: list["CodeRange"] = []
_serial = itertools.count()


class CodeRange(NamedTuple):
    start: int
    end: int
    serial: int                    # ties between equal starts never compare the instances
    instance: "weakref.ref"        # the Instance the code is linked into
    func_index: int
    unit: Any                      # the code unit (its wasm offset rows)


def make_range(start: int, size: int, instance, func_index: int, unit) -> CodeRange:
    return CodeRange(start, start + max(size, 1), next(_serial), weakref.ref(instance), func_index, unit)


def add(ranges: list[CodeRange]) -> None:
    """Record newly mapped code."""
    with lock:
        # Forget the code of instances that are gone: this unit may be mapped where theirs
        # was, and a lookup that found their stale range would miss this one (a lazily
        # compiled unit comes long after the instance's first).
        _ranges[:] = [r for r in _ranges if r.instance() is not None]
        if len(ranges) > 64:
            _ranges[:] = sorted(_ranges + ranges)
        else:
            for r in ranges:
                bisect.insort(_ranges, r)


def snapshot() -> list[CodeRange]:
    """The ranges now, sorted by start (a copy: look-ups need no lock)."""
    with lock:
        return list(_ranges)


def frames_at(pcs: list[int]) -> list:
    """The ``errors.Frame`` of each return address (pc - 1) that lies in live wasm code."""
    ranges = snapshot()
    starts = [r.start for r in ranges]
    frames = []
    for pc in pcs:
        i = bisect.bisect_right(starts, pc - 1) - 1
        if i >= 0:
            r = ranges[i]
            inst = r.instance()
            if r.start <= pc - 1 < r.end and inst is not None:
                frames.append(inst.frame_for(r.func_index, r.unit, pc - 1 - r.start))
    return frames
