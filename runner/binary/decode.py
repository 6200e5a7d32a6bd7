"""Section-by-section decoder: wasm bytes -> ``Module``.

Function bodies are not decoded here beyond their locals: ``iter_instructions``
streams a body's instructions for the validator and the translator, so each
pass pays for one walk over the bytes and nothing is materialised.
"""
from __future__ import annotations

from typing import Iterator

from ..errors import DecodeError
from . import opcodes as op
from .features import WASM3, Features
from .module import (FUNCREF, HEAP_TYPE_NAMES, HT_FUNC, KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, KIND_TABLE, KIND_TAG,
                     MODE_ACTIVE, MODE_DECLARATIVE, MODE_PASSIVE, VALTYPE_NAMES, ConstExpr, CustomSection,
                     DataSegment, ElementSegment, Export, FunctionBody, FuncType, Global,
                     GlobalType, Import, Limits, MemoryType, Module, RefType, TableType)
from .opcodes import Catch, MemArg, TryTable
from .reader import Reader

MAGIC = b"\0asm"
VERSION = b"\1\0\0\0"
NUMERIC_CODES = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x7B))
# One-byte reference types: funcref, externref, exnref, nullfuncref, nullexternref, nullexnref.
REF_SHORTHANDS = {t.heap & 0x7F: t for t in VALTYPE_NAMES if isinstance(t, RefType)}
REF_NULLABLE, REF_NON_NULL = 0x63, 0x64
# The GC proposal's abstract heap types (one-byte codes: any, eq, i31, struct, array, none) and
# type-section forms (rec, sub, sub final, struct, array).
GC_HEAP_CODES = frozenset((0x6E, 0x6D, 0x6C, 0x6B, 0x6A, 0x71))
GC_TYPE_FORMS = frozenset((0x4E, 0x50, 0x4F, 0x5F, 0x5E))
GC_UNSUPPORTED = "the GC proposal is not supported"
BLOCKTYPE_EMPTY = -64          # 0x40 read as s33
MAX_PAGES = 65536
MAX_LOCALS = 50000             # same limit as wasmtime / the JS API; keeps frames sane

# Section ids in the order they must appear (the tag section, 13, sits between memory and
# global; the data count section, 12, before code).
_SECTION_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}


def decode(data: bytes, features: Features = WASM3) -> Module:
    """Decode a whole module. Raises DecodeError with the byte offset of the problem."""
    data = bytes(data)
    r = Reader(data)
    if len(data) < 4 or data[:4] != MAGIC:
        raise DecodeError("magic header not detected", 0)
    if len(data) < 8:
        raise DecodeError("unexpected end", len(data))
    if data[4:8] != VERSION:
        raise DecodeError("unknown binary version", 4)
    r.pos = 8
    m = Module(raw=data, features=features)
    func_count: int | None = None
    last_order = 0
    while not r.at_end():
        sec_start = r.pos
        sec_id = r.byte()
        size = r.u32()
        start = r.pos
        end = start + size
        if end > len(data):
            raise DecodeError("section size mismatch: unexpected end", sec_start)
        if sec_id != 0:
            order = _SECTION_ORDER.get(sec_id)
            if order is None or (sec_id == 13 and not features.exceptions):
                raise DecodeError(f"malformed section id {sec_id}", sec_start)
            if order <= last_order:
                raise DecodeError("unexpected content after last section (section out of order or duplicated)", sec_start)
            last_order = order
        s = Reader(data, start, end, features)
        if sec_id == 0:
            _custom(s, m)
        elif sec_id == 1:
            _types(s, m)
        elif sec_id == 2:
            _imports(s, m)
        elif sec_id == 3:
            func_count = s.vec_len()
            for _ in range(func_count):
                m.func_types.append(s.u32())
        elif sec_id == 4:
            for _ in range(s.vec_len()):
                _table(s, m)
        elif sec_id == 5:
            for _ in range(s.vec_len()):
                m.memories.append(_memory_type(s))
        elif sec_id == 13:
            for _ in range(s.vec_len()):
                m.tags.append(_tag_type(s))
        elif sec_id == 6:
            for _ in range(s.vec_len()):
                gt = _global_type(s)
                m.globals.append(gt)
                m.global_inits.append(Global(gt, _const_expr(s, m)))
        elif sec_id == 7:
            _exports(s, m)
        elif sec_id == 8:
            m.start = s.u32()
        elif sec_id == 9:
            for _ in range(s.vec_len()):
                m.elements.append(_element(s, m))
        elif sec_id == 12:
            m.data_count = s.u32()
        elif sec_id == 10:
            m.code_section_start = start
            n = s.vec_len()
            if n != (func_count or 0):
                raise DecodeError("function and code section have inconsistent lengths", sec_start)
            for _ in range(n):
                m.bodies.append(_body(s))
        elif sec_id == 11:
            n = s.vec_len()
            if m.data_count is not None and n != m.data_count:
                raise DecodeError("data count and data section have inconsistent lengths", sec_start)
            for _ in range(n):
                m.data.append(_data(s, m))
        if s.pos != end:
            raise DecodeError("section size mismatch", s.pos)
        r.pos = end
    if func_count and not m.bodies:
        raise DecodeError("function and code section have inconsistent lengths", len(data))
    if m.data_count is not None and m.data_count and not m.data:
        raise DecodeError("data count and data section have inconsistent lengths", len(data))
    return m


