"""Instantiation: link a compiled module's object with its imports, initialise, run start.

Follows the spec's order: resolve and type-check imports (LinkError), allocate
memories/tables/globals, link the native code, evaluate globals, apply element
then data segments in order (a failing segment traps; earlier writes persist),
then run the start function.
"""
from __future__ import annotations

import bisect
import functools
import ctypes
import operator
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from ..binary.module import (F32, F64, HT_EXN, HT_EXTERN, HT_NOEXN, HT_NOEXTERN, I32, I64, V128, KIND_FUNC, is_ref, KIND_GLOBAL, KIND_MEMORY, KIND_TAG,
                             KIND_TABLE, MODE_ACTIVE, MODE_PASSIVE, ConstExpr, FuncType, Limits)
from ..binary.subtype import canonical, canonical_functype, equivalent, matches
from ..errors import Frame, LinkError, Trap, TrapKind
from ..layout import (EXCEPTION_RETURN, FUNCREF_CODE_FIELD, FUNCREF_RECORD_SIZE, FUNCREF_RECORD_WORDS, FUNCREF_TYPE_ID_FIELD, FuncRefRecord,
                      memory_symbol, slot_offsets, slot_words)
from .. import typeids
from ..profiling.base import NullAgent
from .library import resolver
from .context import ExecContext
from .exceptions import Tag, deregister_image, exception_from_native, native_from_exception, register_image
from .native import DEFAULT_STACK_BUDGET, NativeRuntime
from .store import GlobalCell, Memory, Table

# --- type ids for call_indirect: equivalent types share an id across all instances ----------

def type_id(key) -> int:
    """The id of a function type's canonical form (``subtype.canonical``: a ``FuncType`` when
    it names no other type), the same for equivalent types of any module: a hash of the
    form, which the translator also writes into call_indirect (runner/typeids.py)."""
    try:
        return typeids.register(key)
    except typeids.TypeIdCollision as exc:
        raise LinkError(str(exc)) from None


# --- externref values: host objects behind small integer handles (0 = null) ---------------
_extern_objects: list[Any] = []
_extern_handles: dict[int, int] = {}


def externref_handle(obj: Any) -> int:
    if obj is None:
        return 0
    key = id(obj)
    h = _extern_handles.get(key)
    if h is None:
        _extern_objects.append(obj)
        h = _extern_handles[key] = len(_extern_objects)
    return h


def externref_object(handle: int) -> Any:
    return None if handle == 0 else _extern_objects[handle - 1]


@dataclass(frozen=True)
class FuncRef:
    """A non-null funcref value seen from Python: the address of its {code, type id} record.
    Callable like a Function, exported or not (runtime/callref.py)."""
    address: int

    @property
    def type(self) -> FuncType:
        from .callref import type_of_record
        return type_of_record(self.address)

    def call_raw(self, args: list[int]) -> list[int]:
        from .callref import call_record
        return call_record(self.address, args)

    def __call__(self, *args):
        return Function.__call__(self, *args)


_U64 = 0xFFFFFFFFFFFFFFFF
# The arithmetic of extended constant expressions, on unsigned bits: (result mask, operation).
_CONST_ARITH = {"i32.add": (0xFFFFFFFF, operator.add), "i32.sub": (0xFFFFFFFF, operator.sub),
                "i32.mul": (0xFFFFFFFF, operator.mul), "i64.add": (_U64, operator.add),
                "i64.sub": (_U64, operator.sub), "i64.mul": (_U64, operator.mul)}
TAIL_STUB = 1 << 31   # a lazy stub's index bit: the caller wants the tailcc code (wr.tailcode)


