"""Run a WASI program under wasmtime (the reference) the way `wasmtime run` would.

    python -m tests.programs.run_with_wasmtime [--dir HOST::GUEST] [--env K=V] prog.wasm [args...]
    python -m tests.programs.run_with_wasmtime --check     # expected.py still matches wasmtime?
    python -m tests.programs.run_with_wasmtime --record    # rewrite expected.py's outcomes

With ``--host wasirun`` wasmtime only executes the wasm: the WASI imports are wasirun's
host functions (``wasi.WASI_FUNCTIONS``), which tests the host layer end to end on real
programs without wasirun's JIT.

Exit statuses follow the wasmtime CLI: the guest's status for proc_exit(0..125), 1 for
an invalid status (>= 126), 134 (SIGABRT) for a trap.
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import os
import sys
import tempfile
from pathlib import Path

from . import harness


@functools.lru_cache(maxsize=None)
def _compiled(path: str, mtime: float):
    import wasmtime

    engine = wasmtime.Engine()
    return engine, wasmtime.Module.from_file(engine, path)


class _WasmtimeMemory:
    """wasirun's ``ctx.memory`` contract (``view()``) over a wasmtime memory."""

    def __init__(self, store, memory):
        self.store, self.memory = store, memory

    def view(self) -> memoryview:
        size = self.memory.data_len(self.store)
        base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
        return memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")


def _link_wasirun_host(linker, ctx) -> None:
    import wasmtime

    from wasi import WASI_FUNCTIONS

    types = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
    for func in WASI_FUNCTIONS.values():
        def call(*args, _impl=func.impl, _params=func.params):
            # The runtime contract: arguments arrive unsigned.
            return _impl(ctx, *(a % (1 << (32 if t == "i32" else 64)) for t, a in zip(_params, args)))
        linker.define_func(func.module, func.name,
                           wasmtime.FuncType([types[t] for t in func.params],
                                             [types[t] for t in func.results]), call)


def run(wasm: str | Path, args=(), env=None, dirs=(), stdin: bytes = b"",
        host: str = "wasmtime") -> harness.Outcome:
    """Run ``wasm`` as a WASI command; stdout/stderr are captured, never inherited.

    ``host`` picks whose WASI implementation serves the imports: "wasmtime" or "wasirun".
    """
    import wasmtime

    with tempfile.TemporaryDirectory() as io_dir:
        io = Path(io_dir)
        (io / "stdin").write_bytes(stdin)
        argv = [str(wasm), *args]
        engine, module = _compiled(str(wasm), os.path.getmtime(wasm))
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        ctx = None
        if host == "wasirun":
            import wasi

            ctx = wasi.WasiCtx(wasi.WasiConfig(
                args=argv, env=list((env or {}).items()), preopens=list(dirs),
                stdin=io / "stdin", stdout=io / "stdout", stderr=io / "stderr"))
            _link_wasirun_host(linker, ctx)
        else:
            config = wasmtime.WasiConfig()
            config.argv = argv
            config.env = [[k, v] for k, v in (env or {}).items()]
            for host_dir, guest in dirs:
                config.preopen_dir(str(host_dir), guest)
            config.stdin_file = str(io / "stdin")
            config.stdout_file = str(io / "stdout")
            config.stderr_file = str(io / "stderr")
            store.set_wasi(config)
            linker.define_wasi()
        exit_code, message = 0, ""
        try:
            instance = linker.instantiate(store, module)
            exports = instance.exports(store)
            if ctx is not None:
                ctx.memory = _WasmtimeMemory(store, exports["memory"])
            exports["_start"](store)
        except wasmtime.ExitTrap as exit_:
            exit_code = exit_.code
        except wasmtime.Trap as trap:
            exit_code, message = 134, f"Error: {trap.message}\n"
        except wasmtime.WasmtimeError as err:
            # proc_exit(>= 126) is an error in wasmtime, and the CLI exits 1.
            exit_code, message = 1, f"Error: {err}\n"
        except Exception as exc:
            if type(exc).__name__ != "ProcExit":      # wasirun's host: anything else is a bug
                raise
            exit_code = exc.code if exc.code < 126 else 1
            message = "" if exc.code < 126 else "Error: exit with invalid exit status outside of [0..126)\n"
        finally:
            if ctx is not None:
                ctx.close()
        return harness.Outcome((io / "stdout").read_bytes(), (io / "stderr").read_bytes(),
                               exit_code, message)


def run_case(program: str, case: dict, host: str = "wasmtime") -> harness.Outcome:
    """Run one case of expected.py; raises if it breaks the case's ``host_after``."""
    with tempfile.TemporaryDirectory() as tmp:
        dirs = harness.prepare(case, Path(tmp))
        outcome = run(harness.wasm_path(program), case.get("args", []), case.get("env", {}),
                      dirs, harness.stdin_bytes(case), host)
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
    parser.add_argument("--host", choices=["wasmtime", "wasirun"], default="wasmtime",
                        help="whose WASI host serves the imports (wasmtime always runs the wasm)")
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
                problems = harness.output_mismatches(case, run_case(program, case, opts.host))
                failures += bool(problems)
                print(f"{program}[{i}]: {'ok' if not problems else '; '.join(problems)}")
        return 1 if failures else 0

    if not opts.wasm:
        parser.error("a .wasm file is required")
    dirs = [tuple(d.split("::", 1)) if "::" in d else (d, d) for d in opts.dir]
    env = dict(kv.split("=", 1) for kv in opts.env)
    stdin = sys.stdin.buffer.read() if not sys.stdin.isatty() else b""
    outcome = run(opts.wasm, opts.args, env, dirs, stdin, opts.host)
    os.write(1, outcome.stdout)
    os.write(2, outcome.stderr + outcome.error.encode())
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
