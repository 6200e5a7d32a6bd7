"""Reference and table instructions, and ``call_indirect``'s table lookup.

A table is a record ``{ptr elements, i64 size}`` owned by the runtime; a
funcref is a pointer to a ``{ptr code, i64 type id}`` record (null = null ref);
an externref is an opaque pointer-sized host value.  Rarely used table
operations (grow, fill, copy, init, drop) call into the runtime, which
returns 0 or a trap code.

A 64-bit table (table64) takes i64 indices, sizes and lengths; the runtime
helpers for it (``*64``) take u64 operands, declared only in modules that
have such a table.
"""
from __future__ import annotations

from ..errors import TrapKind
from ..layout import FUNCREF_RECORD_IR, INVARIANT_LOAD, TABLE_RECORD_IR, TABLE_SIZE_FIELD, TBAA_VM_TAG


DECLARATIONS = """\
declare i64 @wr_table_grow64(ptr, ptr, i64)
declare i32 @wr_table_fill64(ptr, i64, ptr, i64)
declare i32 @wr_table_copy64(ptr, ptr, i64, i64, i64)
declare i32 @wr_table_init64(ptr, ptr, i32, i64, i64, i64)
"""


def is64(fx, table: int) -> bool:
    return fx.module.tables[table].is64


def _wide(fx, value: str, wide: bool) -> str:
    """An index or length operand as an i64 (a 64-bit table's already is)."""
    return value if wide else fx.value(f"zext i32 {value} to i64")


def element_pointer(fx, table: int, index: str, kind: TrapKind) -> str:
    """Bounds-check ``index`` against table ``table`` and return a pointer to its slot."""
    rec = f"@wr.table{table}"
    idx = _wide(fx, index, is64(fx, table))
    fixed = fixed_size(fx, table)
    if fixed is None:
        size_p = fx.value(f"getelementptr {TABLE_RECORD_IR}, ptr {rec}, i32 0, i32 {TABLE_SIZE_FIELD}")
        size = fx.value(f"load i64, ptr {size_p}, {TBAA_VM_TAG}")
        fx.trap_if(fx.value(f"icmp uge i64 {idx}, {size}"), kind)
        elems = fx.value(f"load ptr, ptr {rec}, {TBAA_VM_TAG}")   # the elements: field 0, at the record's address
    else:
        # Nothing moves a table that cannot grow: the bound is a constant and the elements'
        # address one load LLVM may keep across calls (hoisted out of call_indirect loops).
        fx.trap_if(fx.value(f"icmp uge i64 {idx}, {fixed}"), kind)
        elems = fx.value(f"load ptr, ptr {rec}, {TBAA_VM_TAG}, {INVARIANT_LOAD}")
    return fx.value(f"getelementptr ptr, ptr {elems}, i64 {idx}")


def fixed_size(fx, table: int) -> int | None:
    """The size of table ``table`` when it can never change, else None: a table this module
    defines whose maximum is its minimum (rustc's and clang's tables are).  runtime/store.py
    sets its size and elements once, before any code runs; only a grow would move them.
    (An imported table's own limits may differ from the import's: not assumed.)"""
    if table < fx.module.num_imported_tables:
        return None
    limits = fx.module.tables[table].limits
    return limits.min if limits.max == limits.min else None


def _table_get(fx, code, imm):
    slot = element_pointer(fx, imm, fx.pop(), TrapKind.TABLE_OUT_OF_BOUNDS)
    fx.push(fx.value(f"load ptr, ptr {slot}, {TBAA_VM_TAG}"), "ptr")


def _table_set(fx, code, imm):
    value = fx.pop()
    slot = element_pointer(fx, imm, fx.pop(), TrapKind.TABLE_OUT_OF_BOUNDS)
    fx.emit(f"store ptr {value}, ptr {slot}, {TBAA_VM_TAG}")


