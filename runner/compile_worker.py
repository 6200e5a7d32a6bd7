"""A compile worker process, serving requests from runner/workers.py over stdin/stdout.

Started as ``python -m runner.compile_worker``.  Each message is a 4-byte little-endian
length and a pickled tuple ``(job_id, kind, payload)``; the answer is ``(job_id, result,
error_text)``.  Kinds:

* ``"ir"``: ``(ir_text, level, want_rows)`` -> ``(object, line rows or None)``
* ``"module"``: ``(key, size, features)``, then ``size`` raw bytes of wasm after the message
  (not pickled: a 30 MB module pickled and framed took ~100 MB of the parent's peak RSS) ->
  None; the worker decodes and keeps the module, so later jobs on it send function indices
* ``"validate"``: ``(key, first_body, end_body)`` -> None, or ``(message, offset, func_index)``
  of the first invalid body in that range
* ``"unit"``: ``(key, UnitJob)`` -> ``(object, line rows or None)``: the worker translates
  those functions of the module itself, then compiles them (tier-up: the parent's Python
  thread would otherwise translate while the wasm thread needs the GIL for host calls and
  lazy compiles)
* ``"tierup"``: ``(key, TierupJob)`` -> ``[(unit name, meta, image path or bytes), ...]``: a
  tier-up unit translated, compiled, linked and stored in the code cache here, under the
  key's single-flight lock, or found there already (runner/tiers.py ``finish_tierup``)

The worker ends at end of input.  Its parent going away (the write end of stdin closing:
a watcher thread polls for the hang-up) ends it at once, unless it is working on a
``tierup`` job whose ``detach`` is set: that one, and any such jobs still in the pipe, are
finished and stored first, at nice +10 and within ORPHAN_CPU_SECONDS of CPU and
ORPHAN_WALL_SECONDS of wall time; answers nobody reads are dropped.
"""
from __future__ import annotations

import os
import pickle
import struct
import sys
import threading
from dataclasses import dataclass

ORPHAN_CPU_SECONDS = 120     # CPU a worker may still use once its parent is gone (RLIMIT_CPU) ...
ORPHAN_WALL_SECONDS = 600    # ... and wall time (a loaded machine, nice +10)
ORPHAN_NICE = 10


@dataclass(frozen=True)
class UnitJob:
    """Translate ``functions`` of a registered module (as ``translate_module`` would in the
    parent) and compile them at ``level``."""
    functions: tuple[int, ...]
    unit: frozenset            # the functions linked into one image with these (direct calls)
    wrappers: bool
    options: object            # translate.options.TranslateOptions
    source_name: str
    tail_calls: bool | None    # what the parent's validation found (the calling convention)
    level: str
    want_rows: bool


@dataclass(frozen=True)
class TierupJob:
    """A tier-up unit the worker compiles *and stores* (so it outlives its parent)."""
    unit: UnitJob
    cache_root: str            # codecache.cache_root() of the parent (its CodeCache's root)
    size_cap: int
    detach: bool               # finish it even if the parent exits first


def read_message(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def message_parts(message, raw: bytes | None = None) -> list:
    """The bytes of one message, then ``raw`` (if given) as it is: the reader knows its size
    from the message.  In parts, so a 30 MB module is never copied to be sent."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return [struct.pack("<I", len(data)) + data] + ([raw] if raw is not None else [])


def write_message(stream, message, raw: bytes | None = None) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<I", len(data)) + data)
    if raw is not None:
        stream.write(raw)
    stream.flush()


class _State:
    """What the watcher thread must know about the main thread's work."""

    def __init__(self):
        self.lock = threading.Lock()
        self.detachable = False    # the job in hand is a tier-up to finish without the parent
        self.orphaned = False      # the parent is gone
        self.decoding = False      # the job in hand is a module (a detached tier-up may follow)


_state = _State()


def _watch_parent(fd: int) -> None:
    """Wait for the parent's end of our stdin to close (it exited, or was killed), then end
    this process, or, in the middle of a detached tier-up, let it finish within bounds.

    Not PR_SET_PDEATHSIG: that kills at once, also a worker that has just been handed a
    tier-up to finish but not yet read it."""
    import select
    poller = select.poll()
    poller.register(fd, 0)        # no events asked for: POLLHUP/POLLERR are always reported
    while True:
        try:
            if poller.poll():
                break
        except InterruptedError:
            continue
    with _state.lock:
        _state.orphaned = True
        busy_for_nobody = not _state.detachable and not _idle.is_set() and not _state.decoding
    if busy_for_nobody:
        os._exit(0)
    # A detached tier-up in hand, a module being decoded or idle: detached tier-ups may still
    # be in the pipe, which the main thread reads (skipping the rest) until it ends at EOF.
    try:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 2)     # the parent's end of our stderr is gone
    except OSError:
        pass
    _bound_orphan()