class Function:
    """A function value: wasm code of an instance, or a host function."""

    def __init__(self, ft: FuncType, code: int, entry: int | None = None, instance: "Instance | None" = None,
                 name: str = "", keepalive: Any = None, record: int | None = None, type_module=None):
        self.type = ft
        # the module whose type indices ``ft`` uses (typed references in the signature)
        self.type_module = type_module if type_module is not None else getattr(instance, "module", None)
        self.code = code          # native address, wasm calling convention (for a host function)
        self.entry = entry        # wr.call<N> wrapper, if callable from Python
        self.instance = instance
        self._name = name         # a str, or a callable giving it (demangling is done on demand)
        self._keepalive = keepalive
        self._record = None
        self._record_address = record   # an instance's {code, type id} record: its code may change tier

    @property
    def name(self) -> str:
        if callable(self._name):
            self._name = self._name()
        return self._name

    def funcref_record(self) -> int:
        """The function's {code, type id} record: what tables hold and what callers load the
        code pointer from (so they follow a tier-up)."""
        if self._record_address is not None:
            return self._record_address
        if self._record is None:
            self._record = FuncRefRecord(self.code, type_id(self.type_key))
            from .callref import register_host_record
            register_host_record(ctypes.addressof(self._record), self)
        return ctypes.addressof(self._record)

    @property
    def type_key(self):
        """The canonical form of the function's type (compared across modules)."""
        return canonical_functype(self.type, self.type_module)

    def call_raw(self, args: list[int]) -> list[int]:
        """Call with raw bit patterns (ints; refs as addresses/handles; a v128 as a 128-bit
        int); returns raw results."""
        if self.entry is None:
            raise TypeError(f"function {self.name or '?'} cannot be called from the host")
        ft = self.type
        n = max(sum(map(slot_words, ft.params)), sum(map(slot_words, ft.results)), 1)
        slots = (ctypes.c_uint64 * n)()
        for t, v, at in zip(ft.params, args, slot_offsets(ft.params)):
            if t == V128:
                slots[at], slots[at + 1] = v & _U64, (v >> 64) & _U64
            else:
                slots[at] = v & (0xFFFFFFFF if t in (I32, F32) else _U64)
        code = self.instance.context.call(self.entry, ctypes.addressof(slots))
        if code:
            raise_trap(code, self.instance, slots)
        out = []
        for t, at in zip(ft.results, slot_offsets(ft.results)):
            v = slots[at]
            if t == V128:
                out.append(v | slots[at + 1] << 64)
            else:
                out.append(v & 0xFFFFFFFF if t in (I32, F32) else v)
        return out

    def __call__(self, *args):
        ft = self.type
        if len(args) != len(ft.params):
            raise TypeError(f"expected {len(ft.params)} arguments, got {len(args)}")
        raw = [to_raw(t, a) for t, a in zip(ft.params, args)]
        res = [from_raw(t, r) for t, r in zip(ft.results, self.call_raw(raw))]
        return res[0] if len(res) == 1 else (None if not res else res)


def to_raw(t: int, v: Any) -> int:
    import struct
    if t == I32 or t == I64:
        return int(v)
    if t == V128:
        return int(v) & (1 << 128) - 1
    if t == F32:
        return struct.unpack("<I", struct.pack("<f", v))[0] if isinstance(v, float) else int(v)
    if t == F64:
        return struct.unpack("<Q", struct.pack("<d", v))[0] if isinstance(v, float) else int(v)
    if is_extern_ref(t):
        return externref_handle(v)
    if is_exn_ref(t):   # an exnref crosses as the WasmException it holds
        return 0 if v is None else native_from_exception(v)
    if is_ref(t):
        if v is None:
            return 0
        return v.address if isinstance(v, FuncRef) else v.funcref_record()
    raise TypeError(t)


def from_raw(t: int, r: int) -> Any:
    import struct
    if t == I32:
        return r - (1 << 32) if r >> 31 else r
    if t == I64:
        return r - (1 << 64) if r >> 63 else r
    if t == F32:
        return struct.unpack("<f", struct.pack("<I", r))[0]
    if t == F64:
        return struct.unpack("<d", struct.pack("<Q", r))[0]
    if t == V128:
        return r     # the unsigned 128-bit value, lane 0 in the low bits
    if is_extern_ref(t):
        return externref_object(r)
    if is_exn_ref(t):
        return None if r == 0 else exception_from_native(r)
    return None if r == 0 else FuncRef(r)


def is_exn_ref(t) -> bool:
    """exnref, nullexnref and (ref exn): values are exception objects (runtime/exceptions.py)."""
    return is_ref(t) and t.heap in (HT_EXN, HT_NOEXN)


def is_extern_ref(t) -> bool:
    """externref, nullexternref and (ref extern): values are host objects."""
    return is_ref(t) and t.heap in (HT_EXTERN, HT_NOEXTERN)


