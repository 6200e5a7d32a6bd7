"""Runtime objects shared by reference between instances: memories, tables, globals.

Each owns a small C record that generated code reads through its ``wr.*``
symbol, so importing one into another instance is just passing the same
record address.
"""
from __future__ import annotations

import ctypes
import itertools
import mmap
from array import array

from ..binary.module import F32, HT_EXN, HT_NOEXN, I32, V128, GlobalType, MemoryType, RefType, TableType
from ..layout import GLOBAL_CELL, TABLE_ELEMENT_SIZE, MemoryRecord, TableRecord
from .exceptions import HEAP


def store_words(words, start: int, step: int, values) -> None:
    """``words[start::step] = values`` for a ctypes array of 8-byte elements (u64, pointers),
    as one strided copy: per element through ctypes it is ~70 ns, Yosys has 34k functions."""
    values = array("Q", values)
    with memoryview(words) as raw, raw.cast("B") as flat, flat.cast("Q") as u64:
        u64[start:start + step * len(values):step] = values


def _holds_exnrefs(t) -> bool:
    return type(t) is RefType and t.heap in (HT_EXN, HT_NOEXN)

PAGE = 65536
MAX_PAGES = 65536
GUARDED_RESERVATION = (8 << 30) + 2 * PAGE   # 2**32 + 2**32 + the widest access, rounded up
# A 64-bit memory's base cannot move either (code loads it once per function), so it reserves
# its whole maximum: the declared one, capped by --max-memory, and by this when neither is
# smaller (16 GiB: wasmtime lets a 64-bit memory grow as far as the host allows, moving it
# past its 4 GiB reservation; ours stays put, so the reservation is the limit).
MEMORY64_MAX_PAGES = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value
_MAP_NORESERVE = 0x4000


