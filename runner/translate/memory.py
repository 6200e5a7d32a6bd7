"""Linear memory instructions: loads, stores, size, grow and the bulk operations.

Every memory instruction names a memory (multi-memory); memory N is the record
``@wr.mem<N>`` (runner/layout.py), whose base never moves because the whole
addressable range is reserved up front, so its load is ``!invariant.load``.

Two ways to keep an access in bounds, chosen per memory:

* a 32-bit memory relies on guard pages: its reservation covers every address
  a u32 plus a u32 offset can form, so nothing is checked and an access past
  the committed size faults into the runtime's SIGSEGV handler;
* a 64-bit memory (memory64) cannot be covered that way, so each access is
  checked: one unsigned compare of the i64 address against a bound derived
  from the current size and the access's constant offset + width, and a branch
  to the function's shared trap block (see ``_bound64``).

Every load and store of wasm code goes through ``load``/``store``, which say what keeps
each guard-page fault where wasm puts it.  The bulk operations check their ranges
explicitly (the spec forbids a partial write).
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

# Helpers only a module with a 64-bit memory, or more than one memory, calls: declared only
# then, so the IR of a single-32-bit-memory module stays what it was.
DECLARATIONS = """\
declare i64 @wr_memory_grow64(ptr, i64)
declare i32 @wr_memory_init_at(ptr, ptr, i32, i64, i32, i32)
declare i64 @llvm.usub.sat.i64(i64, i64)
"""


def is64(fx, mem: int) -> bool:
    """Whether memory ``mem`` is a 64-bit (memory64) memory: i64 addresses, explicit checks."""
    return fx.module.memories[mem].is64


def address_type(fx, mem: int) -> str:
    return "i64" if is64(fx, mem) else "i32"


def _bound64(fx, mem: int, reach: int) -> str:
    """The exclusive upper bound for the address of an access that touches
    ``addr .. addr + reach - 1`` (``reach`` = constant offset + access width, >= 1):
    in bounds iff ``addr + reach <= size`` iff ``addr < size - (reach - 1)``.  The
    saturating subtraction makes a memory smaller than ``reach`` give bound 0 (always
    traps), and nothing can wrap: the bound depends only on the size and a constant,
    so LLVM hoists it with the size load out of loops that cannot grow memory, leaving
    one compare and branch per access.
    """
    size = fx.memory_size_bytes(mem)
    if reach == 1:
        return size
    return fx.value(f"call i64 @llvm.usub.sat.i64(i64 {size}, i64 {_i64(reach - 1)})")


def _i64(v: int) -> str:
    """A u64 constant as an IR i64 literal (two's complement)."""
    return str(v - (1 << 64) if v >> 63 else v)


def effective_address(fx, addr: str, offset: int, size: int, mem: int = 0) -> str:
    """A pointer to ``addr + offset`` in memory ``mem`` for a ``size``-byte access.

    A 32-bit memory checks nothing here: its guard pages do (see the module
    docstring).  A 64-bit memory's access is always checked; the offset (a u64) is
    folded into the bound.
    """
    if is64(fx, mem):
        reach = offset + size
        if reach > 1 << 64:   # beyond any memory: the access always traps
            fx.trap_if("true", TrapKind.MEMORY_OUT_OF_BOUNDS)
            return fx.memory_base(mem)
        fx.trap_if(fx.value(f"icmp uge i64 {addr}, {_bound64(fx, mem, reach)}"), TrapKind.MEMORY_OUT_OF_BOUNDS)
        ea = fx.value(f"add i64 {addr}, {_i64(offset)}") if offset else addr
        return fx.value(f"getelementptr i8, ptr {fx.memory_base(mem)}, i64 {ea}")
    ea = fx.value(f"zext i32 {addr} to i64")
    if offset:
        ea = fx.value(f"add i64 {ea}, {offset}")
    ptr = fx.value(f"getelementptr i8, ptr {fx.memory_base(mem)}, i64 {ea}")
    end = offset + size
    if fx.bounds.covers(mem, addr, end) or _constant_in_bounds(fx, addr, end, mem):
        fx.in_bounds.add(ptr)
    else:
        fx.bounds.learn(mem, addr, end)
    return ptr


def _constant_in_bounds(fx, addr: str, end: int, mem: int) -> bool:
    """A constant address whose access ends within the memory's minimum size (an imported
    memory is at least its import's minimum: the linker checks its current size)."""
    if not addr.lstrip("-").isdigit():
        return False
    return (int(addr) & 0xFFFFFFFF) + end <= fx.module.memories[mem].limits.min * 65536


def memarg(imm) -> tuple[int, int]:
    """(offset, memory index) of a load/store immediate."""
    return imm.offset, imm.memory


# With guard pages a 32-bit memory's access is its own bounds check: it
# faults, and the fault is the trap.  LLVM does not know that an access can trap, so it
# would delete a load whose value is unused, narrow one whose value is partly used (an
# i64.load that is wrapped, one lane of a v128), merge adjacent stores, delete a store a
# later one overwrites, hoist a loop-invariant load above the loop's stores and sink a
# global.set below it: each of these moves or loses the trap, or changes what memory and
# the globals hold when it happens (tests/fuzz_regressions/).  The rule, per access:
#   * an access that may fault is volatile (never deleted, narrowed, widened, merged or
#     duplicated) and preceded by BARRIER, an empty asm that may read all memory and may
#     not return, as a trap may not: nothing stored before the access can be delayed past
#     it (or deleted as dead), and no access after it can be hoisted above it;
#   * an access that cannot fault (``fx.in_bounds``: a constant address within the minimum
#     size, or one an earlier access from the same address already proved, bounds.py) has
#     no trap to keep: a load is plain (LLVM may delete, narrow, fold, combine or move it:
#     it can only move as far as the BARRIER before the access that proved it, and if
#     that one would trap the state there is the same); a store keeps BARRIER, so it is
#     still not moved above an earlier access that may trap (LangRef lets LLVM move plain
#     code across volatile accesses), but is plain (stores that cannot fault may merge);
#   * a 64-bit memory's access is checked
#     explicitly before it, and the check's trap call orders it, so it stays plain.
# The cost, and the alternatives measured (explicit checks, a keep-alive asm on the
# value, volatile alone), are in docs/ARCHITECTURE.md, "Memory accesses".
BARRIER = 'call void asm sideeffect "", ""() #2'   # attributes #2 (module.py): nounwind memory(read)


def _faults(fx, mem: int) -> bool:
    """Whether an access to memory ``mem`` is checked by its fault (guard pages)."""
    return not is64(fx, mem)


def load(fx, t: str, ptr: str, mem: int = 0) -> str:
    """The value of IR type ``t`` at ``ptr`` in memory ``mem``, read as a wasm access (see above)."""
    if not _faults(fx, mem) or ptr in fx.in_bounds:
        return fx.value(f"load {t}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")
    fx.emit(BARRIER)
    return fx.value(f"load volatile {t}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")


def store(fx, t: str, value: str, ptr: str, mem: int = 0) -> None:
    """Store ``value`` (IR type ``t``) at ``ptr`` in memory ``mem`` as a wasm access (see above)."""
    if not _faults(fx, mem):
        fx.emit(f"store {t} {value}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")
        return
    fx.emit(BARRIER)
    volatile = "" if ptr in fx.in_bounds else "volatile "
    fx.emit(f"store {volatile}{t} {value}, ptr {ptr}, align 1, {TBAA_HEAP_TAG}")


def _load(fx, code, imm):
    t, size, narrow, ext = _LOADS[code]
    offset, mem = memarg(imm)
    ptr = effective_address(fx, fx.pop(), offset, size, mem)
    if narrow is None:
        v = load(fx, t, ptr, mem)
    else:
        v = fx.value(f"{ext} {narrow} {load(fx, narrow, ptr, mem)} to {t}")
    fx.push(v, t)


def _store(fx, code, imm):
    t, size, narrow = _STORES[code]
    offset, mem = memarg(imm)
    value = fx.pop()
    ptr = effective_address(fx, fx.pop(), offset, size, mem)
    if narrow is not None:
        value = fx.value(f"trunc {t} {value} to {narrow}")
        t = narrow
    store(fx, t, value, ptr, mem)


def _memory_size(fx, code, imm):
    size = fx.memory_size_bytes(imm)
    pages = fx.value(f"lshr i64 {size}, 16")
    if is64(fx, imm):
        fx.push(pages, "i64")
    else:
        fx.push(fx.value(f"trunc i64 {pages} to i32"), "i32")


def _memory_grow(fx, code, imm):
    delta = fx.pop()
    rec = f"@{fx.memory_symbol(imm)}"
    if is64(fx, imm):
        fx.push(fx.value(f"call i64 @wr_memory_grow64(ptr {rec}, i64 {delta})"), "i64")
    else:
        fx.push(fx.value(f"call i32 @wr_memory_grow(ptr {rec}, i32 {delta})"), "i32")


def _range_check(fx, start: str, length: str, limit: str, kind: TrapKind) -> None:
    """Trap unless start + length <= limit (all i64, start and length zero-extended u32s)."""
    end = fx.value(f"add i64 {start}, {length}")
    fx.trap_if(fx.value(f"icmp ugt i64 {end}, {limit}"), kind)


def _range_check64(fx, start: str, length: str, limit: str, kind: TrapKind) -> None:
    """Trap unless start + length <= limit, for u64 operands whose sum may wrap:
    ``length <= limit && start <= limit - length``."""
    too_long = fx.value(f"icmp ugt i64 {length}, {limit}")
    room = fx.value(f"sub i64 {limit}, {length}")
    past = fx.value(f"icmp ugt i64 {start}, {room}")
    fx.trap_if(fx.value(f"or i1 {too_long}, {past}"), kind)


def _operand64(fx, value: str, wide: bool) -> str:
    """An address or length operand as an i64 (a 64-bit memory's already is)."""
    return value if wide else fx.value(f"zext i32 {value} to i64")


def _check_range(fx, mem: int, start: str, length: str, size: str | None = None) -> None:
    check = _range_check64 if is64(fx, mem) else _range_check
    check(fx, start, length, size or fx.memory_size_bytes(mem), TrapKind.MEMORY_OUT_OF_BOUNDS)


def _memory_copy(fx, code, imm):
    dst_mem, src_mem = imm
    dst64, src64 = is64(fx, dst_mem), is64(fx, src_mem)
    n = _operand64(fx, fx.pop(), dst64 and src64)   # the length is i64 only between two 64-bit memories
    src = _operand64(fx, fx.pop(), src64)
    dst = _operand64(fx, fx.pop(), dst64)
    src_size = fx.memory_size_bytes(src_mem)
    _check_range(fx, src_mem, src, n, src_size)
    _check_range(fx, dst_mem, dst, n, src_size if dst_mem == src_mem else None)
    base = fx.memory_base(src_mem)
    ps = fx.value(f"getelementptr i8, ptr {base}, i64 {src}")
    pd = fx.value(f"getelementptr i8, ptr {fx.memory_base(dst_mem)}, i64 {dst}")
    fx.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {pd}, ptr {ps}, i64 {n}, i1 false)")


def _memory_fill(fx, code, imm):
    wide = is64(fx, imm)
    n = _operand64(fx, fx.pop(), wide)
    val = fx.value(f"trunc i32 {fx.pop()} to i8")
    dst = _operand64(fx, fx.pop(), wide)
    _check_range(fx, imm, dst, n)
    pd = fx.value(f"getelementptr i8, ptr {fx.memory_base(imm)}, i64 {dst}")
    fx.emit(f"call void @llvm.memset.p0.i64(ptr {pd}, i8 {val}, i64 {n}, i1 false)")


def _memory_init(fx, code, imm):
    seg, mem = imm
    n = fx.pop()
    src = fx.pop()
    dst = fx.pop()
    if mem == 0 and not is64(fx, 0):
        fx.checked_runtime_call(f"call i32 @wr_memory_init(ptr @wr.instance, i32 {seg}, i32 {dst}, i32 {src}, i32 {n})")
        return
    dst = _operand64(fx, dst, is64(fx, mem))
    fx.checked_runtime_call(f"call i32 @wr_memory_init_at(ptr @wr.instance, ptr @{fx.memory_symbol(mem)}, "
                            f"i32 {seg}, i64 {dst}, i32 {src}, i32 {n})")


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
