"""An instance's function values (runner/runtime/instance.py ``FunctionSpace``) are made when
the host first reaches a function, and the per-function records that instantiation writes in
bulk (type ids, element segments, table grow and fill) hold what the spec says."""
from __future__ import annotations

import gc

import pytest

from runner.api import Config, Engine
from runner.errors import Trap
from runner.runtime.functions import Function
from runner.runtime.values import FuncRef

from .test_tail_calls import wat

N = 300   # defined functions beyond the exported ones


def _module(n: int = N) -> str:
    # $f<k> returns k; the table holds $f0..$f<n-1> from offset 5 (ref.func elements), and a
    # passive segment is copied in by table.init; $start sets a global the host reads.
    funcs = "\n".join(f"(func $f{k} (result i32) (i32.const {k}))" for k in range(n))
    refs = " ".join(f"$f{k}" for k in range(n))
    return f"""
(module
  (type $r (func (result i32)))
  (table $t (export "t") {n + 5 + 3} funcref)
  (global $g (mut i32) (i32.const 0))
  {funcs}
  (elem (table $t) (i32.const 5) func {refs})
  (elem $p func $f7 $f8 $f9)
  (func $start (global.set $g (i32.const 41)))
  (start $start)
  (func (export "g") (result i32) (global.get $g))
  (func (export "call") (param i32) (result i32) (call_indirect $t (type $r) (local.get 0)))
  (func (export "init") (table.init $t $p (i32.const {n + 5}) (i32.const 0) (i32.const 3)))
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.func $f3) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
)"""


@pytest.fixture(params=[dict(opt_level=0), dict(tiering=False)], ids=["base", "top"])
def engine(request, tmp_path, monkeypatch):
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(tmp_path))
    return Engine(Config(**request.param))


def _functions_of(inst) -> list[Function]:
    return [o for o in gc.get_objects() if type(o) is Function and o.instance is inst]


def test_only_the_functions_the_host_reaches_get_an_object(engine):
    inst = engine.instantiate(engine.compile(wat(_module())))
    assert inst.exports["g"]() == 41                      # the start function ran
    made = _functions_of(inst)
    # the five exports and the start function: not one object per defined function (306)
    assert len(made) <= 6, len(made)
    assert inst.exports["call"] is inst.exports["call"]
    f = inst.functions[10]                               # $f10: made on first use, then kept
    assert f is inst.functions[10] and f.type.results and f.name
    assert len(_functions_of(inst)) == len(made) + 1
    assert inst.functions[-1] is inst.functions[len(inst.functions) - 1]
    assert len(inst.functions) == len(inst.module.func_types)
    with pytest.raises(IndexError):
        inst.functions[len(inst.functions)]


def test_element_segments_and_table_records(engine):
    inst = engine.instantiate(engine.compile(wat(_module())))
    call = inst.exports["call"]
    assert [call(5 + k) for k in (0, 1, 150, N - 1)] == [0, 1, 150, N - 1]
    with pytest.raises(Trap, match="uninitialized element"):
        call(4)                                          # before the segment: null
    with pytest.raises(Trap, match="uninitialized element"):
        call(N + 5)                                      # after it, before table.init
    inst.exports["init"]()
    assert [call(N + 5 + k) for k in range(3)] == [7, 8, 9]
    record = inst.exports["t"].get(5 + 42)               # $f42, not exported: called through its record
    assert record and FuncRef(record)() == 42


def test_table_grow_fills_with_the_value_and_null(engine):
    inst = engine.instantiate(engine.compile(wat(_module())))
    e = inst.exports
    size = e["size"]()
    assert e["grow"](1000) == size and e["size"]() == size + 1000
    assert e["call"](size) == 3 and e["call"](size + 999) == 3
    table = inst.exports["t"]
    assert table.grow(20) == size + 1000                 # host grow: null elements
    assert table.get(size + 1000) == 0 and table.get(size + 1019) == 0
    with pytest.raises(Trap, match="uninitialized element"):
        e["call"](size + 1010)


def test_an_element_segment_out_of_bounds_traps_at_instantiation(engine):
    text = """(module (table 4 funcref) (func $a) (func $b)
                (elem (i32.const 1) func $a $b) (elem (i32.const 3) func $a $b))"""
    with pytest.raises(Trap, match="out of bounds table access"):
        engine.instantiate(engine.compile(wat(text)))
