"""The embedding API for real embedders (runner/linker.py): host functions for non-WASI
imports with typed values, unknown imports as default values or traps, a reactor's
_initialize, references through the API, WASI with read-only preopens."""
from __future__ import annotations

import os

import pytest

from runner import Config, Engine, FuncRef, FuncType, Linker, LinkError, Trap, UnknownImportError, ValType
from runner.linker import func_type
from wasi import DirPerms, FilePerms, WasiConfig

from .wat import wat2wasm

I32, I64, F32, F64 = ValType.i32(), ValType.i64(), ValType.f32(), ValType.f64()

HOSTS = r"""
(module
  (import "host" "add" (func $add (param i32 i64 f32 f64) (result f64)))
  (import "host" "neg" (func $neg (param i32) (result i32)))
  (import "host" "boom" (func $boom))
  (import "host" "keep" (func $keep (param externref) (result externref)))
  (func (export "add") (param i32 i64 f32 f64) (result f64)
    (call $add (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "neg") (param i32) (result i32) (call $neg (local.get 0)))
  (func (export "boom") (call $boom))
  (func (export "keep") (param externref) (result externref) (call $keep (local.get 0))))
"""


@pytest.fixture(scope="module")
def engine():
    e = Engine(Config(opt_level=0, cache=False))
    yield e
    e.close()


def compile_wat(engine, text):
    return engine.compile(wat2wasm(text))


def hosts_linker(engine, calls):
    linker = Linker(engine)

    def add(a, b, c, d):
        calls.append((a, b, c, d))
        return a + b + c + d
    linker.define_func("host", "add", FuncType((I32, I64, F32, F64), (F64,)), add)
    linker.define_func("host", "neg", (["i32"], ["i32"]), lambda x: -x)
    linker.define_func("host", "boom", ([], []), lambda: 1 / 0)
    linker.define_func("host", "keep", (["externref"], ["externref"]), lambda o: o)
    return linker


def test_host_functions_get_and_return_typed_values(engine):
    calls = []
    inst = hosts_linker(engine, calls).instantiate(compile_wat(engine, HOSTS))
    assert inst.exports["add"](-1, -(1 << 40), 0.5, 2.25) == -1 - (1 << 40) + 2.75
    assert calls == [(-1, -(1 << 40), 0.5, 2.25)]       # signed ints, floats: as wasmtime-py
    assert inst.exports["neg"](5) == -5
    assert inst.exports["neg"](-(1 << 31)) == -(1 << 31)  # wraps like i32


def test_host_function_exception_reaches_the_caller_named(engine):
    inst = hosts_linker(engine, []).instantiate(compile_wat(engine, HOSTS))
    with pytest.raises(ZeroDivisionError) as info:
        inst.exports["boom"]()
    assert any("host function `host::boom`" in n for n in getattr(info.value, "__notes__", []))
    assert inst.exports["neg"](1) == -1     # the instance still works


def test_host_function_wrong_result_type_is_a_clear_error(engine):
    linker = Linker(engine)
    linker.define_func("host", "neg", (["i32"], ["i32"]), lambda x: "nope")
    for name, ty in (("add", FuncType((I32, I64, F32, F64), (F64,))), ("boom", FuncType((), ())),
                     ("keep", func_type(["externref"], ["externref"]))):
        linker.define_func("host", name, ty, lambda *a: None)
    inst = linker.instantiate(compile_wat(engine, HOSTS))
    with pytest.raises(TypeError, match=r"host function `host::neg` returned 'nope', expected an int for i32"):
        inst.exports["neg"](1)


def test_externref_is_any_python_object(engine):
    inst = hosts_linker(engine, []).instantiate(compile_wat(engine, HOSTS))
    obj = {"any": ["python", "object"]}
    assert inst.exports["keep"](obj) is obj
    assert inst.exports["keep"](None) is None


