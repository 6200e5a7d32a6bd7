"""Translation to LLVM IR, run for real: results and traps of small wasm functions."""
from __future__ import annotations

import math
import struct

import pytest

from runner.api import Config, Engine
from runner.errors import Trap, TrapKind

from .wat import wat2wasm

MODULE = r"""
(module
  (memory 1 2)
  (table 4 funcref)
  (global $g (mut i64) (i64.const 5))
  (type $ii (func (param i32) (result i32)))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.le_u (local.get 0) (i32.const 2))
      (then (i32.const 1))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "div_u64") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
  (func (export "shl") (param i32 i32) (result i32) (i32.shl (local.get 0) (local.get 1)))
  (func (export "rotr") (param i64 i64) (result i64) (i64.rotr (local.get 0) (local.get 1)))
  (func (export "clz") (param i32) (result i32) (i32.clz (local.get 0)))
  (func (export "ctz64") (param i64) (result i64) (i64.ctz (local.get 0)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "trunc_u") (param f32) (result i64) (i64.trunc_f32_u (local.get 0)))
  (func (export "trunc_sat") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
  (func (export "min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
  (func (export "max64") (param f64 f64) (result f64) (f64.max (local.get 0) (local.get 1)))
  (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
  (func (export "neg") (param f32) (result f32) (f32.neg (local.get 0)))
  (func (export "copysign") (param f64 f64) (result f64) (f64.copysign (local.get 0) (local.get 1)))
  (func (export "const_nan") (result f32) (f32.const nan:0x200001))
  (func (export "ext8") (param i32) (result i32) (i32.extend8_s (local.get 0)))
  (func (export "store_load") (param i32 i64) (result i64)
    (i64.store offset=4 (local.get 0) (local.get 1)) (i64.load offset=4 (local.get 0)))
  (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "fill_copy") (param i32 i32 i32) (result i32)
    (memory.fill (local.get 0) (i32.const 0xAB) (local.get 2))
    (memory.copy (local.get 1) (local.get 0) (local.get 2))
    (i32.load8_u (i32.add (local.get 1) (i32.sub (local.get 2) (i32.const 1)))))
  (func (export "global") (param i64) (result i64)
    (global.set $g (i64.add (global.get $g) (local.get 0))) (global.get $g))
  (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $neg (param i64) (result i64) (i64.sub (i64.const 0) (local.get 0)))
  (elem (i32.const 0) $double $neg)
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect (type $ii) (local.get 1) (local.get 0)))
  (func (export "br_table") (param i32) (result i32)
    (block (block (block (br_table 0 1 2 (local.get 0))) (return (i32.const 10))) (return (i32.const 20)))
    (i32.const 30))
  (func (export "multi") (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
  (func (export "block_params") (param i32) (result i32)
    (local.get 0) (block (param i32) (result i32) (i32.const 1) (i32.add)))
  (func (export "loop_sum") (param i32) (result i64) (local i64)
    (block (loop (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0)))
    (local.get 1))
  (func (export "unreachable") (unreachable))
  (func $inf (export "infinite") (param i32) (result i32) (call $inf (local.get 0)))
  (func (export "select") (param i32) (result i64) (select (i64.const 7) (i64.const 9) (local.get 0)))
)
"""


@pytest.fixture(scope="module")
def ex():
    engine = Engine(Config(cache=False, opt_level=2))
    compiled = engine.compile(wat2wasm(MODULE))
    return engine.instantiate(compiled).exports


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


