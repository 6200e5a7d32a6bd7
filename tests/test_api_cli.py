"""The CLI side of the embedding features, as wasmtime run does them: `_initialize`
before `--invoke` / `_start`, `-W unknown-imports-default|trap`, `--dir HOST::GUEST::ro`."""
from __future__ import annotations

import pytest

from .test_cli import wasirun, write

REACTOR = r"""
(module
  (import "host" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "host" "f" (func $f (param f64) (result f64)))
  (global $g (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $g (i32.add (global.get $g) (i32.const 40))))
  (func (export "run") (result i32)
    (i32.add (global.get $g) (call $call (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4))))
  (func (export "fl") (result f64) (call $f (f64.const 1.5))))
"""

PRINTS = r"""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "init\n")
  (data (i32.const 32) "start\n")
  (func $p (param i32 i32) (i32.store (i32.const 0) (local.get 0)) (i32.store (i32.const 4) (local.get 1))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize") (call $p (i32.const 16) (i32.const 5)))
  (func (export "_start") (call $p (i32.const 32) (i32.const 6))))
"""


def test_unknown_imports_are_a_link_error_by_default(tmp_path):
    r = wasirun("--invoke", "run", write(tmp_path, REACTOR))
    assert r.returncode == 1
    assert r.stderr == "Error: failed to instantiate `m.wasm`: unknown import: `host::call` has not been defined\n"


def test_unknown_imports_default_values_after_initialize(tmp_path):
    m = write(tmp_path, REACTOR)
    r = wasirun("-W", "unknown-imports-default=y", "--invoke", "run", m)
    assert (r.returncode, r.stdout) == (0, "40\n"), r.stderr    # _initialize once, host.call -> 0
    r = wasirun("-W", "unknown-imports-default", "--invoke", "fl", m)
    assert (r.returncode, r.stdout) == (0, "0.0\n"), r.stderr


def test_unknown_imports_trap_when_called(tmp_path):
    r = wasirun("-W", "unknown-imports-trap=y", "--invoke", "run", write(tmp_path, REACTOR))
    assert r.returncode == 1
    assert r.stderr == "Error: failed to run main module `m.wasm`: unknown import: `host::call` has not been defined\n"


def test_bad_w_option(tmp_path):
    r = wasirun("-W", "unknown-imports-sometimes", write(tmp_path, REACTOR))
    assert r.returncode == 2 and "unknown -W option 'unknown-imports-sometimes'" in r.stderr


@pytest.mark.parametrize("args", [(), ("--invoke", "_start")])
def test_initialize_runs_before_start_as_wasmtime(tmp_path, args):
    r = wasirun(*args, write(tmp_path, PRINTS))
    assert (r.returncode, r.stdout) == (0, "init\nstart\n"), r.stderr


READS_AND_WRITES = r"""
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "new.txt")
  (func (export "_start")
    ;; path_open(3, 0, "new.txt", O_CREAT, FD_WRITE|FD_READ) -> its errno is the exit status
    (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 1)
                            (i64.const 66) (i64.const 66) (i32.const 0) (i32.const 64)))))
"""


def test_read_only_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    m = write(tmp_path, READS_AND_WRITES)
    r = wasirun("--dir", f"{data}::/data::ro", m)
    assert r.returncode == 63, r.stderr        # errno PERM
    assert not (data / "new.txt").exists()
    r = wasirun("--dir", f"{data}::/data", m)
    assert r.returncode == 0, r.stderr
    assert (data / "new.txt").exists()
