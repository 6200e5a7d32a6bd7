"""Tiers and the code cache (runner/tiers.py, runner/codecache.py, runner/loader.py):
tier-up while code runs, damaged and racing cache entries, eviction, keys, `wasirun compile`,
.cwasm files, and a warm start without LLVM."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runner.api import Config, Engine
from runner.codecache import CodeCache, module_key

from .wat import wat2wasm

REPO = Path(__file__).resolve().parents[1]
FIB = REPO / "examples" / "fib.wasm"
HELLO = REPO.parent / "shared" / "bench" / "hello.wasm"

# $work is called once per iteration of run's loop: it crosses the tier-up threshold
# early, and its top-tier code must take over while run is still looping.
LOOP = """(module
  (func $work (param $x i32) (result i32) (local $k i32)
    (loop $l
      (local.set $x (i32.xor (i32.mul (local.get $x) (i32.const -1640531535))
                             (i32.shr_u (local.get $x) (i32.const 13))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.const 8))))
    (local.get $x))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $work (i32.add (local.get $i) (local.get $acc)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc)))"""


def _reference(n: int) -> int:
    acc = 0
    for i in range(n):
        x = (i + acc) & 0xFFFFFFFF
        for _ in range(8):
            x = ((x * 0x9E3779B1) & 0xFFFFFFFF) ^ (x >> 13)
        acc = (acc + x) & 0xFFFFFFFF
    return acc - (1 << 32) if acc >> 31 else acc


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(d))
    return d


def _wasirun(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "runner.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_tier_up_while_the_caller_loops_gives_the_same_results(cache_dir):
    wasm = wat2wasm(LOOP)
    engine = Engine(Config())
    compiled = engine.compile(wasm, name="loop.wasm")
    inst = engine.instantiate(compiled)
    run = inst.exports["run"]
    work = 0
    assert inst._code_rank[work] == 0                    # first tier
    n = 200_000
    switched_during_a_call = False
    for _ in range(8):
        before = inst._code_rank[work]
        assert run(n) == _reference(n)
        if before == 0 and inst._code_rank[work] > 0:
            switched_during_a_call = True
            break
        if inst._code_rank[work] > 0:
            break
        n *= 2
    assert compiled.code.wait_for_tierup()
    assert not compiled.code.tierup_errors
    assert inst._code_rank[work] == 2                    # -O2 code for the hot function
    assert switched_during_a_call, "the top tier never arrived while run() was looping"
    assert run(1000) == _reference(1000)
    # run itself is only entered a few times but loops: its loop header counts too.
    names = {u.name for u in compiled.code.units}
    assert "base" in names and any(n.startswith("hot-") for n in names)

    # The next engine finds both units: $work starts at the top tier.
    compiled2 = Engine(Config()).compile(wasm, name="other-name.wasm")   # the name is not in the key
    assert compiled2.stats.cached
    inst2 = Engine(Config()).instantiate(compiled2)
    assert inst2._code_rank[work] == 2 and inst2.exports["run"](5000) == _reference(5000)


def test_without_tiering_everything_is_top_tier(cache_dir):
    compiled = Engine(Config(tiering=False)).compile(wat2wasm(LOOP))
    assert [(u.name, u.level) for u in compiled.code.units] == [("top", "O2")]
    inst = Engine(Config(tiering=False)).instantiate(compiled)
    assert inst._code_rank == [2, 2] and inst.exports["run"](3000) == _reference(3000)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_cache_entry_is_recompiled(cache_dir, damage):
    wasm = wat2wasm(LOOP)
    Engine(Config()).compile(wasm)
    (image,) = cache_dir.glob("code-v1/*/base.img")
    data = bytearray(image.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        del data[len(data) // 2:]
    else:
        data = bytearray()
    image.write_bytes(bytes(data))
    engine = Engine(Config())
    compiled = engine.compile(wasm)
    inst = engine.instantiate(compiled)             # notices the damage, recompiles
    assert inst.exports["run"](100) == _reference(100)
    from runner import loader
    loader.loads_header(image)                       # rewritten whole
    assert Engine(Config()).instantiate(Engine(Config()).compile(wasm)).exports["run"](7) == _reference(7)


def test_foreign_json_is_ignored(cache_dir):
    wasm = wat2wasm(LOOP)
    Engine(Config()).compile(wasm)
    (meta,) = cache_dir.glob("code-v1/*/base.json")
    meta.write_text("{not json")
    compiled = Engine(Config()).compile(wasm)
    assert not compiled.stats.cached
    assert Engine(Config()).instantiate(compiled).exports["run"](10) == _reference(10)


def test_two_processes_racing_on_one_key(cache_dir, tmp_path):
    wasm = tmp_path / "fib.wasm"
    wasm.write_bytes(FIB.read_bytes())
    env = dict(os.environ, WASIRUN_CACHE_DIR=str(cache_dir))
    procs = [subprocess.Popen([sys.executable, "-m", "runner.cli", str(wasm)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out == "fib(42) = 267914296\n"
    r = _wasirun("--timings", wasm, env=env)
    assert r.returncode == 0 and "cached=True" in r.stderr, r.stderr
    assert not list(cache_dir.glob("code-v1/*/.*.tmp"))


def test_eviction_at_the_size_cap(tmp_path):
    cache = CodeCache(tmp_path, size_cap=250_000)
    for k in range(5):
        cache.put(f"key{k}", "base", {"level": "base"}, bytes(100_000))
        os.utime(cache.entry(f"key{k}"), (1000 + k, 1000 + k))   # key0 is the least recently used
    left = sorted(os.listdir(cache.directory))
    assert left == ["key3", "key4"], left
    assert cache.units("key4") and not cache.units("key0")


def test_key_covers_the_runtime_and_not_the_name(tmp_path):
    import shutil
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "runner", tree / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    probe = "from runner.codecache import code_fingerprint; print(code_fingerprint())"

    def fingerprint():
        return subprocess.run([sys.executable, "-c", probe], cwd=tree, capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(tree)), check=True).stdout
    before = fingerprint()
    for changed in ("runtime/native.py", "errors.py", "validate.py"):
        with open(tree / "runner" / changed, "a") as f:
            f.write("\n# changed\n")
        after = fingerprint()
        assert after != before, changed
        before = after
    assert module_key(b"\0asm", "O2") == module_key(b"\0asm", "O2") != module_key(b"\0asm", "O1")


def test_wasirun_compile_then_run(cache_dir, tmp_path):
    wasm = tmp_path / "fib.wasm"
    wasm.write_bytes(FIB.read_bytes())
    r = _wasirun("compile", wasm)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                       # not a terminal: no progress line
    assert [p.name for p in cache_dir.glob("code-v1/*/top.img")] == ["top.img"]
    r = _wasirun("--timings", wasm)
    assert r.returncode == 0 and r.stdout == "fib(42) = 267914296\n" and "cached=True" in r.stderr


def test_cwasm_file_runs_without_compiling(cache_dir, tmp_path):
    wasm = tmp_path / "fib.wasm"
    wasm.write_bytes(FIB.read_bytes())
    r = _wasirun("compile", "-o", tmp_path / "fib.cwasm", wasm)
    assert r.returncode == 0, r.stderr
    assert not list(cache_dir.glob("code-v1/*/top.img"))     # -o writes the file, not the cache
    r = _wasirun("--timings", tmp_path / "fib.cwasm")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fib(42) = 267914296\n"
    # other options than it was compiled with: one clear line
    r = _wasirun("-O1", tmp_path / "fib.cwasm")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "other options" in r.stderr
    # a damaged one is refused, not run
    data = bytearray((tmp_path / "fib.cwasm").read_bytes())
    data[-5000] ^= 1
    (tmp_path / "bad.cwasm").write_bytes(bytes(data))
    r = _wasirun("bad.cwasm", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


WARM_PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("llvmlite imported\\n" if "llvmlite" in sys.modules else "no llvmlite\\n"))
sys.argv = ["wasirun", sys.argv[1]]
from runner.cli import main
main()
"""


