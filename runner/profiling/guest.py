"""The guest profiler (``--profile=guest[,PATH[,INTERVAL]]``): sample wasm stacks, write a profile.

``GuestProfiler`` runs a ``Sampler`` (sampler.py) while the program runs, then turns the
raw addresses into frames through the code ranges every mapped copy of every function is
registered under (runner/runtime/coderanges.py), and writes PATH by its
extension: ``.json`` the Firefox Profiler's processed format (fxprof.py), ``.svg`` a
flame graph (flamegraph.py), ``.folded`` collapsed stacks (``root;...;leaf count``).
"""
from __future__ import annotations

import bisect
import ctypes
import os
from collections import Counter
from dataclasses import dataclass, field

from .sampler import RawSample, Sampler

DEFAULT_PATH = "wasirun-guest-profile.json"
FORMATS = (".json", ".svg", ".folded")
RUNTIME_FRAME = "wasirun::runtime"   # the leaf of a sample taken outside JIT code and host calls
_RET = 0xC3                          # x86 `ret`: rbp is already the caller's again


@dataclass(frozen=True)
class GuestFrame:
    """One frame of a symbolised stack."""
    name: str                       # "fib::fib", "wasi:fd_write"
    file: str | None = None         # source file (with -g and DWARF)
    line: int | None = None
    kind: str = "wasm"              # "wasm" | "inlined" | "host" | "runtime"

    @property
    def label(self) -> str:
        """``fib::fib fib.rs:10`` with a line, else the name."""
        if self.line:
            return f"{self.name} {os.path.basename(self.file or '?')}:{self.line}"
        return self.name


@dataclass(frozen=True)
class ProfileSpec:
    """What ``--profile=guest,PATH,INTERVAL`` asks for."""
    path: str = DEFAULT_PATH
    interval: float = 0.001          # seconds
    clock: str = "wall"              # "wall" | "cpu" (sampler.py)

    @classmethod
    def parse(cls, text: str) -> "ProfileSpec":
        """``guest[,PATH[,INTERVAL]]``; INTERVAL as ``1ms``, ``500us``, ``0.002s`` or milliseconds."""
        parts = text.split(",")
        if parts[0] != "guest":
            raise ValueError(f"not a guest profile: {text!r}")
        path = parts[1] if len(parts) > 1 and parts[1] else DEFAULT_PATH
        interval = _duration(parts[2]) if len(parts) > 2 and parts[2] else 0.001
        if len(parts) > 3:
            raise ValueError("--profile=guest takes at most PATH and INTERVAL")
        if not path.endswith(FORMATS):
            raise ValueError(f"guest profile {path!r}: the name must end in {', '.join(FORMATS)}")
        if interval <= 0:
            raise ValueError("the sampling interval must be positive")
        return cls(path, interval)


