"""``wasirun [OPTIONS] FILE.wasm [ARGS]...`` — the command line, following ``wasmtime run``.

Only argument handling and exit-status mapping live here; the work is done by
``runner.api`` (compile, instantiate) and ``wasi`` (the host).

Exit status: the guest's ``proc_exit`` code (0..125), 0 when ``_start`` returns,
134 on a trap (as wasmtime on Unix: SIGABRT's status), 1 for load/link errors and
for exit codes >= 126, 2 for usage errors.
"""
from __future__ import annotations

import gc

#: gc's generation-0 threshold while wasirun starts: it allocates some 20k objects that live as
#: long as the process (modules, classes, functions), over which the default threshold (700)
#: ran ~30 collections (~4 ms of a warm hello.wasm).  A cold compile still collects.  Raised
#: as soon as this module is imported (it is the program: embedders use runner.api), so that
#: click's, wasi's and the data classes' imports run under it too (~20 collections, ~2 ms);
#: lowering it again before the run would collect everything imported at once (~2.6 ms), so
#: the default comes back only when start-up is done (``_start_up_done``).
START_GC_THRESHOLD = 50_000
_default_gc_threshold = gc.get_threshold()
gc.set_threshold(START_GC_THRESHOLD, *_default_gc_threshold[1:])

import os   # noqa: E402  (after the threshold: imports are most of a warm start's allocations)
import re   # noqa: E402
import sys  # noqa: E402

import click  # noqa: E402

from wasi.perms import DirPerms, FilePerms

from . import __version__

from .errors import DecodeError, LinkError, Trap, TrapKind, ValidationError, WasmError, WasmException

EXIT_TRAP = 134

EXAMPLES = """
\b
Examples:
  wasirun examples/fib.wasm                      run a WASI command
  wasirun --dir data::/data prog.wasm in.txt     preopen ./data as /data for the guest
  wasirun --env RUST_BACKTRACE=1 --env HOME prog.wasm
  wasirun --invoke add math.wasm 1 2             call an export, print its results
  wasirun --dir lib::/usr/local/lib::ro prog.wasm  a read-only preopen
  wasirun -W unknown-imports-default=y --invoke run reactor.wasm
                                                 _initialize, then run; unknown imports return 0
  perf record -k mono wasirun --jitdump fib.wasm  then: perf inject --jit -i perf.data -o perf.jit.data
  scripts/profile.sh -- examples/fib.wasm        record + inject + report in one step
"""


def _fail(message: str, status: int = 1) -> "None":
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()
    os._exit(status) if os.environ.get("WASIRUN_HARD_EXIT") else sys.exit(status)


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?i?b?)?\s*", text, re.I)
    if not m:
        raise click.BadParameter(f"not a size: {text!r} (use e.g. 64MiB, 1G, 65536)")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise click.BadParameter(f"not a duration: {text!r} (use e.g. 2s, 500ms, 1m)", param_hint="--timeout")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


READ_ONLY = ("ro", "readonly")


def _split_dir(spec: str) -> tuple[str, str, bool]:
    """HOST[::GUEST[::ro]] -> (host, guest, read-only).  wasmtime 49 has only HOST[::GUEST];
    the ``::ro`` suffix is the form its maintainers proposed (wasmtime issue 9608)."""
    parts = spec.split("::")
    if len(parts) == 3 and parts[2] in READ_ONLY:
        return parts[0], parts[1], True
    host, sep, guest = spec.partition("::")
    return (host, guest, False) if sep else (spec, spec, False)


#: -W options (wasmtime's spelling): what unknown function imports become.
W_OPTIONS = ("unknown-imports-default", "unknown-imports-trap")


def parse_w(specs) -> dict[str, bool]:
    out = {}
    for spec in specs:
        for item in spec.split(","):
            key, sep, val = item.partition("=")
            if key not in W_OPTIONS:
                raise click.BadParameter(f"unknown -W option {key!r}: wasirun supports {', '.join(W_OPTIONS)}",
                                         param_hint="-W")
            if sep and val not in ("y", "n", "yes", "no", "true", "false"):
                raise click.BadParameter(f"-W {key} takes y or n, not {val!r}", param_hint="-W")
            out[key] = not sep or val in ("y", "yes", "true")
    return out