class Memory:
    """A linear memory: the whole reachable range is reserved once, so the base never moves."""

    def __init__(self, mem_type: MemoryType, max_bytes: int | None = None):
        self.type = mem_type
        cap = MEMORY64_MAX_PAGES if mem_type.is64 else MAX_PAGES
        limit = min(mem_type.limits.max, cap) if mem_type.limits.max is not None else cap
        if max_bytes is not None:
            limit = min(limit, max_bytes // PAGE)
        self.max_pages = limit
        if mem_type.is64:
            # Every access is bounds-checked by the code: reserve the maximum, no guard region.
            self.reserved = max(limit, 1) * PAGE
        else:
            # Reserve every address wasm code can form (a u32 address plus a u32 offset plus
            # the access size), so that all accesses past the committed size land on
            # PROT_NONE pages and fault: the generated code needs no bounds checks.
            self.reserved = GUARDED_RESERVATION
        base = _libc.mmap(None, self.reserved, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE, -1, 0)
        if base in (None, _MAP_FAILED):
            raise MemoryError(f"cannot reserve {self.reserved} bytes of address space for a linear memory")
        self.record = MemoryRecord(base, 0)
        self.address = ctypes.addressof(self.record)
        self._view: memoryview | None = None
        self._view_size = -1
        from .native import NativeRuntime
        self._runtime = NativeRuntime.get()
        try:
            self._runtime.add_guarded(base, base + self.reserved)
        except MemoryError:
            _libc.munmap(base, self.reserved)
            self.record.base = None
            raise
        if mem_type.limits.min > self.max_pages:
            raise MemoryError(f"memory minimum of {mem_type.limits.min} pages exceeds the limit of {self.max_pages}")
        if self.grow(mem_type.limits.min) < 0:
            raise MemoryError("cannot commit the initial linear memory")

    @property
    def base(self) -> int:
        return self.record.base

    @property
    def size_bytes(self) -> int:
        return self.record.size

    @property
    def pages(self) -> int:
        return self.record.size // PAGE

    def grow(self, delta: int) -> int:
        """memory.grow: the old size in pages, or -1."""
        old = self.pages
        new = old + delta   # delta: a u32, or a u64 for a 64-bit memory
        if new > self.max_pages:
            return -1
        if delta:
            if _libc.mprotect(self.base + old * PAGE, delta * PAGE, mmap.PROT_READ | mmap.PROT_WRITE) != 0:
                return -1
            self.record.size = new * PAGE
        return old

    def view(self) -> memoryview:
        """A writable view of the current memory; take a new one after memory.grow.

        The view is made once per size: host calls (fd_write for every println!) ask
        for it each time, and building a ctypes array per call was their largest cost.
        """
        size = self.record.size
        if self._view_size != size:
            self._view = (memoryview((ctypes.c_ubyte * size).from_address(self.base)).cast("B")
                          if size else memoryview(bytearray()))
            self._view_size = size
        return self._view

    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or addr + n > self.record.size:
            raise IndexError("out of bounds memory access")
        return ctypes.string_at(self.base + addr, n)

    def write(self, addr: int, data: bytes) -> None:
        if addr < 0 or addr + len(data) > self.record.size:
            raise IndexError("out of bounds memory access")
        ctypes.memmove(self.base + addr, data, len(data))

    def __del__(self):
        try:
            self._runtime.when_unlocked(self._release)   # not inside a range writer: see there
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _release(self) -> None:
        try:
            if self.record.base:
                self._runtime.remove_guarded(self.record.base)
                _libc.munmap(self.record.base, self.reserved)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Table:
    """A table of references: funcref = address of a ``{code, type id}`` record, 0 = null."""

    def __init__(self, table_type: TableType, init: int = 0, max_elements: int | None = None):
        self.type = table_type
        cap = 2**64 - 1 if table_type.is64 else 2**32 - 1   # the index type's range; grow stops at 10M anyway
        limit = min(table_type.limits.max, cap) if table_type.limits.max is not None else cap
        if max_elements is not None:
            limit = min(limit, max_elements)
        self.max = limit
        self.record = TableRecord(None, 0)
        self.address = ctypes.addressof(self.record)
        self._arrays = []  # keep every array alive: a grow swaps the pointer while wasm may hold the old one
        self._owners: dict[int, object] = {}   # see keep_alive
        self._capacity = 0
        if self.grow(table_type.limits.min, init) < 0:
            raise MemoryError("table too large")
        if _holds_exnrefs(table_type.elem_type):
            HEAP.tables.add(self)     # a root of the exnref collector

    @property
    def size(self) -> int:
        return self.record.size

    def _elements(self):
        return (ctypes.c_void_p * self._capacity).from_address(self.record.elements) if self._capacity else None

    def grow(self, delta: int, init: int = 0) -> int:
        old = self.record.size
        new = old + delta
        if new > self.max or new > 10_000_000:
            return -1
        if new > self._capacity:
            capacity = max(new, min(self.max, old * 2, 10_000_000), 16)
            arr = (ctypes.c_void_p * capacity)()
            if old:
                ctypes.memmove(arr, self.record.elements, old * TABLE_ELEMENT_SIZE)
            self._arrays.append(arr)
            self._capacity = capacity
            self.record.elements = ctypes.addressof(arr)
        if new > old and init:
            store_words(self._elements(), old, 1, itertools.repeat(init, new - old))
        elif new > old:    # no temporary array for a large grow to null
            ctypes.memset(self.record.elements + old * TABLE_ELEMENT_SIZE, 0, (new - old) * TABLE_ELEMENT_SIZE)
        self.record.size = new
        return old

    type_module = None   # the module whose type indices ``type`` uses (set by the instance)

    def fill_all(self, value: int) -> None:
        """Set every element (a 3.0 table's initialiser expression)."""
        if self.record.size:
            store_words(self._elements(), 0, 1, itertools.repeat(value or 0, self.record.size))

    def keep_alive(self, owner: object) -> None:
        """Keep ``owner`` (an Instance) alive while this table lives: the table may hold
        references to its functions, whose code is unloaded with the instance."""
        self._owners[id(owner)] = owner

    def get(self, i: int) -> int:
        if not 0 <= i < self.record.size:
            raise IndexError
        return self._elements()[i] or 0

    def set(self, i: int, value: int) -> None:
        if not 0 <= i < self.record.size:
            raise IndexError
        self._elements()[i] = value or None

    def write(self, offset: int, values: list[int]) -> None:
        """Set elements ``offset ..`` to ``values`` (an active element segment: 10k in Yosys)."""
        if offset < 0 or offset + len(values) > self.record.size:
            raise IndexError
        if values:
            store_words(self._elements(), offset, 1, values)


class GlobalCell:
    """An 8-byte cell holding a global's raw bits (floats as their integer bit patterns);
    16 bytes for a v128, low half first."""

    def __init__(self, global_type: GlobalType, bits: int = 0):
        self.type = global_type
        self.cell = (ctypes.c_uint64 * 2)() if global_type.val_type == V128 else GLOBAL_CELL(0)
        self.address = ctypes.addressof(self.cell)
        self._owners: dict[int, object] = {}   # instances whose funcrefs this cell may hold
        self.type_module = None                # the module whose type indices ``type`` uses
        self.bits = bits
        if _holds_exnrefs(global_type.val_type):
            HEAP.globals.add(self)    # a root of the exnref collector

    @property
    def bits(self) -> int:
        t = self.type.val_type
        if t == V128:
            return self.cell[0] | self.cell[1] << 64
        v = self.cell.value
        return v & 0xFFFFFFFF if t in (I32, F32) else v

    @bits.setter
    def bits(self, value: int) -> None:
        t = self.type.val_type
        if t == V128:
            self.cell[0], self.cell[1] = value & 0xFFFFFFFFFFFFFFFF, (value >> 64) & 0xFFFFFFFFFFFFFFFF
            return
        self.cell.value = value & (0xFFFFFFFF if t in (I32, F32) else 0xFFFFFFFFFFFFFFFF)

    def keep_alive(self, owner: object) -> None:
        """Like Table.keep_alive: a funcref global may hold references to ``owner``'s functions."""
        self._owners[id(owner)] = owner

