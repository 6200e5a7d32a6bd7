"""-g without perf: line tables of the compiled code, source locations in trap backtraces,
and the time span ``perf report --time`` gets from a jitdump."""
from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import Config, Engine
from runner.profiling import JitDumpAgent, LineRow, read_jitdump
from runner.profiling.window import perf_time_window

from .wat import wat2wasm

REPO = Path(__file__).resolve().parents[1]
RUSTC = "/usr/bin/rustc"
WASI_STD = "/usr/lib/rustlib/wasm32-wasi/lib"

# $boom always traps, so LLVM deems it cold and puts it into .text.unlikely., apart from
# the other functions in .text: each section's line rows must stay with that section.
COLD = """(module
  (func $first (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 7)))
  (func $boom (param i32) (result i32)
    (drop (i32.add (local.get 0) (i32.const 1)))
    unreachable)
  (func $second (param i32) (result i32)
    (i32.xor (call $first (local.get 0)) (i32.const 5)))
  (func (export "run") (param i32) (result i32)
    (call $boom (call $second (local.get 0)))))"""


def _assert_rows_in_own_bodies(compiled) -> int:
    """Every native row of every function names a wasm offset inside that function's body."""
    m = compiled.module
    checked = 0
    for unit in compiled.code.units:
        for i in range(m.num_imported_funcs, len(m.func_types)):
            if i not in unit.symbols:
                continue
            body = m.bodies[i - m.num_imported_funcs]
            _, size = unit.symbols[i]
            for native, wasm in unit.rows.get(i, ()):
                assert 0 <= native < max(size, 1), (i, native, size)
                assert body.body_start <= wasm <= body.code_end, (compiled.display_name(i), hex(wasm))
                checked += 1
    return checked


def test_line_rows_of_cold_section(tmp_path):
    wasm = wat2wasm(COLD, "--debug-names")
    compiled = Engine(Config(debug_info=True, cache=False, tiering=False)).compile(wasm, name="cold.wasm")
    boom = next(i for i, n in compiled.module.function_names.items() if n == "boom")
    assert _assert_rows_in_own_bodies(compiled)
    body = compiled.module.bodies[boom - compiled.module.num_imported_funcs]
    unreachable = compiled.module.raw.index(b"\x00\x0b", body.code_start, body.code_end)
    (unit,) = compiled.code.units
    assert unreachable in [w for _, w in unit.rows[boom]]

    # and so a trap in it has its wasm offset (the module has no DWARF: no file:line)
    (tmp_path / "cold.wasm").write_bytes(wasm)
    r = _wasirun("-g", "--invoke", "run", "cold.wasm", "1", cwd=tmp_path)
    assert r.returncode == 134, r.stderr
    assert _frames(r.stderr)[0] == ("boom", unreachable, None), r.stderr


def test_line_rows_of_fib_g_stay_in_their_functions(fib_g_wasm):
    compiled = Engine(Config(debug_info=True)).compile(fib_g_wasm.read_bytes(), name="fib-g.wasm")
    assert _assert_rows_in_own_bodies(compiled) > 1000


# --- trap backtraces -------------------------------------------------------------------------

OOB = """(module
  (memory 1)
  (func $get (export "get") (param i32) (result i32)
    (i32.add (i32.load (i32.const 16)) (i32.load (local.get 0)))))"""


def test_memory_trap_has_the_offset_of_the_faulting_load(tmp_path):
    wasm = wat2wasm(OOB, "--debug-names")
    loads = [i for i in range(len(wasm) - 2) if wasm[i:i + 3] == b"\x28\x02\x00"]
    assert len(loads) == 2
    (tmp_path / "oob.wasm").write_bytes(wasm)
    r = _wasirun("-g", "--invoke", "get", "oob.wasm", "100000", cwd=tmp_path)
    assert r.returncode == 134, r.stderr
    assert "wasm trap: out of bounds memory access" in r.stderr
    assert _frames(r.stderr) == [("get", loads[1], None)], r.stderr


def test_trap_frames_where_a_dead_instance_had_its_code():
    import gc
    from runner.errors import Trap

    def trap_frames(text: str, export: str, arg: int):
        engine = Engine(Config(debug_info=True, cache=False))
        instance = engine.instantiate(engine.compile(wat2wasm(text, "--debug-names"), name="m.wasm"))
        with pytest.raises(Trap) as info:
            instance.exports[export](arg)
        return [f.name for f in info.value.frames]

    assert trap_frames(COLD, "run", 1)[0] == "boom"
    gc.collect()                    # the first instance's code is freed; the next reuses its pages
    assert trap_frames(OOB, "get", 100_000) == ["get"]