_CTYPE = {I32: ctypes.c_uint32, I64: ctypes.c_uint64, F32: ctypes.c_float, F64: ctypes.c_double}


def _ctype(t):
    return ctypes.c_void_p if is_ref(t) else _CTYPE[t]


def host_function(ft: FuncType, fn: Callable, name: str = "host") -> Function:
    """Wrap a Python callable as a wasm function. Exceptions stop the wasm code and re-raise
    in the caller of the wasm entry point (see NativeRuntime.set_pending)."""
    if len(ft.results) > 1:
        raise LinkError(f"host function {name}: multiple results are not supported")
    if V128 in ft.params or V128 in ft.results:
        raise LinkError(f"host function {name}: v128 parameters and results are not supported")
    restype = _ctype(ft.results[0]) if ft.results else None
    cfunctype = ctypes.CFUNCTYPE(restype, *[_ctype(t) for t in ft.params])
    rt = NativeRuntime.get()
    if ft.results:
        mask = 0xFFFFFFFF if ft.results[0] == I32 else 0xFFFFFFFFFFFFFFFF
        is_int = ft.results[0] in (I32, I64)

        def trampoline(*args):
            try:
                r = fn(*args)
                return (r or 0) & mask if is_int else r
            except BaseException as exc:  # noqa: BLE001 - must never propagate into native code
                rt.set_pending(exc)
                return 0
    else:
        def trampoline(*args):
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001
                rt.set_pending(exc)
    cb = cfunctype(trampoline)
    return Function(ft, ctypes.cast(cb, ctypes.c_void_p).value, None, None, name, keepalive=(cb, trampoline))


# --- traps ------------------------------------------------------------------------------------
# (start, end, serial, instance, func, unit): every mapped copy of every function, for backtraces
_code_ranges: list[tuple[int, int, int, "weakref.ref[Instance]", int, Any]] = []
_code_lock = threading.Lock()
_serial = iter(range(1 << 62))


def raise_trap(code: int, instance: "Instance | None", slots=None) -> None:
    """Raise what a non-zero wr_enter result means: the Trap, the host's exception, or the wasm
    exception that left the code (EXCEPTION_RETURN: the object is in ``slots[0]``)."""
    if code == EXCEPTION_RETURN and slots is not None:
        raise exception_from_native(slots[0])
    rt = NativeRuntime.get()
    pcs = rt.take_backtrace()
    if code == TrapKind.HOST_EXCEPTION:
        exc = rt.take_pending()
        if exc is not None:
            raise exc
    rt.take_pending()
    frames = []
    with _code_lock:
        ranges = list(_code_ranges)
    starts = [r[0] for r in ranges]
    for pc in pcs:
        i = bisect.bisect_right(starts, pc - 1) - 1
        if i >= 0:
            start, end, _, inst_ref, idx, unit = ranges[i]
            inst = inst_ref()
            if start <= pc - 1 < end and inst is not None:
                frames.append(inst.frame_for(idx, unit, pc - 1 - start))
    raise Trap(TrapKind(code), frames)


# --- runtime helpers called from generated code -------------------------------------------
_memories: "weakref.WeakValueDictionary[int, Memory]" = weakref.WeakValueDictionary()
_tables: "weakref.WeakValueDictionary[int, Table]" = weakref.WeakValueDictionary()
_instances: "weakref.WeakValueDictionary[int, Instance]" = weakref.WeakValueDictionary()


def register_memory(mem: Memory) -> Memory:
    _memories[mem.address] = mem
    return mem


def register_table(table: Table) -> Table:
    _tables[table.address] = table
    return table


def _guard(fn, failure):
    def wrapped(*args):
        try:
            return fn(*args)
        except BaseException as exc:  # noqa: BLE001 - never into native code
            NativeRuntime.get().set_pending(exc)
            return failure
    return wrapped


def _memory_grow(record, delta):
    return _memories[record].grow(delta)


def _memory_init(inst, seg, dst, src, n):
    inst = _instances[inst]
    return inst.memory_init(inst.memories[0], seg, dst, src, n)


def _memory_init_at(inst, record, seg, dst, src, n):
    return _instances[inst].memory_init(_memories[record], seg, dst, src, n)


