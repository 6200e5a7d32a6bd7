"""Instantiation: link a compiled module's object with its imports, initialise, run start.

Follows the spec's order: resolve and type-check imports (LinkError, runtime/imports.py),
allocate memories/tables/globals, link the native code, evaluate globals, apply element
then data segments in order (a failing segment traps; earlier writes persist),
then run the start function.

The parts live beside it: values across the host boundary in runtime/values.py, function
values and host-function trampolines in runtime/functions.py, trap raising in
runtime/traps.py, the code ranges of backtraces in runtime/coderanges.py, the helpers that
generated code calls in runtime/helpers.py.  The names other code imports from here are
re-exported below.
"""
from __future__ import annotations

import ctypes
import functools
import threading
from typing import Callable

from ..binary.module import KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, KIND_TABLE, KIND_TAG, MODE_ACTIVE, MODE_PASSIVE, ConstExpr, is_ref
from ..binary.subtype import canonical
from ..errors import Frame, LinkError, Trap, TrapKind
from ..layout import FUNCREF_CODE_FIELD, FUNCREF_RECORD_SIZE, FUNCREF_RECORD_WORDS, FUNCREF_TYPE_ID_FIELD, memory_symbol
from ..profiling.base import NullAgent
from . import coderanges
from .consteval import eval_const
from .context import ExecContext
from .exceptions import Tag, deregister_image, register_image
from .functions import Function, host_function
from .helpers import helper_symbols, register_instance, register_memory, register_table
from .imports import Extern, resolve_imports
from .library import resolver
from .native import DEFAULT_STACK_BUDGET, NativeRuntime
from .store import GlobalCell, Memory, Table, store_words
from .traps import raise_trap
from .values import FuncRef, externref_handle, externref_object, from_raw, to_raw, type_id

__all__ = ["Instance", "Extern", "Function", "FuncRef", "host_function", "raise_trap", "externref_handle",
           "externref_object", "from_raw", "to_raw", "register_memory", "register_table", "TAIL_STUB"]

TAIL_STUB = 1 << 31   # a lazy stub's index bit: the caller wants the tailcc code (wr.tailcode)


class FunctionSpace:
    """An instance's function index space: the imported Functions as resolved, each defined
    function's made by ``make(index)`` on first use and kept.  A module may define tens of
    thousands of functions (Yosys: 34k, one object each was ~40 % of a warm run's instantiation);
    the host reaches a few of them: exports, the start function."""

    __slots__ = ("_items", "_make", "_lock")

    def __init__(self, imported: list[Function], total: int, make: Callable[[int], Function]):
        self._items: list[Function | None] = list(imported) + [None] * (total - len(imported))
        self._make = make
        self._lock = threading.Lock()     # two threads reaching one function get one object

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._items)))]
        f = self._items[index]          # IndexError as a list's
        if f is None:
            if index < 0:
                index += len(self._items)
            with self._lock:
                f = self._items[index]
                if f is None:
                    f = self._items[index] = self._make(index)
        return f

    def __setitem__(self, index: int, f: Function) -> None:
        self._items[index] = f

    def __iter__(self):
        return (self[i] for i in range(len(self._items)))


