"""Multi-memory: every memory instruction with a memory index, data segments into any
memory, imported and exported memories beyond the first.

Modules are written in WebAssembly text and assembled with ``wasm-tools parse``; each
test runs at -O0 and -O2.
"""
from __future__ import annotations

import shutil

import pytest

from runner.api import Config, Engine
from runner.errors import LinkError, Trap, TrapKind, ValidationError
from runner.translate.module import translate_module
from runner.binary.decode import decode
from .wat import wasm_tools_parse as assemble

WASM_TOOLS = shutil.which("wasm-tools")
pytestmark = pytest.mark.skipif(WASM_TOOLS is None, reason="wasm-tools is not installed")




@pytest.fixture(scope="module", params=[0, 2], ids=["O0", "O2"])
def engine(request):
    e = Engine(Config(cache=False, opt_level=request.param, tiering=False))
    yield e
    e.close()


THREE = """(module
  (memory $a 1)
  (memory $b 2 4)
  (memory $c 0 1)
  (data (memory $a) (i32.const 0) "aaaa")
  (data (memory $b) (i32.const 65536) "bbbb")
  (data $p "0123456789")
  (func (export "load_a") (param i32) (result i32) (i32.load8_u $a (local.get 0)))
  (func (export "load_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
  (func (export "load_c") (param i32) (result i32) (i32.load8_u $c (local.get 0)))
  (func (export "load_b_off") (param i32) (result i64) (i64.load $b offset=65532 (local.get 0)))
  (func (export "store_b") (param i32 i32) (i32.store16 $b (local.get 0) (local.get 1)))
  (func (export "store_c") (param i32 i32) (i32.store8 $c (local.get 0) (local.get 1)))
  (func (export "v128_b") (param i32) (result i32)
    (i32x4.extract_lane 0 (v128.load $b (local.get 0))))
  (func (export "v128_store_c") (param i32)
    (v128.store $c (local.get 0) (v128.const i32x4 1 2 3 4)))
  (func (export "size_a") (result i32) (memory.size $a))
  (func (export "size_b") (result i32) (memory.size $b))
  (func (export "size_c") (result i32) (memory.size $c))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0)))
  (func (export "grow_c") (param i32) (result i32) (memory.grow $c (local.get 0)))
  (func (export "copy_b_to_a") (param i32 i32 i32) (memory.copy $a $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_a_to_c") (param i32 i32 i32) (memory.copy $c $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "fill_b") (param i32 i32 i32) (memory.fill $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_c") (param i32 i32 i32) (memory.init $c $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop_p") (data.drop $p))
)"""


def test_each_memory_is_its_own(engine, tmp_path):
    inst = engine.instantiate(engine.compile(assemble(THREE, tmp_path)), {})
    e = inst.exports
    assert e["load_a"](0) == ord("a") and e["load_b"](0) == 0
    assert e["load_b"](65536) == ord("b") and e["load_b"](65539) == ord("b")
    assert e["load_b_off"](4) == int.from_bytes(b"bbbb\0\0\0\0", "little")
    assert (e["size_a"](), e["size_b"](), e["size_c"]()) == (1, 2, 0)
    e["store_b"](10, 0x1234)
    assert e["load_b"](10) == 0x34 and e["load_b"](11) == 0x12 and e["load_a"](10) == 0
    assert e["v128_b"](65536) == int.from_bytes(b"bbbb", "little")


def test_out_of_bounds_per_memory(engine, tmp_path):
    inst = engine.instantiate(engine.compile(assemble(THREE, tmp_path)), {})
    e = inst.exports
    e["load_a"](65535)
    for fn, args in (("load_a", (65536,)), ("load_c", (0,)), ("store_c", (0, 1)), ("load_b", (2 * 65536,)),
                     ("v128_b", (2 * 65536 - 15,)), ("v128_store_c", (0,)), ("load_b_off", (65536 + 5,))):
        with pytest.raises(Trap) as info:
            e[fn](*args)
        assert info.value.kind == TrapKind.MEMORY_OUT_OF_BOUNDS, fn


def test_grow_one_memory(engine, tmp_path):
    inst = engine.instantiate(engine.compile(assemble(THREE, tmp_path)), {})
    e = inst.exports
    assert e["grow_c"](1) == 0 and e["size_c"]() == 1 and e["size_a"]() == 1
    e["store_c"](65535, 7)
    assert e["load_c"](65535) == 7
    assert e["grow_c"](1) == -1                   # max 1
    assert e["grow_b"](2) == 2 and e["grow_b"](1) == -1 and e["size_b"]() == 4
    e["v128_store_c"](65520)
    assert [e["load_c"](65520 + 4 * i) for i in range(4)] == [1, 2, 3, 4]


def test_bulk_operations_between_memories(engine, tmp_path):
    inst = engine.instantiate(engine.compile(assemble(THREE, tmp_path)), {})
    e = inst.exports
    e["copy_b_to_a"](100, 65536, 4)
    assert [e["load_a"](100 + i) for i in range(5)] == [ord("b")] * 4 + [0]
    e["fill_b"](5, 0x41, 3)
    assert [e["load_b"](i) for i in range(4, 9)] == [0, 0x41, 0x41, 0x41, 0]
    assert e["grow_c"](1) == 0
    e["init_c"](65530, 2, 6)
    assert bytes(e["load_c"](65530 + i) for i in range(6)) == b"234567"
    e["copy_a_to_c"](0, 0, 4)
    assert [e["load_c"](i) for i in range(4)] == [ord("a")] * 4
    for fn, args in (("copy_b_to_a", (65533, 0, 4)), ("copy_b_to_a", (0, 2 * 65536 - 3, 4)),
                     ("fill_b", (2 * 65536, 0, 1)), ("init_c", (65535, 0, 2)), ("init_c", (0, 9, 2))):
        with pytest.raises(Trap) as info:
            e[fn](*args)
        assert info.value.kind == TrapKind.MEMORY_OUT_OF_BOUNDS, (fn, args)
    e["drop_p"]()
    e["init_c"](0, 0, 0)
    with pytest.raises(Trap):
        e["init_c"](0, 0, 1)


