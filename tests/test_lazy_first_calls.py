"""Lazy first tier (runner/tiers.py): since the cold-path work every module above ~0.05 s of
estimated first-tier LLVM compiles a function on its first call, on the wasm thread and on
whatever native stack the wasm code left: at the deepest frame, only STACK_RESERVE."""
from __future__ import annotations

import pytest

from runner.api import Config, Engine
from runner.errors import Trap
from runner.tiers import ModuleCode

from .wat import wat2wasm

K = 32   # first-call targets: one per probe of the search below

# $f recurses n frames deep, then calls $g<k> (through the table, so no lazy batch of $f's
# brings it in as a direct callee): its first call, compiled at that depth.
BIG = " ".join(f"(local.set 1 (i64.add (i64.mul (local.get 1) (i64.const {j + 3})) "
               f"(i64.extend_i32_u (local.get 0))))" for j in range(300))
DEEP = f"""(module
  (type $gt (func (param i32) (result i32)))
  (table {K} funcref) (elem (i32.const 0) {' '.join(f'$g{k}' for k in range(K))})
  {' '.join(f'(func $g{k} (param i32) (result i32) (local i64) {BIG} (i32.wrap_i64 (local.get 1)))'
            for k in range(K))}
  (func $f (export "f") (param i32 i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (call_indirect (type $gt) (local.get 1) (local.get 1)))
      (else (i32.add (call $f (i32.sub (local.get 0) (i32.const 1)) (local.get 1)) (i32.const 1))))))"""


def _g(k: int) -> int:
    acc = 0
    for j in range(300):
        acc = (acc * (j + 3) + k) & 0xFFFFFFFFFFFFFFFF
    return acc & 0xFFFFFFFF


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(d))
    monkeypatch.delenv("WASIRUN_LAZY", raising=False)
    return d


def test_first_calls_compile_at_the_deepest_frame(cache_dir, monkeypatch):
    """Search the deepest recursion that does not trap, each probe's bottom calling a function
    for the first time: the probes next to the limit compile there and return the right value."""
    monkeypatch.setenv("WASIRUN_LAZY", "1")
    engine = Engine(Config())
    compiled = engine.compile(wat2wasm(DEEP))
    assert compiled.code.lazy
    f = engine.instantiate(compiled).exports["f"]
    lo, hi, k, deepest_ok = 1, 1 << 24, 0, 0
    while hi - lo > 1:
        assert k < K
        mid = (lo + hi) // 2
        try:
            assert f(mid, k) & 0xFFFFFFFF == (_g(k) + mid) & 0xFFFFFFFF
            lo = deepest_ok = mid
        except Trap as exc:
            assert "stack" in str(exc).lower(), exc
            hi = mid
        k += 1
    assert deepest_ok == lo and hi == lo + 1       # a first call one frame above the limit worked


def test_small_programs_are_lazy_tiny_ones_and_debug_builds_are_not(cache_dir):
    """The policy: a module the size of a Rust command (hello.wasm's 60 KB of code) compiles on
    first call; a spec-test-sized one, and with -g one that small, gets its whole first tier."""
    from runner.tiers import LAZY_SECONDS, LAZY_SECONDS_DEBUG
    from runner.costs import SECONDS_PER_BYTE
    assert LAZY_SECONDS < LAZY_SECONDS_DEBUG
    wasm = wat2wasm(DEEP)
    size = sum(b.code_end - b.code_start for b in Engine(Config()).compile(wasm).module.bodies)
    assert size * SECONDS_PER_BYTE["base"] > LAZY_SECONDS, size      # big enough to go lazy
    assert Engine(Config()).compile(wasm).code.lazy
    assert not Engine(Config(debug_info=True)).compile(wasm).code.lazy
    assert not Engine(Config()).compile(wat2wasm('(module (func (export "f")))')).code.lazy
