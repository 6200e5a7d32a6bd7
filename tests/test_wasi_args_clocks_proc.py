"""args/environ, clocks, random, sched_yield, proc_*, sock_*: on wasirun and on wasmtime."""
import time

import pytest

from wasi import ProcExit
from wasi.abi import Clockid, Errno
from .wasi_testing import GuestFactory


def strings_at(g, ptrs, count):
    out = []
    for i in range(count):
        start = g.u32(ptrs + 4 * i)
        out.append(g.read(start, 200).split(b"\0")[0])
    return out


def test_args(make):
    g = make(args=["prog.wasm", "a b", "ünï", ""])
    assert g.call("args_sizes_get", 0, 4) == 0
    assert (g.u32(0), g.u32(4)) == (4, len("prog.wasm a b ünï ".encode()) + 1)
    assert g.call("args_get", 64, 1024) == 0
    assert g.u32(64) == 1024                      # packed from the start of the buffer
    assert g.read(1024, g.u32(4)) == "prog.wasm\0a b\0ünï\0\0".encode()
    assert strings_at(g, 64, 4) == [b"prog.wasm", b"a b", "ünï".encode(), b""]


def test_environ(make):
    g = make(env=[("HOME", "/home/x"), ("EMPTY", ""), ("EQ", "a=b")])
    assert g.call("environ_sizes_get", 0, 4) == 0
    assert (g.u32(0), g.u32(4)) == (3, len("HOME=/home/x EMPTY= EQ=a=b ".encode()))
    assert g.call("environ_get", 64, 1024) == 0
    assert strings_at(g, 64, 3) == [b"HOME=/home/x", b"EMPTY=", b"EQ=a=b"]


def test_no_args_no_env(make):
    g = make()
    assert g.call("args_sizes_get", 0, 4) == 0 and (g.u32(0), g.u32(4)) == (0, 0)
    assert g.call("environ_sizes_get", 0, 4) == 0 and (g.u32(0), g.u32(4)) == (0, 0)
    assert g.call("args_get", 64, 1024) == 0


@pytest.mark.parametrize("clock", [Clockid.REALTIME, Clockid.MONOTONIC])
def test_clock_resolution(make, clock):
    g = make()
    assert g.call("clock_res_get", clock, 8) == 0
    assert 1 <= g.u64(8) <= 1_000_000


def test_realtime_is_the_wall_clock(make):
    g = make()
    before = time.time_ns()
    assert g.call("clock_time_get", Clockid.REALTIME, 0, 8) == 0
    assert before <= g.u64(8) <= time.time_ns()


def test_monotonic_advances(make):
    g = make()
    assert g.call("clock_time_get", Clockid.MONOTONIC, 1, 8) == 0
    first = g.u64(8)
    time.sleep(0.01)
    assert g.call("clock_time_get", Clockid.MONOTONIC, 1, 8) == 0
    assert g.u64(8) - first >= 10_000_000


@pytest.mark.parametrize("clock", [Clockid.PROCESS_CPUTIME_ID, Clockid.THREAD_CPUTIME_ID])
def test_cputime_clocks(make, clock):
    g = make()
    if make.backend == "wasmtime":
        # Deliberate difference: wasmtime has no CPU-time clocks (BADF); wasirun serves them.
        assert g.call("clock_time_get", clock, 0, 8) == Errno.BADF
        return
    assert g.call("clock_res_get", clock, 8) == 0 and g.u64(8) >= 1
    assert g.call("clock_time_get", clock, 0, 8) == 0
    first = g.u64(8)
    sum(range(200_000))                           # burn some CPU
    assert g.call("clock_time_get", clock, 0, 8) == 0
    assert g.u64(8) > first


def test_unknown_clock_is_inval():
    # (wasmtime traps on an invalid enum value; wasirun returns INVAL)
    g = GuestFactory("wasirun")()
    assert g.call("clock_time_get", 4, 0, 8) == Errno.INVAL
    assert g.call("clock_res_get", 99, 8) == Errno.INVAL


def test_random_get(make):
    g = make()
    assert g.call("random_get", 100, 32) == 0
    first = g.read(100, 32)
    assert g.call("random_get", 100, 32) == 0
    assert g.read(100, 32) != first and first != bytes(32)
    assert g.call("random_get", 0, 0) == 0
    g.write(200, b"\xaa" * 8)
    assert g.call("random_get", 200, 4) == 0
    assert g.read(204, 4) == b"\xaa" * 4           # writes exactly buf_len bytes


def test_sched_yield_and_proc_raise(make):
    g = make()
    assert g.call("sched_yield") == 0
    assert g.call("proc_raise", 6) == Errno.NOTSUP


@pytest.mark.parametrize("code", [0, 3, 125])
def test_proc_exit_raises(make, code):
    g = make()
    with pytest.raises(ProcExit) as info:
        g.call("proc_exit", code)
    assert info.value.code == code


def test_proc_exit_passes_large_codes_through():
    # The CLI, not the host, turns statuses >= 126 into an error (wasmtime's rule).
    g = GuestFactory("wasirun")()
    with pytest.raises(ProcExit) as info:
        g.call("proc_exit", 2**32 - 1)
    assert info.value.code == 2**32 - 1


def test_sockets_are_not_supported(make):
    g = make()
    assert g.call("sock_accept", 1, 0, 8) == Errno.NOTSOCK
    assert g.call("sock_recv", 0, 16, 0, 0, 8, 12) == Errno.NOTSOCK
    assert g.call("sock_send", 1, 16, 0, 0, 8) == Errno.NOTSOCK
    assert g.call("sock_shutdown", 2, 3) == Errno.NOTSOCK
    for name, args in (("sock_accept", (0, 8)), ("sock_recv", (16, 0, 0, 8, 12)),
                       ("sock_send", (16, 0, 0, 8)), ("sock_shutdown", (3,))):
        assert g.call(name, 42, *args) == Errno.BADF
