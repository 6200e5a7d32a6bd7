"""Exception handling (try_table, throw, throw_ref, tags, exnref): real modules built from .wat
with wasm-tools, run at the first tier, the top tier, with tier-up, lazily compiled and with -g."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from runner.api import Config, Engine
from runner.binary.module import FuncType, I32
from runner.errors import Trap, TrapKind, WasmException
from runner.runtime.exceptions import Tag
from runner.runtime.instance import host_function
from .wat import wasm_tools_parse as wat

REPO = Path(__file__).resolve().parent.parent




# (opt_level, tiering, debug_info): first tier only, top tier only, tiered, -g
MODES = [(0, True, False), (2, False, False), (2, True, False), (2, False, True)]
MODE_IDS = ["base", "top", "tiered", "debug"]


@pytest.fixture(params=MODES, ids=MODE_IDS)
def engine(request):
    opt, tiering, debug = request.param
    e = Engine(Config(opt_level=opt, tiering=tiering, debug_info=debug))
    yield e
    e.close()


def instantiate(engine, text: str, imports=None):
    return engine.instantiate(engine.compile(wat(text)), imports)


BASIC = """
(module
  (tag $e0 (export "e0"))
  (tag $e1 (export "e1") (param i32))
  (tag $e2 (export "e2") (param i64 f64))
  (func $thrower (export "thrower") (param i32)
    (if (i32.eq (local.get 0) (i32.const 1)) (then (throw $e0)))
    (if (i32.eq (local.get 0) (i32.const 2)) (then (throw $e1 (i32.const 42))))
    (if (i32.eq (local.get 0) (i32.const 3)) (then (throw $e2 (i64.const -7) (f64.const 2.5)))))
  (func $deep (param i32 i32)
    (if (i32.eqz (local.get 1)) (then (call $thrower (local.get 0)) (return)))
    (call $deep (local.get 0) (i32.sub (local.get 1) (i32.const 1))))
  ;; 0 nothing thrown, 10 e0, 100+x e1 x, the e2 payload summed, -1 anything else
  (func (export "classify") (param i32 i32) (result i64)
    (local $r i64)
    (local.set $r (i64.const -1))
    (block $other
      (block $c2 (result i64 f64)
        (block $c1 (result i32)
          (block $c0
            (try_table (catch $e0 $c0) (catch $e1 $c1) (catch $e2 $c2) (catch_all $other)
              (local.set $r (i64.const 5))        ;; a local written inside the try: seen by the catch
              (call $deep (local.get 0) (local.get 1)))
            (return (i64.const 0)))
          (return (i64.add (local.get $r) (i64.const 5))))
        (return (i64.extend_i32_s (i32.add (i32.const 100)))))
      (drop) (return))
    (local.get $r))
  (func (export "direct") (param i32) (result i32)
    (block $h (result i32)
      (try_table (result i32) (catch $e1 $h)
        (if (local.get 0) (then (throw $e1 (i32.const 9))))
        (i32.const 1))))
)
"""


def test_catch_each_tag_and_payload(engine):
    inst = instantiate(engine, BASIC)
    classify = inst.exports["classify"]
    for depth in (0, 1, 20):
        assert classify(0, depth) == 0
        assert classify(1, depth) == 10
        assert classify(2, depth) == 142
        assert classify(3, depth) == -7   # e2: its (i64 f64) payload; the f64 dropped


def test_direct_throw_in_try_body(engine):
    inst = instantiate(engine, BASIC)
    assert inst.exports["direct"](0) == 1
    assert inst.exports["direct"](1) == 9


def test_uncaught_exception_reaches_python_as_wasm_exception(engine):
    inst = instantiate(engine, BASIC)
    with pytest.raises(WasmException) as info:
        inst.exports["thrower"](3)
    assert info.value.tag is inst.exports["e2"]
    assert info.value.values == [-7, 2.5]
    assert "e2" in str(info.value)
    with pytest.raises(WasmException) as info:
        inst.exports["thrower"](2)
    assert info.value.tag is inst.exports["e1"] and info.value.values == [42]
    assert inst.exports["thrower"](0) is None   # and the instance still works


TRAPS = """
(module
  (tag $e)
  (func $div (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "unreachable") (result i32)
    (block $h (try_table (catch_all $h) (unreachable))) (i32.const 1))
  (func (export "div") (param i32 i32) (result i32)
    (block $h (try_table (catch_all $h) (return (call $div (local.get 0) (local.get 1)))))
    (i32.const -1))
  (func (export "null_ref") (throw_ref (ref.null exn)))
)
"""


def test_try_table_never_catches_a_trap(engine):
    inst = instantiate(engine, TRAPS)
    with pytest.raises(Trap) as info:
        inst.exports["unreachable"]()
    assert info.value.kind == TrapKind.UNREACHABLE
    assert inst.exports["div"](6, 3) == 2
    with pytest.raises(Trap) as info:
        inst.exports["div"](1, 0)
    assert info.value.kind == TrapKind.INTEGER_DIVIDE_BY_ZERO
    with pytest.raises(Trap) as info:
        inst.exports["null_ref"]()
    assert info.value.kind == TrapKind.NULL_EXCEPTION_REFERENCE


NESTED = """
(module
  (tag $a (param i32))
  (tag $b (param i32))
  (global $saved (mut exnref) (ref.null exn))
  (table $t 1 funcref)
  (elem (table $t) (i32.const 0) func $throw_b)
  (func $throw_b (param i32) (throw $b (local.get 0)))
  ;; an inner try_table that does not match lets the outer one catch
  (func (export "nested") (param i32) (result i32)
    (block $outer (result i32)
      (try_table (result i32) (catch $b $outer)
        (block $inner (result i32)
          (try_table (result i32) (catch $a $inner)
            (call_indirect (param i32) (local.get 0) (i32.const 0))
            (i32.const -1)))
        (i32.add (i32.const 1000)))))
  ;; catch_ref, then rethrow the same exception with throw_ref to a caller's handler
  (func $rethrow (param i32)
    (block $h (result i32 exnref)
      (try_table (catch_ref $b $h) (call $throw_b (local.get 0)))
      (return))
    (global.set $saved)          ;; keep the exnref: it survives its catch
    (drop)
    (throw_ref (global.get $saved)))
  (func (export "rethrow") (param i32) (result i32)
    (block $h (result i32) (try_table (catch $b $h) (call $rethrow (local.get 0))) (i32.const -1)))
  ;; catch_all_ref keeps the exnref in a local; rethrown from there twice
  (func (export "again") (result i32)
    (local $x exnref)
    (local $n i32)
    (block $h (result exnref) (try_table (catch_all_ref $h) (throw $a (i32.const 5))) (unreachable))
    (local.set $x)
    (block $h2 (result i32) (try_table (catch $a $h2) (throw_ref (local.get $x))) (unreachable))
    (local.set $n)
    (block $h3 (result i32) (try_table (catch $a $h3) (throw_ref (local.get $x))) (unreachable))
    (i32.add (local.get $n)))
  (func (export "saved_again") (result i32)
    (block $h (result i32) (try_table (catch $b $h) (throw_ref (global.get $saved))) (i32.const -1)))
  (func (export "loop") (param i32) (result i32)
    (local $sum i32)
    (loop $l
      (block $h (result i32)
        (try_table (catch $b $h) (call $throw_b (local.get 0)))
        (i32.const 0))
      (local.set $sum (i32.add (local.get $sum)))
      (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (local.get $sum))
)
"""


def test_nested_handlers_call_indirect_and_rethrow(engine):
    inst = instantiate(engine, NESTED)
    assert inst.exports["nested"](7) == 7                # $b: the inner (catch $a) passes it on
    assert inst.exports["rethrow"](8) == 8
    assert inst.exports["again"]() == 10
    assert inst.exports["saved_again"]() == 8            # the exnref kept in a global
    assert inst.exports["loop"](2000) == 2000 * 2001 // 2   # hot: tiers up while throwing


CROSS_A = """
(module
  (tag $e (export "e") (param i32))
  (func (export "throw") (param i32) (throw $e (local.get 0)))
)
"""
CROSS_B = """
(module
  (tag $e (import "a" "e") (param i32))
  (tag $alias (import "a" "e") (param i32))
  (tag $mine (param i32))
  (func $throw (import "a" "throw") (param i32))
  (func $host (import "env" "host") (param i32))
  (func (export "via_alias") (param i32) (result i32)
    (block $h (result i32) (try_table (catch $alias $h) (call $throw (local.get 0))) (i32.const -1)))
  (func (export "mine_misses") (param i32) (result i32)
    (block $h (result i32) (try_table (catch $mine $h) (call $throw (local.get 0))) (i32.const -1)))
  (func (export "from_host") (param i32) (result i32)
    (block $h (result i32) (try_table (catch $e $h) (call $host (local.get 0))) (i32.const -1)))
  (func (export "catch_all_host") (param i32) (result i32)
    (block $h (try_table (catch_all $h) (call $host (local.get 0)))) (i32.const -1))
)
"""


def test_imported_tag_is_the_same_tag_and_host_boundaries(engine):
    a = instantiate(engine, CROSS_A)
    tag = a.exports["e"]
    assert isinstance(tag, Tag)
    calls = []

    def host(x):
        calls.append(x)
        if x == 1:
            raise WasmException(tag, [77])          # thrown into the calling wasm
        if x == 2:
            raise ValueError("host bug")           # not a wasm exception: catch_all must not see it
        if x == 3:
            a.exports["throw"](x + 30)             # a wasm exception passing through Python

    imports = {("a", "e"): tag, ("a", "throw"): a.exports["throw"],
               ("env", "host"): host_function(FuncType((I32,), ()), host, "host")}
    b = instantiate(engine, CROSS_B, imports)
    assert b.exports["via_alias"](5) == 5
    with pytest.raises(WasmException) as info:
        b.exports["mine_misses"](6)
    assert info.value.tag is tag and info.value.values == [6]
    assert b.exports["from_host"](1) == 77
    assert b.exports["from_host"](3) == 33
    with pytest.raises(ValueError, match="host bug"):
        b.exports["catch_all_host"](2)
    assert b.exports["catch_all_host"](0) == -1
    # Raised again unchanged, a caught WasmException is the same exception.
    with pytest.raises(WasmException) as info:
        a.exports["throw"](4)
    again = info.value

    def rethrow(x):
        raise again
    b2 = instantiate(engine, CROSS_B, {**imports, ("env", "host"): host_function(FuncType((I32,), ()), rethrow)})
    assert b2.exports["from_host"](0) == 4


def test_tag_import_type_mismatch_is_a_link_error(engine):
    from runner.errors import LinkError
    a = instantiate(engine, CROSS_A)
    wrong = Tag(FuncType((), ()), "wrong")
    with pytest.raises(LinkError, match="incompatible import type"):
        instantiate(engine, CROSS_B, {("a", "e"): wrong, ("a", "throw"): a.exports["throw"],
                                      ("env", "host"): host_function(FuncType((I32,), ()), lambda x: None)})


def test_lazy_compilation(monkeypatch):
    monkeypatch.setenv("WASIRUN_LAZY", "1")
    e = Engine(Config(opt_level=2))
    inst = e.instantiate(e.compile(wat(NESTED)))
    assert inst.exports["nested"](3) == 3
    assert inst.exports["rethrow"](4) == 4
    assert inst.exports["loop"](1500) == 1500 * 1501 // 2
    e.close()


def test_cli_names_the_tag(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(wat(BASIC))
    r = subprocess.run([sys.executable, "-m", "runner.cli", "--invoke", "thrower", str(path), "2"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode != 0
    assert "uncaught wasm exception" in r.stderr and "e1" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# --- a C program: setjmp/longjmp lowered to wasm exceptions, checked against wasmtime -------

@pytest.fixture(scope="module")
def sjlj_program(tmp_path_factory) -> Path:
    import importlib.util
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("ziglang (pip install ziglang) is not installed")
    out = tmp_path_factory.mktemp("sjlj") / "sjlj.wasm"
    src = REPO / "tests" / "programs"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-s", "-mexception-handling",
                    "-mllvm", "-wasm-enable-sjlj", "-mllvm", "-wasm-use-legacy-eh=false",
                    str(src / "sjlj.c"), str(src / "sjlj_tag.s"), "-o", str(out)],
                   check=True, capture_output=True, timeout=600)
    return out


def _wasmtime_stdout(wasm: Path, tmp: Path) -> str:
    wasmtime = pytest.importorskip("wasmtime")
    config = wasmtime.Config()
    config.wasm_exceptions = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    cfg = wasmtime.WasiConfig()
    out = tmp / "wasmtime.out"
    cfg.stdout_file = str(out)
    store.set_wasi(cfg)
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    instance.exports(store)["_start"](store)
    return out.read_text()


@pytest.mark.parametrize("flags,lazy", [(["-O0"], "0"), (["-O2"], "0"), (["-O2", "--no-tiering", "-g"], "0"),
                                        (["-O2"], "1")], ids=["base", "tiered", "top-g", "lazy"])
def test_setjmp_longjmp_program_matches_wasmtime(sjlj_program, flags, lazy, tmp_path):
    import os
    expected = _wasmtime_stdout(sjlj_program, tmp_path)
    assert "acc = 200010000" in expected
    r = subprocess.run([sys.executable, "-m", "runner.cli", *flags, "--no-cache", str(sjlj_program)],
                       capture_output=True, text=True, timeout=600, cwd=REPO, env={**os.environ, "WASIRUN_LAZY": lazy})
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected


TABLE = """
(module
  (tag $e (param i32))
  (table $t 2 exnref)
  (func $throw (param i32) (throw $e (local.get 0)))
  (func (export "store") (param i32 i32)      ;; catch a $e carrying arg 1 and keep it at slot arg 0
    (local $x exnref)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $throw (local.get 1)))
      (unreachable))
    (local.set $x)
    (table.set $t (local.get 0) (local.get $x)))
  (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func (export "rethrow") (param i32) (result i32)
    (block $h (result i32) (try_table (catch $e $h) (throw_ref (table.get $t (local.get 0)))) (i32.const -1)))
)
"""


def test_exnref_in_a_table(engine):
    inst = instantiate(engine, TABLE)
    assert inst.exports["is_null"](1) == 1
    inst.exports["store"](1, 55)
    assert inst.exports["is_null"](1) == 0
    assert inst.exports["rethrow"](1) == 55
    assert inst.exports["rethrow"](1) == 55        # an exnref can be thrown again and again
    with pytest.raises(Trap) as info:
        inst.exports["rethrow"](0)                 # null
    assert info.value.kind == TrapKind.NULL_EXCEPTION_REFERENCE


@pytest.mark.parametrize("text,message", [
    ("(module (tag (result i32)))", "non-empty tag result type"),
    ("(module (func (throw 0)))", "unknown tag 0"),
    ("(module (tag $e (param i32)) (func (throw $e)))", "type mismatch"),
    ("(module (tag $e (param i32)) (func (block $h (try_table (catch $e $h)))))", "type mismatch"),
    ("(module (func (block $h (result exnref) (try_table (catch_all $h)) (unreachable)) (drop)))", "type mismatch"),
    ("(module (func (throw_ref (i32.const 0))))", "type mismatch"),
    ("(module (func (try_table (catch_all 1))))", "unknown label 1"),
])
def test_invalid_modules(text, message):
    from runner.errors import ValidationError
    e = Engine(Config(opt_level=0))
    with pytest.raises(ValidationError, match=message):
        e.compile(wat_unchecked(text))


def wat_unchecked(text: str) -> bytes:
    """.wat -> .wasm without wasm-tools' own validation (the module is meant to be invalid)."""
    exe = shutil.which("wasm-tools")
    if exe is None:
        pytest.skip("wasm-tools is not installed")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "m.wat", Path(d) / "m.wasm"
        src.write_text(text)
        r = subprocess.run([exe, "parse", str(src), "-o", str(out)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"wasm-tools cannot encode it: {r.stderr.decode()[:100]}")
        return out.read_bytes()


def test_host_exception_with_a_bad_payload_is_a_host_error():
    e = Engine(Config(opt_level=0))
    a = e.instantiate(e.compile(wat(CROSS_A)))
    tag = a.exports["e"]

    def host(x):
        raise WasmException(tag, ["not", "an i32 list"])
    imports = {("a", "e"): tag, ("a", "throw"): a.exports["throw"],
               ("env", "host"): host_function(FuncType((I32,), ()), host)}
    b = e.instantiate(e.compile(wat(CROSS_B)), imports)
    with pytest.raises(TypeError):
        b.exports["catch_all_host"](0)


def test_exnref_values_cross_the_api_as_wasm_exceptions():
    e = Engine(Config(opt_level=0))
    inst = e.instantiate(e.compile(wat("""
(module
  (tag $e (export "e") (param i64))
  (func (export "catch") (param i64) (result exnref)
    (block $h (result exnref) (try_table (catch_all_ref $h) (throw $e (local.get 0))) (unreachable)))
  (func (export "rethrow") (param exnref) (throw_ref (local.get 0)))
)""")))
    exn = inst.exports["catch"](-5)
    assert isinstance(exn, WasmException) and exn.tag is inst.exports["e"] and exn.values == [-5]
    with pytest.raises(WasmException) as info:
        inst.exports["rethrow"](exn)
    assert info.value.values == [-5] and info.value._exn == exn._exn    # the same exception
    with pytest.raises(WasmException) as info:
        inst.exports["rethrow"](WasmException(inst.exports["e"], [7]))
    assert info.value.values == [7]
    with pytest.raises(Trap):
        inst.exports["rethrow"](None)


# --- the loader keeps unwind tables --------------------------------------------------------

def _fdes(blob: bytes, start: int) -> list[tuple[int, int]]:
    """(pc_begin, pc_range) of every FDE from ``start`` up to the zero terminator (pcrel sdata4)."""
    import struct
    out, at = [], start
    while True:
        length, cie = struct.unpack_from("<Ii", blob, at)
        if length == 0:
            return out
        if cie:
            rel, size = struct.unpack_from("<iI", blob, at + 8)
            out.append((at + 8 + rel, size))
        at += 4 + length


def test_loader_keeps_eh_frame_and_neutralises_dropped_comdat_fdes():
    from runner import loader
    from runner.jit import compile_ir
    text = """
$pick = comdat any
define linkonce_odr hidden i32 @pick() uwtable comdat { ret i32 {V} }
define i32 @get{V}() uwtable { %r = call i32 @pick()
  ret i32 %r }
"""
    image = loader.link([compile_ir(text.replace("{V}", str(v)), "base") for v in (1, 2)])
    start = image.symbols[loader.EH_FRAME_SYMBOL][0]
    fdes = _fdes(image.blob, start)
    live = sorted(f for f in fdes if f[1])
    funcs = sorted((image.symbols[n][0], image.symbols[n][1]) for n in ("pick", "get1", "get2"))
    assert [b for b, _ in live] == [b for b, _ in funcs]      # one FDE per placed function
    assert len(fdes) == 4 and sum(1 for f in fdes if not f[1]) == 1   # the dropped copy's covers nothing


DEEP = """
(module
  (tag $e (param i32))
  (func $down (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (throw $e (i32.const 99))))
    (i32.add (call $down (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))
  (func $forever (param i32) (result i32) (i32.add (call $forever (local.get 0)) (i32.const 1)))
  (func (export "deep") (param i32) (result i32)
    (block $h (result i32) (try_table (result i32) (catch $e $h) (call $down (local.get 0)))))
  (func (export "exhaust") (result i32)
    (block $h (try_table (catch_all $h) (drop (call $forever (i32.const 0))))) (i32.const -1))
)
"""


def test_deep_unwinding_and_stack_exhaustion(engine):
    inst = instantiate(engine, DEEP)
    assert inst.exports["deep"](20000) == 99
    with pytest.raises(Trap) as info:
        inst.exports["exhaust"]()          # a trap, not an exception: catch_all does not see it
    assert info.value.kind == TrapKind.STACK_EXHAUSTED
    assert inst.exports["deep"](10) == 99


def test_linker_host_tag_and_host_throw():
    from runner import Engine as E, Linker, Tag as T, WasmException as W
    e = E(Config(opt_level=0))
    tag = T(FuncType((I32,), ()), "host_tag")
    linker = Linker(e)
    linker.define("a", "e", tag)

    def boom(x):
        raise W(tag, [x * 2])
    linker.define_func("a", "throw", FuncType((I32,), ()), boom)
    linker.define_func("env", "host", FuncType((I32,), ()), lambda x: None)
    inst = linker.instantiate(e.compile(wat(CROSS_B)))
    assert inst.exports["via_alias"](21) == 42
    with pytest.raises(W) as info:
        inst.exports["mine_misses"](4)
    assert info.value.tag is tag and info.value.values == [8] and "host_tag" in str(info.value)


PARAMS = """
(module
  (tag $again (param i32))
  ;; catch into a loop label (its params) from a try_table with a parameter: counts to the argument
  (func (export "count") (param i32) (result i32)
    (local $n i32)
    (i32.const 0)
    (loop $l (param i32) (result i32)
      (local.tee $n)
      (try_table (param i32) (result i32) (catch $again $l)
        (if (param i32) (result i32) (i32.lt_s (local.get $n) (local.get 0))
          (then (throw $again (i32.add (i32.const 1))))
          (else))))
  )
)
"""


def test_catch_into_a_loop_label_with_block_params(engine):
    inst = instantiate(engine, PARAMS)
    assert inst.exports["count"](0) == 0
    assert inst.exports["count"](1500) == 1500


def test_exceptions_on_two_threads_at_once():
    import threading
    e = Engine(Config(opt_level=0))
    a = e.instantiate(e.compile(wat(CROSS_A)))
    tag = a.exports["e"]

    def host(x):
        raise WasmException(tag, [x + 1])
    imports = {("a", "e"): tag, ("a", "throw"): a.exports["throw"],
               ("env", "host"): host_function(FuncType((I32,), ()), host)}
    b = e.instantiate(e.compile(wat(CROSS_B)), imports)
    results: dict[int, list] = {}

    def work(k):
        out = []
        for i in range(300):
            out.append(b.exports["via_alias"](k * 1000 + i) == k * 1000 + i)
            out.append(b.exports["from_host"](k * 1000 + i) == k * 1000 + i + 1)
        results[k] = out
    threads = [threading.Thread(target=work, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[1] and all(results[1]) and all(results[2])