def _data_drop(inst, seg):
    _instances[inst].data_segments[seg] = b""


def _table_grow(record, init, n):
    return _tables[record].grow(n, init or 0)


def _table_grow64(record, init, n):
    old = _tables[record].grow(n, init or 0)
    return old if old >= 0 else _U64   # -1 as a u64 (the ctypes return type is unsigned)


def _table_fill(record, start, value, n):
    t = _tables[record]
    if start + n > t.size:
        return int(TrapKind.TABLE_OUT_OF_BOUNDS)
    for i in range(start, start + n):
        t.set(i, value or 0)
    return 0


def _table_copy(dst_rec, src_rec, d, s, n):
    dst, src = _tables[dst_rec], _tables[src_rec]
    if s + n > src.size or d + n > dst.size:
        return int(TrapKind.TABLE_OUT_OF_BOUNDS)
    vals = [src.get(i) for i in range(s, s + n)]
    for i, v in enumerate(vals):
        dst.set(d + i, v)
    return 0


def _table_init(inst, table_rec, elem, d, s, n):
    return _instances[inst].table_init(_tables[table_rec], elem, d, s, n)


def _elem_drop(inst, elem):
    _instances[inst].elem_segments[elem] = []


_u32, _ptr, _i32, _u64, _i64 = ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_uint64, ctypes.c_int64
_HELPER_TYPES = {
    "wr_memory_grow": (ctypes.CFUNCTYPE(_i32, _ptr, _u32), _memory_grow, -1),
    "wr_memory_init": (ctypes.CFUNCTYPE(_i32, _ptr, _u32, _u32, _u32, _u32), _memory_init, int(TrapKind.HOST_EXCEPTION)),
    # multi-memory and memory64 (translate/memory.py DECLARATIONS): u64 addresses and deltas
    "wr_memory_grow64": (ctypes.CFUNCTYPE(_i64, _ptr, _u64), _memory_grow, -1),
    "wr_memory_init_at": (ctypes.CFUNCTYPE(_i32, _ptr, _ptr, _u32, _u64, _u32, _u32), _memory_init_at,
                          int(TrapKind.HOST_EXCEPTION)),
    # table64 (translate/tables.py DECLARATIONS): u64 indices and lengths
    "wr_table_grow64": (ctypes.CFUNCTYPE(_u64, _ptr, _ptr, _u64), _table_grow64, _U64),
    "wr_table_fill64": (ctypes.CFUNCTYPE(_i32, _ptr, _u64, _ptr, _u64), _table_fill, int(TrapKind.HOST_EXCEPTION)),
    "wr_table_copy64": (ctypes.CFUNCTYPE(_i32, _ptr, _ptr, _u64, _u64, _u64), _table_copy, int(TrapKind.HOST_EXCEPTION)),
    "wr_table_init64": (ctypes.CFUNCTYPE(_i32, _ptr, _ptr, _u32, _u64, _u64, _u64), _table_init,
                        int(TrapKind.HOST_EXCEPTION)),
    "wr_data_drop": (ctypes.CFUNCTYPE(None, _ptr, _u32), _data_drop, None),
    "wr_table_grow": (ctypes.CFUNCTYPE(_i32, _ptr, _ptr, _u32), _table_grow, -1),
    "wr_table_fill": (ctypes.CFUNCTYPE(_i32, _ptr, _u32, _ptr, _u32), _table_fill, int(TrapKind.HOST_EXCEPTION)),
    "wr_table_copy": (ctypes.CFUNCTYPE(_i32, _ptr, _ptr, _u32, _u32, _u32), _table_copy, int(TrapKind.HOST_EXCEPTION)),
    "wr_table_init": (ctypes.CFUNCTYPE(_i32, _ptr, _ptr, _u32, _u32, _u32, _u32), _table_init, int(TrapKind.HOST_EXCEPTION)),
    "wr_elem_drop": (ctypes.CFUNCTYPE(None, _ptr, _u32), _elem_drop, None),
}
_helpers: dict[str, Any] = {}


def helper_symbols() -> dict[str, int]:
    if not _helpers:
        for name, (cft, fn, failure) in _HELPER_TYPES.items():
            _helpers[name] = cft(_guard(fn, failure))
    return {name: ctypes.cast(cb, ctypes.c_void_p).value for name, cb in _helpers.items()}