@pytest.mark.parametrize("prepare", ["compile", "tiered-runs"])
def test_warm_start_does_not_import_llvmlite(cache_dir, tmp_path, prepare):
    wasm = tmp_path / "hello.wasm"
    wasm.write_bytes(HELLO.read_bytes())
    if prepare == "compile":
        assert _wasirun("compile", wasm).returncode == 0
    else:
        for _ in range(2):
            assert _wasirun(wasm).returncode == 0
    r = subprocess.run([sys.executable, "-c", WARM_PROBE, str(wasm)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "Hello, world!\n", r.stderr
    assert r.stderr.endswith("no llvmlite\n"), r.stderr


def test_progress_line_only_on_a_terminal(cache_dir, tmp_path):
    """A compile on a terminal shows one updating line (here from the start: the 2 s
    threshold set to 0); `script` gives the command a pty."""
    import shutil
    if shutil.which("script") is None:
        pytest.skip("util-linux `script` not installed")
    wasm = tmp_path / "fib.wasm"
    wasm.write_bytes(FIB.read_bytes())
    env = dict(os.environ, WASIRUN_CACHE_DIR=str(cache_dir), WASIRUN_PROGRESS_AFTER="0")
    cmd = f"{sys.executable} -m runner.cli compile -O1 {wasm}"
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=300,
                       cwd=REPO, env=env)
    assert r.returncode == 0, r.stdout
    assert re.search(r"compiling fib\.wasm: \d+/288 functions, \d+\.\d s", r.stdout), r.stdout
    assert "\x1b[K" in r.stdout                    # the line is cleared at the end
    # not a terminal: nothing
    r = _wasirun("compile", "-O3", wasm, env=env)
    assert r.returncode == 0 and r.stderr == ""


# --- lazy mode: functions compiled on their first call ----------------------------------------

LAZY = """(module
  (type $t (func (param i32 i64 f32 f64 i32 i32 i32 i32 f64) (result f64)))
  (table 2 funcref)
  (elem (i32.const 0) $f $g)
  (func $f (type $t)
    (f64.add (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (f64.convert_i64_s (local.get 1)))
                      (f64.add (f64.promote_f32 (local.get 2)) (local.get 3)))
             (f64.add (f64.convert_i32_s (i32.add (i32.add (local.get 4) (local.get 5))
                                                  (i32.mul (local.get 6) (local.get 7))))
                      (f64.mul (local.get 8) (f64.const 2)))))
  (func $g (type $t)
    (f64.sub (call $f (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                      (local.get 5) (local.get 6) (local.get 7) (local.get 8)) (f64.const 1000)))
  (func (export "direct") (result f64)
    (call $f (i32.const 1) (i64.const 2) (f32.const 0.5) (f64.const 0.25) (i32.const 5) (i32.const 6)
             (i32.const 7) (i32.const 8) (f64.const 1.5)))
  (func (export "indirect") (param i32) (result f64)
    (call_indirect (type $t) (i32.const 1) (i64.const 2) (f32.const 0.5) (f64.const 0.25) (i32.const 5)
                   (i32.const 6) (i32.const 7) (i32.const 8) (f64.const 1.5) (local.get 0)))
  (func $boom (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
  (func $trap (export "trap") (param i32) (result i32) (call $boom (local.get 0))))"""

F_VALUE = 1 + 2 + 0.5 + 0.25 + (5 + 6 + 7 * 8) + 1.5 * 2


def test_lazy_mode_compiles_on_first_call(cache_dir, monkeypatch):
    """Arguments in registers and on the stack (9 of them, ints and floats) survive the
    stub -> wr_lazy_entry -> compile -> jump, also through call_indirect and a table."""
    from runner.errors import Trap
    monkeypatch.setenv("WASIRUN_LAZY", "1")
    wasm = wat2wasm(LAZY, "--debug-names")
    engine = Engine(Config())
    compiled = engine.compile(wasm)
    assert compiled.code.lazy and [u.name for u in compiled.code.units] == ["entry"]
    inst = engine.instantiate(compiled)
    assert inst.exports["indirect"](1) == F_VALUE - 1000      # $g, then $f from $g's code
    assert inst.exports["direct"]() == F_VALUE
    assert inst.exports["indirect"](0) == F_VALUE
    with pytest.raises(Trap) as info:
        inst.exports["trap"](0)
    assert [f.name for f in info.value.frames][:2] == ["boom", "trap"]
    batches, functions, _ = compiled.code.lazy_stats
    assert batches >= 3 and functions == 6
    # What was compiled lazily is one cached unit for the next run.
    compiled.code.persist_lazy()
    again = Engine(Config()).compile(wasm)
    assert again.stats.cached and any(u.name.startswith("lazy-") for u in again.code.units)
    inst2 = Engine(Config()).instantiate(again)
    assert inst2.exports["direct"]() == F_VALUE and again.code.lazy_stats[0] == 0


def test_lazy_mode_runs_a_real_program(cache_dir, tmp_path):
    wasm = tmp_path / "fib.wasm"
    wasm.write_bytes(FIB.read_bytes())
    env = dict(os.environ, WASIRUN_CACHE_DIR=str(cache_dir), WASIRUN_LAZY="1")
    for _ in range(2):   # cold: compiled on first calls; warm: from the unit the first run left
        r = _wasirun("--timings", wasm, env=env)
        assert r.returncode == 0 and r.stdout == "fib(42) = 267914296\n", r.stderr
    assert "cached=True" in r.stderr and "compiled on first call" not in r.stderr


def test_cold_jitdump_has_both_copies_of_the_hot_function(cache_dir, tmp_path):
    """A cold --jitdump -g run announces fib::fib twice, first tier and -O2, each with its own
    code bytes and line table, under the same demangled name."""
    from runner.profiling.jitdump import DebugInfo, read_jitdump
    r = _wasirun("--jitdump", "-g", FIB, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "fib(42) = 267914296\n", r.stderr
    (dump_path,) = tmp_path.glob("jit-*.dump")
    dump = read_jitdump(dump_path)
    fibs = [load for load in dump.code_loads if load.name == "fib::fib"]
    assert len(fibs) == 2, [load.name for load in dump.code_loads][:20]
    assert fibs[0].code_addr != fibs[1].code_addr and fibs[0].code != fibs[1].code
    debug = {rec.code_addr: rec for rec in dump.records if isinstance(rec, DebugInfo)}
    for load in fibs:
        rows = debug[load.code_addr].entries
        assert rows and all(load.code_addr <= e.address <= load.code_addr + load.code_size for e in rows)


BROKEN = """
import sys
import runner.tiers
def broken(self):
    raise RuntimeError("LLVM said no")
runner.tiers.ModuleCode.compile = broken
sys.argv = ["wasirun", "--no-cache", sys.argv[1]]
from runner.cli import main
main()
"""


def test_an_internal_error_is_one_line_and_a_file(tmp_path):
    r = subprocess.run([sys.executable, "-c", BROKEN, str(FIB)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "internal error (a wasirun bug" in r.stderr and "LLVM said no" in r.stderr
    path = r.stderr.split("details in ")[1].rstrip(")\n")
    assert "RuntimeError: LLVM said no" in Path(path).read_text()
    Path(path).unlink()


def test_exit_while_a_tier_up_is_compiling(cache_dir, tmp_path):
    """Regression: tier-up compiled on a thread of this process, and a process that ended
    while it was in LLVM ran LLVM's destructors under it (aborts, segfaults in ~60 % of cold
    runs of a print-heavy program). Tier-up compiles in the worker processes now."""
    (tmp_path / "loop.wasm").write_bytes(wat2wasm(LOOP))
    for k in range(4):
        env = dict(os.environ, WASIRUN_CACHE_DIR=str(tmp_path / f"cache{k}"))
        r = _wasirun("--invoke", "run", "loop.wasm", "3000", cwd=tmp_path, env=env)
        assert r.returncode == 0 and r.stdout == f"{_reference(3000)}\n", r.stderr
