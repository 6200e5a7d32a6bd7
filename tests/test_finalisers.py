"""Finalisers that run inside the runtime's range writers (a garbage collection can start at any
allocation, also while a thread holds the writers' lock) must not deadlock or edit a table
mid-edit: their cleanup waits until the writer is done."""
from __future__ import annotations

import gc
import threading

from runner.runtime.native import NativeRuntime


class _Collected:
    """Calls ``cleanup`` from its finaliser, through the runtime, as Instance and Memory do."""

    def __init__(self, cleanup):
        self.cleanup = cleanup

    def __del__(self):
        NativeRuntime.get().when_unlocked(self.cleanup)


def test_finaliser_inside_a_range_writer_runs_after_it():
    rt = NativeRuntime.get()
    order: list[str] = []
    done = threading.Event()

    def writer():
        with rt._ranges_lock:
            # what a collection in the middle of add_tail_instance did: a finaliser that
            # removes a range (and so takes the lock) on the thread that holds it
            obj = _Collected(lambda: (rt.remove_tail_instance(0x1234), order.append("cleanup")))
            del obj
            gc.collect()
            order.append("writer")
        done.set()

    t = threading.Thread(target=writer, daemon=True)   # a regression must fail, not hang the suite
    t.start()
    t.join(timeout=20)
    assert done.is_set(), "the finaliser deadlocked on the runtime's lock"
    assert order == ["writer", "cleanup"]


def test_finaliser_outside_a_writer_runs_at_once():
    rt = NativeRuntime.get()
    ran: list[int] = []
    obj = _Collected(lambda: ran.append(1))
    del obj
    gc.collect()
    assert ran == [1]
    assert rt is NativeRuntime.get()