class Instance:
    """A module instance: its native code linked against its own memories, tables and globals."""

    def __init__(self, compiled, imports: Callable[[str, str], Extern | None], limits=None, agent=None,
                 context: ExecContext | None = None):
        m = compiled.module
        self.compiled = compiled
        self.module = m
        rt = NativeRuntime.get()
        # the engine's fuel, interrupt flag and stack budget (a fresh set without an engine)
        self.context = context if context is not None else ExecContext(
            getattr(limits, "max_wasm_stack", None) or DEFAULT_STACK_BUDGET)
        # 1. Imports, with the spec's subtyping rules.
        imported = resolve_imports(m, imports)
        self.functions = FunctionSpace(imported.functions, len(m.func_types), self._make_function)
        self.memories: list[Memory] = imported.memories
        self.tables: list[Table] = imported.tables
        self.globals: list[GlobalCell] = imported.globals
        self.tags: list[Tag] = imported.tags
        max_memory = getattr(limits, "max_memory", None)

        # 2. Defined memories, tables, global cells.
        for mt in m.memories[len(self.memories):]:
            self.memories.append(register_memory(Memory(mt, max_memory)))
        for tt in m.tables[len(self.tables):]:
            self.tables.append(register_table(Table(tt)))
            self.tables[-1].type_module = m
        for g in m.global_inits:
            self.globals.append(GlobalCell(g.type))
            self.globals[-1].type_module = m
        tag_names = {e.index: e.name for e in m.exports if e.kind == KIND_TAG}
        for i in range(len(self.tags), len(m.tags)):
            name = tag_names.get(i)
            where = getattr(compiled, "name", "")
            self.tags.append(Tag(m.types[m.tags[i]], f"`{name}`" if name is not None else f"{i} of `{where}`",
                                 canonical(m, m.tags[i])))
        for mem in self.memories:
            register_memory(mem)
        for t in self.tables:
            register_table(t)

        # 3. Map the module's code, linked against this instance's state.
        self._marker = ctypes.c_uint64(0)
        self.address = ctypes.addressof(self._marker)
        register_instance(self)
        nfuncs = len(m.func_types)
        type_ids = [type_id(canonical(m, i)) for i in range(len(m.types))]
        self.typeids = (ctypes.c_uint64 * max(len(m.types), 1))(*type_ids)
        # wr.funcrefs as flat u64 words (layout.FUNCREF_RECORD_WORDS per record)
        self.funcrefs = (ctypes.c_uint64 * (FUNCREF_RECORD_WORDS * max(nfuncs, 1)))()
        self.funcrefs_address = ctypes.addressof(self.funcrefs)
        if nfuncs:
            store_words(self.funcrefs, FUNCREF_TYPE_ID_FIELD, FUNCREF_RECORD_WORDS, map(type_ids.__getitem__, m.func_types))
        # A tail module's tailcc code pointers, beside its records (runner/translate/tailcalls.py)
        self.tailcode = (ctypes.c_void_p * max(nfuncs, 1))()
        code = compiled.code
        own = {"wr.instance": self.address, "wr.funcrefs": self.funcrefs_address,
               "wr.tailcode": ctypes.addressof(self.tailcode),
               "wr.typeids": ctypes.addressof(self.typeids), "wr.hot": ctypes.addressof(code.hot),
               "wr_tierup": code.tierup_address}
        for i, mem in enumerate(self.memories):
            own[memory_symbol(i)] = mem.address
        for i, t in enumerate(self.tables):
            own[f"wr.table{i}"] = t.address
        for i, g in enumerate(self.globals):
            own[f"wr.g{i}"] = g.address
        for i in range(m.num_imported_funcs):
            own[f"wr.import{i}"] = self.functions[i].funcref_record()
        for i, tag in enumerate(self.tags):
            own[f"wr.tag{i}"] = tag.identity
        self._resolve = resolver(own, self.context.symbols, helper_symbols(), rt.symbols)
        self._agent = None if isinstance(agent, NullAgent) else agent
        self._mapped: list = []              # (unit, loader.LoadedImage), kept while the instance lives
        self._eh_frames: list[int] = []      # their registered unwind tables (runtime/exceptions.py)
        self._code_rank = [-1] * nfuncs
        self.code_addresses = [0] * nfuncs
        self._entries: dict[int, int] = {}
        self._install_lock = threading.RLock()
        self._stubs = None
        self._tail_listed = False
        if code.lazy:
            # Every function starts at a stub that compiles it on its first call.
            from .lazy import StubRegion
            first = m.num_imported_funcs
            self._stubs = StubRegion(first, nfuncs - first, self.address, rt.symbols["wr_lazy_entry"])
            # wr.tailcode's stubs: the index with TAIL_STUB set asks for the tailcc code
            self._tail_stubs = StubRegion(first | TAIL_STUB, nfuncs - first, self.address,
                                          rt.symbols["wr_lazy_entry"])
            rt.add_lazy_target(self.address, self._compile_on_first_call)
            if nfuncs > first:
                stubs = self._stubs.addresses()
                self.code_addresses[first:] = stubs
                store_words(self.funcrefs, FUNCREF_RECORD_WORDS * first + FUNCREF_CODE_FIELD, FUNCREF_RECORD_WORDS, stubs)
                store_words(self.tailcode, first, 1, self._tail_stubs.addresses())
        units = sorted(code.units, key=lambda u: u.rank)
        for unit in units:
            self._map_unit(unit)
        if 0 in self.code_addresses:
            raise LinkError(f"internal error: no code for function {self.code_addresses.index(0)}")
        self._announce(units, first=True)
        code.instances.add(self)

        # 4. Function objects: the defined functions' are made on first use (FunctionSpace).
        for i in range(m.num_imported_funcs):
            f = self.functions[i]
            entry = self._entries.get(i)
            if entry is not None:  # a re-exported import is called through this module's thunk
                self.functions[i] = Function(f.type, f.code, entry, self, f.name, keepalive=f,
                                             record=f.funcref_record(), type_module=f.type_module)
        self._keep_code_alive()

        # 5. Globals, then the defined tables' initialisers (3.0: every slot gets the value).
        for j, g in enumerate(m.global_inits):
            self.globals[m.num_imported_globals + j].bits = self.eval_const(g.init)
        for j, init in enumerate(m.table_inits):
            if init is not None:
                self.tables[m.num_imported_tables + j].fill_all(self.eval_const(init))

        # 6. Segments, then 7. start.
        self.elem_segments: list[list[int]] = [
            self._eval_elements(seg.init) if seg.mode == MODE_PASSIVE else [] for seg in m.elements]
        self.data_segments: list[bytes] = [d.data if d.mode == MODE_PASSIVE else b"" for d in m.data]
        for seg in m.elements:
            if seg.mode == MODE_ACTIVE:
                table = self.tables[seg.table_index]
                offset = self.eval_const(seg.offset)
                refs = self._eval_elements(seg.init)
                if offset + len(refs) > table.size:
                    raise Trap(TrapKind.TABLE_OUT_OF_BOUNDS)
                table.write(offset, refs)
        for seg in m.data:
            if seg.mode == MODE_ACTIVE:
                mem = self.memories[seg.memory_index]
                offset = self.eval_const(seg.offset)
                if offset + len(seg.data) > mem.size_bytes:
                    raise Trap(TrapKind.MEMORY_OUT_OF_BOUNDS)
                mem.write(offset, seg.data)
        self.exports: dict[str, Extern] = {}
        for e in m.exports:
            self.exports[e.name] = self._extern(e.kind, e.index)
        if m.start is not None:
            self.functions[m.start].call_raw([])

    # --- helpers ----------------------------------------------------------------------------
    def _make_function(self, i: int) -> Function:
        """The Function value of defined function ``i`` (its record is this instance's)."""
        return Function(self.module.func_type(i), self.code_addresses[i], self._entries.get(i), self,
                        functools.partial(self.compiled.display_name, i),
                        record=self.funcrefs_address + FUNCREF_RECORD_SIZE * i)

    def _keep_code_alive(self) -> None:
        """Tie this instance's lifetime (its native code) to every table and reference-typed
        global its function references can reach: its own and imported ones, and, through the
        functions it imports, those of the instances it calls (which may store a funcref passed
        to them).  A table then keeps alive the code of every function it can hold, also after
        its defining instance is gone or when this instantiation fails after writing into an
        imported table (the spec keeps those writes)."""
        cells: dict[int, Table | GlobalCell] = {}
        for t in self.tables:
            cells[id(t)] = t
        for g in self.globals:
            if is_ref(g.type.val_type):
                cells[id(g)] = g
        for f in self.functions[:self.module.num_imported_funcs]:
            if f.instance is self:        # the thunk of a re-exported import wraps the original
                f = f._keepalive
            callee = f.instance
            if callee is not None:
                cells.update(callee._reachable_cells)
        self._reachable_cells = cells
        for c in cells.values():
            c.keep_alive(self)

    def _extern(self, kind: int, index: int) -> Extern:
        if kind == KIND_FUNC:
            return self.functions[index]
        return {KIND_TABLE: self.tables, KIND_MEMORY: self.memories,
                KIND_GLOBAL: self.globals, KIND_TAG: self.tags}[kind][index]

    def eval_const(self, e: ConstExpr) -> int:
        """A constant expression's value as raw bits, in this instance."""
        return eval_const(e, self.globals, self.funcrefs_address)

    def _eval_elements(self, exprs: list[ConstExpr]) -> list[int]:
        """An element segment's values (``ref.func i``, by far the most common, inline)."""
        base = self.funcrefs_address
        return [base + FUNCREF_RECORD_SIZE * e.value if e.op == "ref.func" else self.eval_const(e) for e in exprs]

    # --- code ------------------------------------------------------------------------------
    def _map_unit(self, unit) -> None:
        """Map one code unit for this instance; its functions take over where it is the best tier."""
        try:
            mapped = unit.map(self._resolve)
        except KeyError as exc:
            raise LinkError(f"internal error: unresolved symbol {exc} in compiled code") from None
        self._mapped.append((unit, mapped))
        self._eh_frames.append(register_image(mapped))
        base = mapped.base
        NativeRuntime.get().add_code(base, base + mapped.size)   # before any of it can run
        ranges = []
        rank = unit.rank
        for i, (off, size) in unit.symbols.items():
            start = base + off
            ranges.append(coderanges.make_range(start, size, self, i, unit))
            if rank > self._code_rank[i]:
                self._code_rank[i] = rank
                adapter = unit.adapters.get(i)
                if adapter is not None:          # a tail module: records hold the C-convention adapter
                    self.tailcode[i] = start
                    start = base + adapter
                    if not self._tail_listed:    # other tail modules may now tail-call into it
                        self._tail_listed = True
                        NativeRuntime.get().add_tail_instance(
                            self.funcrefs_address, self.funcrefs_address + FUNCREF_RECORD_SIZE * len(self.code_addresses),
                            ctypes.addressof(self.tailcode))
                self.code_addresses[i] = start
                # one aligned 8-byte store: callers see old or new code
                self.funcrefs[FUNCREF_RECORD_WORDS * i + FUNCREF_CODE_FIELD] = start
        for i, off in unit.entries.items():
            self._entries.setdefault(i, base + off)
        coderanges.add(ranges)

    def _compile_on_first_call(self, func_index: int) -> int:
        """The lazy stubs' target (on the wasm thread): the function's code, compiled now
        (its tailcc code for a wr.tailcode stub, whose index has TAIL_STUB set)."""
        if func_index & TAIL_STUB:
            func_index &= ~TAIL_STUB
            self._compile_on_first_call(func_index)
            return self.tailcode[func_index]
        if self._code_rank[func_index] < 0:
            self.compiled.code.compile_lazily(func_index)
        if self._code_rank[func_index] < 0:   # another instance's batch: not mapped here yet
            raise LinkError(f"internal error: function {func_index} was compiled but not installed")
        return self.code_addresses[func_index]

    def __del__(self):
        try:
            NativeRuntime.get().when_unlocked(self._release)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _release(self) -> None:
        """Unlist and unmap what this instance registered (from __del__, outside the runtime's
        range writers: NativeRuntime.when_unlocked)."""
        if getattr(self, "_tail_listed", False):
            NativeRuntime.get().remove_tail_instance(self.funcrefs_address)
        if getattr(self, "_stubs", None) is not None:
            NativeRuntime.get().remove_lazy_target(self.address)
            self._stubs.close()
            self._tail_stubs.close()
        for addr in getattr(self, "_eh_frames", ()):
            deregister_image(addr)
        for _, mapped in getattr(self, "_mapped", ()):
            try:
                NativeRuntime.get().remove_code(mapped.base)
                mapped.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def install_unit(self, unit) -> None:
        """Tier-up (from the background thread): map ``unit`` and switch its functions to it."""
        with self._install_lock:
            self._map_unit(unit)
            self._announce([unit], first=False)

    def _announce(self, units, first: bool) -> None:
        agent = self._agent
        if agent is None:
            return   # names and line rows cost time; nobody asked for them
        compiled = self.compiled
        records = []
        for unit, mapped in self._mapped:
            if unit not in units:
                continue
            for i, (off, size) in sorted(unit.symbols.items()):
                start = mapped.base + off
                records.append((compiled.display_name(i), start, size, compiled.line_rows_for(unit, i, start),
                                unit.rows.get(i, ())))
            for i, off in unit.entries.items():
                records.append((f"wasirun::entry<{compiled.display_name(i)}>", mapped.base + off,
                                unit.entry_sizes.get(i, 1), [], None))
        with coderanges.lock:
            if not getattr(agent, "runtime_announced", False):
                # The runtime's code goes out with the first module's, not when the engine is made:
                # perf's time window for the run starts at the first record (runner/profiling/window.py).
                NativeRuntime.get().announce(agent)
                agent.runtime_announced = True
            # Names and line rows are worked out first (DWARF decoding can take a second), so the
            # records go out in one burst: the profile's time window then starts when the code runs.
            wasm_map = getattr(agent, "wasm_map", None)
            module = wasm_map.module_index(compiled) if wasm_map is not None else None
            for name, start, size, rows, wasm_rows in records:
                index = getattr(agent, "_code_index", None)   # perf inject names jitted-<pid>-<index>.so
                agent.register_function(name, start, size, rows)
                if module is not None and wasm_rows is not None:
                    wasm_map.code(module, name, start, size, wasm_rows, index)

    def frame_for(self, func_index: int, unit, native_offset: int) -> Frame:
        offset = unit.wasm_offset_at(func_index, native_offset)
        return Frame(func_index, self.compiled.display_name(func_index), offset,
                     self.compiled.source_location(offset) if offset is not None else None)
