"""The embedding API: the Python equivalent of wasmtime's Config / Engine / Module / Instance.

    engine = Engine(Config(profiler="jitdump", debug_info=True))
    compiled = engine.compile(open("fib.wasm", "rb").read(), name="fib.wasm")
    instance = engine.instantiate(compiled, {("env", "f"): host_function(...)})
    instance.exports["main"]()
"""
from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import jit, objfile
from .binary.decode import decode
from .binary.module import Module
from .names import display_name
from .profiling.base import LineRow, NullAgent
from .runtime.instance import Instance
from .runtime.native import NativeRuntime

PROFILERS = (None, "jitdump", "perfmap")


@dataclass
class Config:
    """Engine settings (wasmtime's ``Config::profiler`` / ``Config::debug_info`` and friends)."""

    opt_level: int = 2            # 0 no IR passes, 1 light pipeline (fast compile), 2 LLVM -O2, 3 LLVM -O3
    profiler: str | None = None   # None | "jitdump" | "perfmap"
    debug_info: bool = False      # line tables for JIT code (perf srcline/annotate, trap locations)
    cache: bool = True            # reuse compiled objects from ~/.cache/wasirun
    inline: bool = False          # let LLVM inline wasm functions into each other (hides them in profiles)
    max_memory: int | None = None  # bytes a linear memory may grow to
    max_wasm_stack: int = 4 << 20  # native stack bytes wasm code may use before "call stack exhausted"
    jobs: int = 0                 # compile threads (0 = one per CPU)
    fuel: int | None = None       # instructions wasm may execute before trapping (None = unmetered)
    interruptible: bool = False   # compile in checks so Engine.interrupt() (a timeout) stops wasm code

    def __post_init__(self):
        if self.profiler not in PROFILERS:
            raise ValueError(f"unknown profiler {self.profiler!r}: use jitdump or perfmap")
        if not 0 <= self.opt_level <= 3:
            raise ValueError("opt_level must be 0..3")


@dataclass
class CompileStats:
    decode: float = 0.0
    validate: float = 0.0
    translate: float = 0.0
    llvm: float = 0.0
    cached: bool = False


class CompiledModule:
    """A decoded, validated module and its native object."""

    def __init__(self, module: Module, objs: list[bytes], name: str, debug_info: bool, stats: CompileStats):
        self.module = module
        self.objs = objs
        self.name = name
        self.stats = stats
        self.symbols = objfile.function_symbols(objs)
        m = module
        self.entry_points = sorted({e.index for e in m.exports if e.kind == 0}
                                   | ({m.start} if m.start is not None else set()))
        self._names: dict[int, str] = {}
        self._rows: list[list[tuple[int, int, int]]] | None = None
        self._rows_by_func: dict[int, list[tuple[int, int]]] = {}
        self._debug_info = debug_info
        self._dwarf = None
        self._dwarf_loaded = False

    def display_name(self, func_index: int) -> str:
        n = self._names.get(func_index)
        if n is None:
            n = self._names[func_index] = display_name(func_index, self.module.function_names.get(func_index))
        return n

    # --- native offset -> wasm offset -> source ---------------------------------------------
    def _func_rows(self, func_index: int) -> list[tuple[int, int]]:
        """(offset within the function's code, wasm byte offset) rows, from the object's line table."""
        rows = self._rows_by_func.get(func_index)
        if rows is None:
            if self._rows is None:
                self._rows = [objfile.line_rows(o) if self._debug_info else [] for o in self.objs]
            sym = self.symbols.get(func_index)
            rows = []
            if sym is not None and self._rows[sym.obj]:
                table = self._rows[sym.obj]
                lo = bisect.bisect_left(table, (sym.section, sym.offset, -1))
                hi = bisect.bisect_left(table, (sym.section, sym.offset + sym.size, -1))
                rows = [(a - sym.offset, line) for _, a, line in table[lo:hi] if line]
            self._rows_by_func[func_index] = rows
        return rows

    def wasm_offset_at(self, func_index: int, native_offset: int) -> int | None:
        rows = self._func_rows(func_index)
        if not rows:
            return None
        i = bisect.bisect_right(rows, (native_offset, 1 << 62)) - 1
        return rows[i][1] if i >= 0 else rows[0][1]

    def dwarf(self):
        if not self._dwarf_loaded:
            self._dwarf_loaded = True
            try:
                from .dwarf import WasmLineMap
                self._dwarf = WasmLineMap.from_module(self.module)
            except Exception:  # noqa: BLE001 - broken DWARF must never stop a run
                self._dwarf = None
        return self._dwarf

    def source_location(self, wasm_offset: int) -> str | None:
        d = self.dwarf()
        if d is None:
            return None
        loc = d.lookup(wasm_offset - self.module.code_section_start)
        return f"{loc.file}:{loc.line}:{loc.column}" if loc else None

    def line_rows_for(self, func_index: int, start: int) -> list[LineRow]:
        """Native address -> source line rows for jitdump DEBUG_INFO records (with -g only)."""
        if not self._debug_info:
            return []
        rows = self._func_rows(func_index)
        d = self.dwarf()
        out = []
        for off, wasm_off in rows:
            loc = d.lookup(wasm_off - self.module.code_section_start) if d is not None else None
            if loc is not None:
                out.append(LineRow(start + off, loc.file, loc.line, loc.column))
            elif d is None:
                out.append(LineRow(start + off, self.name, wasm_off, 0))
        return out


