"""End to end with the real perf: scripts/profile.sh -> record -> inject --jit -> report.

Run as a script, this file is a stand-in for ``wasirun --jitdump``: it JIT-compiles
two tiny functions with llvmlite, announces them through JitDumpAgent and runs
them, so the jitdump writer and profile.sh are checked against perf apart from the
runner; the fib.wasm tests run the real runner.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "scripts" / "profile.sh"


def _perf_problem() -> str | None:
    if not shutil.which("perf"):
        return "perf is not installed"
    try:
        probe = subprocess.run(["perf", "record", "-q", "-k", "mono", "-e", "cpu-clock",
                                "-o", "/dev/null", "--", "true"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"perf record does not run: {e}"
    if probe.returncode:
        return f"perf record is not permitted here: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def perf() -> None:
    problem = _perf_problem()
    if problem:
        pytest.skip(problem)


def _profile(tmp_path: Path, wasirun: str, *args: str, timeout: int = 300) -> tuple[Path, str]:
    out = tmp_path / "profile"
    env = {**os.environ, "WASIRUN": wasirun, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(PROFILE), "-o", str(out), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return out, proc.stdout


def _report_rows(text: str) -> list[tuple[float, str]]:
    """``(percent, rest of line)`` for each row of a ``perf report --stdio`` table."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.*\S)", line)
        if m:
            rows.append((float(m[1]), m[2]))
    return rows


def _elf_functions(path: Path) -> tuple[set[str], set[str]]:
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        funcs = {s.name for s in symtab.iter_symbols() if s["st_info"]["type"] == "STT_FUNC"}
        return funcs, {s.name for s in elf.iter_sections()}


def test_profile_sh_on_tiny_jit(perf, tmp_path):
    from runner.profiling import read_jitdump

    out, stdout = _profile(tmp_path, f"{sys.executable} {__file__}",
                           "-g", "--flamegraph", "--srcline", "--", "0.6")
    rows = _report_rows((out / "report.txt").read_text())
    assert rows[0][0] > 25 and rows[0][1].endswith("[.] tiny::hot"), rows[:5]
    # perf's own `--sort sym,srcline` (over the run's time span) and the jitdump cross-check
    lines = _report_rows((out / "srcline.txt").read_text())
    assert lines[0][1].split() == ["[.]", "tiny::hot", "tiny.rs:4"], lines
    check = _report_rows((out / "srcline-check.txt").read_text())
    assert check[0][1].split()[1:] == ["tiny::hot", "tiny.rs:4"], check
    assert "tiny::hot" in stdout and "flamegraph.svg" in stdout

    # The jitted objects carry our names and, from DEBUG_INFO, a line table.
    dump, = out.glob("jit-*.dump")
    loads = read_jitdump(dump).code_loads
    assert [load.name for load in loads] == ["tiny::hot", "tiny::cold"]
    funcs, sections = _elf_functions(out / f"jitted-{dump.stem[4:]}-0.so")
    assert funcs == {"tiny::hot"} and ".debug_line" in sections

    assert "tiny::cold" in (out / "callgraph.txt").read_text()
    svg = ET.parse(out / "flamegraph.svg").getroot()
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("tiny::hot ") for t in titles)


def test_profile_sh_fib(perf, tmp_path):
    out, _ = _profile(tmp_path, f"{sys.executable} -m runner.cli", "--", "examples/fib.wasm")
    rows = _report_rows((out / "report.txt").read_text())
    # fib::fib is the hottest symbol of all (the rest is Python starting up and,
    # on a cold cache, LLVM compiling) and nearly all of the wasm code's samples: on a cold
    # cache (the tests' own, tests/conftest.py) in two copies, the first tier's and the top's.
    assert rows and rows[0][1].endswith("[.] fib::fib"), rows[:8]
    wasm = sum(pct for pct, rest in rows if rest.startswith("jitted-"))
    fib = sum(pct for pct, rest in rows if rest.startswith("jitted-") and rest.endswith("[.] fib::fib"))
    assert fib >= 0.9 * wasm, rows[:8]
    assert any("fib::fib" in _elf_functions(so)[0] for so in out.glob("jitted-*.so"))


