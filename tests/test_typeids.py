"""call_indirect's type ids: hashes of the type's structure, the same in every process (the
code cache keeps them as constants in the code), a collision refused at instantiation."""
from __future__ import annotations

import subprocess
import sys

import pytest

from runner import typeids
from runner.api import Config, Engine
from runner.binary.module import FUNCREF, I32, I64, FuncType, RefType
from runner.errors import LinkError, Trap

from .wat import wasm_tools_parse

TWO_MODULES_CALLER = """
(module
  (type $ii (func (param i32) (result i32)))
  (type $l (func (param i64) (result i64)))
  (import "lib" "t" (table 2 funcref))
  (func (export "call") (param i32 i32) (result i32)
    (call_indirect (type $ii) (local.get 1) (local.get 0)))
  (func (export "call64") (param i32) (result i64)
    (call_indirect (type $l) (i64.const 5) (local.get 0))))
"""

LIB = """
(module
  (table (export "t") 2 funcref)
  (elem (i32.const 0) $inc $wide)
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $wide (param i64) (result i64) (i64.mul (local.get 0) (i64.const 2))))
"""

FIXED_TABLE = """
(module
  (type $ii (func (param i32) (result i32)))
  (table 3 3 funcref)
  (elem (i32.const 0) $inc $other)
  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $other (param i64) (result i64) (local.get 0))
  (func (export "call") (param i32 i32) (result i32)
    (call_indirect (type $ii) (local.get 1) (local.get 0))))
"""


def test_ids_are_structural_and_the_same_in_every_process():
    ft = FuncType((I32, RefType(True, 0)), (I64,))
    here = typeids.structural_id(ft)
    code = ("from runner import typeids; from runner.binary.module import *;"
            "print(typeids.structural_id(FuncType((I32, RefType(True, 0)), (I64,))))")
    there = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert here == there
    assert 0 < here < 2**63
    assert typeids.structural_id(FuncType((I32,), (I64,))) != typeids.structural_id(FuncType((I64,), (I32,)))
    assert typeids.structural_id(FuncType((FUNCREF,), ())) != typeids.structural_id(FuncType((RefType(False, 0x70),), ()))
    # a canonical form naming another type (a tuple) is not the FuncType spelling the same text
    assert typeids.structural_id(("func", (I32,), ())) != typeids.structural_id(FuncType((I32,), ()))


@pytest.mark.parametrize("opt", [0, 2])
def test_call_indirect_across_modules_and_a_fixed_table(opt, tmp_path):
    engine = Engine(Config(opt_level=opt, cache=False))
    lib = engine.instantiate(engine.compile(wasm_tools_parse(LIB)), {})
    user = engine.instantiate(engine.compile(wasm_tools_parse(TWO_MODULES_CALLER)), {("lib", "t"): lib.exports["t"]})
    assert user.exports["call"](0, 41) == 42
    assert user.exports["call64"](1) == 10
    with pytest.raises(Trap, match="indirect call type mismatch"):
        user.exports["call"](1, 0)
    fixed = engine.instantiate(engine.compile(wasm_tools_parse(FIXED_TABLE)), {})
    assert fixed.exports["call"](0, 1) == 2
    with pytest.raises(Trap, match="indirect call type mismatch"):
        fixed.exports["call"](1, 0)
    with pytest.raises(Trap, match="uninitialized element"):
        fixed.exports["call"](2, 0)
    for index in (3, 2**31, 2**32 - 1):   # the constant bound compares the index unsigned
        with pytest.raises(Trap, match="undefined element"):
            fixed.exports["call"](index - 2**32 if index >= 2**31 else index, 0)


def test_a_collision_is_a_link_error(monkeypatch):
    monkeypatch.setattr(typeids, "_forms", {})
    monkeypatch.setattr(typeids, "structural_id", lambda key: 7)
    typeids.register(FuncType((I32,), ()))
    with pytest.raises(typeids.TypeIdCollision):
        typeids.register(FuncType((I64,), ()))
    engine = Engine(Config(opt_level=0, cache=False))
    with pytest.raises(LinkError, match="same type id"):
        engine.instantiate(engine.compile(wasm_tools_parse(LIB)), {})
