#!/usr/bin/env python3
"""Benchmark wasirun against wasmtime (its Python API) and native rustc -O, in one run.

    python scripts/bench.py [--runs N] [PROGRAM ...]

Programs: examples/fib.rs plus the std-only programs in ../shared/bench/ (when present).
Each is built for wasm32-wasi and natively (Debian's /usr/bin/rustc for wasm, any rustc for
native) into build/bench/.  Runs are interleaved (native, wasirun, wasmtime, native, ...) so
machine noise hits all three alike; the table shows median times and ratios to native.

Two times per engine: "run" is the program's execution inside the engine (compile and
start-up excluded: what the JIT's code quality decides), "wall" the whole process.
Also measured: wasirun's cold compile of fib.wasm (no cache) and start-up from the cache.
This is a benchmark, not a test: it asserts nothing, it reports.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_BENCH = Path(os.environ.get("WASIRUN_SHARED", ROOT.parent / "shared")) / "bench"
BUILD = ROOT / "build" / "bench"
PY = sys.executable

WASMTIME_RUNNER = r"""
import sys, time
from wasmtime import Engine, Linker, Module, Store, WasiConfig
path = sys.argv[1]
engine = Engine()
module = Module.from_file(engine, path)
linker = Linker(engine)
linker.define_wasi()
store = Store(engine)
wasi = WasiConfig()
wasi.argv = [path]
wasi.inherit_stdout(); wasi.inherit_stderr()
store.set_wasi(wasi)
inst = linker.instantiate(store, module)
t = time.perf_counter()
try:
    inst.exports(store)["_start"](store)
except Exception as e:
    if "exit status 0" not in str(e):
        raise
sys.stderr.write(f"BENCH-RUN {time.perf_counter() - t:.6f}\n")
"""


def sources() -> dict[str, Path]:
    progs = {"fib": ROOT / "examples" / "fib.rs"}
    if SHARED_BENCH.is_dir():
        for rs in sorted(SHARED_BENCH.glob("*.rs")):
            progs.setdefault(rs.stem, rs)
    return progs


def build(name: str, src: Path) -> tuple[Path, Path]:
    BUILD.mkdir(parents=True, exist_ok=True)
    wasm, native = BUILD / f"{name}.wasm", BUILD / f"{name}-native"
    if not wasm.exists() or wasm.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["/usr/bin/rustc", "--target", "wasm32-wasi", "-O", "-C", "strip=debuginfo",
                        str(src), "-o", str(wasm)], check=True)
    if not native.exists() or native.stat().st_mtime < src.stat().st_mtime:
        rustc = shutil.which("rustc") or "/usr/bin/rustc"
        subprocess.run([rustc, "-O", str(src), "-o", str(native)], check=True)
    return wasm, native


# Measure what users get: Python caches bytecode (some sandboxes turn that off).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], run_pattern: str | None) -> tuple[float, float | None, bytes]:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    run = None
    if run_pattern:
        m = re.search(run_pattern, p.stderr.decode(), re.M)
        run = float(m.group(1)) if m else None
    return wall, run, p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("programs", nargs="*")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    progs = sources()
    names = args.programs or list(progs)
    wasmtime_script = BUILD / "wasmtime_runner.py"
    BUILD.mkdir(parents=True, exist_ok=True)
    wasmtime_script.write_text(WASMTIME_RUNNER)
    wasirun = [PY, "-m", "runner.cli", "--timings"]

    rows = []
    for name in names:
        wasm, native = build(name, progs[name])
        # Warm wasirun's compile cache and check all three agree on the output.
        outs = {
            "native": timed([str(native)], None)[2],
            "wasirun": timed(wasirun + [str(wasm)], None)[2],
            "wasmtime": timed([PY, str(wasmtime_script), str(wasm)], None)[2],
        }
        if len(set(outs.values())) != 1:
            print(f"warning: {name}: outputs differ between engines", file=sys.stderr)
        samples: dict[str, list[tuple[float, float | None]]] = {k: [] for k in outs}
        for _ in range(args.runs):
            w, r, _ = timed([str(native)], None)
            samples["native"].append((w, w))
            w, r, _ = timed(wasirun + [str(wasm)], r" run (\d+\.\d+)s\s*$")
            samples["wasirun"].append((w, r))
            w, r, _ = timed([PY, str(wasmtime_script), str(wasm)], r"BENCH-RUN (\d+\.\d+)")
            samples["wasmtime"].append((w, r))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v if r is not None))
               for k, v in samples.items()}
        rows.append((name, med))

    # Compile time (cold, no cache) and start-up from the cache, for fib.wasm.
    fib = ROOT / "examples" / "fib.wasm"
    code = ("import sys, time; from runner.api import Engine, Config; "
            "w = open(sys.argv[1], 'rb').read(); t = time.perf_counter(); "
            "Engine(Config(cache=False)).compile(w, 'fib.wasm'); print(time.perf_counter() - t)")
    cold = statistics.median(float(subprocess.run([PY, "-c", code, str(fib)], capture_output=True, text=True,
                                                  check=True, cwd=ROOT).stdout) for _ in range(3))
    hello = BUILD / "hello.wasm" if (BUILD / "hello.wasm").exists() else None
    startup = None
    if hello:
        timed([PY, "-m", "runner.cli", str(hello)], None)
        startup = statistics.median(timed([PY, "-m", "runner.cli", str(hello)], None)[0] for _ in range(5))

    print(f"\nwasirun benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()} "
          f"({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}), median of {args.runs} "
          "interleaved runs\n")
    print("| program | native | wasirun run | wasirun ×native | wasmtime run | wasmtime ×native | wasirun/wasmtime | wasirun wall | wasmtime wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, med in rows:
        nat = med["native"][1]
        wr, wt = med["wasirun"][1], med["wasmtime"][1]
        print(f"| {name} | {nat:.3f}s | {wr:.3f}s | {wr / nat:.2f} | {wt:.3f}s | {wt / nat:.2f} | {wr / wt:.2f} "
              f"| {med['wasirun'][0]:.3f}s | {med['wasmtime'][0]:.3f}s |")
    print(f"\nwasirun compile of fib.wasm, cold (no cache, in-process): {cold:.2f}s")
    if startup is not None:
        print(f"wasirun start-up from the compile cache (hello.wasm, whole process): {startup:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