def test_missing_import_and_wrong_type_are_link_errors(engine):
    compiled = compile_wat(engine, HOSTS)
    with pytest.raises(LinkError, match=r"unknown import: `host::add` has not been defined"):
        Linker(engine).instantiate(compiled)
    linker = hosts_linker(engine, [])
    with pytest.raises(LinkError, match="defined twice"):
        linker.define_func("host", "neg", (["i32"], ["i32"]), abs)
    bad = Linker(engine)
    bad.define_func("host", "add", ([], []), lambda: None)
    with pytest.raises(LinkError, match="incompatible import type for `host::add`"):
        bad.instantiate(compiled)


UNKNOWN = r"""
(module
  (import "host" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "host" "f" (func $f (param f64) (result f64)))
  (import "host" "r" (func $r (result externref)))
  (global $g (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $g (i32.add (global.get $g) (i32.const 40))))
  (func (export "run") (result i32)
    (i32.add (global.get $g) (call $call (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4))))
  (func (export "fl") (result f64) (call $f (f64.const 1.5)))
  (func (export "isnull") (result i32) (ref.is_null (call $r))))
"""


def test_unknown_imports_as_default_values(engine):
    """wasmtime's -W unknown-imports-default: zeros and nulls."""
    linker = Linker(engine)
    linker.define_unknown_imports_as_default_values()
    inst = linker.instantiate(compile_wat(engine, UNKNOWN))
    assert inst.exports["run"]() == 40          # _initialize ran once, host.call returned 0
    assert inst.exports["fl"]() == 0.0
    assert inst.exports["isnull"]() == 1


def test_unknown_imports_as_traps(engine):
    linker = Linker(engine)
    linker.define_unknown_imports_as_traps()
    inst = linker.instantiate(compile_wat(engine, UNKNOWN))   # linking succeeds
    with pytest.raises(UnknownImportError, match=r"unknown import: `host::call` has not been defined"):
        inst.exports["run"]()


def test_defined_imports_win_over_the_defaults(engine):
    linker = Linker(engine)
    linker.define_func("host", "call", FuncType((I32,) * 4, (I32,)), lambda a, b, c, d: a + b + c + d - 1)
    linker.define_unknown_imports_as_default_values("host")
    inst = linker.instantiate(compile_wat(engine, UNKNOWN))
    assert inst.exports["run"]() == 49


def test_reactor_initialize_once_and_opt_out(engine):
    compiled = compile_wat(engine, UNKNOWN)
    linker = Linker(engine)
    linker.define_unknown_imports_as_default_values()
    assert linker.instantiate(compiled).exports["run"]() == 40
    inst = linker.instantiate(compiled, initialize=False)
    assert inst.exports["run"]() == 0
    inst.exports["_initialize"]()
    assert inst.exports["run"]() == 40


def test_a_command_is_not_initialized_by_the_linker(engine):
    both = compile_wat(engine, r"""(module (global $g (mut i32) (i32.const 0))
      (func (export "_initialize") (global.set $g (i32.const 1)))
      (func (export "_start")) (func (export "get") (result i32) (global.get $g)))""")
    assert Linker(engine).instantiate(both).exports["get"]() == 0


REFS = r"""
(module
  (type $bin (func (param i32 i32) (result i32)))
  (import "host" "apply" (func $apply (param funcref i32) (result i32)))
  (table $t 3 funcref)
  (elem (table $t) (i32.const 0) func $sub $mul)
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
  (func $trap (result i32) unreachable)
  (elem declare func $trap)
  (func (export "get") (param i32) (result funcref) (table.get $t (local.get 0)))
  (func (export "trapper") (result funcref) (ref.func $trap))
  (func (export "call_it") (param funcref i32 i32) (result i32)
    (table.set $t (i32.const 2) (local.get 0))
    (call_indirect $t (type $bin) (local.get 1) (local.get 2) (i32.const 2)))
  (func (export "via_host") (result i32) (call $apply (ref.func $mul) (i32.const 7)))
  (elem declare func $mul))
"""


