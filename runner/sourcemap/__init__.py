"""Native code -> wasm -> source: the one place that maps a JIT address back to the program.

Two steps, each from its own data:

1. native pc -> (wasm function, wasm byte offset): a code unit's rows, ``(native offset in
   the function, wasm offset)`` sorted, read from the object's line table when it was compiled
   (``objrows``: the translator writes the wasm offset as the DWARF line);
   ``wasm_offset_at``.
2. wasm offset -> (file, line, column) and the calls inlined there: the module's own DWARF
   custom sections (``lines.WasmLineMap``, ``inline.InlineMap``), read once per module on
   first use; ``ModuleSourceMap``.

The trap backtrace (runtime/instance.py ``frame_for``), the jitdump/perfmap line tables
(``ModuleSourceMap.line_rows``), the guest profiler (``frames``) and the flame-graph
expander after perf (profiling/wasmmap.py) all go through here.  Importing this package is
cheap: pyelftools is loaded only when a module's DWARF is first read.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence


def wasm_offset_at(rows: Sequence[tuple[int, int]], native_offset: int) -> int | None:
    """The wasm offset of the row holding ``native_offset`` (before the first row: the
    first row's, the function's prologue); None without rows."""
    if not rows:
        return None
    i = bisect.bisect_right(rows, (native_offset, 1 << 62)) - 1
    return rows[i][1] if i >= 0 else rows[0][1]


@dataclass(frozen=True)
class SourceFrame:
    """A function in a native frame's wasm stack: the function itself, then what was inlined
    into it, outermost first; ``file``/``line`` say where in it the next one was called (the
    last one's: where the pc is), None when the DWARF does not say."""
    name: str
    file: str | None
    line: int | None


class ModuleSourceMap:
    """One module's wasm offset -> source mapping (offsets are module byte offsets, as in
    traps and code unit rows).  A module without DWARF, or with DWARF that cannot be read,
    maps nothing: that never stops a run."""

    def __init__(self, module, *, cache: bool = True):
        self.module = module
        self._cache = cache            # Config.cache: the decoded line tables are cached on disk too
        self._lines = None
        self._lines_loaded = False
        self._inline = None

    def lines(self):
        """The module's ``WasmLineMap``, or None."""
        if not self._lines_loaded:
            self._lines_loaded = True
            try:
                from .lines import WasmLineMap
                self._lines = WasmLineMap.from_module(self.module, cache=self._cache)
            except Exception:  # noqa: BLE001 - broken DWARF must never stop a run
                self._lines = None
        return self._lines

    def location(self, wasm_offset: int):
        """The ``SourceLoc`` of the code at ``wasm_offset``, or None."""
        lines = self.lines()
        return lines.lookup(wasm_offset - self.module.code_section_start) if lines is not None else None

    def location_text(self, wasm_offset: int) -> str | None:
        """``file:line:column`` for a trap's frame, or None."""
        loc = self.location(wasm_offset)
        return f"{loc.file}:{loc.line}:{loc.column}" if loc else None

    def inlined(self, wasm_offset: int) -> list:
        """The ``InlinedCall``s whose ranges hold ``wasm_offset``, outermost first."""
        lines = self.lines()
        if lines is None:
            return []
        if self._inline is None:
            from .inline import InlineMap
            self._inline = InlineMap(lines)
        return self._inline.chain(wasm_offset - self.module.code_section_start)

    def frames(self, name: str, wasm_offset: int) -> list[SourceFrame] | None:
        """Function ``name`` at ``wasm_offset`` and what was inlined there; None without DWARF."""
        if self.lines() is None:
            return None
        loc = self.location(wasm_offset)
        chain = self.inlined(wasm_offset)
        names = [name] + [c.name for c in chain]
        sites = [(c.call_file, c.call_line) for c in chain] + [(loc.file, loc.line) if loc else (None, None)]
        return [SourceFrame(n, f, ln) for n, (f, ln) in zip(names, sites)]

    def line_rows(self, rows: Sequence[tuple[int, int]], start: int, fallback_file: str) -> list:
        """Native address -> source ``LineRow``s of one function's code at ``start`` (jitdump
        DEBUG_INFO, perf srcline).  Without DWARF a row names ``fallback_file`` and its wasm
        offset as the line; rows DWARF does not cover are left out."""
        from ..profiling.base import LineRow
        lines = self.lines()
        out = []
        for off, wasm_off in rows:
            loc = lines.lookup(wasm_off - self.module.code_section_start) if lines is not None else None
            if loc is not None:
                out.append(LineRow(start + off, loc.file, loc.line, loc.column))
            elif lines is None:
                out.append(LineRow(start + off, fallback_file, wasm_off, 0))
        return out
