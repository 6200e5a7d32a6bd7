"""The cost of memory64's bounds checks: tests/programs/mem64.c's sum loop built for wasm32
(guard pages, no checks) and wasm64 (one compare and branch per access), run at -O2.

    python scripts/bench_memory64.py [--scalar]

Prints the CPU time per element and round of the inner loop (the difference of two runs,
so compilation and the fill loop cancel out; best of 11, thread CPU time, because the
machine is shared).  ``--scalar`` turns LLVM's loop and SLP vectorisers off: the checked
loop cannot be vectorised (the trap is an early exit), the unchecked one can, so the
default compares what a user gets and ``--scalar`` isolates the checks themselves.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from runner.api import Config, Engine  # noqa: E402

N = 1 << 16          # 256 KiB of u32: the loop runs from L2


def build(bits: int, out: Path) -> bytes:
    subprocess.run([sys.executable, "-m", "ziglang", "cc", f"--target=wasm{bits}-freestanding", "-O2", "-nostdlib",
                    "-Wl,--no-entry", "-Wl,--export=sum_rounds", "-Wl,--initial-memory=16777216",
                    str(REPO / "tests" / "programs" / "mem64.c"), "-o", str(out)], check=True, capture_output=True)
    return out.read_bytes()


def main() -> None:
    if "--scalar" in sys.argv:
        import runner.jit as jit
        make = jit.llvm.create_pipeline_tuning_options

        def scalar(**kw):
            pto = make(**kw)
            pto.loop_vectorization = pto.slp_vectorization = False
            return pto
        jit.llvm.create_pipeline_tuning_options = scalar
    engine = Engine(Config(cache=False, opt_level=2, tiering=False, jobs=1))
    with tempfile.TemporaryDirectory() as d:
        for bits in (32, 64):
            run = engine.instantiate(engine.compile(build(bits, Path(d) / f"m{bits}.wasm")), {}).exports["sum_rounds"]

            def best(rounds: int) -> float:
                times = []
                for _ in range(11):
                    t0 = time.thread_time()
                    run(N, rounds)
                    times.append(time.thread_time() - t0)
                return min(times)
            per = (best(810) - best(10)) / 800 / N
            print(f"wasm{bits}: {per * 1e9:.3f} ns per element and round")


if __name__ == "__main__":
    main()