_idle = threading.Event()     # set while the main thread has no job in hand (start-up included)
_idle.set()


def _bound_orphan() -> None:
    """Low priority and a CPU and wall limit for what is left to do without the parent."""
    try:
        nice = int(os.environ.get("WASIRUN_ORPHAN_NICE", ORPHAN_NICE))
        os.setpriority(os.PRIO_PROCESS, os.getpid(), nice)  # Linux: the main thread (tid = pid)
    except OSError:
        pass
    try:
        import resource
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + int(os.environ.get("WASIRUN_ORPHAN_CPU", ORPHAN_CPU_SECONDS))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))  # SIGXCPU, then SIGKILL
    except (OSError, ValueError, ImportError):
        pass
    import time
    time.sleep(ORPHAN_WALL_SECONDS)
    os._exit(3)


def main() -> None:
    threading.Thread(target=_watch_parent, args=(sys.stdin.fileno(),), name="wasirun-worker-watch",
                     daemon=True).start()
    try:
        serve()
    except KeyboardInterrupt:
        pass


def compile_text(text: str, level: str, want_rows: bool):
    from . import jit
    obj = jit.compile_ir(text, level, exact_lines=want_rows)
    rows = None
    if want_rows:
        from .sourcemap.objrows import line_rows
        rows = line_rows(obj)
    return obj, rows


def translate_unit(module, job: UnitJob):
    from .translate.module import translate_module
    if job.tail_calls is not None:
        module.__dict__["uses_tail_calls"] = job.tail_calls
    ir = translate_module(module, job.options, job.source_name, list(job.functions), job.wrappers, job.unit)
    return compile_text(ir.text(), job.level, job.want_rows)


WARM_UP_IR = "define i32 @f(i32 %x) {\n  %y = mul i32 %x, %x\n  ret i32 %y\n}\n"


def _warm_up(jit) -> None:
    """Pay the first tier-up's one-time costs before it is asked for: importing the decoder
    and translator (~13 ms) and LLVM's first -O2 pipeline (~15 ms more than later ones).
    fib.wasm cold: the first unit job took 68 ms against 14 ms for the next one, while
    fib(42) ran first-tier code (docs/PERFORMANCE.md "Cold path, second round")."""
    try:
        from .binary import decode  # noqa: F401
        from .translate import module  # noqa: F401
        jit.compile_ir(WARM_UP_IR, "O2")
    except Exception:  # noqa: BLE001 - only an optimisation: the real job reports any failure
        pass


def serve() -> None:
    from . import jit
    jit.target_machine(0)   # initialise LLVM while the parent is still translating
    from . import loader, tiers  # noqa: F401 - what a tier-up job links and stores with (~18 ms)
    import select
    if not select.select([sys.stdin], [], [], 0)[0]:   # idle: no job (a big module's validation) waits
        _warm_up(jit)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr   # nothing but answers may reach the pipe
    modules = {}
    while True:
        _idle.set()
        request = read_message(inp)
        if request is None:
            return
        job_id, kind, payload = request
        with _state.lock:
            _idle.clear()
            detachable = kind == "tierup" and payload[1].detach
            if _state.orphaned and not detachable and kind != "module":
                continue    # nobody waits for it
            _state.detachable = detachable
            _state.decoding = kind == "module"
        try:
            result = None
            if kind == "tierup":
                from .tiers import finish_tierup
                key, job = payload
                result = finish_tierup(modules[key], key, job)
            elif kind == "ir":
                result = compile_text(*payload)
            elif kind == "module":
                from .binary.decode import decode
                from .binary.features import WASM3
                key, size, features = payload
                wasm = inp.read(size)
                if len(wasm) < size:
                    return
                modules[key] = decode(wasm, features or WASM3)
            elif kind == "unit":
                key, job = payload
                result = translate_unit(modules[key], job)
            elif kind == "validate":
                from .errors import ModuleError
                from .validate import validate_bodies
                key, first, end = payload
                try:
                    validate_bodies(modules[key], first, end)
                    result = bool(modules[key].__dict__.get("_tail_calls_seen"))   # valid: any tail call?
                except ModuleError as exc:     # invalid, or a body malformed (errors.module_error)
                    result = (type(exc).__name__, exc.message, exc.offset, getattr(exc, "func_index", None))
            else:
                raise ValueError(f"unknown job kind {kind!r}")
            answer = (job_id, result, None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            answer = (job_id, None, f"{type(exc).__name__}: {exc}")
        with _state.lock:
            _state.detachable = _state.decoding = False
            if _state.orphaned:
                continue
        try:
            write_message(out, answer)
        except (BrokenPipeError, OSError):
            with _state.lock:
                _state.orphaned = True   # detached tier-ups still in the pipe are finished


if __name__ == "__main__":
    main()