def test_imported_and_exported_memories(engine, tmp_path):
    """Memory 1 imported, memory 2 defined and exported; a second instance sees the writes."""
    provider = engine.instantiate(engine.compile(assemble("""(module
      (memory (export "m0") 1) (memory (export "m1") 1 2)
      (func (export "peek1") (param i32) (result i32) (i32.load8_u 1 (local.get 0))))""", tmp_path)), {})
    user = engine.instantiate(engine.compile(assemble("""(module
      (import "p" "m0" (memory 1))
      (import "p" "m1" (memory 1 2))
      (memory (export "own") 1)
      (data (memory 1) (i32.const 7) "\\2a")
      (func (export "poke1") (param i32 i32) (i32.store8 1 (local.get 0) (local.get 1)))
      (func (export "peek2") (param i32) (result i32) (i32.load8_u 2 (local.get 0)))
      (func (export "grow1") (result i32) (memory.grow 1 (i32.const 1))))""", tmp_path)),
        {("p", "m0"): provider.exports["m0"], ("p", "m1"): provider.exports["m1"]})
    assert provider.exports["peek1"](7) == 42
    user.exports["poke1"](3, 9)
    assert provider.exports["peek1"](3) == 9 and user.exports["peek2"](3) == 0
    assert user.exports["grow1"]() == 1 and provider.exports["m1"].pages == 2
    with pytest.raises(LinkError):   # a 1-page memory where at least 2 are required
        engine.instantiate(engine.compile(assemble(
            '(module (import "p" "m0" (memory 1)) (import "p" "m1" (memory 2)))', tmp_path)),
            {("p", "m0"): provider.exports["m0"], ("p", "m1"): provider.exports["m0"]})


def test_data_segment_out_of_bounds_in_second_memory(engine, tmp_path):
    with pytest.raises(Trap) as info:
        engine.instantiate(engine.compile(assemble(
            '(module (memory 1) (memory 0) (data (memory 1) (i32.const 0) "x"))', tmp_path)), {})
    assert info.value.kind == TrapKind.MEMORY_OUT_OF_BOUNDS


@pytest.mark.parametrize("body, message", [
    ("(drop (i32.load 2 (i32.const 0)))", "unknown memory 2"),
    ("(i32.store 3 (i32.const 0) (i32.const 0))", "unknown memory 3"),
    ("(drop (memory.size 2))", "unknown memory 2"),
    ("(drop (memory.grow 2 (i32.const 0)))", "unknown memory 2"),
    ("(memory.fill 2 (i32.const 0) (i32.const 0) (i32.const 0))", "unknown memory 2"),
    ("(memory.copy 0 2 (i32.const 0) (i32.const 0) (i32.const 0))", "unknown memory 2"),
    ("(memory.init 2 0 (i32.const 0) (i32.const 0) (i32.const 0))", "unknown memory 2"),
])
def test_validation_names_the_memory(tmp_path, body, message):
    wasm = assemble(f"(module (memory 1) (memory 1) (data \"\") (func {body}))", tmp_path)
    e = Engine(Config(cache=False, opt_level=0))
    with pytest.raises(ValidationError, match=message):
        e.compile(wasm)


def test_memory_zero_code_is_unchanged_by_other_memories(tmp_path):
    """Memory 0's accesses read their base from @wr.mem0 in the entry block, as with one
    memory, and carry no bounds check (guard pages); memory 1 has its own base."""
    m = decode(assemble("""(module (memory 1) (memory 1)
      (func (param i32) (result i32) (i32.add (i32.load (local.get 0)) (i32.load 1 offset=8 (local.get 0)))))""",
                        tmp_path))
    ir = translate_module(m).text()
    body = ir[ir.index("define hidden i32 @w0"):]
    body = body[:body.index("\n}")]
    assert "%membase = load ptr, ptr @wr.mem0, !invariant.load" in body
    assert "%membase1 = load ptr, ptr @wr.mem1, !invariant.load" in body
    assert "icmp" not in body and "wr_trap" not in body


def test_single_32_bit_memory_ir_has_nothing_new(tmp_path):
    """A module with one 32-bit memory gets the IR it got before multi-memory and memory64
    (checked byte for byte against main over the 2.0 suite's modules when this landed): no
    new declarations, no checks, memory.init through the old helper."""
    m = decode(assemble("""(module (memory 1) (data "abc")
      (func (param i32) (result i32)
        (memory.init 0 (local.get 0) (i32.const 0) (i32.const 1))
        (memory.copy (local.get 0) (i32.const 0) (i32.const 1))
        (memory.fill (local.get 0) (i32.const 0) (i32.const 1))
        (drop (memory.grow (i32.const 1)))
        (i32.add (memory.size) (i32.load offset=4 (local.get 0)))))""", tmp_path))
    ir = translate_module(m).text()
    for new in ("@wr.mem1", "wr_memory_init_at", "wr_memory_grow64", "usub.sat.i64", "wr_table_grow64"):
        assert new not in ir
    assert "call i32 @wr_memory_init(ptr @wr.instance, i32 0," in ir
