"""The binary decoder: real rustc output, hand-made bytes, and malformed modules with offsets."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.binary.decode import decode, iter_instructions
from runner.binary.module import I32, KIND_FUNC, KIND_GLOBAL, KIND_MEMORY, MODE_ACTIVE, FuncType
from runner.binary.reader import Reader
from runner.errors import DecodeError

from .wat import wat2wasm

FIB = Path(__file__).resolve().parents[1] / "examples" / "fib.wasm"
HEADER = b"\0asm\1\0\0\0"


def test_fib_wasm_sections():
    m = decode(FIB.read_bytes())
    assert [(i.module, i.name) for i in m.imports] == [
        ("wasi_snapshot_preview1", "fd_write"), ("wasi_snapshot_preview1", "environ_get"),
        ("wasi_snapshot_preview1", "environ_sizes_get"), ("wasi_snapshot_preview1", "proc_exit")]
    assert len(m.bodies) == 284 and len(m.func_types) == 288
    assert {e.name: e.kind for e in m.exports} == {"memory": KIND_MEMORY, "__heap_base": KIND_GLOBAL,
                                                   "__data_end": KIND_GLOBAL, "_start": KIND_FUNC, "main": KIND_FUNC}
    assert m.memories[0].limits.min == 17 and m.tables[0].limits.max == 111
    assert m.elements[0].mode == MODE_ACTIVE and len(m.elements[0].init) == 110
    assert [len(d.data) for d in m.data] == [11840, 20]
    assert "_ZN3fib3fib17h5f33d3a143f09873E" in m.function_names.values()
    assert m.code_section_start == 0x33B  # wasm-objdump: Code start=0x33b (the contents follow the size LEB)
    assert {c.name for c in m.customs} == {"name", "producers"}
    # Every body decodes to instructions and ends with `end` exactly at its end.
    for b in m.bodies:
        last = None
        for at, code, imm in iter_instructions(m.raw, b.code_start, b.code_end):
            last = (at, code)
        assert last == (b.code_end - 1, 0x0B)


def test_small_module_roundtrip():
    wasm = wat2wasm("""(module (type (func (param i32) (result i32)))
        (func (export "f") (type 0) (i32.add (local.get 0) (i32.const -7))))""")
    m = decode(wasm)
    assert m.types == [FuncType((I32,), (I32,))]
    body = m.bodies[0]
    ops = [(code, imm) for _, code, imm in iter_instructions(m.raw, body.code_start, body.code_end)]
    assert ops == [(0x20, 0), (0x41, -7), (0x6A, None), (0x0B, None)]


@pytest.mark.parametrize("data, bits, value", [
    (b"\x7f", "s32", -1), (b"\xff\xff\xff\xff\x07", "s32", 2**31 - 1), (b"\x80\x80\x80\x80\x78", "s32", -2**31),
    (b"\xff\xff\xff\xff\x0f", "u32", 2**32 - 1), (b"\xe5\x8e\x26", "u32", 624485),
])
def test_leb128(data, bits, value):
    assert getattr(Reader(data), bits)() == value


@pytest.mark.parametrize("data, bits, message", [
    (b"\xff\xff\xff\xff\x1f", "u32", "integer too large"),
    (b"\x80\x80\x80\x80\x80\x00", "u32", "integer representation too long"),
    (b"\xff\xff\xff\xff\x4f", "s32", "integer too large"),
    (b"\x80\x80", "u32", "unexpected end"),
])
def test_leb128_malformed(data, bits, message):
    with pytest.raises(DecodeError, match=message):
        getattr(Reader(data), bits)()


@pytest.mark.parametrize("wasm, offset, message", [
    (b"\0asn\1\0\0\0", 0, "magic header"),
    (b"\0asm\2\0\0\0", 4, "unknown binary version"),
    (HEADER + b"\x01\x05\x01\x60\x00\x00", 8, "unexpected end"),               # section longer than the file
    (HEADER + b"\x0e\x00", 8, "malformed section id"),  # 13 is the tag section (3.0)
    (HEADER + b"\x03\x01\x00\x01\x01\x00", 11, "out of order"),               # type section after function section
    (HEADER + b"\x01\x05\x01\x60\x00\x00\x00", 14, "section size mismatch"),  # one byte left over in the section
    (HEADER + b"\x03\x02\x01\x00", 12, "inconsistent lengths"),               # function section without code
])
def test_malformed_modules_report_offset(wasm, offset, message):
    with pytest.raises(DecodeError, match=message) as info:
        m = decode(wasm)
        for b in m.bodies:
            list(iter_instructions(m.raw, b.code_start, b.code_end))
    assert info.value.offset == offset, str(info.value)
    assert f"{offset:#x}" in str(info.value)


def test_illegal_opcode_offset():
    wasm = bytearray(wat2wasm("(module (func (drop (i32.const 1))))"))
    pos = wasm.index(b"\x1a")   # the `drop`
    wasm[pos] = 0xFF
    m = decode(bytes(wasm))
    with pytest.raises(DecodeError, match="illegal opcode") as info:
        list(iter_instructions(m.raw, m.bodies[0].code_start, m.bodies[0].code_end))
    assert info.value.offset == pos


def test_broken_name_section_is_ignored():
    wasm = wat2wasm('(module (func $f))', "--debug-names")
    m = decode(wasm)
    assert m.function_names == {0: "f"}
    damaged = bytearray(wasm)
    damaged[wasm.rindex(b"\x01f") + 1] = 0xFF  # the name "f": now invalid UTF-8 inside the name section
    assert decode(bytes(damaged)).function_names == {}
