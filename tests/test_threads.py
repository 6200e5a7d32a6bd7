"""Threads and engines: per-thread runtime state, per-engine fuel and interrupt, the stack
limit clamped to the real stack, guard-page faults only from JIT code.

The crash-prone cases run in a child process, so a failure is a failed test with the
child's stderr, not a dead pytest."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner import Config, Engine, Trap, TrapKind
from runner.binary.module import FuncType
from runner.runtime.instance import host_function

from .wat import wat2wasm

REPO = Path(__file__).resolve().parents[1]

# Each export enters wasm, calls the host `meet` (which waits until the other thread is
# inside wasm too), then does its own thing: both threads are in wasm at the same time.
TOGETHER = """(module
  (import "env" "meet" (func $meet))
  (memory 1)
  (func $down (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
  (func $forever (param i32) (result i32) (i32.add (call $forever (local.get 0)) (i32.const 1)))
  (func (export "count") (param i32) (result i32) (call $meet) (call $down (local.get 0)))
  (func (export "overflow") (result i32) (call $meet) (call $forever (i32.const 0)))
  (func (export "oob") (result i32) (call $meet) (i32.load (i32.const 0x7fff0000)))
  (func (export "unreachable") (call $meet) unreachable)
  (func (export "raise") (call $meet) (call $meet)))"""

LOOP = """(module
  (func (export "spin") (param i32) (result i32) (local i32)
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1)))"""


def _instance(engine, text, imports=None):
    return engine.instantiate(engine.compile(wat2wasm(text)), imports or {})


def test_two_threads_trap_at_the_same_time_each_on_its_own_stack():
    """Both threads are inside wasm (they meet in a host call) when they trap: each trap
    must land in its own thread's entry (a process-global jump buffer would longjmp one
    thread onto the other's stack), with its own kind and backtrace."""
    barrier = threading.Barrier(2, timeout=60)
    engine = Engine(Config(opt_level=0))
    inst = _instance(engine, TOGETHER, {("env", "meet"): host_function(FuncType((), ()), barrier.wait, "meet")})
    want = {"overflow": TrapKind.STACK_EXHAUSTED, "oob": TrapKind.MEMORY_OUT_OF_BOUNDS,
            "unreachable": TrapKind.UNREACHABLE}
    for first, second in [("overflow", "oob"), ("oob", "unreachable"), ("unreachable", "overflow")]:
        got: dict[str, object] = {}

        def call(name):
            try:
                inst.exports[name]()
                got[name] = "returned"
            except Trap as trap:
                got[name] = trap

        threads = [threading.Thread(target=call, args=(n,)) for n in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for name in (first, second):
            trap = got[name]
            assert isinstance(trap, Trap) and trap.kind == want[name], (name, trap)
            assert trap.frames, name                       # its own backtrace, not empty
        barrier.reset()


def test_two_threads_compute_at_the_same_time():
    barrier = threading.Barrier(2, timeout=60)
    engine = Engine(Config(opt_level=2, tiering=False))
    inst = _instance(engine, TOGETHER, {("env", "meet"): host_function(FuncType((), ()), barrier.wait, "meet")})
    got = {}
    threads = [threading.Thread(target=lambda n=n: got.__setitem__(n, inst.exports["count"](n))) for n in (1000, 2000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert got == {1000: 1000, 2000: 2000}


def test_a_host_exception_stays_with_its_thread():
    """Thread A's host function raises while thread B is inside wasm: A gets A's exception,
    B returns normally (the pending flag and the exception are per thread)."""
    barrier = threading.Barrier(2, timeout=60)
    calls = {}

    def meet():
        me = threading.current_thread().name
        calls[me] = calls.get(me, 0) + 1
        barrier.wait()
        if me == "A" and calls[me] == 1:
            raise LookupError("from A")

    engine = Engine(Config(opt_level=0))
    inst = _instance(engine, TOGETHER, {("env", "meet"): host_function(FuncType((), ()), meet, "meet")})
    got = {}

    def a():
        try:
            inst.exports["raise"]()
        except LookupError as exc:
            got["A"] = str(exc)

    def b():
        got["B"] = inst.exports["count"](5)

    threads = [threading.Thread(target=a, name="A"), threading.Thread(target=b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert got == {"A": "from A", "B": 5}


def test_a_second_engine_keeps_the_first_ones_fuel():
    first = Engine(Config(opt_level=0, fuel=10_000))
    spin = _instance(first, LOOP).exports["spin"]
    second = Engine(Config(opt_level=0, fuel=10**12))   # used to overwrite the one global counter
    with pytest.raises(Trap) as info:
        spin(10**9)
    assert info.value.kind == TrapKind.OUT_OF_FUEL
    assert first.fuel_remaining() < 0
    assert second.fuel_remaining() == 10**12


def test_an_interrupt_stops_one_call_of_its_engine_only():
    engine = Engine(Config(opt_level=0, interruptible=True))
    other = Engine(Config(opt_level=0, interruptible=True))
    spin, other_spin = _instance(engine, LOOP).exports["spin"], _instance(other, LOOP).exports["spin"]
    engine.interrupt()                                   # nothing runs: the next call is stopped
    assert other_spin(1000) == 1000                      # ... of this engine only
    with pytest.raises(Trap) as info:
        spin(10**12)
    assert info.value.kind == TrapKind.INTERRUPT
    assert spin(1000) == 1000                            # cleared once the interrupted call returned
    engine.interrupt()
    Engine(Config(opt_level=0, interruptible=True))      # a new engine used to clear every flag
    with pytest.raises(Trap) as info:
        spin(10**12)
    assert info.value.kind == TrapKind.INTERRUPT


def test_interrupt_from_another_thread_while_running():
    engine = Engine(Config(opt_level=0, interruptible=True))
    started = threading.Event()
    inst = _instance(engine, """(module (import "env" "started" (func $s))
      (func (export "run") (call $s) (loop $l (br $l))))""",
                     {("env", "started"): host_function(FuncType((), ()), started.set, "started")})
    t = threading.Thread(target=lambda: (started.wait(60), engine.interrupt()))
    t.start()
    with pytest.raises(Trap) as info:
        inst.exports["run"]()
    t.join()
    assert started.is_set() and info.value.kind == TrapKind.INTERRUPT


def _child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=REPO)


CHILD_SETUP = r"""
import faulthandler, sys, threading
faulthandler.enable()
sys.path.insert(0, "tests")
from runner import Config, Engine, Trap, TrapKind
from runner.binary.module import FuncType
from runner.runtime.instance import host_function
from wat import wat2wasm
DEEP = '(module (func $f (export "f") (param i32) (result i32) (i32.add (call $f (local.get 0)) (i32.const 1))))'
"""


def test_a_budget_beyond_the_real_stack_still_gives_the_clean_trap():
    """--max-wasm-stack 1 TiB on the main thread and on threads with small stacks: the
    limit is clamped to the thread's stack, so the recursion ends in the trap, not SIGSEGV."""
    r = _child(CHILD_SETUP + r"""
engine = Engine(Config(opt_level=0, max_wasm_stack=1 << 40))
f = engine.instantiate(engine.compile(wat2wasm(DEEP))).exports["f"]
def deep(out):
    try:
        f(0)
    except Trap as t:
        out.append(t.kind)
out = []
deep(out)
for size in (256 << 10, 1 << 20):
    threading.stack_size(size)
    t = threading.Thread(target=deep, args=(out,)); t.start(); t.join()
print([k.name for k in out])
""")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["['STACK_EXHAUSTED',", "'STACK_EXHAUSTED',", "'STACK_EXHAUSTED']"]


def test_a_fault_in_host_code_is_not_a_wasm_trap():
    """A host function (running while wasm is on the stack) that touches a memory's guard
    pages is a crash of the host, as without wasm: it must not become an out-of-bounds trap
    that longjmps over the host's Python frames."""
    r = _child(CHILD_SETUP + r"""
import ctypes
box = {}
def bad():
    ctypes.memset(box["mem"].base + (1 << 20), 0, 1)     # 1 MiB: past the 1 page committed
engine = Engine(Config(opt_level=0))
inst = engine.instantiate(engine.compile(wat2wasm(
    '(module (import "env" "bad" (func $b)) (memory (export "m") 1) (func (export "go") (call $b)))')),
    {("env", "bad"): host_function(FuncType((), ()), bad, "bad")})
box["mem"] = inst.exports["m"]
try:
    inst.exports["go"]()
except Trap as t:
    print("TRAP", t.kind.name)
print("returned")
""")
    assert "TRAP" not in r.stdout and "returned" not in r.stdout, r.stdout
    assert r.returncode != 0 and "Segmentation fault" in r.stderr, r.stderr[-2000:]


def test_off_x86_64_linux_is_a_clear_error():
    r = _child(r"""
import os, collections
U = collections.namedtuple("U", "sysname nodename release version machine")
os.uname = lambda: U("Linux", "h", "6", "1", "aarch64")
from runner.cli import main
main(["examples/fib.wasm"])
""")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == ("Error: wasirun runs WebAssembly as x86-64 machine code on Linux; "
                                "this host is linux on aarch64")


def test_a_thread_started_before_the_runtime_existed():
    """The per-thread block comes from dlopen (runtime/tls.py): glibc gives it to the threads
    that already exist too, so a thread older than the runtime traps and runs normally."""
    r = _child(r"""
import sys, threading
sys.path.insert(0, "tests")
go, out = threading.Event(), []
def worker():
    go.wait()
    from runner import Trap
    try:
        inst.exports["oob"]()
    except Trap as t:
        out.append(t.kind.name)
    out.append(inst.exports["down"](7))
t = threading.Thread(target=worker)
t.start()
from runner import Config, Engine
from wat import wat2wasm
e = Engine(Config(opt_level=0))
inst = e.instantiate(e.compile(wat2wasm('''(module (memory 1)
  (func $d (export "down") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $d (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fff0000))))''')))
go.set()
t.join()
print(out)
""")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "['MEMORY_OUT_OF_BOUNDS', 7]"
