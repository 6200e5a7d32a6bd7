"""The Rust test programs (tests/programs) end to end on wasirun's WASI host.

wasmtime executes the wasm; every WASI import is served by ``wasi.WASI_FUNCTIONS``.
Each case must give what expected.py recorded under wasmtime's own WASI host; the
same cases also run on wasmtime's host, so a stale table shows up as a failure there.
"""
from pathlib import Path

import pytest

from tests.programs import harness
from tests.programs.expected import PROGRAMS

wasmtime = pytest.importorskip("wasmtime")
run_with_wasmtime = pytest.importorskip("tests.programs.run_with_wasmtime")
CASES = harness.case_ids(PROGRAMS)


@pytest.fixture(scope="module", autouse=True)
def built():
    reason = harness.build_or_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("host", ["wasirun", "wasmtime"])
@pytest.mark.parametrize("program,index,case", CASES, ids=[f"{p}-{i}" for p, i, _ in CASES])
def test_program(host, program, index, case, tmp_path: Path):
    dirs = harness.prepare(case, tmp_path)
    outcome = run_with_wasmtime.run(harness.wasm_path(program), case.get("args", []),
                                    case.get("env", {}), dirs, harness.stdin_bytes(case), host)
    problems = harness.output_mismatches(case, outcome) + harness.host_mismatches(case, tmp_path)
    assert not problems, "\n".join(problems)