@click.command(context_settings={"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]},
               epilog=EXAMPLES)
@click.argument("wasm_file", metavar="FILE.wasm", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--dir", "dirs", multiple=True, metavar="HOST[::GUEST[::ro]]",
              help="Preopen host directory HOST for the guest, as GUEST (default: the same path); "
                   "::ro makes it read-only, with everything beneath it.")
@click.option("--env", "envs", multiple=True, metavar="NAME[=VAL]",
              help="Set NAME=VAL in the guest's environment; a bare NAME inherits the host's value.")
@click.option("--argv0", metavar="NAME", help="argv[0] for the guest (default: the file's name).")
@click.option("--invoke", metavar="NAME", help="Call export NAME with ARGS parsed by its signature; print the results "
              "(after `_initialize`, when the module exports it).")
@click.option("-W", "wasm_opts", multiple=True, metavar="KEY[=y|n]",
              help="unknown-imports-default: function imports nothing defines return zeros/null; "
                   "unknown-imports-trap: they fail when called (as wasmtime -W).")
@click.option("-O", "--opt-level", "opt_level", type=click.IntRange(0, 3), default=2, show_default=True,
              help="The top tier's LLVM optimisation level (0: first-tier code only).")
@click.option("--no-tiering", "no_tiering", is_flag=True,
              help="Compile every function at the top tier before running (benchmarks, profiles); "
                   "default: start on first-tier code, hot functions tier up in the background.")
@click.option("-g", "--debug-info", "debug_info", is_flag=True,
              help="Line tables for JIT code: perf srcline/annotate show source lines; traps show file:line.")
@click.option("--jitdump", is_flag=True, help="Write jit-<pid>.dump for `perf inject --jit` (same as --profile=jitdump).")
@click.option("--perfmap", is_flag=True, help="Write /tmp/perf-<pid>.map (same as --profile=perfmap).")
@click.option("--profile", metavar="jitdump|perfmap|guest[,PATH[,INTERVAL]]",
              help="Profiling agent to enable; guest: sample wasm stacks in-process every INTERVAL "
                   "(default 1ms) into PATH (.json Firefox Profiler, .svg, .folded; "
                   "default wasirun-guest-profile.json).")
@click.option("--max-memory", "max_memory", metavar="SIZE", help="Largest size a linear memory may grow to, e.g. 512MiB.")
@click.option("--max-wasm-stack", "max_wasm_stack", metavar="SIZE", default="4MiB", show_default=True,
              help="Native stack wasm code may use before trapping with 'call stack exhausted'.")
@click.option("--fuel", type=click.IntRange(min=0), metavar="N",
              help="Trap with 'all fuel consumed' after about N wasm instructions.")
@click.option("--timeout", metavar="DURATION", help="Trap with 'interrupt' after DURATION (e.g. 2s, 500ms, 1m).")
@click.option("--inline", is_flag=True, help="Let LLVM inline wasm functions into each other (faster, coarser profiles).")
@click.option("--no-cache", "no_cache", is_flag=True, help="Do not read or write the compiled-code cache.")
@click.option("--timings", is_flag=True, help="Print compile and run times to stderr.")
@click.option("--trace-wasi", "trace_wasi", is_flag=True,
              help="Print every WASI call, its arguments and its result to stderr.")
@click.version_option(__version__, prog_name="wasirun")
def run(wasm_file, args, dirs, envs, argv0, invoke, wasm_opts, opt_level, no_tiering, debug_info, jitdump, perfmap, profile,
         max_memory, max_wasm_stack, fuel, timeout, inline, no_cache, timings, trace_wasi):
    """Run a WebAssembly (WASI preview1) program compiled to native code through LLVM.

    Options go before FILE.wasm; everything after it is passed to the program.
    """
    import time
    t_start = time.perf_counter()
    guest_spec = None
    if profile is not None and profile.split(",")[0] == "guest":
        from .profiling.guest import ProfileSpec
        try:
            guest_spec = ProfileSpec.parse(profile)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--profile") from None
        profile = "guest"
    elif profile not in (None, "jitdump", "perfmap"):
        raise click.BadParameter(f"unknown profiler {profile!r}: use jitdump, perfmap or guest[,PATH[,INTERVAL]]",
                                 param_hint="--profile")
    profiler = profile or ("jitdump" if jitdump else "perfmap" if perfmap else None)
    if jitdump and perfmap:
        raise click.UsageError("--jitdump and --perfmap are exclusive")

    env: list[tuple[str, str]] = []
    for e in envs:
        name, sep, val = e.partition("=")
        if not name:
            raise click.BadParameter(f"bad --env {e!r}", param_hint="--env")
        if not sep:
            if name not in os.environ:
                continue  # like wasmtime: inheriting an unset variable sets nothing
            val = os.environ[name]
        env.append((name, val))
    unknown_imports = parse_w(wasm_opts)
    preopens = []
    for d in dirs:
        host, guest, read_only = _split_dir(d)
        if not os.path.isdir(host):
            _fail(f"failed to open directory `{host}` given to --dir: no such directory")
        preopens.append((host, guest) + ((DirPerms.READ, FilePerms.READ) if read_only else ()))

    from .api import Config
    from .loader import ImageError
    from .linker import Linker, UnknownImportError
    from wasi import ProcExit, WasiConfig

    try:
        wasm = open(wasm_file, "rb").read()
    except OSError as exc:
        _fail(f"failed to read `{wasm_file}`: {exc.strerror}")

    config = Config(opt_level=opt_level, profiler=profiler, debug_info=debug_info, cache=not no_cache,
                    inline=inline, max_memory=parse_size(max_memory) if max_memory else None,
                    max_wasm_stack=parse_size(max_wasm_stack), fuel=fuel,
                    interruptible=timeout is not None, tiering=not no_tiering, progress=True)
    if guest_spec is not None:
        config.guest_profile, config.guest_interval = guest_spec.path, guest_spec.interval
    seconds = parse_duration(timeout) if timeout is not None else None
    engine = _engine(config)
    timer = None
    name = os.path.basename(wasm_file)
    status = 0
    # Decoding and instantiating make long-lived objects by the hundred thousand (Yosys: a
    # body, a Function, type records per function); the cyclic GC's collections kept walking
    # them (~35 % of a warm Yosys run's CPU, most of it the collection at exit). Paused until
    # the instance exists, then everything alive is moved out of the GC's sight (gc.freeze).
    gc.disable()
    try:
        from .cwasm import CwasmError, is_cwasm
        try:
            if is_cwasm(wasm):
                compiled = engine.deserialize_file(wasm_file, name=name)
            else:
                compiled = engine.compile(wasm, name=name, source_path=os.path.abspath(wasm_file))
        except CwasmError as exc:
            _fail(str(exc))
        t_compiled = time.perf_counter()
        guest_args = [argv0 or name] + list(args) if not invoke else [argv0 or name]
        # Ctrl-C must stop a guest stuck in a loop: Python's own SIGINT handler would only set a
        # flag that wasm code never checks, so the default action (end the process) is restored.
        # Nothing is lost: WASI output is written unbuffered.
        import signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if seconds is not None:
            import threading
            timer = threading.Timer(seconds, engine.interrupt)
            timer.daemon = True
            timer.start()
        linker = Linker(engine)
        linker.define_wasi(WasiConfig(args=guest_args, env=env, preopens=preopens),
                           trace=_trace_line if trace_wasi else None)
        if unknown_imports.get("unknown-imports-trap"):
            linker.define_unknown_imports_as_traps()
        if unknown_imports.get("unknown-imports-default"):
            linker.define_unknown_imports_as_default_values()
        instance = linker.instantiate(compiled, initialize=False)
        gc.enable()
        _start_up_done()
        init = instance.exports.get("_initialize")
        if init is not None and hasattr(init, "call_raw"):
            init.call_raw([])    # as wasmtime run: a reactor's (or a command's) _initialize first
        if invoke:
            func = instance.exports.get(invoke)
            if func is None or not hasattr(func, "call_raw"):
                _fail(f"failed to find export `{invoke}` (a function) in `{name}`")
            params = func.type.params
            if len(args) != len(params):
                _fail(f"export `{invoke}` takes {len(params)} arguments, {len(args)} given")
            values = [_parse_arg(t, a) for t, a in zip(params, args)]
            results = func(*values)
            for r in (results if isinstance(results, list) else ([] if results is None else [results])):
                print(r)
        else:
            start = instance.exports.get("_start")
            if start is None or not hasattr(start, "call_raw"):
                _fail(f"`{name}` has no `_start` function: not a WASI command (try --invoke NAME)")
            start.call_raw([])
    except ProcExit as exc:
        status = exc.code
        if status >= 126:
            sys.stderr.write(f"Error: exit with invalid exit status outside of [0..126): {status}\n")
            status = 1
    except Trap as trap:
        note = f" (timed out after {timeout})" if trap.kind == TrapKind.INTERRUPT and timeout else ""
        msg = f"Error: failed to run main module `{name}`: {trap}{note}\n"
        bt = trap.backtrace()
        sys.stderr.write(msg + (bt + "\n" if bt else ""))
        status = EXIT_TRAP
    except WasmException as exc:   # uncaught: the tag, the values and where it was thrown
        bt = exc.backtrace()
        _fail(f"failed to run main module `{name}`: {exc}" + ("\n" + bt if bt else ""))
    except (DecodeError, ValidationError) as exc:
        _fail(f"failed to compile `{name}`: {exc}")
    except UnknownImportError as exc:
        _fail(f"failed to run main module `{name}`: {exc}")
    except LinkError as exc:
        _fail(f"failed to instantiate `{name}`: {exc}")
    except WasmError as exc:
        _fail(f"`{name}`: {exc}")
    except MemoryError as exc:
        _fail(f"`{name}`: out of memory: {exc}")
    except ImageError as exc:
        _fail(f"`{name}`: cannot load its compiled code: {exc}")
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        _fail(_internal_error(exc))
    finally:
        if timer is not None:
            timer.cancel()
        _close(engine)
    if timings:
        s = compiled.stats if "compiled" in locals() else None
        if s is not None:
            sys.stderr.write(f"wasirun: decode {s.decode:.3f}s validate {s.validate:.3f}s "
                             f"compile {s.compile:.3f}s cached={s.cached} total-before-run "
                             f"{(t_compiled - t_start):.3f}s run {time.perf_counter() - t_compiled:.3f}s\n")
            code = compiled.code
            if code.lazy_stats[0]:
                b, n, secs = code.lazy_stats
                sys.stderr.write(f"wasirun: compiled on first call: {n} functions in {b} batches, {secs:.3f}s\n")
    sys.stdout.flush()
    sys.exit(status)


def _start_up_done() -> None:
    """The guest runs with Python's default collector, everything start-up made left out of it."""
    gc.freeze()
    gc.set_threshold(*_default_gc_threshold)


def _engine(config):
    """An Engine, or one line when its setup fails for a reason of this host (an
    unwritable --jitdump/--perfmap file, no room for the guest profiler's buffer)."""
    from .api import Engine
    try:
        return Engine(config)
    except OSError as exc:
        what = f"--profile={config.profiler}" if config.profiler else "the engine"
        _fail(f"cannot set up {what}: {_os_text(exc)}")


def _close(engine) -> None:
    """Engine.close (writes profiles): a failure is one line, after the guest's own output."""
    try:
        engine.close()
    except OSError as exc:
        _fail(f"cannot write the profile: {_os_text(exc)}")


def _os_text(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else None
    reason = exc.strerror or str(exc)
    return f"`{name}`: {reason}" if name else reason


def _trace_line(line: str) -> None:
    sys.stderr.write(f"wasi: {line}\n")


def _internal_error(exc: BaseException) -> str:
    """One line for a wasirun bug; the traceback goes to a file the line names."""
    import tempfile
    import traceback
    try:
        fd, path = tempfile.mkstemp(prefix="wasirun-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exception(exc, file=f)
        where = f"details in {path}"
    except OSError:
        where = "no details written"
    return f"internal error (a wasirun bug, please report it): {type(exc).__name__}: {exc} ({where})"


def _parse_arg(t: int, text: str):
    from .binary.module import F32, F64, I32, I64, V128
    try:
        if t in (I32, I64):
            return int(text, 0)
        if t == V128:     # as wasmtime: an unsigned 128-bit integer (lane 0 in the low bits); 0x… too
            value = int(text, 0)
            if not 0 <= value < 1 << 128:
                raise ValueError(text)
            return value
        if t in (F32, F64):
            return float(text)
    except ValueError:
        _fail(f"cannot parse {text!r} as {({I32: 'i32', I64: 'i64', F32: 'f32', F64: 'f64', V128: 'v128'}).get(t, '?')}", 2)
    _fail("--invoke supports only numeric parameters", 2)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("wasm_file", metavar="FILE.wasm", type=click.Path(dir_okay=False))
@click.option("-o", "--output", metavar="FILE.cwasm",
              help="Write the compiled module to FILE.cwasm (run it with `wasirun FILE.cwasm`) "
                   "instead of into the cache.")
@click.option("-O", "--opt-level", "opt_level", type=click.IntRange(0, 3), default=2, show_default=True,
              help="LLVM optimisation level.")
@click.option("-g", "--debug-info", "debug_info", is_flag=True, help="Line tables for the code (as `wasirun -g`).")
@click.option("--inline", is_flag=True, help="Let LLVM inline wasm functions into each other.")
def compile_command(wasm_file, output, opt_level, debug_info, inline):
    """Compile FILE.wasm ahead of time: every function at the top tier, into the code cache
    (later `wasirun FILE.wasm` runs start on it at once) or into FILE.cwasm."""
    from .api import Config
    name = os.path.basename(wasm_file)
    try:
        wasm = open(wasm_file, "rb").read()
    except OSError as exc:
        _fail(f"failed to read `{wasm_file}`: {exc.strerror}")
    engine = _engine(Config(opt_level=opt_level, debug_info=debug_info, inline=inline, progress=True,
                            cache=output is None))
    try:
        compiled = engine.compile(wasm, name=name, tiering=False)
        if output is None:
            from .runtime.library import ensure_cached
            from .wasi_host import FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL
            ensure_cached(FAST_FD_WRITE_IR, FAST_FD_WRITE_LABEL)
        if output:
            from .cwasm import write_cwasm
            write_cwasm(output, compiled, engine)
    except (DecodeError, ValidationError) as exc:
        _fail(f"failed to compile `{name}`: {exc}")
    except OSError as exc:
        _fail(f"failed to write `{output}`: {exc.strerror}")
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        _fail(_internal_error(exc))
    finally:
        _close(engine)


def main(argv: list[str] | None = None):
    """``wasirun [run] [OPTIONS] FILE.wasm [ARGS]...`` or ``wasirun compile [OPTIONS] FILE.wasm``.

    Every way out is an exit status with at most one line on stderr: what click and the
    commands do not handle is a wasirun bug, reported by _internal_error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    gc.set_threshold(START_GC_THRESHOLD, *_default_gc_threshold[1:])
    try:
        from .runtime.native import UnsupportedHost, check_host
        try:
            check_host()
        except UnsupportedHost as exc:
            _fail(str(exc))
        if argv and argv[0] == "compile":
            return compile_command.main(argv[1:], prog_name="wasirun compile")
        if argv and argv[0] == "run":
            argv = argv[1:]
        return run.main(argv, prog_name="wasirun")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        # stdout closed under us (`wasirun ... | head`): nothing more can be said there
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        os._exit(1)
    except BaseException as exc:  # noqa: BLE001 - never a traceback for the user
        _fail(_internal_error(exc))


if __name__ == "__main__":
    main()
