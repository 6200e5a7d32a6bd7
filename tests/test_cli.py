"""The wasirun command line, run as a real process on real wasm."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .wat import wat2wasm

REPO = Path(__file__).resolve().parents[1]
FIB = REPO / "examples" / "fib.wasm"

WASI_EXIT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const %d))))"""

TRAP = """(module
  (memory (export "memory") 1)
  (func $divide (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func $_ZN4demo7compute17h0123456789abcdefE (param i32) (result i32) (call $divide (local.get 0)))
  (func (export "_start") (drop (call $_ZN4demo7compute17h0123456789abcdefE (i32.const 0)))))"""


def wasirun(*args, cwd=None, input=None):
    return subprocess.run([sys.executable, "-m", "runner.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, input=input, timeout=600)


def write(tmp_path, text, *flags, name="m.wasm"):
    p = tmp_path / name
    p.write_bytes(wat2wasm(text, *flags))
    return p


def test_fib_example():
    r = wasirun(FIB)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fib(42) = 267914296\n"


def test_python_dash_m_runner_is_wasirun(tmp_path):
    """`python -m runner` runs a module and passes its exit status through, as `wasirun` does."""
    r = subprocess.run([sys.executable, "-m", "runner", write(tmp_path, WASI_EXIT % 7)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 7, r.stderr
    assert r.stderr == ""


@pytest.mark.parametrize("code, status", [(0, 0), (2, 2), (125, 125), (126, 1), (255, 1)])
def test_exit_status(tmp_path, code, status):
    r = wasirun(write(tmp_path, WASI_EXIT % code))
    assert r.returncode == status
    if code >= 126:
        assert "invalid exit status" in r.stderr


def test_trap_message_and_backtrace(tmp_path):
    r = wasirun(write(tmp_path, TRAP, "--debug-names", name="demo.wasm"))
    assert r.returncode == 134
    lines = r.stderr.splitlines()
    assert lines[0] == "Error: failed to run main module `demo.wasm`: wasm trap: integer divide by zero"
    assert "Traceback" not in r.stderr
    frames = [l.split(" - ")[1] for l in lines if " - " in l]
    assert frames[:2] == ["divide", "demo::compute"]   # demangled, hash dropped


def test_invoke(tmp_path):
    m = write(tmp_path, """(module (func (export "add") (param i32 i64) (result i64)
        (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))))""")
    r = wasirun("--invoke", "add", m, "-5", "7")
    assert (r.returncode, r.stdout) == (0, "2\n")


@pytest.mark.parametrize("content, message", [
    (b"\0asm\1\0\0\0\x01\x05\x01\x60\x00", "malformed module at byte offset 0x8: section size mismatch"),
    (b"not wasm at all", "magic header not detected"),
])
def test_malformed_module_one_line(tmp_path, content, message):
    p = tmp_path / "bad.wasm"
    p.write_bytes(content)
    r = wasirun(p)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and message in r.stderr and r.stderr.startswith("Error: ")


def test_unknown_import_is_a_link_error(tmp_path):
    m = write(tmp_path, """(module (import "env" "missing" (func)) (func (export "_start")))""")
    r = wasirun(m)
    assert r.returncode == 1
    assert "unknown import" in r.stderr and "env::missing" in r.stderr and r.stderr.count("\n") == 1


def test_usage_errors():
    assert wasirun().returncode == 2
    r = wasirun("--version")
    assert r.returncode == 0 and r.stdout.startswith("wasirun")
    assert wasirun("/nonexistent.wasm").returncode == 1


def test_options_stop_at_the_file(tmp_path):
    """Everything after FILE.wasm belongs to the guest, even things that look like options."""
    m = write(tmp_path, WASI_EXIT % 3)
    r = wasirun(m, "--help", "-O", "9")
    assert r.returncode == 3


LOOP = """(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"""


def test_timeout_interrupts_an_infinite_loop(tmp_path):
    r = wasirun("--timeout", "300ms", write(tmp_path, LOOP))
    assert r.returncode == 134
    assert "wasm trap: interrupt (timed out after 300ms)" in r.stderr


def test_fuel(tmp_path):
    r = wasirun("--fuel", "1000", write(tmp_path, LOOP))
    assert r.returncode == 134 and "all fuel consumed by WebAssembly" in r.stderr
    # Enough fuel: the program finishes normally.
    assert wasirun("--fuel", "100", write(tmp_path, WASI_EXIT % 7)).returncode == 7


def test_deep_recursion_backtrace_is_folded():
    r = wasirun("--fuel", "100000", FIB)
    assert r.returncode == 134
    assert "more frames of fib::fib" in r.stderr
    assert "fib::main" in r.stderr and "std::rt::lang_start" in r.stderr


# Says it is looping (one fd_write to stdout), then loops forever.
ANNOUNCED_LOOP = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "looping\\n")
  (data (i32.const 0) "\\10\\00\\00\\00\\08\\00\\00\\00")     ;; iovec {16, 8}
  (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (loop (br 0))))"""


def test_ctrl_c_stops_a_looping_guest(tmp_path):
    import select
    import signal
    m = write(tmp_path, ANNOUNCED_LOOP)
    p = subprocess.Popen([sys.executable, "-m", "runner.cli", str(m)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    # SIGINT only once the guest runs (it said so), not while Python starts or compiles.
    ready, _, _ = select.select([p.stdout], [], [], 300)
    line = p.stdout.readline() if ready else b""
    if line != b"looping\n":
        p.kill()
        raise AssertionError(f"the guest did not start: {line!r} {p.stderr.read()[-2000:]!r}")
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("SIGINT did not stop the guest")
    assert p.returncode == -signal.SIGINT


# --- no traceback, ever -----------------------------------------------------------------------

def _one_error_line(r):
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def _wasirun_with(setup: str, *args, cwd=None, env=None):
    """The CLI in a child after ``setup`` (Python) ran in it."""
    code = f"{setup}\nfrom runner.cli import main\nmain({[str(a) for a in args]!r})"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)


@pytest.mark.parametrize("breakage", ["root is a file", "code dir is a file", "garbage entries"])
def test_a_broken_cache_dir_still_runs(tmp_path, breakage):
    import os
    cache = tmp_path / "cache"
    if breakage == "root is a file":
        cache.write_bytes(b"not a directory")
    elif breakage == "code dir is a file":
        cache.mkdir()
        (cache / "code-v1").write_bytes(b"not a directory")
    else:
        assert wasirun_env(FIB, cache).returncode == 0          # fill it, then damage every file
        for d, _, files in os.walk(cache):
            for f in files:
                with open(os.path.join(d, f), "r+b") as fh:
                    fh.write(b"\0garbage\0" * 8)
    r = wasirun_env(FIB, cache)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.startswith("fib(")


def wasirun_env(wasm, cache):
    import os
    env = {**os.environ, "WASIRUN_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "runner.cli", str(wasm)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=REPO)


def test_jitdump_in_a_directory_we_cannot_write_is_one_line(tmp_path):
    """The jitdump goes to the current directory: here one that no longer exists (root may
    write anywhere else)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    import os
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = _wasirun_with(f"import os; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})", "--jitdump", FIB,
                      env=env)
    assert r.returncode == 1
    line = _one_error_line(r)
    assert line.startswith("Error: cannot set up --profile=jitdump: `jit-") and "No such file or directory" in line


def test_a_host_function_raising_is_reported_as_a_wasirun_bug(tmp_path):
    """A WASI function that raises something unexpected: one line saying it is a bug, and
    where its traceback went; exit 1."""
    r = _wasirun_with("""
import dataclasses
from wasi.registry import WASI_FUNCTIONS
def broken(ctx, *args):
    raise ZeroDivisionError("a host bug")
WASI_FUNCTIONS["environ_sizes_get"] = dataclasses.replace(WASI_FUNCTIONS["environ_sizes_get"], impl=broken)
""", FIB, cwd=REPO)
    assert r.returncode == 1
    line = _one_error_line(r)
    assert "internal error (a wasirun bug, please report it): ZeroDivisionError: a host bug" in line
    details = line.rsplit("details in ", 1)[1].rstrip(")")
    from pathlib import Path
    assert "ZeroDivisionError" in Path(details).read_text() and "Traceback" in Path(details).read_text()
    Path(details).unlink()


def test_an_internal_error_anywhere_is_one_line(tmp_path):
    """Something wasirun does not expect, outside the run's own try (here: building the
    engine), still ends in the one-line report."""
    r = _wasirun_with("""
import runner.api
def broken(self, config=None):
    raise KeyError("engine")
runner.api.Engine.__init__ = broken
""", FIB, cwd=REPO)
    assert r.returncode == 1
    assert "internal error (a wasirun bug, please report it): KeyError: 'engine'" in _one_error_line(r)
