#!/usr/bin/env python3
"""Run the WebAssembly spec testsuite (wast2json output) against wasirun.

    python scripts/spectest.py [DIR | FILE.json]... [-v] [-j N] [-O LEVEL]

Without paths, every ``.json`` under ``../shared/spectest`` (relative to the
repository root; ``$WASIRUN_SPECTEST`` overrides it) except ``simd/``.  Each
command kind is judged as ``shared/docs/spectest-judging.md`` says:

* module / register / action / assert_return / get: as in the spec; floats are
  compared as bits (``nan:canonical`` / ``nan:arithmetic`` by mask), values go
  in and out as raw bit patterns, so signalling NaNs survive;
* assert_trap / assert_uninstantiable: a Trap whose spec message starts with
  the expected text; assert_exhaustion: the "call stack exhausted" trap;
* assert_invalid: the module decodes and validation rejects it (ValidationError);
* assert_malformed: binary modules must be rejected by the decoder (DecodeError);
  text (``.wat``) ones are skipped and counted as skipped, never as passed;
* assert_unlinkable: compile succeeds, instantiation fails with a LinkError.

Each .json runs in a forked child process (``-j`` of them at once), so a crash
in one script is reported as that script failing (every command of it counts
as failed) and the run goes on.  The last line is ``N passed, N failed, N skipped``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_OPT_LEVEL = 0
DEFAULT_TIMEOUT = 600.0


def default_root() -> Path:
    env = os.environ.get("WASIRUN_SPECTEST")
    return Path(env) if env else REPO.parent / "shared" / "spectest"


def collect(paths: list[str], simd: bool = False) -> list[Path]:
    """The .json scripts named by ``paths`` (files, or directories searched recursively)."""
    if not paths:
        paths = [str(default_root())]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            inside_simd = "simd" in p.resolve().parts
            for f in sorted(p.rglob("*.json")):
                rel = f.relative_to(p).parts
                if not (simd or inside_simd) and "simd" in rel[:-1]:
                    continue
                out.append(f)
        else:
            raise SystemExit(f"spectest: no such file or directory: {p}")
    seen, unique = set(), []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


# ============================================================================================
# Running one script (in the child process)
# ============================================================================================

class Failure(Exception):
    """A command's judgement failed; the message says why."""


class _Unavailable:
    """Stands for a module whose `module` command failed: later uses fail too."""

    def __init__(self, why: str):
        self.why = why


class HostRef:
    """The host value behind ``ref.extern N``: one object per N, compared by identity."""

    def __init__(self, n: int):
        self.n = n

    def __repr__(self) -> str:
        return f"ref.extern {self.n}"


_MASK = {"i32": 0xFFFFFFFF, "f32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF, "f64": 0xFFFFFFFFFFFFFFFF}
_CANONICAL = {"f32": (0x7FFFFFFF, 0x7FC00000), "f64": (0x7FFFFFFFFFFFFFFF, 0x7FF8000000000000)}
_ARITHMETIC = {"f32": (0x7FC00000, 0x7FC00000), "f64": (0x7FF8000000000000, 0x7FF8000000000000)}


def float_matches(kind: str, expected: str, bits: int) -> bool:
    """f32/f64 judgement on raw bits: exact, or the nan:canonical / nan:arithmetic masks."""
    if expected == "nan:canonical":
        mask, want = _CANONICAL[kind]
        return bits & mask == want
    if expected == "nan:arithmetic":
        mask, want = _ARITHMETIC[kind]
        return bits & mask == want
    return bits == int(expected) & _MASK[kind]


def v128_matches(lane_type: str, lanes: list[str], bits: int) -> bool:
    width = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}[lane_type]
    for i, lane in enumerate(lanes):
        got = (bits >> (i * width)) & ((1 << width) - 1)
        if lane_type in ("f32", "f64"):
            if not float_matches(lane_type, lane, got):
                return False
        elif got != int(lane) & ((1 << width) - 1):
            return False
    return True


