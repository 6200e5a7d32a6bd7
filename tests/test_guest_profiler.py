"""The guest profiler (--profile=guest): in-process sampling, symbolised profiles, no perf."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from runner.profiling.guest import RUNTIME_FRAME, GuestFrame, ProfileSpec, fold
from runner.profiling.fxprof import processed_profile
from runner.profiling.sampler import previous_sigprof_handler
from tests.wat import wat2wasm

REPO = Path(__file__).resolve().parents[1]
FIB = REPO / "examples" / "fib.wasm"
RUSTC = "/usr/bin/rustc"
WASI_STD = "/usr/lib/rustlib/wasm32-wasi/lib"


def _wasirun(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))   # this tree's runner, not an installed one
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _folded(path: Path) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        out[tuple(stack.split(";"))] += int(n)
    return out


def _in_wasm(stacks: Counter) -> int:
    """Samples with a wasm leaf.  The wall-clock timer also samples the run's Python edges
    (entry, exit) as the runtime frame: their share grows with the machine's load, so they
    are bounded apart rather than counted against the guest."""
    total = sum(stacks.values())
    runtime = sum(n for st, n in stacks.items() if st[-1] == RUNTIME_FRAME)
    assert runtime <= 0.5 * total, stacks.most_common(5)
    return total - runtime


def test_profile_spec_parsing():
    assert ProfileSpec.parse("guest") == ProfileSpec("wasirun-guest-profile.json", 0.001)
    assert ProfileSpec.parse("guest,p.folded,500us") == ProfileSpec("p.folded", 0.0005)
    assert ProfileSpec.parse("guest,p.svg,2") == ProfileSpec("p.svg", 0.002)
    with pytest.raises(ValueError):
        ProfileSpec.parse("guest,p.txt")


def test_fib_folded_is_fib_under_main(tmp_path):
    r = _wasirun("--profile=guest,out.folded", str(FIB), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fib(42) = 267914296\n"
    stacks = _folded(tmp_path / "out.folded")
    total = sum(stacks.values())
    assert total >= 50, stacks           # fib(42) runs for ~0.4 s: ~400 samples at 1 ms
    fib = sum(n for st, n in stacks.items() if st[-1] == "fib::fib")
    assert fib >= 0.95 * _in_wasm(stacks), stacks.most_common(5)
    for st, n in stacks.items():
        if st[-1] == "fib::fib":
            below = st[:st.index("fib::fib")]
            assert below[-1] == "fib::main" and "_start" in below, st


def test_fib_json_has_what_the_firefox_profiler_needs(tmp_path):
    r = _wasirun("--profile=guest,fib.json", str(FIB), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    profile = json.loads((tmp_path / "fib.json").read_text())
    meta = profile["meta"]
    assert meta["preprocessedProfileVersion"] >= 41 and meta["interval"] == 1.0
    assert {"version", "startTime", "product", "categories"} <= set(meta)
    assert profile["libs"] == [] and len(profile["threads"]) == 1
    th = profile["threads"][0]
    strings = th["stringArray"]
    samples, stacks, frames, funcs = th["samples"], th["stackTable"], th["frameTable"], th["funcTable"]
    assert samples["length"] == len(samples["stack"]) == len(samples["time"]) >= 50
    for table in (stacks, frames, funcs):
        lengths = {len(v) for k, v in table.items() if k != "length"}
        assert lengths == {table["length"]}
    for i, (frame, prefix) in enumerate(zip(stacks["frame"], stacks["prefix"])):
        assert 0 <= frame < frames["length"] and (prefix is None or 0 <= prefix < i)
    assert all(0 <= f < funcs["length"] for f in frames["func"])
    assert all(0 <= s < len(strings) for s in funcs["name"])
    assert all(0 <= c < len(meta["categories"]) for c in stacks["category"])

    def names(stack):
        out = []
        while stack is not None:
            out.append(strings[funcs["name"][frames["func"][stacks["frame"][stack]]]])
            stack = stacks["prefix"][stack]
        return out[::-1]

    leaves = Counter(names(s)[-1] for s in samples["stack"] if s is not None)
    runtime = leaves.pop(RUNTIME_FRAME, 0)
    assert runtime <= 0.5 * (runtime + sum(leaves.values())), leaves
    assert leaves["fib::fib"] >= 0.95 * sum(leaves.values()), leaves.most_common(5)


def test_fib_svg_flame_graph(tmp_path):
    r = _wasirun("--profile=guest,fib.svg", str(FIB), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "fib.svg").read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "fib::fib" in svg and "fib::main" in svg


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_no_perf_syscalls(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(["strace", "-f", "-e", "trace=perf_event_open,timer_create", "-o", "trace.txt",
                        sys.executable, "-m", "runner.cli", "--profile=guest,out.folded", str(FIB)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    if "ptrace" in r.stderr and r.returncode != 0:
        pytest.skip(f"strace cannot trace here: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr
    trace = (tmp_path / "trace.txt").read_text()
    assert "perf_event_open" not in trace and "timer_create" in trace
    assert sum(_folded(tmp_path / "out.folded").values()) >= 50


# --- the timer and the handler are gone after the run, however it ends ----------------------

SPIN_WAT = """
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func $spin (param $n i32) (local $i i32)
    (loop $l
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
  (func $crash (call $spin (i32.const 20000000)) unreachable)
  (func $trap (export "trap") (call $crash))
  (func $_start (export "_start") (call $spin (i32.const 20000000)) (call $proc_exit (i32.const 3))))