@pytest.fixture(scope="module")
def fib_g(fib_g_wasm) -> Path:
    return fib_g_wasm


def _fib_lines(fib_g: Path) -> set[int]:
    """The fib.rs lines rustc's DWARF gives fn fib (6, 7, 10, 12 with Debian's rustc 1.63)."""
    from runner.binary.decode import decode
    from runner.sourcemap.lines import WasmLineMap

    module = decode(fib_g.read_bytes())
    index = next(i for i, n in module.function_names.items() if n.startswith("_ZN3fib3fib"))
    body = module.bodies[index - module.num_imported_funcs]
    rows = WasmLineMap.from_module(module).rows_in(body.code_start - module.code_section_start,
                                                    body.code_end - module.code_section_start)
    assert {loc.file for _, loc in rows} == {str(REPO / "examples" / "fib.rs")}
    return {loc.line for _, loc in rows}


def test_profile_sh_fib_g_source_lines(perf, fib_g, tmp_path):
    """Issue 5: perf shows fib.rs lines, annotates fib::fib with the source and unwinds to main."""
    fib_lines = _fib_lines(fib_g)
    assert {6, 7, 10} <= fib_lines <= set(range(6, 13))
    out, stdout = _profile(tmp_path, f"{sys.executable} -m runner.cli",
                           "-g", "--srcline", "--", "-g", "examples/fib-g.wasm")

    # perf report --sort sym,srcline over the run: fib::fib by fib.rs line, hardly any ??:0.
    rows = [(pct, rest.split()) for pct, rest in _report_rows((out / "srcline.txt").read_text())]
    fib = [(pct, cols[-1]) for pct, cols in rows if cols[:2] == ["[.]", "fib::fib"]]
    total = sum(pct for pct, _ in fib)
    assert total > 50, rows[:10]                   # the run is fib::fib
    unknown = sum(pct for pct, where in fib if not where.startswith("fib.rs:"))
    assert unknown < 0.02 * total, fib
    lines = {int(where.split(":")[1]) for _, where in fib if where.startswith("fib.rs:")}
    assert lines <= fib_lines and {6, 10} <= lines, fib
    assert "fib.rs:" in stdout                     # profile.sh prints the first rows
    # The jitdump's own line tables (no addr2line) agree on the hottest line.
    check = _report_rows((out / "srcline-check.txt").read_text())
    assert check[0][1].split()[1:] == ["fib::fib", f"{REPO}/examples/{fib[0][1]}"], (check[:3], fib[:3])

    # The jitted-*.so perf inject wrote for fib::fib carries .debug_line rows over all of its
    # code, naming fib.rs lines.
    from elftools.elf.elffile import ELFFile

    found = []
    for so in out.glob("jitted-*.so"):
        with open(so, "rb") as f:
            elf = ELFFile(f)
            syms = [s for s in elf.get_section_by_name(".symtab").iter_symbols()
                    if s["st_info"]["type"] == "STT_FUNC"]
            if [s.name for s in syms] != ["fib::fib"]:
                continue
            start, size = syms[0]["st_value"], syms[0]["st_size"]
            dwarf = elf.get_dwarf_info()
            cu = next(dwarf.iter_CUs())
            program = dwarf.line_program_for_CU(cu)
            states = [e.state for e in program.get_entries() if e.state is not None]
            files = [e.name.decode() for e in program["file_entry"]]
            found.append((so.name, start, size, states, files))
    # One copy per tier that ran: the first tier's, and the top tier's once fib::fib got hot
    # (both under the same name, each with its own line table).
    assert 1 <= len(found) <= 2, [f[0] for f in found]
    for _, start, size, states, files in found:
        assert files == [str(REPO / "examples" / "fib.rs")]
        assert states[0].address == start and not states[0].end_sequence
        assert states[-1].end_sequence and states[-1].address == start + size
        native_lines = {s.line for s in states}
        assert native_lines <= fib_lines and {6, 7, 10} <= native_lines, native_lines
        assert [s.address for s in states] == sorted(s.address for s in states)

    # perf annotate interleaves fib.rs (DEBUG_INFO names it by its absolute path).
    annotate = subprocess.run(["perf", "annotate", "-i", str(out / "perf.jit.data"), "--stdio", "fib::fib"],
                              capture_output=True, text=True, timeout=300)
    assert annotate.returncode == 0, annotate.stderr
    assert "fn fib(n: u32) -> u32 {" in annotate.stdout, annotate.stdout[:2000]
    assert "fib(n - 1) + fib(n - 2)" in annotate.stdout

    # Frame-pointer call chains run from fib::fib through fib::main into Rust's start-up code.
    graph = (out / "callgraph.txt").read_text()
    chain = graph[graph.index("[.] fib::fib"):]
    for caller in ("std::rt::lang_start_internal", "std::rt::lang_start::{{closure}}", "fib::main"):
        assert caller in chain, chain[:1500]
    main = chain.index("fib::main")
    assert chain.index("std::rt::lang_start_internal") < main < chain.index("fib::fib", main)


