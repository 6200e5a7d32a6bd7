"""What the wasm calls of one Engine share: fuel, the interrupt flag, the stack budget.

Each instance's GOT points ``wr.fuel`` and ``wr.interrupt`` at its engine's
``LimitsRecord`` (layout.py), so a second engine never resets the first one's
settings.  Per-thread state (the trap's jump buffer, the stack limit) is not here:
it is the runtime's (layout.ThreadState).
"""
from __future__ import annotations

import ctypes
import threading

from ..errors import TrapKind
from ..layout import FUEL_SYMBOL, INTERRUPT_SYMBOL, LimitsRecord
from .native import DEFAULT_STACK_BUDGET, NativeRuntime

_INTERRUPT = int(TrapKind.INTERRUPT)


class ExecContext:
    """An engine's limits.  ``interrupt()`` stops every call of the engine running when it
    comes (at its next loop header or function entry, with code compiled interruptible),
    or, when none is running, the next one; once the calls it stopped have returned, the
    flag is clear again, so the call after them runs normally."""

    def __init__(self, max_wasm_stack: int = DEFAULT_STACK_BUDGET, fuel: int | None = None):
        self.record = LimitsRecord(fuel or 0, 0)
        base = ctypes.addressof(self.record)
        self.symbols = {FUEL_SYMBOL: base + LimitsRecord.fuel.offset,
                        INTERRUPT_SYMBOL: base + LimitsRecord.interrupt.offset}
        self.stack_budget = max_wasm_stack
        self._runtime = NativeRuntime.get()
        self._lock = threading.Lock()
        self._running = 0            # calls in progress, nested ones included, on any thread
        self._interrupted = False    # one of them ended with the interrupt trap

    @property
    def fuel(self) -> int:
        return self.record.fuel

    @fuel.setter
    def fuel(self, value: int) -> None:
        self.record.fuel = value

    def interrupt(self) -> None:
        """Safe from any thread (and from a signal handler: one aligned store)."""
        self.record.interrupt = 1

    def call(self, fn_address: int, slots_address: int) -> int:
        """Run an entry wrapper on the calling thread: 0 or the trap code."""
        with self._lock:
            self._running += 1
        code = self._runtime.call(fn_address, slots_address, self.stack_budget)
        with self._lock:
            self._running -= 1
            if code == _INTERRUPT:
                self._interrupted = True
            if self._running == 0 and self._interrupted:
                self.record.interrupt = 0
                self._interrupted = False
        return code
