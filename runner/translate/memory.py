"""Linear memory instructions: loads, stores, size, grow and the bulk operations.

Loads and stores are not checked: the whole range a u32 address plus a u32 offset can
form is reserved up front (runtime/store.py), every page past the committed size is
PROT_NONE, and the runtime's SIGSEGV handler turns a fault there into the trap
(``load``/``store`` say what keeps every such fault where wasm puts it).  The base
pointer therefore never moves, so its load is ``!invariant.load``.  The bulk
operations check their ranges explicitly (the spec forbids a partial write).
"""
from __future__ import annotations

from ..errors import TrapKind
from ..layout import TBAA_HEAP_TAG

# code: (value type, bytes accessed, in-memory integer type or None, extension)
_LOADS = {
    0x28: ("i32", 4, None, None), 0x29: ("i64", 8, None, None),
    0x2A: ("float", 4, None, None), 0x2B: ("double", 8, None, None),
    0x2C: ("i32", 1, "i8", "sext"), 0x2D: ("i32", 1, "i8", "zext"),
    0x2E: ("i32", 2, "i16", "sext"), 0x2F: ("i32", 2, "i16", "zext"),
    0x30: ("i64", 1, "i8", "sext"), 0x31: ("i64", 1, "i8", "zext"),
    0x32: ("i64", 2, "i16", "sext"), 0x33: ("i64", 2, "i16", "zext"),
    0x34: ("i64", 4, "i32", "sext"), 0x35: ("i64", 4, "i32", "zext"),
}
_STORES = {
    0x36: ("i32", 4, None), 0x37: ("i64", 8, None), 0x38: ("float", 4, None), 0x39: ("double", 8, None),
    0x3A: ("i32", 1, "i8"), 0x3B: ("i32", 2, "i16"),
    0x3C: ("i64", 1, "i8"), 0x3D: ("i64", 2, "i16"), 0x3E: ("i64", 4, "i32"),
}


def effective_address(fx, addr: str, offset: int, size: int) -> str:
    """A pointer to ``addr + offset`` in memory 0.

    With guard pages (the default) nothing is checked here: the memory's
    reservation covers every address a u32 plus a u32 offset can form, and an
    access past the committed size faults into the runtime's SIGSEGV handler,
    which turns it into the trap.  Without them the access is checked explicitly.
    """
    ea = fx.value(f"zext i32 {addr} to i64")
    if offset:
        ea = fx.value(f"add i64 {ea}, {offset}")
    if not fx.env.guard_pages:
        end = fx.value(f"add i64 {ea}, {size}")
        fx.trap_if(fx.value(f"icmp ugt i64 {end}, {fx.memory_size_bytes()}"), TrapKind.MEMORY_OUT_OF_BOUNDS)
    return fx.value(f"getelementptr i8, ptr {fx.memory_base()}, i64 {ea}")


# Every load and store of wasm code goes through ``load``/``store``.  With guard pages
# (the default) the access itself is the bounds check: it faults, and the fault is the
# trap.  LLVM does not know that an access can trap, so it would delete a load whose
# value is unused, narrow one whose value is partly used (an i64.load that is wrapped,
# one lane of a v128), merge adjacent stores, delete a store a later one overwrites,
# hoist a loop-invariant load above the loop's stores and sink a global.set below it:
# each of these moves or loses the trap, or changes what memory and the globals hold
# when it happens (tests/fuzz_regressions/).  So every access is
#   * volatile: never deleted, narrowed, widened, merged or duplicated;
#   * preceded by BARRIER, an empty asm that may read all memory and may not return,
#     as a trap may not: nothing stored before the access can be delayed past it (or
#     deleted as dead), and no access after it can be hoisted above it.
# The cost, and the alternatives measured (explicit checks, a keep-alive asm on the
# value, volatile alone), are in docs/ARCHITECTURE.md, "Memory accesses".
BARRIER = 'call void asm sideeffect "", ""() #2'   # attributes #2 (module.py): nounwind memory(read)


def load(fx, t: str, ptr: str) -> str:
    """The value of IR type ``t`` at ``ptr``, read as a wasm access (see above)."""
    if not fx.env.guard_pages:        # explicitly checked in effective_address
        return fx.value(f"load {t}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")
    fx.emit(BARRIER)
    return fx.value(f"load volatile {t}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")