def _fmt_value(v: dict) -> str:
    if v["type"] == "v128":
        return f"v128:{v.get('lane_type')}{v.get('value')}"
    return f"{v['type']}:{v.get('value', '?')}"


class ScriptRunner:
    """Executes the commands of one wast2json script against a fresh engine and registry."""

    def __init__(self, json_path: Path, opt_level: int = DEFAULT_OPT_LEVEL, on_result=None):
        from runner.api import Config, Engine
        from runner import errors
        from runner.binary import module as wm
        from runner.runtime import instance as wi, store as ws
        from runner.runtime.spectest_host import spectest_exports

        self.errors, self.wm, self.wi, self.ws = errors, wm, wi, ws
        self.path = json_path
        self.dir = json_path.parent
        # WASIRUN_SPECTEST_TIER=first: modules start on first-tier code (calls through the
        # function records, counters) and tier up when hot; default: the top tier only.
        first = os.environ.get("WASIRUN_SPECTEST_TIER") == "first"
        # The 2.0 suite judges the 2.0 language: 3.0 made some of its malformed/invalid modules valid.
        from runner.binary.features import WASM2
        self.engine = Engine(Config(cache=False, opt_level=opt_level, tiering=first, features=WASM2))
        self.registry: dict[str, dict] = {"spectest": spectest_exports()}
        self.named: dict[str, object] = {}
        self.current: object = _Unavailable("no module defined yet")
        self.host_refs: dict[int, HostRef] = {}
        self.on_result = on_result or (lambda index, cmd, outcome, reason: None)

    def _resolve(self, module: str, name: str):
        return self.registry.get(module, {}).get(name)

    # --- values ---------------------------------------------------------------------------
    def _host_ref(self, n: int) -> HostRef:
        r = self.host_refs.get(n)
        if r is None:
            r = self.host_refs[n] = HostRef(n)
        return r

    def arg_bits(self, v: dict) -> int:
        t, val = v["type"], v.get("value")
        if t in _MASK:
            return int(val) & _MASK[t]
        if t == "externref":
            return 0 if val == "null" else self.wi.externref_handle(self._host_ref(int(val)))
        if t == "funcref":
            if val == "null":
                return 0
            raise Failure(f"cannot pass funcref value {val!r}")
        if t == "v128":
            width = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}[v["lane_type"]]
            bits = 0
            for i, lane in enumerate(val):
                bits |= (int(lane) & ((1 << width) - 1)) << (i * width)
            return bits
        raise Failure(f"unknown argument type {t}")

    def result_matches(self, exp: dict, wasm_type: int, bits: int) -> bool:
        wm = self.wm
        t, val = exp["type"], exp.get("value")
        want_type = {"i32": wm.I32, "i64": wm.I64, "f32": wm.F32, "f64": wm.F64, "v128": wm.V128,
                     "funcref": wm.FUNCREF, "externref": wm.EXTERNREF}.get(t)
        if want_type != wasm_type:
            return False
        if t in ("i32", "i64"):
            return bits & _MASK[t] == int(val) & _MASK[t]
        if t in ("f32", "f64"):
            return float_matches(t, val, bits & _MASK[t])
        if t == "v128":
            return v128_matches(exp["lane_type"], val, bits)
        if t in ("externref", "funcref"):
            if val == "null":
                return bits == 0
            if val is None:               # any non-null reference
                return bits != 0
            if t == "funcref":
                return False
            if bits == 0:
                return False
            try:
                return self.wi.externref_object(bits) is self._host_ref(int(val))
            except (IndexError, TypeError):
                return False
        return False

    def _describe_result(self, wasm_type: int, bits: int) -> str:
        wm = self.wm
        name = wm.type_name(wasm_type)
        if wasm_type == wm.EXTERNREF:
            if bits == 0:
                return "externref:null"
            try:
                obj = self.wi.externref_object(bits)
            except (IndexError, TypeError):
                obj = None
            return f"externref:{obj.n if isinstance(obj, HostRef) else f'<handle {bits}>'}"
        if wasm_type == wm.FUNCREF:
            return "funcref:null" if bits == 0 else f"funcref:{bits:#x}"
        if wasm_type in (wm.F32, wm.F64):
            return f"{name}:{bits} ({bits:#x})"
        return f"{name}:{bits}"

    # --- modules and actions ----------------------------------------------------------------
    def _read(self, filename: str) -> bytes:
        return (self.dir / filename).read_bytes()

    def _compile(self, filename: str):
        return self.engine.compile(self._read(filename), name=filename)

    def _instantiate(self, compiled):
        return self.engine.instantiate(compiled, self._resolve)

    def _target(self, name: str | None):
        inst = self.named.get(name) if name is not None else self.current
        if name is not None and name not in self.named:
            raise Failure(f"unknown module {name}")
        if isinstance(inst, _Unavailable):
            raise Failure(f"module unavailable: {inst.why}")
        return inst

    def action(self, a: dict) -> tuple[list[int], tuple[int, ...]]:
        """Perform an invoke/get; returns (raw results, their wasm types). Traps propagate."""
        inst = self._target(a.get("module"))
        field_name = a["field"]
        ext = inst.exports.get(field_name)
        if ext is None:
            raise Failure(f"no export {field_name!r}")
        if a["type"] == "invoke":
            if not isinstance(ext, self.wi.Function):
                raise Failure(f"export {field_name!r} is not a function")
            args = [self.arg_bits(v) for v in a.get("args", [])]
            if len(args) != len(ext.type.params):
                raise Failure(f"{field_name!r} takes {len(ext.type.params)} arguments, script passes {len(args)}")
            return ext.call_raw(args), ext.type.results
        if a["type"] == "get":
            if not isinstance(ext, self.ws.GlobalCell):
                raise Failure(f"export {field_name!r} is not a global")
            return [ext.bits], (ext.type.val_type,)
        raise Failure(f"unknown action type {a['type']}")

    def _expect_trap(self, exc: BaseException, text: str) -> None:
        Trap = self.errors.Trap
        if not isinstance(exc, Trap):
            raise Failure(f"expected trap {text!r}, got {type(exc).__name__}: {exc}")
        msg = exc.kind.message
        if not text.startswith(msg):   # "uninitialized element 2" starts with "uninitialized element"
            raise Failure(f"expected trap {text!r}, got trap {msg!r}")

    # --- commands --------------------------------------------------------------------------
    def run_command(self, cmd: dict) -> str | None:
        """Judge one command. Returns None when skipped; raises Failure (or anything) on failure."""
        E = self.errors
        kind = cmd["type"]
        if kind == "module":
            name = cmd.get("name")
            self.current = _Unavailable(f"module at line {cmd['line']} failed")
            if name is not None:
                self.named[name] = self.current
            inst = self._instantiate(self._compile(cmd["filename"]))
            self.current = inst
            if name is not None:
                self.named[name] = inst
            return "pass"
        if kind == "register":
            inst = self._target(cmd.get("name"))
            self.registry[cmd["as"]] = inst.exports
            return "pass"
        if kind == "action":
            self.action(cmd["action"])
            return "pass"
        if kind == "assert_return":
            results, types = self.action(cmd["action"])
            expected = cmd["expected"]
            if len(results) != len(expected) or len(types) != len(expected):
                raise Failure(f"expected {len(expected)} results, got {len(results)}")
            for i, (exp, t, bits) in enumerate(zip(expected, types, results)):
                if not self.result_matches(exp, t, bits):
                    raise Failure(f"result {i}: expected {_fmt_value(exp)}, got {self._describe_result(t, bits)}")
            return "pass"
        if kind in ("assert_trap", "assert_exhaustion"):
            text = cmd["text"]
            try:
                results, types = self.action(cmd["action"])
            except Failure:
                raise
            except BaseException as exc:  # noqa: BLE001 - judged below
                self._expect_trap(exc, text)
                return "pass"
            raise Failure(f"expected trap {text!r}, returned "
                          f"[{', '.join(self._describe_result(t, b) for t, b in zip(types, results))}]")
        if kind in ("assert_invalid", "assert_malformed"):
            # The module must be rejected by compile() with a DecodeError or ValidationError (any
            # other exception is a bug and fails).  Rejection by the "other" stage still passes, as
            # the judging rules say ("module rejected" is enough; wast2json writes a few binaries
            # that are both, e.g. memory.init without a data count section), but it is reported
            # as a note so misclassifications stay visible.
            if kind == "assert_malformed" and cmd.get("module_type", "binary") != "binary":
                return None
            want, other = ((E.ValidationError, E.DecodeError) if kind == "assert_invalid"
                           else (E.DecodeError, E.ValidationError))
            try:
                self._compile(cmd["filename"])
            except want:
                return "pass"
            except other as exc:
                return f"note: {type(exc).__name__} where a {want.__name__} was expected ({cmd['text']!r}): {exc}"
            raise Failure(f"expected {'invalid' if kind == 'assert_invalid' else 'malformed'} module "
                          f"({cmd['text']!r}), compiled fine")
        if kind == "assert_unlinkable":
            compiled = self._compile(cmd["filename"])
            try:
                self._instantiate(compiled)
            except E.LinkError:
                return "pass"
            except BaseException as exc:  # noqa: BLE001
                raise Failure(f"expected link error ({cmd['text']!r}), got {type(exc).__name__}: {exc}")
            raise Failure(f"expected link error ({cmd['text']!r}), instantiated fine")
        if kind == "assert_uninstantiable":
            compiled = self._compile(cmd["filename"])
            try:
                self._instantiate(compiled)
            except BaseException as exc:  # noqa: BLE001
                self._expect_trap(exc, cmd["text"])
                return "pass"
            raise Failure(f"expected instantiation trap ({cmd['text']!r}), instantiated fine")
        raise Failure(f"unknown command type {kind}")

    def run(self, commands: list[dict]) -> None:
        import gc
        for index, cmd in enumerate(commands):
            if index and commands[index - 1]["type"] in ("assert_uninstantiable", "assert_unlinkable"):
                # Free the failed instance now, so a runtime that unloads code still referenced
                # from a shared table (linking.wast keeps partial writes) fails here,
                # deterministically, not whenever Python's cyclic GC happens to run.
                gc.collect()
            try:
                outcome = self.run_command(cmd)
                reason = ""
                if outcome is None:
                    reason = "text module (assert_malformed on .wat)"
                elif outcome.startswith("note: "):
                    outcome, reason = "pass", outcome[len("note: "):]
            except Failure as f:
                outcome, reason = "fail", str(f)
            except RecursionError as exc:
                outcome, reason = "fail", f"RecursionError: {exc}"
            except Exception as exc:  # noqa: BLE001 - any unexpected exception fails the command
                outcome, reason = "fail", f"{type(exc).__name__}: {exc}"
            self.on_result(index, cmd, outcome or "skip", reason)


