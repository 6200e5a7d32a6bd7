"""A module's native code: which units exist, compiling them, and tier-up while it runs.

Code comes in *units* (runner/codecache.py): linked images holding some functions at
one code level.  Every call that may reach code of another unit loads the callee's
code pointer from the instance's function records (``wr.funcrefs``), so installing
new code for a function is one 8-byte store per instance; the old copy stays mapped
(a frame may still be running in it: there is no on-stack replacement).

* With tiering (the default at -O1..-O3) a cold run compiles a ``base`` unit first:
  every function at the cheap ``base`` level, with counters at function entries and
  loop headers.  A function whose counter reaches the threshold calls ``wr_tierup``;
  a background thread collects such requests, compiles those functions at the top
  level (``-O``) as one unit whose calls among themselves are direct, stores it in the
  cache and installs it in every instance of the module.
* Without tiering (``--no-tiering``, ``wasirun compile``, -O0) one ``top`` unit holds
  every function at the top level, with direct calls throughout.
* A warm run maps every cached unit of its key, the best level winning per function.

Compilation runs in worker processes (runner/workers.py), fed chunks of the unit as
they are translated, so Python translation overlaps LLVM and the parent holds only
the chunks in flight.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field

from .binary.module import Module
from .codecache import CodeCache, hash256, module_key
from .sourcemap import wasm_offset_at
from .sourcemap.objrows import rows_by_function

LEVEL_RANK = {"base": 0, "O1": 1, "O2": 2, "O3": 3}
CHUNK_MIN = 48 << 10        # wasm code bytes per compile job, at least ...
CHUNK_MAX = 768 << 10       # ... and at most (bounds the IR text in flight)
TIERUP_BATCH_DELAY = 0.003  # seconds to collect more hot functions before compiling
LAZY_SECONDS = 0.05         # estimated first-tier LLVM time above which functions compile on first call ...
LAZY_SECONDS_DEBUG = 1.5    # ... with -g (exact lines: SelectionDAG, ~4x LLVM time per first call)
TIERUP_LOCK_SECONDS = 120   # a tier-up waits this long for another process compiling the same functions


@dataclass
class CodeUnit:
    """Native code for some of a module's functions, as a linked image."""
    name: str
    level: str
    functions: tuple[int, ...]
    source: object                                  # Path of the image file, or a loader.Image
    symbols: dict[int, tuple[int, int]]             # function index -> (offset in image, size)
    entries: dict[int, int]                         # function index -> offset of its wr.call<N> wrapper
    entry_sizes: dict[int, int] = field(default_factory=dict)
    rows: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # func -> (offset in func, wasm offset)
    # A tail module's functions are tailcc; their C-convention adapters (translate/tailcalls.py):
    adapters: dict[int, int] = field(default_factory=dict)   # function index -> offset of w<N>.c
    tail: bool | None = None    # the module has tail calls (kept so a warm start need not scan for them)

    source_offset: int = 0                          # where the image starts in its file (a .cwasm)

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.level]

    def map(self, resolve):
        """Map a fresh copy of the image whose GOT ``resolve`` fills (one per instance)."""
        from . import loader
        if self.source_offset:
            return loader.map_image(self.source, resolve, offset=self.source_offset)
        return loader.map_image(self.source, resolve)

    def meta(self) -> dict:
        return {"level": self.level, "functions": list(self.functions),
                "symbols": {str(k): list(v) for k, v in self.symbols.items()},
                "entries": {str(k): v for k, v in self.entries.items()},
                "entry_sizes": {str(k): v for k, v in self.entry_sizes.items()},
                "rows": {str(k): v for k, v in self.rows.items()},
                "adapters": {str(k): v for k, v in self.adapters.items()}, "tail": self.tail}

    @classmethod
    def from_meta(cls, name: str, meta: dict, source) -> "CodeUnit":
        return cls(name, meta["level"], tuple(meta["functions"]), source,
                   {int(k): (v[0], v[1]) for k, v in meta["symbols"].items()},
                   {int(k): v for k, v in meta["entries"].items()},
                   {int(k): v for k, v in meta.get("entry_sizes", {}).items()},
                   {int(k): [tuple(r) for r in v] for k, v in meta.get("rows", {}).items()},
                   adapters={int(k): v for k, v in meta.get("adapters", {}).items()}, tail=meta.get("tail"))

    def wasm_offset_at(self, func_index: int, native_offset: int) -> int | None:
        return wasm_offset_at(self.rows.get(func_index, ()), native_offset)


