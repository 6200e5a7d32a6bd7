"""The embedding API: the Python equivalent of wasmtime's Config / Engine / Module / Instance.

    engine = Engine(Config(profiler="jitdump", debug_info=True))
    compiled = engine.compile(open("fib.wasm", "rb").read(), name="fib.wasm")
    instance = engine.instantiate(compiled, {("env", "f"): host_function(...)})
    instance.exports["main"]()
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .binary.decode import decode
from .binary.features import WASM3, Features
from .binary.module import Module
from .names import display_name
from .profiling.base import LineRow, NullAgent
from .runtime.instance import Instance
from .runtime.context import ExecContext
from .sourcemap import ModuleSourceMap

PROFILERS = (None, "jitdump", "perfmap", "guest")
TOP_LEVEL = {0: "base", 1: "O1", 2: "O2", 3: "O3"}


@dataclass
class Config:
    """Engine settings (wasmtime's ``Config::profiler`` / ``Config::debug_info`` and friends)."""

    opt_level: int = 2            # the top tier: 0 no IR passes, 1 light pipeline, 2 LLVM -O2, 3 LLVM -O3
    tiering: bool = True          # start on fast first-tier code, hot functions tier up in the background;
                                  # False: every function at the top tier before anything runs
    profiler: str | None = None   # None | "jitdump" | "perfmap" | "guest" (sampled in-process, no perf)
    guest_profile: str = "wasirun-guest-profile.json"   # profiler="guest": where (.json, .svg, .folded)
    guest_interval: float = 0.001  # profiler="guest": seconds between samples
    guest_clock: str = "wall"      # profiler="guest": "wall" (hrtimer) or "cpu" (the thread's CPU time, tick-granular)
    debug_info: bool = False      # line tables for JIT code (perf srcline/annotate, trap locations)
    cache: bool = True            # reuse compiled code from ~/.cache/wasirun (WASIRUN_CACHE_DIR)
    inline: bool = False          # let LLVM inline wasm functions into each other (hides them in profiles)
    max_memory: int | None = None  # bytes a linear memory may grow to
    max_wasm_stack: int = 4 << 20  # native stack bytes wasm code may use before "call stack exhausted"
                                   # (at most what the calling thread's stack has, less a reserve)
    jobs: int = 0                 # compile worker processes (0 = one per CPU)
    fuel: int | None = None       # instructions wasm may execute before trapping (None = unmetered)
    interruptible: bool = False   # compile in checks so Engine.interrupt() (a timeout) stops wasm code
    progress: bool = False        # a progress line on stderr (a terminal) for compiles over ~2 s
    finish_tierup: bool = True    # a tier-up still compiling when this process exits is finished by its
                                  # worker in the background and cached, so the next run starts on it
                                  # (False, or WASIRUN_FINISH_TIERUP=0: the worker is killed at exit)
    features: Features = WASM3    # the proposals accepted (binary.features.WASM2: the 2.0 language)

    def __post_init__(self):
        if self.profiler not in PROFILERS:
            raise ValueError(f"unknown profiler {self.profiler!r}: use jitdump, perfmap or guest")
        if self.guest_clock not in ("wall", "cpu"):
            raise ValueError(f"unknown guest_clock {self.guest_clock!r}: use wall or cpu")
        if not 0 <= self.opt_level <= 3:
            raise ValueError("opt_level must be 0..3")


@dataclass
class CompileStats:
    """Seconds spent getting a module to native code (``--timings``)."""

    decode: float = 0.0
    validate: float = 0.0
    compile: float = 0.0          # translation and LLVM (overlapping, in worker processes)
    cached: bool = False


class CompiledModule:
    """A decoded, validated module and its native code (runner/tiers.py ModuleCode)."""

    def __init__(self, module: Module, code, name: str, debug_info: bool, stats: CompileStats,
                 cache: bool = True):
        self.module = module
        self.code = code
        self.name = name
        self.stats = stats
        m = module
        self.entry_points = sorted({e.index for e in m.exports if e.kind == 0}
                                   | ({m.start} if m.start is not None else set()))
        self._names: dict[int, str] = {}
        self._debug_info = debug_info
        self.source_path: str | None = None    # the .wasm file, when known (profiling tools read its DWARF)
        self.source_map = ModuleSourceMap(module, cache=cache)

    def display_name(self, func_index: int) -> str:
        n = self._names.get(func_index)
        if n is None:
            n = self._names[func_index] = display_name(func_index, self.module.function_names.get(func_index))
        return n

    # --- wasm offset -> source (runner/sourcemap) ---------------------------------------------
    def dwarf(self):
        """The module's DWARF line map (``sourcemap.lines.WasmLineMap``), or None."""
        return self.source_map.lines()

    def source_location(self, wasm_offset: int) -> str | None:
        return self.source_map.location_text(wasm_offset)

    def line_rows_for(self, unit, func_index: int, start: int) -> list[LineRow]:
        """Native address -> source line rows for jitdump DEBUG_INFO records (with -g only)."""
        if not self._debug_info:
            return []
        return self.source_map.line_rows(unit.rows.get(func_index, ()), start, self.name)


class Engine:
    def __init__(self, config: Config | None = None):
        self.config = config or Config()
        self.guest_profiler = None
        if self.config.profiler == "guest":
            # Samples the thread that makes the engine, while it runs wasm; written by close().
            from .profiling.guest import GuestProfiler, ProfileSpec
            self.agent = NullAgent()
            self.guest_profiler = GuestProfiler(ProfileSpec(self.config.guest_profile, self.config.guest_interval,
                                                                 self.config.guest_clock))
            self.guest_profiler.start()
        elif self.config.profiler is None:
            self.agent = NullAgent()
        else:
            from .profiling import make_agent
            self.agent = make_agent(self.config.profiler)
            if self.config.profiler == "jitdump" and self.config.debug_info:
                # Beside the jitdump: JIT address -> wasm offset, for inlined frames after perf.
                from .profiling.wasmmap import WasmMapWriter, map_path
                self.agent.wasm_map = WasmMapWriter(map_path(self.agent.path))
        if self.config.cache:
            from .codecache import CodeCache
            self.cache = CodeCache()
        else:
            self.cache = None
        # This engine's own fuel, interrupt flag and stack budget: other engines keep theirs.
        self.context = ExecContext(self.config.max_wasm_stack, self.config.fuel)

    def _options_key(self) -> str:
        c = self.config
        return (f"O{c.opt_level}|g{int(c.debug_info)}|inline{int(c.inline)}|int{int(c.interruptible)}"
                f"|fuel{int(c.fuel is not None)}")

    def _plan(self, name: str, tiering: bool):
        from .tiers import CodePlan
        from .translate.options import TranslateOptions
        c = self.config
        return CodePlan(TOP_LEVEL[c.opt_level], tiering and c.opt_level > 0, self._options_key(),
                        TranslateOptions(inline=c.inline, debug_info=c.debug_info,
                                         interruptible=c.interruptible, fuel=c.fuel is not None),
                        name, c.jobs, c.progress, c.finish_tierup)

    def compile(self, wasm: bytes, name: str = "module.wasm", tiering: bool | None = None,
                source_path: str | None = None) -> CompiledModule:
        """Decode and validate ``wasm`` and get its code: from the cache, or compiled now
        (the first tier, or everything at the top tier without tiering).  ``source_path``,
        the file it came from, lets profiling tools read its DWARF later."""
        from .tiers import ModuleCode
        stats = CompileStats()
        t0 = time.perf_counter()
        module = decode(wasm, self.config.features)
        t1 = time.perf_counter()
        stats.decode = t1 - t0
        plan = self._plan(name, self.config.tiering if tiering is None else tiering)
        code = ModuleCode(module, module.raw, plan, self.cache)
        if code.load_cached():
            stats.cached = True
        else:
            from .tiers import unit_cost
            from .workers import LOCAL_SECONDS, cpu_count, estimated_seconds, pool
            level = plan.top_level if not plan.tiering else "base"
            if estimated_seconds(unit_cost(module, list(range(len(module.func_types)))), level) >= LOCAL_SECONDS:
                pool().start(plan.jobs or cpu_count())   # worker processes start while we validate
            self._validate(module, code.key)
            t2 = time.perf_counter()
            stats.validate = t2 - t1
            code.compile()
            stats.compile = time.perf_counter() - t2
        compiled = CompiledModule(module, code, name, self.config.debug_info, stats, cache=self.config.cache)
        compiled.source_path = source_path
        return compiled

    PARALLEL_VALIDATE_BYTES = 2 << 20   # below this, one process validates (a worker costs ~0.2 s)

    def _validate(self, module: Module, key: str) -> None:
        """Validate, splitting the function bodies over worker processes for big modules
        (Python validates ~4 MB of code per second)."""
        from .validate import validate_bodies
        from .workers import cpu_count, pool
        sizes = [b.code_end - b.code_start for b in module.bodies]
        jobs = self.config.jobs or cpu_count()
        if sum(sizes) < self.PARALLEL_VALIDATE_BYTES or jobs == 1:
            validate(module)
            return
        workers = pool()
        workers.register_module(key, module.raw, module.features)
        workers.start(jobs - 1)
        # This process starts at once, the workers ~0.25 s later (start, receive, decode): it
        # takes a larger first share.
        shares = [1.15] + [1.0] * (jobs - 1)
        total, bounds, acc, k = sum(sizes), [0], 0, 0
        for i, n in enumerate(sizes):
            acc += n
            if k < jobs - 1 and acc >= total * sum(shares[:k + 1]) / sum(shares):
                bounds.append(i + 1)
                k += 1
        bounds += [len(sizes)] * (jobs + 1 - len(bounds))
        futures = [workers.submit_validate(key, bounds[j], bounds[j + 1]) for j in range(1, jobs)]
        validate(module, bodies=False)
        validate_bodies(module, bounds[0], bounds[1])   # the first invalid body in order wins
        tail_calls = bool(module.__dict__.pop("_tail_calls_seen", False))
        for fut in futures:
            found = fut.result()
            if isinstance(found, tuple):
                from .errors import module_error
                raise module_error(*found)
            tail_calls = tail_calls or found
        module.uses_tail_calls = tail_calls   # the translator's calling convention (translate/tailcalls.py)

    def deserialize_file(self, path: str, name: str | None = None) -> CompiledModule:
        """A module from a ``.cwasm`` file of ``wasirun compile -o`` (wasmtime's
        ``Module.deserialize_file``): its code is mapped from the file, nothing compiles."""
        from pathlib import Path

        from .cwasm import CwasmError, read_cwasm
        from .tiers import CodeUnit, ModuleCode
        with open(path, "rb") as f:
            data = f.read()
        header, wasm, offset = read_cwasm(path, data)
        if header["options"] != self._options_key():
            raise CwasmError(f"`{path}` was compiled with other options ({header['options']}) "
                             f"than this run's ({self._options_key()})")
        stats = CompileStats(cached=True)
        module = decode(wasm, self.config.features)
        name = name or header.get("name") or Path(path).name
        code = ModuleCode(module, wasm, self._plan(name, tiering=False), None)
        unit = CodeUnit.from_meta("top", header["unit"], Path(path))
        unit.source_offset = offset
        code.units = [unit]
        return CompiledModule(module, code, name, self.config.debug_info, stats, cache=self.config.cache)

    def instantiate(self, compiled: CompiledModule,
                    imports: Mapping[tuple[str, str], Any] | Callable[[str, str], Any] | None = None) -> Instance:
        if imports is None:
            resolve = lambda mod, name: None  # noqa: E731
        elif callable(imports):
            resolve = imports
        else:
            resolve = lambda mod, name: imports.get((mod, name))  # noqa: E731
        try:
            return Instance(compiled, resolve, limits=self.config, agent=self.agent, context=self.context)
        except _image_errors():
            if not compiled.stats.cached or compiled.code.cache is None:
                raise
            # A damaged or foreign cache entry: recompile and try once more.
            compiled.code.discard_units()
            compiled.stats.cached = False
            compiled.code.compile()
            return Instance(compiled, resolve, limits=self.config, agent=self.agent, context=self.context)

    def interrupt(self) -> None:
        """Make this engine's running wasm code trap with "interrupt" at its next loop header
        or call (needs ``Config.interruptible``); with nothing running, the next call.  Safe
        to call from another thread; cleared once the interrupted calls have returned."""
        self.context.interrupt()

    def fuel_remaining(self) -> int | None:
        return self.context.fuel if self.config.fuel is not None else None

    def close(self) -> None:
        """Close the profiling agent; with the guest profiler, stop sampling and write the profile."""
        self.agent.close()
        if getattr(self.agent, "wasm_map", None) is not None:
            self.agent.wasm_map.close()
        if self.guest_profiler is not None:
            self.guest_profiler.finish()


def validate(module: Module, bodies: bool = True) -> None:
    """Run the validator (runner/validate.py); imported only when something is compiled."""
    from .validate import validate as _validate
    _validate(module, bodies)


def _image_errors():
    from .loader import ImageError
    return (ImageError, OSError)