# --- the instance ---------------------------------------------------------------------------
Extern = Any  # Function | Memory | Table | GlobalCell


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
        self.functions: list[Function | None] = []
        self.memories: list[Memory] = []
        self.tables: list[Table] = []
        self.globals: list[GlobalCell] = []
        self.tags: list[Tag] = []
        max_memory = getattr(limits, "max_memory", None)

        # 1. Imports, with the spec's subtyping rules.
        for imp in m.imports:
            ext = imports(imp.module, imp.name)
            what = f"{imp.module}::{imp.name}"
            if ext is None:
                raise LinkError(f"unknown import: `{what}` has not been defined")
            if imp.kind == KIND_FUNC:
                want = m.types[imp.desc]
                if not isinstance(ext, Function) or ext.type_key != canonical(m, imp.desc):
                    got = ext.type if isinstance(ext, Function) else _kind_of(ext)
                    raise LinkError(f"incompatible import type for `{what}`: expected func of type {want}, found {got}")
                self.functions.append(ext)
            elif imp.kind == KIND_MEMORY:
                if (not isinstance(ext, Memory) or ext.type.is64 != imp.desc.is64
                        or not _limits_match(ext.pages, ext.type.limits.max, imp.desc.limits)):
                    raise LinkError(f"incompatible import type for `{what}`: memory limits or kind do not match")
                self.memories.append(ext)
            elif imp.kind == KIND_TABLE:
                if (not isinstance(ext, Table) or ext.type.is64 != imp.desc.is64
                        or not equivalent(ext.type.elem_type, ext.type_module, imp.desc.elem_type, m)
                        or not _limits_match(ext.size, ext.type.limits.max, imp.desc.limits)):
                    raise LinkError(f"incompatible import type for `{what}`: table type or limits do not match")
                self.tables.append(ext)
            elif imp.kind == KIND_GLOBAL:
                if not isinstance(ext, GlobalCell) or not _global_matches(ext, imp.desc, m):
                    raise LinkError(f"incompatible import type for `{what}`: global type or mutability does not match")
                self.globals.append(ext)
            elif imp.kind == KIND_TAG:
                want = m.types[imp.desc]
                if not isinstance(ext, Tag) or ext.type_key != canonical(m, imp.desc):
                    got = ext.type if isinstance(ext, Tag) else _kind_of(ext)
                    raise LinkError(f"incompatible import type for `{what}`: expected tag of type {want}, found {got}")
                self.tags.append(ext)

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
        _instances[self.address] = self
        nfuncs = len(m.func_types)
        self.typeids = (ctypes.c_uint64 * max(len(m.types), 1))(*[type_id(canonical(m, i))
                                                                  for i in range(len(m.types))])
        # wr.funcrefs as flat u64 words (layout.FUNCREF_RECORD_WORDS per record)
        self.funcrefs = (ctypes.c_uint64 * (FUNCREF_RECORD_WORDS * max(nfuncs, 1)))()
        self.funcrefs_address = ctypes.addressof(self.funcrefs)
        for i in range(nfuncs):
            self.funcrefs[FUNCREF_RECORD_WORDS * i + FUNCREF_TYPE_ID_FIELD] = self.typeids[m.func_types[i]]
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
            for i in range(first, nfuncs):
                stub = self.code_addresses[i] = self._stubs.address(i)
                self.funcrefs[FUNCREF_RECORD_WORDS * i + FUNCREF_CODE_FIELD] = stub
                self.tailcode[i] = self._tail_stubs.address(i | TAIL_STUB)
        units = sorted(code.units, key=lambda u: u.rank)
        for unit in units:
            self._map_unit(unit)
        missing = [i for i in range(nfuncs) if not self.code_addresses[i]]
        if missing:
            raise LinkError(f"internal error: no code for function {missing[0]}")
        self._announce(units, first=True)
        code.instances.add(self)

        # 4. Function objects.
        for i in range(m.num_imported_funcs, nfuncs):
            entry = self._entries.get(i)
            self.functions.append(Function(m.func_type(i), self.code_addresses[i], entry, self,
                                           functools.partial(compiled.display_name, i),
                                           record=self.funcrefs_address + FUNCREF_RECORD_SIZE * i))
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
            [self.eval_const(e) for e in seg.init] if seg.mode == MODE_PASSIVE else [] for seg in m.elements]
        self.data_segments: list[bytes] = [d.data if d.mode == MODE_PASSIVE else b"" for d in m.data]
        for seg in m.elements:
            if seg.mode == MODE_ACTIVE:
                table = self.tables[seg.table_index]
                offset = self.eval_const(seg.offset)
                refs = [self.eval_const(e) for e in seg.init]
                if offset + len(refs) > table.size:
                    raise Trap(TrapKind.TABLE_OUT_OF_BOUNDS)
                for k, r in enumerate(refs):
                    table.set(offset + k, r)
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
        return {KIND_FUNC: self.functions, KIND_TABLE: self.tables, KIND_MEMORY: self.memories,
                KIND_GLOBAL: self.globals, KIND_TAG: self.tags}[kind][index]

    def eval_const(self, e: ConstExpr) -> int:
        """A constant expression's value as raw bits (globals, segment offsets, element
        expressions, table initialisers all come here)."""
        if e.op != "seq":
            return self._eval_instr(e)
        # Extended constant expressions: a validated sequence, run on a small stack.
        stack: list[int] = []
        for ins in e.value:
            arith = _CONST_ARITH.get(ins.op)
            if arith is None:
                stack.append(self._eval_instr(ins))
            else:
                mask, fn = arith
                b = stack.pop()
                stack.append(fn(stack.pop(), b) & mask)
        return stack[-1]

    def _eval_instr(self, e: ConstExpr) -> int:
        if e.op == "global.get":
            return self.globals[e.value].bits
        if e.op == "ref.func":
            return self.funcrefs_address + FUNCREF_RECORD_SIZE * e.value
        if e.op == "ref.null":
            return 0
        return e.value

    def memory_init(self, mem: Memory, seg: int, dst: int, src: int, n: int) -> int:
        data = self.data_segments[seg]
        if src + n > len(data) or dst + n > mem.size_bytes:
            return int(TrapKind.MEMORY_OUT_OF_BOUNDS)
        if n:
            mem.write(dst, data[src:src + n])
        return 0

    def table_init(self, table: Table, elem: int, d: int, s: int, n: int) -> int:
        refs = self.elem_segments[elem]
        if s + n > len(refs) or d + n > table.size:
            return int(TrapKind.TABLE_OUT_OF_BOUNDS)
        for k in range(n):
            table.set(d + k, refs[s + k])
        return 0

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
        for i, (off, size) in unit.symbols.items():
            start = base + off
            ranges.append((start, start + max(size, 1), next(_serial), weakref.ref(self), i, unit))
            if unit.rank > self._code_rank[i]:
                self._code_rank[i] = unit.rank
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
        with _code_lock:
            # Forget the code of instances that are gone: this unit may be mapped where theirs
            # was, and a lookup that found their stale range would miss this one (a lazily
            # compiled unit comes long after the instance's first).
            _code_ranges[:] = [r for r in _code_ranges if r[3]() is not None]
            if len(ranges) > 64:
                _code_ranges[:] = sorted(_code_ranges + ranges)
            else:
                for r in ranges:
                    bisect.insort(_code_ranges, r)

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
        with _code_lock:
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


def _global_matches(ext: GlobalCell, want, m) -> bool:
    """An imported global's type: the same mutability; a mutable one the same value type, an
    immutable one a subtype (3.0)."""
    have = ext.type
    if have.mutable != want.mutable:
        return False
    if have.mutable:
        return equivalent(have.val_type, ext.type_module, want.val_type, m)
    return matches(have.val_type, want.val_type, ext.type_module, m)


def _kind_of(ext) -> str:
    for cls, name in ((Memory, "memory"), (Table, "table"), (GlobalCell, "global"), (Function, "func"), (Tag, "tag")):
        if isinstance(ext, cls):
            return name
    return type(ext).__name__


def _limits_match(cur_min: int, cur_max: int | None, want: Limits) -> bool:
    if cur_min < want.min:
        return False
    if want.max is None:
        return True
    return cur_max is not None and cur_max <= want.max