# --- sections -----------------------------------------------------------------------------

def _custom(s: Reader, m: Module) -> None:
    name = s.name()
    payload_offset = s.pos
    payload = s.data[s.pos:s.end]
    s.pos = s.end
    m.customs.append(CustomSection(name, payload_offset, payload))
    if name == "name":
        try:
            _name_section(Reader(s.data, payload_offset, s.end), m)
        except DecodeError:
            pass  # a broken name section never invalidates a module; names are a courtesy


def _name_section(s: Reader, m: Module) -> None:
    while not s.at_end():
        sub_id = s.byte()
        size = s.u32()
        end = s.pos + size
        if sub_id == 0:
            m.module_name = s.name()
        elif sub_id == 1:
            for _ in range(s.vec_len()):
                idx = s.u32()
                m.function_names[idx] = s.name()
        s.pos = end


def _val_type(s: Reader):
    """A value type: a numeric type code (int) or a ``RefType``."""
    at = s.pos
    t = s.byte()
    if t in NUMERIC_CODES:
        return t
    ref = _ref_type_after(s, t, at)
    if ref is None:
        raise DecodeError(f"malformed value type {t:#x}", at)
    return ref


def _ref_type(s: Reader) -> RefType:
    at = s.pos
    t = s.byte()
    ref = _ref_type_after(s, t, at)
    if ref is None:
        raise DecodeError(f"malformed reference type {t:#x}", at)
    return ref


def _ref_type_after(s: Reader, t: int, at: int) -> RefType | None:
    """The reference type whose first byte ``t`` was just read (None: not a reference type)."""
    ref = REF_SHORTHANDS.get(t)
    if ref is not None:
        if ref.heap != -0x10 and ref.heap != -0x11 and not s.features.function_references \
                and not (ref.heap == -0x17 and s.features.exceptions):
            return None
        return ref
    if t in GC_HEAP_CODES:
        raise DecodeError(f"malformed value type {t:#x}: {GC_UNSUPPORTED}", at)
    if (t == REF_NULLABLE or t == REF_NON_NULL) and s.features.function_references:
        return RefType(t == REF_NULLABLE, _heap_type(s))
    return None


def _heap_type(s: Reader) -> int:
    """A heap type: an abstract HT_* code or a type index (checked by the validator)."""
    at = s.pos
    ht = s.s33()
    if ht >= 0 or ht in HEAP_TYPE_NAMES:
        return ht
    if (ht & 0x7F) in GC_HEAP_CODES:
        raise DecodeError(f"malformed heap type: {GC_UNSUPPORTED}", at)
    raise DecodeError("malformed heap type", at)


def _tag_type(s: Reader) -> int:
    at = s.pos
    if s.byte() != 0x00:
        raise DecodeError("malformed tag attribute", at)
    return s.u32()


