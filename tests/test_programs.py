"""The Rust test programs (tests/programs) run by the wasirun CLI, compared with what
wasmtime does (tests/programs/expected.py):

    wasirun --dir HOST::GUEST --env K=V prog.wasm args...

Only stdout, the guest's own stderr (a prefix: wasirun may add a trap message) and the
exit status are compared, plus the host files a case names in ``host_after``.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.programs import harness
from tests.programs.expected import PROGRAMS

ROOT = Path(__file__).resolve().parents[1]

CASES = harness.case_ids(PROGRAMS)
TIMEOUT = 120


@pytest.fixture(scope="module", autouse=True)
def built():
    reason = harness.build_or_skip_reason()
    if reason:
        pytest.skip(reason)


def wasirun_command(program: str, case: dict, dirs: list[tuple[str, str]]) -> list[str]:
    command = [sys.executable, "-m", "runner.cli"]
    for host, guest in dirs:
        command += ["--dir", f"{host}::{guest}"]
    for key, value in case.get("env", {}).items():
        command += ["--env", f"{key}={value}"]
    return command + [str(harness.wasm_path(program)), *case.get("args", [])]


@pytest.mark.parametrize("program,index,case", CASES, ids=[f"{p}-{i}" for p, i, _ in CASES])
def test_program(program, index, case, tmp_path: Path):
    dirs = harness.prepare(case, tmp_path)
    result = subprocess.run(wasirun_command(program, case, dirs), input=harness.stdin_bytes(case),
                            capture_output=True, cwd=ROOT, timeout=TIMEOUT)
    outcome = harness.Outcome(result.stdout, result.stderr, result.returncode)
    problems = harness.output_mismatches(case, outcome) + harness.host_mismatches(case, tmp_path)
    assert not problems, "\n".join(problems)
