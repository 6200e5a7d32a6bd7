"""The runtime's Python helpers that generated code calls (memory.grow, memory.init,
data.drop, table.grow/fill/copy/init, elem.drop), and the registries they find their
memories, tables and instances in (by the address the code passes).

Each helper is a ctypes callback that never lets an exception into native code: it leaves it
pending (``NativeRuntime.set_pending``) and returns its failure value.
"""
from __future__ import annotations

import ctypes
import weakref
from typing import Any

from ..errors import TrapKind
from .native import NativeRuntime
from .store import Memory, Table
from .values import U64

_memories: "weakref.WeakValueDictionary[int, Memory]" = weakref.WeakValueDictionary()
_tables: "weakref.WeakValueDictionary[int, Table]" = weakref.WeakValueDictionary()
_instances: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()   # address -> Instance


def register_memory(mem: Memory) -> Memory:
    _memories[mem.address] = mem
    return mem


def register_table(table: Table) -> Table:
    _tables[table.address] = table
    return table


def register_instance(instance) -> None:
    """The helpers' ``inst`` argument is ``instance.address`` (its ``wr.instance`` symbol)."""
    _instances[instance.address] = instance


def live_instances() -> list:
    return list(_instances.values())


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


def memory_init(mem: Memory, data: bytes, dst: int, src: int, n: int) -> int:
    """memory.init of a (passive) data segment's bytes: 0, or the trap code."""
    if src + n > len(data) or dst + n > mem.size_bytes:
        return int(TrapKind.MEMORY_OUT_OF_BOUNDS)
    if n:
        mem.write(dst, data[src:src + n])
    return 0


def _memory_init(inst, seg, dst, src, n):
    inst = _instances[inst]
    return memory_init(inst.memories[0], inst.data_segments[seg], dst, src, n)


def _memory_init_at(inst, record, seg, dst, src, n):
    return memory_init(_memories[record], _instances[inst].data_segments[seg], dst, src, n)


def _data_drop(inst, seg):
    _instances[inst].data_segments[seg] = b""


def _table_grow(record, init, n):
    return _tables[record].grow(n, init or 0)


def _table_grow64(record, init, n):
    old = _tables[record].grow(n, init or 0)
    return old if old >= 0 else U64   # -1 as a u64 (the ctypes return type is unsigned)


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
    table, refs = _tables[table_rec], _instances[inst].elem_segments[elem]
    if s + n > len(refs) or d + n > table.size:
        return int(TrapKind.TABLE_OUT_OF_BOUNDS)
    for k in range(n):
        table.set(d + k, refs[s + k])
    return 0


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
    "wr_table_grow64": (ctypes.CFUNCTYPE(_u64, _ptr, _ptr, _u64), _table_grow64, U64),
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
