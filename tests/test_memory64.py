"""memory64 and table64 (i64 addresses and indices, explicit bounds checks) and extended
constant expressions.

Modules are written in WebAssembly text and assembled with ``wasm-tools parse``; each
test runs at -O0 and -O2.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.api import Config, Engine
from runner.binary.decode import decode
from runner.errors import LinkError, Trap, TrapKind, ValidationError
from runner.runtime.store import MEMORY64_MAX_PAGES
from runner.translate.module import translate_module
from .wat import wasm_tools_parse as assemble

REPO = Path(__file__).resolve().parents[1]
WASM_TOOLS = shutil.which("wasm-tools")
pytestmark = pytest.mark.skipif(WASM_TOOLS is None, reason="wasm-tools is not installed")
U64 = (1 << 64) - 1




@pytest.fixture(scope="module", params=[0, 2], ids=["O0", "O2"])
def engine(request):
    e = Engine(Config(cache=False, opt_level=request.param, tiering=False))
    yield e
    e.close()


MEM64 = """(module
  (memory i64 1 3)
  (data (i64.const 65530) "abcdef")
  (data $p "xyz")
  (func (export "load8") (param i64) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load64") (param i64) (result i64) (i64.load (local.get 0)))
  (func (export "load_far") (param i64) (result i32) (i32.load8_u offset=0xFFFFFFFFFFFFFFF0 (local.get 0)))
  (func (export "load_off") (param i64) (result i32) (i32.load offset=65532 (local.get 0)))
  (func (export "load_max") (param i64) (result i64) (i64.load offset=0xFFFFFFFFFFFFFFFF (local.get 0)))
  (func (export "store32") (param i64 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "v128") (param i64) (result i64) (i64x2.extract_lane 1 (v128.load (local.get 0))))
  (func (export "lane") (param i64) (result i32)
    (i32x4.extract_lane 0 (v128.load32_lane 0 (local.get 0) (v128.const i64x2 0 0))))
  (func (export "dead") (param i64) (drop (i64.load (local.get 0))))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "fill") (param i64 i32 i64) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i64 i64 i64) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i64 i32 i32) (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
)"""


def _oob(fn, *args):
    with pytest.raises(Trap) as info:
        fn(*args)
    assert info.value.kind == TrapKind.MEMORY_OUT_OF_BOUNDS, args


def test_i64_addresses_and_bounds(engine, tmp_path):
    e = engine.instantiate(engine.compile(assemble(MEM64, tmp_path)), {}).exports
    assert e["load8"](65530) == ord("a") and e["load8"](65535) == ord("f")
    assert e["load_off"](0) == int.from_bytes(b"cdef", "little")
    _oob(e["load8"], 65536)
    _oob(e["load8"], U64)                       # no wrap-around of the address
    _oob(e["load64"], 65529)                    # the last byte is past the end
    assert e["load64"](65528) == int.from_bytes(b"\0\0abcdef", "little")
    _oob(e["load_off"], 1)
    _oob(e["load_off"], U64 - 65531)            # address + offset wraps to 0: still out of bounds
    _oob(e["load_far"], 0x10)                   # offset near 2**64
    _oob(e["load_far"], 0)
    _oob(e["load_max"], 0)                      # offset + width > 2**64: a trap, whatever the address
    _oob(e["dead"], 65536)                      # a load whose value is dropped still traps
    _oob(e["v128"], 65521)
    assert e["v128"](65520) == int.from_bytes(b"\0\0abcdef", "little")
    assert e["lane"](65532) == int.from_bytes(b"cdef", "little")
    _oob(e["lane"], 65533)
    e["store32"](65532, 0x01020304)
    _oob(e["store32"], 65533, 0)
    assert e["load8"](65532) == 4


def test_size_and_grow_are_i64(engine, tmp_path):
    e = engine.instantiate(engine.compile(assemble(MEM64, tmp_path)), {}).exports
    assert e["size"]() == 1
    assert e["grow"](1) == 1 and e["size"]() == 2
    assert e["load8"](2 * 65536 - 1) == 0
    _oob(e["load8"], 2 * 65536)
    assert e["grow"](2) == -1 and e["grow"](1 << 40) == -1 and e["grow"](U64) == -1
    assert e["grow"](1) == 2 and e["size"]() == 3


def test_bulk_operations_on_a_64_bit_memory(engine, tmp_path):
    e = engine.instantiate(engine.compile(assemble(MEM64, tmp_path)), {}).exports
    e["fill"](10, 0x55, 3)
    assert [e["load8"](i) for i in range(9, 14)] == [0, 0x55, 0x55, 0x55, 0]
    e["copy"](20, 65530, 6)
    assert bytes(e["load8"](20 + i) for i in range(6)) == b"abcdef"
    e["init"](65533, 0, 3)
    assert bytes(e["load8"](65533 + i) for i in range(3)) == b"xyz"
    for fn, args in (("fill", (65535, 0, 2)), ("fill", (1, 0, U64)), ("fill", (U64, 0, 1)),
                     ("copy", (0, U64 - 1, 4)), ("copy", (U64, 0, 2)), ("copy", (0, 0, U64)),
                     ("init", (U64, 0, 1)), ("init", (65534, 0, 3))):
        _oob(e[fn], *args)
    e["fill"](65536, 0, 0)                      # zero length at the end is fine


def test_checked_access_is_one_compare(tmp_path):
    """Each 64-bit access costs one unsigned compare and a branch to the function's one trap
    block; the bound (size minus the offset and width) is computed from the size load."""
    m = decode(assemble("""(module (memory i64 1)
      (func (param i64) (result i32)
        (i32.add (i32.load offset=16 (local.get 0)) (i32.load8_u offset=4 (local.get 0)))))""", tmp_path))
    ir = translate_module(m).text()
    body = ir[ir.index("define hidden i32 @w0"):]
    body = body[:body.index("\n}")]
    assert len(re.findall(r"icmp uge i64", body)) == 2
    assert "@llvm.usub.sat.i64(i64 %t" in body and ", i64 19)" in body and ", i64 4)" in body
    assert body.count("call void @wr_trap") == 1


def test_64_bit_memory_limits(engine, tmp_path):
    m = engine.compile(assemble("(module (memory (export \"m\") i64 1))", tmp_path))
    mem = engine.instantiate(m, {}).exports["m"]
    assert mem.max_pages == MEMORY64_MAX_PAGES
    small = Engine(Config(cache=False, opt_level=0, max_memory=3 * 65536))
    mem = small.instantiate(small.compile(assemble("(module (memory (export \"m\") i64 1 100))", tmp_path)),
                            {}).exports["m"]
    assert mem.max_pages == 3
    with pytest.raises(ValidationError):
        engine.compile(assemble("(module (memory i64 0x1_0000_0000_0001))", tmp_path))


def test_import_kinds_must_match(engine, tmp_path):
    p = engine.instantiate(engine.compile(assemble(
        '(module (memory (export "m64") i64 1) (memory (export "m32") 1))', tmp_path)), {}).exports
    with pytest.raises(LinkError):
        engine.instantiate(engine.compile(assemble('(module (import "p" "m" (memory i64 1)))', tmp_path)),
                           {("p", "m"): p["m32"]})
    with pytest.raises(LinkError):
        engine.instantiate(engine.compile(assemble('(module (import "p" "m" (memory 1)))', tmp_path)),
                           {("p", "m"): p["m64"]})
    engine.instantiate(engine.compile(assemble('(module (import "p" "m" (memory i64 1)))', tmp_path)),
                       {("p", "m"): p["m64"]})


TABLE64 = """(module
  (type $v (func (result i32)))
  (table $t i64 3 10 funcref)
  (table $u 2 funcref)
  (elem (table $t) (i64.const 1) func $one $two)
  (elem $e func $two)
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func (export "call") (param i64) (result i32) (call_indirect $t (type $v) (local.get 0)))
  (func (export "size") (result i64) (table.size $t))
  (func (export "grow") (param i64) (result i64) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "is_null") (param i64) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func (export "set") (param i64) (table.set $t (local.get 0) (ref.func $one)))
  (func (export "fill") (param i64 i64) (table.fill $t (local.get 0) (ref.func $two) (local.get 1)))
  (func (export "copy_to_u") (param i32 i64 i32) (table.copy $u $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_in_t") (param i64 i64 i64) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i64 i32 i32) (table.init $t $e (local.get 0) (local.get 1) (local.get 2)))
  (func (export "call_u") (param i32) (result i32) (call_indirect $u (type $v) (local.get 0)))
)"""


def test_table64(engine, tmp_path):
    e = engine.instantiate(engine.compile(assemble(TABLE64, tmp_path)), {}).exports
    assert e["call"](1) == 1 and e["call"](2) == 2
    with pytest.raises(Trap) as info:
        e["call"](1 << 32 | 1)                  # not truncated to 32 bits
    assert info.value.kind == TrapKind.INDIRECT_CALL_OUT_OF_RANGE
    assert e["size"]() == 3 and e["is_null"](0) == 1
    with pytest.raises(Trap) as info:
        e["is_null"](U64)
    assert info.value.kind == TrapKind.TABLE_OUT_OF_BOUNDS
    assert e["grow"](2) == 3 and e["size"]() == 5 and e["grow"](6) == -1 and e["grow"](U64) == -1
    e["set"](4)
    assert e["call"](4) == 1
    e["fill"](0, 1)
    assert e["call"](0) == 2
    with pytest.raises(Trap):
        e["fill"](4, U64)
    e["copy_to_u"](0, 1, 2)
    assert e["call_u"](0) == 1 and e["call_u"](1) == 2
    e["copy_in_t"](3, 1, 2)
    assert e["call"](3) == 1 and e["call"](4) == 2
    with pytest.raises(Trap):
        e["copy_in_t"](0, U64, 2)
    e["init"](2, 0, 1)
    assert e["call"](2) == 2
    with pytest.raises(Trap):
        e["init"](U64, 0, 1)


EXTENDED_CONST = """(module
  (import "env" "base" (global $base i32))
  (global $a i32 (i32.add (global.get $base) (i32.const 10)))
  (global $b i64 (i64.mul (i64.sub (i64.const 7) (i64.const 2)) (i64.const -3)))
  (global $c i32 (i32.mul (global.get $a) (global.get $a)))
  (global $wrap i32 (i32.add (i32.const 0x7fffffff) (i32.const 2)))
  (memory 1)
  (table 10 funcref)
  (data (offset (i32.sub (global.get $a) (i32.const 2))) "hi")
  (elem (offset (i32.add (global.get $base) (i32.const 1))) func $f)
  (func $f (result i32) (i32.const 77))
  (func (export "a") (result i32) (global.get $a))
  (func (export "b") (result i64) (global.get $b))
  (func (export "c") (result i32) (global.get $c))
  (func (export "wrap") (result i32) (global.get $wrap))
  (func (export "byte") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "call") (param i32) (result i32) (call_indirect (result i32) (local.get 0)))
)"""


def test_extended_constant_expressions(engine, tmp_path):
    from runner.binary.module import I32, GlobalType
    from runner.runtime.store import GlobalCell
    base = GlobalCell(GlobalType(I32, False), 5)
    e = engine.instantiate(engine.compile(assemble(EXTENDED_CONST, tmp_path)), {("env", "base"): base}).exports
    assert e["a"]() == 15 and e["b"]() == -15 and e["c"]() == 225 and e["wrap"]() == -0x7fffffff
    assert e["byte"](13) == ord("h") and e["byte"](14) == ord("i")
    assert e["call"](6) == 77


@pytest.mark.parametrize("expr, message", [
    ("(i32.add (i32.const 1) (i64.const 2))", "type mismatch"),
    ("(i32.add (i32.const 1))", "type mismatch"),
    ("(i32.const 1) (i32.const 2)", "type mismatch"),
    ("(i32.div_u (i32.const 1) (i32.const 2))", "constant expression required"),
    ("(global.get 1)", "unknown global"),
])
def test_extended_constant_validation(tmp_path, expr, message):
    wasm = assemble(f"(module (global i32 {expr}) (global i32 (i32.const 0)))", tmp_path)
    with pytest.raises(ValidationError, match=message):
        Engine(Config(cache=False, opt_level=0)).compile(wasm)


def test_global_get_of_an_earlier_defined_global(engine, tmp_path):
    e = engine.instantiate(engine.compile(assemble("""(module
      (global $x i64 (i64.const 40)) (global $y i64 (i64.add (global.get $x) (i64.const 2)))
      (func (export "y") (result i64) (global.get $y)))""", tmp_path)), {}).exports
    assert e["y"]() == 42
    with pytest.raises(ValidationError, match="constant expression required|immutable"):
        engine.compile(assemble("(module (global $x (mut i32) (i32.const 1)) (global i32 (global.get $x)))", tmp_path))


# --- a real C program, built for wasm32 and wasm64 ------------------------------------------

def _build_c(tmp_path_factory, bits: int) -> Path:
    """tests/programs/mem64.c, freestanding: zig has no libc for wasm64-wasi (WASI preview1
    is a 32-bit ABI), so the program exports functions and has no `_start`."""
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("ziglang (pip install ziglang) is not installed")
    out = tmp_path_factory.mktemp(f"zig{bits}") / f"mem{bits}.wasm"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", f"--target=wasm{bits}-freestanding", "-O2", "-nostdlib",
                    "-Wl,--no-entry", "-Wl,--export=sum_rounds", "-Wl,--export=sort_check", "-Wl,--export=heap_base",
                    "-Wl,--initial-memory=16777216", str(REPO / "tests" / "programs" / "mem64.c"), "-o", str(out)],
                   check=True, capture_output=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def c_programs(tmp_path_factory) -> dict[int, Path]:
    return {bits: _build_c(tmp_path_factory, bits) for bits in (32, 64)}


def _wasmtime_results(wasm: Path) -> list[int]:
    wasmtime = pytest.importorskip("wasmtime")
    cfg = wasmtime.Config()
    cfg.wasm_memory64 = True
    store = wasmtime.Store(wasmtime.Engine(cfg))
    ex = wasmtime.Instance(store, wasmtime.Module.from_file(store.engine, str(wasm)), []).exports(store)
    return [ex["sum_rounds"](store, 5000, 3), ex["sort_check"](store, 100_000), ex["heap_base"](store)]


def test_c_program_on_a_64_bit_memory(engine, c_programs):
    """The same C source on a 32-bit and on a 64-bit memory gives wasmtime's results."""
    for bits, wasm in c_programs.items():
        m = decode(wasm.read_bytes())
        assert m.memories[0].is64 == (bits == 64)
        ex = engine.instantiate(engine.compile(wasm.read_bytes()), {}).exports
        got = [ex["sum_rounds"](5000, 3) & U64, ex["sort_check"](100_000) & U64, ex["heap_base"]()]
        assert got == _wasmtime_results(wasm), bits


@pytest.mark.parametrize("config", [dict(opt_level=2), dict(opt_level=0, debug_info=True)], ids=["tiered", "debug"])
def test_checks_at_the_first_tier_and_with_debug_info(tmp_path, config):
    """The base tier (SROA + FastISel) and -g (one trap block per site) keep every check."""
    e = Engine(Config(cache=False, **config))
    try:
        ex = e.instantiate(e.compile(assemble(MEM64, tmp_path)), {}).exports
        assert ex["load_off"](0) == int.from_bytes(b"cdef", "little")
        for fn, arg in (("load8", 65536), ("load_off", U64 - 65531), ("load_far", 0), ("dead", 65536), ("v128", 65521)):
            _oob(ex[fn], arg)
    finally:
        e.close()