def _duration(text: str) -> float:
    for unit, scale in (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    return float(text) * 1e-3


@dataclass
class GuestProfiler:
    """One profiled run: ``start()`` before wasm runs, ``finish()`` after, on the same thread."""
    spec: ProfileSpec = field(default_factory=ProfileSpec)
    sampler: Sampler | None = None
    stacks: list[list[GuestFrame]] = field(default_factory=list)   # root first, one per sample
    written: str | None = None

    def start(self) -> None:
        self.sampler = Sampler(self.spec.interval, self.spec.clock)
        self.sampler.start()

    def stop(self) -> None:
        """Stop sampling (the timer is gone and the old SIGPROF handler back); idempotent."""
        if self.sampler is not None and self.sampler.running:
            self.sampler.stop()

    def finish(self) -> str | None:
        """Stop, symbolise and write the profile; returns its path (None when never started)."""
        if self.sampler is None:
            return None
        self.stop()
        if self.sampler.dropped and self.written is None:
            import sys
            sys.stderr.write(f"wasirun: guest profile: {self.sampler.dropped} samples lost to a full buffer "
                             f"(a longer INTERVAL keeps them)\n")
        if self.written is None:
            self.stacks = Symbolizer().stacks(self.sampler.samples)
            write_profile(self.spec.path, self.stacks, self.spec.interval)
            self.written = self.spec.path
        return self.written


class Symbolizer:
    """Addresses -> frames, through the live code ranges of every instance."""

    def __init__(self):
        from ..runtime import coderanges
        self._ranges = coderanges.snapshot()
        self._starts = [r[0] for r in self._ranges]
        self._cache: dict[tuple[int, bool], list[GuestFrame] | None] = {}

    def stacks(self, samples: list[RawSample]) -> list[list[GuestFrame]]:
        return [self.stack(s) for s in samples]

    def stack(self, s: RawSample) -> list[GuestFrame]:
        """Root first; the leaf is the sampled function, a host call or the runtime."""
        addrs: list[tuple[int, bool]] = []          # (address, exact pc?) innermost first
        if s.pc:
            addrs.append((s.pc, True))
            hit = self._range(s.pc)
            if hit is not None:
                # In a prologue (before `mov rsp, rbp`) or at `ret`, rbp is the caller's: its
                # return address is on the stack, not in the chain.
                offset = s.pc - hit[0]
                if offset == 0 or self._code_byte(s.pc) == _RET or self._at_tail_jump(s, hit):
                    addrs.append((s.sp_words[0], False))
                elif offset == 1:
                    addrs.append((s.sp_words[1], False))
        addrs.extend((r, False) for r in s.returns)
        frames: list[GuestFrame] = []
        module = None
        for addr, exact in addrs:
            hit = self._range(addr if exact else addr - 1)
            if hit is None:
                continue
            if module is None:
                module = hit
            frames.extend(reversed(self._frames(hit, addr, exact)))
        frames.reverse()
        if s.host_import is not None:
            frames.append(self._host_frame(module, s.host_import))
        elif s.pc and self._range(s.pc) is None:
            frames.append(GuestFrame(RUNTIME_FRAME, kind="runtime"))
        return frames

    def _range(self, pc: int):
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0:
            r = self._ranges[i]
            if r[0] <= pc < r[1] and r[3]() is not None:
                return r
        return None

    def _at_tail_jump(self, s: RawSample, hit) -> bool:
        """At a tail call's `jmp`, after the epilogue: rbp is the caller's, as at `ret`.

        A `jmp` out of the function (direct), or an indirect `jmp` (a tail call or a br_table's
        jump table), counts only when the word at rsp is a return address into JIT code: inside
        a function body that slot is a spill, never a return site."""
        code = ctypes.string_at(s.pc, min(6, hit[1] - s.pc)).ljust(6, b"\0")   # never past the code
        i = 1 if 0x40 <= code[0] <= 0x4F else 0        # REX prefix
        op = code[i]
        if op == 0xE9:
            target = s.pc + i + 5 + int.from_bytes(code[i + 1:i + 5], "little", signed=True)
        elif op == 0xEB:
            target = s.pc + i + 2 + int.from_bytes(code[i + 1:i + 2], "little", signed=True)
        elif op == 0xFF and (code[i + 1] >> 3) & 7 == 4:
            target = None
        else:
            return False
        if target is not None and hit[0] <= target < hit[1]:
            return False                                 # a branch inside the function
        back = self._range(s.sp_words[0] - 1)
        return back is not None and s.sp_words[0] > back[0]

    @staticmethod
    def _code_byte(pc: int) -> int:
        return ctypes.string_at(pc, 1)[0]   # the range's instance is alive: its code is mapped

    def _frames(self, hit, addr: int, exact: bool) -> list[GuestFrame]:
        """One native frame as wasm frames: the function, then what was inlined into it, innermost last."""
        key = (addr, exact)
        got = self._cache.get(key)
        if got is not None:
            return got
        start, _, _, inst_ref, func, unit = hit
        compiled = inst_ref().compiled
        name = compiled.display_name(func)
        out = [GuestFrame(name)]
        if compiled._debug_info:
            wasm_off = unit.wasm_offset_at(func, (addr if exact else addr - 1) - start)
            frames = compiled.source_map.frames(name, wasm_off) if wasm_off is not None else None
            if frames is not None:
                out = [GuestFrame(f.name, f.file, f.line, "wasm" if k == 0 else "inlined")
                       for k, f in enumerate(frames)]
        self._cache[key] = out
        return out

    @staticmethod
    def _host_frame(hit, index: int) -> GuestFrame:
        name = f"host[{index}]"
        inst = hit[3]() if hit is not None else None
        if inst is not None:
            funcs = [imp for imp in inst.compiled.module.imports if imp.kind == 0]
            if 0 <= index < len(funcs):
                imp = funcs[index]
                module = "wasi" if imp.module.startswith("wasi_") else imp.module
                name = f"{module}:{imp.name}"
        return GuestFrame(name, kind="host")


def fold(stacks: list[list[GuestFrame]]) -> Counter[str]:
    """``root;...;leaf`` -> samples (";" inside a name becomes ":")."""
    out: Counter[str] = Counter()
    for st in stacks:
        if st:
            out[";".join(f.label.replace(";", ":") for f in st)] += 1
    return out


def write_profile(path: str, stacks: list[list[GuestFrame]], interval: float) -> None:
    if path.endswith(".folded"):
        text = "".join(f"{k} {v}\n" for k, v in fold(stacks).most_common())
    elif path.endswith(".svg"):
        from .flamegraph import render_svg
        text = render_svg(fold(stacks), title="wasirun guest profile")
    else:
        import json
        from .fxprof import processed_profile
        text = json.dumps(processed_profile(stacks, interval), separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
