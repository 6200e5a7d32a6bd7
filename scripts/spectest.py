#!/usr/bin/env python3
"""Run the WebAssembly spec testsuite (wast2json / json-from-wast output) against wasirun.

    python scripts/spectest.py [--suite 2.0|3.0] [DIR | FILE.json]... [-O N] [--tier first|top]
                               [-j N] [-v] [--expected FILE | --write-expected FILE]

``--suite 2.0`` (the default; inferred as 3.0 when every path is inside the 3.0 data):
``../shared/spectest`` (``$WASIRUN_SPECTEST``) without ``simd/`` unless ``--simd``, judged
against the 2.0 language.  ``--suite 3.0``: all of ``../shared/spectest3``
(``$WASIRUN_SPECTEST3``), judged against 3.0 without GC; the GC proposal's 21 scripts are
skipped by name.  Each command kind is judged as shared/docs/spectest-judging.md and
shared/spectest3/README.md say (scripts/spectest_harness/judge.py has the rules: text-format
assertions are skipped, never passed; so are commands that need GC).

Each script runs in a forked child process (``-j`` of them at once), so a crash in one is
reported as that script failing and the run goes on.  One line per script, its failures with
``-v``; then a summary (failures by feature and by root cause, what was skipped and why); the
last line is ``N passed, N failed, N skipped``.  ``--write-expected FILE`` records each script's
failure count (tests/spectest3_expected_failures.txt is such a file); ``--expected FILE``
compares the run with one: the exit status is then 0 only when every count matches.
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _p in (REPO, REPO / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from spectest_harness import expected, summary, suites  # noqa: E402
from spectest_harness.pool import (DEFAULT_OPT_LEVEL, DEFAULT_TIMEOUT, ScriptResult,  # noqa: E402,F401
                                   load_commands, run_script_inprocess, run_scripts)


def default_root() -> Path:
    """The 2.0 suite's folder."""
    return suites.suite("2.0").root


def collect(paths: list[str], simd: bool = False, suite: str = "2.0") -> list[Path]:
    """The .json scripts named by ``paths`` (default: the whole suite)."""
    return suites.suite(suite).collect(paths, simd)


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="directories or .json files (default: the whole suite)")
    ap.add_argument("--suite", choices=("2.0", "3.0"), default=None,
                    help="which spec suite (default 2.0; 3.0 when every path is inside its data)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show each failure with its script line (and the skipped commands)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="scripts run at once")
    ap.add_argument("-O", "--opt-level", type=int, default=DEFAULT_OPT_LEVEL, choices=range(4))
    ap.add_argument("--simd", action="store_true", help="2.0: include simd/ when searching directories")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per script")
    ap.add_argument("--tier", choices=("top", "first"), default="top",
                    help="run on top-tier code (default) or start on the first tier, tiering up when hot")
    ap.add_argument("--no-summary", action="store_true", help="leave out the failure/skip summary")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--write-expected", metavar="FILE", type=Path,
                       help="write each failing script's failure count to FILE")
    group.add_argument("--expected", metavar="FILE", type=Path,
                       help="compare the failure counts with FILE (exit 0 when all match)")
    args = ap.parse_args(argv)
    suite_name = args.suite or suites.infer(args.paths)
    suite = suites.suite(suite_name)
    os.environ["WASIRUN_SPECTEST_TIER"] = args.tier
    paths = suite.collect(args.paths, args.simd)
    if not paths:
        print("spectest: no .json scripts found", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    width = max(len(p.stem) for p in paths)

    def report(r: ScriptResult) -> None:
        line = f"{r.name:<{width}}  {r.passed:6d} passed, {r.failed:5d} failed, {r.skipped:4d} skipped"
        if r.skipped_whole:
            line += f"  ({r.skipped_whole})"
        else:
            line += f"  {r.seconds:6.1f}s {r.cpu:6.1f}s cpu"
        if r.crashed:
            line += f"  ** {r.crashed}"
        print(line, flush=True)
        if args.verbose:
            for f in r.failures:
                print(f"    FAIL {r.wast}:{f.line} {f.kind}: {f.reason}", flush=True)
            for ln, kind, reason in r.notes:
                print(f"    note {r.wast}:{ln} {kind}: {reason}", flush=True)
            for ln, kind, reason in r.skips:
                if not reason.startswith("text module"):
                    print(f"    skip {r.wast}:{ln} {kind}: {reason}", flush=True)

    results = run_scripts(paths, args.jobs, args.opt_level, args.timeout, on_done=report, suite=suite_name)
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    notes = sum(len(r.notes) for r in results)
    if notes:
        print(f"\n{notes} rejections came from the other stage than the command names "
              f"(passed; -v lists them)")
    if not args.no_summary:
        text = summary.lines(results, suite)
        if text:
            print()
            print("\n".join(text))
    cpu = sum(r.cpu for r in results)
    print(f"{len(results)} scripts of the {suite_name} suite in {time.monotonic() - t0:.1f}s, {cpu:.1f}s cpu "
          f"(opt level {args.opt_level}, {args.tier} tier, {args.jobs} jobs)")
    status = 1 if failed else 0
    if args.write_expected:
        header = [
            f"Expected failures of the {suite_name} spec suite: '<script> <failed commands>' per failing script.",
            "tests/test_spectest.py fails when a script fails more commands (a regression) or fewer",
            "(then regenerate this file).  Regenerate with (paths after --suite 3.0 update just their lines):",
            f"  python scripts/spectest.py --suite {suite_name} -O0 -j 2 --write-expected {args.write_expected}",
        ]
        header.append(f"{datetime.date.today()} at {_commit() or '?'}: {len(results)} scripts, "
                      f"{passed} passed, {failed} failed, {skipped} skipped")
        expected.write(args.write_expected, results, header, partial=bool(args.paths))
        print(f"wrote {args.write_expected}")
    elif args.expected:
        mismatches = expected.compare(results, expected.read(args.expected))
        for m in mismatches:
            print(f"  expected-failures mismatch: {m.describe()}")
        print(f"{len(mismatches)} scripts differ from {args.expected}")
        status = 1 if mismatches else 0
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:         # output piped into head & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
