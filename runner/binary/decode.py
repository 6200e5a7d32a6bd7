"""Section-by-section decoder: wasm bytes -> ``Module``.

Function bodies are not decoded here beyond their locals: ``iter_instructions``
streams a body's instructions for the validator and the translator, so each
pass pays for one walk over the bytes and nothing is materialised.
"""
from __future__ import annotations

from typing import Iterator

from ..errors import DecodeError, ValidationError
from . import opcodes as op
from .module import (EXTERNREF, FUNCREF, KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, KIND_TABLE,
                     MODE_ACTIVE, MODE_DECLARATIVE, MODE_PASSIVE, ConstExpr, CustomSection,
                     DataSegment, ElementSegment, Export, FunctionBody, FuncType, Global,
                     GlobalType, Import, Limits, MemoryType, Module, TableType)
from .reader import Reader

MAGIC = b"\0asm"
VERSION = b"\1\0\0\0"
VALUE_TYPES = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x7B, FUNCREF, EXTERNREF))
REF_TYPES = frozenset((FUNCREF, EXTERNREF))
BLOCKTYPE_EMPTY = -64          # 0x40 read as s33
MAX_PAGES = 65536
MAX_LOCALS = 50000             # same limit as wasmtime / the JS API; keeps frames sane

# Section ids in the order they must appear (the data count section, 12, sits before code).
_SECTION_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}


def decode(data: bytes) -> Module:
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
    m = Module(raw=data)
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
            if order is None:
                raise DecodeError(f"malformed section id {sec_id}", sec_start)
            if order <= last_order:
                raise DecodeError("unexpected content after last section (section out of order or duplicated)", sec_start)
            last_order = order
        s = Reader(data, start, end)
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
                m.tables.append(_table_type(s))
        elif sec_id == 5:
            for _ in range(s.vec_len()):
                m.memories.append(_memory_type(s))
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


def _val_type(s: Reader) -> int:
    at = s.pos
    t = s.byte()
    if t not in VALUE_TYPES:
        raise DecodeError(f"malformed value type {t:#x}", at)
    return t


def _ref_type(s: Reader) -> int:
    at = s.pos
    t = s.byte()
    if t not in REF_TYPES:
        raise DecodeError(f"malformed reference type {t:#x}", at)
    return t


def _types(s: Reader, m: Module) -> None:
    for _ in range(s.vec_len()):
        at = s.pos
        if s.byte() != 0x60:
            raise DecodeError("integer representation too long (malformed function type)", at)
        params = tuple(_val_type(s) for _ in range(s.vec_len()))
        results = tuple(_val_type(s) for _ in range(s.vec_len()))
        m.types.append(FuncType(params, results))


def _limits(s: Reader, max_value: int) -> Limits:
    at = s.pos
    flag = s.byte()
    if flag == 0:
        return Limits(s.u32(), None)
    if flag == 1:
        return Limits(s.u32(), s.u32())
    raise DecodeError("integer too large (malformed limits flags)", at)


def _table_type(s: Reader) -> TableType:
    et = _ref_type(s)
    return TableType(et, _limits(s, 2**32 - 1))


def _memory_type(s: Reader) -> MemoryType:
    return MemoryType(_limits(s, MAX_PAGES))


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
        else:
            raise DecodeError("malformed import kind", at)
        m.imports.append(Import(module, name, kind, desc))


def _exports(s: Reader, m: Module) -> None:
    for _ in range(s.vec_len()):
        name = s.name()
        at = s.pos
        kind = s.byte()
        if kind > KIND_GLOBAL:
            raise DecodeError("malformed export kind", at)
        m.exports.append(Export(name, kind, s.u32()))


_CONST_OPS = {0x41: "i32.const", 0x42: "i64.const", 0x43: "f32.const", 0x44: "f64.const", 0xFD0C: "v128.const",
              0x23: "global.get", 0xD0: "ref.null", 0xD2: "ref.func"}


def _const_expr(s: Reader, m: Module) -> ConstExpr:
    """A constant expression. Shape errors (not one allowed instruction) are validation errors."""
    start = s.pos
    instrs = []
    for at, code, imm in iter_instructions(s.data, s.pos, s.end, stop_at_end=True):
        instrs.append((at, code, imm))
    # iter_instructions stopped right after the expression's final `end`.
    s.pos = _LAST_END[0]
    body = instrs[:-1]
    if any(code not in _CONST_OPS for _, code, _ in body):
        bad = next(at for at, code, _ in body if code not in _CONST_OPS)
        raise ValidationError("constant expression required", bad)
    if len(body) != 1:
        raise ValidationError("type mismatch: constant expression must produce exactly one value", start)
    at, code, imm = body[0]
    value = imm
    if code == 0x41:
        value = imm & 0xFFFFFFFF
    elif code == 0x42:
        value = imm & 0xFFFFFFFFFFFFFFFF
    return ConstExpr(_CONST_OPS[code], value, at)


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
    b = Reader(s.data, s.pos, end)
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