def store(fx, t: str, value: str, ptr: str) -> None:
    """Store ``value`` (IR type ``t``) at ``ptr`` as a wasm access (see above)."""
    if not fx.env.guard_pages:
        fx.emit(f"store {t} {value}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")
        return
    fx.emit(BARRIER)
    fx.emit(f"store volatile {t} {value}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")


def _load(fx, code, imm):
    t, size, narrow, ext = _LOADS[code]
    ptr = effective_address(fx, fx.pop(), imm.offset, size)
    if narrow is None:
        v = load(fx, t, ptr)
    else:
        v = fx.value(f"{ext} {narrow} {load(fx, narrow, ptr)} to {t}")
    fx.push(v, t)


def _store(fx, code, imm):
    t, size, narrow = _STORES[code]
    value = fx.pop()
    ptr = effective_address(fx, fx.pop(), imm.offset, size)
    if narrow is not None:
        value = fx.value(f"trunc {t} {value} to {narrow}")
        t = narrow
    store(fx, t, value, ptr)


def _memory_size(fx, code, imm):
    size = fx.memory_size_bytes()
    pages = fx.value(f"lshr i64 {size}, 16")
    fx.push(fx.value(f"trunc i64 {pages} to i32"), "i32")


def _memory_grow(fx, code, imm):
    delta = fx.pop()
    fx.push(fx.value(f"call i32 @wr_memory_grow(ptr @wr.mem0, i32 {delta})"), "i32")


def _range_check(fx, start: str, length: str, limit: str, kind: TrapKind) -> None:
    """Trap unless start + length <= limit (all i64)."""
    end = fx.value(f"add i64 {start}, {length}")
    fx.trap_if(fx.value(f"icmp ugt i64 {end}, {limit}"), kind)


def _memory_copy(fx, code, imm):
    n = fx.value(f"zext i32 {fx.pop()} to i64")
    src = fx.value(f"zext i32 {fx.pop()} to i64")
    dst = fx.value(f"zext i32 {fx.pop()} to i64")
    size = fx.memory_size_bytes()
    _range_check(fx, src, n, size, TrapKind.MEMORY_OUT_OF_BOUNDS)
    _range_check(fx, dst, n, size, TrapKind.MEMORY_OUT_OF_BOUNDS)
    base = fx.memory_base()
    ps = fx.value(f"getelementptr i8, ptr {base}, i64 {src}")
    pd = fx.value(f"getelementptr i8, ptr {base}, i64 {dst}")
    fx.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {pd}, ptr {ps}, i64 {n}, i1 false)")


def _memory_fill(fx, code, imm):
    n = fx.value(f"zext i32 {fx.pop()} to i64")
    val = fx.value(f"trunc i32 {fx.pop()} to i8")
    dst = fx.value(f"zext i32 {fx.pop()} to i64")
    _range_check(fx, dst, n, fx.memory_size_bytes(), TrapKind.MEMORY_OUT_OF_BOUNDS)
    pd = fx.value(f"getelementptr i8, ptr {fx.memory_base()}, i64 {dst}")
    fx.emit(f"call void @llvm.memset.p0.i64(ptr {pd}, i8 {val}, i64 {n}, i1 false)")


def _memory_init(fx, code, imm):
    n = fx.pop()
    src = fx.pop()
    dst = fx.pop()
    data_index, _memory = imm
    fx.checked_runtime_call(f"call i32 @wr_memory_init(ptr @wr.instance, i32 {data_index}, i32 {dst}, i32 {src}, i32 {n})")


def _data_drop(fx, code, imm):
    fx.emit(f"call void @wr_data_drop(ptr @wr.instance, i32 {imm})")


def handlers() -> dict:
    table = {}
    for code in _LOADS:
        table[code] = _load
    for code in _STORES:
        table[code] = _store
    table[0x3F] = _memory_size
    table[0x40] = _memory_grow
    table[0xFC08] = _memory_init
    table[0xFC09] = _data_drop
    table[0xFC0A] = _memory_copy
    table[0xFC0B] = _memory_fill
    return table