class Engine:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        if self.config.profiler is None:
            self.agent = NullAgent()
        else:
            from .profiling import make_agent
            self.agent = make_agent(self.config.profiler)
        self.cache = jit.ObjectCache() if self.config.cache else None
        rt = NativeRuntime.get()
        rt.stack_budget.value = self.config.max_wasm_stack
        rt.interrupt.value = 0
        if self.config.fuel is not None:
            rt.fuel.value = self.config.fuel

    def _options_key(self) -> str:
        c = self.config
        return (f"O{c.opt_level}|g{int(c.debug_info)}|inline{int(c.inline)}|int{int(c.interruptible)}"
                f"|fuel{int(c.fuel is not None)}")

    def compile(self, wasm: bytes, name: str = "module.wasm") -> CompiledModule:
        stats = CompileStats()
        t0 = time.perf_counter()
        module = decode(wasm)
        t1 = time.perf_counter()
        stats.decode = t1 - t0
        key = self.cache.key(module.raw, self._options_key() + "|" + name) if self.cache else None
        objs = self.cache.get(key) if self.cache else None
        if objs is None:
            validate(module)
            t2 = time.perf_counter()
            stats.validate = t2 - t1
            from .translate.module import TranslateOptions, translate_module  # not needed on a cache hit
            ir = translate_module(module, TranslateOptions(
                inline=self.config.inline, debug_info=self.config.debug_info,
                interruptible=self.config.interruptible, fuel=self.config.fuel is not None), name)
            t3 = time.perf_counter()
            stats.translate = t3 - t2
            jobs = self.config.jobs or jit.default_jobs()
            # Small modules are not worth a second thread.
            parts = ir.partitions(jobs if len(module.raw) > 16384 else 1)
            objs = jit.compile_partitions(parts, self.config.opt_level)
            stats.llvm = time.perf_counter() - t3
            if self.cache:
                self.cache.put(key, objs)
        else:
            stats.cached = True
        return CompiledModule(module, objs, name, self.config.debug_info, stats)

    def instantiate(self, compiled: CompiledModule,
                    imports: Mapping[tuple[str, str], Any] | Callable[[str, str], Any] | None = None) -> Instance:
        if imports is None:
            resolve = lambda mod, name: None  # noqa: E731
        elif callable(imports):
            resolve = imports
        else:
            resolve = lambda mod, name: imports.get((mod, name))  # noqa: E731
        return Instance(compiled, resolve, limits=self.config, agent=self.agent)

    def interrupt(self) -> None:
        """Make running wasm code trap with "interrupt" at its next loop header or call
        (needs ``Config.interruptible``). Safe to call from another thread."""
        NativeRuntime.get().interrupt.value = 1

    def fuel_remaining(self) -> int | None:
        return NativeRuntime.get().fuel.value if self.config.fuel is not None else None

    def close(self) -> None:
        self.agent.close()


def validate(module: Module) -> None:
    """Run the validator (runner/validate.py) when present."""
    try:
        from .validate import validate as _validate
    except ImportError:
        return
    _validate(module)