"""


def _timers() -> int:
    try:
        return Path("/proc/self/timers").read_text().count("ID:")
    except OSError:
        return 0


@pytest.fixture
def sigprof_counter():
    """A Python SIGPROF handler that counts: what was there before the profiler ran."""
    hits = []
    old = signal.signal(signal.SIGPROF, lambda *_: hits.append(1))
    try:
        yield hits
    finally:
        signal.signal(signal.SIGPROF, old)


@pytest.mark.parametrize("ending", ["trap", "proc_exit"])
def test_timer_stopped_and_handler_restored(tmp_path, sigprof_counter, ending):
    from runner import Config, Engine
    from runner.errors import Trap
    from runner.wasi_host import instantiate_command
    from wasi import ProcExit, WasiConfig

    before, timers = previous_sigprof_handler(), _timers()
    out = tmp_path / "spin.folded"
    engine = Engine(Config(opt_level=0, cache=False, profiler="guest", guest_profile=str(out)))
    try:
        compiled = engine.compile(wat2wasm(SPIN_WAT, "--debug-names"), name="spin.wasm")
        instance, _ = instantiate_command(engine, compiled, WasiConfig(args=["spin.wasm"]))
        if ending == "trap":
            with pytest.raises(Trap):
                instance.exports["trap"]()
        else:
            with pytest.raises(ProcExit) as exc:
                instance.exports["_start"]()
            assert exc.value.code == 3
        assert previous_sigprof_handler() != before       # wr_prof while the engine lives
    finally:
        engine.close()
    assert previous_sigprof_handler() == before
    assert _timers() == timers
    t0 = time.process_time()
    while time.process_time() - t0 < 0.05:                # a live timer would fire here
        pass
    assert sigprof_counter == []
    stacks = _folded(out)
    spin = sum(n for st, n in stacks.items() if st[-1] == "spin")
    assert spin >= 1, stacks
    top = "crash" if ending == "trap" else "_start"
    assert all(top in st for st, n in stacks.items() if st[-1] == "spin"), stacks


def test_host_call_is_the_leaf_under_its_wasm_caller():
    """A sample inside a WASI call is that call, under the function that made it."""
    from runner.profiling.guest import Symbolizer
    from runner.profiling.sampler import RawSample
    from runner import Config, Engine
    from runner.wasi_host import instantiate_command
    from wasi import WasiConfig

    engine = Engine(Config(opt_level=0, cache=False))
    compiled = engine.compile(wat2wasm(SPIN_WAT, "--debug-names"), name="spin.wasm")
    instance, _ = instantiate_command(engine, compiled, WasiConfig(args=["spin.wasm"]))
    start = instance.code_addresses[4]                    # _start: func 0 is the import
    stack = Symbolizer().stack(RawSample(0.0, 0, (0, 0), (start + 1 + 1,), 0))
    assert [f.label for f in stack] == ["_start", "wasi:proc_exit"] and stack[-1].kind == "host"
    engine.close()


def test_fold_and_json_of_inlined_frames():
    stacks = [[GuestFrame("main", "/src/a.rs", 3), GuestFrame("work", "/src/a.rs", 15),
               GuestFrame("helper", "/src/a.rs", 6, "inlined")]] * 3
    assert fold(stacks) == {"main a.rs:3;work a.rs:15;helper a.rs:6": 3}
    th = processed_profile(stacks, 0.001)["threads"][0]
    assert th["frameTable"]["inlineDepth"] == [0, 0, 1]
    assert th["frameTable"]["line"] == [3, 15, 6]


# --- -g: source lines and inlined functions -------------------------------------------------

INLINE_RS = """\
#[inline(always)]
fn helper(x: u64) -> u64 {
    let mut h = x;
    for i in 0..1000 {
        h = h.wrapping_mul(6364136223846793005).wrapping_add(i);
        h ^= h >> 13;
    }
    h
}

#[inline(never)]
fn work(n: u64) -> u64 {
    let mut s = 0;
    for i in 0..n {
        s ^= helper(i);
    }
    s
}