def _types(s: Reader, m: Module) -> None:
    for _ in range(s.vec_len()):
        at = s.pos
        form = s.byte()
        if form in GC_TYPE_FORMS:
            raise DecodeError(f"malformed type form {form:#x}: {GC_UNSUPPORTED}", at)
        if form != 0x60:
            raise DecodeError("integer representation too long (malformed function type)", at)
        params = tuple(_val_type(s) for _ in range(s.vec_len()))
        results = tuple(_val_type(s) for _ in range(s.vec_len()))
        m.types.append(FuncType(params, results))


def _limits(s: Reader) -> tuple[Limits, bool]:
    """Limits and whether they are 64-bit (flag bit 2: memory64 / table64)."""
    at = s.pos
    flag = s.byte()
    f = s.features
    if flag in (0x02, 0x03, 0x06, 0x07) and f.memory64:
        raise DecodeError("malformed limits flags: shared memories (the threads proposal) are not supported", at)
    if flag > 1 and not (flag in (4, 5) and f.memory64):
        raise DecodeError("integer too large (malformed limits flags)", at)
    is64 = bool(flag & 4)
    read = s.u64 if is64 else s.u32
    minimum = read()
    return Limits(minimum, read() if flag & 1 else None), is64


def _table_type(s: Reader) -> TableType:
    et = _ref_type(s)
    limits, is64 = _limits(s)
    return TableType(et, limits, is64)


def _table(s: Reader, m: Module) -> None:
    """One entry of the table section: a table type, or (3.0) 0x40 0x00, a type and an initialiser."""
    init = None
    if s.pos < s.end and s.data[s.pos] == 0x40 and s.features.function_references:
        at = s.pos
        s.pos += 1
        if s.byte() != 0x00:
            raise DecodeError("malformed table", at)
        tt = _table_type(s)
        init = _const_expr(s, m)
    else:
        tt = _table_type(s)
    m.tables.append(tt)
    m.table_inits.append(init)


def _memory_type(s: Reader) -> MemoryType:
    limits, is64 = _limits(s)
    return MemoryType(limits, is64)


def _global_type(s: Reader) -> GlobalType:
    t = _val_type(s)
    at = s.pos
    mut = s.byte()
    if mut not in (0, 1):
        raise DecodeError("malformed mutability", at)
    return GlobalType(t, mut == 1)


def _imports(s: Reader, m: Module) -> None:
    for _ in range(s.vec_len()):
        module = s.name()
        name = s.name()
        at = s.pos
        kind = s.byte()
        if kind == KIND_FUNC:
            desc = s.u32()
            m.func_types.append(desc)
        elif kind == KIND_TABLE:
            desc = _table_type(s)
            m.tables.append(desc)
        elif kind == KIND_MEMORY:
            desc = _memory_type(s)
            m.memories.append(desc)
        elif kind == KIND_GLOBAL:
            desc = _global_type(s)
            m.globals.append(desc)
        elif kind == KIND_TAG and s.features.exceptions:
            desc = _tag_type(s)
            m.tags.append(desc)
        else:
            raise DecodeError("malformed import kind", at)
        m.imports.append(Import(module, name, kind, desc))


def _exports(s: Reader, m: Module) -> None:
    for _ in range(s.vec_len()):
        name = s.name()
        at = s.pos
        kind = s.byte()
        if kind > KIND_GLOBAL and not (kind == KIND_TAG and s.features.exceptions):
            raise DecodeError("malformed export kind", at)
        m.exports.append(Export(name, kind, s.u32()))


_CONST_OPS = {0x41: "i32.const", 0x42: "i64.const", 0x43: "f32.const", 0x44: "f64.const", 0xFD0C: "v128.const",
              0x23: "global.get", 0xD0: "ref.null", 0xD2: "ref.func"}


# Extended constant expressions (3.0): integer arithmetic between the constants.
_CONST_ARITH_OPS = {0x6A: "i32.add", 0x6B: "i32.sub", 0x6C: "i32.mul",
                    0x7C: "i64.add", 0x7D: "i64.sub", 0x7E: "i64.mul"}


