"""An uncaught wasm exception carries the backtrace of its throw (wr_throw walks the frames as
a trap does), through the API (``WasmException.frames`` / ``backtrace()``) and the CLI, and
names its tag: export name, import module::name, else index and module."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner import Config, Engine, FuncType, Linker, Tag, WasmException
from runner.binary.module import I32

from .wat import wasm_tools_parse

REPO = Path(__file__).resolve().parent.parent

DEEP = r"""
(module
  (tag $e (export "oops") (param i32))
  (tag $hidden (param i64))
  (func $inner (param i32) (throw $e (local.get 0)))
  (func $middle (param i32) (call $inner (local.get 0)) (unreachable))
  ;; the exception passes through a try_table that does not match, and a cleanup that rethrows
  (func $cleanup (param i32)
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $middle (local.get 0)))
      (return))
    (throw_ref))
  (func $run (export "run") (param i32)
    (block $h (result i64)
      (try_table (catch $hidden $h) (call $cleanup (local.get 0)))
      (return))
    (drop))
  (func (export "hidden") (throw $hidden (i64.const -1)))
  ;; caught in its own function, then one that escapes: the first must not leave its trace
  (func $second (export "second") (param i32)
    (block $h (result i32)
      (try_table (catch $e $h) (throw $e (i32.const 1)))
      (unreachable))
    (drop)
    (call $inner (local.get 0))))
"""


@pytest.fixture(scope="module", params=[0, 2])
def engine(request):
    e = Engine(Config(opt_level=request.param, cache=False))
    yield e
    e.close()


def _names(exc) -> list[str]:
    return [f.name for f in exc.frames]


def test_uncaught_exception_has_the_backtrace_of_its_throw(engine):
    inst = engine.instantiate(engine.compile(wasm_tools_parse(DEEP), name="deep.wasm"))
    with pytest.raises(WasmException) as info:
        inst.exports["run"](7)
    exc = info.value
    assert exc.values == [7] and exc.tag is inst.exports["oops"]
    names = _names(exc)
    # innermost first, from the first throw (the rethrow in $cleanup keeps it); at -O2
    # LLVM may inline, but wasm functions are never inlined into each other by default
    assert names == ["inner", "middle", "cleanup", "run"], names
    bt = exc.backtrace()
    assert bt.startswith("wasm backtrace:") and " - inner" in bt.splitlines()[1]
    assert "uncaught wasm exception with tag `oops` and values [7]" == str(exc)


def test_a_caught_throw_leaves_no_trace_behind(engine):
    inst = engine.instantiate(engine.compile(wasm_tools_parse(DEEP)))
    with pytest.raises(WasmException) as info:
        inst.exports["second"](3)
    assert _names(info.value) == ["inner", "second"]


def test_unexported_and_imported_tags_are_named(engine):
    inst = engine.instantiate(engine.compile(wasm_tools_parse(DEEP), name="deep.wasm"))
    with pytest.raises(WasmException, match=r"with tag 1 of `deep.wasm` and values \[-1\]"):
        inst.exports["hidden"]()
    imported = wasm_tools_parse(r"""
      (module (import "env" "bad" (tag $t (param i32)))
        (func $go (export "go") (throw $t (i32.const 5))))""")
    linker = Linker(engine)
    tag = Tag(FuncType((I32,), ()))
    linker.define("env", "bad", tag)
    go = linker.instantiate(engine.compile(imported)).exports["go"]
    with pytest.raises(WasmException) as info:
        go()
    assert str(info.value) == "uncaught wasm exception with tag `env::bad` and values [5]"
    assert _names(info.value) == ["go"]


def test_an_exception_the_host_throws_has_the_wasm_frames_below_it(engine):
    src = wasm_tools_parse(r"""
      (module (import "env" "tag" (tag $t (param i32)))
        (import "env" "raise" (func $raise))
        (func $f (call $raise))
        (func $go (export "go") (call $f)))""")
    tag = Tag(FuncType((I32,), ()), "mine")
    linker = Linker(engine)
    linker.define("env", "tag", tag)

    def raise_():
        raise WasmException(tag, [9])
    linker.define_func("env", "raise", ([], []), raise_)
    go = linker.instantiate(engine.compile(src)).exports["go"]
    with pytest.raises(WasmException) as info:
        go()
    assert info.value.values == [9] and info.value.tag is tag
    assert _names(info.value)[-2:] == ["f", "go"], _names(info.value)


def test_cli_prints_the_tag_and_the_backtrace(tmp_path):
    path = tmp_path / "deep.wasm"
    path.write_bytes(wasm_tools_parse(DEEP))
    r = subprocess.run([sys.executable, "-m", "runner.cli", "--invoke", "run", str(path), "4"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == "Error: failed to run main module `deep.wasm`: uncaught wasm exception with tag `oops` and values [4]"
    assert lines[1] == "wasm backtrace:"
    assert [ln.split(" - ")[1] for ln in lines[2:6]] == ["inner", "middle", "cleanup", "run"], r.stderr
    assert "Traceback" not in r.stderr