def _table_size(fx, code, imm):
    size_p = fx.value(f"getelementptr {TABLE_RECORD_IR}, ptr @wr.table{imm}, i32 0, i32 {TABLE_SIZE_FIELD}")
    size = fx.value(f"load i64, ptr {size_p}, {TBAA_VM_TAG}")
    if is64(fx, imm):
        fx.push(size, "i64")
    else:
        fx.push(fx.value(f"trunc i64 {size} to i32"), "i32")


def _table_grow(fx, code, imm):
    n = fx.pop()
    init = fx.pop()
    if is64(fx, imm):
        fx.push(fx.value(f"call i64 @wr_table_grow64(ptr @wr.table{imm}, ptr {init}, i64 {n})"), "i64")
    else:
        fx.push(fx.value(f"call i32 @wr_table_grow(ptr @wr.table{imm}, ptr {init}, i32 {n})"), "i32")


def _table_fill(fx, code, imm):
    n = fx.pop()
    value = fx.pop()
    start = fx.pop()
    if is64(fx, imm):
        fx.checked_runtime_call(f"call i32 @wr_table_fill64(ptr @wr.table{imm}, i64 {start}, ptr {value}, i64 {n})")
    else:
        fx.checked_runtime_call(f"call i32 @wr_table_fill(ptr @wr.table{imm}, i32 {start}, ptr {value}, i32 {n})")


def _table_copy(fx, code, imm):
    dst_table, src_table = imm
    n = fx.pop()
    src = fx.pop()
    dst = fx.pop()
    dst64, src64 = is64(fx, dst_table), is64(fx, src_table)
    if not (dst64 or src64):
        fx.checked_runtime_call(f"call i32 @wr_table_copy(ptr @wr.table{dst_table}, ptr @wr.table{src_table}, "
                                f"i32 {dst}, i32 {src}, i32 {n})")
        return
    n = _wide(fx, n, dst64 and src64)   # the length is i64 only between two 64-bit tables
    src = _wide(fx, src, src64)
    dst = _wide(fx, dst, dst64)
    fx.checked_runtime_call(f"call i32 @wr_table_copy64(ptr @wr.table{dst_table}, ptr @wr.table{src_table}, "
                            f"i64 {dst}, i64 {src}, i64 {n})")


def _table_init(fx, code, imm):
    elem, table = imm
    n = fx.pop()
    src = fx.pop()
    dst = fx.pop()
    if is64(fx, table):   # the destination index is the table's type; the segment's are i32
        fx.checked_runtime_call(f"call i32 @wr_table_init64(ptr @wr.instance, ptr @wr.table{table}, i32 {elem}, "
                                f"i64 {dst}, i64 {_wide(fx, src, False)}, i64 {_wide(fx, n, False)})")
        return
    fx.checked_runtime_call(f"call i32 @wr_table_init(ptr @wr.instance, ptr @wr.table{table}, i32 {elem}, "
                            f"i32 {dst}, i32 {src}, i32 {n})")


def _elem_drop(fx, code, imm):
    fx.emit(f"call void @wr_elem_drop(ptr @wr.instance, i32 {imm})")


def _ref_null(fx, code, imm):
    fx.push("null", "ptr")


def _ref_is_null(fx, code, imm):
    c = fx.value(f"icmp eq ptr {fx.pop()}, null")
    fx.push(fx.value(f"zext i1 {c} to i32"), "i32")


def _ref_func(fx, code, imm):
    fx.push(fx.value(f"getelementptr {FUNCREF_RECORD_IR}, ptr @wr.funcrefs, i32 {imm}"), "ptr")


def handlers() -> dict:
    return {0x25: _table_get, 0x26: _table_set, 0xFC10: _table_size, 0xFC0F: _table_grow,
            0xFC11: _table_fill, 0xFC0E: _table_copy, 0xFC0C: _table_init, 0xFC0D: _elem_drop,
            0xD0: _ref_null, 0xD1: _ref_is_null, 0xD2: _ref_func}