fn main() {
    let n = std::env::args().count() as u64 * 200_000;
    println!("{}", work(n));
}
"""


@pytest.fixture(scope="module")
def inline_wasm(tmp_path_factory) -> Path:
    if not (os.access(RUSTC, os.X_OK) and os.path.isdir(WASI_STD)):
        pytest.skip(f"{RUSTC} with the wasm32-wasi std is not installed (scripts/build-examples.sh installs it)")
    d = tmp_path_factory.mktemp("inl")
    (d / "inl.rs").write_text(INLINE_RS)
    build = subprocess.run([RUSTC, "--target", "wasm32-wasi", "-O", "-g", "inl.rs"], cwd=d,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return d / "inl.wasm"


def test_inline_always_helper_is_its_own_frame(inline_wasm, tmp_path):
    r = _wasirun("-g", "--profile=guest,inl.folded", str(inline_wasm), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    stacks = _folded(tmp_path / "inl.folded")
    total = sum(stacks.values())
    in_helper = Counter()
    for st, n in stacks.items():
        names = [f.split(" ")[0] for f in st]
        if "inl::helper" in names:
            k = names.index("inl::helper")
            assert names[k - 1] == "inl::work" and st[k - 1] == "inl::work inl.rs:15", st
            in_helper[st[k]] += n
    assert sum(in_helper.values()) >= 0.5 * total, stacks.most_common(5)
    assert all(f.startswith("inl::helper inl.rs:") for f in in_helper)


def test_fib_g_frames_have_source_lines(fib_g_wasm, tmp_path):
    r = _wasirun("-g", "--profile=guest,g.folded", str(fib_g_wasm), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    stacks = _folded(tmp_path / "g.folded")
    total = sum(stacks.values())
    fib = sum(n for st, n in stacks.items() if st[-1].startswith("fib::fib fib.rs:"))
    assert fib >= 0.95 * _in_wasm(stacks), stacks.most_common(5)
    assert all(any(f.startswith("fib::main fib.rs:3") for f in st) for st in stacks if st[-1].startswith("fib::fib"))


def test_guest_profile_with_a_preopened_dir(tmp_path):
    (tmp_path / "d").mkdir()
    r = _wasirun("--dir", "d::/d", "--profile=guest,p.folded", str(FIB), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.folded").exists()


def test_one_session_at_a_time():
    from runner.profiling.sampler import Sampler
    first = Sampler()
    first.start()
    try:
        with pytest.raises(RuntimeError):
            Sampler().start()
    finally:
        first.stop()
    second = Sampler()
    second.start()
    assert second.stop() == []


def test_perf_flame_graph_expands_inlined_frames(inline_wasm, tmp_path):
    """--jitdump -g leaves jit-<pid>.wasm-map.jsonl beside the dump; the flame graph drawn
    from `perf script` output then shows inl::helper (inlined by rustc) under inl::work,
    as the guest profiler does. (perf itself is not needed: the perf script text is made
    from the map's own addresses.)"""
    from runner.profiling.flamegraph import fold
    from runner.profiling.wasmmap import WasmMap
    r = _wasirun("-g", "--jitdump", str(inline_wasm), cwd=tmp_path)   # (scripts/profile.sh -g --flamegraph: same, through perf)
    assert r.returncode == 0, r.stderr
    (path,) = tmp_path.glob("jit-*.wasm-map.jsonl")
    wmap = WasmMap.load(path)
    work = [c for c in wmap.copies if c.name == "inl::work"]
    assert work, sorted({c.name for c in wmap.copies})[:20]
    hits = [(c, off) for c in work for off in c.offsets
            if wmap.frames(c.start + off, True)[:2] == ["inl::work", "inl::helper"]]
    assert hits, "no address of inl::work is in the inlined inl::helper"
    copy, off = hits[0]
    chain = wmap.frames(copy.start + off, True)
    main = next(c for c in wmap.copies if c.name == "inl::main")
    # What perf script prints after perf inject --jit: the offset in the function, in the
    # jitted-<pid>-<code index>.so perf made for that copy.
    script = (f"wasirun 123/123 100.000001: 1 cpu-clock:\n"
              f"\t{off:x} inl::work+{off:#x} (/tmp/jitted-123-{copy.index}.so)\n"
              f"\t{8:x} inl::main+0x8 (/tmp/jitted-123-{main.index}.so)\n\n")
    stacks = fold(script.splitlines(True), wasm_map=wmap)
    assert list(stacks) == ["wasirun;inl::main_[j];" + ";".join(n + "_[j]" for n in chain)], stacks
    assert list(stacks)[0].startswith("wasirun;inl::main_[j];inl::work_[j];inl::helper_[j]")
    plain = fold(script.splitlines(True))
    assert list(plain) == ["wasirun;inl::main_[j];inl::work_[j]"]
