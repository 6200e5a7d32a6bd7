"""The signature table: every preview1 function, with the witx's wasm signature."""
import errno as host_errno
from typing import NoReturn

import pytest

import wasi
from wasi import registry
from wasi.abi import Errno
from wasi.errors import WasiError, errno_from_oserror
from wasi.registry import I32, I64, Fd, Ptr, wasi_function

# Transcribed from legacy/preview1/witx/wasi_snapshot_preview1.witx, lowered to core
# wasm: i = i32 (pointers, sizes, fds, u8/u16/u32 enums and flags), I = i64 (filesize,
# filedelta, timestamp, rights, dircookie).  Out-parameters come last.
WITX = {
    "args_get": "ii", "args_sizes_get": "ii", "environ_get": "ii", "environ_sizes_get": "ii",
    "clock_res_get": "ii", "clock_time_get": "iIi",
    "fd_advise": "iIIi", "fd_allocate": "iII", "fd_close": "i", "fd_datasync": "i",
    "fd_fdstat_get": "ii", "fd_fdstat_set_flags": "ii", "fd_fdstat_set_rights": "iII",
    "fd_filestat_get": "ii", "fd_filestat_set_size": "iI", "fd_filestat_set_times": "iIIi",
    "fd_pread": "iiiIi", "fd_prestat_get": "ii", "fd_prestat_dir_name": "iii",
    "fd_pwrite": "iiiIi", "fd_read": "iiii", "fd_readdir": "iiiIi", "fd_renumber": "ii",
    "fd_seek": "iIii", "fd_sync": "i", "fd_tell": "ii", "fd_write": "iiii",
    "path_create_directory": "iii", "path_filestat_get": "iiiii",
    "path_filestat_set_times": "iiiiIIi", "path_link": "iiiiiii", "path_open": "iiiiiIIii",
    "path_readlink": "iiiiii", "path_remove_directory": "iii", "path_rename": "iiiiii",
    "path_symlink": "iiiii", "path_unlink_file": "iii", "poll_oneoff": "iiii",
    "proc_exit": "i", "proc_raise": "i", "sched_yield": "", "random_get": "ii",
    "sock_accept": "iii", "sock_recv": "iiiiii", "sock_send": "iiiii", "sock_shutdown": "ii",
}


def test_every_preview1_function_is_declared():
    # The witx has 46 functions: the often-quoted 45 predates sock_accept.
    assert set(wasi.WASI_FUNCTIONS) == set(WITX)
    assert len(wasi.WASI_FUNCTIONS) == 46


@pytest.mark.parametrize("name", sorted(WITX))
def test_signature_matches_witx(name):
    func = wasi.WASI_FUNCTIONS[name]
    assert func.module == "wasi_snapshot_preview1"
    assert func.name == name
    assert func.params == tuple({"i": "i32", "I": "i64"}[c] for c in WITX[name])
    assert func.results == (() if name == "proc_exit" else ("i32",))


@pytest.fixture
def scratch_registry(monkeypatch):
    table = {}
    monkeypatch.setattr(registry, "WASI_FUNCTIONS", table)
    return table


class Ctx:
    trace = None


def test_decorator_derives_signature_and_maps_errors(scratch_registry):
    @wasi_function
    def demo(ctx, fd: Fd, ptr: Ptr, n: I32, big: I64) -> Errno:
        if n == 1:
            raise WasiError(Errno.BADF)
        if n == 2:
            raise FileNotFoundError(host_errno.ENOENT, "gone")
        if n == 3:
            raise KeyError("a bug")

    func = scratch_registry["demo"]
    assert func.params == ("i32", "i32", "i32", "i64") and func.results == ("i32",)
    assert func.impl(Ctx(), 0, 0, 0, 0) == 0
    assert func.impl(Ctx(), 0, 0, 1, 0) == Errno.BADF
    assert func.impl(Ctx(), 0, 0, 2, 0) == Errno.NOENT
    with pytest.raises(KeyError):       # bugs are not hidden behind an errno
        func.impl(Ctx(), 0, 0, 3, 0)


def test_decorator_noreturn_and_bad_declarations(scratch_registry):
    @wasi_function
    def stop(ctx, code: I32) -> NoReturn:
        raise wasi.ProcExit(code)

    assert scratch_registry["stop"].results == ()
    with pytest.raises(wasi.ProcExit):
        scratch_registry["stop"].impl(Ctx(), 3)
    with pytest.raises(TypeError):
        @wasi_function
        def bad(ctx, x: I32) -> int: ...
    with pytest.raises(ValueError):
        @wasi_function
        def stop(ctx, code: I32) -> NoReturn: ...  # noqa: F811


def test_trace_gets_one_line_per_call(scratch_registry):
    @wasi_function
    def traced(ctx, fd: Fd) -> Errno:
        raise WasiError(Errno.BADF)

    lines = []
    ctx = Ctx()
    ctx.trace = lines.append
    scratch_registry["traced"].impl(ctx, 7)
    assert lines == ["traced(7) -> badf"]


def test_oserror_mapping():
    assert errno_from_oserror(OSError(host_errno.EACCES, "x")) == Errno.ACCES
    assert errno_from_oserror(OSError(host_errno.E2BIG, "x")) == Errno.TOOBIG
    assert errno_from_oserror(OSError(host_errno.EWOULDBLOCK, "x")) == Errno.AGAIN
    assert errno_from_oserror(OSError(host_errno.EOPNOTSUPP, "x")) == Errno.NOTSUP
    assert errno_from_oserror(OSError(host_errno.ELOOP, "x")) == Errno.LOOP
    assert errno_from_oserror(OSError(host_errno.ENOTEMPTY, "x")) == Errno.NOTEMPTY
    assert errno_from_oserror(OSError(host_errno.ENOMEDIUM, "x")) == Errno.IO   # no counterpart
    assert errno_from_oserror(OSError("no errno")) == Errno.IO