def test_funcrefs_through_the_api(engine):
    seen = []

    def apply(f, x):
        seen.append(f)
        return f(x, x)
    linker = Linker(engine)
    linker.define_func("host", "apply", (["funcref", "i32"], ["i32"]), apply)
    inst = linker.instantiate(compile_wat(engine, REFS))
    sub, mul = inst.exports["get"](0), inst.exports["get"](1)
    assert isinstance(sub, FuncRef) and sub.type == FuncType((I32, I32), (I32,))
    assert sub(10, 3) == 7 and mul(6, 7) == 42          # not exported, still callable
    assert inst.exports["get"](2) is None                # null = None
    assert inst.exports["call_it"](mul, 3, 5) == 15      # a funcref passed back in
    assert inst.exports["via_host"]() == 49 and isinstance(seen[0], FuncRef)
    with pytest.raises(Trap, match="unreachable"):
        inst.exports["trapper"]()()


def test_wasi_read_only_preopen_through_the_linker(engine, tmp_path):
    """A C program (zig cc) writes into a read-only preopen: refused; reads work."""
    import subprocess
    import sys
    if subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True).returncode:
        pytest.skip("ziglang is not installed")
    src = tmp_path / "ro.c"
    src.write_text(r"""
#include <stdio.h>
#include <errno.h>
#include <string.h>
int main(void) {
    FILE *f = fopen("/data/in.txt", "r");
    char buf[32] = {0};
    fgets(buf, sizeof buf, f);
    printf("read: %s\n", buf);
    FILE *w = fopen("/data/out.txt", "w");
    printf("write: %s\n", w ? "opened" : strerror(errno));
    return 0;
}
""")
    wasm = tmp_path / "ro.wasm"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O1", str(src), "-o", str(wasm)],
                   check=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("hello")
    out = tmp_path / "stdout"
    for perms, expect in (((DirPerms.READ, FilePerms.READ), "Operation not permitted"), ((), "opened")):
        config = WasiConfig(args=["ro"], stdout=str(out))
        config.preopen_dir(str(data), "/data", *perms)
        linker = Linker(engine)
        linker.define_wasi(config)
        inst = linker.instantiate(engine.compile(wasm.read_bytes()))
        inst.exports["_start"]()
        inst.wasi.close()
        assert out.read_text() == f"read: hello\nwrite: {expect}\n"
    assert os.path.exists(data / "out.txt")   # only the writable run created it


CALLER = r"""
(module
  (import "host" "sum" (func $sum (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "\01\02\03\04\05")
  (func (export "sum5") (result i32) (call $sum (i32.const 100) (i32.const 5)))
  (func (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
"""


def test_access_caller_reads_the_calling_instance(engine):
    """Like the CPython build's host.call: the host reads guest memory through the Caller,
    each instance its own."""
    linker = Linker(engine)
    linker.define_func("host", "sum", (["i32", "i32"], ["i32"]),
                       lambda caller, ptr, n: sum(caller["memory"].read(ptr, n)), access_caller=True)
    compiled = compile_wat(engine, CALLER)
    a, b = linker.instantiate(compiled), linker.instantiate(compiled)
    b.exports["memory"].write(100, b"\x0a\x0a\x0a\x0a\x0a")
    assert (a.exports["sum5"](), b.exports["sum5"]()) == (15, 50)


def test_define_instance_links_exports_of_another(engine):
    first = Linker(engine)
    first.define_func("host", "sum", (["i32", "i32"], ["i32"]), lambda p, n: 0)
    lib = first.instantiate(compile_wat(engine, CALLER))
    user = compile_wat(engine, r"""(module (import "lib" "double" (func $d (param i32) (result i32)))
      (func (export "quad") (param i32) (result i32) (call $d (call $d (local.get 0)))))""")
    linker = Linker(engine)
    linker.define_instance("lib", lib)
    assert linker.instantiate(user).exports["quad"](5) == 20
