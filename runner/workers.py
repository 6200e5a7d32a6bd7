"""Compile worker processes: real parallel compilation.

llvmlite serialises every LLVM call behind one process-wide lock, so compile
threads in one process never overlap.  Each worker is a separate Python process
(runner/compile_worker.py) owned by one feeder thread here; jobs wait in one
priority queue (first-tier code before tier-up work) and the first idle worker
takes the next.  Workers start on first use, so a run that finds everything in
the cache never starts one (and never imports llvmlite).

At exit (``shutdown``) workers are killed, except those with a *detached* tier-up in hand
(compile_worker.TierupJob: it stores its unit in the code cache itself); tier-ups still
queued here are handed to them first, written without blocking.  They finish after this
process is gone, at low priority and within limits (runner/compile_worker.py), so the next
run starts on the top-tier code this one asked for.  Their stderr reaches ours through a
relay thread, never directly: a caller reading our stderr sees it end when we do.
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

from .compile_worker import message_parts, read_message
from .costs import LOCAL_SECONDS, SECONDS_PER_BYTE, cpu_count, estimated_seconds  # noqa: F401  (re-exported)

PRIORITY_NOW = 0       # something is waiting for this code (first tier, lazy compile, `wasirun compile`)
PRIORITY_TIERUP = 1    # background tier-up
PIPE_SIZE = 1 << 20    # a worker's stdin: a module and a job fit, so writing them at exit never blocks


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

    @property
    def detached(self) -> bool:
        """A tier-up its worker finishes even after this process exits."""
        return self.kind == "tierup" and self.payload[1].detach


class _Worker:
    """One worker process, as its feeder thread and shutdown see it."""

    def __init__(self, proc: subprocess.Popen, relay: threading.Thread | None):
        self.proc = proc
        self.relay = relay
        self.held: set[str] = set()       # modules it has decoded
        self.job: _Job | None = None      # the job it has been sent, until its answer is read
        self.writing = threading.Lock()   # held while something writes to its stdin


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
        self._workers: list[_Worker] = []
        self._closing = False
        self._exit_jobs: list[_Job] = []  # put while closing

    def shutdown(self) -> None:
        """At exit: hand queued detached tier-ups to workers, leave the workers that have
        one running, kill the rest (busy with work nobody will use).  Never waits."""
        with self._lock:
            if self._closing:
                return
            self._closing = True          # feeders stop; nothing new starts
        tiers = sys.modules.get(__package__ + ".tiers")
        if tiers is not None:
            tiers.flush_all_at_exit()     # requests not yet submitted: queued now, handed off below
        with self._lock:
            workers, self._workers = self._workers, []
            jobs, self._exit_jobs = self._exit_jobs, []
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        handoff = sorted(j for j in jobs if j.detached and j.future.set_running_or_notify_cancel())
        keep = [w for w in workers if w.job is not None and w.job.detached and w.proc.poll() is None]
        if handoff and not any(w.proc.poll() is None for w in workers):
            try:
                workers.append(self._new_worker())     # fork+exec, ~1 ms: its start-up is not ours
            except OSError:
                pass
        for job in handoff:
            w = self._hand_off(job, workers)
            if w is not None and w not in keep:
                keep.append(w)
        for w in workers:
            if w not in keep and w.proc.poll() is None:
                w.proc.kill()

    def _hand_off(self, job: _Job, workers: list[_Worker]) -> "_Worker | None":
        """Write ``job`` (and its module, if needed) to a live worker whose stdin is free,
        without blocking; the worker it went to, or None."""
        live = [w for w in workers if w.proc.poll() is None]
        live.sort(key=lambda w: job.module_key not in w.held)     # one holding the module first
        for w in live:
            if not w.writing.acquire(blocking=False):
                continue                    # its feeder is writing to it (and then waits for it)
            try:
                parts = []
                if job.module_key not in w.held:
                    wasm, features = self._modules[job.module_key]
                    parts = message_parts((-1, "module", (job.module_key, len(wasm), features)), raw=wasm)
                parts += message_parts((job.serial, job.kind, job.payload))
                if _write_nonblocking(w.proc.stdin.fileno(), parts):
                    w.held.add(job.module_key)
                    return w
                # A message cut short ends that worker's input: it finishes what it holds.
            finally:
                w.writing.release()
        return None

    def start(self, n: int) -> None:
        """Have at least ``n`` workers (starting them now, so their start-up overlaps our work)."""
        with self._lock:
            if self._closing:
                return
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

    def submit_tierup(self, key: str, job) -> Future:
        """Compile, link and store a compile_worker.TierupJob of a registered module in a
        worker; the future gives runner/tiers.py finish_tierup's answer."""
        fut: Future = Future()
        self._put(_Job(PRIORITY_TIERUP, next(self._serial), "tierup", (key, job), fut, key))
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
        with self._lock:
            if self._closing:
                self._exit_jobs.append(job)    # shutdown hands it off (or drops it)
                return
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

    def _new_worker(self) -> _Worker:
        proc = _spawn()
        try:
            import fcntl
            fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except (OSError, AttributeError):
            pass      # the default 64 KiB: a big module at exit may not fit (then it is dropped)
        relay = threading.Thread(target=_relay, args=(proc.stderr.fileno(),), name="wasirun-worker-stderr",
                                 daemon=True)
        relay.start()
        w = _Worker(proc, relay)
        with self._lock:
            self._workers.append(w)
        return w

    def _feed(self) -> None:
        # The process starts now, not with the first job: its start-up (Python, llvmlite,
        # LLVM's target: ~0.11 s CPU) then overlaps the first tier's compile instead of
        # delaying the first tier-up (fib.wasm cold: the hot unit waited for it).
        try:
            w = self._new_worker()
        except OSError:
            w = None   # tried again (and reported) with the first job
        while True:
            job = self._queue.get()
            if self._closing:
                with self._lock:
                    self._exit_jobs.append(job)   # shutdown's to hand off, if it still looks
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                if w is None or w.proc.poll() is not None:
                    w = self._new_worker()
                sent_module = False
                with w.writing:
                    # The module and the job go together, before any answer is read: a worker
                    # still starting up when we exit then has both in its pipe (a detached
                    # tier-up needs both).
                    w.job = job
                    parts = []
                    if job.module_key is not None and job.module_key not in w.held:
                        wasm, features = self._modules[job.module_key]
                        parts = message_parts((-1, "module", (job.module_key, len(wasm), features)), raw=wasm)
                        w.held.add(job.module_key)
                        sent_module = True
                    for part in parts + message_parts((job.serial, job.kind, job.payload)):
                        w.proc.stdin.write(part)
                    w.proc.stdin.flush()
                if sent_module:
                    answer = read_message(w.proc.stdout)
                    if answer is None or answer[2] is not None:
                        w.proc.kill()        # it answers the job too: start afresh
                        w.job, w = None, None
                        raise CompileError(f"a compile worker could not decode the module: {answer and answer[2]}")
                answer = read_message(w.proc.stdout)
                w.job = None
                if answer is None:
                    if w.relay is not None:
                        w.relay.join(1.0)     # its last words first
                    w = None
                    raise CompileError("a compile worker died (see its message above)")
                _, result, error = answer
                if error is not None:
                    raise CompileError(error)
                job.future.set_result(result)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the job
                job.future.set_exception(exc if isinstance(exc, CompileError) else CompileError(str(exc)))


def _write_nonblocking(fd: int, parts: list) -> bool:
    """Write all of ``parts`` to a pipe if they fit now; never waits."""
    try:
        os.set_blocking(fd, False)
        for part in parts:
            view = memoryview(part)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        return True
    except OSError:      # BlockingIOError (full), BrokenPipeError (it died)
        return False


def _relay(fd: int) -> None:
    """Copy a worker's stderr to ours (it is not given ours: see the module docstring)."""
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                return
            os.write(2, data)
    except OSError:
        pass


def _spawn() -> subprocess.Popen:
    env = dict(os.environ)
    # The worker imports runner from wherever this process did.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen([sys.executable, "-m", "runner.compile_worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, close_fds=True)


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