# ============================================================================================
# Per-script results and the process pool
# ============================================================================================

@dataclass
class ScriptResult:
    path: Path
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)   # (line, kind, reason)
    notes: list[tuple[int, str, str]] = field(default_factory=list)      # passes worth a remark
    crashed: str = ""
    seconds: float = 0.0
    cpu: float = 0.0          # user + system CPU seconds of the child

    @property
    def name(self) -> str:
        return self.path.stem


def _load_commands(path: Path) -> list[dict]:
    with open(path) as f:
        return json.load(f)["commands"]


def _is_skipped(cmd: dict) -> bool:
    return cmd["type"] == "assert_malformed" and cmd.get("module_type", "binary") != "binary"


def run_script_inprocess(path: Path, opt_level: int = DEFAULT_OPT_LEVEL, log=None) -> None:
    """Run one script in this process, writing one JSON line per command to ``log``."""
    commands = _load_commands(path)

    def on_result(index, cmd, outcome, reason):
        if log is not None:
            log.write(json.dumps({"i": index, "o": outcome, "r": reason}) + "\n")
            log.flush()

    # Mark the command being run, so a crash can be pinned to it.
    class Tracking(ScriptRunner):
        def run_command(self, cmd):
            if log is not None:
                log.write(json.dumps({"start": cmd["line"]}) + "\n")
                log.flush()
            return super().run_command(cmd)

    Tracking(path, opt_level, on_result).run(commands)


