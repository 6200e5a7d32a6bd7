"""Compile worker processes: real parallel compilation.

llvmlite serialises every LLVM call behind one process-wide lock, so compile
threads in one process never overlap.  Each worker is a separate Python process
(runner/compile_worker.py) owned by one feeder thread here; jobs wait in one
priority queue (first-tier code before tier-up work) and the first idle worker
takes the next.  Workers start on first use, so a run that finds everything in
the cache never starts one (and never imports llvmlite).
"""
from __future__ import annotations

import atexit
import itertools
import os
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from .compile_worker import read_message, write_message
from .costs import LOCAL_SECONDS, SECONDS_PER_BYTE, cpu_count, estimated_seconds  # noqa: F401  (re-exported)

PRIORITY_NOW = 0       # something is waiting for this code (first tier, lazy compile, `wasirun compile`)
PRIORITY_TIERUP = 1    # background tier-up


class CompileError(RuntimeError):
    """LLVM rejected IR we generated: a wasirun bug, reported with the worker's message."""


@dataclass(order=True)
class _Job:
    priority: int
    serial: int
    kind: str = field(compare=False)          # a runner/compile_worker.py job kind
    payload: tuple = field(compare=False)
    future: Future = field(compare=False)
    module_key: str | None = field(default=None, compare=False)   # the worker must hold this module


class CompilerPool:
    """Up to ``max_workers`` worker processes fed from one queue, and one in-process
    compile thread for small jobs."""

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or cpu_count()
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._local: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._serial = itertools.count()
        self._threads: list[threading.Thread] = []
        self._local_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._modules: dict[str, bytes] = {}
        self._procs: list[subprocess.Popen] = []

    def shutdown(self) -> None:
        """End the workers now: one may be busy with a long background tier-up whose result
        nobody will use, and it holds our stderr open (a caller reading it would wait)."""
        with self._lock:
            procs, self._procs = self._procs, []
        for p in procs:
            if p.poll() is None:
                p.kill()

    def start(self, n: int) -> None:
        """Have at least ``n`` workers (starting them now, so their start-up overlaps our work)."""
        with self._lock:
            while len(self._threads) < min(n, self.max_workers):
                t = threading.Thread(target=self._feed, name=f"wasirun-compiler-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()

    def submit(self, text: str, level: str, want_rows: bool = False, priority: int = PRIORITY_NOW,
               local: bool = False) -> Future:
        """Compile one IR module text (``local``: in this process); the future gives
        ``(object bytes, line rows or None)``."""
        fut: Future = Future()
        job = _Job(priority, next(self._serial), "ir", (text, level, want_rows), fut)
        if local:
            with self._lock:
                if self._local_thread is None:
                    self._local_thread = threading.Thread(target=self._compile_here, name="wasirun-compiler-local",
                                                          daemon=True)
                    self._local_thread.start()
            self._local.put(job)
        else:
            self._put(job)
        return fut

    def submit_unit(self, key: str, job, priority: int = PRIORITY_TIERUP) -> Future:
        """Translate and compile a compile_worker.UnitJob of a registered module in a worker;
        the future gives ``(object bytes, line rows or None)``."""
        fut: Future = Future()
        self._put(_Job(priority, next(self._serial), "unit", (key, job), fut, key))
        return fut

    def register_module(self, key: str, wasm: bytes, features=None) -> None:
        """Let workers translate and validate this module themselves (sent to each once);
        ``features`` (binary.features) is what the decoder accepts (default: 3.0)."""
        self._modules[key] = (wasm, features)

    def submit_validate(self, key: str, first: int, end: int) -> Future:
        """Validate bodies first..end-1 of a registered module in a worker; the future gives
        ``(message, offset, func_index)``, or, when they are valid, whether they have a tail call."""
        fut: Future = Future()
        self._put(_Job(PRIORITY_NOW, next(self._serial), "validate", (key, first, end), fut, key))
        return fut

    def _put(self, job: _Job) -> None:
        if not self._threads:
            self.start(1)
        self._queue.put(job)

    def _compile_here(self) -> None:
        from .compile_worker import compile_text
        while True:
            job = self._local.get()
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(compile_text(*job.payload))
            except BaseException as exc:  # noqa: BLE001
                job.future.set_exception(CompileError(f"{type(exc).__name__}: {exc}"))

    def _new_worker(self) -> subprocess.Popen:
        proc = _spawn()
        with self._lock:
            self._procs.append(proc)
        return proc

    def _feed(self) -> None:
        # The process starts now, not with the first job: its start-up (Python, llvmlite,
        # LLVM's target: ~0.11 s CPU) then overlaps the first tier's compile instead of
        # delaying the first tier-up (fib.wasm cold: the hot unit waited for it).
        try:
            proc = self._new_worker()
        except OSError:
            proc = None   # tried again (and reported) with the first job
        held: set[str] = set()      # modules this worker has decoded
        while True:
            job = self._queue.get()
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                if proc is None or proc.poll() is not None:
                    proc, held = self._new_worker(), set()
                if job.module_key is not None and job.module_key not in held:
                    wasm, features = self._modules[job.module_key]
                    write_message(proc.stdin, (-1, "module", (job.module_key, len(wasm), features)), raw=wasm)
                    answer = read_message(proc.stdout)
                    if answer is None or answer[2] is not None:
                        proc = None
                        raise CompileError(f"a compile worker could not decode the module: {answer and answer[2]}")
                    held.add(job.module_key)
                write_message(proc.stdin, (job.serial, job.kind, job.payload))
                answer = read_message(proc.stdout)
                if answer is None:
                    proc = None
                    raise CompileError("a compile worker died (see its message above)")
                _, result, error = answer
                if error is not None:
                    raise CompileError(error)
                job.future.set_result(result)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the job
                job.future.set_exception(exc if isinstance(exc, CompileError) else CompileError(str(exc)))


def _spawn() -> subprocess.Popen:
    env = dict(os.environ)
    # The worker imports runner from wherever this process did.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen([sys.executable, "-m", "runner.compile_worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, close_fds=True)


_pool: CompilerPool | None = None
_pool_lock = threading.Lock()


def pool() -> CompilerPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = CompilerPool()
            atexit.register(_pool.shutdown)
        return _pool


def _forget_pool_in_child() -> None:
    # A forked child (the spec harness forks per script) has none of the parent's feeder
    # threads: it starts its own workers when it needs them.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)
