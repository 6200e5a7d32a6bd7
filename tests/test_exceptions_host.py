"""Host functions the ctypes path cannot express (runner/runtime/hostcall.py): several
results, v128 parameters and results, exnref values — through the Linker, as an embedder
writes them (wasmtime-py's conventions: a tuple or list of results)."""
from __future__ import annotations

import pytest

from runner import Config, Engine, FuncType, Linker, Tag, ValType, WasmException

from .wat import wasm_tools_parse

I32, I64, F32, F64, V128 = ValType.i32(), ValType.i64(), ValType.f32(), ValType.f64(), ValType.v128()

HOSTS = r"""
(module
  (import "host" "divmod" (func $divmod (param i64 i64) (result i64 i64)))
  (import "host" "mix" (func $mix (param f32 i32) (result f64 i32 f32)))
  (import "host" "swap" (func $swap (param v128 i32) (result i32 v128)))
  (import "host" "vadd" (func $vadd (param v128 v128) (result v128)))
  (import "host" "many" (func $many (result i32 i32 i32 i32 i32 i32 i32 i32)))
  (func (export "divmod") (param i64 i64) (result i64 i64)
    (call $divmod (local.get 0) (local.get 1)))
  ;; the results used by wasm code, not only passed through: q * 1000 + r
  (func (export "divmod_used") (param i64 i64) (result i64)
    (local $r i64)
    (call $divmod (local.get 0) (local.get 1))
    (local.set $r)
    (i64.mul (i64.const 1000)) (local.get $r) (i64.add))
  (func (export "mix") (param f32 i32) (result f64 i32 f32) (call $mix (local.get 0) (local.get 1)))
  (func (export "swap_lane") (param i32) (result i32 i64)
    (local $v v128)
    (call $swap (v128.const i32x4 1 2 3 4) (local.get 0))
    (local.set $v)
    (i64x2.extract_lane 1 (local.get $v)))
  (func (export "vadd") (param v128 v128) (result v128) (call $vadd (local.get 0) (local.get 1)))
  (func (export "vadd_lanes") (result i32)
    (i32x4.extract_lane 3 (call $vadd (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 40))))
  (func (export "many") (result i32)
    (local $s i32)
    (call $many)
    (local.set $s) (i32.add (local.get $s)) (local.set $s) (i32.add (local.get $s)) (local.set $s)
    (i32.add (local.get $s)) (local.set $s) (i32.add (local.get $s)) (local.set $s)
    (i32.add (local.get $s)) (local.set $s) (i32.add (local.get $s)) (local.set $s)
    (i32.add (local.get $s))))
"""


@pytest.fixture(scope="module", params=[0, 2])
def engine(request):
    e = Engine(Config(opt_level=request.param, cache=False))
    yield e
    e.close()