@dataclass
class CodePlan:
    """What the engine asks for."""
    top_level: str          # the code level of the top tier
    tiering: bool
    options_key: str        # everything besides the wasm bytes that changes the code
    translate_options: object
    source_name: str
    jobs: int = 0
    progress: bool = False
    finish_tierup: bool = True   # a tier-up still compiling at exit is finished and cached after it


class Progress:
    """One updating stderr line for compiles that take a while (terminals only)."""

    def __init__(self, what: str, total: int, enabled: bool):
        self.what, self.total, self.done = what, total, 0
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.shown = False
        self.after = float(os.environ.get("WASIRUN_PROGRESS_AFTER", "2"))   # seconds before it shows

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        if elapsed >= self.after or self.shown:
            self.shown = True
            sys.stderr.write(f"\rwasirun: compiling {self.what}: {self.done}/{self.total} functions, {elapsed:.1f} s")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _costs(module: Module, functions: list[int]) -> list[int]:
    n_imported = module.num_imported_funcs
    return [1 if i < n_imported else module.bodies[i - n_imported].code_end - module.bodies[i - n_imported].code_start
            for i in functions]


def unit_cost(module: Module, functions: list[int]) -> int:
    """Wasm code bytes of these functions: what compile time scales with."""
    return sum(_costs(module, functions))