DEMO_RS = """\
#[inline(never)]
fn divide(a: i32, b: i32) -> i32 {
    if b == 0 {
        // Tell rustc that b is never 0: the division is then a bare i32.div_s, which traps.
        unsafe { std::hint::unreachable_unchecked() }
    }
    a / b
}

#[inline(never)]
fn compute(n: i32) -> i32 {
    let d = std::env::args().count() as i32 - 1;
    divide(n, d) + 1
}

fn main() {
    println!("{}", compute(42));
}
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    if not (os.access(RUSTC, os.X_OK) and os.path.isdir(WASI_STD)):
        pytest.skip(f"{RUSTC} with the wasm32-wasi std is not installed (scripts/build-examples.sh installs it)")
    d = tmp_path_factory.mktemp("demo")
    (d / "demo.rs").write_text(DEMO_RS)
    build = subprocess.run([RUSTC, "--target", "wasm32-wasi", "-g", "-O", "demo.rs", "-o", "demo.wasm"],
                           cwd=d, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return d


def _frames(stderr: str) -> list[tuple[str, int | None, str | None]]:
    """(name, wasm offset, "file:line:col") per frame of a wasmtime-style backtrace."""
    frames: list[tuple[str, int | None, str | None]] = []
    for line in stderr.splitlines():
        m = re.match(r"\s+\d+: +(0x[0-9a-f]+)? +- (.*)$", line)
        if m:
            frames.append((m[2], int(m[1], 16) if m[1] else None, None))
        m = re.match(r"\s+at (.*)$", line)
        if m:
            frames[-1] = frames[-1][:2] + (m[1],)
    return frames


def _wasirun(*args, cwd):
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_trap_backtrace_has_source_lines(demo):
    r = _wasirun("-g", "demo.wasm", cwd=demo)
    assert r.returncode == 134, r.stderr
    assert r.stderr.splitlines()[:2] == [
        "Error: failed to run main module `demo.wasm`: wasm trap: integer divide by zero",
        "wasm backtrace:"]
    frames = _frames(r.stderr)
    names = [f[0] for f in frames]
    assert names[:3] == ["demo::divide", "demo::compute", "demo::main"], r.stderr
    assert names[-1] == "_start.command_export"
    assert all(offset is not None for _, offset, _ in frames), r.stderr
    src = demo / "demo.rs"
    # the call sites in compute and main, as rustc's DWARF has them
    assert re.fullmatch(rf"{re.escape(str(src))}:13:\d+", frames[1][2]), r.stderr
    assert re.fullmatch(rf"{re.escape(str(src))}:17:\d+", frames[2][2]), r.stderr
    assert frames[0][2].startswith(f"{src}:"), r.stderr
    # std's frames point into rustc's sources, by absolute path
    std = [loc for name, _, loc in frames if name.startswith("std::rt::lang_start")]
    assert std and all(loc and loc.startswith("/") and ".rs:" in loc for loc in std), r.stderr
    # the line layout: offset and name, then the location indented under it
    lines = r.stderr.splitlines()
    i = next(k for k, l in enumerate(lines) if l.endswith(" - demo::compute"))
    assert re.fullmatch(r"    1: +0x[0-9a-f]+ - demo::compute", lines[i])
    assert re.fullmatch(r" {20}at /\S+/demo\.rs:13:\d+", lines[i + 1])


def test_trapping_instruction_line(demo):
    r = _wasirun("-g", "demo.wasm", cwd=demo)
    frames = _frames(r.stderr)
    assert frames[0][0] == "demo::divide"
    assert re.fullmatch(rf"{re.escape(str(demo / 'demo.rs'))}:7:\d+", frames[0][2]), r.stderr


def test_trap_backtrace_without_g_has_names_only(demo):
    r = _wasirun("demo.wasm", cwd=demo)
    assert r.returncode == 134
    frames = _frames(r.stderr)
    assert [f[0] for f in frames[:3]] == ["demo::divide", "demo::compute", "demo::main"]
    assert all(offset is None and loc is None for _, offset, loc in frames)


# --- perf report --time from a jitdump ---------------------------------------------------------

def test_perf_time_window(tmp_path):
    agent = JitDumpAgent(tmp_path)
    code = ctypes.create_string_buffer(b"\x90" * 16, 16)
    address = ctypes.addressof(code)
    agent.register_function("f", address, 16, [LineRow(address, "/src/f.rs", 3)])
    time.sleep(0.01)
    agent.register_function("g", address, 16)
    dump = read_jitdump(agent.path)               # still open: no CLOSE record yet
    first = dump.records[0].timestamp             # the DEBUG_INFO before f's CODE_LOAD
    start = f"{first // 10**9}.{first % 10**9:09d}"
    assert perf_time_window([dump]) == f"{start},"
    agent.close()
    dump = read_jitdump(agent.path)
    end = dump.records[-1].timestamp + 1
    assert perf_time_window([dump]) == f"{start},{end // 10**9}.{end % 10**9:09d}"
    assert perf_time_window([]) is None

    cli = subprocess.run([sys.executable, "-m", "runner.profiling.window", str(agent.path)],
                         capture_output=True, text=True)
    assert (cli.returncode, cli.stdout, cli.stderr) == (0, perf_time_window([dump]) + "\n", "")
    cli = subprocess.run([sys.executable, "-m", "runner.profiling.window", str(tmp_path / "none.dump")],
                         capture_output=True, text=True)
    assert cli.returncode == 1 and cli.stderr.startswith("window: error:")
