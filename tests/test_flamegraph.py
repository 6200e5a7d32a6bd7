"""Folding `perf script` output and drawing the SVG flame graph."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from runner.profiling.flamegraph import fold, main, render_svg

SVG = "{http://www.w3.org/2000/svg}"

# Shaped like `perf script` on a `perf inject --jit` recording made with -g.
PERF_SCRIPT_G = """\
python3  4242 12345.000001:     250000 cpu-clock: 
\t    7f0000000010 fib::fib+0x10 (/tmp/p/jitted-4242-10.so)
\t    7f0000000020 fib::fib+0x22 (/tmp/p/jitted-4242-10.so)
\t    7f0000000030 fib::main+0x5 (/tmp/p/jitted-4242-9.so)
\t          abcdef [unknown] (/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2)

python3  4242 12345.000251:     250000 cpu-clock: 
\t    7f0000000010 fib::fib+0x10 (/tmp/p/jitted-4242-10.so)
\t    7f0000000030 fib::main+0x5 (/tmp/p/jitted-4242-9.so)
\t          abcdef [unknown] (/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2)

python3  4242 12345.000501:     250000 cpu-clock: 
\t    7f0000000010 fib::fib+0x10 (/tmp/p/jitted-4242-10.so)
\t    7f0000000030 fib::main+0x5 (/tmp/p/jitted-4242-9.so)
\t          abcdef [unknown] (/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2)

python3  4242 12345.000751:     250000 cpu-clock: 
\tffffffff81000000 clear_page_erms+0x7 ([kernel.kallsyms])
\t    7f0000000040 _ZN3std2io5Write9write_fmt17h0123456789abcdefE+0x1 (/tmp/p/jitted-4242-50.so)
\t    7f0000000030 fib::main+0x9 (/tmp/p/jitted-4242-9.so)
\t          abcdef [unknown] (/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2)

my worker  4243/4244 [001] 12345.001001:     250000 cpu-clock: 
\t          123456 core::slice::<impl [u8; 4]>::len::h0123456789abcdef+0x3 (/usr/lib/libx.so)
\t               0 [unknown] ([unknown])
"""

PERF_SCRIPT_FLAT = """\
         python3  4242 12345.000001:     250000 cpu-clock:ppp:      7f0000000010 fib::fib+0x10 (/tmp/p/jitted-4242-10.so)
         python3  4242 12345.000251:     250000 cpu-clock:ppp:      7f0000000010 fib::fib+0x12 (/tmp/p/jitted-4242-10.so)
         python3  4242 12345.000501:     250000 cpu-clock:ppp:  ffffffff81000000 exc_page_fault+0xd7 ([kernel.kallsyms])
"""


def test_fold_call_graphs():
    stacks = fold(PERF_SCRIPT_G.splitlines(keepends=True))
    assert stacks == {
        "python3;[libffi.so.8.1.2];fib::main_[j];fib::fib_[j];fib::fib_[j]": 1,
        "python3;[libffi.so.8.1.2];fib::main_[j];fib::fib_[j]": 2,
        "python3;[libffi.so.8.1.2];fib::main_[j];std::io::Write::write_fmt_[j];clear_page_erms_[k]": 1,
        "my worker;[unknown];core::slice::<impl [u8: 4]>::len": 1,
    }
    roots = {stack.split(";")[0] for stack in fold(PERF_SCRIPT_G.splitlines(), include_comm=False)}
    assert roots == {"[libffi.so.8.1.2]", "[unknown]"}


def test_fold_without_call_graphs():
    assert fold(PERF_SCRIPT_FLAT.splitlines()) == {
        "python3;fib::fib_[j]": 2, "python3;exc_page_fault_[k]": 1}
    assert fold([]) == {}


def _frames(svg_text: str) -> dict[str, float]:
    """Tooltip -> rect width for every frame drawn."""
    root = ET.fromstring(svg_text.encode())
    frames = {}
    for g in root.iter(f"{SVG}g"):
        title, rect = g.find(f"{SVG}title"), g.find(f"{SVG}rect")
        frames[title.text] = float(rect.get("width"))
    return frames


def test_render_names_and_widths():
    svg = render_svg(fold(PERF_SCRIPT_G.splitlines()), title="fib <profile>")
    frames = _frames(svg)
    by_name = {t.split(" (")[0]: w for t, w in frames.items()}
    assert {"all", "python3", "fib::main", "fib::fib", "std::io::Write::write_fmt",
            "clear_page_erms", "core::slice::<impl [u8: 4]>::len"} <= set(by_name)
    assert "fib::fib (3 samples, 60.00%)" in frames
    assert "all (5 samples, 100.00%)" in frames
    # widths are proportional to samples: fib::main has 4 of 5, the other process 1
    assert abs(by_name["fib::main"] / by_name["all"] - 4 / 5) < 1e-3
    assert abs(by_name["my worker"] / by_name["all"] - 1 / 5) < 1e-3
    assert "fib &lt;profile&gt;" in svg


def test_render_colours_wasm_frames_apart():
    root = ET.fromstring(render_svg({"a;b_[j]": 1, "a;c": 1}).encode())
    fills = {g.find(f"{SVG}title").text.split(" (")[0]: g.find(f"{SVG}rect").get("fill")
             for g in root.iter(f"{SVG}g")}
    r, g, b = map(int, fills["b"][4:-1].split(","))
    assert g > r and g > b  # green for JIT code


def test_render_empty_and_tiny():
    root = ET.fromstring(render_svg({}).encode())
    assert "no samples" in "".join(root.itertext())
    # a frame narrower than 0.1 px is left out, with its children
    frames = _frames(render_svg({"a;big": 100_000, "a;small;child": 1}))
    assert not any(t.startswith(("small", "child")) for t in frames)


def test_cli(tmp_path, capsys):
    script = tmp_path / "perf.script"
    script.write_text(PERF_SCRIPT_G)
    assert main([str(script), "--title", "fib"]) == 0
    assert "fib::main (4 samples, 80.00%)" in _frames(capsys.readouterr().out)
    assert main([str(script), "--fold"]) == 0
    assert "python3;[libffi.so.8.1.2];fib::main_[j];fib::fib_[j] 2\n" in capsys.readouterr().out
    empty = tmp_path / "empty.script"
    empty.write_text("")
    assert main([str(empty)]) == 1
    assert "no samples" in capsys.readouterr().err


def test_cli_as_module(tmp_path):
    script = tmp_path / "perf.script"
    script.write_text(PERF_SCRIPT_FLAT)
    proc = subprocess.run([sys.executable, "-m", "runner.profiling.flamegraph", str(script)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    assert "fib::fib (2 samples, 66.67%)" in _frames(proc.stdout)
