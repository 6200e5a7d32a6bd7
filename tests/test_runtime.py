"""The native runtime under conditions real programs create."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FRAGMENTED = r"""
import ctypes, mmap
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
# 160 GiB of reservations first, as many linear memories would make: the JIT's own
# allocations then land far from libc and from each other.
for _ in range(20):
    libc.mmap(None, 8 << 30, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000, -1, 0)
from runner.api import Config, Engine
from runner.wasi_host import instantiate_command
from wasi import WasiConfig
engine = Engine(Config(cache=False, opt_level=0, jobs=2))
compiled = engine.compile(open(%r, "rb").read(), "fib.wasm")
for _ in range(3):
    instance, _ = instantiate_command(engine, compiled, WasiConfig(args=["fib"]))
print("linked")
"""


def test_linking_survives_a_fragmented_address_space():
    """Regression: RuntimeDyld aborted the process on a 32-bit relocation overflow once
    8 GiB reservations pushed an object's sections apart; JITLink keeps them together."""
    r = subprocess.run([sys.executable, "-c", FRAGMENTED % str(REPO / "examples" / "fib.wasm")],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "linked"


def test_many_memories_alive_and_freed():
    """Each linear memory reserves 8 GiB of address space; hundreds alive at once must work,
    and freeing them must release the reservations (and the signal handler's ranges)."""
    code = r"""
from runner.binary.module import Limits, MemoryType
from runner.runtime.native import NativeRuntime
from runner.runtime.store import Memory
mems = [Memory(MemoryType(Limits(1, None))) for _ in range(500)]
rt = NativeRuntime.get()
assert rt._guard_count.value == 500, rt._guard_count.value
del mems
import gc; gc.collect()
assert rt._guard_count.value == 0, rt._guard_count.value
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