def _linker(engine, calls):
    linker = Linker(engine)

    def divmod_(a, b):
        calls.append(("divmod", a, b))
        return (a // b, a % b)
    linker.define_func("host", "divmod", FuncType((I64, I64), (I64, I64)), divmod_)
    linker.define_func("host", "mix", FuncType((F32, I32), (F64, I32, F32)), lambda f, i: [f * 2, -i, 0.25])

    def swap(v, i):
        calls.append(("swap", v, i))
        return i, v ^ (1 << 127)
    linker.define_func("host", "swap", FuncType((V128, I32), (I32, V128)), swap)

    def vadd(a, b):   # i32x4 lane-wise add on 128-bit ints
        lanes = [((a >> (32 * k)) + (b >> (32 * k))) & 0xFFFFFFFF for k in range(4)]
        return sum(v << (32 * k) for k, v in enumerate(lanes))
    linker.define_func("host", "vadd", FuncType((V128, V128), (V128,)), vadd)
    linker.define_func("host", "many", FuncType((), (I32,) * 8), lambda: tuple(range(1, 9)))
    return linker


def test_several_results_reach_wasm_and_the_caller(engine):
    calls = []
    inst = _linker(engine, calls).instantiate(engine.compile(wasm_tools_parse(HOSTS)))
    e = inst.exports
    assert e["divmod"](17, 5) == [3, 2]
    assert e["divmod"](-7, 2) == [-4, 1]          # signed, as wasmtime-py passes them
    assert calls == [("divmod", 17, 5), ("divmod", -7, 2)]
    assert e["divmod_used"](1234567, 1000) == 1234 * 1000 + 567
    assert e["mix"](1.5, 7) == [3.0, -7, 0.25]
    assert e["many"]() == 36


def test_v128_parameters_and_results_are_128_bit_ints(engine):
    calls = []
    inst = _linker(engine, calls).instantiate(engine.compile(wasm_tools_parse(HOSTS)))
    e = inst.exports
    lanes = 1 | 2 << 32 | 3 << 64 | 4 << 96          # i32x4 1 2 3 4, lane 0 in the low bits
    # the host flips bit 127: lane 3 becomes 4 | 1 << 31; i64x2 lane 1 is lanes 2 and 3, signed
    assert e["swap_lane"](-3) == [-3, ((4 | 1 << 31) << 32 | 3) - (1 << 64)]
    assert calls == [("swap", lanes, -3)]
    assert e["vadd_lanes"]() == 44
    a, b = (1 << 128) - 1, 1      # every lane wraps
    assert e["vadd"](a, b) == a - 0xFFFFFFFF     # lane 0: 0xFFFFFFFF + 1 wraps to 0; the others stay


def test_wrong_result_shape_is_a_type_error_naming_the_function(engine):
    linker = _linker(engine, [])
    linker.allow_shadowing = True
    linker.define_func("host", "divmod", FuncType((I64, I64), (I64, I64)), lambda a, b: a)
    inst = linker.instantiate(engine.compile(wasm_tools_parse(HOSTS)))
    with pytest.raises(TypeError, match="host::divmod.*expected 2 results"):
        inst.exports["divmod"](1, 2)
    linker.define_func("host", "divmod", FuncType((I64, I64), (I64, I64)), lambda a, b: (1, 2.5))
    inst = linker.instantiate(engine.compile(wasm_tools_parse(HOSTS)))
    with pytest.raises(TypeError, match="expected an int"):
        inst.exports["divmod"](1, 2)


def test_unknown_imports_with_several_results_get_defaults_and_traps(engine):
    linker = Linker(engine)
    linker.define_unknown_imports_as_default_values()
    e = linker.instantiate(engine.compile(wasm_tools_parse(HOSTS))).exports
    assert e["divmod"](1, 2) == [0, 0]
    assert e["mix"](1.0, 1) == [0.0, 0, 0.0]
    assert e["vadd"](5, 6) == 0
    linker = Linker(engine)
    linker.define_unknown_imports_as_traps()
    e = linker.instantiate(engine.compile(wasm_tools_parse(HOSTS))).exports
    from runner import UnknownImportError
    with pytest.raises(UnknownImportError, match="host::swap"):
        e["swap_lane"](1)


EXNREF_HOST = r"""
(module
  (tag $t (export "t") (param i32))
  (import "host" "inspect" (func $inspect (param exnref) (result exnref i32)))
  (func (export "roundtrip") (param $x i32) (result i32 i32)
    (local $e exnref) (local $n i32)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $t (local.get $x)))
      (unreachable))
    (call $inspect)
    (local.set $n)
    (local.set $e)
    (block $h2 (result i32)
      (try_table (catch $t $h2) (throw_ref (local.get $e)))
      (unreachable))
    (local.get $n)))
"""


def test_exnref_crosses_a_host_function_as_a_wasm_exception(engine):
    seen = []

    def inspect(exc):
        seen.append(exc)
        return exc, len(exc.values)
    linker = Linker(engine)
    linker.define_func("host", "inspect", FuncType((ValType.exnref(),), (ValType.exnref(), I32)), inspect)
    inst = linker.instantiate(engine.compile(wasm_tools_parse(EXNREF_HOST)))
    assert inst.exports["roundtrip"](42) == [42, 1]     # the same exception thrown again
    assert isinstance(seen[0], WasmException) and seen[0].values == [42]
    assert seen[0].tag is inst.exports["t"] and isinstance(seen[0].tag, Tag)

