"""wasi_unstable (snapshot 0) gets its own ABI, not preview1's: its whence order, its
56-byte filestat (u32 nlink) and its 56-byte subscriptions (the clock member starts with an
identifier).  A real module importing "wasi_unstable", run through the JIT; the expected
bytes follow phases/old/snapshot_0/witx/typenames.witx (wasmtime no longer links
wasi_unstable, so there is no reference run)."""
from __future__ import annotations

import os
import struct

import pytest

from runner import Config, Engine
from runner.wasi_host import instantiate_command
from wasi import WasiConfig
from wasi.abi import Errno, Rights

from .wat import wat2wasm

GUEST = """(module
  (import "wasi_unstable" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_unstable" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_unstable" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "f")
  (func (export "open") (result i32)          ;; the fd at 32
    (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 0)
      (i64.const %d) (i64.const %d) (i32.const 0) (i32.const 32)))
  (func (export "seek") (param i32 i64 i32) (result i32)   ;; the new offset at 40
    (call $fd_seek (local.get 0) (local.get 1) (local.get 2) (i32.const 40)))
  (func (export "fstat") (param i32) (result i32)           ;; the filestat at 256
    (call $fd_filestat_get (local.get 0) (i32.const 256)))
  (func (export "pstat") (result i32)                       ;; the filestat at 512
    (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 512)))
  (func (export "poll") (result i32)                        ;; subscription at 1024, event at 2048, count at 48
    (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 48))))
""" % ((int(Rights.FD_READ | Rights.FD_SEEK | Rights.FD_TELL | Rights.FD_FILESTAT_GET),) * 2)

FILESTAT_UNSTABLE = struct.Struct("<QQB3xIQQQQ")      # written out here, independently of wasi/abi.py


@pytest.fixture
def guest(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    engine = Engine(Config(opt_level=0))
    compiled = engine.compile(wat2wasm(GUEST))
    instance, _ = instantiate_command(engine, compiled, WasiConfig(args=["g"], env=[],
                                                                   preopens=[(str(tmp_path), "/")]))
    mem = instance.exports["memory"]
    x = instance.exports
    assert x["open"]() == 0
    return x, mem, struct.unpack("<I", mem.read(32, 4))[0], tmp_path / "f"


def test_whence_is_cur_end_set(guest):
    x, mem, fd, _ = guest
    offset = lambda: struct.unpack("<Q", mem.read(40, 8))[0]   # noqa: E731
    assert x["seek"](fd, 3, 2) == 0 and offset() == 3        # 2 = set
    assert x["seek"](fd, 2, 0) == 0 and offset() == 5        # 0 = cur
    assert x["seek"](fd, -1, 1) == 0 and offset() == 9       # 1 = end
    assert x["seek"](fd, 0, 3) == Errno.INVAL


@pytest.mark.parametrize("call,at", [("fstat", 256), ("pstat", 512)])
def test_filestat_has_a_u32_nlink_and_56_bytes(guest, call, at):
    x, mem, fd, path = guest
    mem.write(at + FILESTAT_UNSTABLE.size, b"\xAA" * 8)       # just past the struct: must stay
    assert (x[call](fd) if call == "fstat" else x[call]()) == 0
    st = os.stat(path)
    dev, ino, filetype, nlink, size, atim, mtim, ctim = FILESTAT_UNSTABLE.unpack(mem.read(at, FILESTAT_UNSTABLE.size))
    assert (ino, filetype, nlink, size, mtim) == (st.st_ino, 4, 1, 10, st.st_mtime_ns)
    assert mem.read(at + FILESTAT_UNSTABLE.size, 8) == b"\xAA" * 8


def test_poll_reads_the_longer_clock_subscription(guest):
    """userdata, tag 0 (clock), then the clock member at 16: identifier, id (monotonic),
    timeout (1 ms, relative), precision, flags.  Read with preview1's layout, the clock id
    would be the identifier's low half and the call INVAL."""
    x, mem, _, _ = guest
    mem.write(1024, struct.pack("<QB7xQI4xQQH6x", 0x1234, 0, 0x9999, 1, 1_000_000, 0, 0))
    assert x["poll"]() == 0
    assert struct.unpack("<I", mem.read(48, 4))[0] == 1
    userdata, error, kind = struct.unpack("<QHB", mem.read(2048, 11))
    assert (userdata, error, kind) == (0x1234, 0, 0)