def chunks_of(module: Module, functions: list[int], jobs: int) -> list[list[int]]:
    """Split a unit into compile jobs of similar wasm size, in index order."""
    cost = _costs(module, functions)
    total = sum(cost) + 1
    target = min(CHUNK_MAX, max(CHUNK_MIN, total // max(1, 2 * jobs)))
    out: list[list[int]] = [[]]
    acc = 0
    for f, c in zip(functions, cost):
        if acc >= target and out[-1]:
            out.append([])
            acc = 0
        out[-1].append(f)
        acc += c + 64
    return out


def compile_objects(module: Module, plan: CodePlan, level: str, functions: list[int], translate_options,
                    wrappers: bool, priority: int, progress: Progress | None = None, where: str = "auto",
                    module_key: str | None = None):
    """Translate and compile the functions of one unit; returns ``(objects, their line rows)``.

    ``where``: "here" compiles on the calling thread (a function's first call: no hand-off
    to another thread, which costs a GIL switch interval per LLVM call while another Python
    thread runs); "workers" in the worker processes; "auto" in the in-process compile thread
    when the job is small, else in the workers; "remote" has the workers translate too
    (``module_key``: the module they were given), so this process spends no Python time on it
    (tier-up: a translating thread here delays every host call and lazy compile of the wasm
    thread by up to a GIL switch interval).
    """
    from .translate.module import translate_module
    from .workers import LOCAL_SECONDS, cpu_count, estimated_seconds, pool

    if where == "here":
        from . import jit
        from .sourcemap.objrows import line_rows
        ir = translate_module(module, translate_options, plan.source_name, functions, wrappers, frozenset(functions))
        obj = jit.compile_ir(ir.text(), level, exact_lines=translate_options.debug_info)
        return [obj], [line_rows(obj) if translate_options.debug_info else []]
    workers = pool()
    if where == "remote":
        from .compile_worker import UnitJob
        jobs = plan.jobs or cpu_count()
        chunks = chunks_of(module, functions, jobs)
        workers.start(min(jobs, len(chunks)))
        unit_set = frozenset(functions)
        tail = module.__dict__.get("uses_tail_calls")
        futures = [(chunk, workers.submit_unit(module_key, UnitJob(
            tuple(chunk), unit_set, wrappers and k == 0, translate_options, plan.source_name, tail, level,
            translate_options.debug_info), priority)) for k, chunk in enumerate(chunks)]
    else:
        futures = None
    local = where == "auto" and estimated_seconds(unit_cost(module, functions), level) < LOCAL_SECONDS
    if futures is None:
        jobs = 1 if local else plan.jobs or cpu_count()
        chunks = chunks_of(module, functions, jobs)
        if not local:
            workers.start(min(jobs, len(chunks)))
        unit_set = frozenset(functions)
        debug = translate_options.debug_info
        futures = []
        for k, chunk in enumerate(chunks):
            ir = translate_module(module, translate_options, plan.source_name, chunk, wrappers and k == 0, unit_set)
            futures.append((chunk, workers.submit(ir.text(), level, want_rows=debug, priority=priority, local=local)))
    objs, obj_rows = [], []
    for chunk, fut in futures:
        obj, rows = fut.result()
        objs.append(obj)
        obj_rows.append(rows or [])
        if progress is not None:
            progress.advance(len(chunk))
    return objs, obj_rows


def link_unit(name: str, level: str, functions: list[int], objs: list[bytes], obj_rows, wrappers: bool,
              debug: bool) -> tuple[object, CodeUnit]:
    """Link compiled objects into one image; returns ``(loader.Image, CodeUnit)``."""
    from . import loader
    image = loader.link(objs)
    symbols, adapters = {}, {}
    for i in functions:
        s = image.symbols.get(f"w{i}")
        if s is not None:
            symbols[i] = (s[0], s[1])
        a = image.symbols.get(f"w{i}.c")
        if a is not None:
            adapters[i] = a[0]
    entries, entry_sizes = {}, {}
    if wrappers:
        for sym, (off, size) in image.symbols.items():
            if sym.startswith("wr.call"):
                entries[int(sym[7:])] = off
                entry_sizes[int(sym[7:])] = size
    unit = CodeUnit(name, level, tuple(functions), image, symbols, entries, entry_sizes, adapters=adapters)
    if debug:
        unit.rows = rows_by_function(image.section_offsets, obj_rows, symbols)
    return image, unit


def build_unit(module: Module, plan: CodePlan, name: str, level: str, functions: list[int],
               translate_options, wrappers: bool, priority: int, progress: Progress | None = None
               ) -> tuple[object, CodeUnit]:
    """Translate, compile and link one unit; the CodeUnit's source is the image."""
    objs, rows = compile_objects(module, plan, level, functions, translate_options, wrappers, priority, progress)
    return link_unit(name, level, functions, objs, rows, wrappers, translate_options.debug_info)


class ModuleCode:
    """The code of one compiled module: its units, and tier-up while instances run."""

    def __init__(self, module: Module, wasm: bytes, plan: CodePlan, cache: CodeCache | None):
        self.module = module
        self.plan = plan
        self.cache = cache
        self.key = module_key(wasm, plan.options_key)
        self.units: list[CodeUnit] = []
        self.instances: "weakref.WeakSet" = weakref.WeakSet()
        self.lock = threading.Lock()
        nfuncs = max(len(module.func_types), 1)
        self.hot = (ctypes.c_int32 * nfuncs)()     # wr.hot: the first tier's counters
        self._tierup_cb = ctypes.CFUNCTYPE(None, ctypes.c_int32)(self._on_hot)
        self.tierup_address = ctypes.cast(self._tierup_cb, ctypes.c_void_p).value
        self._requested: set[int] = set()     # functions with top-tier code, or asked for
        self._pending_hot: set[int] = set()   # asked for, not yet being compiled
        self._taken: list[int] | None = None  # taken by the tier-up thread, not yet sent to a worker
        self._waiting = False                 # ... while it waits for another process's tier-up
        self._wake = threading.Condition(self.lock)
        self._thread: threading.Thread | None = None
        self.tierup_errors: list[str] = []
        # WASIRUN_FINISH_TIERUP=0 turns finishing after exit off for every engine.
        self.finish_at_exit = plan.finish_tierup and os.environ.get("WASIRUN_FINISH_TIERUP", "1") != "0"
        # Lazy mode: a module whose first tier would take over LAZY_SECONDS of LLVM compiles
        # each function on its first call: most of a program's code never runs (a Rust
        # command's std: hello.wasm calls 97 of 287 functions; cold CPU 0.36 -> 0.25 s,
        # docs/PERFORMANCE.md "Cold path, second round").  A tiny module (the spec tests'
        # are all below 0.04 s) is one cheap unit, cheaper than a few first-call batches.
        # With -g only big modules: first calls would cost 4x and land inside the run's
        # profile (scripts/profile.sh --srcline reports the span of the jitted code).
        from .costs import estimated_seconds
        everything = list(range(len(module.func_types)))
        threshold = LAZY_SECONDS_DEBUG if plan.translate_options.debug_info else LAZY_SECONDS
        self.lazy = plan.tiering and estimated_seconds(unit_cost(module, everything), "base") > threshold
        forced = os.environ.get("WASIRUN_LAZY")   # "1"/"0": force lazy mode on or off (tests, experiments)
        if forced in ("0", "1") and plan.tiering:
            self.lazy = forced == "1"
        self._lazy_lock = threading.RLock()
        self._lazy_done: set[int] = set()          # functions with first-tier code
        self._lazy_new: list[tuple[list[int], list[bytes], list]] = []   # compiled this run, not yet cached
        self.lazy_stats = [0, 0, 0.0]               # batches, functions, seconds (for --timings)
        if self.lazy:
            import atexit
            atexit.register(_persist_lazy, weakref.ref(self))

    # --- getting the code before the first run ------------------------------------------
    def load_cached(self) -> bool:
        """Take the cache's units; True when they cover what the plan needs."""
        if self.cache is None:
            return False
        units = []
        for stored in self.cache.units(self.key):
            try:
                units.append(CodeUnit.from_meta(stored.name, stored.meta, stored.image))
            except (KeyError, ValueError, TypeError, IndexError):
                self.cache.discard(stored)
        names = {u.name for u in units}
        if "top" in names:
            units = [u for u in units if u.name == "top"]
        elif not self.plan.tiering or ("entry" if self.lazy else "base") not in names:
            return False
        self.units = units
        for u in units:
            if u.tail is not None:   # what later tier-up/lazy translations must know without a scan
                self.module.__dict__.setdefault("uses_tail_calls", u.tail)
            self._lazy_done.update(u.functions)
            if u.rank >= LEVEL_RANK[self.plan.top_level]:
                self._requested.update(u.functions)
        return True

    def compile(self) -> None:
        """Compile what a first run needs: the base unit (tiering) or the top unit."""
        from .workers import PRIORITY_NOW
        m = self.module
        everything = list(range(len(m.func_types)))
        opts = self.plan.translate_options
        if self.plan.tiering:
            from .workers import pool
            pool().start(1)      # a worker for tier-up, starting while we compile the first tier
        if self.lazy:
            # Only the import thunks and the entry wrappers now; functions come on first call.
            opts = _replace(opts, tier_counters=True, direct_calls=False)
            imports = list(range(m.num_imported_funcs))
            image, unit = build_unit(m, self.plan, "entry", "base", imports, opts, True, PRIORITY_NOW)
            self.units = [self._store(image, unit)]
            self._lazy_done.update(imports)
            return
        if self.plan.tiering:
            name, level = "base", "base"
            opts = _replace(opts, tier_counters=True, direct_calls=False)
        else:
            name, level = "top", self.plan.top_level
        progress = Progress(self.plan.source_name, len(everything), self.plan.progress)
        try:
            image, unit = build_unit(m, self.plan, name, level, everything, opts, True, PRIORITY_NOW, progress)
        finally:
            progress.finish()
        self.units = [self._store(image, unit)]

    def _store(self, image, unit: CodeUnit) -> CodeUnit:
        unit.tail = self.module.__dict__.get("uses_tail_calls")   # known: the unit was just translated
        if self.cache is not None:
            from . import loader
            stored = self.cache.put(self.key, unit.name, unit.meta(), loader.dumps(image))
            if stored is not None:
                unit.source = stored.image
        return unit

    def discard_units(self) -> None:
        """The cached images turned out damaged: forget them (the caller recompiles)."""
        if self.cache is not None:
            for stored in self.cache.units(self.key):
                self.cache.discard(stored)
        self.units = []
        self._requested.clear()

    # --- lazy compilation ------------------------------------------------------------------
    def compile_lazily(self, func_index: int) -> None:
        """First call of a function without code (on the wasm thread): compile it and the
        functions it calls directly that have no code yet, install them everywhere."""
        from .workers import PRIORITY_NOW
        with self._lazy_lock:
            if func_index in self._lazy_done:
                return
            t0 = time.perf_counter()
            batch = self._lazy_batch(func_index)
            opts = _replace(self.plan.translate_options, tier_counters=True, direct_calls=False)
            objs, rows = compile_objects(self.module, self.plan, "base", batch, opts, False, PRIORITY_NOW,
                                         where="here")
            image, unit = link_unit(f"lazy-{func_index}", "base", batch, objs, rows, False, opts.debug_info)
            self._install(unit)
            self._lazy_done.update(batch)
            self._lazy_new.append((batch, objs, rows))
            st = self.lazy_stats
            st[0], st[1], st[2] = st[0] + 1, st[1] + len(batch), st[2] + time.perf_counter() - t0

    def _install(self, unit: CodeUnit) -> None:
        with self.lock:
            self.units.append(unit)
            live = list(self.instances)
        for inst in live:
            inst.install_unit(unit)

    LAZY_BATCH_FUNCTIONS = 24
    LAZY_BATCH_BYTES = 24 << 10

    def _lazy_batch(self, func_index: int) -> list[int]:
        """The function, then its not yet compiled direct callees, breadth first, while the
        batch stays within LAZY_BATCH_FUNCTIONS and LAZY_BATCH_BYTES of wasm code (one LLVM
        module costs ~1.4 ms beyond its functions: a few likely callees come nearly free)."""
        from .binary.decode import iter_instructions
        m = self.module
        n_imported = m.num_imported_funcs

        def size(f: int) -> int:
            body = m.bodies[f - n_imported]
            return body.code_end - body.code_start

        batch, seen = [func_index], {func_index}
        budget = self.LAZY_BATCH_BYTES - size(func_index)
        k = 0
        while k < len(batch) and len(batch) < self.LAZY_BATCH_FUNCTIONS and budget > 0:
            body = m.bodies[batch[k] - n_imported]
            k += 1
            for _, code, imm in iter_instructions(m.raw, body.code_start, body.code_end):
                if code in (0x10, 0x12) and imm >= n_imported and imm not in seen and imm not in self._lazy_done:
                    seen.add(imm)
                    if size(imm) <= budget:
                        batch.append(imm)
                        budget -= size(imm)
                        if len(batch) >= self.LAZY_BATCH_FUNCTIONS:
                            break
        return sorted(batch)

    def persist_lazy(self) -> None:
        """Store what was compiled lazily in this run as one unit, so the next run maps it."""
        with self._lazy_lock:
            new, self._lazy_new = self._lazy_new, []
        if not new or self.cache is None:
            return
        functions = sorted(i for batch, _, _ in new for i in batch)
        objs = [o for _, batch_objs, _ in new for o in batch_objs]
        rows = [r for _, _, batch_rows in new for r in batch_rows]
        digest = hash256(",".join(map(str, functions)).encode()).hexdigest()[:16]
        image, unit = link_unit(f"lazy-{digest}", "base", functions, objs, rows, False,
                                self.plan.translate_options.debug_info)
        self._store(image, unit)

    # --- tier-up ---------------------------------------------------------------------------
    def _on_hot(self, func_index: int) -> None:
        # Called from first-tier code (through ctypes, on the wasm thread): queue and return.
        try:
            with self.lock:
                if func_index in self._requested:
                    return
                self._requested.add(func_index)
                self._pending_hot.add(func_index)
                if self._thread is None:
                    _watch_at_exit(self)
                    self._thread = threading.Thread(target=self._tierup_loop, name="wasirun-tierup", daemon=True)
                    self._thread.start()
                self._wake.notify()
        except BaseException:  # noqa: BLE001 - must never unwind into native code
            pass

    def _tierup_loop(self) -> None:
        from .workers import PRIORITY_TIERUP, pool
        while True:
            with self.lock:
                while not self._pending_hot:
                    self._wake.wait()
            time.sleep(TIERUP_BATCH_DELAY)
            with self.lock:
                batch = sorted(self._pending_hot)
                self._pending_hot.clear()
                self._taken = batch        # until it is submitted: flush_at_exit's too
            try:
                if self.cache is not None:
                    rest = self._take_stored(batch)
                    with self.lock:
                        if self._taken is None:
                            continue       # the process is exiting: flush_at_exit sent it
                        self._taken = None
                        futures = self._submit_tierup(rest) if rest else ()
                    for fut in futures:
                        for name, meta, source in fut.result():
                            self._install_stored(name, meta, source)
                    continue
                digest = hash256(",".join(map(str, batch)).encode()).hexdigest()[:16]
                # Always in the worker processes: LLVM must never be busy in this process when it
                # exits (its C++ destructors would run under the compiling thread: it crashed), and
                # in lazy mode this process's LLVM is busy with first calls.
                pool().register_module(self.key, self.module.raw, self.module.features)
                objs, rows = compile_objects(self.module, self.plan, self.plan.top_level, batch,
                                             self.plan.translate_options, False, PRIORITY_TIERUP,
                                             where="remote", module_key=self.key)
                image, unit = link_unit(f"hot-{digest}", self.plan.top_level, batch, objs, rows, False,
                                        self.plan.translate_options.debug_info)
                unit = self._store(image, unit)
                with self.lock:
                    self.units.append(unit)
                    live = list(self.instances)
                for inst in live:
                    inst.install_unit(unit)
            except BaseException as exc:  # noqa: BLE001 - the first tier keeps running
                self.tierup_errors.append(f"{type(exc).__name__}: {exc}")

    def _submit_tierup(self, batch: list[int]) -> list:
        """Have workers compile, link and store the top tier of ``batch`` (one unit per chunk,
        so each can outlive this process on its own); futures of finish_tierup's answers."""
        from .compile_worker import TierupJob, UnitJob
        from .workers import cpu_count, pool
        workers = pool()
        workers.register_module(self.key, self.module.raw, self.module.features)
        opts = self.plan.translate_options
        jobs = self.plan.jobs or cpu_count()
        chunks = chunks_of(self.module, batch, jobs)
        workers.start(min(jobs, len(chunks)))
        tail = self.module.__dict__.get("uses_tail_calls")
        return [workers.submit_tierup(self.key, TierupJob(
            UnitJob(tuple(chunk), frozenset(chunk), False, opts, self.plan.source_name, tail, self.plan.top_level,
                    opts.debug_info), str(self.cache.root), self.cache.size_cap, self.finish_at_exit))
            for chunk in chunks]

    def _take_stored(self, batch: list[int]) -> list[int]:
        """Before starting a worker: if another process is compiling this module's hot code
        (a run that ended a moment ago, finishing its tier-up), wait for it and map what it
        stored; the functions still without top-tier code."""
        if not self.cache.claims(self.key) & set(batch):
            return batch
        self._waiting = True
        try:
            self.cache.wait_idle(self.key, TIERUP_LOCK_SECONDS, batch)
        finally:
            self._waiting = False
        wanted = set(batch)
        for stored in stored_covering(self.cache, self.key, LEVEL_RANK[self.plan.top_level], wanted):
            self._install_stored(stored.name, stored.meta, str(stored.image))
        return sorted(wanted)

    def _install_stored(self, name: str, meta: dict, source) -> None:
        """Map a unit a worker stored (or found stored) in every instance, unless we have it."""
        with self.lock:
            if any(u.name == name for u in self.units):
                return
        unit = CodeUnit.from_meta(name, meta, source)    # an image file's path, or its bytes
        self._install(unit)

    def flush_at_exit(self) -> None:
        """The process is ending: functions asked for but not yet sent to a worker go now,
        so the pool can hand them to a worker that finishes them after us."""
        if not self.finish_at_exit or self.cache is None:
            return
        with self.lock:
            # A batch waiting for another process's compile of this module's hot code stays
            # with that process (the same program asks for the same functions); starting a
            # worker at exit only to find them stored would cost ~0.1 s of CPU.
            taken = () if self._waiting else (self._taken or ())
            batch = sorted(self._pending_hot | set(taken))
            self._pending_hot.clear()
            self._taken = None
            if batch:
                self._submit_tierup(batch)

    def wait_for_tierup(self, timeout: float = 30.0) -> bool:
        """Wait until every requested function has top-tier code installed (for tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                have = set()
                for u in self.units:
                    if u.rank >= LEVEL_RANK[self.plan.top_level]:
                        have.update(u.functions)
                if self._requested <= have and not self._pending_hot:
                    return True
            time.sleep(0.005)
        return False


_tiering: "weakref.WeakSet[ModuleCode]" = weakref.WeakSet()   # modules that asked for tier-up
_exit_registered = False


def _watch_at_exit(code: ModuleCode) -> None:
    """At exit, what ``code`` asked for must reach the worker pool's shutdown (which hands it
    to a worker that outlives us), even when the tier-up thread has not started yet."""
    global _exit_registered
    _tiering.add(code)
    if not _exit_registered:
        _exit_registered = True
        import atexit
        atexit.register(_at_exit)


def _at_exit() -> None:
    if any(code.finish_at_exit and (code._pending_hot or code._taken) for code in list(_tiering)):
        from .workers import pool
        pool().shutdown()    # it calls flush_all_at_exit first; a later call does nothing


def _forget_in_child() -> None:
    # A forked child (the spec harness forks per script) does not finish its parent's tier-ups.
    _tiering.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def flush_all_at_exit() -> None:
    """The worker pool's shutdown: queue every module's not yet submitted tier-up requests."""
    for code in list(_tiering):
        try:
            code.flush_at_exit()
        except Exception:  # noqa: BLE001 - at exit, an unfinished tier-up only costs speed
            pass


def stored_covering(cache: CodeCache, key: str, rank: int, wanted: set[int]) -> list:
    """The units stored under ``key`` at level ``rank`` or above that hold any of ``wanted``;
    what they hold is taken out of ``wanted``."""
    found = []
    for stored in cache.units(key):
        try:
            functions = set(stored.meta["functions"])
            better = LEVEL_RANK[stored.meta["level"]] >= rank
        except (KeyError, TypeError):
            continue
        if better and functions & wanted:
            found.append(stored)
            wanted -= functions
    return found


def finish_tierup(module: Module, key: str, job) -> list[tuple[str, dict, object]]:
    """In a compile worker: the top-tier units holding ``job.unit.functions``, as
    ``(name, meta, image path or image bytes)``: the ones another process stored already,
    and one compiled, linked and stored here for the rest.  What to compile is decided under
    the key's lock and claimed (codecache ``claim``), so two processes asking at once compile
    each function once (the later one waits for the claim, then takes the stored unit), while
    this process's other chunks compile alongside in other workers; the cache entry is
    written whole or not at all (codecache: temporary names, renames)."""
    from . import loader
    from .compile_worker import translate_unit
    uj = job.unit
    _test_gate()
    cache = CodeCache(job.cache_root, job.size_cap)
    rank = LEVEL_RANK[uj.level]
    wanted = set(uj.functions)
    out: list = []
    deadline = time.monotonic() + TIERUP_LOCK_SECONDS
    compiled = 0
    while wanted:
        with cache.locked(key, TIERUP_LOCK_SECONDS):
            cache.sweep_temporaries(key)
            out.extend((stored.name, stored.meta, str(stored.image))
                       for stored in stored_covering(cache, key, rank, wanted))
            theirs = wanted & cache.claims(key)       # another process is compiling these
            mine = sorted(wanted - theirs)
            claim = cache.claim(key, mine) if mine else None
        if mine:
            try:
                sub = _replace(uj, functions=tuple(mine), unit=frozenset(mine))
                obj, rows = translate_unit(module, sub)
                digest = hash256(",".join(map(str, mine)).encode()).hexdigest()[:16]
                image, unit = link_unit(f"hot-{digest}", uj.level, mine, [obj], [rows or []], False, uj.want_rows)
                unit.tail = uj.tail_calls
                data = loader.dumps(image)
                stored = cache.put(key, unit.name, unit.meta(), data)
                out.append((unit.name, stored.meta, str(stored.image)) if stored else (unit.name, unit.meta(), data))
                compiled += len(mine)
            finally:
                if claim is not None:
                    claim.release()
        wanted = theirs
        if not wanted or time.monotonic() >= deadline:
            break
        cache.wait_idle(key, deadline - time.monotonic(), wanted)   # then take what they stored
    _log_tierup(key, len(uj.functions), compiled)
    return out


def _test_gate() -> None:
    # Tests: hold every tier-up until this file exists, so the process surely exits first.
    gate = os.environ.get("WASIRUN_TEST_TIERUP_GATE")
    deadline = time.monotonic() + 120
    while gate and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)


def _log_tierup(key: str, asked: int, compiled: int) -> None:
    # WASIRUN_TIERUP_LOG=FILE: one line per tier-up job (tests, and seeing what a run compiled).
    path = os.environ.get("WASIRUN_TIERUP_LOG")
    if path:
        try:
            with open(path, "a") as f:
                f.write(f"{os.getpid()} {key[:16]} asked {asked} compiled {compiled}\n")
        except OSError:
            pass


def _persist_lazy(ref) -> None:
    code = ref()
    if code is not None:
        try:
            code.persist_lazy()
        except Exception:  # noqa: BLE001 - at exit, a cache we can't write only costs speed
            pass


def _replace(opts, **changes):
    import dataclasses
    return dataclasses.replace(opts, **changes)