def test_profile_sh_without_perf(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mkdir", "rm", "grep", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    proc = subprocess.run([str(bin_dir / "bash"), str(PROFILE), "-o", str(tmp_path / "out"), "--", "x.wasm"],
                          env={"PATH": str(bin_dir), "WASIRUN": "true"}, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == "profile.sh: error: perf is not installed (Debian/Ubuntu: apt-get install linux-perf)\n"


def test_profile_sh_without_dump(perf, tmp_path):
    proc = subprocess.run(["bash", str(PROFILE), "-o", str(tmp_path / "out"), "--", "x.wasm"],
                          env={**os.environ, "WASIRUN": "true"}, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("profile.sh: error: wasirun wrote no jit-*.dump")


# --- the stand-in for `wasirun --jitdump SECONDS` ---------------------------

_TINY_IR = r"""
define i64 @hot(i64 %n) noinline "frame-pointer"="all" {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %acc = phi i64 [0, %entry], [%acc1, %loop]
  %m = mul i64 %acc, 6364136223846793005
  %acc1 = add i64 %m, %i
  %i1 = add i64 %i, 1
  %c = icmp ult i64 %i1, %n
  br i1 %c, label %loop, label %done
done:
  ret i64 %acc1
}
define i64 @cold(i64 %n) noinline "frame-pointer"="all" {
  %r = call i64 @hot(i64 %n)
  ret i64 %r
}
"""


def _tiny_main(argv: list[str]) -> int:
    import ctypes
    import time

    import llvmlite.binding as llvm
    from elftools.elf.elffile import ELFFile

    sys.path.insert(0, str(REPO))
    from runner.profiling import LineRow, make_agent

    jitdump = "--jitdump" in argv
    seconds = float(next((a for a in argv if not a.startswith("-")), "0.5"))
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    tm = llvm.Target.from_default_triple().create_target_machine(opt=1, codemodel="small")
    obj = tm.emit_object(llvm.parse_assembly(_TINY_IR))
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    symtab = ELFFile(io.BytesIO(obj)).get_section_by_name(".symtab")
    sizes = {s.name: s["st_size"] for s in symtab.iter_symbols()}

    with make_agent("jitdump" if jitdump else None) as agent:
        for name in ("hot", "cold"):
            addr = engine.get_function_address(name)
            lines = [LineRow(addr, "tiny.rs", 3), LineRow(addr + 4, "tiny.rs", 0),
                     LineRow(addr + 8, "tiny.rs", 4)]
            agent.register_function(f"tiny::{name}", addr, sizes[name], lines)
        cold = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(engine.get_function_address("cold"))
        # CPU time, not wall: perf samples cpu-clock, so on a loaded machine a wall-clock loop
        # would leave the hot function a small share next to the fixed start-up work.
        deadline = time.process_time() + seconds
        while time.process_time() < deadline:
            cold(2_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(_tiny_main(sys.argv[1:]))