def _child(path: Path, opt_level: int, log_path: str) -> None:
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        with open(log_path, "w") as log:
            try:
                run_script_inprocess(path, opt_level, log)
            except BaseException as exc:  # noqa: BLE001 - the setup itself failed
                log.write(json.dumps({"setup_error": f"{type(exc).__name__}: {exc}"}) + "\n")
                log.flush()
                code = 3
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _collect_result(path: Path, log_path: str, status: str, seconds: float) -> ScriptResult:
    """Turn a child's log into a ScriptResult. ``status`` is "" for a normal exit."""
    res = ScriptResult(path, seconds=seconds)
    commands = _load_commands(path)
    outcomes: dict[int, tuple[str, str]] = {}
    last_line = None
    setup_error = ""
    try:
        with open(log_path) as f:
            for raw in f:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if "start" in rec:
                    last_line = rec["start"]
                elif "setup_error" in rec:
                    setup_error = rec["setup_error"]
                else:
                    outcomes[rec["i"]] = (rec["o"], rec["r"])
    except OSError:
        pass
    if not status and len(outcomes) < len(commands):
        status = setup_error or "the worker stopped early"
    if status:
        # A crash fails the whole script: every command that is not a text-module skip.
        res.crashed = status + (f" (while running the command at line {last_line})" if last_line else "")
        for cmd in commands:
            if _is_skipped(cmd):
                res.skipped += 1
            else:
                res.failed += 1
        res.failures.append((last_line or 0, "crash", res.crashed))
        return res
    for i, cmd in enumerate(commands):
        outcome, reason = outcomes[i]
        if outcome == "pass":
            res.passed += 1
            if reason:
                res.notes.append((cmd["line"], cmd["type"], reason))
        elif outcome == "skip":
            res.skipped += 1
        else:
            res.failed += 1
            res.failures.append((cmd["line"], cmd["type"], reason))
    return res


