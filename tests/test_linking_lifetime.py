"""Function references outlive the instance that made them.

An instance's native code is unloaded when the Instance is garbage collected.  A
table or funcref global shared with other instances may still hold references to
that code, so it must keep the instance alive: after a failed instantiation that
already wrote into an imported table (linking.wast), after the defining instance of
an exported table is dropped, and when a funcref was handed to another instance's
function that stored it in its own table.
"""
from __future__ import annotations

import gc

from runner.api import Config, Engine
from runner.binary.module import FUNCREF, Limits, TableType
from runner.errors import Trap, TrapKind
from runner.runtime.instance import register_table
from runner.runtime.store import Table

from .wat import wat2wasm

CALLER = """(module
  (type $t (func (result i32)))
  (import "m" "tab" (table 4 funcref))
  (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))"""


def _engine() -> Engine:
    return Engine(Config(cache=False, opt_level=0))


def _churn() -> None:
    for _ in range(3):
        gc.collect()


def test_failed_instantiation_keeps_written_functions_alive():
    e = _engine()
    tab = register_table(Table(TableType(FUNCREF, Limits(4, None))))
    bad = e.compile(wat2wasm("""(module
      (import "m" "tab" (table 4 funcref))
      (func $f (result i32) (i32.const 42))
      (elem (i32.const 1) $f)
      (memory 0)
      (data (i32.const 0x10000) "x"))"""))
    try:
        e.instantiate(bad, {("m", "tab"): tab})
        raise AssertionError("instantiation should trap")
    except Trap as trap:
        assert trap.kind == TrapKind.MEMORY_OUT_OF_BOUNDS
    del bad
    _churn()
    caller = e.instantiate(e.compile(wat2wasm(CALLER)), {("m", "tab"): tab})
    _churn()
    assert caller.exports["call"].call_raw([1]) == [42]


def test_exported_table_outlives_its_instance():
    e = _engine()
    owner = e.instantiate(e.compile(wat2wasm("""(module
      (table (export "tab") 4 funcref)
      (func $f (result i32) (i32.const 7))
      (elem (i32.const 2) $f))""")))
    tab = owner.exports["tab"]
    del owner
    _churn()
    caller = e.instantiate(e.compile(wat2wasm(CALLER)), {("m", "tab"): tab})
    _churn()
    assert caller.exports["call"].call_raw([2]) == [7]


def test_funcref_passed_to_another_instance_stays_alive():
    e = _engine()
    keeper = e.instantiate(e.compile(wat2wasm("""(module
      (type $t (func (result i32)))
      (table $tab 4 funcref)
      (func (export "keep") (param funcref) (table.set $tab (i32.const 3) (local.get 0)))
      (func (export "call") (param i32) (result i32) (call_indirect (type $t) (local.get 0))))""")))
    giver = e.instantiate(e.compile(wat2wasm("""(module
      (import "k" "keep" (func $keep (param funcref)))
      (func $f (result i32) (i32.const 99))
      (elem declare func $f)
      (func (export "give") (call $keep (ref.func $f))))""")), {("k", "keep"): keeper.exports["keep"]})
    giver.exports["give"].call_raw([])
    del giver
    _churn()
    assert keeper.exports["call"].call_raw([3]) == [99]