def _const_expr(s: Reader, m: Module) -> ConstExpr:
    """A constant expression: one instruction as a ``ConstExpr``, any other sequence as
    ``ConstExpr("seq", (ConstExpr, ...), start)`` (extended constants).  Its shape is the
    validator's to judge: an instruction that is not constant becomes
    ``ConstExpr("non-constant", opcode, offset)``, and a sequence needs extended constants."""
    start = s.pos
    instrs = []
    for at, code, imm in iter_instructions(s.data, s.pos, s.end, stop_at_end=True, features=s.features):
        instrs.append((at, code, imm))
    # iter_instructions stopped right after the expression's final `end`.
    s.pos = _LAST_END[0]
    body = instrs[:-1]
    if len(body) == 1 and body[0][1] in _CONST_OPS:
        return _const_instr(*body[0])
    arith = _CONST_ARITH_OPS if s.features.extended_const else {}
    return ConstExpr("seq", tuple(ConstExpr(arith[code], 0, at) if code in arith
                                  else _const_instr(at, code, imm) if code in _CONST_OPS
                                  else ConstExpr("non-constant", code, at) for at, code, imm in body), start)


def _const_instr(at: int, code: int, imm) -> ConstExpr:
    value = imm
    if code == 0x41:
        value = imm & 0xFFFFFFFF
    elif code == 0x42:
        value = imm & 0xFFFFFFFFFFFFFFFF
    elif code == 0xD0:
        value = RefType(True, imm)
    return ConstExpr(_CONST_OPS[code], value, at)


_REF_FUNC = RefType(False, HT_FUNC)


def _element(s: Reader, m: Module) -> ElementSegment:
    at = s.pos
    flags = s.u32()
    if flags > 7:
        raise DecodeError("malformed elements segment kind", at)
    table_index = 0
    offset = None
    if flags & 1:
        mode = MODE_DECLARATIVE if flags & 2 else MODE_PASSIVE
    else:
        mode = MODE_ACTIVE
        if flags & 2:
            table_index = s.u32()
        offset = _const_expr(s, m)
    uses_exprs = bool(flags & 4)
    elem_type = FUNCREF
    if flags & 3:  # passive, declarative, or active with explicit table: an elemkind/reftype byte
        if uses_exprs:
            elem_type = _ref_type(s)
        else:
            kat = s.pos
            if s.byte() != 0x00:
                raise DecodeError("malformed element kind", kat)
    if not uses_exprs and s.features.function_references:
        elem_type = _REF_FUNC    # 3.0: a vector of function indices is a (ref func) segment
    init = []
    n = s.vec_len()
    if uses_exprs:
        for _ in range(n):
            init.append(_const_expr(s, m))
    else:
        for _ in range(n):
            fat = s.pos
            init.append(ConstExpr("ref.func", s.u32(), fat))
    return ElementSegment(mode, elem_type, init, table_index, offset)


def _data(s: Reader, m: Module) -> DataSegment:
    at = s.pos
    flags = s.u32()
    if flags == 0:
        offset = _const_expr(s, m)
        return DataSegment(MODE_ACTIVE, _bytes_vec(s), 0, offset)
    if flags == 1:
        return DataSegment(MODE_PASSIVE, _bytes_vec(s))
    if flags == 2:
        mem = s.u32()
        offset = _const_expr(s, m)
        return DataSegment(MODE_ACTIVE, _bytes_vec(s), mem, offset)
    raise DecodeError("malformed data segment kind", at)


def _bytes_vec(s: Reader) -> bytes:
    n = s.vec_len()
    return s.bytes(n)


def _body(s: Reader) -> FunctionBody:
    body_start = s.pos
    size = s.u32()
    end = s.pos + size
    if end > s.end:
        raise DecodeError("unexpected end of section or function", body_start)
    fast = _numeric_locals(s.data, s.pos, end)
    if fast is not None:
        s.pos = end
        return FunctionBody(fast[0], fast[1], end, body_start)
    b = Reader(s.data, s.pos, end, s.features)
    local_types: list[int] = []
    total = 0
    for _ in range(b.vec_len()):
        cat = b.pos
        count = b.u32()
        total += count
        if total > MAX_LOCALS:
            raise DecodeError("too many locals", cat)
        t = _val_type(b)
        local_types.extend([t] * count)
    s.pos = end
    if b.pos >= end:
        raise DecodeError("unexpected end of section or function", b.pos)
    return FunctionBody(local_types, b.pos, end, body_start)


