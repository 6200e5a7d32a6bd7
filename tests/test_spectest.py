"""The WebAssembly spec testsuites, through scripts/spectest.py: 2.0 (core) and 3.0.

One test per .json script (so a failure names the script and lists its failing
commands with their .wast lines).  All scripts run once, in parallel forked
children (a crash in one fails only that script), at opt level 0: for hundreds
of tiny modules LLVM's compile time dominates, and O0 takes less than half the
CPU time of O1 (measured: ~13 s vs ~30 s for the whole core suite).  The object
cache is off.  The judging rules are shared/docs/spectest-judging.md's (2.0) and
shared/spectest3/README.md's (3.0; scripts/spectest_harness/judge.py sums them up).

The 3.0 suite cannot pass while its features are landing, so each 3.0 script's
failure count is compared with tests/spectest3_expected_failures.txt: more
failures are a regression, fewer mean the file must be regenerated (the command
is in its header), so progress is recorded and never lost again.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("wasirun_spectest", REPO / "scripts" / "spectest.py")
spectest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = spectest      # its dataclasses look their module up there
_spec.loader.exec_module(spectest)

ROOT = spectest.default_root()
SCRIPTS = spectest.collect([str(ROOT)]) if ROOT.is_dir() else []
OPT_LEVEL = 0


def _jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


@pytest.fixture(scope="module")
def results() -> dict[Path, "spectest.ScriptResult"]:
    if not SCRIPTS:
        pytest.skip(f"no spec testsuite at {ROOT}")
    return {r.path: r for r in spectest.run_scripts(SCRIPTS, jobs=_jobs(), opt_level=OPT_LEVEL)}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_script(script: Path, results) -> None:
    r = results[script]
    if r.failed:
        shown = r.failures[:25]
        lines = [f"{script.stem}.wast:{f.line} {f.kind}: {f.reason}" for f in shown]
        if len(r.failures) > len(shown):
            lines.append(f"... and {len(r.failures) - len(shown)} more")
        pytest.fail(f"{r.failed} of {r.passed + r.failed} commands failed"
                    + (f" ({r.crashed})" if r.crashed else "") + ":\n" + "\n".join(lines), pytrace=False)
    assert r.passed > 0 or r.skipped > 0


# The scripts where LLVM's optimiser can break wasm semantics (NaN bits under constant
# folding, trap ordering, deep recursion, huge frames, cross-module calls) also run at -O2,
# the engine's default level.  They cost about 6 s of CPU.
O2_NAMES = ("float_exprs", "float_misc", "float_memory", "conversions", "f32", "f64", "f32_bitwise",
            "f64_bitwise", "skip-stack-guard-page", "call", "fac", "address", "memory_trap", "linking",
            "left-to-right")
SCRIPTS_O2 = [p for p in SCRIPTS if p.stem in O2_NAMES]


@pytest.fixture(scope="module")
def results_o2() -> dict[Path, "spectest.ScriptResult"]:
    if not SCRIPTS_O2:
        pytest.skip(f"no spec testsuite at {ROOT}")
    return {r.path: r for r in spectest.run_scripts(SCRIPTS_O2, jobs=_jobs(), opt_level=2)}


@pytest.mark.parametrize("script", SCRIPTS_O2, ids=[f"O2-{p.stem}" for p in SCRIPTS_O2])
def test_script_optimised(script: Path, results_o2) -> None:
    test_script(script, results_o2)


@pytest.fixture(scope="module")
def results_first_tier() -> dict[Path, "spectest.ScriptResult"]:
    """The whole suite again, starting every module on first-tier code (calls through the
    function records, tier-up counters; hot functions tier up to -O2 while it runs)."""
    if not SCRIPTS:
        pytest.skip(f"no spec testsuite at {ROOT}")
    os.environ["WASIRUN_SPECTEST_TIER"] = "first"
    try:
        return {r.path: r for r in spectest.run_scripts(SCRIPTS, jobs=_jobs(), opt_level=2)}
    finally:
        del os.environ["WASIRUN_SPECTEST_TIER"]


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"first-{p.stem}" for p in SCRIPTS])
def test_script_first_tier(script: Path, results_first_tier) -> None:
    test_script(script, results_first_tier)


def test_suite_is_complete(results) -> None:
    """Every command of the core suite was judged: none lost, text modules only skipped."""
    if ROOT.resolve() != (REPO.parent / "shared" / "spectest").resolve():
        pytest.skip("custom WASIRUN_SPECTEST")
    passed = sum(r.passed for r in results.values())
    failed = sum(r.failed for r in results.values())
    skipped = sum(r.skipped for r in results.values())
    assert len(results) == 90
    assert passed + failed + skipped == 28018
    assert skipped == 581


def test_crash_fails_only_its_script(monkeypatch) -> None:
    """A child that dies on a signal fails its own script's commands and nothing else."""
    if not SCRIPTS:
        pytest.skip(f"no spec testsuite at {ROOT}")
    import signal
    from spectest_harness import pool
    victim, bystander = ROOT / "nop" / "nop.json", ROOT / "forward" / "forward.json"
    real = pool.run_script_inprocess

    def crashing(path, opt_level=0, log=None, suite="2.0", tier=None):
        if path == victim:
            log.write('{"start": 7}\n')
            log.flush()
            # The runtime's guard-page handler, installed once wasm has run in this process (an
            # earlier test), would take the signal for a wasm fault: die of it for real.
            signal.signal(signal.SIGSEGV, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(path, opt_level, log, suite, tier)

    monkeypatch.setattr(pool, "run_script_inprocess", crashing)
    crashed, fine = spectest.run_scripts([victim, bystander], jobs=2)
    assert crashed.passed == 0 and crashed.failed == 88
    assert "SIGSEGV" in crashed.crashed and "line 7" in crashed.crashed
    assert fine.failed == 0 and fine.passed == 5


# ============================================================================================
# The 3.0 suite: every script at -O0, the optimiser-sensitive ones again at -O2 (top tier),
# each compared with the expected-failures file.
# ============================================================================================

SUITE3 = spectest.suites.suite("3.0")
ROOT3 = SUITE3.root
SCRIPTS3 = SUITE3.collect([]) if ROOT3.is_dir() else []
EXPECTED3_FILE = REPO / "tests" / "spectest3_expected_failures.txt"
EXPECTED3 = spectest.expected.read(EXPECTED3_FILE) if EXPECTED3_FILE.is_file() else {}
REGENERATE = f"python scripts/spectest.py --suite 3.0 -O0 -j 2 --write-expected {EXPECTED3_FILE.relative_to(REPO)}"


@pytest.fixture(scope="module")
def results3() -> dict[Path, "spectest.ScriptResult"]:
    if not SCRIPTS3:
        pytest.skip(f"no 3.0 spec testsuite at {ROOT3}")
    return {r.path: r for r in spectest.run_scripts(SCRIPTS3, jobs=_jobs(), opt_level=0, suite="3.0",
                                                    tier="top")}


def _check_expected(script: Path, results) -> None:
    r = results[script]
    want = EXPECTED3.get(script.stem, 0)
    if r.failed > want:
        shown = r.failures[:25]
        lines = [f"{r.wast}:{f.line} {f.kind}: {f.reason}" for f in shown]
        if len(r.failures) > len(shown):
            lines.append(f"... and {len(r.failures) - len(shown)} more")
        pytest.fail(f"{r.failed} of {r.passed + r.failed} commands failed, {want} expected (a regression)"
                    + (f" ({r.crashed})" if r.crashed else "") + ":\n" + "\n".join(lines), pytrace=False)
    if r.failed < want:
        pytest.fail(f"{r.failed} commands failed, {want} expected: progress! Regenerate the expected failures "
                    f"with: {REGENERATE}", pytrace=False)
    assert r.passed + r.failed + r.skipped > 0


@pytest.mark.parametrize("script", SCRIPTS3, ids=[f"3.0-{p.stem}" for p in SCRIPTS3])
def test_script3(script: Path, results3) -> None:
    _check_expected(script, results3)


# Again at -O2, top tier and starting on the first tier. Besides the 2.0 ones: tail calls
# (musttail), exceptions (unwinding through optimised frames), relaxed SIMD (constant folding
# must still give one of the allowed results), memory64 and multi-memory bounds checks and
# addressing (LLVM may hoist or merge them).
O2_NAMES3 = O2_NAMES + ("return_call", "return_call_indirect", "return_call_ref", "try_table", "throw",
                        "throw_ref", "call_ref", "relaxed_min_max", "relaxed_madd_nmadd", "relaxed_dot_product",
                        "relaxed_laneselect", "i8x16_relaxed_swizzle", "i16x8_relaxed_q15mulr_s",
                        "i32x4_relaxed_trunc", "address64", "memory_trap64", "float_memory64", "address0",
                        "address1", "memory_trap0", "memory_trap1", "float_memory0", "float_exprs0",
                        "float_exprs1")
SCRIPTS3_O2 = [p for p in SCRIPTS3 if p.stem in O2_NAMES3]


@pytest.fixture(scope="module")
def results3_o2() -> dict[Path, "spectest.ScriptResult"]:
    if not SCRIPTS3_O2:
        pytest.skip(f"no 3.0 spec testsuite at {ROOT3}")
    return {r.path: r for r in spectest.run_scripts(SCRIPTS3_O2, jobs=_jobs(), opt_level=2, suite="3.0",
                                                    tier="top")}


@pytest.mark.parametrize("script", SCRIPTS3_O2, ids=[f"3.0-O2-{p.stem}" for p in SCRIPTS3_O2])
def test_script3_optimised(script: Path, results3_o2) -> None:
    _check_expected(script, results3_o2)


@pytest.fixture(scope="module")
def results3_first_tier() -> dict[Path, "spectest.ScriptResult"]:
    """The same scripts starting on first-tier code (calls through the function records, where
    tail calls and unwinding meet tier-up), hot functions tiering up to -O2."""
    if not SCRIPTS3_O2:
        pytest.skip(f"no 3.0 spec testsuite at {ROOT3}")
    return {r.path: r for r in spectest.run_scripts(SCRIPTS3_O2, jobs=_jobs(), opt_level=2, suite="3.0",
                                                    tier="first")}


@pytest.mark.parametrize("script", SCRIPTS3_O2, ids=[f"3.0-first-{p.stem}" for p in SCRIPTS3_O2])
def test_script3_first_tier(script: Path, results3_first_tier) -> None:
    _check_expected(script, results3_first_tier)


def test_suite3_is_complete(results3) -> None:
    """Every command of the 3.0 suite was judged or skipped for a stated reason: the GC scripts
    by name, text-format assertions, and the few commands of other scripts that need GC."""
    if ROOT3.resolve() != (REPO.parent / "shared" / "spectest3").resolve():
        pytest.skip("custom WASIRUN_SPECTEST3")
    rs = list(results3.values())
    assert len(rs) == 260
    assert sum(r.passed + r.failed + r.skipped for r in rs) == 65212
    whole = {r.name: r.skipped for r in rs if r.skipped_whole}
    assert set(whole) == spectest.suites.GC_SCRIPTS and sum(whole.values()) == 879
    reasons = [why for r in rs if not r.crashed for _, _, why in r.skips]
    text = sum(why.startswith("text module") for why in reasons)
    gc = {(r.name, line) for r in rs for line, _, why in r.skips if why.startswith("needs GC")}
    assert text + len(gc) == len(reasons)
    assert text == 1247          # assert_malformed(_custom) of .wat modules outside the GC scripts
    # table_init(64): a module with an arrayref table and its assert_return; tag: rec-group types.
    assert gc == {("table_init", 2272), ("table_init", 2286), ("table_init64", 2457), ("table_init64", 2471),
                  ("tag", 30), ("tag", 38), ("tag", 40), ("tag", 49), ("tag", 60)}


def test_expected_failures_file_names_real_scripts() -> None:
    names = {p.stem for p in SCRIPTS3}
    if not names:
        pytest.skip(f"no 3.0 spec testsuite at {ROOT3}")
    assert set(EXPECTED3) <= names - spectest.suites.GC_SCRIPTS


def test_expected_failures_round_trip(tmp_path) -> None:
    """--write-expected of a few scripts updates just their lines; compare names both directions."""
    R = spectest.ScriptResult
    path = tmp_path / "expected.txt"
    spectest.expected.write(path, [R(Path("a.json"), failed=3), R(Path("b.json"), failed=0),
                                   R(Path("c.json"), failed=5)], ["header"])
    assert path.read_text() == "# header\na 3\nc 5\n"
    spectest.expected.write(path, [R(Path("c.json"), failed=1), R(Path("d.json"), failed=2)], ["new"], partial=True)
    assert path.read_text() == "# header\na 3\nc 1\nd 2\n"
    got = spectest.expected.compare([R(Path("a.json"), failed=4), R(Path("c.json"), failed=0),
                                     R(Path("d.json"), failed=2), R(Path("e.json"), failed=0)],
                                    spectest.expected.read(path))
    assert [(m.script, m.failed, m.expected) for m in got] == [("a", 4, 3), ("c", 0, 1)]
    assert "regression" in got[0].describe() and "regenerate" in got[1].describe()


# --- the harness's own 3.0 rules, on a script written for them ---------------------------------

HARNESS_WAST = REPO / "tests" / "spectest_harness" / "harness.wast"


def test_harness_judges_3_0_commands(tmp_path) -> None:
    """module_definition/module_instance, either, reference patterns, text modules, assert_exception,
    dependents of a failed module and of a GC one: each command's outcome is the mark on its line."""
    import re
    import shutil
    import subprocess
    from runner import errors
    if shutil.which("wasm-tools") is None:
        pytest.skip("wasm-tools is not installed")
    out = tmp_path / "harness"
    out.mkdir()
    subprocess.run(["wasm-tools", "json-from-wast", str(HARNESS_WAST), "-o", str(out / "harness.json"),
                    "--wasm-dir", str(out)], check=True, capture_output=True)
    exceptions = "pass" if hasattr(errors, "WasmException") else "FAIL"
    marks = {}
    for n, line in enumerate(HARNESS_WAST.read_text().splitlines(), 1):
        m = re.search(r";; (pass once exceptions land|pass|FAIL|skip)$", line)
        if m:
            marks[n] = exceptions if m.group(1).startswith("pass once") else m.group(1)
    (r,) = spectest.run_scripts([out / "harness.json"], jobs=1, suite="3.0")
    got = {f.line: "FAIL" for f in r.failures}
    got.update({line: "skip" for line, _, _ in r.skips})
    lines = [c["line"] for c in spectest.load_commands(out / "harness.json")]
    got = {line: got.get(line, "pass") for line in lines}
    assert set(lines) == set(marks), "every command has a mark"
    assert got == marks
    causes = {f.line: f.cause for f in r.failures}
    assert "unreachable" in causes[74] and "unreachable" in causes[76]   # the failed module's trap
