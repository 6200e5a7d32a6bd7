"""Every script in its own forked child process, ``jobs`` at a time, and their results.

A crash in one script is reported as that script failing (every command of it that is not
skipped counts as failed) and the run goes on.  A child writes one JSON line per command to its
log (and the line of the command it starts, so a crash can be pinned to it).  A script the suite
skips by name (3.0: the GC proposal's) is not run: its commands count as skipped.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import suites
from .judge import ScriptRunner

DEFAULT_OPT_LEVEL = 0
DEFAULT_TIMEOUT = 600.0


@dataclass
class Failed:
    """One failed command: its .wast line, kind, why, and the root cause (a dependent failure's
    cause is the failure of the module it needed)."""

    line: int
    kind: str
    reason: str
    cause: str


@dataclass
class ScriptResult:
    path: Path
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[Failed] = field(default_factory=list)
    notes: list[tuple[int, str, str]] = field(default_factory=list)      # passes worth a remark
    skips: list[tuple[int, str, str]] = field(default_factory=list)      # (line, kind, why)
    skipped_whole: str = ""   # why the suite skips the script by name
    crashed: str = ""
    seconds: float = 0.0
    cpu: float = 0.0          # user + system CPU seconds of the child

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def wast(self) -> str:
        """The script's .wast name, as failure lines cite it ("custom/branch_hint.wast")."""
        try:
            with open(self.path) as f:
                source = json.load(f).get("source_filename", "")
        except (OSError, ValueError):
            source = ""
        if "wast/" in source:
            return source.split("wast/", 1)[1].replace("./", "")
        return self.path.stem + ".wast"


def load_commands(path: Path) -> list[dict]:
    with open(path) as f:
        return json.load(f)["commands"]


def _is_text_skip(cmd: dict) -> bool:
    """Skipped whatever the engine does: the text-format assertions."""
    return (cmd["type"] in ("assert_malformed", "assert_malformed_custom", "assert_invalid_custom")
            and cmd.get("module_type", "binary") != "binary")


def run_script_inprocess(path: Path, opt_level: int = DEFAULT_OPT_LEVEL, log=None, suite: str = "2.0",
                         tier: str | None = None) -> None:
    """Run one script in this process, writing one JSON line per command to ``log``."""
    commands = load_commands(path)

    def on_result(index, cmd, outcome, reason, cause):
        if log is not None:
            rec = {"i": index, "o": outcome, "r": reason}
            if cause != reason:
                rec["c"] = cause
            log.write(json.dumps(rec) + "\n")
            log.flush()

    # Mark the command being run, so a crash can be pinned to it.
    class Tracking(ScriptRunner):
        def run_command(self, cmd):
            if log is not None:
                log.write(json.dumps({"start": cmd["line"]}) + "\n")
                log.flush()
            return super().run_command(cmd)

    Tracking(path, opt_level, on_result, wasm3=suites.suite(suite).wasm3, tier=tier).run(commands)


def _child(path: Path, opt_level: int, log_path: str, suite: str, tier: str | None) -> None:
    code = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        with open(log_path, "w") as log:
            try:
                # Looked up in the module at call time, so a test can replace it.
                sys.modules[__name__].run_script_inprocess(path, opt_level, log, suite, tier)
            except BaseException as exc:  # noqa: BLE001 - the setup itself failed
                log.write(json.dumps({"setup_error": f"{type(exc).__name__}: {exc}"}) + "\n")
                log.flush()
                code = 3
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def skipped_result(path: Path, why: str) -> ScriptResult:
    """A script skipped by name: every command counts as skipped."""
    res = ScriptResult(path, skipped_whole=why)
    res.skipped = len(load_commands(path))
    return res


def collect_result(path: Path, log_path: str, status: str, seconds: float) -> ScriptResult:
    """Turn a child's log into a ScriptResult. ``status`` is "" for a normal exit."""
    res = ScriptResult(path, seconds=seconds)
    commands = load_commands(path)
    outcomes: dict[int, tuple[str, str, str]] = {}
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
                    outcomes[rec["i"]] = (rec["o"], rec["r"], rec.get("c", rec["r"]))
    except OSError:
        pass
    if not status and len(outcomes) < len(commands):
        status = setup_error or "the worker stopped early"
    if status:
        # A crash fails the whole script: every command that is not a text-format skip.
        res.crashed = status + (f" (while running the command at line {last_line})" if last_line else "")
        for cmd in commands:
            if _is_text_skip(cmd):
                res.skipped += 1
            else:
                res.failed += 1
        res.failures.append(Failed(last_line or 0, "crash", res.crashed, res.crashed))
        return res
    for i, cmd in enumerate(commands):
        outcome, reason, cause = outcomes[i]
        if outcome == "pass":
            res.passed += 1
            if reason:
                res.notes.append((cmd["line"], cmd["type"], reason))
        elif outcome == "skip":
            res.skipped += 1
            res.skips.append((cmd["line"], cmd["type"], reason))
        else:
            res.failed += 1
            res.failures.append(Failed(cmd["line"], cmd["type"], reason, cause))
    return res


def run_scripts(paths: list[Path], jobs: int = 2, opt_level: int = DEFAULT_OPT_LEVEL,
                timeout: float = DEFAULT_TIMEOUT, on_done=None, suite: str = "2.0",
                tier: str | None = None) -> list[ScriptResult]:
    """Run every script in its own forked child, ``jobs`` at a time; results in input order.
    ``tier`` None: $WASIRUN_SPECTEST_TIER decides (default: the top tier only)."""
    # Import the engine once here: every forked child inherits it (no JIT state is created in
    # the parent, only modules are loaded, so forking stays safe).
    import runner.api  # noqa: F401
    import runner.runtime.instance  # noqa: F401
    import runner.runtime.store  # noqa: F401
    try:
        import runner.validate  # noqa: F401
    except ImportError:
        pass
    the_suite = suites.suite(suite)
    results: dict[int, ScriptResult] = {}
    pending = []
    for i, p in enumerate(paths):
        why = the_suite.skipped(p)
        if why:
            results[i] = skipped_result(p, why)
            if on_done:
                on_done(results[i])
        else:
            pending.append(i)
    # The biggest scripts first, so the pool does not end on a long one.
    pending.sort(key=lambda i: -_weight(paths[i]))
    running: dict[int, tuple[int, str, float]] = {}   # pid -> (index, log path, start)
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
                    _child(paths[i], opt_level, log_path, suite, tier)
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
                        results[i] = collect_result(paths[i], log_path, f"timed out after {timeout:.0f}s",
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
                results[i] = collect_result(paths[i], log_path, status, time.monotonic() - start)
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
