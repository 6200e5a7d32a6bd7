"""Accesses an earlier access has already proved in bounds (guard-page memories).

A linear memory never shrinks and never moves, so once an access to ``a + offset .. a +
end`` has succeeded, every later access from the same address ``a`` that ends at or
below ``end`` is in bounds too (addresses are ``zext(a) + offset``: nothing wraps), at
every point the first access dominates.  ``runner/translate/memory.py`` emits such an
access, which cannot trap, as a plain load or store (see its "rule" comment).

"The same address" is the same SSA value, or two ``local.get``s of one local with no
``local.set``/``local.tee`` of it between them and no loop header between them (a loop's
body may assign the local after the header, so each loop starts a new epoch).  Facts are
scoped like dominance in structured code: a block, loop, if or try_table keeps what was
known at its start and forgets, at its ``else`` and ``end``, what its body learned (an
undo log, so a snapshot costs nothing).
"""
from __future__ import annotations


class KnownBounds:
    """Per function: for (memory, address key), the largest end offset proved in bounds."""

    def __init__(self) -> None:
        self._facts: dict[tuple, int] = {}
        self._log: list[tuple[tuple, int | None]] = []   # (key, previous end or None), to undo
        self._origin: dict[str, tuple[int, int, int]] = {}   # local.get result -> (local, generation, epoch)
        self._generation: dict[int, int] = {}
        self._epoch = 0

    def _key(self, mem: int, addr: str) -> tuple:
        return mem, self._origin.get(addr, addr)

    # --- what the translator tells it ---------------------------------------------------
    def local_read(self, name: str, local: int) -> None:
        """``name`` holds local ``local``'s current value."""
        self._origin[name] = (local, self._generation.get(local, 0), self._epoch)

    def local_written(self, local: int) -> None:
        self._generation[local] = self._generation.get(local, 0) + 1

    def loop_header(self) -> None:
        """A loop starts: a local read in its body may hold a later iteration's value."""
        self._epoch += 1

    def snapshot(self) -> int:
        return len(self._log)

    def restore(self, mark: int) -> None:
        """Forget everything learned since ``snapshot()`` returned ``mark``."""
        while len(self._log) > mark:
            key, old = self._log.pop()
            if old is None:
                del self._facts[key]
            else:
                self._facts[key] = old

    # --- what memory.py asks -----------------------------------------------------------
    def covers(self, mem: int, addr: str, end: int) -> bool:
        """Whether an access from ``addr`` ending at ``end`` (offset + width) is known in bounds."""
        return self._facts.get(self._key(mem, addr), -1) >= end

    def learn(self, mem: int, addr: str, end: int) -> None:
        """An access from ``addr`` ending at ``end`` is about to happen: past it, it succeeded."""
        key = self._key(mem, addr)
        old = self._facts.get(key)
        if old is None or old < end:
            self._log.append((key, old))
            self._facts[key] = end
