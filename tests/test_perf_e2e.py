"""End to end with the real perf: scripts/profile.sh -> record -> inject --jit -> report.

Run as a script, this file is a stand-in for ``wasirun --jitdump``: it JIT-compiles
two tiny functions with llvmlite, announces them through JitDumpAgent and runs
them, so the jitdump writer and profile.sh are checked against perf before the
real runner exists.  The fib.wasm test needs runner/cli.py and skips until then.
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
    lines = _report_rows((out / "srcline.txt").read_text())
    assert lines[0][1].split()[1:] == ["tiny::hot", "tiny.rs:4"], lines
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
    if not (REPO / "runner" / "cli.py").exists():
        pytest.skip("runner/cli.py does not exist yet")
    out, _ = _profile(tmp_path, f"{sys.executable} -m runner.cli", "--", "examples/fib.wasm")
    rows = _report_rows((out / "report.txt").read_text())
    # fib::fib is the hottest symbol of all (the rest is Python starting up and,
    # on a cold cache, LLVM compiling) and nearly all of the wasm code's samples.
    assert rows and rows[0][1].endswith("[.] fib::fib"), rows[:8]
    wasm = sum(pct for pct, rest in rows if rest.startswith("jitted-"))
    assert rows[0][0] >= 0.9 * wasm, rows[:8]
    assert any("fib::fib" in _elf_functions(so)[0] for so in out.glob("jitted-*.so"))


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
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            cold(2_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(_tiny_main(sys.argv[1:]))
