"""The native fd_write (runner/wasi_host.py FastFdWrite) against the Python one, through real wasm."""
from __future__ import annotations

import subprocess
import sys

import pytest

from .wat import wat2wasm

# _start writes the 3-byte message with the (fd, iovs, iovs_len, nwritten) of case N (argc-1 picks
# N), then exits with fd_write's errno * 16 + the number of bytes it reported written (if any).
PROGRAM = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $argsz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hi\\n")
  (data (i32.const 0) "\\64\\00\\00\\00\\03\\00\\00\\00")                ;; iovec {100, 3}
  (data (i32.const 8) "\\00\\00\\01\\00\\01\\00\\00\\00")                ;; iovec {65536, 1}: past the end
  (data (i32.const 16) "\\64\\00\\00\\00\\00\\00\\00\\00")               ;; iovec {100, 0}: empty
  (func (export "_start") (local $case i32) (local $r i32)
    (drop (call $argsz (i32.const 200) (i32.const 204)))
    (local.set $case (i32.sub (i32.load (i32.const 200)) (i32.const 1)))
    (if (i32.eq (local.get $case) (i32.const 4)) (then (drop (call $close (i32.const 1)))))
    (local.set $r
      (if (result i32) (i32.eqz (local.get $case)) (then (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 50)))
      (else (if (result i32) (i32.eq (local.get $case) (i32.const 1)) (then (call $w (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 50)))
      (else (if (result i32) (i32.eq (local.get $case) (i32.const 2)) (then (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65534)))
      (else (if (result i32) (i32.eq (local.get $case) (i32.const 3)) (then (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 50)))
      (else (if (result i32) (i32.eq (local.get $case) (i32.const 4)) (then (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 50)))
      (else (call $w (i32.const 99) (i32.const 0) (i32.const 1) (i32.const 50)))))))))))))
    (call $exit (if (result i32) (local.get $r) (then (local.get $r))
                                         (else (i32.add (i32.const 100) (i32.load (i32.const 50)))))))
)"""


# The CLI with the Python fd_write counting its calls: the count goes to stderr at exit, so a
# test sees which path served the guest.
COUNTING_CLI = r"""
import atexit, dataclasses, sys
from wasi.registry import WASI_FUNCTIONS
calls = []
slow = WASI_FUNCTIONS["fd_write"]
WASI_FUNCTIONS["fd_write"] = dataclasses.replace(slow, impl=lambda *a: calls.append(a) or slow.impl(*a))
atexit.register(lambda: sys.stderr.write(f"python fd_write calls: {len(calls)}\n"))
from runner.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("case, stdout, status, python_calls", [
    (0, "hi\n", 103, 0),        # written natively: 3 bytes, the Python fd_write never ran
    (1, "", 21, None),          # an iovec past the end of memory: FAULT, nothing written
    (2, "", 21, None),          # nwritten past the end: FAULT before any output
    (3, "", 100, None),         # an empty buffer: 0 bytes, success
    (4, "", 8, None),           # stdout closed by the guest: BADF (the fd map follows fd_close)
    (5, "", 8, 1),              # an fd that was never open (not in the fd map): the Python one says BADF
])
def test_fd_write_cases(tmp_path, case, stdout, status, python_calls):
    wasm = tmp_path / "w.wasm"
    wasm.write_bytes(wat2wasm(PROGRAM))
    r = subprocess.run([sys.executable, "-c", COUNTING_CLI, str(wasm)] + ["x"] * case,
                       capture_output=True, text=True, timeout=300)
    assert (r.stdout, r.returncode) == (stdout, status), r.stderr
    if python_calls is not None:
        assert f"python fd_write calls: {python_calls}" in r.stderr, r.stderr


def test_trace_wasi_goes_through_python_and_prints_each_call(tmp_path):
    """--trace-wasi: every call on stderr with its arguments and result; fd_write too, so it
    takes the Python path (the native one would write without a trace)."""
    wasm = tmp_path / "w.wasm"
    wasm.write_bytes(wat2wasm(PROGRAM))
    r = subprocess.run([sys.executable, "-c", COUNTING_CLI, "--trace-wasi", str(wasm)],
                       capture_output=True, text=True, timeout=300)
    assert (r.stdout, r.returncode) == ("hi\n", 103), r.stderr
    lines = r.stderr.splitlines()
    assert lines[:3] == ["wasi: args_sizes_get(200, 204) -> success", "wasi: fd_write(1, 0, 1, 50) -> success",
                         "wasi: proc_exit(103)"], lines
    assert "python fd_write calls: 1" in r.stderr


def test_every_fd_map_follows_every_change_of_the_table(tmp_path):
    """The table tells each FastFdWrite of its context about path_open/fd_close/fd_renumber
    (no wrapper around each host call): two on one context both follow."""
    import os

    from runner.wasi_host import FastFdWrite
    from wasi import WasiConfig, WasiCtx
    from wasi.fdtable import File

    ctx = WasiCtx(WasiConfig(args=["t"]))
    maps = [FastFdWrite(ctx), FastFdWrite(ctx)]
    for m in maps:
        m.refresh()
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    fd = ctx.fds.add(File(out, writable=True))
    reader = ctx.fds.add(File(os.open(tmp_path / "out", os.O_RDONLY)))
    assert all(m.fdmap[fd] == out and m.fdmap[reader] == -1 for m in maps)
    ctx.fds.renumber(fd, reader)              # the writer now sits at `reader`; `fd` is gone
    assert all(m.fdmap[reader] == out and m.fdmap[fd] == -1 for m in maps)
    ctx.fds.close(reader)
    assert all(m.fdmap[reader] == -1 for m in maps)
    assert all(m.fdmap[1] >= 0 for m in maps)      # stdout stays writable natively
    ctx.close()


# Two fd_writes: one iovec ("a\n"), then two ("b", "c\n"); exit status = the sum of nwritten.
TWO_SHAPES = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "a\\nbc\\n")
  (data (i32.const 0) "\\64\\00\\00\\00\\02\\00\\00\\00\\66\\00\\00\\00\\01\\00\\00\\00\\67\\00\\00\\00\\02\\00\\00\\00")
  (func (export "_start") (local $n i32)
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 50)))
    (local.set $n (i32.load (i32.const 50)))
    (drop (call $w (i32.const 1) (i32.const 8) (i32.const 2) (i32.const 50)))
    (call $exit (i32.add (local.get $n) (i32.load (i32.const 50)))))
)"""


@pytest.mark.skipif(not __import__("shutil").which("strace"), reason="needs strace")
def test_one_iovec_is_a_write_and_several_a_writev(tmp_path):
    """The native fd_write makes one iovec a plain write(2) (cheaper in the kernel than writev)
    and several one writev: same bytes, same nwritten, no Python fd_write."""
    wasm = tmp_path / "w.wasm"
    wasm.write_bytes(wat2wasm(TWO_SHAPES))
    log = tmp_path / "strace.log"
    r = subprocess.run(["strace", "-f", "-e", "trace=write,writev", "-o", str(log),
                        sys.executable, "-c", COUNTING_CLI, str(wasm)], capture_output=True, text=True, timeout=300)
    assert (r.stdout, r.returncode) == ("a\nbc\n", 5), r.stderr
    assert "python fd_write calls: 0" in r.stderr, r.stderr
    calls = [" ".join(line.split()[1:]) for line in log.read_text().splitlines() if '"a\\n"' in line or '"b"' in line]
    assert calls == ['write(1, "a\\n", 2) = 2',
                     'writev(1, [{iov_base="b", iov_len=1}, {iov_base="c\\n", iov_len=2}], 2) = 3'], calls