def _numeric_locals(data: bytes, pos: int, end: int):
    """(local types, code start) of a body whose local declarations are all one-byte counts of
    numeric types, as nearly every body's are; None for anything else (``_body`` then reads it
    with its errors).  A warm Yosys decodes 34k bodies: the Reader per body was most of it."""
    if pos >= end:
        return None
    n = data[pos]
    pos += 1
    if n >= 0x80 or 2 * n >= end - pos:    # and at least one instruction byte after them
        return None
    local_types: list[int] = []
    for _ in range(n):
        count, t = data[pos], data[pos + 1]
        if count >= 0x80 or t not in NUMERIC_CODES:
            return None
        local_types += [t] * count
        pos += 2
    return local_types, pos     # at most 127 * 127 locals: under MAX_LOCALS


# --- instructions -------------------------------------------------------------------------

_IMM = op.IMMEDIATE
# Opcodes of post-2.0 proposals: their decode error names what is not supported.
_UNSUPPORTED = {**{c: "legacy exception handling (try/catch/delegate/rethrow)" for c in (0x06, 0x07, 0x09, 0x18, 0x19)},
                0x08: "exception handling", 0x0A: "exception handling", 0x1F: "exception handling",
                0x12: "the tail-call proposal", 0x13: "the tail-call proposal",
                **{c: "the typed function references proposal" for c in (0x14, 0x15, 0xD4, 0xD5, 0xD6)},
                0xD3: "the GC proposal", 0xFB: "the GC proposal", 0xFE: "the threads proposal (atomics)"}
_LAST_END = [0]  # position after the last instruction iter_instructions(stop_at_end=True) read
# The 2.0 language's instructions: what a decode with every 3.0 feature off accepts.
_IMM_2_0 = {code: kind for code, kind in _IMM.items() if code not in op.NEW_IN_3}


def _memarg(r: Reader, max_align_flags: int, lane: bool) -> MemArg:
    """align flags (bit 6: a memory index follows), [memory index], offset (u64), [lane]."""
    fat = r.pos
    flags = r.u32()
    if flags >= max_align_flags:   # 2.0: no flag bits beyond the alignment exponent
        raise DecodeError("malformed memop flags", fat)
    memory = 0
    if flags & 0x40:
        memory = r.u32()
        flags -= 0x40
    offset = r.u64() if r.features.memory64 else r.u32()
    return MemArg(flags, offset, memory, r.byte() if lane else None)


def _memory_index(r: Reader, features: Features) -> int:
    """memory.size/grow/fill/copy/init's memory index; one zero byte in 2.0."""
    zat = r.pos
    if features.multi_memory:
        return r.u32()
    if r.byte() != 0:
        raise DecodeError("zero byte expected", zat)
    return 0


def _ref_null_heap_type(r: Reader) -> int:
    if r.features.function_references or r.features.exceptions:
        return _heap_type(r)
    at = r.pos
    ref = REF_SHORTHANDS.get(r.byte())
    if ref is None or ref.heap not in (-0x10, -0x11):
        raise DecodeError("malformed reference type", at)
    return ref.heap


def _block_type(r: Reader, end: int):
    """-64 (empty), a negative numeric code - 0x80, a RefType, or a type index >= 0."""
    at = r.pos
    b = r.data[at] if at < end else None
    if b == 0x40:
        r.pos += 1
        return BLOCKTYPE_EMPTY
    if b in NUMERIC_CODES:
        r.pos += 1
        return b - 0x80
    if b is not None and (b in REF_SHORTHANDS or b in GC_HEAP_CODES or b == REF_NULLABLE or b == REF_NON_NULL):
        return _val_type(r)
    imm = r.s33()
    if imm < 0:
        raise DecodeError("malformed block type", at)
    return imm


