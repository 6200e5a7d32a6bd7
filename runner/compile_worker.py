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

The worker ends at end of input.
"""
from __future__ import annotations

import pickle
import struct
import sys
from dataclasses import dataclass


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


def read_message(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def write_message(stream, message, raw: bytes | None = None) -> None:
    """One message, then ``raw`` (if given) as it is: the reader knows its size from the message."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<I", len(data)) + data)
    if raw is not None:
        stream.write(raw)
    stream.flush()


def main() -> None:
    try:
        # End with the parent even if it is killed (Linux: PR_SET_PDEATHSIG = 1, SIGKILL = 9).
        import ctypes
        ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    try:
        serve()
    except (BrokenPipeError, KeyboardInterrupt):
        pass   # the parent went away: nothing is waiting for an answer


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
    import select
    if not select.select([sys.stdin], [], [], 0)[0]:   # idle: no job (a big module's validation) waits
        _warm_up(jit)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr   # nothing but answers may reach the pipe
    modules = {}
    while True:
        request = read_message(inp)
        if request is None:
            return
        job_id, kind, payload = request
        try:
            result = None
            if kind == "ir":
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
        write_message(out, answer)


if __name__ == "__main__":
    main()
