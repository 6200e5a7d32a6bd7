"""The time span of a run's wasm code, for ``perf report --time``.

A whole-process profile of wasirun also holds Python starting up and, on a
cold cache, LLVM compiling the module.  ``perf report --sort srcline`` asks
addr2line about every sampled address of every library, and perf 6.1 (built
without libbfd, so it runs binutils' addr2line) pays about half a second per
address in libllvmlite.so: after each address perf sends a "," as an end
marker, which binutils 2.40's addr2line looks up as a *symbol name* (anything
that is not hex is), scanning all 172 000 symbols.
Restricting the report to the span in which the JIT code existed leaves those
samples out, and the report takes a second instead of minutes.

CLI: ``perf report --sort sym,srcline --time $(python3 -m runner.profiling.window jit-*.dump)``
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .jitdump import CodeClose, JitDumpFile, read_jitdump

__all__ = ["perf_time_window", "main"]


def perf_time_window(dumps: Sequence[JitDumpFile]) -> str | None:
    """``START,END`` in perf's ``--time`` syntax, or None if the dumps hold no records.

    START is the first record (code is announced before it runs), END the
    CLOSE record (written when the engine closes, after the program ends); the
    span is open-ended (``START,``) if a dump has no CLOSE because its process died.
    """
    starts: list[int] = []
    ends: list[int | None] = []
    for dump in dumps:
        if not dump.records:
            continue
        starts.append(dump.records[0].timestamp)
        closes = [r.timestamp for r in dump.records if isinstance(r, CodeClose)]
        ends.append(max(closes) if closes else None)
    if not starts:
        return None
    start = _seconds(min(starts))
    if None in ends:
        return f"{start},"
    return f"{start},{_seconds(max(e for e in ends if e is not None) + 1)}"


def _seconds(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m runner.profiling.window",
        description="Print the time span of the wasm code in jit-<pid>.dump files as START,END "
                    "for `perf report --time`, leaving out Python start-up and LLVM compiling.")
    parser.add_argument("dumps", nargs="+", help="jit-<pid>.dump files of the recording")
    args = parser.parse_args(argv)
    try:
        window = perf_time_window([read_jitdump(path) for path in args.dumps])
    except (OSError, ValueError) as e:
        print(f"window: error: {e}", file=sys.stderr)
        return 1
    if window is None:
        print("window: error: the dumps hold no records", file=sys.stderr)
        return 1
    print(window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
