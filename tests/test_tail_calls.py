"""Tail calls (return_call, return_call_indirect, return_call_ref) run in constant stack at
every tier, keep readable backtraces, and leave modules without tail calls unchanged."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runner.api import Config, Engine
from runner.binary.decode import decode
from runner.errors import Trap
from runner.translate.module import translate_module
from runner.translate.options import TranslateOptions
from .wat import wasm_tools_parse as wat

N = 1_000_000




# Mutual recursion three ways: direct, through a table (different signatures, one with
# stack arguments: 8 i64 parameters need the argument area to grow), through references.
MUTUAL = """
(module
  (type $t1 (func (param i64) (result i64)))
  (type $t8 (func (param i64 i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (table $tab 2 funcref)
  (elem (table $tab) (i32.const 0) func $ind_even $ind_wide)
  (elem declare func $ref_even $ref_odd)

  (func $even (export "even") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 1))
      (else (return_call $odd (i64.sub (local.get $n) (i64.const 1))))))
  (func $odd (export "odd") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 0))
      (else (return_call $even (i64.sub (local.get $n) (i64.const 1))))))

  ;; $ind_even(n) -> $ind_wide(n-1, ...7 more) -> $ind_even(n-2): the argument area grows and shrinks
  (func $ind_even (export "ind") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 42))
      (else (return_call_indirect $tab (type $t8)
              (i64.sub (local.get $n) (i64.const 1)) (i64.const 1) (i64.const 2) (i64.const 3)
              (i64.const 4) (i64.const 5) (i64.const 6) (i64.const 7) (i32.const 1)))))
  (func $ind_wide (param $n i64) (param i64 i64 i64 i64 i64 i64) (param $h i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $h))
      (else (return_call_indirect $tab (type $t1) (i64.sub (local.get $n) (i64.const 1)) (i32.const 0)))))

  (func $ref_even (export "refs") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 7))
      (else (return_call_ref $t1 (i64.sub (local.get $n) (i64.const 1)) (ref.func $ref_odd)))))
  (func $ref_odd (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 8))
      (else (return_call_ref $t1 (i64.sub (local.get $n) (i64.const 1)) (ref.func $ref_even)))))
)"""


def _check_mutual(inst) -> None:
    assert inst.exports["even"](N) == 1
    assert inst.exports["odd"](N) == 0
    assert inst.exports["even"](N + 1) == 0
    assert inst.exports["ind"](N) == 42          # even count: ends in $ind_even
    assert inst.exports["ind"](N + 1) == 7       # odd: ends in $ind_wide with $h = 7
    assert inst.exports["refs"](N) == 7
    assert inst.exports["refs"](N + 1) == 8


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("config", [dict(opt_level=0), dict(tiering=False), dict(tiering=False, opt_level=1),
                                    dict(tiering=False, debug_info=True), dict(opt_level=0, fuel=10**9)],
                         ids=["base", "top-O2", "top-O1", "top-g", "base-fuel"])
def test_a_million_mutual_tail_calls_in_constant_stack(cache_dir, config):
    engine = Engine(Config(**config))
    inst = engine.instantiate(engine.compile(wat(MUTUAL)))
    _check_mutual(inst)


def test_tail_calls_after_tier_up(cache_dir):
    engine = Engine(Config())
    compiled = engine.compile(wat(MUTUAL))
    inst = engine.instantiate(compiled)
    _check_mutual(inst)                       # the first tier: calls through wr.tailcode
    assert compiled.code.wait_for_tierup()
    assert not compiled.code.tierup_errors
    assert max(inst._code_rank) == 2
    _check_mutual(inst)                       # -O2 code (a mix of tiers while it switched)


def test_tail_calls_with_lazy_compilation(cache_dir, monkeypatch):
    monkeypatch.setenv("WASIRUN_LAZY", "1")
    engine = Engine(Config())
    compiled = engine.compile(wat(MUTUAL))
    assert compiled.code.lazy
    inst = engine.instantiate(compiled)
    _check_mutual(inst)                       # first calls go through both kinds of stub


def test_without_tail_calls_the_stack_is_exhausted():
    """The same recursion with `call` instead of `return_call` does exhaust the stack: the
    test above measures something."""
    engine = Engine(Config(opt_level=0))
    inst = engine.instantiate(engine.compile(wat(MUTUAL.replace("return_call $", "call $"))))
    with pytest.raises(Trap, match="call stack exhausted"):
        inst.exports["even"](N)


BACKTRACE = """
(module
  (func $boom (param i32) (result i32) (unreachable))
  (func $middle (param i32) (result i32) (i32.add (call $boom (local.get 0)) (i32.const 1)))
  (func $replaced (param i32) (result i32) (return_call $middle (local.get 0)))
  (func $outer (export "run") (param i32) (result i32) (i32.add (call $replaced (local.get 0)) (i32.const 2)))
)"""


@pytest.mark.parametrize("config", [dict(opt_level=0), dict(tiering=False)], ids=["base", "top"])
def test_trap_backtrace_through_a_tail_call(cache_dir, config):
    engine = Engine(Config(**config))
    inst = engine.instantiate(engine.compile(wat(BACKTRACE)))
    with pytest.raises(Trap, match="unreachable") as info:
        inst.exports["run"](3)
    # $replaced's frame became $middle's: the trace goes from $middle straight to $outer
    assert [f.name for f in info.value.frames] == ["boom", "middle", "outer"]


CALLEE = """
(module
  (type $t (func (param i32) (result i32)))
  (table (export "table") 1 funcref)
  (elem (i32.const 0) func $count)
  (func $count (export "count") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 99))
      (else (return_call $count (i32.sub (local.get $n) (i32.const 1))))))
)"""

CALLER = """
(module
  (type $t (func (param i32) (result i32)))
  (import "m" "count" (func $count (type $t)))
  (import "m" "table" (table 1 funcref))
  (func (export "direct") (param i32) (result i32) (call $count (local.get 0)))
  (func (export "indirect") (param i32) (result i32) (call_indirect (type $t) (local.get 0) (i32.const 0)))
  (func (export "tail_to_import") (param i32) (result i32) (return_call $count (local.get 0)))
)"""


@pytest.mark.parametrize("config", [dict(opt_level=0), dict(tiering=False)], ids=["base", "top"])
def test_tail_module_functions_called_from_other_modules(cache_dir, config):
    """A tail module's exports and table entries are called in the C convention by a module
    without tail calls (through an import and call_indirect), and by one with them."""
    engine = Engine(Config(**config))
    callee = engine.instantiate(engine.compile(wat(CALLEE)))
    imports = {("m", "count"): callee.exports["count"], ("m", "table"): callee.exports["table"]}
    plain = wat(CALLER.replace('(func (export "tail_to_import") (param i32) (result i32) (return_call $count (local.get 0)))', ""))
    for text in (plain, wat(CALLER)):
        inst = engine.instantiate(engine.compile(text), imports)
        assert inst.exports["direct"](N) == 99
        assert inst.exports["indirect"](N) == 99
    assert inst.exports["tail_to_import"](N) == 99
    assert callee.exports["count"](5) == 99


def test_host_function_tail_called(cache_dir):
    from runner.binary.module import I32, FuncType
    from runner.runtime.instance import host_function
    text = """(module (import "h" "f" (func $f (param i32) (result i32)))
                (func (export "run") (param i32) (result i32) (return_call $f (local.get 0))))"""
    engine = Engine(Config(opt_level=0))
    f = host_function(FuncType((I32,), (I32,)), lambda x: x * 3, "f")
    inst = engine.instantiate(engine.compile(wat(text)), {("h", "f"): f})
    assert inst.exports["run"](14) == 42


MULTI = """
(module
  (func $swap (param i32 i64) (result i64 i32) (local.get 1) (local.get 0))
  (func $go (export "go") (param i32 i64) (result i64 i32) (return_call $swap (local.get 0) (local.get 1)))
)"""


def test_tail_call_with_multiple_results(cache_dir):
    engine = Engine(Config(opt_level=0))
    inst = engine.instantiate(engine.compile(wat(MULTI)))
    assert inst.exports["go"](5, 6) == [6, 5]


def test_modules_without_tail_calls_keep_the_c_convention():
    """Only a module with tail calls is translated to tailcc (and gets adapters)."""
    plain = decode(wat(MUTUAL.replace("return_call_indirect", "call_indirect")
                       .replace("return_call_ref", "call_ref").replace("return_call", "call")))
    text = translate_module(plain, TranslateOptions()).text()
    assert "tailcc" not in text and "@wr.tailcode" not in text and ".c(" not in text
    tail = translate_module(decode(wat(MUTUAL)), TranslateOptions()).text()
    assert "define hidden tailcc i64 @w0(" in tail and "define hidden i64 @w0.c(" in tail
    assert "tail call tailcc" in tail


PROFILED = """
(module
  (func $even (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 1))
      (else (return_call $odd (i64.sub (local.get $n) (i64.const 1))))))
  (func $odd (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 0))
      (else (return_call $even (i64.sub (local.get $n) (i64.const 1))))))
  (func $run (export "run") (param $n i64) (result i64) (i64.add (call $even (local.get $n)) (i64.const 0)))
)"""


def test_guest_profile_of_tail_calls_is_flat(tmp_path):
    """Sampled while $even and $odd tail-call each other: every stack is run -> even|odd, one
    frame deep whatever the recursion depth (no garbage frames, no growth)."""
    out = tmp_path / "tail.folded"
    engine = Engine(Config(opt_level=0, cache=False, profiler="guest", guest_profile=str(out),
                           guest_interval=0.0005))
    try:
        inst = engine.instantiate(engine.compile(wat(PROFILED), name="tail.wasm"))
        for _ in range(20):
            assert inst.exports["run"](N) == 1
    finally:
        engine.close()
    stacks = {}
    for line in out.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        stacks[tuple(stack.split(";"))] = int(n)
    leaves = {st: n for st, n in stacks.items() if st[-1] in ("even", "odd")}
    assert sum(leaves.values()) >= 5, stacks
    assert all(st[-2:-1] == ("run",) for st in leaves), stacks
    assert len({len(st) for st in leaves}) == 1, stacks


WIDE_RESULTS = """
(module
  (type $r5 (func (param i64) (result i64 i64 i64 f64 v128)))
  (table 1 funcref) (elem (i32.const 0) $five)
  (func $five (type $r5)
    (local.get 0) (i64.const 2) (i64.const 3) (f64.const 4.5) (v128.const i64x2 6 7))
  (func $direct (export "direct") (param i64) (result i64 i64 i64 f64 v128)
    (return_call $five (local.get 0)))
  (func $indirect (export "indirect") (param i64) (result i64 i64 i64 f64 v128)
    (return_call_indirect (type $r5) (local.get 0) (i32.const 0)))
  (func (export "mixed") (param f32 f64 v128 i32) (result f64)
    (return_call $sum (local.get 3) (local.get 2) (local.get 1) (local.get 0)))
  (func $sum (param i32 v128 f64 f32) (result f64)
    (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (f64x2.extract_lane 1 (local.get 1)))
             (f64.add (local.get 2) (f64.promote_f32 (local.get 3)))))
)"""


@pytest.mark.parametrize("config", [dict(opt_level=0), dict(tiering=False)], ids=["base", "top"])
def test_tail_calls_with_many_results_and_vector_arguments(cache_dir, config):
    """More results than return registers (LLVM passes a hidden result pointer: no tail call
    there, but the same values), floats and a v128 moved between argument positions."""
    engine = Engine(Config(**config))
    inst = engine.instantiate(engine.compile(wat(WIDE_RESULTS)))
    v = 6 | 7 << 64
    assert inst.exports["direct"](1) == [1, 2, 3, 4.5, v]
    assert inst.exports["indirect"](9) == [9, 2, 3, 4.5, v]
    two = 0x4000000000000000       # 2.0 as the v128's high lane
    assert inst.exports["mixed"](0.5, 1.25, two << 64, 3) == 3 + 2.0 + 1.25 + 0.5


@pytest.mark.parametrize("config", [dict(), dict(tiering=False)], ids=["tiering", "top"])
def test_tail_module_from_the_code_cache(cache_dir, config):
    """A warm start maps the cached units (their adapters with them) and translates nothing."""
    wasm = wat(MUTUAL)
    engine = Engine(Config(**config))
    engine.instantiate(engine.compile(wasm))
    again = Engine(Config(**config)).compile(wasm)
    assert again.stats.cached
    assert again.module.uses_tail_calls is True     # from the cached units' metadata: no scan
    _check_mutual(Engine(Config(**config)).instantiate(again))


PING = """
(module
  (type $t (func (param i64) (result i64)))
  (table (export "table") 2 funcref)
  (func $ping (export "ping") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 100))
      (else (return_call_indirect (type $t) (i64.sub (local.get $n) (i64.const 1)) (i32.const 1)))))
)"""

PONG = """
(module
  (type $t (func (param i64) (result i64)))
  (import "a" "ping" (func $ping (type $t)))
  (import "a" "table" (table 2 funcref))
  (elem (i32.const 1) func $pong)
  (func $pong (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 200))
      (else (return_call $ping (i64.sub (local.get $n) (i64.const 1))))))
)"""


@pytest.mark.parametrize("config", [dict(opt_level=0), dict(tiering=False)], ids=["base", "top"])
def test_tail_calls_between_two_tail_modules(cache_dir, config):
    """$ping (one instance) tail-calls $pong (another) through a table, $pong tail-calls $ping
    through its import: constant stack across the instance boundary too."""
    engine = Engine(Config(**config))
    a = engine.instantiate(engine.compile(wat(PING)))
    engine.instantiate(engine.compile(wat(PONG)), {("a", "ping"): a.exports["ping"], ("a", "table"): a.exports["table"]})
    assert a.exports["ping"](N) == 100
    assert a.exports["ping"](N + 1) == 200


# --- a real program: clang's musttail, wasm tail calls (zig cc -mtail-call) ----------------------

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tail_program(tmp_path_factory) -> Path:
    import importlib.util
    import sys
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("ziglang (pip install ziglang) is not installed")
    out = tmp_path_factory.mktemp("zig") / "tail_interp.wasm"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-mtail-call", "-s",
                    str(REPO / "tests" / "programs" / "tail_interp.c"), "-o", str(out)],
                   check=True, capture_output=True, timeout=600)
    return out


def test_c_interpreter_with_musttail_matches_wasmtime(tail_program, tmp_path):
    """A threaded interpreter whose handlers tail-call each other 3 million times, through a
    table of function pointers (return_call_indirect), at every tier, lazily compiled too."""
    import os
    import sys
    wasmtime = pytest.importorskip("wasmtime")
    if shutil.which("wasm-tools"):
        text = subprocess.run(["wasm-tools", "print", str(tail_program)], capture_output=True, text=True).stdout
        assert "return_call_indirect" in text
    cfg = wasmtime.Config()
    cfg.wasm_tail_call = True
    engine = wasmtime.Engine(cfg)
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    wcfg = wasmtime.WasiConfig()
    wcfg.stdout_file = str(tmp_path / "wasmtime.out")
    store.set_wasi(wcfg)
    linker.instantiate(store, wasmtime.Module.from_file(engine, str(tail_program))).exports(store)["_start"](store)
    expected = (tmp_path / "wasmtime.out").read_text()
    assert expected.startswith("result ") and "after 3000001 steps" in expected
    env = dict(os.environ, WASIRUN_CACHE_DIR=str(tmp_path / "cache"))
    for opts, extra in ((["-O0"], {}), ([], {}), (["--no-tiering"], {}), ([], {"WASIRUN_LAZY": "1"})):
        r = subprocess.run([sys.executable, "-m", "runner.cli", *opts, str(tail_program)], capture_output=True,
                           text=True, timeout=600, cwd=REPO, env=dict(env, **extra))
        assert r.returncode == 0, (opts, extra, r.stderr)
        assert r.stdout == expected


def test_parallel_validation_reports_tail_calls(cache_dir, monkeypatch):
    """Bodies validated in worker processes tell whether they have tail calls (a scan of a big
    module's bodies would cost seconds): the translator's convention comes from validation."""
    import runner.translate.tailcalls as tc
    monkeypatch.setattr(Engine, "PARALLEL_VALIDATE_BYTES", 0)
    monkeypatch.setattr(tc, "iter_instructions", None)      # a scan would fail
    engine = Engine(Config(jobs=2, opt_level=0))
    tail = engine.compile(wat(MUTUAL))
    assert tail.module.uses_tail_calls is True
    _check_mutual(engine.instantiate(tail))
    plain = engine.compile(wat(BACKTRACE.replace("return_call", "call")))
    assert plain.module.uses_tail_calls is False