def iter_instructions(data: bytes, pos: int, end: int, stop_at_end: bool = False,
                      features: Features = WASM3, has_data_count: bool = True) -> Iterator[tuple[int, int, object]]:
    """Yield ``(offset, code, immediate)`` for each instruction in ``data[pos:end]``.

    With ``stop_at_end`` the walk stops after the ``end`` that closes depth 0
    (used for constant expressions, whose length is not known up front); otherwise
    ``data[pos:end]`` is a function body, which must end with the ``end`` closing depth 0
    (the format errors found here are DecodeErrors, also while the validator walks).
    ``features`` gates the 3.0 instructions and the memarg's memory-index flag;
    without ``has_data_count`` (the module has no data count section) memory.init and
    data.drop are malformed.
    """
    r = Reader(data, pos, end, features)
    depth = 0
    imm_of = _IMM if features.any_3_0 else _IMM_2_0
    max_align_flags = 128 if features.multi_memory else 32
    while r.pos < end:
        at = r.pos
        code = data[at]
        r.pos = at + 1
        if code == 0xFC:
            code = 0xFC00 + r.u32()  # "+", not "|": a large subopcode must not alias a valid one
            if code > 0xFC11:
                raise DecodeError(f"illegal opcode 0xfc {code & 0xFF:#x}", at)
        elif code == 0xFD:
            sub = r.u32()
            code = 0xFD00 + sub
            if sub > 0x113 or code not in imm_of or sub > 0xFF and not features.relaxed_simd:
                raise DecodeError(f"illegal opcode 0xfd {sub:#x}", at)
        kind = imm_of.get(code)
        if kind is None:
            why = _UNSUPPORTED.get(code)
            raise DecodeError(f"illegal opcode {code:#x}" + (f": {why} is not supported" if why else ""), at)
        if kind == "none":
            imm = None
            if code == 0x0B:
                if depth == 0:
                    if stop_at_end:
                        _LAST_END[0] = r.pos
                        yield at, code, None
                        return
                    yield at, code, None       # the body's final end: nothing may follow
                    if r.pos < end:
                        raise DecodeError("section size mismatch: instructions after the function's final end", r.pos)
                    return
                depth -= 1
            elif code == 0x05:
                pass
        elif kind == "local" or kind == "global" or kind == "label" or kind == "func" \
                or kind == "table" or kind == "data" or kind == "elem":
            imm = r.u32()
            if kind == "data" and not has_data_count:
                raise DecodeError("data count section required", at)
        elif kind == "memarg":
            imm = _memarg(r, max_align_flags, False)
        elif kind == "i32":
            imm = r.s32()
        elif kind == "lane":
            imm = r.byte()
        elif kind == "memarg_lane":
            imm = _memarg(r, max_align_flags, True)
        elif kind == "v128.const":
            imm = int.from_bytes(r.bytes(16), "little")
        elif kind == "shuffle":
            imm = tuple(r.bytes(16))
        elif kind == "blocktype":
            imm = _block_type(r, end)
            depth += 1
        elif kind == "try_table":
            bt = _block_type(r, end)
            catches = []
            for _ in range(r.vec_len()):
                cat = r.pos
                ck = r.byte()
                if ck > 3:
                    raise DecodeError("malformed catch clause", cat)
                tag = r.u32() if ck < 2 else None     # catch, catch_ref name a tag
                catches.append(Catch(ck, tag, r.u32()))
            imm = TryTable(bt, tuple(catches))
            depth += 1
        elif kind == "i64":
            imm = r.s64()
        elif kind == "f32":
            imm = r.f32_bits()
        elif kind == "f64":
            imm = r.f64_bits()
        elif kind == "br_table":
            n = r.vec_len()
            labels = tuple(r.u32() for _ in range(n))
            imm = (labels, r.u32())
        elif kind == "call_indirect":
            imm = (r.u32(), r.u32())
        elif kind == "memidx":
            imm = _memory_index(r, features)
        elif kind == "select_t":
            n = r.vec_len()
            imm = tuple(_val_type(r) for _ in range(n))
        elif kind == "heaptype":
            imm = _ref_null_heap_type(r)
        elif kind == "memory.init":
            imm = (r.u32(), _memory_index(r, features))
            if not has_data_count:
                raise DecodeError("data count section required", at)
        elif kind == "memory.copy":
            imm = (_memory_index(r, features), _memory_index(r, features))
        elif kind == "tag" or kind == "type":
            imm = r.u32()
        elif kind == "table.init":
            imm = (r.u32(), r.u32())
        elif kind == "table.copy":
            imm = (r.u32(), r.u32())
        else:  # pragma: no cover - the table and this function must agree
            raise AssertionError(kind)
        yield at, code, imm
    if stop_at_end:
        raise DecodeError("unexpected end of section or function", end)
    raise DecodeError("END opcode expected: function body ends inside a block", end)
