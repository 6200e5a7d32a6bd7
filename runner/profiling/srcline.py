"""Samples in wasm code by source line, without perf's addr2line: a cross-check.

``scripts/profile.sh --srcline`` reports with perf's own ``--sort sym,srcline``
(restricted to the run with ``--time``, see runner/profiling/window.py for why)
and also counts the same samples here.  The jitdump already holds each
function's line table, so we map the samples ourselves: ``perf script -F
ip,sym,symoff,dso -G`` tells which ``jitted-<pid>-<index>.so`` and offset each
sample hit, and the DEBUG_INFO record of CODE_LOAD ``<index>`` gives the line.

CLI: ``python -m runner.profiling.srcline perf.script jit-<pid>.dump...``
"""
from __future__ import annotations

import argparse
import bisect
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from .jitdump import CodeLoad, JitDumpFile, read_jitdump

__all__ = ["LineCount", "count_lines", "format_table", "main"]

_SAMPLE = re.compile(r"^\s*[0-9a-f]+\s+(?P<sym>.*?)(?:\+0x(?P<off>[0-9a-f]+))?\s+\((?P<dso>[^()]*)\)\s*$")
_JITTED = re.compile(r"jitted-(\d+)-(\d+)\.so$")  # perf inject's name: pid, code_index


@dataclass(frozen=True)
class LineCount:
    samples: int
    function: str
    location: str  # "file:line", or "??" where the function has no line table


class _Function:
    def __init__(self, load: CodeLoad, dump: JitDumpFile):
        info = dump.debug_info_for(load)
        self.load = load
        self.entries = info.entries if info else ()
        self.addresses = [e.address for e in self.entries]

    def location(self, offset: int) -> str:
        addr = self.load.code_addr + offset
        i = bisect.bisect_right(self.addresses, addr) - 1
        # the last entry is the end sentinel: nothing starts there
        if i < 0 or i >= len(self.entries) - 1:
            return "??"
        entry = self.entries[i]
        return f"{entry.file}:{entry.line}"


def count_lines(script: Iterable[str], dumps: Sequence[JitDumpFile]) -> tuple[list[LineCount], int]:
    """Count the samples of ``perf script -F ip,sym,symoff,dso -G`` output per wasm source line.

    Returns the rows, most samples first, and the number of samples in all code.
    """
    functions = {(d.header.pid, load.code_index): _Function(load, d)
                 for d in dumps for load in d.code_loads}
    counts: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in script:
        m = _SAMPLE.match(line)
        if not m:
            continue
        total += 1
        jitted = _JITTED.search(m["dso"])
        func = jitted and functions.get((int(jitted[1]), int(jitted[2])))
        if func:
            counts[func.load.name, func.location(int(m["off"] or "0", 16))] += 1
    rows = [LineCount(n, name, loc) for (name, loc), n in counts.items()]
    rows.sort(key=lambda r: (-r.samples, r.function, r.location))
    return rows, total


def format_table(rows: Sequence[LineCount], total: int) -> str:
    """A ``perf report``-like table; percentages are of all samples, not just wasm code's."""
    out = [f"# Samples in wasm code by source line ({sum(r.samples for r in rows)} of {total} samples)",
           "#", "# Overhead  Samples  Function / Source:Line", "#"]
    width = max((len(r.function) for r in rows), default=8)
    for r in rows:
        share = 100 * r.samples / total if total else 0.0
        out.append(f"{share:9.2f}%  {r.samples:7}  {r.function:<{width}}  {r.location}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.profiling.srcline",
                                     description="Count perf samples in wasm code by source line.")
    parser.add_argument("script", help="output of `perf script -F ip,sym,symoff,dso -G` (- for stdin)")
    parser.add_argument("dumps", nargs="+", help="the jit-<pid>.dump files of the recording")
    args = parser.parse_args(argv)
    dumps = [read_jitdump(path) for path in args.dumps]
    if args.script == "-":
        rows, total = count_lines(sys.stdin, dumps)
    else:
        with open(args.script, encoding="utf-8", errors="replace") as f:
            rows, total = count_lines(f, dumps)
    sys.stdout.write(format_table(rows, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
