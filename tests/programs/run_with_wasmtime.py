"""Run a WASI program under wasmtime (the reference) the way `wasmtime run` would.

    python -m tests.programs.run_with_wasmtime [--dir HOST::GUEST] [--env K=V] prog.wasm [args...]
    python -m tests.programs.run_with_wasmtime --check     # expected.py still matches wasmtime?
    python -m tests.programs.run_with_wasmtime --record    # rewrite expected.py's outcomes

Exit statuses follow the wasmtime CLI: the guest's status for proc_exit(0..125), 1 for
an invalid status (>= 126), 134 (SIGABRT) for a trap.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from . import harness

MEMORY_LIMIT = 4 << 30


def run(wasm: str | Path, args=(), env=None, dirs=(), stdin: bytes = b"") -> harness.Outcome:
    """Run ``wasm`` as a WASI command; stdout/stderr are captured, never inherited."""
    import wasmtime

    with tempfile.TemporaryDirectory() as io_dir:
        io = Path(io_dir)
        (io / "stdin").write_bytes(stdin)
        config = wasmtime.WasiConfig()
        config.argv = [str(wasm), *args]
        config.env = [[k, v] for k, v in (env or {}).items()]
        for host, guest in dirs:
            config.preopen_dir(str(host), guest)
        config.stdin_file = str(io / "stdin")
        config.stdout_file = str(io / "stdout")
        config.stderr_file = str(io / "stderr")

        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        store.set_wasi(config)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        module = wasmtime.Module.from_file(engine, str(wasm))
        exit_code, message = 0, ""
        try:
            linker.instantiate(store, module).exports(store)["_start"](store)
        except wasmtime.ExitTrap as exit_:
            exit_code = exit_.code
        except wasmtime.Trap as trap:
            exit_code, message = 134, f"Error: {trap.message}\n"
        except wasmtime.WasmtimeError as err:
            # proc_exit(>= 126) is an error in wasmtime, and the CLI exits 1.
            exit_code, message = 1, f"Error: {err}\n"
        return harness.Outcome((io / "stdout").read_bytes(), (io / "stderr").read_bytes(),
                               exit_code, message)


def run_case(program: str, case: dict) -> harness.Outcome:
    """Run one case of expected.py; raises if it breaks the case's ``host_after``."""
    with tempfile.TemporaryDirectory() as tmp:
        dirs = harness.prepare(case, Path(tmp))
        outcome = run(harness.wasm_path(program), case.get("args", []), case.get("env", {}),
                      dirs, harness.stdin_bytes(case))
        problems = harness.host_mismatches(case, Path(tmp))
        if problems:
            raise AssertionError(f"{program}: " + "; ".join(problems))
        return outcome


def record(cases: dict) -> dict:
    """The cases with stdout/stderr/exit_code replaced by what wasmtime does now."""
    fresh = {}
    for program, program_cases in cases.items():
        fresh[program] = []
        for case in program_cases:
            outcome = run_case(program, case)
            new = {k: v for k, v in case.items()
                   if k not in ("stdout", "stdout_size", "stdout_sha256", "stdout_head", "stderr", "exit_code")}
            new.update(harness.describe_stdout(outcome.stdout))
            new["stderr"] = outcome.stderr.decode("utf-8", "replace")
            new["exit_code"] = outcome.exit_code
            fresh[program].append(new)
    return fresh


def write_expected(cases: dict, path: Path) -> None:
    header, _, _ = path.read_text().partition("PROGRAMS = {")
    lines = [header.rstrip() + "\n\nPROGRAMS = {"]
    for program, program_cases in cases.items():
        lines.append(f"    {program!r}: [")
        for case in program_cases:
            lines.append("        {")
            lines += [f"            {key!r}: {value!r}," for key, value in case.items()]
            lines.append("        },")
        lines.append("    ],")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", action="append", default=[], metavar="HOST::GUEST")
    parser.add_argument("--env", action="append", default=[], metavar="K=V")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("wasm", nargs="?")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)

    if opts.check or opts.record:
        from .expected import PROGRAMS
        harness.build()
        if opts.record:
            write_expected(record(PROGRAMS), Path(__file__).with_name("expected.py"))
            return 0
        failures = 0
        for program, cases in PROGRAMS.items():
            for i, case in enumerate(cases):
                problems = harness.output_mismatches(case, run_case(program, case))
                failures += bool(problems)
                print(f"{program}[{i}]: {'ok' if not problems else '; '.join(problems)}")
        return 1 if failures else 0

    if not opts.wasm:
        parser.error("a .wasm file is required")
    dirs = [tuple(d.split("::", 1)) if "::" in d else (d, d) for d in opts.dir]
    env = dict(kv.split("=", 1) for kv in opts.env)
    outcome = run(opts.wasm, opts.args, env, dirs, sys.stdin.buffer.read() if not sys.stdin.isatty() else b"")
    os.write(1, outcome.stdout)
    os.write(2, outcome.stderr + outcome.error.encode())
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
