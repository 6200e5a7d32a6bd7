"""The lifetime of exception objects an exnref was made of (runtime/exceptions.py ExnHeap):
freed once unreachable, so a program that rethrows through clang-style cleanups
(catch_all_ref + throw_ref) runs in bounded memory, and never freed while an exnref to them
is in a local, a global, a table, another exception's payload or a Python WasmException."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from runner import Config, Engine, WasmException
from runner.runtime.exceptions import HEAP, heap_stats

from .wat import wasm_tools_parse

LOOP = r"""
(module
  (tag $e (param i32))
  (func $f (param i32) (throw $e (local.get 0)))
  ;; clang's cleanup shape: catch_all_ref in a frame with destructors, then throw_ref
  (func $cleanup (param i32)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $f (local.get 0)))
      (return))
    (throw_ref))
  (func (export "loop") (param $n i32) (result i32)
    (local $s i32)
    (loop $l
      (block $c (result i32)
        (try_table (catch $e $c) (call $cleanup (local.get $n)))
        (i32.const 0))
      (local.get $s) (i32.add) (local.set $s)
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $s)))
"""

# exnrefs kept in every place one can live while many others are made and dropped
KEEP = r"""
(module
  (tag $e (export "e") (param i32))
  (tag $wrap (param exnref))
  (global $g (mut exnref) (ref.null exn))
  (table $t 4 exnref)
  (func $make (param i32) (result exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $e (local.get 0)))
      (unreachable)))
  (func $value (param exnref) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (throw_ref (local.get 0)))
      (unreachable)))
  (func $churn (param $n i32)   ;; escaped exceptions that die at once
    (loop $l
      (drop (call $make (local.get $n)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "store") (param i32)
    (global.set $g (call $make (i32.const 1)))
    (table.set $t (i32.const 2) (call $make (i32.const 2))))
  (func (export "churn") (param i32) (call $churn (local.get 0)))
  ;; a local and an exception's payload across collections, then every value read back
  (func (export "check") (param $n i32) (result i32)
    (local $l exnref) (local $w exnref)
    (local.set $l (call $make (i32.const 3)))
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $wrap (call $make (i32.const 4))))
      (unreachable))
    (local.set $w)
    (call $churn (local.get $n))
    (i32.add
      (i32.add (call $value (global.get $g)) (i32.mul (i32.const 10) (call $value (table.get $t (i32.const 2)))))
      (i32.add (i32.mul (i32.const 100) (call $value (local.get $l)))
               (i32.mul (i32.const 1000)
                 (block $u (result i32)
                   (block $h2 (result exnref)
                     (try_table (catch $wrap $h2) (throw_ref (local.get $w)))
                     (unreachable))
                   (call $value))))))
  (func (export "get_global") (result exnref) (global.get $g))
  (func (export "rethrow") (param exnref) (throw_ref (local.get 0))))
"""


def _alone(request) -> bool:
    """Collections run only while no other live thread has entered wasm (ExnHeap): when an
    earlier test left such a thread in this process, run the test again in a fresh one."""
    alive = sys._current_frames().keys()
    if not any(t in alive for t in HEAP.wasm_threads - {threading.get_ident()}):
        return True
    if os.environ.get("WASIRUN_EXN_FRESH"):
        pytest.fail("another thread that ran wasm is alive in a fresh process")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", request.node.nodeid],
                       cwd=request.config.rootpath, capture_output=True, text=True,
                       env={**os.environ, "WASIRUN_EXN_FRESH": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    return False


@pytest.fixture(scope="module", params=[0, 2])
def engine(request):
    e = Engine(Config(opt_level=request.param, cache=False))
    yield e
    e.close()


def test_a_million_cleanup_rethrows_run_in_bounded_memory(request):
    if not _alone(request):
        return
    e = Engine(Config(opt_level=2, cache=False))
    loop = e.instantiate(e.compile(wasm_tools_parse(LOOP))).exports["loop"]
    loop(10)
    before = heap_stats()
    n = 1_000_000
    s = (n * (n + 1) // 2) & 0xFFFFFFFF
    assert loop(n) == (s - (1 << 32) if s >> 31 else s)     # every exception caught with its value
    after = heap_stats()
    # every exception passed a catch_all_ref: each one escaped; all but a bounded few are freed
    assert after.freed - before.freed >= n - 2 * HEAP.MIN_CAPACITY
    assert after.live <= 2 * HEAP.MIN_CAPACITY
    assert after.skipped == before.skipped
    e.close()


def test_exnrefs_in_locals_globals_tables_and_payloads_survive_collections(engine, request):
    if not _alone(request):
        return
    inst = engine.instantiate(engine.compile(wasm_tools_parse(KEEP)))
    x = inst.exports
    x["store"](0)
    start = heap_stats().collections
    assert x["check"](5 * HEAP.MIN_CAPACITY) == 1 + 20 + 300 + 4000
    assert heap_stats().collections >= start + 2        # the values were live through collections
    x["churn"](3 * HEAP.MIN_CAPACITY)                    # from a fresh call: only the global and table hold them
    assert x["check"](3 * HEAP.MIN_CAPACITY) == 4321


def test_a_wasm_exception_held_by_python_stays_valid(engine, request):
    if not _alone(request):
        return
    inst = engine.instantiate(engine.compile(wasm_tools_parse(KEEP)))
    x = inst.exports
    x["store"](0)
    held = x["get_global"]()                             # an exnref result: a WasmException
    assert isinstance(held, WasmException) and held.values == [1]
    x["store"](0)                                        # the global no longer holds it
    x["churn"](3 * HEAP.MIN_CAPACITY)
    with pytest.raises(WasmException) as info:
        x["rethrow"](held)
    assert info.value.values == [1] and info.value.tag is x["e"]
    made = WasmException(x["e"], [77])                   # made in Python, thrown into wasm
    x["churn"](2 * HEAP.MIN_CAPACITY)
    with pytest.raises(WasmException) as info:
        x["rethrow"](made)
    assert info.value.values == [77]
