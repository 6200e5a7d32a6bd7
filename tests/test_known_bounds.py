"""Accesses an earlier access proved in bounds (runner/translate/bounds.py): translated as
plain loads and stores, and the paths the proof does not reach still trap (the differential
cases are tests/fuzz_regressions/known_bounds.wat; exceptions, which that harness's wasmtime
does not enable, are here)."""
from __future__ import annotations

import re

import pytest

from runner.api import Config, Engine
from runner.binary.decode import decode
from runner.errors import Trap
from runner.translate.module import translate_module

from .wat import wasm_tools_parse

SAME_BASE = """
(module
  (memory 1)
  (func (export "f") (param $p i32) (result i32)
    (i32.add (i32.load offset=4 (local.get $p))
             (i32.add (i32.load (local.get $p)) (i32.load16_u offset=6 (i32.const 65000))))))
"""

STORES = """
(module
  (memory 1)
  (func (export "f") (param $p i32) (param $q i32)
    (drop (i64.load (local.get $p)))
    (i32.store (local.get $q) (i32.const 1))
    (i32.store offset=4 (local.get $p) (i32.const 2))))
"""

TRY = """
(module
  (memory 1)
  (tag $t)
  (global $g (export "g") (mut i32) (i32.const 0))
  (func $thrower (param $p i32)
    (if (i32.lt_u (local.get $p) (i32.const 1000)) (then (throw $t))))
  (func (export "f") (param $p i32) (result i32)
    (block $h
      (try_table (catch $t $h)
        (call $thrower (local.get $p))
        (drop (i32.load offset=200000 (local.get $p)))))
    (global.set $g (i32.const 8))
    (drop (i32.load offset=200000 (local.get $p)))
    (i32.const 1)))
"""


def _function_ir(text: str) -> str:
    ir = translate_module(decode(wasm_tools_parse(text)))
    return ir.functions[0].text


def test_a_proved_load_is_plain():
    body = _function_ir(SAME_BASE)
    assert len(re.findall(r"load volatile i32", body)) == 1      # offset=4 proves offset=0 of the same local
    assert len(re.findall(r"= load i32, ptr %t\d+, align 1", body)) == 1
    assert re.search(r"= load i16, ptr %t\d+, align 1", body)     # a constant address below 64 KiB


def test_a_proved_store_is_plain_after_its_barrier():
    body = _function_ir(STORES)
    lines = [l.strip() for l in body.splitlines()]
    stores = [i for i, l in enumerate(lines) if l.startswith("store") and "!tbaa" in l]
    assert len(stores) == 2
    q_store, p_store = (lines[i] for i in stores)
    assert q_store.startswith("store volatile i32 1")
    assert p_store.startswith("store i32 2")
    assert lines[stores[1] - 1].startswith("call void asm sideeffect")


@pytest.mark.parametrize("opt", [0, 2])
def test_the_catch_path_is_not_proved(opt):
    engine = Engine(Config(opt_level=opt, cache=False))
    inst = engine.instantiate(engine.compile(wasm_tools_parse(TRY)), {})
    with pytest.raises(Trap, match="out of bounds memory access"):
        inst.exports["f"](8)
    assert inst.exports["g"].bits == 8