@pytest.mark.parametrize("name, args, expected", [
    ("fib", [20], [6765]),
    ("div_s", [7, 2**32 - 2], [2**32 - 3]),                 # 7 / -2 = -3 (truncating)
    ("rem_s", [2**31, 2**32 - 1], [0]),                      # INT_MIN % -1 = 0, not UB
    ("rem_s", [2**32 - 7, 2], [2**32 - 1]),                  # -7 % 2 = -1: sign of the dividend
    ("div_u64", [2**64 - 1, 2], [2**63 - 1]),
    ("shl", [1, 33], [2]),                                   # counts wrap mod 32
    ("rotr", [1, 65], [2**63]),
    ("clz", [0], [32]), ("ctz64", [0], [64]),
    ("trunc", [f64(-2147483648.9)], [2**32 - 2**31]),
    ("trunc_u", [f32(-0.9)], [0]),
    ("trunc_sat", [f64(1e300)], [2**31 - 1]), ("trunc_sat", [f64(math.nan)], [0]),
    ("min", [f32(-0.0), f32(0.0)], [f32(-0.0)]),
    ("max64", [f64(-0.0), f64(0.0)], [f64(0.0)]),
    ("nearest", [f64(2.5)], [f64(2.0)]), ("nearest", [f64(-3.5)], [f64(-4.0)]),
    ("neg", [0x7FA00001], [0xFFA00001]),                      # a signalling NaN keeps its payload
    ("copysign", [0x7FF4000000000001, f64(-1.0)], [0xFFF4000000000001]),
    ("const_nan", [], [0x7FA00001]),
    ("ext8", [0x80], [2**32 - 128]),
    ("store_load", [100, 0x0123456789ABCDEF], [0x0123456789ABCDEF]),
    ("size", [], [1]),
    ("fill_copy", [10, 1000, 100], [0xAB]),
    ("global", [10], [15]),
    ("indirect", [0, 21], [42]),
    ("br_table", [0], [10]), ("br_table", [1], [20]), ("br_table", [2], [30]), ("br_table", [99], [30]),
    ("multi", [1, 2], [2, 1]),
    ("block_params", [41], [42]),
    ("loop_sum", [100000], [5000050000]),
    ("select", [1], [7]), ("select", [0], [9]),
])
def test_results(ex, name, args, expected):
    assert ex[name].call_raw(args) == expected


@pytest.mark.parametrize("name, args, kind", [
    ("div_s", [1, 0], TrapKind.INTEGER_DIVIDE_BY_ZERO),
    ("div_s", [2**31, 2**32 - 1], TrapKind.INTEGER_OVERFLOW),
    ("div_u64", [1, 0], TrapKind.INTEGER_DIVIDE_BY_ZERO),
    ("trunc", [f64(math.nan)], TrapKind.INVALID_CONVERSION),
    ("trunc", [f64(2147483648.0)], TrapKind.INTEGER_OVERFLOW),
    ("trunc_u", [f32(-1.0)], TrapKind.INTEGER_OVERFLOW),
    ("store_load", [65532, 0], TrapKind.MEMORY_OUT_OF_BOUNDS),
    ("load8_s", [65536], TrapKind.MEMORY_OUT_OF_BOUNDS),
    ("load8_s", [2**32 - 1], TrapKind.MEMORY_OUT_OF_BOUNDS),
    ("fill_copy", [65500, 0, 100], TrapKind.MEMORY_OUT_OF_BOUNDS),
    ("indirect", [1, 1], TrapKind.INDIRECT_CALL_TYPE_MISMATCH),
    ("indirect", [2, 1], TrapKind.INDIRECT_CALL_NULL),
    ("indirect", [4, 1], TrapKind.INDIRECT_CALL_OUT_OF_RANGE),
    ("unreachable", [], TrapKind.UNREACHABLE),
    ("infinite", [0], TrapKind.STACK_EXHAUSTED),
])
def test_traps(ex, name, args, kind):
    with pytest.raises(Trap) as info:
        ex[name].call_raw(args)
    assert info.value.kind == kind
    assert str(info.value) == f"wasm trap: {kind.wording}"


def test_memory_grow_and_bounds(ex):
    with pytest.raises(Trap):
        ex["load8_s"].call_raw([65536 * 2 - 1])
    assert ex["grow"].call_raw([1]) == [1]
    assert ex["size"].call_raw([]) == [2]
    assert ex["load8_s"].call_raw([65536 * 2 - 1]) == [0]
    assert ex["grow"].call_raw([1]) == [2**32 - 1]        # the declared maximum is 2 pages
    with pytest.raises(Trap):
        ex["load8_s"].call_raw([65536 * 2])


def test_trap_then_normal_calls(ex):
    """A trap unwinds cleanly: the next calls (deep recursion included) run normally."""
    for _ in range(3):
        with pytest.raises(Trap):
            ex["infinite"].call_raw([1])
        assert ex["fib"].call_raw([15]) == [610]


def test_trap_backtrace_names():
    wasm = wat2wasm("""(module
        (func $inner (export "inner") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
        (func $outer (export "outer") (param i32) (result i32) (i32.add (call $inner (local.get 0)) (i32.const 1))))""",
                    "--debug-names")
    engine = Engine(Config(cache=False))
    ex = engine.instantiate(engine.compile(wasm)).exports
    with pytest.raises(Trap) as info:
        ex["outer"].call_raw([0])
    assert [f.name for f in info.value.frames] == ["inner", "outer"]
    assert "inner" in info.value.backtrace()