def run_scripts(paths: list[Path], jobs: int = 2, opt_level: int = DEFAULT_OPT_LEVEL,
                timeout: float = DEFAULT_TIMEOUT, on_done=None) -> list[ScriptResult]:
    """Run every script in its own forked child, ``jobs`` at a time; results in input order."""
    # Import the engine once here: every forked child inherits it (no JIT state is created in
    # the parent, only modules are loaded, so forking stays safe).
    import runner.api  # noqa: F401
    import runner.runtime.instance  # noqa: F401
    import runner.runtime.store  # noqa: F401
    try:
        import runner.validate  # noqa: F401
    except ImportError:
        pass
    # The biggest scripts first, so the pool does not end on a long one.
    order = sorted(range(len(paths)), key=lambda i: -_weight(paths[i]))
    pending = list(order)
    running: dict[int, tuple[int, str, float]] = {}   # pid -> (index, log path, start)
    results: dict[int, ScriptResult] = {}
    tmpdir = tempfile.mkdtemp(prefix="wasirun-spectest-")
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                i = pending.pop(0)
                log_path = os.path.join(tmpdir, f"{i}.log")
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(paths[i], opt_level, log_path)
                running[pid] = (i, log_path, time.monotonic())
            # Wait for our own children only (never -1: in pytest other children may exist).
            finished = []
            for cpid in list(running):
                rpid, wstatus, usage = os.wait4(cpid, os.WNOHANG)
                if rpid:
                    finished.append((cpid, wstatus, usage))
            if not finished:
                now = time.monotonic()
                for cpid, (i, log_path, start) in list(running.items()):
                    if now - start > timeout:
                        try:
                            os.kill(cpid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                        os.waitpid(cpid, 0)
                        del running[cpid]
                        results[i] = _collect_result(paths[i], log_path, f"timed out after {timeout:.0f}s",
                                                     now - start)
                        if on_done:
                            on_done(results[i])
                time.sleep(0.01)
                continue
            for pid, wstatus, usage in finished:
                i, log_path, start = running.pop(pid)
                status = ""
                if os.WIFSIGNALED(wstatus):
                    sig = os.WTERMSIG(wstatus)
                    try:
                        name = signal.Signals(sig).name
                    except ValueError:
                        name = str(sig)
                    status = f"crashed with signal {name}"
                elif os.WEXITSTATUS(wstatus) != 0:
                    status = f"worker exited with status {os.WEXITSTATUS(wstatus)}"
                results[i] = _collect_result(paths[i], log_path, status, time.monotonic() - start)
                results[i].cpu = usage.ru_utime + usage.ru_stime
                if on_done:
                    on_done(results[i])
    finally:
        for cpid in running:
            try:
                os.kill(cpid, signal.SIGKILL)
                os.waitpid(cpid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for f in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)
    return [results[i] for i in range(len(paths))]


def _weight(path: Path) -> int:
    try:
        return sum(f.stat().st_size for f in path.parent.iterdir())
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="directories or .json files (default: the core suite)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show each failure with its script line")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="scripts run at once")
    ap.add_argument("-O", "--opt-level", type=int, default=DEFAULT_OPT_LEVEL, choices=range(4))
    ap.add_argument("--simd", action="store_true", help="include simd/ when searching directories")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per script")
    ap.add_argument("--tier", choices=("top", "first"), default="top",
                    help="run on top-tier code (default) or start on the first tier, tiering up when hot")
    args = ap.parse_args(argv)
    os.environ["WASIRUN_SPECTEST_TIER"] = args.tier
    paths = collect(args.paths, args.simd)
    if not paths:
        print("spectest: no .json scripts found", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    width = max(len(p.stem) for p in paths)

    def report(r: ScriptResult) -> None:
        line = f"{r.name:<{width}}  {r.passed:6d} passed, {r.failed:5d} failed, {r.skipped:4d} skipped  {r.seconds:6.1f}s {r.cpu:6.1f}s cpu"
        if r.crashed:
            line += f"  ** {r.crashed}"
        print(line, flush=True)
        if args.verbose:
            wast = r.path.stem + ".wast"
            for ln, kind, reason in r.failures:
                print(f"    FAIL {wast}:{ln} {kind}: {reason}", flush=True)
            for ln, kind, reason in r.notes:
                print(f"    note {wast}:{ln} {kind}: {reason}", flush=True)

    results = run_scripts(paths, args.jobs, args.opt_level, args.timeout, on_done=report)
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    bad = [r for r in results if r.failed]
    notes = sum(len(r.notes) for r in results)
    if notes:
        print(f"\n{notes} rejections came from the other stage than the command names "
              f"(passed; -v lists them)")
    if bad:
        print(f"\nfailing scripts: {', '.join(f'{r.name} ({r.failed})' for r in bad)}")
    cpu = sum(r.cpu for r in results)
    print(f"{len(results)} scripts in {time.monotonic() - t0:.1f}s, {cpu:.1f}s cpu "
          f"(opt level {args.opt_level}, {args.tier} tier, {args.jobs} jobs)")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