# --- instructions -------------------------------------------------------------------------

_IMM = op.IMMEDIATE
# Opcodes of post-2.0 proposals: their decode error names what is not supported.
_UNSUPPORTED = {**{c: "exception handling" for c in (0x06, 0x07, 0x08, 0x09, 0x0A, 0x18, 0x19, 0x1F)},
                0x12: "the tail-call proposal", 0x13: "the tail-call proposal",
                **{c: "the typed function references proposal" for c in (0x14, 0x15, 0xD3, 0xD4, 0xD5, 0xD6)},
                0xFB: "the GC proposal", 0xFE: "the threads proposal (atomics)"}
_LAST_END = [0]  # position after the last instruction iter_instructions(stop_at_end=True) read


def iter_instructions(data: bytes, pos: int, end: int, stop_at_end: bool = False
                      ) -> Iterator[tuple[int, int, object]]:
    """Yield ``(offset, code, immediate)`` for each instruction in ``data[pos:end]``.

    With ``stop_at_end`` the walk stops after the ``end`` that closes depth 0
    (used for constant expressions, whose length is not known up front).
    """
    r = Reader(data, pos, end)
    depth = 0
    imm_of = _IMM
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
            if sub > 0xFF or code not in imm_of:
                why = ": relaxed SIMD is not supported" if 0x100 <= sub <= 0x113 else ""
                raise DecodeError(f"illegal opcode 0xfd {sub:#x}{why}", at)
        kind = imm_of.get(code)
        if kind is None:
            why = _UNSUPPORTED.get(code)
            raise DecodeError(f"illegal opcode {code:#x}" + (f": {why} is not supported" if why else ""), at)
        if kind == "none":
            imm = None
            if code == 0x0B:
                if depth == 0 and stop_at_end:
                    _LAST_END[0] = r.pos
                    yield at, code, None
                    return
                depth -= 1
            elif code == 0x05:
                pass
        elif kind == "local" or kind == "global" or kind == "label" or kind == "func" \
                or kind == "table" or kind == "data" or kind == "elem":
            imm = r.u32()
        elif kind == "memarg":
            fat = r.pos
            align = r.u32()
            if align >= 32:  # an alignment exponent of 32+ (or a multi-memory flag bit) is malformed in 2.0
                raise DecodeError("malformed memop flags", fat)
            imm = (align, r.u32())
        elif kind == "i32":
            imm = r.s32()
        elif kind == "lane":
            imm = r.byte()
        elif kind == "memarg_lane":
            fat = r.pos
            align = r.u32()
            if align >= 32:
                raise DecodeError("malformed memop flags", fat)
            imm = (align, r.u32(), r.byte())
        elif kind == "v128.const":
            imm = int.from_bytes(r.bytes(16), "little")
        elif kind == "shuffle":
            imm = tuple(r.bytes(16))
        elif kind == "blocktype":
            b = data[r.pos] if r.pos < end else None
            if b == 0x40 or b in VALUE_TYPES:
                r.pos += 1
                imm = b - 0x80 if b != 0x40 else BLOCKTYPE_EMPTY
            else:
                imm = r.s33()
                if imm < 0:
                    raise DecodeError("malformed block type", at + 1)
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
            zat = r.pos
            if r.byte() != 0:
                raise DecodeError("zero byte expected", zat)
            imm = 0
        elif kind == "select_t":
            n = r.vec_len()
            imm = tuple(_val_type(r) for _ in range(n))
        elif kind == "reftype":
            imm = _ref_type(r)
        elif kind == "memory.init":
            imm = r.u32()
            zat = r.pos
            if r.byte() != 0:
                raise DecodeError("zero byte expected", zat)
        elif kind == "memory.copy":
            for _ in range(2):
                zat = r.pos
                if r.byte() != 0:
                    raise DecodeError("zero byte expected", zat)
            imm = None
        elif kind == "table.init":
            imm = (r.u32(), r.u32())
        elif kind == "table.copy":
            imm = (r.u32(), r.u32())
        else:  # pragma: no cover - the table and this function must agree
            raise AssertionError(kind)
        yield at, code, imm
    if stop_at_end:
        raise DecodeError("unexpected end of section or function", end)
